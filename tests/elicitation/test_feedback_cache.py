"""The panel's part of each question's feedback is rendered once and cached (issue 14): what
an expert sees of their own stays theirs, and whatever the feedback depends on shows at once."""

import re
from datetime import date

import pytest
from django.utils import timezone

from elicitation import feedback
from elicitation.models import Invitation, Judgment, Round
from resolution import recalibration
from resolution.models import Resolution
from tests.elicitation.helpers import (
    celery_broker,
    client_with_link,
    form_url,
    own_celery_queue,
    succeeded_run,
)

OWN_TRIANGLE = re.compile(r'<path d="M([\d.]+) [\d.]+ l-5 9 h10 z" class="own"/>')
YOUR_ANSWER = re.compile(r"Your answer</dt>\s*<dd><strong>([^<]+)</strong>")


@pytest.fixture(autouse=True)
def task_queue(broker_url):
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-fb-cache") as q:
        yield q


@pytest.fixture
def renders(monkeypatch):
    """How many times the panel's part of a question was rendered (not read from the cache)."""
    calls = []
    render = feedback._fragments_render

    def counted(*args):
        calls.append(args[2].code)
        return render(*args)

    monkeypatch.setattr(feedback, "_fragments_render", counted)
    return calls


def _question(client, invitation, code: str) -> str:
    response = client.get(form_url(invitation))
    assert response.status_code == 200
    page = response.content.decode()
    return re.search(rf'id="question-{code}".*?</fieldset>', page, re.S).group(0)


def _invitation(survey_round, expert) -> Invitation:
    return Invitation.objects.get(survey_round=survey_round, expert=expert)


def test_experts_share_the_panel_html_and_each_sees_only_their_own(
    round2, expert, other_expert, renders
):
    mine, theirs = _invitation(round2, expert), _invitation(round2, other_expert)
    first = _question(client_with_link(mine), mine, "Q01")
    rendered = len(renders)
    assert rendered == 3  # Q01, Q02 and N01, once each
    second = _question(client_with_link(theirs), theirs, "Q01")
    assert len(renders) == rendered  # the second expert's page reads them from the cache

    assert YOUR_ANSWER.search(first).group(1) == "30 %"
    assert "OTHER-R1-RATIONALE" in first and "Own round-1 reason." not in first
    assert "Read 1 reason given by another expert" in first
    assert YOUR_ANSWER.search(second).group(1) == "60 %"
    assert "Own round-1 reason." in second and "OTHER-R1-RATIONALE" not in second
    # each one's own triangle on the same dot plot: 30 % and 60 % of the way along 14-306
    assert OWN_TRIANGLE.findall(first) == ["101.6"]
    assert OWN_TRIANGLE.findall(second) == ["189.2"]
    # the panel's part is the same for both
    assert first.count("Panel median") == second.count("Panel median") == 1
    assert "<strong>60 %</strong>" in first  # the median of 30, 60 and 70 %


def test_the_cached_html_follows_the_rounds_settings_the_model_and_the_language(
    round1, round2, expert, renders
):
    mine = _invitation(round2, expert)
    client = client_with_link(mine)
    assert "OTHER-R1-RATIONALE" in _question(client, mine, "Q01")
    Round.objects.filter(id=round2.id).update(show_rationales=False)
    assert "OTHER-R1-RATIONALE" not in _question(client, mine, "Q01")

    assert "Panel median" in _question(client, mine, "Q01")
    succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.18, 0.1, 0.3, 0.6)})
    q01 = _question(client, mine, "Q01")
    assert "Panel consensus" in q01 and "<strong>55 %</strong>" in q01

    mine.expert.language = "ko"
    mine.expert.save(update_fields=["language"])
    korean = _question(client, mine, "Q01")
    assert "패널 합의 추정치" in korean
    assert "Panel consensus" not in korean


def test_a_numeric_answer_beyond_the_panels_widens_that_experts_plot_only(
    round1, round2, expert, other_expert
):
    """A numeric dot plot's axis spans the answers, the expert's own included. An own answer
    that the panel does not count (this expert did not submit round 1, then submitted
    round 2 on their own) and lies beyond the others is drawn on a plot of its own; the
    shared one stays as it was."""
    Invitation.objects.filter(survey_round=round1, expert=expert).update(submitted_at=None)
    Judgment.objects.filter(expert=expert, survey_round=round1, question__code="N01").update(
        q05=50, q50=100, q95=200
    )
    mine, theirs = _invitation(round2, expert), _invitation(round2, other_expert)
    Invitation.objects.filter(id=mine.id).update(submitted_at=timezone.now())
    mine.refresh_from_db()
    wide = _question(client_with_link(mine), mine, "N01")
    plain = _question(client_with_link(theirs), theirs, "N01")
    assert OWN_TRIANGLE.findall(wide) == ["306.0"]  # the end of the widened axis
    assert OWN_TRIANGLE.findall(plain) == ["14.0"]  # 6, the lower of the two counted (6, 8)
    assert "100" in re.findall(r"<text [^>]*>([^<]+)</text>", wide)[-1]
    assert re.findall(r"<text [^>]*>([^<]+)</text>", plain)[-1] == "8"
    # the widened plot was this page's own: the next expert still gets the shared one
    again = _question(client_with_link(theirs), theirs, "N01")
    assert OWN_TRIANGLE.findall(again) == ["14.0"]


