"""Pages of the resolution app through the HTTP client: who may open what, and the
organizer's forms (clear errors, nothing changed)."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from resolution import recalibration
from resolution.models import RecalibrationRun, Resolution, ResolutionEvent, State
from tests.resolution.conftest import SOURCE, YESTERDAY, succeed

TOMORROW = timezone.localdate() + timedelta(days=1)


@pytest.fixture
def scored(resolved, closed_round, settings):
    """Q01/Q02 resolved and a fitted recalibration with a posterior file on disk."""
    run = succeed(recalibration.recalibration_current(survey_round=closed_round)[0])
    folder = Path(settings.MEDIA_ROOT) / "recalibrations" / str(run.id)
    folder.mkdir(parents=True)
    (folder / "posterior.nc").write_bytes(b"CDF\x01 not a real posterior")
    run.posterior = f"recalibrations/{run.id}/posterior.nc"
    run.save(update_fields=["posterior"])
    return run


def client_for(request, persona: str) -> Client:
    if persona == "expert_client":
        return request.getfixturevalue("expert_client")
    client = Client()
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    return client


def organizer_urls(survey, questions) -> list[str]:
    return [
        reverse("resolution:survey-resolutions", args=[survey.id]),
        reverse("resolution:resolution-history", args=[survey.id]),
        reverse("resolution:question-resolution", args=[survey.id, questions["Q03"].id]),
    ]


def reader_urls(closed_round, run) -> list[str]:
    return [
        reverse("resolution:round-scores", args=[closed_round.id]),
        reverse("resolution:scores-figure", args=[closed_round.id, "panel"]),
        reverse("resolution:scores-figure", args=[closed_round.id, "methods"]),
        reverse("resolution:scores-figure", args=[closed_round.id, "cohorts"]),
        reverse("resolution:recalibration-progress", args=[run.id]),
        reverse("resolution:recalibration-posterior", args=[run.id]),
    ]


# Who gets what: (organizer pages, reader pages).
EXPECTED = {
    "organizer": (200, 200),
    "superuser": (200, 200),
    "analyst": (403, 200),  # reads the scores; resolving is for organizers (staff)
    "other_analyst": (403, 404),
    "other_staff": (404, 404),
    "expert_client": (302, 302),  # a magic-link session is no login: to the login page
    "anonymous": (302, 302),
}


@pytest.mark.parametrize("persona", list(EXPECTED))
def test_every_page_and_figure_answers_each_persona_as_it_must(
    request, persona, survey, questions, closed_round, scored, open_round
):
    client = client_for(request, persona)
    organizer_status, reader_status = EXPECTED[persona]
    for url in organizer_urls(survey, questions):
        response = client.get(url)
        assert response.status_code == organizer_status, url
        if organizer_status == 302:
            assert response["Location"].startswith(reverse("login"))
    for url in reader_urls(closed_round, scored):
        response = client.get(url)
        assert response.status_code == reader_status, url
        if reader_status == 302:
            assert response["Location"].startswith(reverse("login"))
    survey_scores = client.get(reverse("resolution:survey-scores", args=[survey.id]))
    expected = 302 if reader_status == 200 else reader_status
    assert survey_scores.status_code == expected
    if reader_status == 200:  # to the latest closed round's page
        assert survey_scores["Location"] == reverse(
            "resolution:round-scores", args=[closed_round.id]
        )


@pytest.mark.parametrize("persona", ["analyst", "other_analyst", "other_staff", "anonymous"])
def test_who_may_not_resolve_changes_nothing_by_posting(
    request, persona, survey, questions, closed_round
):
    client = client_for(request, persona)
    question = questions["Q01"]
    resolve = client.post(
        reverse("resolution:question-resolve", args=[survey.id, question.id]),
        {
            "resolve-outcome": "1",
            "resolve-resolved_on": YESTERDAY.isoformat(),
            "resolve-source": SOURCE,
        },
    )
    annul = client.post(
        reverse("resolution:question-annul", args=[survey.id, question.id]),
        {"annul-annulled_on": YESTERDAY.isoformat(), "annul-reason": "No."},
    )
    assert resolve.status_code == annul.status_code == EXPECTED[persona][0]
    assert Resolution.objects.count() == ResolutionEvent.objects.count() == 0
    assert RecalibrationRun.objects.count() == 0


@pytest.mark.parametrize(
    ("persona", "status"),
    [("other_analyst", 404), ("other_staff", 404), ("expert_client", 302), ("anonymous", 302)],
)
def test_who_may_not_read_cannot_request_a_recalibration(
    request, persona, status, closed_round, resolved
):
    before = RecalibrationRun.objects.count()
    response = client_for(request, persona).post(
        reverse("resolution:recalibration-request", args=[closed_round.id]),
        {"input": "logodds_mean"},
    )
    assert response.status_code == status
    assert RecalibrationRun.objects.count() == before


def test_an_assigned_analyst_may_request_a_recalibration(
    client, analyst, closed_round, resolved, finished_run
):
    client.force_login(analyst)
    response = client.post(
        reverse("resolution:recalibration-request", args=[closed_round.id]),
        {"input": "hierarchical"},
    )
    assert response.status_code == 302
    run = RecalibrationRun.objects.get(options__input="hierarchical")
    assert (run.source_run, run.requested_by, run.n_resolved) == (finished_run, analyst, 2)


def test_a_figure_is_an_svg_that_runs_nothing(client, organizer, closed_round, resolved):
    client.force_login(organizer)
    response = client.get(reverse("resolution:scores-figure", args=[closed_round.id, "methods"]))
    assert response["Content-Type"] == "image/svg+xml"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert b"<svg" in response.content and b"<script" not in response.content
    download = client.get(
        reverse("resolution:scores-figure", args=[closed_round.id, "panel"]) + "?download=1"
    )
    assert download["Content-Disposition"].startswith("attachment")
    unknown = client.get(reverse("resolution:scores-figure", args=[closed_round.id, "consensus"]))
    assert unknown.status_code == 404


def test_scores_are_for_closed_rounds(client, organizer, open_round):
    client.force_login(organizer)
    assert client.get(reverse("resolution:round-scores", args=[open_round.id])).status_code == 404


def test_a_survey_without_a_closed_round_says_so(client, organizer, survey):
    client.force_login(organizer)
    response = client.get(reverse("resolution:survey-scores", args=[survey.id]))
    assert response.status_code == 200
    assert "No round of this survey is closed yet" in response.content.decode()


# --- The organizer's forms ----------------------------------------------------------------


def resolve_url(survey, question) -> str:
    return reverse("resolution:question-resolve", args=[survey.id, question.id])


def test_the_organizer_resolves_a_question_and_sees_it_listed(
    client, organizer, survey, questions, closed_round
):
    client.force_login(organizer)
    question = questions["Q01"]
    page = client.get(reverse("resolution:question-resolution", args=[survey.id, question.id]))
    assert 'name="resolve-outcome"' in page.content.decode()
    response = client.post(
        resolve_url(survey, question),
        {
            "resolve-outcome": "1",
            "resolve-resolved_on": YESTERDAY.isoformat(),
            "resolve-source": SOURCE,
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse(
        "resolution:survey-resolutions", args=[survey.id]
    )
    assert "Q01 is resolved: yes." in response.content.decode()
    resolution = Resolution.objects.get(question=question)
    assert (resolution.outcome, resolution.changed_by, resolution.source) == (
        1.0,
        organizer,
        SOURCE,
    )
    history = client.get(
        reverse("resolution:resolution-history", args=[survey.id])
    ).content.decode()
    assert "olivia" in history and "Resolved: yes" in history and SOURCE in history


@pytest.mark.parametrize(
    ("code", "data", "message"),
    [
        ("Q01", {"resolve-outcome": "maybe"}, "A probability question resolves yes or no."),
        ("Q01", {"resolve-outcome": ""}, "Choose yes or no."),
        ("N01", {"resolve-outcome": "lots"}, "The realized value must be a number."),
        ("N01", {"resolve-outcome": "150"}, "The realized value must lie between 0 and 100."),
        ("Q01", {"resolve-resolved_on": TOMORROW.isoformat()}, "is in the future"),
        ("Q01", {"resolve-resolved_on": "3 March"}, "Enter the date as YYYY-MM-DD."),
        (
            "Q01",
            {"resolve-source": "  "},
            "Say where the answer comes from (a source note is required).",
        ),
    ],
)
def test_bad_input_gets_a_clear_error_on_the_form_and_changes_nothing(
    client, organizer, survey, questions, closed_round, code, data, message
):
    client.force_login(organizer)
    post = {
        "resolve-outcome": "1" if code == "Q01" else "7",
        "resolve-resolved_on": YESTERDAY.isoformat(),
        "resolve-source": SOURCE,
        **data,
    }
    response = client.post(resolve_url(survey, questions[code]), post)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Resolution.objects.count() == ResolutionEvent.objects.count() == 0
    assert RecalibrationRun.objects.count() == 0


def test_changing_a_resolution_on_the_page_asks_why(client, organizer, survey, resolved):
    client.force_login(organizer)
    post = {
        "resolve-outcome": "0",
        "resolve-resolved_on": YESTERDAY.isoformat(),
        "resolve-source": SOURCE,
    }
    response = client.post(resolve_url(survey, resolved["Q01"]), post)
    assert response.status_code == 400
    assert "Q01 was already resolved; say why this changes it." in response.content.decode()
    assert Resolution.objects.get(question=resolved["Q01"]).outcome == 1.0
    post["resolve-reason"] = "Misread the announcement."
    assert client.post(resolve_url(survey, resolved["Q01"]), post).status_code == 302
    assert Resolution.objects.get(question=resolved["Q01"]).outcome == 0.0


def test_the_organizer_annuls_a_question(client, organizer, survey, resolved):
    client.force_login(organizer)
    url = reverse("resolution:question-annul", args=[survey.id, resolved["Q02"].id])
    missing = client.post(url, {"annul-annulled_on": YESTERDAY.isoformat(), "annul-reason": ""})
    assert missing.status_code == 400
    assert "Say why the question is annulled (a reason is required)." in missing.content.decode()
    response = client.post(
        url,
        {"annul-annulled_on": YESTERDAY.isoformat(), "annul-reason": "Two readings."},
        follow=True,
    )
    assert "Q02 is annulled: it counts in no score." in response.content.decode()
    assert Resolution.objects.get(question=resolved["Q02"]).status == State.ANNULLED
    page = client.get(
        reverse("resolution:question-resolution", args=[survey.id, resolved["Q02"].id])
    )
    assert "Two readings." in page.content.decode() and "Annulled" in page.content.decode()


def test_a_question_of_another_survey_is_not_found(client, organizer, survey, other_staff):
    from elicitation import services as elicitation_services

    other = elicitation_services.survey_create(title="Other", organizers=[other_staff])
    foreign = elicitation_services.question_create(survey=other, code="X01", text="?")
    client.force_login(organizer)
    url = reverse("resolution:question-resolution", args=[survey.id, foreign.id])
    assert client.get(url).status_code == 404


def test_a_change_starts_from_the_recorded_resolution(client, organizer, survey, resolved):
    client.force_login(organizer)
    page = client.get(
        reverse("resolution:question-resolution", args=[survey.id, resolved["Q01"].id])
    )
    form = page.context["resolve_form"]
    assert (form["outcome"].value(), form["source"].value()) == ("1", SOURCE)
    assert form["resolved_on"].value() == YESTERDAY
    assert "Change the resolution" in page.content.decode()
