"""Surveys, their scenarios and questions, and who organizes and reads them."""

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils.translation import gettext as _

from elicitation.models import Question, Round, Scenario, Survey
from elicitation.services._common import _within
from elicitation.services.experts import expert_random_code


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
