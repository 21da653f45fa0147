"""Reads of the aggregation domain: the only bridge from the database to the engine, and
the access checks of the report pages.

Who may read a survey's reports: a superuser, the survey's organizers, and the members of
the "analyst" group assigned to the survey (``Survey.analysts``). Everyone else, experts
included, gets a 404: the pages do not confirm that a survey or run exists.
"""

import hashlib
import json
from dataclasses import dataclass, field

from django.db.models import F, QuerySet
from django.http import Http404

from aggregation.engine.data import JudgmentTable
from aggregation.engine.quantiles import QuantileTable, realization_problems
from aggregation.models import AggregationRun, QuestionResult
from elicitation.models import Judgment, Question, Round, Survey

ANALYST_GROUP = "analyst"
UNSPECIFIED_COHORT = "unspecified"


# --- Access ----------------------------------------------------------------------------


def survey_list_for_reader(*, user) -> QuerySet[Survey]:
    if not user.is_authenticated:
        return Survey.objects.none()
    if user.is_superuser:
        return Survey.objects.all()
    organized = Survey.objects.filter(organizers=user)
    if not user.groups.filter(name=ANALYST_GROUP).exists():
        return organized
    return (organized | Survey.objects.filter(analysts=user)).distinct()


def survey_get_for_reader(*, user, survey_id: int) -> Survey:
    survey = survey_list_for_reader(user=user).filter(id=survey_id).first()
    if survey is None:
        raise Http404("No survey whose reports you may read has this id.")
    return survey


def round_get_for_reader(*, user, round_id: int) -> Round:
    survey_round = Round.objects.select_related("survey").filter(id=round_id).first()
    if survey_round is None:
        raise Http404("No such round.")
    survey_get_for_reader(user=user, survey_id=survey_round.survey_id)
    return survey_round


def run_get_for_reader(*, user, run_id: int) -> AggregationRun:
    run = AggregationRun.objects.select_related("survey_round__survey").filter(id=run_id).first()
    if run is None:
        raise Http404("No such aggregation run.")
    survey_get_for_reader(user=user, survey_id=run.survey_round.survey_id)
    return run


def survey_get_for_organizer_or_404(*, user, survey: Survey) -> Survey:
    """The survey if the user organizes it (or is a superuser): for what analysts may not get."""
    if user.is_superuser or survey.organizers.filter(id=user.id).exists():
        return survey
    raise Http404("Only the survey's organizers may download this.")


def survey_can_request_runs(*, user, survey: Survey) -> bool:
    """Organizers and assigned analysts may ask for another method or seed."""
    return survey_list_for_reader(user=user).filter(id=survey.id).exists()


# --- Runs ------------------------------------------------------------------------------


def round_runs(*, survey_round: Round) -> QuerySet[AggregationRun]:
    return survey_round.aggregation_runs.select_related("requested_by").order_by("-created_at")


def round_latest_run(*, survey_round: Round, method: str | None = None) -> AggregationRun | None:
    """The newest run of the round (of one method), finished or not."""
    runs = survey_round.aggregation_runs.all()
    if method:
        runs = runs.filter(method=method)
    return runs.order_by("-created_at", "-id").first()


def round_report_run(*, survey_round: Round) -> AggregationRun | None:
    """The run a round's report opens on: the newest hierarchical run, else the newest run
    of the probability questions by another method, else the numeric run (a round of
    numeric questions only). The numeric run has a section of its own on every report."""
    runs = survey_round.aggregation_runs.order_by("-created_at", "-id")
    return (
        runs.filter(method=AggregationRun.Method.HIERARCHICAL).first()
        or runs.exclude(method=AggregationRun.Method.NUMERIC_HIERARCHICAL).first()
        or runs.first()
    )


def survey_questions_by_code(*, survey: Survey) -> dict[str, Question]:
    return {q.code: q for q in survey.questions.all()}


def run_question_results(*, run: AggregationRun) -> list[QuestionResult]:
    return list(run.question_results.select_related("question", "question__scenario"))