def test_the_panel_version_follows_what_chooses_the_panel_forecast(round1, questions):
    run = succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.18, 0.1, 0.3, 0.6)})
    before = feedback._panel_version(round1)
    forecast = recalibration.forecast_request(source_run=run)
    queued = feedback._panel_version(round1)
    assert queued != before
    type(forecast).objects.filter(id=forecast.id).update(status=forecast.Status.SUCCEEDED)
    finished = feedback._panel_version(round1)
    assert finished != queued
    Resolution.objects.create(
        question=questions["Q02"], status=Resolution.Status.RESOLVED, outcome=1.0,
        resolved_on=date(2026, 1, 1), source="test", changed_at=timezone.now(),
    )  # fmt: skip
    assert feedback._panel_version(round1) != finished


def test_hiding_a_rationale_again_never_brings_back_an_earlier_version(round1, other_expert):
    """The hidden set alone repeats itself (hidden, shown, hidden): a page read between the
    first two steps would have cached the shown rationale under the first version."""
    from elicitation import services

    judgment = Judgment.objects.get(survey_round=round1, expert=other_expert, question__code="Q01")
    services.judgment_rationale_hide(judgment=judgment, hidden=True)
    hidden = feedback._panel_version(round1)
    services.judgment_rationale_hide(judgment=judgment, hidden=False)
    shown = feedback._panel_version(round1)
    services.judgment_rationale_hide(judgment=judgment, hidden=True)
    again = feedback._panel_version(round1)
    assert len({hidden, shown, again}) == 3


def test_an_erased_name_leaves_the_cached_pages_at_once(round1, round2, expert, other_expert):
    """Erasure scrubs the texts with queryset updates, which change no answer: the pages
    other experts see must not keep the name from the cache."""
    from privacy.services import expert_erase

    mine = _invitation(round2, expert)
    Judgment.objects.filter(survey_round=round1, expert=other_expert, question__code="Q01").update(
        rationale="Bob Miller here: OTHER-R1-RATIONALE"
    )  # as if typed so, before any page was cached
    client = client_with_link(mine)
    assert "Bob Miller here" in _question(client, mine, "Q01")  # now cached
    expert_erase(contact=other_expert.contact, by=None, erase_answers=False)
    page = _question(client, mine, "Q01")
    assert "Bob Miller" not in page and "OTHER-R1-RATIONALE" in page


def _queued_task_names(broker_url: str, queue: str) -> list[str]:
    """The names of the tasks waiting in ``queue``, taken off it (the real broker)."""
    from config.celery import app

    names = []
    with celery_broker(broker_url), app.connection_for_read() as connection:
        waiting = connection.SimpleQueue(queue)
        try:
            while True:
                message = waiting.get_nowait()
                names.append(message.headers["task"])
                message.ack()
        except waiting.Empty:
            pass
        finally:
            waiting.close()
    return names


def test_the_warm_up_renders_every_question_in_each_language_before_anyone_asks(
    round1, round2, expert, renders
):
    """A new result (or an emptied cache) must not have the first experts all render the
    same feedback at once: the worker renders it ahead, once."""
    assert feedback.feedback_warm(feedback_round_id=round2.id) == 0  # round 2 feeds no round
    assert feedback.feedback_warm() == 6  # Q01, Q02 and N01, in English and in Korean
    assert sorted(renders) == ["N01", "N01", "Q01", "Q01", "Q02", "Q02"]
    assert feedback.feedback_warm(feedback_round_id=round1.id) == 0  # all there already
    mine = _invitation(round2, expert)
    assert YOUR_ANSWER.search(_question(client_with_link(mine), mine, "Q01")).group(1) == "30 %"
    assert len(renders) == 6  # the page read them from the cache

    succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.18, 0.1, 0.3, 0.6)})
    assert feedback.feedback_warm() == 6  # a new version of the panel


@pytest.mark.parametrize(
    "change",
    ["pilot round", "feedback round reopened", "feedback round a pilot", "round closed"],
)
def test_the_warm_up_renders_nothing_no_expert_may_see(round1, round2, renders, change):
    """Only an open round fed by a closed round of real answers shows feedback."""
    target, field, value = {
        "pilot round": (round2, "is_pilot", True),
        "feedback round reopened": (round1, "status", Round.Status.OPEN),
        "feedback round a pilot": (round1, "is_pilot", True),
        "round closed": (round2, "status", Round.Status.CLOSED),
    }[change]
    Round.objects.filter(pk=target.pk).update(**{field: value})
    assert feedback.feedback_warm() == 0
    assert renders == []


def test_a_changed_panel_queues_the_warm_up(
    round1, round2, broker_url, task_queue, django_capture_on_commit_callbacks
):
    from elicitation import services

    _queued_task_names(broker_url, task_queue)  # whatever the fixtures queued
    with django_capture_on_commit_callbacks(execute=True):
        services.round_panel_changed(survey_round_id=round1.id)
    assert _queued_task_names(broker_url, task_queue) == ["elicitation.tasks.feedback_warm_task"]


def test_opening_a_follow_up_round_warms_its_feedback_before_the_invitations_go_out(
    round1, survey, broker_url, task_queue, django_capture_on_commit_callbacks
):
    from elicitation import services

    _queued_task_names(broker_url, task_queue)  # whatever the fixtures queued
    with django_capture_on_commit_callbacks(execute=True):
        services.round_open(survey_round=services.round_create(survey=survey))
    queued = _queued_task_names(broker_url, task_queue)
    assert queued[0] == "elicitation.tasks.feedback_warm_task"
    assert queued[1:] == ["elicitation.tasks.invitation_send_task"] * 3  # the three experts
