"""The report pages' tables and downloads, as printed: estimates with their intervals,
diagnostics with their warnings, a run's progress, its rows and its CSV files.

Views fetch (through ``aggregation.selectors``) and render; what a number looks like on a
page, and which cohorts a row may show (``aggregation.cohort_privacy``), is decided here.
Numeric runs' tables are ``aggregation.numeric_reports``'; the round comparison's are
``aggregation.comparison``'.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from aggregation import cohort_privacy, selectors
from aggregation.engine.plots import BASELINE_LABELS
from aggregation.engine.summary import ESS_BULK_MIN, RHAT_MAX
from aggregation.models import AggregationRun, QuestionResult
from elicitation import meta
from elicitation.models import Round

Status = AggregationRun.Status

QUANTITY_LABELS = {
    "consensus": "Consensus",
    "disagreement": "Disagreement",
    "cohort_belief": "Cohort beliefs",
    "cohort_gap": "Cohort gaps",
    "bias": "Expert bias",
    "noise": "Expert noise",
    "slope": "Expert slope",
    # the numeric model's (aggregation.engine.numeric.summarize_numeric)
    "forecast": "Forecasts",
    "median": "Typical expert's medians",
    "cohort_median": "Cohort medians",
    "confidence_ratio": "Confidence ratios",
    "shared_error": "Shared error",
    # the perception model's (aggregation.engine.perception.summarize_perception)
    "predicted": "Expected answers",
    "actual": "Actual beliefs",
    "error": "Perception errors",
    "stereotype": "Shared misperceptions",
}


@dataclass(frozen=True)
class Estimate:
    """A posterior mean and its interval, as the pages print them."""

    mean: float | None
    lower: float | None = None
    upper: float | None = None
    digits: int = 3
    signed: bool = False

    @classmethod
    def of(cls, point: dict | None, **fmt) -> "Estimate":
        point = point or {}
        lower, upper = point.get("interval") or (None, None)
        return cls(point.get("mean"), lower, upper, **fmt)

    def _text(self, value: float | None) -> str:
        if value is None:
            return "—"
        return f"{value:+.{self.digits}f}" if self.signed else f"{value:.{self.digits}f}"

    @property
    def mean_text(self) -> str:
        return self._text(self.mean)

    @property
    def interval_text(self) -> str:
        if self.lower is None or self.upper is None:
            return "—"
        return _("%(lower)s to %(upper)s") % {
            "lower": self._text(self.lower),
            "upper": self._text(self.upper),
        }

    def __str__(self) -> str:
        if self.lower is None or self.upper is None:
            return self.mean_text
        return f"{self.mean_text} ({self.interval_text})"


def number_text(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def consensus_row(result: QuestionResult, forecast=None) -> dict:
    code = result.question.code
    return {
        "result": result,
        "forecast": forecast.estimate(code) if forecast is not None else None,
        "forecast_resolved": forecast is not None and code in forecast.resolved,
        "forecast_cross_validated": forecast is not None and code in forecast.cross_validated,
        "consensus": Estimate(result.consensus, result.consensus_lower, result.consensus_upper),
        "baselines": [number_text(result.baselines.get(method)) for method in BASELINE_LABELS],
    }


def disagreement_rows(results: list[QuestionResult]) -> list[dict]:
    ranked = sorted(
        (r for r in results if r.disagreement is not None), key=lambda r: -r.disagreement
    )
    return [
        {
            "rank": k,
            "result": r,
            "disagreement": Estimate(
                r.disagreement, r.disagreement_lower, r.disagreement_upper, digits=2
            ),
        }
        for k, r in enumerate(ranked, start=1)
    ]


def gap_rows(result: QuestionResult, shown: list[str]) -> list[dict]:
    return [
        {
            "a": gap["a"],
            "b": gap["b"],
            "gap": Estimate.of(gap, signed=True),
            "p_a_higher": number_text(gap.get("p_a_higher"), 2),
        }
        for gap in cohort_privacy.gaps_shown({"cohort_gaps": result.cohort_gaps}, shown)
    ]


def cohort_table(results: list[QuestionResult], shown: list[str]) -> list[dict]:
    """Each question's shown cohorts and the gaps between them, most divergent first."""
    rows = [
        {
            "result": r,
            "cohorts": [Estimate.of(r.cohorts.get(c)) for c in shown],
            "gaps": gap_rows(r, shown),
            "largest": cohort_privacy.largest_gap({"cohort_gaps": r.cohort_gaps}, shown),
        }
        for r in results
    ]
    return sorted((row for row in rows if row["gaps"]), key=lambda row: -row["largest"])


