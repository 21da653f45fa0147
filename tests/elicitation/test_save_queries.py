"""Saving a page of answers costs the same database queries for few or many questions
(issue 14): the questions are locked, the answers read and the revisions written in one
query each, and each answer is still stored once, with one revision per change."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from elicitation import services
from elicitation.models import Invitation, Judgment, JudgmentRevision
from tests.elicitation.helpers import client_with_link, form_url


def _round(organizer, n_questions: int) -> Invitation:
    survey = services.survey_create(title="Saves", organizers=[organizer])
    for k in range(n_questions):
        services.question_create(survey=survey, code=f"Q{k:02d}", text=f"Question {k}?")
    expert = services.expert_create(survey=survey, name="Ada", email="ada@example.org")
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    return Invitation.objects.get(survey_round=survey_round, expert=expert)


@pytest.mark.django_db
def test_a_save_costs_the_same_queries_for_few_or_many_questions(organizer):
    def save_queries(n_questions: int) -> int:
        invitation = _round(organizer, n_questions)
        client = client_with_link(invitation)
        questions = list(invitation.survey_round.questions.order_by("id"))
        data = {"save": "1"} | {f"q{q.id}_probability": "40" for q in questions}
        data[f"q{questions[0].id}_rationale"] = "Because."
        assert client.post(form_url(invitation), data).status_code == 302  # every one new
        data[f"q{questions[-1].id}_probability"] = "45"  # one changed, the rest as they were
        with CaptureQueriesContext(connection) as captured:
            assert client.post(form_url(invitation), data).status_code == 302
        judgments = Judgment.objects.filter(expert=invitation.expert)
        assert judgments.count() == n_questions
        assert JudgmentRevision.objects.filter(judgment__in=judgments).count() == n_questions + 1
        assert judgments.get(question=questions[-1]).probability == 0.45
        return len(captured)

    assert save_queries(2) == save_queries(10)