# --- Judgments for the engine ------------------------------------------------------------


def round_judgments_submitted(
    *, survey_round: Round, question: Question | None = None
) -> QuerySet[Judgment]:
    """Every judgment (binary and numeric) of the experts who submitted the round; none
    of a pilot round (elicitation.pilot)."""
    judgments = (
        Judgment.objects.counted()
        .filter(
            survey_round=survey_round,
            expert__invitations__survey_round=survey_round,
            expert__invitations__submitted_at__isnull=False,
        )
        .select_related("expert", "question")
        .order_by("question__position", "question__code", "expert__code")
    )
    return judgments if question is None else judgments.filter(question=question)


def round_numeric_question_count(*, survey_round: Round) -> int:
    """How many of the round's questions are numeric (outside the probability models)."""
    return survey_round.questions.filter(kind=Question.Kind.NUMERIC).count()


def round_numeric_judgments(*, survey_round: Round) -> QuerySet[Judgment]:
    """The numeric judgments that count: those of experts who submitted the round."""
    return round_judgments_submitted(survey_round=survey_round).filter(
        question__kind=Question.Kind.NUMERIC, q50__isnull=False
    )


def round_binary_judgments(*, survey_round: Round) -> QuerySet[Judgment]:
    """The binary judgments that count: those of experts who submitted the round."""
    return round_judgments_submitted(survey_round=survey_round).filter(
        question__kind=Question.Kind.BINARY, probability__isnull=False
    )


def round_previous_closed(*, survey_round: Round) -> Round | None:
    """The round a follow-up showed as feedback, else the latest closed round before it."""
    feedback = survey_round.feedback_round if survey_round.feedback_round_id else None
    if feedback is not None and feedback.number < survey_round.number:
        return feedback
    return (
        Round.objects.filter(
            survey=survey_round.survey_id,
            number__lt=survey_round.number,
            status=Round.Status.CLOSED,
            is_pilot=False,
        )
        .order_by("-number")
        .first()
    )


def round_linkable_previous(*, survey_round: Round) -> Round | None:
    """The earlier closed round a linked fit of this round would pair it with: the one
    ``round_previous_closed`` names, when its submitted experts gave probability answers
    to questions this round asks too; else None (there is nothing to link)."""
    previous = round_previous_closed(survey_round=survey_round)
    if previous is None:
        return None
    shared = round_binary_judgments(survey_round=previous).filter(
        question__in=survey_round.questions.all()
    )
    return previous if shared.exists() else None


def round_linked_run(*, earlier: Round, later: Round) -> AggregationRun | None:
    """The latest run, whatever its state, that fits exactly these two rounds together."""
    runs = later.aggregation_runs.filter(method=AggregationRun.Method.LINKED_ROUNDS).order_by(
        "-created_at", "-id"
    )
    wanted = [earlier.number, later.number]
    return next((run for run in runs if run.options.get("rounds") == wanted), None)


def round_latest_succeeded_run(
    *, survey_round: Round, method: str = AggregationRun.Method.HIERARCHICAL
) -> AggregationRun | None:
    return (
        survey_round.aggregation_runs.filter(method=method, status=AggregationRun.Status.SUCCEEDED)
        .order_by("-created_at", "-id")
        .first()
    )


def judgment_table_for_rounds(
    *, survey_round: Round, round_numbers: list[int], cohort_attribute: str
) -> JudgmentTable:
    """Several rounds' judgments in one table, on the questions of ``survey_round`` (the
    latest of them), for the model that links rounds."""
    rounds = Round.objects.filter(survey=survey_round.survey_id, number__in=round_numbers)
    codes = set(survey_round.questions.values_list("code", flat=True))
    frames = [
        judgment_table_for_round(survey_round=r, cohort_attribute=cohort_attribute).frame
        for r in rounds
    ]
    rows = [row for frame in frames for row in frame.to_dict("records") if row["question"] in codes]
    return JudgmentTable.from_rows(rows)


