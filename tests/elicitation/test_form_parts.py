"""A long round is answered in parts (one scenario a page), and an expert page costs the same
number of queries whatever the number of questions (issue 14)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from elicitation import selectors, services
from elicitation.models import Invitation, Judgment, Survey
from tests.elicitation.helpers import answers_submit, client_with_link, form_url


def _survey(organizer, *, per_scenario: dict[str, int], general: int = 0) -> Survey:
    survey = services.survey_create(title="Long", organizers=[organizer])
    for code, n in per_scenario.items():
        scenario = services.scenario_create(survey=survey, code=code, title=code.title())
        for k in range(n):
            services.question_create(
                survey=survey, code=f"{code[:2].upper()}{k:02d}", text=f"{code} {k}?",
                scenario=scenario,
            )  # fmt: skip
    for k in range(general):
        services.question_create(survey=survey, code=f"G{k:02d}", text=f"General {k}?")
    return survey


def _open(survey, *experts_named):
    experts = [
        services.expert_create(survey=survey, name=name, email=f"{name.lower()}@example.org")
        for name in experts_named
    ]
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    return survey_round, [
        Invitation.objects.get(survey_round=survey_round, expert=e) for e in experts
    ]


def test_parts_follow_the_scenarios_and_cut_long_ones_evenly():
    class Q:  # the selector reads only .scenario (via questions_by_scenario)
        def __init__(self, scenario):
            self.scenario = scenario

    class S:
        def __init__(self, position):
            self.position, self.id = position, position

    a, b = S(1), S(2)
    questions = [Q(a) for _ in range(17)] + [Q(b) for _ in range(5)] + [Q(None) for _ in range(3)]
    parts = selectors.form_parts(questions=questions)
    assert [len(p.questions) for p in parts] == [9, 8, 5, 3]
    assert [(p.piece, p.pieces) for p in parts] == [(1, 2), (2, 2), (1, 1), (1, 1)]
    assert [p.number for p in parts] == [1, 2, 3, 4]
    short = [Q(a) for _ in range(selectors.FORM_PART_SIZE)]
    assert len(selectors.form_parts(questions=short)) == 1


@pytest.mark.django_db
def test_a_long_round_is_answered_part_by_part_then_submitted(organizer):
    survey = _survey(organizer, per_scenario={"blockade": 8, "invasion": 7}, general=2)
    survey_round, (invitation,) = _open(survey, "Ada")
    client = client_with_link(invitation)
    parts = selectors.form_parts(questions=selectors.round_questions(survey_round=survey_round))
    assert len(parts) == 3

    first = client.get(form_url(invitation)).content.decode()
    assert 'aria-current="page"' in first and "Review and submit" in first
    assert first.count('class="question"') == 8  # only the first scenario's questions
    assert 'name="submit"' not in first  # Submit is on the summary page

    for part in parts:
        data = {"part": str(part.number), "next": "1"}
        data.update({f"q{q.id}_probability": "40" for q in part.questions})
        response = client.post(form_url(invitation), data)
        assert response.status_code == 302
        expected = "summary" if part.number == len(parts) else str(part.number + 1)
        assert response["Location"].endswith(f"?part={expected}")
    assert Judgment.objects.filter(expert=invitation.expert).count() == 17

    summary = client.get(form_url(invitation) + "?part=summary").content.decode()
    assert "17 of 17 questions answered" in summary
    assert client.post(form_url(invitation), {"part": "summary", "submit": "1"}).status_code == 302
    invitation.refresh_from_db()
    assert invitation.submitted_at is not None


@pytest.mark.django_db
def test_the_summary_names_what_is_missing_and_refuses_to_submit(organizer):
    survey = _survey(organizer, per_scenario={"blockade": 8, "invasion": 7})
    _round, (invitation,) = _open(survey, "Ada")
    client = client_with_link(invitation)
    response = client.post(form_url(invitation), {"part": "summary", "submit": "1"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Answer every question before submitting" in page
    assert "?part=2#question-IN00" in page  # a link straight to a missing question
    invitation.refresh_from_db()
    assert invitation.submitted_at is None


@pytest.mark.django_db
def test_an_error_in_one_part_keeps_what_was_typed_and_saves_nothing(organizer):
    survey = _survey(organizer, per_scenario={"blockade": 8, "invasion": 7})
    survey_round, (invitation,) = _open(survey, "Ada")
    client = client_with_link(invitation)
    part = selectors.form_parts(questions=selectors.round_questions(survey_round=survey_round))[1]
    first, second = part.questions[:2]
    data = {"part": "2", "save": "1", f"q{first.id}_probability": "30"}
    data[f"q{second.id}_probability"] = "130"
    response = client.post(form_url(invitation), data)
    assert response.status_code == 400
    assert 'value="30"' in response.content.decode()
    assert not Judgment.objects.filter(expert=invitation.expert).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sizes", "meta_predictions"),
    [((4, 11), "off"), ((13, 30), "off"), ((13, 30), "required")],
    ids=["one page", "in parts", "in parts, meta-predictions"],
)
def test_the_expert_form_costs_the_same_queries_for_few_or_many_questions(
    organizer, sizes, meta_predictions, settings
):
    """Includes a follow-up round's feedback: the previous round's panel is read once; and
    with meta-predictions, the panel's cohorts once (cohorts of 1 and 2 experts here: the
    threshold for naming a cohort is set to 1 so that the form asks about both)."""
    settings.REPORT_MIN_COHORT_SIZE = 1

    def queries(n_questions: int) -> int:
        survey = _survey(organizer, per_scenario={"blockade": n_questions})
        round1, invitations = _open(survey, "Ada", "Bo", "Cy")
        for k, invitation in enumerate(invitations):
            invitation.expert.attributes = {"nationality": "US" if k else "ROK"}
            invitation.expert.save(update_fields=["attributes"])
        questions = {q.code: q for q in survey.questions.all()}
        for k, invitation in enumerate(invitations):
            values = {code: 0.2 + 0.2 * k for code in questions}
            answers_submit(invitation, questions, values | {"rationale": f"why {k}"})
        services.round_close(survey_round=round1)
        services.survey_update(survey=survey, meta_predictions=meta_predictions)
        round2 = services.round_open(survey_round=services.round_create(survey=survey))
        invitation = Invitation.objects.get(survey_round=round2, expert=invitations[0].expert)
        client = client_with_link(invitation)
        client.get(form_url(invitation))  # the panel's feedback is cached from here on
        with CaptureQueriesContext(connection) as captured:
            page = client.get(form_url(invitation))
        html = page.content.decode()
        assert page.status_code == 200 and "your answer and the panel's" in html
        assert ("ROK respondents (your group)" in html) is (meta_predictions != "off")
        return len(captured)

    few, many = sizes
    assert queries(few) == queries(many)


@pytest.mark.django_db
def test_the_feedback_follows_moderation_at_once(organizer):
    """The cached panel is keyed by what it depends on: hiding a rationale shows at once."""
    round1, mine, client = _follow_up(organizer, ("Ada", "Bo"), questions=2, prefix="SECRET")
    assert "SECRET-1" in client.get(form_url(mine)).content.decode()
    for judgment in Judgment.objects.filter(survey_round=round1, rationale="SECRET-1"):
        services.judgment_rationale_hide(judgment=judgment, hidden=True)
    assert "SECRET-1" not in client.get(form_url(mine)).content.decode()


def test_a_part_that_is_not_a_number_opens_the_first_part(organizer, db):
    survey = _survey(organizer, per_scenario={"blockade": 8, "invasion": 7})
    _round, (invitation,) = _open(survey, "Ada")
    client = client_with_link(invitation)
    url = reverse("elicitation:expert-form", args=[invitation.id])
    for value in ("²", "５", "9" * 5000, "0", "99", "-1"):
        response = client.get(url, {"part": value})
        assert response.status_code == 200, value


@pytest.mark.django_db
def test_the_feedback_follows_which_rationales_are_hidden_not_how_many(organizer):
    """Hide X, hide Y, show X: one hidden rationale before and after, but another one."""
    round1, mine, client = _follow_up(organizer, ("Ada", "Bo", "Cy"), questions=1, prefix="WHY")
    x = Judgment.objects.get(survey_round=round1, rationale="WHY-1")
    y = Judgment.objects.get(survey_round=round1, rationale="WHY-2")
    services.judgment_rationale_hide(judgment=x, hidden=True)
    page = client.get(form_url(mine)).content.decode()
    assert "WHY-1" not in page and "WHY-2" in page
    services.judgment_rationale_hide(judgment=y, hidden=True)
    services.judgment_rationale_hide(judgment=x, hidden=False)
    page = client.get(form_url(mine)).content.decode()
    assert "WHY-2" not in page and "WHY-1" in page


def _follow_up(organizer, names, *, questions: int, prefix: str):
    """Round 1 answered by ``names`` with rationales "<prefix>-<k>" and closed, round 2
    open: (round 1, the first expert's round-2 invitation, a browser that opened it)."""
    survey = _survey(organizer, per_scenario={"blockade": questions})
    round1, invitations = _open(survey, *names)
    asked = {q.code: q for q in survey.questions.all()}
    for k, invitation in enumerate(invitations):
        answers_submit(
            invitation, asked, {c: 0.3 for c in asked} | {"rationale": f"{prefix}-{k}"},
            rationale_on=tuple(asked),
        )  # fmt: skip
    services.round_close(survey_round=round1)
    round2 = services.round_open(survey_round=services.round_create(survey=survey))
    mine = Invitation.objects.get(survey_round=round2, expert=invitations[0].expert)
    return round1, mine, client_with_link(mine)
