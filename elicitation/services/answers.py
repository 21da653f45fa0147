"""The expert's answers: validating, saving, submitting, revisions, and the moderation of
rationales."""

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from elicitation import meta, selectors
from elicitation.feedback import feedback_warm_soon
from elicitation.models import Invitation, Judgment, JudgmentRevision, Question, Round, Survey
from elicitation.services._common import _within


@dataclass(frozen=True)
class Answer:
    """One question's answer as an expert gave it; probability on the 0–1 scale."""

    question: Question
    probability: float | None = None
    q05: float | None = None
    q50: float | None = None
    q95: float | None = None
    rationale: str = ""
    change_reason: str = ""
    # {cohort: expected average answer of that cohort, 0-1}: see ``elicitation.meta``.
    meta_predictions: dict = dataclasses.field(default_factory=dict)


def answer_validate(
    *,
    question: Question,
    probability: float | None = None,
    q05: float | None = None,
    q50: float | None = None,
    q95: float | None = None,
) -> None:
    """Raise a ``ValidationError`` keyed by field when the answer does not fit the question."""
    if question.is_binary:
        errors = _probability_errors(probability, q05, q50, q95)
    else:
        errors = _quantile_errors(question, probability, (q05, q50, q95))
    if errors:
        raise ValidationError(errors)


def _probability_errors(probability, *quantiles) -> dict[str, str]:
    if any(value is not None for value in quantiles):
        return {"probability": _("A probability question takes no quantiles.")}
    if probability is None or not math.isfinite(probability):
        return {"probability": _("Give a probability.")}
    if not 0.0 <= probability <= 1.0:
        return {"probability": _("A probability must be between 0 % and 100 %.")}
    return {}


def _quantile_errors(question: Question, probability, quantiles) -> dict[str, str]:
    names = ("q05", "q50", "q95")
    if probability is not None:
        return {"q50": _("A numeric question takes quantiles, not a probability.")}
    missing = [name for name, value in zip(names, quantiles, strict=True) if value is None]
    if missing:
        message = _("Give all three values (5 %, 50 % and 95 %).")
        return dict.fromkeys(missing, message)
    errors = {}
    for name, value in zip(names, quantiles, strict=True):
        if not math.isfinite(value):
            errors[name] = _("Enter a number.")
        elif not _within(value, question.lower_bound, question.upper_bound):
            errors[name] = _bounds_message(question)
    if errors:
        return errors
    q05, q50, q95 = quantiles
    if q05 > q50:
        errors["q05"] = _("The 5 % value cannot be above the median (50 %).")
    if q50 > q95:
        errors["q95"] = _("The 95 % value cannot be below the median (50 %).")
    return errors


def _bounds_message(question: Question) -> str:
    lower, upper = question.lower_bound, question.upper_bound
    if lower is not None and upper is not None:
        return _("Enter a value between %(lower)g and %(upper)g.") % {
            "lower": lower,
            "upper": upper,
        }
    if lower is not None:
        return _("Enter a value of at least %(lower)g.") % {"lower": lower}
    return _("Enter a value of at most %(upper)g.") % {"upper": upper}


def judgment_save(
    *,
    invitation: Invitation,
    question: Question,
    probability: float | None = None,
    q05: float | None = None,
    q50: float | None = None,
    q95: float | None = None,
    rationale: str = "",
    change_reason: str = "",
    meta_predictions: dict | None = None,
) -> Judgment:
    """Create or change one answer; every change appends a revision (history is never lost).

    ``change_reason`` is the expert's "why I changed" from the previous round;
    ``meta_predictions`` what they expect each cohort to answer (``elicitation.meta``).
    """
    values = _answer_values(
        question, probability=probability, q05=q05, q50=q50, q95=q95,
        rationale=rationale, change_reason=change_reason,
        meta_predictions=meta_predictions or {},
        cohorts=_cohorts_if_asked([question], survey=invitation.survey_round.survey),
        survey=invitation.survey_round.survey,
    )  # fmt: skip
    with transaction.atomic():
        survey_round = _invitation_lock_open_round(invitation=invitation)
        return _judgment_write(invitation, survey_round, [(question, values)])[0]


def _answer_values(
    question: Question, *, cohorts: list[str], survey: Survey | None = None, **answer
) -> dict:
    """The validated answer as the fields of a Judgment; ``cohorts`` are those the
    meta-predictions may name (``meta.meta_cohorts``)."""
    answer_validate(
        question=question, **{k: answer[k] for k in ("probability", "q05", "q50", "q95")}
    )
    values = {k: answer[k] for k in ("probability", "q05", "q50", "q95")}
    values["rationale"] = answer["rationale"].strip()
    values["change_reason"] = answer["change_reason"].strip()
    values["meta_predictions"] = meta_predictions_validate(
        question=question, values=answer["meta_predictions"], cohorts=cohorts, survey=survey
    )
    return values


