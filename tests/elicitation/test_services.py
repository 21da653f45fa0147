"""Domain rules, called directly: creation, rounds, judgments and their history, submission."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from elicitation import selectors, services, texts
from elicitation.models import Invitation, Judgment, JudgmentRevision, Question, Round
from elicitation.tasks import invitation_send_task


def test_expert_create_makes_a_password_less_user_with_a_unique_username(survey):
    first = services.expert_create(survey=survey, name="A", email=" A@Example.org ")
    second = services.expert_create(survey=survey, name="B", email="b@example.org")
    first.user.refresh_from_db()
    assert first.user.username.startswith("expert-")
    assert first.user.username != second.user.username
    assert not first.user.has_usable_password()
    assert first.contact.email == "a@example.org"
    assert first.user.email == ""  # the user list pairs nobody with anything
    assert (first.code, second.code) == ("E001", "E002")


def test_expert_create_refuses_a_duplicate_email_and_creates_no_user(survey, expert):
    users_before = get_user_model().objects.count()
    with pytest.raises(ValidationError):
        services.expert_create(survey=survey, name="Again", email="EUNJI@example.org")
    assert get_user_model().objects.count() == users_before


@pytest.mark.parametrize(
    ("fields", "field_in_error"),
    [
        ({"kind": "binary", "unit": "ships"}, "unit"),
        ({"kind": "binary", "lower_bound": 0.0}, "lower_bound"),
        ({"kind": "binary", "is_seed": True, "seed_answer": 0.4}, "seed_answer"),
        ({"kind": "numeric", "lower_bound": 10.0, "upper_bound": 5.0}, "__all__"),
        ({"kind": "numeric", "scale": "log", "lower_bound": 0.0}, "lower_bound"),
        (
            {"kind": "numeric", "upper_bound": 5.0, "is_seed": True, "seed_answer": 9.0},
            "seed_answer",
        ),
        ({"kind": "binary", "is_seed": True}, "__all__"),
        ({"kind": "triangle"}, "kind"),
    ],
)
def test_question_create_refuses_inconsistent_questions(survey, fields, field_in_error):
    with pytest.raises(ValidationError) as error:
        services.question_create(survey=survey, code="BAD", text="?", **fields)
    assert field_in_error in error.value.message_dict
    assert not survey.questions.filter(code="BAD").exists()


def test_round_open_invites_every_expert_and_fixes_the_questions(survey, expert, other_expert):
    survey_round = services.round_create(survey=survey)
    assert survey_round.number == 1
    services.round_open(survey_round=survey_round)
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.OPEN
    assert survey_round.opened_at is not None
    assert set(survey_round.questions.values_list("code", flat=True)) == {"Q01", "Q02", "N01"}
    invitations = Invitation.objects.filter(survey_round=survey_round)
    assert {i.expert_id for i in invitations} == {expert.id, other_expert.id}
    assert all(i.sent_at is None and i.expires_at > timezone.now() for i in invitations)


def test_round_open_with_a_subset_of_questions(survey, questions, expert):
    survey_round = services.round_create(survey=survey)
    services.round_open(survey_round=survey_round, questions=[questions["Q02"]])
    assert list(survey_round.questions.values_list("code", flat=True)) == ["Q02"]


def test_round_open_enqueues_the_emails_only_after_commit(
    survey, expert, django_capture_on_commit_callbacks
):
    survey_round = services.round_create(survey=survey)
    with django_capture_on_commit_callbacks() as callbacks:
        services.round_open(survey_round=survey_round)
        assert Invitation.objects.filter(survey_round=survey_round).count() == 1
    assert len(callbacks) == 1  # registered, and run only when the transaction commits


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_experts", "no experts"),
        ("already_open", "only a draft round"),
        ("another_open", "still open"),
        ("expiry_past", "expire in the future"),
        ("expiry_too_far", "at most"),
    ],
)
def test_round_open_refusals_change_nothing(survey, expert, setup, message):
    survey_round = services.round_create(survey=survey)
    kwargs = {}
    if setup == "no_experts":
        expert.delete()
    elif setup == "already_open":
        services.round_open(survey_round=survey_round)
    elif setup == "another_open":
        services.round_open(survey_round=survey_round)
        survey_round = services.round_create(survey=survey)
    elif setup == "expiry_past":
        kwargs["expires_at"] = timezone.now() - timedelta(days=1)
    else:
        kwargs["expires_at"] = timezone.now() + timedelta(days=365)
    invitations_before = Invitation.objects.count()
    with pytest.raises(ValidationError, match=message):
        services.round_open(survey_round=survey_round, **kwargs)
    assert Invitation.objects.count() == invitations_before


def test_round_open_refuses_questions_of_another_survey(survey, expert, other_survey):
    survey_round = services.round_create(survey=survey)
    with pytest.raises(ValidationError, match="another survey"):
        services.round_open(survey_round=survey_round, questions=other_survey.questions.all())
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.DRAFT


def test_round_close_then_writes_are_refused(invitation, questions, open_round):
    services.round_close(survey_round=open_round)
    open_round.refresh_from_db()
    assert open_round.status == Round.Status.CLOSED and open_round.closed_at is not None
    with pytest.raises(ValidationError) as error:
        services.judgment_save(invitation=invitation, question=questions["Q01"], probability=0.3)
    assert error.value.code == "round_closed"
    assert not Judgment.objects.exists()
    with pytest.raises(ValidationError, match="only an open round"):
        services.round_close(survey_round=open_round)


def test_judgment_save_keeps_every_version_as_a_revision(invitation, questions):
    question = questions["Q01"]
    services.judgment_save(invitation=invitation, question=question, probability=0.3)
    services.judgment_save(invitation=invitation, question=question, probability=0.3)  # same
    services.judgment_save(
        invitation=invitation, question=question, probability=0.45, rationale="New info"
    )
    judgment = Judgment.objects.get(expert=invitation.expert, question=question)
    assert judgment.probability == 0.45 and judgment.rationale == "New info"
    history = list(judgment.revisions.values_list("probability", "rationale"))
    assert history == [(0.3, ""), (0.45, "New info")]


def test_judgment_save_refuses_a_question_outside_the_round(survey, expert, questions):
    survey_round = services.round_create(survey=survey)
    services.round_open(survey_round=survey_round, questions=[questions["Q01"]])
    invitation = Invitation.objects.get(expert=expert, survey_round=survey_round)
    with pytest.raises(ValidationError, match="not part of this round"):
        services.judgment_save(invitation=invitation, question=questions["Q02"], probability=0.5)
    assert not Judgment.objects.exists()


def test_judgment_save_refuses_an_expired_invitation(invitation, questions):
    invitation.expires_at = timezone.now() - timedelta(seconds=1)
    invitation.save(update_fields=["expires_at"])
    with pytest.raises(ValidationError) as error:
        services.judgment_save(invitation=invitation, question=questions["Q01"], probability=0.2)
    assert error.value.code == "invitation_expired"


@pytest.mark.parametrize(
    ("code", "values", "field"),
    [
        ("Q01", {"probability": 1.5}, "probability"),
        ("Q01", {"probability": -0.03}, "probability"),
        ("Q01", {"probability": float("nan")}, "probability"),
        ("Q01", {}, "probability"),
        ("Q01", {"probability": 0.5, "q50": 3.0}, "probability"),
        ("N01", {"q05": 5.0, "q50": 4.0, "q95": 9.0}, "q05"),
        ("N01", {"q05": 1.0, "q50": 8.0, "q95": 7.0}, "q95"),
        ("N01", {"q05": -1.0, "q50": 4.0, "q95": 9.0}, "q05"),
        ("N01", {"q05": 1.0, "q50": 4.0, "q95": 101.0}, "q95"),
        ("N01", {"q05": 1.0, "q50": 4.0}, "q95"),
        ("N01", {"probability": 0.5}, "q50"),
        ("N01", {"q05": 1.0, "q50": float("inf"), "q95": 9.0}, "q50"),
    ],
)
def test_judgment_save_refuses_bad_values(invitation, questions, code, values, field):
    with pytest.raises(ValidationError) as error:
        services.judgment_save(invitation=invitation, question=questions[code], **values)
    assert field in error.value.message_dict
    assert not Judgment.objects.exists() and not JudgmentRevision.objects.exists()


def test_the_database_refuses_a_half_filled_judgment(invitation, questions):
    """The constraint is the last line: no code path may store an incomplete answer."""
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(
            expert=invitation.expert,
            question=questions["N01"],
            survey_round=invitation.survey_round,
            q05=1.0,
            q50=2.0,
        )


def test_invitation_submit_lists_what_is_missing_then_succeeds(invitation, questions):
    services.judgment_save(invitation=invitation, question=questions["Q01"], probability=0.3)
    with pytest.raises(ValidationError, match="Not answered yet: Q02, N01"):
        services.invitation_submit(invitation=invitation)
    invitation.refresh_from_db()
    assert invitation.submitted_at is None
    services.judgment_save(invitation=invitation, question=questions["Q02"], probability=0.1)
    services.judgment_save(
        invitation=invitation, question=questions["N01"], q05=1.0, q50=2.0, q95=3.0
    )
    services.invitation_submit(invitation=invitation)
    invitation.refresh_from_db()
    assert invitation.submitted_at is not None


def test_invitation_answers_save_with_submit_is_all_or_nothing(invitation, questions):
    answers = [services.Answer(question=questions["Q01"], probability=0.3)]
    with pytest.raises(ValidationError, match="Not answered yet"):
        services.invitation_answers_save(invitation=invitation, answers=answers, submit=True)
    assert not Judgment.objects.exists()  # the saved answer was rolled back with the submit


def test_progress_selectors_count_answers_per_expert_and_per_question(
    invitation, other_invitation, questions, open_round
):
    services.judgment_save(invitation=invitation, question=questions["Q01"], probability=0.3)
    services.judgment_save(invitation=invitation, question=questions["Q02"], probability=0.3)
    services.judgment_save(invitation=other_invitation, question=questions["Q01"], probability=0.6)
    by_expert = {
        row.expert.code: (row.answered, row.total)
        for row in selectors.round_progress_by_expert(survey_round=open_round)
    }
    assert by_expert == {"E001": (2, 3), "E002": (1, 3)}
    by_question = {
        row.question.code: (row.answered, row.total)
        for row in selectors.round_progress_by_question(survey_round=open_round)
    }
    assert by_question == {"Q01": (2, 2), "Q02": (1, 2), "N01": (0, 2)}


def test_invitation_send_emails_the_magic_link_once(invitation, settings):
    settings.SITE_URL = "https://consilium.example"
    assert services.invitation_send(invitation_id=invitation.id) is True
    assert services.invitation_send(invitation_id=invitation.id) is False
    invitation_send_task.apply(args=[invitation.id])  # a redelivered task
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["eunji@example.org"]
    assert f"https://consilium.example/e/{invitation.id}/?t=" in message.body
    invitation.refresh_from_db()
    assert invitation.sent_at is not None


def test_invitation_send_skips_a_closed_round(invitation, open_round):
    services.round_close(survey_round=open_round)
    assert services.invitation_send(invitation_id=invitation.id) is False
    assert mail.outbox == []


def test_unsent_invitations_selector_ignores_sent_expired_and_closed(
    invitation, other_invitation, foreign_invitation
):
    services.invitation_send(invitation_id=invitation.id)
    foreign_invitation.expires_at = timezone.now() - timedelta(days=1)
    foreign_invitation.save(update_fields=["expires_at"])
    assert list(selectors.invitations_unsent()) == [other_invitation]
    services.round_close(survey_round=other_invitation.survey_round)
    assert list(selectors.invitations_unsent()) == []


def test_question_positions_follow_creation_order(survey):
    codes = list(survey.questions.values_list("code", flat=True))
    assert codes == ["Q01", "Q02", "N01"]
    assert Question.objects.get(code="N01", survey=survey).position == 2


def test_markdown_background_is_rendered_and_sanitised(survey):
    html = texts.markdown_html(survey.background)
    assert "<strong>this</strong>" in html
    assert "<script" not in html


def test_an_untouched_answer_with_many_decimals_is_not_revised(invitation, questions):
    """Answers loaded with full precision are shown rounded; sending them back is no change."""
    from elicitation.forms import ExpertAnswersForm

    question = questions["Q01"]
    services.judgment_save(invitation=invitation, question=question, probability=0.123456789012)
    judgments = selectors.invitation_judgments(invitation=invitation)
    shown = ExpertAnswersForm(questions=[question], judgments=judgments)
    data = {name: shown[name].value() for name in shown.fields}
    form = ExpertAnswersForm(data, questions=[question], judgments=judgments)
    assert form.is_valid(), form.errors
    services.invitation_answers_save(invitation=invitation, answers=form.answers())
    judgment = Judgment.objects.get(question=question)
    assert judgment.probability == 0.123456789012
    assert judgment.revisions.count() == 1


@pytest.mark.parametrize(
    ("probability", "shown"), [(0.29, "29"), (0.125, "12.5"), (0.0, "0"), (1.0, "100")]
)
def test_probabilities_are_shown_in_percent_without_float_noise(probability, shown):
    from elicitation.forms import percent_display

    assert percent_display(probability) == shown


def test_a_question_change_and_an_answer_take_the_same_row_lock(monkeypatch, questions, invitation):
    """Without it an answer can be saved between question_update's check and its change,
    and then belong to a wording the expert never saw. (SQLite ignores FOR UPDATE, so the
    test watches the locks being asked for; PostgreSQL in CI takes them.)"""
    from django.db.models import QuerySet

    locks = []
    select_for_update = QuerySet.select_for_update

    def spy(self, *args, **kwargs):
        locks.append((self.model, transaction.get_connection().in_atomic_block))
        return select_for_update(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "select_for_update", spy)
    question = questions["Q02"]
    services.question_update(question=question, text="Will Korea send two ships?")
    assert (Question, True) in locks
    locks.clear()
    services.judgment_save(invitation=invitation, question=question, probability=0.3)
    assert (Question, True) in locks
    with pytest.raises(ValidationError, match="already answered"):
        services.question_update(question=question, text="Will Korea send ships?")
    question.refresh_from_db()
    assert question.text == "Will Korea send two ships?"
