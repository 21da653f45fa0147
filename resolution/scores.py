"""What the scores page shows: scores of experts, cohorts and aggregation methods on a
round's resolved questions, reliability diagrams, and Cooke's scores of numeric questions.

Everything here is computed on request from what is stored: the round's judgments, the
QuestionResults of its finished runs, the pools of its answers, a finished recalibration's
cross-validated forecasts, and today's outcomes (``resolution.selectors``). Nothing is
fitted, so resolving or annulling a question changes these numbers at the next page view
and refits nothing. The engine does the arithmetic (``aggregation.engine.scoring``:
Brier, log score, AUC, Jeffreys intervals; ``aggregation.engine.cooke``).

Cohorts smaller than ``settings.REPORT_MIN_COHORT_SIZE`` are merged into "other", as in
the report (``aggregation.cohort_privacy``); when "other" is itself that small it is withheld,
and per-expert rows print no cohort that would point at a person.
"""

import io
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aggregation import cohort_privacy
from aggregation import selectors as aggregation_selectors
from aggregation.engine import plots
from aggregation.engine.data import JudgmentDataError, JudgmentTable
from aggregation.engine.perception import reciprocal_scores
from aggregation.engine.pooling import DEFAULT_EXTREMIZE_FACTOR, POOLS, pool_questions
from aggregation.engine.scoring import (
    CalibrationCurve,
    calibration_curve,
    score_cohorts,
    score_experts,
    score_forecasts,
)
from aggregation.models import AggregationRun
from elicitation.models import Question, Round
from resolution import selectors
from resolution.models import RecalibrationRun

FIGURES = ("panel", "cohorts", "methods")
RECALIBRATED_LABELS = {
    RecalibrationRun.Input.LOGODDS_MEAN: gettext_lazy("Recalibrated log-odds mean"),
    RecalibrationRun.Input.HIERARCHICAL: gettext_lazy("Recalibrated hierarchical consensus"),
}
INTERVAL_MASS = 0.9


@dataclass
class Series:
    """One line of a reliability diagram: forecasts of resolved questions and outcomes."""

    label: str
    forecasts: np.ndarray
    outcomes: np.ndarray

    @property
    def n(self) -> int:
        return int(self.forecasts.size)

    def curve(self) -> CalibrationCurve:
        # Ten bins need tens of forecasts to say anything; with fewer, five wider ones.
        bins = 10 if self.n >= 50 else 5
        return calibration_curve(
            self.forecasts, self.outcomes, n_bins=bins, interval_mass=INTERVAL_MASS
        )

    def bin_rows(self) -> list[dict]:
        curve = self.curve()
        return [
            {
                "range": f"{curve.bin_lower[b]:.1f}–{curve.bin_upper[b]:.1f}",
                "count": int(curve.count[b]),
                "events": int(curve.events[b]),
                "mean_forecast": curve.mean_forecast[b],
                "observed": curve.observed[b],
                "lower": curve.lower[b],
                "upper": curve.upper[b],
            }
            for b in range(curve.count.size)
            if curve.count[b] > 0
        ]


@dataclass
class RoundScores:
    """The scores of one round's answers on its resolved binary questions."""

    survey_round: Round
    table: JudgmentTable | None
    outcomes: pd.DataFrame  # resolved questions of the round: outcome, group
    n_binary_questions: int = 0
    experts: list[dict] = field(default_factory=list)
    cohorts: list[dict] = field(default_factory=list)
    cohorts_merged: int = 0  # cohorts too small to show, merged into "other"
    other_withheld: bool = False  # "other" itself too small: not scored as a cohort
    methods: list[dict] = field(default_factory=list)
    series: dict[str, list[Series]] = field(default_factory=dict)

    @property
    def n_resolved(self) -> int:
        return len(self.outcomes)

    @property
    def n_events(self) -> int:
        return int(self.outcomes["outcome"].sum()) if self.n_resolved else 0

    @property
    def n_open(self) -> int:
        return self.n_binary_questions - self.n_resolved


