"""Rounds: create, open (inviting the panel), close."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from elicitation import selectors
from elicitation.feedback import feedback_warm_soon
from elicitation.models import Expert, Invitation, Question, Round, Survey
from elicitation.services.invitations import invitations_enqueue

DEFAULT_LINK_DAYS = 30


def round_create(
    *,
    survey: Survey,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    is_pilot: bool = False,
) -> Round:
    if opens_at and closes_at and closes_at <= opens_at:
        raise ValidationError({"closes_at": _("The round must close after it opens.")})
    with transaction.atomic():
        # Lock the survey so two organizers clicking at once do not both take number N.
        Survey.objects.select_for_update().get(id=survey.id)
        number = (survey.rounds.aggregate(n=Max("number"))["n"] or 0) + 1
        return Round.objects.create(
            survey=survey,
            number=number,
            opens_at=opens_at,
            closes_at=closes_at,
            is_pilot=is_pilot,
        )


FEEDBACK_FIELDS = (
    "show_consensus",
    "show_spread",
    "show_cohorts",
    "show_rationales",
    "show_forecast",
)


def round_open(
    *,
    survey_round: Round,
    questions: Iterable[Question] | None = None,
    expires_at: datetime | None = None,
    feedback: dict[str, bool] | None = None,
    experts: Iterable[Expert] | None = None,
) -> Round:
    """Draft → open: fix the round's questions, invite the panel (or the ``experts`` chosen
    among it, e.g. a follow-up for a subset), email them after commit.

    A follow-up round shows the results of the latest closed round (``feedback_round``);
    ``feedback`` picks what of it experts see (keys of ``FEEDBACK_FIELDS``).
    """
    now = timezone.now()
    expires_at = expires_at or now + timedelta(days=DEFAULT_LINK_DAYS)
    unknown = set(feedback or {}) - set(FEEDBACK_FIELDS)
    if unknown:
        raise ValueError(f"unknown feedback options: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        survey_round = Round.objects.select_for_update().get(id=survey_round.id)
        survey = survey_round.survey
        _round_check_can_open(survey_round=survey_round, expires_at=expires_at, now=now)
        questions = _round_questions_check(survey=survey, questions=questions)
        experts = list(survey.experts.all() if experts is None else experts)
        if not survey.experts.exists():
            raise ValidationError(_("The survey has no experts yet. Import the panel first."))
        if not experts:
            raise ValidationError({"experts": _("Choose at least one expert to invite.")})
        foreign = [expert.code for expert in experts if expert.survey_id != survey.id]
        if foreign:
            raise ValidationError(
                _("Not on this survey's panel: %(codes)s.") % {"codes": ", ".join(foreign)}
            )
        survey_round.questions.set(questions)
        survey_round.status, survey_round.opened_at = Round.Status.OPEN, now
        # Never a pilot round's: its answers are a rehearsal (elicitation.pilot).
        survey_round.feedback_round = (
            survey.rounds.filter(status=Round.Status.CLOSED, is_pilot=False)
            .order_by("-closed_at", "-id")
            .first()
        )
        for name, value in (feedback or {}).items():
            setattr(survey_round, name, bool(value))
        survey_round.save(
            update_fields=["status", "opened_at", "feedback_round", *(feedback or {})]
        )
        invitations = Invitation.objects.bulk_create(
            Invitation(expert=expert, survey_round=survey_round, expires_at=expires_at)
            for expert in experts
        )
        ids = [invitation.id for invitation in invitations]
        if survey_round.feedback_round_id is not None:
            # the panel's feedback rendered before the invitations go out (on_commit keeps
            # this order): the first experts to follow their link find it ready
            feedback_warm_soon(feedback_round_id=survey_round.feedback_round_id)
        # robust: a publish failure must never turn this committed write into a 500.
        transaction.on_commit(partial(invitations_enqueue, invitation_ids=ids), robust=True)
    return survey_round


def _round_check_can_open(*, survey_round: Round, expires_at: datetime, now: datetime) -> None:
    if survey_round.status != Round.Status.DRAFT:
        raise ValidationError(
            _("Round %(number)s is %(status)s; only a draft round can be opened.")
            % {"number": survey_round.number, "status": survey_round.get_status_display()}
        )
    already_open = survey_round.survey.rounds.filter(status=Round.Status.OPEN).first()
    if already_open is not None:
        raise ValidationError(
            _("Round %(number)s is still open. Close it before opening another.")
            % {"number": already_open.number}
        )
    if expires_at <= now:
        raise ValidationError(_("The links must expire in the future."))
    if expires_at > now + timedelta(seconds=settings.SESAME_MAX_AGE):
        raise ValidationError(
            _("Links can live at most %(days)s days (INVITATION_MAX_AGE_DAYS).")
            % {"days": settings.SESAME_MAX_AGE // 86400}
        )


def _round_questions_check(
    *, survey: Survey, questions: Iterable[Question] | None
) -> list[Question]:
    askable = selectors.survey_questions_askable(survey=survey)
    if questions is None:
        questions = list(askable)
    questions = list(questions)
    if not questions:
        raise ValidationError(_("A round needs at least one question. Import questions first."))
    foreign = [question.code for question in questions if question.survey_id != survey.id]
    if foreign:
        raise ValidationError(
            _("These questions belong to another survey: %(codes)s.")
            % {"codes": ", ".join(foreign)}
        )
    allowed = set(askable.values_list("id", flat=True))
    settled = [question.code for question in questions if question.id not in allowed]
    if settled:
        # answers given once the outcome is known would be scored as forecasts
        raise ValidationError(
            _(
                "These questions are already resolved or annulled, so answers to them now "
                "would be scored against a known outcome: %(codes)s. Leave them out of the "
                "round."
            )
            % {"codes": ", ".join(settled)}
        )
    return questions


def round_close(*, survey_round: Round, closed_by=None) -> Round:
    """Open → closed. Judgment writes are refused from now on, and the round's hierarchical
    run (and, after an earlier closed round, the run linking the two) and its numeric run
    are requested, queued after the close commits."""
    from aggregation.services import aggregation_runs_request_for_closed_round

    with transaction.atomic():
        survey_round = Round.objects.select_for_update().get(id=survey_round.id)
        if survey_round.status != Round.Status.OPEN:
            raise ValidationError(
                _("Round %(number)s is %(status)s; only an open round can be closed.")
                % {"number": survey_round.number, "status": survey_round.get_status_display()}
            )
        survey_round.status, survey_round.closed_at = Round.Status.CLOSED, timezone.now()
        survey_round.save(update_fields=["status", "closed_at"])
        if not survey_round.is_pilot:  # a pilot's answers are never analysed
            aggregation_runs_request_for_closed_round(
                survey_round=survey_round, requested_by=closed_by
            )
    return survey_round
