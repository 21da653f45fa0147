"""Every write to the elicitation domain: views, tasks, the admin and the CSV import call these.

Services are keyword-only and raise ``ValidationError`` with a message an organizer or an
expert can act on. Reads and access checks live in ``elicitation.selectors``.
"""

import dataclasses
import logging
import math
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Max, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

from elicitation import meta, selectors, texts
from elicitation.links import invitation_magic_link
from elicitation.models import (
    Expert,
    ExpertContact,
    Invitation,
    Judgment,
    JudgmentRevision,
    Question,
    Round,
    Scenario,
    Survey,
)

logger = logging.getLogger(__name__)

DEFAULT_LINK_DAYS = 30
# What a publish raises when the broker is unreachable (kombu wraps most socket errors).
BROKER_ERRORS = (OperationalError, OSError)


# --- Surveys, scenarios, questions ------------------------------------------------------


def survey_create(
    *,
    title: str,
    background: str = "",
    contact_email: str = "",
    organizers: Iterable = (),
    anonymity: str = Survey.Anonymity.IDENTIFIED,
    cohort_attribute: str = "nationality",
    meta_predictions: str = Survey.MetaPredictions.OFF,
    **translations: str,
) -> Survey:
    """``translations``: the Korean texts, ``title_ko`` and ``background_ko``."""
    survey = Survey(
        title=title,
        background=background,
        contact_email=contact_email,
        anonymity=anonymity,
        cohort_attribute=cohort_attribute,
        meta_predictions=meta_predictions,
        **translations,
    )
    survey.full_clean()
    with transaction.atomic():
        survey.save()
        survey.organizers.set(organizers)
    return survey


def survey_anonymity_set(*, survey: Survey, anonymity: str) -> Survey:
    """Change who may link answers to people; a promise of strict anonymity is kept.

    Once a round has been opened under the strict level the experts were told that nobody
    can link their answers to them, so the survey cannot go back to the identified level.
    """
    if anonymity not in Survey.Anonymity.values:
        raise ValidationError({"anonymity": _("Choose one of the anonymity levels.")})
    if anonymity == survey.anonymity:
        return survey
    opened = survey.rounds.exclude(status=Round.Status.DRAFT).exists()
    if survey.is_strict and opened:
        raise ValidationError(
            {
                "anonymity": _(
                    "The experts answered under strict anonymity: the survey cannot go back "
                    "to showing who answered what."
                )
            }
        )
    with transaction.atomic():
        survey.anonymity = anonymity
        survey.save(update_fields=["anonymity"])
        if survey.is_strict and not opened:
            # The organizer has seen the codes beside the names: draw new ones, which
            # nothing refers to yet. (After a round opened, answers and runs refer to the
            # codes; the page warns that the old pairs were seen.)
            for expert in survey.experts.select_for_update():
                expert.code = expert_random_code(survey=survey)  # never one in use
                expert.save(update_fields=["code"])
    return survey


SURVEY_EDITABLE_FIELDS = (
    "title",
    "title_ko",
    "background",
    "background_ko",
    "contact_email",
    "cohort_attribute",
    "meta_predictions",
)


def survey_update(*, survey: Survey, **fields) -> Survey:
    """Change the texts, the contact, the cohort attribute or whether meta-predictions are
    asked (``SURVEY_EDITABLE_FIELDS``).

    A new cohort attribute applies to the runs requested after it; earlier runs keep theirs.
    """
    unknown = set(fields) - set(SURVEY_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"survey_update cannot change {sorted(unknown)}")
    changed = [name for name, value in fields.items() if getattr(survey, name) != value]
    for name in changed:
        setattr(survey, name, fields[name])
    survey.full_clean()
    if changed:
        survey.save(update_fields=changed)
    return survey