def round_table(*, survey_round: Round) -> JudgmentTable | None:
    """The round's binary judgments (experts who submitted), or None when there are none."""
    try:
        table = aggregation_selectors.judgment_table_for_round(
            survey_round=survey_round, cohort_attribute=survey_round.survey.cohort_attribute
        )
    except JudgmentDataError:  # no binary judgments at all
        return None
    return table if len(table) else None


NOT_READ = object()


def round_scores(
    *,
    survey_round: Round,
    recalibration: RecalibrationRun | None = None,
    table: JudgmentTable | None | object = NOT_READ,
) -> RoundScores:
    """Scores on the round's resolved questions; ``recalibration`` adds its cross-validated
    forecasts as a method (only pass a run fitted on today's outcomes). ``table``: the
    round's ``round_table``, when the caller has read it already."""
    if table is NOT_READ:
        table = round_table(survey_round=survey_round)
    questions = table.questions if table is not None else []
    outcomes = selectors.outcomes_table_for_survey(survey=survey_round.survey, questions=questions)
    scores = RoundScores(
        survey_round=survey_round,
        table=table,
        outcomes=outcomes,
        n_binary_questions=len(questions),
    )
    if table is None or outcomes.empty:
        return scores
    y = outcomes["outcome"]
    resolved = JudgmentTable(
        table.frame[table.frame["question"].isin(y.index)].reset_index(drop=True)
    )
    sizes = cohort_privacy.cohort_sizes_of_table(table)
    _expert_rows(scores, resolved, y, sizes)
    _cohort_rows(scores, resolved, y, sizes)
    _method_rows(scores, resolved, y, recalibration)
    return scores


def _expert_rows(scores: RoundScores, resolved: JudgmentTable, y: pd.Series, sizes) -> None:
    labels = cohort_privacy.expert_cohort_labels(sizes)
    frame = score_experts(resolved, y)
    scores.experts = [
        {"code": code, **row, "cohort": labels.get(row["cohort"], cohort_privacy.WITHHELD_COHORT)}
        for code, row in frame.sort_index().to_dict("index").items()
    ]
    scores.series["panel"] = [
        Series(
            _("Every answer of the panel"),
            resolved.frame["probability"].to_numpy(),
            y[resolved.frame["question"]].to_numpy(),
        )
    ]


def _cohort_rows(scores: RoundScores, resolved: JudgmentTable, y: pd.Series, sizes) -> None:
    shown = cohort_privacy.cohorts_shown(sizes)
    hidden = [c for c in sizes if c not in shown]
    scores.cohorts_merged = len(hidden)
    merged = sum(sizes[c] for c in hidden)
    scores.other_withheld = 0 < merged < settings.REPORT_MIN_COHORT_SIZE
    frame = resolved.frame.assign(
        cohort=[cohort_privacy.cohort_label(c, shown) for c in resolved.frame["cohort"]]
    )
    if scores.other_withheld:
        frame = frame[frame["cohort"] != cohort_privacy.OTHER_COHORT]
    if frame.empty:
        return
    table = JudgmentTable(frame.reset_index(drop=True))
    rows = score_cohorts(table, y)
    scores.cohorts = [{"name": name, **row} for name, row in rows.to_dict("index").items()]
    scores.series["cohorts"] = [
        Series(
            name,
            members["probability"].to_numpy(),
            y[members["question"]].to_numpy(),
        )
        for name, members in frame.groupby("cohort", sort=True)
    ]


