"""Writes of the resolution domain: resolving and annulling questions.

Resolving or annulling a question changes one ``Resolution`` row and appends one
``ResolutionEvent`` in a single transaction; a change to an earlier decision needs a
reason and keeps the old values in the event. Nothing else is refitted: scores are
computed on request from stored forecasts, and aggregation runs never read outcomes. The
only thing that depends on outcomes, the recalibration of each closed round that answered
the question (``resolution.recalibration``), is requested again in the same transaction
(its task is sent after commit).
"""

import math
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from elicitation.models import Question, Round
from resolution import selectors
from resolution.models import Resolution, ResolutionEvent, State
from resolution.recalibration import recalibrations_refresh

SOURCE_MAX_LENGTH = 2000


# --- Resolving -----------------------------------------------------------------------------


def resolution_errors(
    *, question: Question, outcome, resolved_on: date | None, source: str
) -> dict[str, list[str]]:
    """Field -> messages for a resolution of ``question``; empty when it is acceptable."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for field, message in _outcome_errors(question, outcome):
        add(field, message)
    for field, message in _date_errors(resolved_on):
        add(field, message)
    for field, message in _note_errors(source, "source"):
        add(field, message)
    return errors


def _outcome_errors(question: Question, outcome) -> list[tuple[str, str]]:
    if outcome is None:
        return [("outcome", _("Give the outcome."))]
    if isinstance(outcome, str) or not isinstance(outcome, (int, float)):
        return [("outcome", _("The outcome must be a number."))]
    value = float(outcome)
    if question.is_binary:
        if value not in (0.0, 1.0):
            return [("outcome", _("A probability question resolves yes (1) or no (0)."))]
    elif not math.isfinite(value):
        return [("outcome", _("The realized value must be a finite number."))]
    else:
        lower, upper = question.lower_bound, question.upper_bound
        if (lower is not None and value < lower) or (upper is not None and value > upper):
            return [("outcome", _bounds_message(question))]
        if question.scale == Question.Scale.LOG and value <= 0:
            return [("outcome", _("A log-scale question's realized value must be above 0."))]
    if question.is_seed and value != question.seed_answer:
        known = selectors.outcome_text(question, question.seed_answer)
        return [
            (
                "outcome",
                _(
                    "%(code)s is a seed question whose known answer is %(known)s; a "
                    "resolution must agree with it (correct the seed answer in the admin "
                    "if it was wrong)."
                )
                % {"code": question.code, "known": known},
            )
        ]
    return []


def _bounds_message(question: Question) -> str:
    lower, upper = question.lower_bound, question.upper_bound
    if lower is not None and upper is not None:
        return _("The realized value must lie between %(lower)g and %(upper)g.") % {
            "lower": lower,
            "upper": upper,
        }
    if lower is not None:
        return _("The realized value must be at least %(lower)g.") % {"lower": lower}
    return _("The realized value must be at most %(upper)g.") % {"upper": upper}


def _date_errors(day: date | None) -> list[tuple[str, str]]:
    if day is None:
        return [("resolved_on", _("Give the date."))]
    if day > timezone.localdate():
        return [("resolved_on", _("The date %(day)s is in the future.") % {"day": day})]
    return []


def _note_errors(text: str, field: str) -> list[tuple[str, str]]:
    text = (text or "").strip()
    if not text:
        required = {
            "source": _("Say where the answer comes from (a source note is required)."),
            "reason": _("Say why (a reason is required)."),
        }
        return [(field, required[field])]
    if len(text) > SOURCE_MAX_LENGTH:
        return [(field, _("Keep it under %(n)d characters.") % {"n": SOURCE_MAX_LENGTH})]
    return []


def question_resolve(
    *,
    question: Question,
    outcome: float,
    resolved_on: date,
    source: str,
    by=None,
    reason: str = "",
) -> tuple[Resolution, bool]:
    """Resolve a question (binary: 1 yes / 0 no; numeric: the realized value).

    Returns (resolution, changed); resolving again with the same values changes nothing.
    Changing an earlier resolution or annulment needs a ``reason``. Raises
    ValidationError (field -> messages) and changes nothing when the input is wrong.
    """
    errors = resolution_errors(
        question=question, outcome=outcome, resolved_on=resolved_on, source=source
    )
    if errors:
        raise ValidationError(errors)
    source = source.strip()
    with transaction.atomic():
        question = _question_lock(question)
        _check_not_being_answered(question)
        before = selectors.question_state(question=question)
        same = (before.state, before.outcome, before.resolved_on, before.source) == (
            State.RESOLVED,
            float(outcome),
            resolved_on,
            source,
        )
        if same:
            return question.resolution, False
        if before.state in (State.RESOLVED, State.ANNULLED):
            _check_reason(question, before, reason)
        action = (
            ResolutionEvent.Action.CHANGED
            if before.state == State.RESOLVED
            else ResolutionEvent.Action.RESOLVED
        )
        resolution = _record(
            question=question,
            before=before,
            action=action,
            status=State.RESOLVED,
            outcome=float(outcome),
            resolved_on=resolved_on,
            source=source,
            reason=reason.strip() if before.state in (State.RESOLVED, State.ANNULLED) else "",
            by=by,
        )
        recalibrations_refresh(question=question, requested_by=by)
    return resolution, True


def question_annul(
    *, question: Question, reason: str, annulled_on: date | None = None, by=None
) -> tuple[Resolution, bool]:
    """Annul a question (it counts in no score and teaches the recalibration nothing).

    Returns (resolution, changed); annulling an annulled question changes nothing. Seeds
    can be annulled too (a flawed seed question).
    """
    annulled_on = annulled_on or timezone.localdate()
    errors: dict[str, list[str]] = {}
    for field, message in _date_errors(annulled_on) + _note_errors(reason, "reason"):
        errors.setdefault("annulled_on" if field == "resolved_on" else field, []).append(message)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        question = _question_lock(question)
        before = selectors.question_state(question=question)
        if before.state == State.ANNULLED:
            return question.resolution, False
        resolution = _record(
            question=question,
            before=before,
            action=ResolutionEvent.Action.ANNULLED,
            status=State.ANNULLED,
            outcome=None,
            resolved_on=annulled_on,
            source=reason.strip(),
            reason="",
            by=by,
        )
        recalibrations_refresh(question=question, requested_by=by)
    return resolution, True


def _check_reason(question: Question, before, reason: str) -> None:
    """A change to an earlier decision says why; the event keeps the old values."""
    if not (reason or "").strip():
        raise ValidationError(
            {
                "reason": _("%(code)s was already %(state)s; say why this changes it.")
                % {"code": question.code, "state": before.state_label.lower()}
            }
        )
    problems = _note_errors(reason, "reason")
    if problems:
        raise ValidationError({"reason": problems[0][1]})


def _question_lock(question: Question) -> Question:
    """The question, locked until the transaction ends: two organizers resolving it at once
    are serialized, so each event's "before" is what the other left."""
    return (
        Question.objects.select_for_update(of=("self",))
        .select_related("survey", "scenario")
        .get(id=question.id)
    )


