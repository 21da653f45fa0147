"""Reads and access checks of the elicitation domain.

Organizer checks raise ``Http404`` for a user without rights to the survey (we do not
confirm that it exists). Expert checks raise ``LinkRefused``, which the expert views turn
into a page that says what happened and whom to ask.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from sesame.utils import get_user

from elicitation import meta
from elicitation.links import invitation_scope
from elicitation.models import Expert, Invitation, Judgment, Question, Round, Scenario, Survey

# The session remembers which invitations this browser opened through a valid link.
# {invitation id (str): link version} of the links this browser opened (a staff login in
# the same browser clears it: see elicitation.signals).
SESSION_INVITATIONS = "elicitation_invitations"


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


def people_for_survey_roles() -> dict[str, QuerySet]:
    """Who may be made an organizer (staff) or an analyst (anyone with a login) of a survey.

    Never an expert: their accounts only carry link tokens (random names, no password).
    """
    people = (
        get_user_model()
        .objects.filter(is_active=True, expert__isnull=True)
        .order_by("last_name", "first_name", "username")
    )
    return {"organizers": people.filter(is_staff=True), "analysts": people}


def survey_question_get_for_organizer(*, user, question_id: int) -> Question:
    question = Question.objects.select_related("survey").filter(id=question_id).first()
    if question is None:
        raise Http404("No such question.")
    survey_get_for_organizer(user=user, survey_id=question.survey_id)
    return question


def survey_questions_in_open_rounds(*, survey: Survey) -> set[int]:
    """The ids of the survey's questions an open round asks (their wording can be clarified)."""
    return set(
        Question.objects.filter(survey=survey, rounds__status=Round.Status.OPEN).values_list(
            "id", flat=True
        )
    )


def question_is_answered(*, question: Question) -> bool:
    return question.judgments.exists()


def scenario_get_for_organizer(*, user, scenario_id: int) -> Scenario:
    scenario = Scenario.objects.select_related("survey").filter(id=scenario_id).first()
    if scenario is None:
        raise Http404("No such scenario.")
    survey_get_for_organizer(user=user, survey_id=scenario.survey_id)
    return scenario


def survey_panel(*, survey: Survey) -> dict:
    """The panel as the survey page lists it.

    Strict anonymity: the contacts by name and the cohorts' sizes, nothing of an expert's
    own (no code, no cohort of a named person, no order that follows the codes).
    Identified: each expert with their code, contact and cohorts.
    """
    if survey.is_strict:
        values = Counter(
            str(attributes.get(survey.cohort_attribute, "—"))
            for attributes in survey.experts.values_list("attributes", flat=True)
        )
        contacts = list(survey.contacts.order_by("name", "email"))
        return {
            "contacts": contacts,
            "n_experts": len(contacts),
            "cohort_counts": sorted(values.items()),
        }
    experts = list(survey.experts.select_related("contact").order_by("code"))
    return {"experts": experts, "n_experts": len(experts)}


def invitations_for_organizer(*, user) -> QuerySet[Invitation]:
    """The invitations of the surveys this user organizes (superusers: all)."""
    invitations = Invitation.objects.select_related("expert")
    if not user.is_staff:
        return invitations.none()
    if user.is_superuser:
        return invitations
    return invitations.filter(survey_round__survey__organizers=user)


@dataclass(frozen=True)
class ExpertProgress:
    expert: Expert
    invitation: Invitation
    answered: int
    total: int
    last_reminded_at: datetime | None = None

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 0

    @property
    def state(self) -> str:
        """not_opened, in_progress, answered (all, not submitted) or submitted."""
        if self.invitation.submitted_at is not None:
            return "submitted"
        if self.total and self.answered >= self.total:
            return "answered"
        if self.answered or self.invitation.first_opened_at is not None:
            return "in_progress"
        return "not_opened"


@dataclass(frozen=True)
class QuestionProgress:
    question: Question
    answered: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 0


def round_progress_by_expert(*, survey_round: Round) -> list[ExpertProgress]:
    """Each invited expert's progress, by code (the template decides whether names show)."""
    total = survey_round.questions.count()
    invitations = (
        survey_round.invitations.select_related("expert__contact")
        .annotate(
            answered=Count(
                "expert__judgments",
                filter=Q(expert__judgments__survey_round=survey_round),
                distinct=True,
            ),
            last_reminded_at=Max("reminder_deliveries__sent_at"),
        )
        .order_by("expert__code")
    )
    return [
        ExpertProgress(
            invitation.expert, invitation, invitation.answered, total, invitation.last_reminded_at
        )
        for invitation in invitations
    ]


