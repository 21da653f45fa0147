"""Clarifications: a question's wording corrected during an open round, its history, the
earlier answerers asked to confirm or revise, and the wording version of every answer."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from elicitation import clarifications, services
from elicitation.models import Judgment, JudgmentRevision, QuestionVersion
from tests.elicitation.helpers import answers_post, form_url

NEW_TEXT = "Will Japan allow US forces to use its bases for combat operations?"


def clarify(question, **overrides):
    fields = {"text": NEW_TEXT, "note": "Combat operations, not logistics only."} | overrides
    return clarifications.question_clarify(question=question, **fields)


@pytest.fixture
def answered(expert_client, invitation, questions):
    response = expert_client.post(form_url(invitation), answers_post(questions))
    assert response.status_code == 302
    return Judgment.objects.get(question=questions["Q01"], expert=invitation.expert)


def test_clarify_keeps_history_and_raises_the_version(answered, questions, organizer):
    question = questions["Q01"]
    version = clarify(question, text_ko="일본은?", by=organizer)
    question.refresh_from_db()
    assert (question.version, question.text, version.number) == (2, NEW_TEXT, 2)
    history = list(question.versions.values_list("number", "text"))
    assert history == [(1, "Will Japan allow US basing?"), (2, NEW_TEXT)]
    answered.refresh_from_db()
    assert answered.question_version == 1  # given under the first wording


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"text": "  "}, "English wording"),
        ({"note": ""}, "what changed"),
        ({"text": "Will Japan allow US basing?"}, "same as now"),
    ],
)
def test_bad_clarifications_are_refused(answered, questions, overrides, message):
    with pytest.raises(ValidationError, match=message):
        clarify(questions["Q01"], **overrides)
    assert not QuestionVersion.objects.exists()


def test_only_during_an_open_round(survey, questions):
    with pytest.raises(ValidationError, match="not asked in an open round"):
        clarify(questions["Q01"])


def test_earlier_answerer_is_told_and_confirms(answered, expert_client, invitation, questions):
    question = questions["Q01"]
    clarify(question)
    page = expert_client.get(form_url(invitation)).content.decode()
    assert "clarified after you answered" in page
    assert "Combat operations, not logistics only." in page
    response = expert_client.post(
        form_url(invitation), answers_post(questions, confirm=str(question.id))
    )
    assert response.status_code == 302
    answered.refresh_from_db()
    assert answered.question_version == 2 and answered.confirmed_at is not None
    assert answered.probability == 0.35  # unchanged
    revision = JudgmentRevision.objects.filter(judgment=answered).latest("id")
    assert revision.confirmed and revision.question_version == 2
    assert (
        "clarified after you answered"
        not in expert_client.get(form_url(invitation)).content.decode()
    )


def test_a_revised_answer_is_given_under_the_new_wording(
    answered, expert_client, invitation, questions
):
    clarify(questions["Q01"])
    expert_client.post(
        form_url(invitation),
        answers_post(questions, **{f"q{questions['Q01'].id}_probability": "20"}),
    )
    answered.refresh_from_db()
    assert (answered.probability, answered.question_version, answered.confirmed_at) == (
        0.2,
        2,
        None,
    )


def test_saving_unchanged_does_not_confirm(answered, expert_client, invitation, questions):
    clarify(questions["Q01"])
    expert_client.post(form_url(invitation), answers_post(questions))
    answered.refresh_from_db()
    assert answered.question_version == 1


def test_a_new_answer_after_the_change_is_under_the_new_wording(
    open_round, other_invitation, questions
):
    clarify(questions["Q01"])
    judgment = services.judgment_save(
        invitation=other_invitation, question=questions["Q01"], probability=0.5
    )
    assert judgment.question_version == 2


@pytest.mark.parametrize("value", ["abc", "", "9" * 40, "-1"])
def test_a_bad_confirm_value_changes_nothing(answered, expert_client, invitation, questions, value):
    clarify(questions["Q01"])
    response = expert_client.post(form_url(invitation), answers_post(questions, confirm=value))
    assert response.status_code == 302
    answered.refresh_from_db()
    assert answered.question_version == 1


def test_confirming_another_experts_answer_is_impossible(answered, other_invitation, questions):
    clarify(questions["Q01"])
    with pytest.raises(ValidationError, match="no answer of yours"):
        clarifications.judgment_wording_confirm(
            invitation=other_invitation, question_id=questions["Q01"].id
        )
    answered.refresh_from_db()
    assert answered.question_version == 1


# --- Organizer pages --------------------------------------------------------------------------


def clarify_url(question) -> str:
    return reverse("elicitation:question-clarify", args=[question.id])


def test_organizer_clarifies_on_the_page(answered, organizer_client, questions, survey, open_round):
    question = questions["Q01"]
    assert organizer_client.get(clarify_url(question)).status_code == 200
    survey_page = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    assert clarify_url(question) in survey_page.content.decode()
    response = organizer_client.post(
        clarify_url(question), {"text": NEW_TEXT, "note": "Combat, not logistics."}
    )
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.version == 2
    round_page = organizer_client.get(reverse("elicitation:round-detail", args=[open_round.id]))
    assert "Clarified wordings" in round_page.content.decode()


def test_a_bad_clarification_post_is_400_with_the_reason(answered, organizer_client, questions):
    response = organizer_client.post(clarify_url(questions["Q01"]), {"text": NEW_TEXT})
    assert response.status_code == 400
    assert "what changed" in response.content.decode()


def test_wording_csv_says_which_wording_each_answer_had(
    answered, organizer_client, questions, open_round, other_invitation
):
    clarify(questions["Q01"])
    services.judgment_save(invitation=other_invitation, question=questions["Q01"], probability=0.5)
    response = organizer_client.get(reverse("elicitation:round-wording-csv", args=[open_round.id]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    q01 = {row["expert"]: row["wording_version"] for row in rows if row["question"] == "Q01"}
    assert q01 == {"E001": "1", "E002": "2"}
    assert all(row["current_wording_version"] == "2" for row in rows if row["question"] == "Q01")


def test_only_the_surveys_organizers_clarify(answered, client, other_staff, member, questions,
                                             open_round):  # fmt: skip
    question = questions["Q01"]
    for user, status in ((other_staff, 404), (member, 403)):
        client.force_login(user)
        assert (
            client.post(clarify_url(question), {"text": NEW_TEXT, "note": "x"}).status_code
            == status
        )
        csv_url = reverse("elicitation:round-wording-csv", args=[open_round.id])
        assert client.get(csv_url).status_code == status
    question.refresh_from_db()
    assert question.version == 1


def test_an_expert_who_had_not_answered_sees_no_notice(answered, questions, other_invitation):
    from tests.elicitation.helpers import client_with_link

    clarify(questions["Q01"])
    page = client_with_link(other_invitation).get(form_url(other_invitation)).content.decode()
    assert "clarified after you answered" not in page
    assert NEW_TEXT in page


def test_the_round_report_says_which_wording_answers_were_given_under(
    answered, organizer_client, questions, open_round, other_invitation
):
    clarify(questions["Q01"])
    services.judgment_save(invitation=other_invitation, question=questions["Q01"], probability=0.5)
    response = organizer_client.get(reverse("aggregation:round-report", args=[open_round.id]))
    page = response.content.decode()
    assert "Clarified wordings" in page
    assert "Q01, wording v1" in page and "Q01, wording v2" in page
    assert page.count(": 1 answers") == 2


def test_the_analysts_judgments_csv_says_which_wording_each_answer_had(
    answered, organizer_client, questions, open_round, invitation, other_invitation
):
    from tests.elicitation.helpers import client_with_link

    clarify(questions["Q01"])
    response = client_with_link(other_invitation).post(
        form_url(other_invitation), answers_post(questions)
    )
    assert response.status_code == 302
    for submitting in (invitation, other_invitation):
        services.invitation_submit(invitation=submitting)
    url = reverse("aggregation:round-judgments-csv", args=[open_round.id])
    rows = list(csv.DictReader(io.StringIO(organizer_client.get(url).content.decode("utf-8-sig"))))
    q01 = {row["expert"]: row["wording_version"] for row in rows if row["question"] == "Q01"}
    assert q01 == {"E001": "1", "E002": "2"}  # the number only: the wordings are on the report
    assert {row["wording_version"] for row in rows if row["question"] != "Q01"} == {"1"}