def method_forecasts(
    *, survey_round: Round, resolved: JudgmentTable, recalibration: RecalibrationRun | None
) -> list[dict]:
    """Each method's forecasts of the resolved questions: the pools of the answers, the
    consensus of the latest finished model runs, the recalibration's cross-validated ones."""
    methods = [
        {
            "key": method,
            "label": plots.BASELINE_LABELS[method],
            "note": _("pooled from the answers (factor %(d)g)") % {"d": DEFAULT_EXTREMIZE_FACTOR}
            if method == "extremized_logodds"
            else _("pooled from the answers"),
            "forecasts": pd.Series(
                pool_questions(resolved, method, extremize_factor=DEFAULT_EXTREMIZE_FACTOR)
            ),
        }
        for method in POOLS
    ]
    for method in (AggregationRun.Method.HIERARCHICAL, AggregationRun.Method.LINKED_ROUNDS):
        run = (
            survey_round.aggregation_runs.filter(
                method=method, status=AggregationRun.Status.SUCCEEDED
            )
            .order_by("-created_at", "-id")
            .first()
        )
        if run is None:
            continue
        results = run.question_results.filter(question__kind=Question.Kind.BINARY)
        methods.append(
            {
                "key": method.value,
                "label": str(method.label),
                "note": _("consensus of run %(id)s, its posterior mean") % {"id": run.id},
                "forecasts": pd.Series(
                    {r.question.code: r.consensus for r in results.select_related("question")},
                    dtype=float,
                ),
            }
        )
    cv = ((recalibration.result or {}).get("cross_validation") or {}) if recalibration else {}
    if cv.get("forecasts"):
        methods.append(
            {
                "key": "recalibrated",
                "label": RECALIBRATED_LABELS[recalibration.input],
                "note": _(
                    "%(k)d-fold cross-validated: each question forecast by a recalibration "
                    "that never saw its outcome (recalibration %(id)s)"
                )
                % {"k": cv["n_folds"], "id": recalibration.id},
                "forecasts": pd.Series(cv["forecasts"], dtype=float),
            }
        )
    return methods


def _method_rows(scores, resolved: JudgmentTable, y: pd.Series, recalibration) -> None:
    series = []
    for method in method_forecasts(
        survey_round=scores.survey_round, resolved=resolved, recalibration=recalibration
    ):
        forecasts = method.pop("forecasts").dropna()
        forecasts = forecasts[forecasts.index.isin(y.index)]
        if forecasts.empty:
            continue
        outcomes = y[forecasts.index].to_numpy()
        scores.methods.append({**method, **score_forecasts(forecasts.to_numpy(), outcomes)})
        series.append(Series(method["label"], forecasts.to_numpy(), outcomes))
    scores.series["methods"] = series


# --- Cooke's classical model on numeric questions ---------------------------------------------

COOKE_SCALES = {Question.Scale.UNIFORM: "uni", Question.Scale.LOG: "log"}
COOKE_DECISION_MAKERS = {
    "global_opt": gettext_lazy("Performance-weighted (global weights, optimised)"),
    "item_opt": gettext_lazy("Performance-weighted (item weights, optimised)"),
    "equal": gettext_lazy("Equal weights"),
}


def round_reciprocal(*, survey_round: Round) -> dict | None:
    """Reciprocal scores of the round's meta-predictions (Karger et al. 2021;
    ``aggregation.engine.perception.reciprocal_scores``): per expert and per pair of cohorts;
    None when nobody gave any. They need no outcome, so they do not wait for resolutions.

    Only predictions of cohorts large enough to show are scored (a prediction of a cohort of
    one is scored against that one expert's answers); a pair is shown when both of its
    cohorts are; per-expert rows print cohorts as the other per-expert rows do.
    """
    try:
        table = aggregation_selectors.judgment_table_for_round(
            survey_round=survey_round,
            cohort_attribute=survey_round.survey.cohort_attribute,
            with_meta=True,
        )
    except JudgmentDataError:  # no binary judgments at all
        return None
    if not table.meta_cohorts:
        return None
    sizes = cohort_privacy.cohort_sizes_of_table(table)
    shown = cohort_privacy.cohorts_shown(sizes)
    hidden = [f"meta_{c}" for c in table.meta_cohorts if c not in shown]
    scored = reciprocal_scores(JudgmentTable(table.frame.drop(columns=hidden)))
    labels = cohort_privacy.expert_cohort_labels(sizes)
    return {
        "experts": [
            {
                "code": code,
                "cohort": labels.get(row["cohort"], cohort_privacy.WITHHELD_COHORT),
                "score": row["score"],
                "n": row["n"],
            }
            for code, row in sorted(scored["experts"].items())
        ],  # fmt: skip
        "pairs": [p for p in scored["pairs"] if p["by"] in shown and p["of"] in shown],
        "cohorts_hidden": len(sizes) - len(shown),
    }