def round_invitations_to_remind(*, survey_round: Round) -> QuerySet[Invitation]:
    """Who a reminder goes to: invited, not submitted, link still valid, and not an expert
    who declined the consent in force (declining ends the survey for them, politely)."""
    from elicitation.consent import consent_declined_expert_ids  # consent reads models only

    return (
        survey_round.invitations.filter(
            submitted_at__isnull=True,
            expires_at__gt=timezone.now(),
            answers_closed_at__isnull=True,
        )
        .exclude(expert_id__in=consent_declined_expert_ids(survey=survey_round.survey))
        .order_by("id")
    )


def round_events(*, survey_round: Round) -> QuerySet:
    return survey_round.events.select_related("by")


def round_late_invitations(*, survey_round: Round) -> list[Invitation]:
    """Who joined the round after it opened (codes, for the analysis)."""
    late = survey_round.invitations.filter(joined_late=True).select_related("expert")
    return list(late.order_by("expert__code"))


def round_experts_not_invited(*, survey_round: Round) -> QuerySet[Expert]:
    """The panel's experts without an invitation to this round (to invite late)."""
    return survey_round.survey.experts.exclude(invitations__survey_round=survey_round)


def round_experts_invited(*, survey_round: Round) -> QuerySet[Expert]:
    return survey_round.survey.experts.filter(invitations__survey_round=survey_round)


def round_can_reopen(*, survey_round: Round) -> bool:
    """Closed, the latest round to have opened, and no other round open."""
    if survey_round.status != Round.Status.CLOSED:
        return False
    rounds = survey_round.survey.rounds.exclude(id=survey_round.id)
    later = rounds.filter(number__gt=survey_round.number).exclude(status=Round.Status.DRAFT)
    return not later.exists() and not rounds.filter(status=Round.Status.OPEN).exists()


def round_reminders(*, survey_round: Round) -> QuerySet:
    return survey_round.reminders.annotate(
        n_sent=Count("deliveries", filter=Q(deliveries__sent_at__isnull=False)),
        n_skipped=Count("deliveries", filter=~Q(deliveries__skipped="")),
        n_recipients=Count("deliveries"),
    ).order_by("send_at", "id")