def meta_predictions_validate(
    *, question: Question, values: dict, cohorts: list[str], survey: Survey | None = None
) -> dict:
    """The meta-predictions as stored (answered cohorts only, floats, sorted by cohort);
    a ``ValidationError`` keyed ``meta_predictions`` says which group is wrong and why.

    Whether all are given is checked on submit (``invitation_submit``), not on a save.
    """
    values = {cohort: value for cohort, value in (values or {}).items() if value is not None}
    asked = bool(values) and meta.asks_meta(question, survey=survey)
    errors = meta.meta_predictions_errors(values=values, cohorts=cohorts, asked=asked)
    if errors:
        raise ValidationError(
            {
                "meta_predictions": [
                    f"{cohort}: {message}" if cohort else message
                    for cohort, message in errors.items()
                ]
            }
        )
    return {cohort: float(values[cohort]) + 0.0 for cohort in sorted(values)}


def _cohorts_if_asked(questions: Iterable[Question], *, survey: Survey) -> list[str]:
    """The panel's cohorts when any of ``questions`` asks meta-predictions (else no query)."""
    if any(meta.asks_meta(question, survey=survey) for question in questions):
        return meta.meta_cohorts(survey)
    return []


def _judgment_upsert(
    *,
    invitation: Invitation,
    question: Question,
    values: dict,
    version: int,
    judgment: Judgment | None,
) -> tuple[Judgment, bool]:
    """A changed answer is given under the question's present wording (``version``); an
    unchanged one keeps its version: confirming is an explicit act (clarifications).
    ``judgment``: the expert's answer as read under the question's lock (None: none yet)."""
    if judgment is None:
        judgment = Judgment.objects.create(
            expert_id=invitation.expert_id,
            question=question,
            survey_round_id=invitation.survey_round_id,
            question_version=version,
            **values,
        )
        return judgment, True
    if all(getattr(judgment, field) == value for field, value in values.items()):
        return judgment, False
    for field, value in values.items():
        setattr(judgment, field, value)
    judgment.question_version = version
    judgment.save(update_fields=[*values, "question_version", "updated_at"])
    return judgment, True


def _invitation_lock_open_round(*, invitation: Invitation) -> Round:
    """Lock the round row so a close cannot slip between this check and the write.

    (A share lock, letting saves of the panel overlap, measured no faster on 2 cores:
    a save holds the lock for a few milliseconds.)"""
    survey_round = Round.objects.select_for_update().get(id=invitation.survey_round_id)
    closed_for_expert = Invitation.objects.filter(
        id=invitation.id, answers_closed_at__isnull=False
    ).exists()
    if survey_round.status != Round.Status.OPEN or closed_for_expert:
        raise ValidationError(
            _("Round %(number)s is closed; answers can no longer be changed.")
            % {"number": survey_round.number},
            code="round_closed",
        )
    if invitation.is_expired():
        raise ValidationError(
            _("Your invitation expired on %(date)s.") % {"date": invitation.expires_at.date()},
            code="invitation_expired",
        )
    return survey_round


def invitation_answers_save(
    *, invitation: Invitation, answers: Iterable[Answer], submit: bool = False
) -> list[Judgment]:
    """Save a page of answers all or nothing; with ``submit``, also submit the invitation.

    One lock and one look at the round's questions for the whole page, not per answer.
    """
    answers = list(answers)
    survey = invitation.survey_round.survey
    cohorts = _cohorts_if_asked([a.question for a in answers if a.meta_predictions], survey=survey)
    prepared = [
        (
            answer.question,
            _answer_values(
                answer.question,
                probability=answer.probability,
                q05=answer.q05,
                q50=answer.q50,
                q95=answer.q95,
                rationale=answer.rationale,
                change_reason=answer.change_reason,
                meta_predictions=answer.meta_predictions,
                cohorts=cohorts,
                survey=survey,
            ),
        )  # fmt: skip
        for answer in answers
    ]
    with transaction.atomic():
        survey_round = _invitation_lock_open_round(invitation=invitation)
        judgments = _judgment_write(invitation, survey_round, prepared) if prepared else []
        if submit:
            invitation_submit(invitation=invitation)
    return judgments


