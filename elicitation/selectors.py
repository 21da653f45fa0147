"""Reads and access checks of the elicitation domain.

Organizer checks raise ``Http404`` for a user without rights to the survey (we do not
confirm that it exists). Expert checks raise ``LinkRefused``, which the expert views turn
into a page that says what happened and whom to ask.
"""

from dataclasses import dataclass
from itertools import groupby

import markdown
import nh3
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from sesame.utils import get_user

from elicitation.links import invitation_scope
from elicitation.models import Expert, Invitation, Judgment, Question, Round, Scenario, Survey

# The session remembers which invitations this browser opened through a valid link.
SESSION_INVITATIONS = "elicitation_invitation_ids"


# --- Organizers -------------------------------------------------------------------------


def survey_list_for_organizer(*, user) -> QuerySet[Survey]:
    if not user.is_staff:
        return Survey.objects.none()
    surveys = Survey.objects.all()
    if not user.is_superuser:
        surveys = surveys.filter(organizers=user)
    return surveys.annotate(
        n_questions=Count("questions", distinct=True),
        n_experts=Count("experts", distinct=True),
        n_rounds=Count("rounds", distinct=True),
    )


def survey_get_for_organizer(*, user, survey_id: int) -> Survey:
    survey = survey_list_for_organizer(user=user).filter(id=survey_id).first()
    if survey is None:
        raise Http404("No survey you organize has this id.")
    return survey


def round_get_for_organizer(*, user, round_id: int) -> Round:
    survey_round = Round.objects.select_related("survey").filter(id=round_id).first()
    if survey_round is None:
        raise Http404("No such round.")
    survey_get_for_organizer(user=user, survey_id=survey_round.survey_id)
    return survey_round


@dataclass(frozen=True)
class ExpertProgress:
    expert: Expert
    invitation: Invitation
    answered: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 0


@dataclass(frozen=True)
class QuestionProgress:
    question: Question
    answered: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 0


def round_progress_by_expert(*, survey_round: Round) -> list[ExpertProgress]:
    total = survey_round.questions.count()
    invitations = (
        survey_round.invitations.select_related("expert")
        .annotate(
            answered=Count(
                "expert__judgments", filter=Q(expert__judgments__survey_round=survey_round)
            )
        )
        .order_by("expert__code")
    )
    return [
        ExpertProgress(invitation.expert, invitation, invitation.answered, total)
        for invitation in invitations
    ]


def round_progress_by_question(*, survey_round: Round) -> list[QuestionProgress]:
    total = survey_round.invitations.count()
    questions = survey_round.questions.annotate(
        answered=Count("judgments", filter=Q(judgments__survey_round=survey_round))
    )
    return [QuestionProgress(question, question.answered, total) for question in questions]


def round_summary(*, survey_round: Round) -> dict[str, int]:
    invitations = survey_round.invitations
    return {
        "invited": invitations.count(),
        "sent": invitations.filter(sent_at__isnull=False).count(),
        "opened": invitations.filter(first_opened_at__isnull=False).count(),
        "submitted": invitations.filter(submitted_at__isnull=False).count(),
    }


def invitations_unsent(*, survey_round: Round | None = None) -> QuerySet[Invitation]:
    """Invitations of open rounds whose email has not gone out and whose link still works."""
    unsent = Invitation.objects.filter(
        sent_at__isnull=True,
        survey_round__status=Round.Status.OPEN,
        expires_at__gt=timezone.now(),
    )
    return unsent if survey_round is None else unsent.filter(survey_round=survey_round)


def survey_contact_email(*, survey: Survey) -> str:
    """Whom experts should write to: the survey's contact, else its first organizer."""
    if survey.contact_email:
        return survey.contact_email
    organizer = survey.organizers.exclude(email="").order_by("id").first()
    return organizer.email if organizer else ""


# --- Experts ----------------------------------------------------------------------------


class LinkRefused(Exception):
    """A magic link or an expert page that this browser may not open."""

    REASONS = {"invalid": 403, "not_yours": 403, "no_session": 403, "expired": 410}

    def __init__(self, reason: str, invitation: Invitation | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.invitation = invitation
        self.status = self.REASONS[reason]


def _invitations() -> QuerySet[Invitation]:
    return Invitation.objects.select_related("expert", "survey_round__survey")


def invitation_get_by_link(*, request: HttpRequest, invitation_id: int) -> Invitation:
    """The invitation a magic link opens, or ``LinkRefused``.

    The token is scoped to this invitation, so a token of another invitation (another
    expert's, another round's, another survey's) does not validate here at all.
    """
    user = get_user(request, scope=invitation_scope(invitation_id), update_last_login=False)
    if user is None:
        raise LinkRefused("invalid")
    invitation = _invitations().filter(id=invitation_id, expert__user=user).first()
    if invitation is None:
        raise LinkRefused("not_yours")
    if invitation.is_expired():
        raise LinkRefused("expired", invitation)
    return invitation


def invitation_get_for_session(*, session: SessionBase, invitation_id: int) -> Invitation:
    """The invitation of a token-free expert page, if this browser opened its link."""
    if invitation_id not in session.get(SESSION_INVITATIONS, []):
        raise LinkRefused("no_session")
    invitation = _invitations().filter(id=invitation_id).first()
    if invitation is None:
        raise LinkRefused("no_session")
    if invitation.is_expired():
        raise LinkRefused("expired", invitation)
    return invitation


def round_questions(*, survey_round: Round) -> list[Question]:
    return list(
        survey_round.questions.select_related("scenario").order_by(
            "scenario__position", "scenario__id", "position", "id"
        )
    )


def questions_by_scenario(
    *, questions: list[Question]
) -> list[tuple[Scenario | None, list[Question]]]:
    """Group questions under their scenario, in scenario order; questions without one
    (general and calibration questions) come last."""
    ordered = sorted(questions, key=lambda q: (q.scenario is None, _scenario_key(q.scenario)))
    return [
        (scenario, list(group))
        for scenario, group in groupby(ordered, key=lambda question: question.scenario)
    ]


def _scenario_key(scenario: Scenario | None) -> tuple[int, int]:
    return (scenario.position, scenario.id) if scenario else (0, 0)


def invitation_judgments(*, invitation: Invitation) -> dict[int, Judgment]:
    """This expert's own answers in this round, by question id (never anyone else's)."""
    judgments = Judgment.objects.filter(
        expert_id=invitation.expert_id, survey_round_id=invitation.survey_round_id
    )
    return {judgment.question_id: judgment for judgment in judgments}


def invitation_missing_questions(*, invitation: Invitation) -> list[Question]:
    answered = Judgment.objects.filter(
        expert_id=invitation.expert_id, survey_round_id=invitation.survey_round_id
    ).values("question_id")
    survey_round = invitation.survey_round
    return list(survey_round.questions.exclude(id__in=answered))


def markdown_html(text: str) -> SafeString:
    """Markdown written by organizers, sanitised: it is shown to every expert."""
    html = markdown.markdown(text, extensions=["extra", "sane_lists"])
    return mark_safe(nh3.clean(html))  # noqa: S308 (nh3 has just removed anything unsafe)