def diagnostics_summary(diag: dict) -> dict | None:
    """R-hat, bulk ESS and divergences as rows, with the warnings a reader must see."""
    if not diag:
        return None
    per_quantity = diag.get("per_quantity") or {}
    rows = []
    for name, q in per_quantity.items():
        rhat, ess = q.get("max_rhat"), q.get("min_ess_bulk")
        rows.append(
            {
                "label": QUANTITY_LABELS.get(name, name),
                "rhat": number_text(rhat),
                "ess": "—" if ess is None else str(ess),
                "rhat_bad": rhat is None or rhat > RHAT_MAX,
                "ess_bad": ess is not None and ess < ESS_BULK_MIN,
            }
        )
    rhats = [q.get("max_rhat") for q in per_quantity.values() if q.get("max_rhat") is not None]
    esses = [q["min_ess_bulk"] for q in per_quantity.values() if q.get("min_ess_bulk") is not None]
    max_rhat = diag.get("max_rhat", max(rhats) if rhats else None)
    min_ess = diag.get("min_ess_bulk", min(esses) if esses else None)
    divergences = int(diag.get("divergences") or 0)
    return {
        "rows": rows,
        "max_rhat": number_text(max_rhat),
        "min_ess": "—" if min_ess is None else str(min_ess),
        "divergences": divergences,
        "warnings": _diagnostic_warnings(max_rhat, min_ess, divergences, rows),
        "rhat_max": RHAT_MAX,
        "ess_min": ESS_BULK_MIN,
    }


def _diagnostic_warnings(max_rhat, min_ess, divergences: int, rows: list[dict]) -> list[str]:
    def which(flag: str) -> str:
        names = [row["label"].lower() for row in rows if row[flag]]
        return f" ({', '.join(names)})" if names else ""

    warnings = []
    if max_rhat is None:
        warnings.append(
            _("R-hat could not be computed (it needs at least 2 chains): refit before trusting "
              "these numbers.")
        )  # fmt: skip
    elif max_rhat > RHAT_MAX:
        warnings.append(
            _("R-hat up to %(rhat).3f, above %(limit)s%(which)s: the chains disagree, so these "
              "numbers are not reliable. Refit with more draws or another seed.")
            % {"rhat": max_rhat, "limit": RHAT_MAX, "which": which("rhat_bad")}
        )  # fmt: skip
    if min_ess is not None and min_ess < ESS_BULK_MIN:
        warnings.append(
            _("Bulk effective sample size down to %(ess)d, below %(limit)d%(which)s: the "
              "intervals are imprecise. Refit with more draws.")
            % {"ess": min_ess, "limit": ESS_BULK_MIN, "which": which("ess_bad")}
        )  # fmt: skip
    if divergences > 0:
        warnings.append(
            _("%(n)d divergent transitions: the sampler may have missed part of the posterior, "
              "so the intervals may be too narrow.") % {"n": divergences}
        )  # fmt: skip
    return warnings


# --- A run's progress and its row in the list of runs -------------------------------------

# Where each phase of a fit sits on the page's single progress bar (fractions of the run).
PHASE_SPANS = {
    "starting": (0.0, 0.02),
    "compiling": (0.02, 0.15),
    "tuning": (0.15, 0.45),
    "sampling": (0.45, 0.9),
    "summarizing": (0.9, 0.91),
    # a round with meta-predictions: the perception model, fitted after the binary one
    "perception": (0.91, 0.97),
    "figures": (0.97, 1.0),
}


def round_report_url(run: AggregationRun) -> str:
    url = reverse("aggregation:round-report", args=[run.survey_round_id])
    return f"{url}?run={run.id}"


def run_progress_state(run: AggregationRun) -> dict:
    """What the page and its progress bar say about a run (also the JSON endpoint's body)."""
    phase = run.progress_phase or ""
    start, end = PHASE_SPANS.get(phase, (0.0, 0.0))
    overall = 1.0 if run.status == Status.SUCCEEDED else start + (end - start) * run.progress
    stale = timezone.now() - timedelta(seconds=settings.AGGREGATION_STALE_SECONDS)
    return {
        "id": run.id,
        "status": run.status,
        "status_label": run.get_status_display(),
        "phase": phase,
        "phase_label": phase_label(run),
        "progress": round(run.progress, 4),
        "overall": round(min(max(overall, 0.0), 1.0), 4),
        "finished": run.is_finished,
        "stalled": run.status == Status.RUNNING
        and run.heartbeat_at is not None
        and run.heartbeat_at < stale,
        "error": run.error.splitlines()[0] if run.error else "",
        "url": round_report_url(run),
    }