def round_cooke(*, survey_round: Round) -> dict | None:
    """Cooke's calibration and information of each expert, and of the decision makers, on
    the round's numeric questions whose realized value is known (seeds, resolved ones).

    None when the round has no numeric answers; ``{"n_seeds": 0}`` when none is known yet;
    ``{"error": ...}`` when the answers cannot be scored (the message says why).
    """
    judgments = aggregation_selectors.round_judgments_submitted(survey_round=survey_round).filter(
        question__kind=Question.Kind.NUMERIC, q05__isnull=False
    )
    rows = [
        {"expert": j.expert.code, "item": j.question.code, "q05": j.q05, "q50": j.q50, "q95": j.q95}
        for j in judgments
    ]
    if not rows:
        return None
    items = {j.question.code: j.question for j in judgments}
    known = selectors.numeric_realizations_for_survey(survey=survey_round.survey)
    realizations = {code: known[code] for code in items if code in known}
    if not realizations:
        return {"n_seeds": 0, "n_items": len(items)}
    from aggregation.engine.cooke import CookeInputError, CookeStudy, cooke_model

    try:
        study = CookeStudy.from_frame(
            pd.DataFrame(rows),
            realizations=realizations,
            scales={code: COOKE_SCALES[q.scale] for code, q in items.items()},
        )
        model = cooke_model(study)
    except CookeInputError as exc:
        return {"n_seeds": len(realizations), "n_items": len(items), "error": str(exc)}
    result = model.to_dict()
    weights = result["decision_makers"]["global_opt"]["weights"]
    return {
        "n_seeds": len(realizations),
        "n_items": len(items),
        "seeds": sorted(realizations),
        "n_min": int(np.min(model.experts.n_seed[model.experts.n_seed > 0]))
        if (model.experts.n_seed > 0).any()
        else 0,
        "experts": [
            {"code": code, **scores, "weight": weights.get(code)}
            for code, scores in sorted(result["experts"].items())
        ],
        "decision_makers": [
            {
                "name": name,
                "label": label,
                **{
                    k: result["decision_makers"][name][k]
                    for k in ("alpha", "calibration", "info_seed")
                },
                "combined": _product(
                    result["decision_makers"][name]["calibration"],
                    result["decision_makers"][name]["info_seed"],
                ),
            }
            for name, label in COOKE_DECISION_MAKERS.items()
        ],
    }


def _product(a, b):
    return None if a is None or b is None or not math.isfinite(a * b) else a * b


# --- Figures -----------------------------------------------------------------------------------


def reliability_figure_svg(series: list[Series], *, title: str) -> bytes:
    """Small multiples of reliability diagrams, one per series, as SVG bytes.

    Each bin's observed frequency against its mean forecast, with the Jeffreys interval
    (``scoring.jeffreys_interval``) as an error bar and the marker's area growing with the
    bin's count: with few resolved questions the bars are long, and that is the point.
    """
    from matplotlib.figure import Figure
    from matplotlib.pyplot import rc_context

    n = max(len(series), 1)
    columns = min(3, n)
    rows = math.ceil(n / columns)
    with rc_context(plots.STYLE):
        figure = Figure(figsize=(2.6 * columns + 0.6, 2.6 * rows + 0.7), layout="constrained")
        axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False).ravel())
        for ax, line in zip(axes, series, strict=False):
            _reliability_axes(ax, line)
        for ax in axes[len(series) :]:
            ax.set_axis_off()
        figure.suptitle(title)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg")
    return buffer.getvalue()


def _reliability_axes(ax, line: Series) -> None:
    curve = line.curve()
    keep = curve.count > 0
    x, y = curve.mean_forecast[keep], curve.observed[keep]
    low, high = curve.lower[keep], curve.upper[keep]
    ax.plot([0, 1], [0, 1], color="#8c959f", linestyle="--", linewidth=0.8)
    ax.errorbar(x, y, yerr=[y - low, high - y], fmt="none", ecolor="#0b5cad", alpha=0.7, capsize=2)
    ax.scatter(x, y, s=10 + 40 * curve.count[keep] / max(curve.count.max(), 1), color="#0b5cad")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal")
    ax.set_title(f"{line.label}\n(n = {line.n})", fontsize=9)
    ax.set_xlabel(_("forecast"), fontsize=8)
    ax.set_ylabel(_("observed frequency"), fontsize=8)
    ax.tick_params(labelsize=7)