def survey_people_set(
    *, survey: Survey, organizers: Iterable, analysts: Iterable, by=None
) -> Survey:
    """Who organizes the survey and who reads its reports: staff and analysts, never experts.

    An analyst joins the analyst group, which the report pages ask for besides the survey's
    list. ``by``, the user making the change, must stay an organizer unless a superuser.
    """
    from aggregation.selectors import ANALYST_GROUP  # aggregation imports this app

    organizers, analysts = list(organizers), list(analysts)
    errors: dict[str, list[str]] = {}
    if not organizers:
        errors["organizers"] = [_("Keep at least one organizer, or nobody can run the survey.")]
    elif any(not user.is_staff or hasattr(user, "expert") for user in organizers):
        errors["organizers"] = [_("Organizers must be staff accounts, not experts.")]
    if by is not None and not by.is_superuser and by not in organizers:
        errors.setdefault("organizers", []).append(
            _("Keep yourself among the organizers; another organizer can remove you.")
        )
    if any(hasattr(user, "expert") for user in analysts):
        errors["analysts"] = [_("Expert accounts cannot read the reports.")]
    if errors:
        raise ValidationError(errors)
    group, _created = Group.objects.get_or_create(name=ANALYST_GROUP)
    with transaction.atomic():
        survey.organizers.set(organizers)
        survey.analysts.set(analysts)
        for user in analysts:
            user.groups.add(group)
    return survey


def scenario_create(
    *,
    survey: Survey,
    code: str,
    title: str,
    description: str = "",
    position: int | None = None,
    title_ko: str = "",
    description_ko: str = "",
) -> Scenario:
    if position is None:
        position = _next_position(survey.scenarios.all())
    scenario = Scenario(
        survey=survey,
        code=code,
        title=title,
        description=description,
        position=position,
        title_ko=title_ko,
        description_ko=description_ko,
    )
    scenario.full_clean()
    scenario.save()
    return scenario


def scenario_update(*, scenario: Scenario, **fields) -> Scenario:
    """Change a scenario's code, titles or descriptions (Markdown, in both languages)."""
    allowed = {"code", "title", "title_ko", "description", "description_ko"}
    if set(fields) - allowed:
        raise ValueError(f"scenario_update cannot change {sorted(set(fields) - allowed)}")
    changed = [name for name, value in fields.items() if getattr(scenario, name) != value]
    for name in changed:
        setattr(scenario, name, fields[name])
    scenario.full_clean()
    if changed:
        scenario.save(update_fields=changed)
    return scenario


def question_validate(*, question: Question, check_unique: bool = True) -> None:
    """Model constraints plus the rules that depend on the kind; raises one dict of errors.

    ``check_unique=False`` skips the code-unique-in-survey check (the CSV import reports
    duplicate codes itself, with the line they clash with).
    """
    errors: dict[str, list[str]] = {}
    try:
        # Excluding the survey also skips the (survey, code) unique constraint.
        question.full_clean(exclude=None if check_unique else ["survey"])
    except ValidationError as exc:
        errors = exc.message_dict
    for field, message in question_kind_errors(question=question):
        errors.setdefault(field, []).append(message)
    if errors:
        raise ValidationError(errors)


def question_kind_errors(*, question: Question) -> list[tuple[str, str]]:
    """(field, message) pairs for the rules that depend on the question's kind."""
    if question.kind == Question.Kind.BINARY:
        return _binary_question_errors(question)
    return _numeric_question_errors(question)


def _binary_question_errors(question: Question) -> list[tuple[str, str]]:
    errors = []
    for field in ("unit", "lower_bound", "upper_bound"):
        if getattr(question, field) not in (None, ""):
            errors.append(
                (field, _("Only numeric questions have a unit and bounds; leave this empty."))
            )
    if question.seed_answer is not None and question.seed_answer not in (0.0, 1.0):
        errors.append(
            ("seed_answer", _("The answer to a probability question is 1 (yes) or 0 (no)."))
        )
    return errors


def _numeric_question_errors(question: Question) -> list[tuple[str, str]]:
    errors = []
    lower, upper, answer = question.lower_bound, question.upper_bound, question.seed_answer
    if question.scale == Question.Scale.LOG and (lower is None or lower <= 0):
        errors.append(("lower_bound", _("A log-scale question needs a lower bound above 0.")))
    if answer is not None and not _within(answer, lower, upper):
        errors.append(("seed_answer", _("The known answer must lie inside the bounds.")))
    return errors


def question_create(*, survey: Survey, code: str, text: str, **fields) -> Question:
    """Fields are those of ``Question`` (kind, scenario, unit, bounds, seed answer, ...)."""
    fields.setdefault("position", _next_position(survey.questions.all()))
    question = Question(survey=survey, code=code, text=text, **fields)
    question_validate(question=question)
    question.save()
    return question