def judgment_table_for_round(
    *, survey_round: Round, cohort_attribute: str, with_meta: bool = False
) -> JudgmentTable:
    """The round's binary judgments as the engine's table, experts by anonymised code.

    The cohort of an expert is their ``attributes[cohort_attribute]``; experts without it
    form the cohort "unspecified". ``with_meta`` adds a ``meta_<cohort>`` key per cohort of
    the table when any counted judgment has meta-predictions (``round_meta_predictions``).
    """
    judgments = list(round_binary_judgments(survey_round=survey_round))
    rows = [
        {
            "expert": judgment.expert.code,
            "cohort": _cohort_of(judgment.expert, cohort_attribute),
            "question": judgment.question.code,
            "probability": judgment.probability,
            "round": survey_round.number,
        }
        for judgment in judgments
    ]
    if with_meta:
        _add_meta_predictions(rows, judgments)
    return JudgmentTable.from_rows(rows)


def _cohort_of(expert, cohort_attribute: str) -> str:
    return str(expert.attributes.get(cohort_attribute) or UNSPECIFIED_COHORT)


def _add_meta_predictions(rows: list[dict], judgments: list[Judgment]) -> None:
    """Each row gets ``meta_<cohort>`` for every cohort of the rows (None: no prediction),
    when any judgment has one. Predictions of a cohort nobody in the table belongs to are
    left out: the engine refuses them, since that cohort's actual answer is unknown."""
    cohorts = sorted({row["cohort"].strip() for row in rows})
    given = [meta_predictions_of(judgment, cohorts) for judgment in judgments]
    if not any(given):
        return  # no column at all: the table (and its hash) stays what it was before meta
    for row, predictions in zip(rows, given, strict=True):
        row.update({f"meta_{cohort}": predictions.get(cohort) for cohort in cohorts})


def meta_predictions_of(judgment: Judgment, cohorts: list[str]) -> dict[str, float]:
    """The judgment's meta-predictions of ``cohorts`` that are probabilities (0-1)."""
    stored = judgment.meta_predictions if isinstance(judgment.meta_predictions, dict) else {}
    readable = {}
    for cohort, value in stored.items():
        label = str(cohort).strip()
        if label in cohorts and _is_probability(value):
            readable[label] = float(value)
    return readable


def _is_probability(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def round_has_meta_predictions(*, survey_round: Round) -> bool:
    """Whether any counted binary judgment of the round has meta-predictions."""
    return round_binary_judgments(survey_round=survey_round).exclude(meta_predictions={}).exists()


# --- Numeric (quantile) judgments for the engine -----------------------------------------

ENGINE_SCALES = {Question.Scale.UNIFORM: "linear", Question.Scale.LOG: "log"}


@dataclass(frozen=True)
class NumericRoundData:
    """What a numeric run reads: the round's quantile judgments, the realized values that
    train the model (seeds and resolved questions) and the answers it had to leave out."""

    table: QuantileTable
    realizations: dict[str, float]
    # {"expert", "question", "reason"} of answers the model cannot read, and
    # {"question", "reason": "realization", "detail"} of known values it cannot use; the
    # report words each reason (LEFT_OUT_REASONS in aggregation.numeric_reports).
    left_out: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.table)

    def data_hash(self) -> str:
        """SHA-256 of the judgments (canonical CSV, any row order) and the realized values:
        a resolution that changes what the model learns from is new data."""
        frame = self.table.frame.sort_values(["round", "question", "expert"])
        canonical = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
        known = json.dumps(sorted(self.realizations.items()))
        return hashlib.sha256(f"{canonical}\n{known}".encode()).hexdigest()