def phase_label(run: AggregationRun) -> str:
    if run.status == Status.QUEUED:
        return _("Queued: waiting for a worker to take it")
    labels = {
        "starting": _("Starting: loading the round's judgments"),
        "compiling": _(
            "Compiling the model (quicker when a panel of this shape was fitted before)"
        ),
        "tuning": _("Tuning the sampler (warm-up draws, discarded)"),
        "sampling": _("Drawing posterior samples"),
        "summarizing": _("Summarizing the posterior and checking convergence"),
        "perception": _("Fitting the perception model (how the cohorts see each other)"),
        "figures": _("Drawing the figures"),
        "done": _("Done"),
        "failed": _("Failed"),
    }
    return labels.get(run.progress_phase, run.progress_phase or run.get_status_display())


def run_row(run: AggregationRun) -> dict:
    timings = run.timings or {}
    total = timings.get("total_seconds")
    if total is None and run.started_at and run.finished_at:
        total = (run.finished_at - run.started_at).total_seconds()
    return {
        "run": run,
        "url": round_report_url(run),
        "seed": run.options.get("random_seed"),
        "total_seconds": total,
        "waited_seconds": (run.started_at - run.created_at).total_seconds()
        if run.started_at
        else None,
    }


def error_parts(error: str) -> tuple[str, str]:
    first, _sep, rest = (error or "").strip().partition("\n")
    return first, rest.strip()


def interval_percent(result: dict | None) -> str:
    return f"{(result or {}).get('interval_mass', 0.9) * 100:g}"


# --- Rows of the pages ------------------------------------------------------------------------


def linked_rows(run: AggregationRun) -> list[dict]:
    """A fit of two rounds together: per question, each round's consensus from the one fit,
    the change with its interval and chance of a rise, the ratio of disagreements."""
    result = run.result or {}
    first, last = (str(r) for r in (result["rounds"][0], result["rounds"][-1]))
    texts = dict(run.survey_round.questions.values_list("code", "text"))
    return [
        {
            "code": code,
            "text": texts.get(code, ""),
            "first": Estimate.of(entry["rounds"][first]["consensus"]),
            "last": Estimate.of(entry["rounds"][last]["consensus"]),
            "shift": Estimate.of(entry["consensus_shift"], signed=True),
            "p_increase": entry["consensus_shift"]["p_increase"],
            "ratio": Estimate.of(entry["disagreement_ratio"], digits=2),
        }
        for code, entry in result["questions"].items()
    ]


def expert_rows(run: AggregationRun, shown: list[str]) -> list[dict]:
    """Experts by anonymised code: cohort as a listing may print it, bias (withheld for
    small cohorts: it is measured within the cohort), noise and slope (withheld as bias is,
    for the same reason; absent from results before binary model version 5)."""
    sizes = cohort_privacy.cohort_sizes_of_result(run.result or {})
    labels = cohort_privacy.expert_cohort_labels(sizes)
    experts = (run.result or {}).get("experts") or {}
    return [
        {
            "code": code,
            "cohort": labels[expert["cohort"]],
            "n": expert.get("n_judgments"),
            "bias": Estimate.of(expert["bias"], signed=True, digits=2)
            if expert.get("bias") and expert["cohort"] in shown
            else None,
            "noise": Estimate.of(expert.get("noise"), digits=2),
            # binary model version 5 on: results of earlier versions have no slope
            # measured within the cohort, as bias is: withheld with it for small cohorts
            "slope": Estimate.of(expert["slope"], digits=2)
            if expert.get("slope") and expert["cohort"] in shown
            else None,
        }
        for code, expert in sorted(experts.items())
    ]


def round_answers(survey_round: Round, question=None) -> list[dict]:
    """The round's answers (of experts who submitted it), experts by code only.

    ``cohort`` is the expert's own cohort: label it with ``cohort_privacy.label_cohorts``
    before showing.
    """
    judgments = selectors.round_judgments_submitted(survey_round=survey_round, question=question)
    attribute = survey_round.survey.cohort_attribute
    return [
        {
            "expert": j.expert.code,
            "cohort": str(j.expert.attributes.get(attribute) or selectors.UNSPECIFIED_COHORT),
            "question": j.question.code,
            # The wording version the answer was given (or last confirmed) under.
            "wording_version": j.question_version,
            "probability": j.probability,
            "q05": j.q05,
            "q50": j.q50,
            "q95": j.q95,
            "rationale": j.rationale.strip(),
            "meta_predictions": j.meta_predictions or {},
        }
        for j in judgments
    ]