def _check_not_being_answered(question: Question) -> None:
    open_round = question.rounds.filter(status=Round.Status.OPEN).order_by("number").first()
    if open_round is not None:
        raise ValidationError(
            {
                "outcome": _(
                    "%(code)s is still being answered in round %(number)s, which is open; "
                    "close the round before resolving it."
                )
                % {"code": question.code, "number": open_round.number}
            }
        )


def _record(
    *, question, before, action, status, outcome, resolved_on, source, reason, by
) -> Resolution:
    now = timezone.now()
    resolution = selectors._resolution_of(question)
    if resolution is None:
        resolution = Resolution(question=question, version=0)
    resolution.status, resolution.outcome = status, outcome
    resolution.resolved_on, resolution.source = resolved_on, source
    resolution.changed_by, resolution.changed_at = by, now
    resolution.version += 1
    if resolution.pk is None:
        resolution.save()
    else:
        resolution.save(
            update_fields=[
                "status",
                "outcome",
                "resolved_on",
                "source",
                "changed_by",
                "changed_at",
                "version",
            ]
        )
    ResolutionEvent.objects.create(
        question=question,
        action=action,
        previous_state=before.state,
        previous_outcome=before.outcome,
        previous_resolved_on=before.resolved_on,
        previous_source=before.source if before.state != State.SEED else "",
        state=status,
        outcome=outcome,
        resolved_on=resolved_on,
        source=source,
        reason=reason,
        by=by,
    )
    return resolution