def question_update(*, question: Question, **fields) -> Question:
    """Change a question (wording, translations, kind, bounds, seed, scenario, tags).

    Only while nobody has answered it: an answer is to the question as it was worded, and
    the analysis pools answers by question. After the first answer, nothing changes.
    The question's row lock keeps an answer from being saved between the check and the
    change (``_judgment_write`` takes the same lock).
    """
    with transaction.atomic():
        Question.objects.select_for_update().filter(id=question.id).first()
        return _question_update_locked(question=question, **fields)


def _question_update_locked(*, question: Question, **fields) -> Question:
    if question.judgments.exists():
        raise ValidationError(
            _(
                "Experts have already answered %(code)s, so it can no longer change: their "
                "answers are to its present wording. Add a new question instead, and leave "
                "this one out of the next round."
            )
            % {"code": question.code}
        )
    editable = {field.name for field in Question._meta.concrete_fields} - {
        "id",
        "survey",
        "position",
    }
    if set(fields) - editable:
        raise ValueError(f"question_update cannot change {sorted(set(fields) - editable)}")
    changed = [name for name, value in fields.items() if getattr(question, name) != value]
    for name in changed:
        setattr(question, name, fields[name])
    question_validate(question=question)
    if changed:
        question.save(update_fields=changed)
    return question


def _next_position(queryset: QuerySet) -> int:
    highest = queryset.aggregate(highest=Max("position"))["highest"]
    return 0 if highest is None else highest + 1


def _within(value: float, lower: float | None, upper: float | None) -> bool:
    return (lower is None or value >= lower) and (upper is None or value <= upper)


# --- The panel --------------------------------------------------------------------------


def expert_create(
    *,
    survey: Survey,
    name: str,
    email: str,
    language: str = Expert.Language.EN,
    attributes: dict[str, str] | None = None,
    code: str | None = None,
    time_zone: str | None = None,
) -> Expert:
    """An expert, their contact and the password-less user that carries their link tokens.

    At the strict anonymity level the code is always drawn at random (a code the organizer
    chose, or one given in upload order, would let them pair it with the name). Identified
    surveys show names beside codes anyway: there the code is the one given, else the
    next E-number.
    """
    if survey.is_strict:
        code = expert_random_code(survey=survey)
    elif not code:
        code = expert_next_code(survey=survey)
    expert = Expert(
        survey=survey,
        language=language,
        attributes=attributes or {},
        code=code,
        time_zone=time_zone or settings.TIME_ZONE,
    )
    contact = ExpertContact(survey=survey, name=name.strip(), email=email.strip().lower())
    if survey.contacts.filter(email=contact.email).exists():
        raise ValidationError(
            {
                "email": _(
                    "%(email)s is already on this survey's panel: each expert joins it once. "
                    "To ask them into a round, invite them there."
                )
                % {"email": contact.email}
            }
        )
    expert.full_clean(exclude=["user"])
    contact.full_clean(exclude=["expert"])
    with transaction.atomic():
        expert.user = _expert_user_create()
        expert.save()
        contact.expert = expert
        contact.save()
    return expert


def _expert_user_create():
    # No email, no name: the user list must pair nobody with a code (strict anonymity).
    user = get_user_model()(username=f"expert-{secrets.token_hex(8)}")
    user.set_unusable_password()
    user.save()
    return user


def expert_next_code(*, survey: Survey, offset: int = 0) -> str:
    """E001, E002, ...: one past the highest E-number used in the survey (plus ``offset``)."""
    numbers = [
        int(match.group(1))
        for code in survey.experts.values_list("code", flat=True)
        if (match := re.fullmatch(r"E(\d+)", code))
    ]
    return f"E{max(numbers, default=0) + 1 + offset:03d}"


def expert_random_code(*, survey: Survey, taken: set[str] | None = None) -> str:
    """A code such as E48213, drawn at random among those this survey does not use."""
    used = set(survey.experts.values_list("code", flat=True)) | (taken or set())
    while True:
        code = f"E{secrets.randbelow(90_000) + 10_000}"
        if code not in used:
            return code


# --- Rounds -----------------------------------------------------------------------------


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


# --- Judgments --------------------------------------------------------------------------


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