def numeric_data_for_round(*, survey_round: Round, cohort_attribute: str) -> NumericRoundData:
    """The round's numeric judgments as the engine's QuantileTable, with realizations.

    Besides the round's own questions, the table holds the numeric seed questions that its
    experts answered in an earlier closed round and that this round does not ask again: a
    Delphi study asks its seeds once, and they calibrate the experts for every later round
    (rows labelled with this round's number, the round the engine fits). Raises
    ``JudgmentDataError`` (a ValueError) when nobody gave a numeric answer.
    """
    judgments = list(round_numeric_judgments(survey_round=survey_round))
    experts = {j.expert_id for j in judgments}
    judgments += _seed_judgments_asked_earlier(survey_round=survey_round, expert_ids=experts)
    rows, left_out = [], []
    for judgment in judgments:
        reason = quantiles_unreadable(judgment)
        if reason:
            left_out.append(
                {"expert": judgment.expert.code, "question": judgment.question.code,
                 "reason": reason}
            )  # fmt: skip
            continue
        rows.append(_quantile_row(judgment, cohort_attribute, survey_round.number))
    table = QuantileTable.from_rows(rows)
    realizations = {}
    for code, value in sorted(_numeric_realizations(survey_round.survey).items()):
        if code not in table.questions:
            continue
        problems = realization_problems(table, {code: value})
        if problems:
            left_out.append(
                {"question": code, "reason": "realization", "detail": "; ".join(problems)}
            )
        else:
            realizations[code] = value
    return NumericRoundData(table, realizations, left_out)


def quantiles_unreadable(judgment: Judgment) -> str:
    """Why the numeric model cannot read this answer, as a code ("" when it can). The form
    accepts equal quantiles (5 = 50 = 95: "I am certain") and bounds may have been changed
    since; the engine's table refuses both, so they are left out and the report says so."""
    question = judgment.question
    q05, q50, q95 = judgment.q05, judgment.q50, judgment.q95
    if not q05 < q50 < q95:
        return "not_increasing"
    if question.scale == Question.Scale.LOG and q05 <= 0:
        return "not_positive"
    lower, upper = question.lower_bound, question.upper_bound
    if (lower is not None and q05 < lower) or (upper is not None and q95 > upper):
        return "out_of_bounds"
    return ""


def _quantile_row(judgment: Judgment, cohort_attribute: str, round_number: int) -> dict:
    question = judgment.question
    return {
        "expert": judgment.expert.code,
        "cohort": str(judgment.expert.attributes.get(cohort_attribute) or UNSPECIFIED_COHORT),
        "question": question.code,
        "q05": judgment.q05,
        "q50": judgment.q50,
        "q95": judgment.q95,
        "round": round_number,
        "scale": ENGINE_SCALES.get(question.scale, "linear"),
        "lower": "" if question.lower_bound is None else question.lower_bound,
        "upper": "" if question.upper_bound is None else question.upper_bound,
    }


def _seed_judgments_asked_earlier(*, survey_round: Round, expert_ids: set[int]) -> list[Judgment]:
    """Each expert's latest answer to numeric seeds asked only in earlier closed rounds
    (rounds the expert submitted)."""
    if not expert_ids:
        return []
    judgments = (
        Judgment.objects.counted()
        .filter(
            survey_round__survey=survey_round.survey_id,
            survey_round__number__lt=survey_round.number,
            survey_round__status=Round.Status.CLOSED,
            question__kind=Question.Kind.NUMERIC,
            question__is_seed=True,
            expert_id__in=expert_ids,
            q50__isnull=False,
            expert__invitations__survey_round=F("survey_round"),
            expert__invitations__submitted_at__isnull=False,
        )
        .exclude(question__in=survey_round.questions.all())
        .select_related("expert", "question")
        .order_by("question__code", "expert__code", "-survey_round__number")
    )
    latest: dict[tuple[int, int], Judgment] = {}
    for judgment in judgments:
        latest.setdefault((judgment.question_id, judgment.expert_id), judgment)
    return list(latest.values())


def _numeric_realizations(survey: Survey) -> dict[str, float]:
    from resolution.selectors import numeric_realizations_for_survey  # resolution reads us

    return numeric_realizations_for_survey(survey=survey)


def round_latest_numeric_run(*, survey_round: Round) -> AggregationRun | None:
    """The newest numeric run of the round, whatever its state."""
    return round_latest_run(
        survey_round=survey_round, method=AggregationRun.Method.NUMERIC_HIERARCHICAL
    )
