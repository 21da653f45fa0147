"""The panel forecast in a follow-up round's feedback: only where the organizer chose it
when opening the round (off by default: experts see the typical expert's belief, as
before), beside that belief and named apart from it, in the expert's language."""

import re

import pytest
from django.urls import reverse

from elicitation import services
from elicitation.feedback import percent_text
from elicitation.models import Expert, Round
from resolution import recalibration
from tests.elicitation.helpers import celery_broker, form_url, own_celery_queue, succeeded_run

CONSENSUS = {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.18, 0.1, 0.3, 0.6)}


@pytest.fixture(autouse=True)
def task_queue(broker_url):
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-fb-forecast") as q:
        yield q


def _q01(client, invitation) -> str:
    response = client.get(form_url(invitation))
    assert response.status_code == 200
    return re.search(r'id="question-Q01".*?</fieldset>', response.content.decode(), re.S).group(0)


def _fitted_forecast(round1):
    """Round 1's hierarchical run and its panel forecast, fitted for real (the prior alone:
    nothing is resolved)."""
    run = succeeded_run(round1, CONSENSUS)
    forecast = recalibration.forecast_request(source_run=run)
    done = recalibration.recalibration_run_execute(run_id=forecast.id, worker="test")
    assert done.status == done.Status.SUCCEEDED, done.error
    return done.result["questions"]["Q01"]


def test_the_organizer_chooses_the_forecast_when_opening_and_it_is_off_by_default(
    round1, organizer_client, survey
):
    draft = services.round_create(survey=survey)
    page = organizer_client.get(reverse("elicitation:round-detail", args=[draft.id]))
    assert 'name="show_forecast"' in page.content.decode()
    assert 'name="show_forecast" checked' not in page.content.decode()
    assert draft.show_forecast is False  # the model's default too
    data = {"questions": list(survey.questions.values_list("id", flat=True)), "link_days": "14"}
    url = reverse("elicitation:round-open", args=[draft.id])
    response = organizer_client.post(url, {**data, "show_consensus": "on", "show_forecast": "on"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.show_consensus, draft.show_forecast) == ("open", True, True)
    detail = organizer_client.get(reverse("elicitation:round-detail", args=[draft.id]))
    assert "Panel forecast." in detail.content.decode()


@pytest.mark.slow
def test_off_the_feedback_shows_the_typical_belief_as_before(expert_client2, invitation2, round1):
    _fitted_forecast(round1)
    q01 = _q01(expert_client2, invitation2)
    assert "Panel consensus" in q01 and "<strong>55 %</strong>" in q01
    assert "Panel forecast" not in q01 and "Typical expert" not in q01


@pytest.mark.slow
def test_on_the_feedback_shows_the_forecast_beside_the_typical_belief(
    expert_client2, invitation2, round1, round2, expert
):
    forecast = _fitted_forecast(round1)
    Round.objects.filter(id=round2.id).update(show_forecast=True)
    q01 = _q01(expert_client2, invitation2)
    shown = f"<strong>{percent_text(forecast['mean'])}</strong>"
    assert "Panel forecast" in q01 and shown in q01
    lower, upper = (percent_text(p) for p in forecast["interval"])
    assert f"90 % credible interval: {lower} to {upper}" in q01
    assert "Typical expert's belief" in q01 and "<strong>55 %</strong>" in q01
    assert "Panel consensus" not in q01
    assert "the typical expert's belief corrected by how well" in q01
    expert.language = Expert.Language.KO
    expert.save(update_fields=["language"])
    korean = _q01(expert_client2, invitation2)
    assert "패널 예측" in korean and "전형적인 전문가의 견해" in korean


def test_on_but_not_fitted_yet_the_feedback_says_so(expert_client2, invitation2, round1, round2):
    run = succeeded_run(round1, CONSENSUS)
    recalibration.forecast_request(source_run=run)  # queued, no worker
    Round.objects.filter(id=round2.id).update(show_forecast=True)
    q01 = _q01(expert_client2, invitation2)
    assert "Panel forecast" in q01 and "Not ready yet." in q01
    assert "<strong>55 %</strong>" in q01  # the typical belief is there meanwhile