def round_rationales_for_moderation(*, survey_round: Round) -> list[Judgment]:
    """Every rationale of the round, question by question (the moderation page)."""
    return list(
        survey_round.judgments.exclude(rationale="")
        .select_related("question", "expert")
        .order_by("question__position", "question__id", "id")
    )


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
    """Invitations that take answers (open round, not left out of a reopening) whose email
    has not gone out and whose link still works."""
    unsent = Invitation.objects.filter(
        sent_at__isnull=True,
        survey_round__status=Round.Status.OPEN,
        answers_closed_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    return unsent if survey_round is None else unsent.filter(survey_round=survey_round)


def survey_questions_askable(*, survey: Survey) -> QuerySet[Question]:
    """The questions a new round may ask: all but those whose outcome is settled (resolved
    or annulled, ``resolution`` app). Seeds are askable: their known answer is the point."""
    return survey.questions.exclude(resolution__isnull=False, is_seed=False)


def survey_contact_email(*, survey: Survey) -> str:
    """Whom experts should write to: the survey's contact, else its first organizer."""
    if survey.contact_email:
        return survey.contact_email
    organizer = survey.organizers.exclude(email="").order_by("id").first()
    return organizer.email if organizer else ""


# --- Experts ----------------------------------------------------------------------------


class LinkRefused(Exception):
    """A magic link or an expert page that this browser may not open."""

    REASONS = {
        "invalid": 403,
        "not_yours": 403,
        "no_session": 403,
        "expired": 410,
        "throttled": 429,
    }

    def __init__(self, reason: str, invitation: Invitation | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.invitation = invitation
        self.status = self.REASONS[reason]


def _invitations() -> QuerySet[Invitation]:
    return Invitation.objects.select_related("expert", "survey_round__survey")


def invitation_get_by_link(*, request: HttpRequest, invitation_id: int) -> Invitation:
    """The invitation a magic link opens, or ``LinkRefused``.

    The token is scoped to this invitation at its current link version, so a token of
    another invitation (another expert's, another round's, another survey's) or a link
    the organizer revoked does not validate here at all.
    """
    invitation = _invitations().filter(id=invitation_id).first()
    if invitation is None:
        raise LinkRefused("invalid")
    user = get_user(request, scope=invitation_scope(invitation), update_last_login=False)
    if user is None:
        raise LinkRefused("invalid")
    if invitation.expert.user_id != user.id:
        raise LinkRefused("not_yours")
    if invitation.is_expired():
        raise LinkRefused("expired", invitation)
    return invitation


def session_invitations(*, session: SessionBase) -> dict[int, int]:
    """The invitations this browser proved a link for: id -> the link version proven."""
    return {int(key): version for key, version in session.get(SESSION_INVITATIONS, {}).items()}


def invitation_get_for_session(*, session: SessionBase, invitation_id: int) -> Invitation:
    """The invitation of a token-free expert page, if this browser opened its current link."""
    proven = session_invitations(session=session).get(invitation_id)
    if proven is None:
        raise LinkRefused("no_session")
    invitation = _invitations().filter(id=invitation_id).first()
    if invitation is None:
        raise LinkRefused("no_session")
    if invitation.link_version != proven:
        raise LinkRefused("invalid")  # the link this browser opened has been revoked
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


def survey_scenarios_with_questions(
    *, survey: Survey, questions: list[Question]
) -> list[tuple[Scenario | None, list[Question]]]:
    """Every scenario of the survey, those without questions too, then the questions
    without a scenario (the organizer's survey page)."""
    by_scenario: dict[int | None, list[Question]] = {}
    for question in questions:
        by_scenario.setdefault(question.scenario_id, []).append(question)
    groups = [(s, by_scenario.get(s.id, [])) for s in survey.scenarios.all()]
    if None in by_scenario:
        groups.append((None, by_scenario[None]))
    return groups


# A round with more questions than this is answered in parts, one scenario (or a piece of
# a long one) a page: each part is saved on its own, and a summary comes before Submit.
FORM_PART_SIZE = 12


@dataclass(frozen=True)
class FormPart:
    number: int  # 1, 2, ...: the page's ?part=
    scenario: Scenario | None
    questions: list[Question]
    piece: int = 1  # a long scenario is cut into pieces of at most FORM_PART_SIZE
    pieces: int = 1


def form_parts(*, questions: list[Question]) -> list[FormPart]:
    """The pages of a round's form: one page when it is short, else a part per scenario."""
    if len(questions) <= FORM_PART_SIZE:
        return [FormPart(1, None, questions)]
    parts: list[FormPart] = []
    for scenario, group in questions_by_scenario(questions=questions):
        pieces = -(-len(group) // FORM_PART_SIZE)
        size = -(-len(group) // pieces)  # even pieces: 17 questions are 9 + 8, not 12 + 5
        for piece in range(pieces):
            chunk = group[piece * size : (piece + 1) * size]
            parts.append(FormPart(len(parts) + 1, scenario, chunk, piece + 1, pieces))
    return parts


def _scenario_key(scenario: Scenario | None) -> tuple[int, int]:
    return (scenario.position, scenario.id) if scenario else (0, 0)


def invitation_judgments(*, invitation: Invitation) -> dict[int, Judgment]:
    """This expert's own answers in this round, by question id (never anyone else's)."""
    judgments = Judgment.objects.filter(
        expert_id=invitation.expert_id, survey_round_id=invitation.survey_round_id
    )
    return {judgment.question_id: judgment for judgment in judgments}


def invitation_previous_judgments(*, invitation: Invitation) -> dict[int, Judgment]:
    """This expert's own answers in the round whose results this round shows, by question."""
    previous = invitation.survey_round.feedback_round_id
    if previous is None:
        return {}
    judgments = Judgment.objects.counted().filter(
        expert_id=invitation.expert_id, survey_round_id=previous
    )
    return {judgment.question_id: judgment for judgment in judgments}


def invitation_missing_questions(*, invitation: Invitation) -> list[Question]:
    answered = Judgment.objects.filter(
        expert_id=invitation.expert_id, survey_round_id=invitation.survey_round_id
    ).values("question_id")
    survey_round = invitation.survey_round
    return list(survey_round.questions.exclude(id__in=answered))


def invitation_missing_meta_predictions(*, invitation: Invitation) -> list[Question]:
    """The answered questions whose meta-predictions a submit still needs: none unless the
    survey requires them; else those asking them that lack a cohort of the panel."""
    survey = invitation.survey_round.survey
    if not meta.meta_required(survey):
        return []
    cohorts = meta.meta_cohorts(survey)
    if not cohorts:
        return []
    judgments = Judgment.objects.filter(
        expert_id=invitation.expert_id, survey_round_id=invitation.survey_round_id
    ).select_related("question")
    return [
        judgment.question
        for judgment in judgments
        if meta.asks_meta(judgment.question, survey=survey)
        and meta.meta_predictions_missing(values=judgment.meta_predictions, cohorts=cohorts)
    ]