def invitation_language_set(*, invitation: Invitation, language: str) -> Invitation:
    """Remember the language the expert picked on the page, for this invitation."""
    if language not in Expert.Language.values:
        raise ValidationError(_("This language is not offered."), code="language")
    if invitation.language != language:
        invitation.language = language
        invitation.save(update_fields=["language"])
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


def invitation_mark_opened(*, invitation: Invitation) -> None:
    if invitation.first_opened_at is None:
        invitation.first_opened_at = timezone.now()
        invitation.save(update_fields=["first_opened_at"])


def invitation_link_renew(*, invitation: Invitation) -> Invitation:
    """Revoke an invitation's link and email the expert a new one.

    The link version is part of the token's scope: every earlier link stops working at
    once, and so do the browser sessions that one opened. Answers are kept. The new email
    is queued after the commit (the send-pending sweep retries it if the broker is down).
    """
    with transaction.atomic():
        locked = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("survey_round", "expert")
            .get(id=invitation.id)
        )
        if not locked.survey_round.is_open:
            raise ValidationError(
                _(
                    "Round %(number)s is not open, so %(code)s needs no new link: links are "
                    "issued only while a round takes answers."
                )
                % {"number": locked.survey_round.number, "code": locked.expert.code}
            )
        locked.link_version += 1
        locked.link_revoked_at = timezone.now()
        locked.sent_at = None
        locked.save(update_fields=["link_version", "link_revoked_at", "sent_at"])
        transaction.on_commit(partial(invitations_enqueue, invitation_ids=[locked.id]))
    logger.info(
        "Invitation %d (%s): link revoked, version %d issued.",
        locked.id,
        locked.expert.code,
        locked.link_version,
    )
    return locked


# --- Invitation emails ------------------------------------------------------------------


def invitations_enqueue(*, invitation_ids: list[int]) -> int:
    """Publish one send task per invitation; returns how many were published.

    Stops at the first broker error: each failed publish waits for the retry policy, and
    the unsent rows (``sent_at`` null) are picked up by ``invitation_send_pending`` later.
    """
    from elicitation.tasks import invitation_send_task  # tasks import this module

    for published, invitation_id in enumerate(invitation_ids):
        try:
            invitation_send_task.delay(invitation_id)
        except BROKER_ERRORS as exc:
            logger.warning(
                "Broker unreachable (%s): %d of %d invitation emails not queued; "
                "they stay unsent until invitation_send_pending runs.",
                exc,
                len(invitation_ids) - published,
                len(invitation_ids),
            )
            return published
    return len(invitation_ids)


def invitation_send(*, invitation_id: int) -> bool:
    """Email one invitation unless already sent; True when this call sent it.

    The row lock makes a redelivered or duplicated task a no-op instead of a second email.
    (An email that leaves and a worker that dies before the commit can still mean two: the
    broker's at-least-once delivery cannot promise exactly-once email.)
    """
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("expert__user", "expert__contact", "survey_round__survey")
            .get(id=invitation_id)
        )
        if invitation.sent_at is not None or not invitation.takes_answers:
            return False
        _invitation_email(invitation=invitation).send()
        invitation.sent_at = timezone.now()
        invitation.save(update_fields=["sent_at"])
    return True


def _invitation_email(*, invitation: Invitation) -> EmailMessage:
    expert, survey_round = invitation.expert, invitation.survey_round
    context = {
        "invitation": invitation,
        "expert": expert,
        "survey": survey_round.survey,
        "survey_round": survey_round,
        "link": invitation_magic_link(invitation=invitation),
        "contact_email": selectors.survey_contact_email(survey=survey_round.survey),
    }
    language = invitation.effective_language
    with translation.override(language), timezone.override(expert.time_zone):
        context["survey_title"] = texts.localized(survey_round.survey, "title", language).text
        subject = _("Your invitation: %(title)s, round %(number)s") % {
            "title": context["survey_title"],
            "number": survey_round.number,
        }
        body = render_to_string("elicitation/email/invitation.txt", context)
    return EmailMessage(subject=subject, body=body, to=[expert.contact.email])


def invitation_send_pending(*, survey_round: Round | None = None) -> int:
    """Queue the emails of open rounds that never went out (e.g. the broker was down)."""
    pending = selectors.invitations_unsent(survey_round=survey_round)
    ids = list(pending.order_by("id").values_list("id", flat=True))
    return invitations_enqueue(invitation_ids=ids)