def run_answers(run: AggregationRun, question) -> list[dict]:
    """One question's answers as a run's question page lists them, cohorts as the run's
    per-expert listings may print them."""
    sizes = cohort_privacy.cohort_sizes_of_result(run.result or {})
    return cohort_privacy.label_cohorts(
        round_answers(run.survey_round, question=question),
        cohort_privacy.expert_cohort_labels(sizes),
    )


# --- Downloads --------------------------------------------------------------------------------


def cohort_pairs(shown: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for k, a in enumerate(shown) for b in shown[k + 1 :]]


def results_csv_rows(results: list[QuestionResult], shown: list[str], forecast=None) -> list[list]:
    """The results CSV of a probability run: its header, then one row per question.
    ``forecast``: the run's panel forecast (``forecast_reports.PanelForecast``), whose
    columns stay empty until it is fitted."""
    from aggregation.forecast_reports import csv_values

    pairs = cohort_pairs(shown)
    header = ["question", "text", "n_judgments", "forecast", "forecast_lower", "forecast_upper",
              "consensus_mean", "consensus_lower", "consensus_upper", "disagreement_mean",
              "disagreement_lower", "disagreement_upper"]  # fmt: skip
    header += [f"baseline_{m}" for m in BASELINE_LABELS]
    for c in shown:
        header += [f"cohort_{c}_mean", f"cohort_{c}_lower", f"cohort_{c}_upper"]
    for a, b in pairs:
        header += [f"gap_{a}_minus_{b}_mean", f"gap_{a}_minus_{b}_lower",
                   f"gap_{a}_minus_{b}_upper", f"p_{a}_higher_than_{b}"]  # fmt: skip
    rows = [header]
    for r in results:
        row = [r.question.code, r.question.text, r.n_judgments,
               *csv_values(forecast, r.question.code), r.consensus,
               r.consensus_lower, r.consensus_upper, r.disagreement, r.disagreement_lower,
               r.disagreement_upper]  # fmt: skip
        row += [r.baselines.get(m) for m in BASELINE_LABELS]
        for c in shown:
            point = r.cohorts.get(c) or {}
            lower, upper = point.get("interval") or (None, None)
            row += [point.get("mean"), lower, upper]
        gaps = {(g["a"], g["b"]): g for g in r.cohort_gaps}
        for a, b in pairs:
            gap = gaps.get((a, b)) or {}
            lower, upper = gap.get("interval") or (None, None)
            row += [gap.get("mean"), lower, upper, gap.get("p_a_higher")]
        rows.append(["" if v is None else v for v in row])
    return rows


def judgments_csv_rows(survey_round: Round) -> list[list]:
    """The round's answers, anonymised: expert code, cohort (small ones merged), no names;
    each with the wording version of its question it was given under (a number only: the
    wordings are on the round report)."""
    answers = round_answers(survey_round)
    sizes: dict[str, int] = {}
    for _expert, cohort in {(a["expert"], a["cohort"]) for a in answers}:
        sizes[cohort] = sizes.get(cohort, 0) + 1
    # meta-predictions of the cohorts shown separately: a column named after a cohort too
    # small to show would name it
    shown = set(cohort_privacy.cohorts_shown(sizes))
    meta_cohorts = [
        cohort
        for cohort in meta.meta_csv_cohorts(
            survey=survey_round.survey, meta_predictions=(a["meta_predictions"] for a in answers)
        )
        if cohort in shown
    ]
    cohort_privacy.label_cohorts(answers, cohort_privacy.expert_cohort_labels(sizes))
    rows = [
        ["expert", "cohort", "question", "round", "wording_version",
         "probability", "q05", "q50", "q95", "rationale", *meta.meta_csv_header(meta_cohorts)]
    ]  # fmt: skip
    for a in answers:
        rows.append(
            [a["expert"], a["cohort"], a["question"], survey_round.number, a["wording_version"]]
            + ["" if a[k] is None else a[k] for k in ("probability", "q05", "q50", "q95")]
            + [a["rationale"]]
            + meta.meta_csv_values(a["meta_predictions"], meta_cohorts)
        )  # fmt: skip
    return rows