def _judgment_write(invitation, survey_round: Round, prepared: list) -> list[Judgment]:
    """Upsert answers ((question, values) each) and their revisions, inside the caller's
    transaction and round lock, in a few queries however many: the round's questions among
    them locked in one, the expert's answers read in one, the revisions written in one, the
    rationales that organizers hid looked up in one.

    The lock is the one ``question_update`` takes: an answer never lands on a wording being
    changed; once it waited for a change, it is checked again against the question as it is.
    """
    ids = [question.id for question, _values in prepared]
    # In id order, as every page locks them: two pages that share questions never deadlock.
    asked = survey_round.questions.filter(id__in=ids).order_by("id")
    locked = {q.id: q for q in asked.select_for_update(of=("self",))}
    for question, _values in prepared:
        if question.id not in locked:
            raise ValidationError(
                _("Question %(code)s is not part of this round.") % {"code": question.code},
                code="not_in_round",
            )
    for question, values in prepared:
        answer_validate(
            question=locked[question.id],
            **{k: values[k] for k in ("probability", "q05", "q50", "q95")},
        )
    existing = {
        judgment.question_id: judgment
        for judgment in Judgment.objects.filter(
            expert_id=invitation.expert_id,
            survey_round_id=invitation.survey_round_id,
            question_id__in=ids,
        )
    }
    judgments, revisions = [], []
    for question, values in prepared:
        judgment, changed = _judgment_upsert(
            invitation=invitation,
            question=question,
            values=values,
            version=locked[question.id].version,
            judgment=existing.get(question.id),
        )
        if changed:
            revisions.append(
                JudgmentRevision(
                    judgment=judgment, question_version=judgment.question_version, **values
                )
            )
        judgments.append(judgment)
    JudgmentRevision.objects.bulk_create(revisions)
    _rationales_hide_as_before(judgments)
    return judgments


def _rationales_hide_as_before(judgments: list[Judgment]) -> None:
    """Keep hidden what organizers hid: a rationale this expert gave to the same question
    before (in any round), hidden there, is hidden here too. Moderation follows the text: a
    rationale hidden in round 1 that comes back in round 2 ("keep my previous answer" copies
    it) stays hidden from the other experts. ``judgments``: one per question."""
    shown = [j for j in judgments if j.rationale and not j.rationale_hidden]
    if not shown:
        return
    hidden = set(
        Judgment.objects.filter(
            expert_id=shown[0].expert_id,
            question_id__in=[j.question_id for j in shown],
            rationale_hidden=True,
        )
        .exclude(id__in=[j.id for j in shown])
        .values_list("question_id", "rationale")
    )
    for judgment in shown:
        if (judgment.question_id, judgment.rationale) in hidden:
            judgment_rationale_hide(judgment=judgment, hidden=True)


def invitation_submit(*, invitation: Invitation) -> Invitation:
    """Mark the expert's answers as complete. Revising afterwards stays allowed while open."""
    with transaction.atomic():
        _invitation_lock_open_round(invitation=invitation)
        missing = selectors.invitation_missing_questions(invitation=invitation)
        if missing:
            raise ValidationError(
                _("Answer every question before submitting. Not answered yet: %(codes)s.")
                % {"codes": ", ".join(question.code for question in missing)},
                code="missing",
            )
        missing_meta = selectors.invitation_missing_meta_predictions(invitation=invitation)
        if missing_meta:
            raise ValidationError(
                _(
                    "Say what each group will answer on average before submitting. "
                    "Not given yet for: %(codes)s."
                )
                % {"codes": ", ".join(question.code for question in missing_meta)},
                code="missing_meta",
            )
        invitation.submitted_at = timezone.now()
        invitation.save(update_fields=["submitted_at"])
    return invitation


def judgment_rationale_hide(*, judgment: Judgment, hidden: bool) -> Judgment:
    """Hide a rationale from the experts (or show it again); the expert's text is kept."""
    if judgment.rationale_hidden != hidden:
        with transaction.atomic():
            judgment.rationale_hidden = hidden
            judgment.save(update_fields=["rationale_hidden"])
            round_panel_changed(survey_round_id=judgment.survey_round_id)
    return judgment


def round_panel_changed(*, survey_round_id: int | None = None, survey_id: int | None = None):
    """A round's panel changed without a new answer (moderation, erasure): move its
    feedback cache's version on. Hiding a rationale and showing it again leaves the same
    hidden set, so the set alone could bring back a version whose cached pages were read
    between the two."""
    rounds = Round.objects.filter(
        **({"pk": survey_round_id} if survey_round_id is not None else {"survey_id": survey_id})
    )
    rounds.update(panel_generation=F("panel_generation") + 1)
    feedback_warm_soon()
