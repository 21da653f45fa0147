"""Meta-predictions: beside their own probability, experts predict each cohort's average.

On a binary question that asks them, an expert also says what they expect the experts of
each cohort (own included) to answer on average, e.g. "US respondents: 70 %, ROK
respondents: 40 %". They are stored on the judgment as ``{cohort label: probability}``
(``Judgment.meta_predictions``), only the cohorts answered, and travel in CSV files as
``meta_<cohort>`` columns. The analysis reads them as data about how each cohort sees the
others (issue 15).

The rules live here, once: which cohorts are asked (``meta_cohorts``), which questions ask
(``asks_meta``), and what a valid set of predictions is (``meta_predictions_errors``).
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from elicitation.models import Question, Survey

META_COLUMN_PREFIX = "meta_"


def meta_cohorts(survey: Survey) -> list[str]:
    """The cohorts experts are asked about: the values of the survey's cohort attribute
    held by at least ``REPORT_MIN_COHORT_SIZE`` of its experts, sorted; experts without the
    attribute are left out.

    A smaller cohort is never named to experts: the form would tell every panelist that,
    say, one Japanese expert is on the panel, which the reports never show (they merge
    small cohorts), and its predictions could not be shown or scored anyway. One query. The
    list follows the panel: experts added to a cohort can make it large enough.
    """
    attribute = survey.cohort_attribute
    counts: dict[str, int] = {}
    for attributes in survey.experts.values_list("attributes", flat=True):
        if not isinstance(attributes, dict) or attributes.get(attribute) is None:
            continue
        value = str(attributes[attribute]).strip()
        if value:
            counts[value] = counts.get(value, 0) + 1
    return sorted(c for c, n in counts.items() if n >= settings.REPORT_MIN_COHORT_SIZE)


def survey_asks_meta(survey: Survey) -> bool:
    return survey.meta_predictions != Survey.MetaPredictions.OFF


def meta_required(survey: Survey) -> bool:
    """Whether a submit needs every meta-prediction of every question that asks them."""
    return survey.meta_predictions == Survey.MetaPredictions.REQUIRED


def asks_meta(question: Question, *, survey: Survey | None = None) -> bool:
    """Whether ``question`` asks meta-predictions: a binary question with its switch on, in
    a survey that asks them. Pass ``survey`` when the caller has it (saves a query)."""
    survey = survey or question.survey
    return question.is_binary and question.asks_meta_predictions and survey_asks_meta(survey)


def meta_column(cohort: str) -> str:
    """The CSV column of a cohort's meta-predictions: ``meta_US``."""
    return f"{META_COLUMN_PREFIX}{cohort}"


def meta_columns_cohort(column: str) -> str | None:
    """The cohort of a ``meta_<cohort>`` column; None for any other column."""
    if column.startswith(META_COLUMN_PREFIX) and len(column) > len(META_COLUMN_PREFIX):
        return column[len(META_COLUMN_PREFIX) :]
    return None


def meta_predictions_errors(
    *, values: dict, cohorts: list[str], asked: bool, required: bool = False
) -> dict[str, str]:
    """What is wrong with a set of meta-predictions, as ``{cohort: message}`` ("" keys an
    error of the whole set). ``values`` maps cohorts to probabilities (0-1); ``required``
    asks for all of them (a submit in a survey that requires them)."""
    if not isinstance(values, dict):
        return {"": _("Meta-predictions must map each group to a probability.")}
    if values and not asked:
        return {"": _("This question does not ask what each group will answer.")}
    errors = {}
    for cohort, value in values.items():
        if cohort not in cohorts:
            errors[str(cohort)] = _(
                "“%(cohort)s” is not a group of this panel. The groups are: %(cohorts)s."
            ) % {"cohort": cohort, "cohorts": ", ".join(cohorts) or "—"}
        elif isinstance(value, bool) or not isinstance(value, int | float):
            errors[cohort] = _("Give the probability as a number from 0 to 100.")
        elif not math.isfinite(value) or not 0.0 <= value <= 1.0:
            errors[cohort] = _("A probability must be between 0 % and 100 %.")
    if asked and required:
        for cohort in cohorts:
            if values.get(cohort) is None and cohort not in errors:
                errors[cohort] = _(
                    "Say what you expect this group to answer on average: this survey "
                    "asks it for every group before you submit."
                )
    return errors


def meta_predictions_missing(*, values: dict, cohorts: list[str]) -> list[str]:
    """The cohorts a set of meta-predictions leaves out."""
    return [cohort for cohort in cohorts if (values or {}).get(cohort) is None]


@dataclass(frozen=True)
class MetaAsk:
    """What one expert's form asks: the cohorts (none when the survey asks nothing), the
    expert's own cohort ("" if none), and whether a submit needs them all."""

    survey: Survey | None = None
    cohorts: tuple[str, ...] = ()
    own_cohort: str = ""
    required: bool = False

    def asks(self, question: Question) -> bool:
        return bool(self.cohorts) and asks_meta(question, survey=self.survey)

    def missing(self, question: Question, judgment) -> bool:
        """Whether a submit still needs meta-predictions on this answered question."""
        return (
            self.required
            and judgment is not None
            and self.asks(question)
            and bool(
                meta_predictions_missing(values=judgment.meta_predictions, cohorts=self.cohorts)
            )
        )


def meta_ask_for_expert(*, survey: Survey, expert) -> MetaAsk:
    """The ``MetaAsk`` of one expert's form: one query when the survey asks, none otherwise."""
    if not survey_asks_meta(survey):
        return MetaAsk()
    own = (expert.attributes or {}).get(survey.cohort_attribute)
    return MetaAsk(
        survey=survey,
        cohorts=tuple(meta_cohorts(survey)),
        own_cohort=str(own).strip() if own is not None else "",
        required=meta_required(survey),
    )


# --- CSV: one ``meta_<cohort>`` column per cohort ---------------------------------------------


def meta_csv_cohorts(*, survey: Survey, meta_predictions: Iterable[dict]) -> list[str]:
    """The cohorts a CSV has ``meta_<cohort>`` columns for, given the rows' stored
    meta-predictions: the panel's when the survey asks them, and any a row carries (the
    panel or the setting may have changed since); none at all for a survey that never
    asked them, so its files keep their columns."""
    cohorts = set(meta_cohorts(survey)) if survey_asks_meta(survey) else set()
    for given in meta_predictions:
        cohorts.update(given or {})
    return sorted(cohorts)


def meta_csv_header(cohorts: list[str]) -> list[str]:
    return [meta_column(cohort) for cohort in cohorts]


def meta_csv_values(meta_predictions: dict | None, cohorts: list[str]) -> list:
    """The row's cells under ``meta_csv_header(cohorts)``: the probability, or "" if none."""
    given = meta_predictions or {}
    return ["" if given.get(cohort) is None else given[cohort] for cohort in cohorts]
