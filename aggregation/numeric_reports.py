"""What a numeric run's report shows: its figures (drawn by ``aggregation.engine.plots``,
saved as SVG files by ``aggregation.reports``) and its tables (numbers as printed), built
from the run's result contract (its ``questions``
are kept in ``AggregationRun.result``, not in QuestionResult rows: see models.py).

Figure names (the views and downloads refer to them):

- ``numeric-<code>-<hash>`` for every question (``figure_name``): each expert's 5–95 % range with a dot at the
  median, one thin row an expert, grouped and coloured by cohort (the picture SHELF and
  EXCALIBUR users know); over them the model's forecast (rows at the top, and its 5–95 %
  as a shaded band with its median as a line across every expert), Cooke's equal-weight
  decision maker and, when seeds allow it, the global-weight one; the known value of a
  seed or resolved question as a dashed line;
- ``expert-confidence`` and ``expert-bias``: each expert's confidence ratio and bias with
  its interval, by anonymised code.

Each is drawn once per site language, its labels translated (``<name>__ko``, as the binary
report's figures).

The anonymity rules are the binary report's (``aggregation.cohort_privacy``): cohorts smaller than
``settings.REPORT_MIN_COHORT_SIZE`` are drawn as one grey group, "other", with no interval of
their own; the range chart names no expert, and an expert's bias (measured within the
cohort) is not shown for experts of small cohorts.
"""

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aggregation import cohort_privacy, presenters, reports
from aggregation.engine import plots
from aggregation.engine.quantiles import QuantileTable

# Decision makers in the tables, in this order; the figure draws the first two.
DECISION_MAKERS = {
    "equal_weight": gettext_lazy("Cooke, equal weights"),
    "cooke_global": gettext_lazy("Cooke, global weights"),
    "cooke_item": gettext_lazy("Cooke, item weights"),
    "quantile_average": gettext_lazy("Average of the quantiles"),
}
LEFT_OUT_REASONS = {
    "not_increasing": gettext_lazy(
        "its 5 %, 50 % and 95 % values are not strictly increasing (equal values)"
    ),
    "not_positive": gettext_lazy("a value is not positive on a log-scale question"),
    "out_of_bounds": gettext_lazy("a value is outside the question's bounds"),
    "realization": gettext_lazy("the known value cannot be used"),
}


# --- Numbers as the report prints them ------------------------------------------------------


def value_text(value: float | None, *, signed: bool = False) -> str:
    """A value on a question's own scale with at least 3 significant digits, grouped, never
    in exponent form between 0.001 and 10^12 (28500 → "28,500", 54.63 → "54.6",
    0.3456 → "0.346")."""
    if value is None or not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    if magnitude and (magnitude < 1e-3 or magnitude >= 1e12):
        return f"{value:+.3g}" if signed else f"{value:.3g}"
    digits = max(0, 2 - math.floor(math.log10(magnitude))) if magnitude else 0
    return f"{value:+,.{digits}f}" if signed else f"{value:,.{digits}f}"


@dataclass(frozen=True)
class Quantity(presenters.Estimate):
    """A posterior mean and its interval on a question's scale, as the pages print them:
    the binary report's ``Estimate`` with numbers written by ``value_text`` unless fixed
    decimals (``digits``, for ratios) are asked for."""

    digits: int | None = None

    def _text(self, value: float | None) -> str:
        if value is None or self.digits is not None:
            return super()._text(value)
        return value_text(value, signed=self.signed)


def triple_texts(triple: dict | None) -> list[str] | None:
    """{q05, q50, q95} as three printed values, or None (a decision maker seeds could not
    build)."""
    if not triple:
        return None
    return [value_text(triple.get(k)) for k in ("q05", "q50", "q95")]


def figure_name(code: str) -> str:
    """The figure name of a question's range chart (safe in a URL and a file name); a short
    hash of the code keeps codes that read alike there (``A.1``, ``A_1``) apart."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:8]
    return f"numeric-{re.sub(r'[^A-Za-z0-9_-]', '_', code)}-{digest}"


# --- Tables of the report pages ------------------------------------------------------------


def shown_cohorts(result: dict) -> list[str]:
    return cohort_privacy.cohorts_shown(cohort_privacy.cohort_sizes_of_result(result))


def question_rows(result: dict, questions: dict) -> list[dict]:
    """One entry per question of the run, in the survey's order: what the round report and
    the question page print (``questions``: code -> Question of the survey)."""
    shown = shown_cohorts(result)
    known = result.get("realizations") or {}
    order = sorted(
        result.get("questions") or {},
        key=lambda code: (getattr(questions.get(code), "position", 0), code),
    )
    rows = []
    for code in order:
        entry = result["questions"][code]
        question = questions.get(code)
        rows.append(
            {
                "code": code,
                "question": question,
                "unit": question.unit if question is not None else "",
                "log_scale": entry.get("scale") == "log",
                "n_judgments": entry.get("n_judgments"),
                "known": value_text(known[code]) if code in known else None,
                "forecast": triple_texts(entry.get("forecast")),
                # the model's own forecast, when the blend with equal weight moved it
                "model_forecast": triple_texts(entry.get("model_forecast")),
                "median": Quantity.of(entry.get("median")),
                "disagreement": Quantity.of(entry.get("disagreement"), digits=2),
                "cohorts": [
                    {"name": c, "estimate": Quantity.of(entry["cohorts"][c])}
                    for c in shown
                    if c in (entry.get("cohorts") or {})
                ],
                "gaps": [
                    {
                        "a": gap["a"],
                        "b": gap["b"],
                        "gap": Quantity.of(gap, signed=True),
                        "p_a_higher": presenters.number_text(gap.get("p_a_higher"), 2),
                    }
                    for gap in cohort_privacy.gaps_shown(entry, shown)
                ],
                "decision_makers": [
                    {"key": key, "label": label, "values": triple_texts(base)}
                    for key, label in DECISION_MAKERS.items()
                    for base in [(entry.get("baselines") or {}).get(key)]
                ],
                "figure_name": figure_name(code),
            }
        )
    return rows


def blend_text(blend: dict | None) -> dict | None:
    """How the forecast blends the model with the equal-weight decision maker
    (numeric_blend.py), for the page: the model's share in percent and the seeds it was
    learned from; None for a run made before the blend."""
    if not blend:
        return None
    return {
        "model_percent": f"{100 * blend.get('model_weight', 1.0):.0f}",
        "n_seeds": blend.get("n_seeds", 0),
        "learned": bool(blend.get("scores")),
    }


def left_out_rows(result: dict) -> list[dict]:
    """The answers and known values the model could not use, with the reason in words."""
    return [
        {
            "expert": item.get("expert", ""),
            "question": item.get("question", ""),
            "reason": LEFT_OUT_REASONS.get(item.get("reason"), item.get("reason", "")),
            "detail": item.get("detail", ""),
        }
        for item in result.get("left_out") or []
    ]


def expert_rows(result: dict) -> list[dict]:
    """Experts by code: cohort as a per-expert listing may print it, bias (withheld for
    small cohorts: it is measured within the cohort) and confidence ratio."""
    shown = shown_cohorts(result)
    labels = cohort_privacy.expert_cohort_labels(cohort_privacy.cohort_sizes_of_result(result))
    return [
        {
            "code": code,
            "cohort": labels[expert["cohort"]],
            "bias": Quantity.of(expert["bias"], signed=True, digits=2)
            if expert.get("bias") and expert["cohort"] in shown
            else None,
            "confidence": Quantity.of(expert.get("confidence_ratio"), digits=2),
            "narrow": _interval_below_one(expert.get("confidence_ratio")),
        }
        for code, expert in sorted((result.get("experts") or {}).items())
    ]


def _interval_below_one(point: dict | None) -> bool:
    interval = (point or {}).get("interval")
    return bool(interval) and interval[1] < 1.0


# --- Figures -------------------------------------------------------------------------------


def figures_render(
    *, result: dict, table: QuantileTable, folder: Path, units: dict[str, str] | None = None
) -> dict[str, str]:
    """Draw the run's figures into MEDIA_ROOT/folder, each once per site language with its
    labels translated (``name__ko``, as the binary figures); returns name -> path under
    MEDIA_ROOT."""
    shown = shown_cohorts(result)
    frame = table.frame[table.frame["round"] == table.rounds[-1]]
    known = result.get("realizations") or {}
    drawings = {}
    for code, entry in result["questions"].items():
        answers = frame[frame["question"] == code]
        unit = (units or {}).get(code, "")
        drawings[figure_name(code)] = lambda code=code, answers=answers, entry=entry, unit=unit: (
            plots.range_chart(code, answers, entry, shown, known.get(code), unit)
        )
    experts = result.get("experts") or {}
    if experts:
        drawings["expert-confidence"] = lambda: plots.expert_chart(
            result, "confidence_ratio", list(experts)
        )
    with_bias = [c for c, e in experts.items() if e.get("bias") and e["cohort"] in shown]
    if with_bias:
        drawings["expert-bias"] = lambda: plots.expert_chart(result, "bias", with_bias)
    return reports.draw_in_every_language(drawings, folder)


def figure_alt(row: dict) -> str:
    """The text alternative of a question's range chart: what it shows, and where the
    numbers are."""
    return _(
        "Range chart of the %(n)s answers to %(code)s: each expert's 5 %% to 95 %% range as "
        "a line with a dot at the median, grouped by cohort, with the model's forecast and "
        "Cooke's decision makers drawn above them. The table below lists the same numbers."
    ) % {"n": row["n_judgments"], "code": row["code"]}


# --- Rows with their figures, and the results download ---------------------------------------


def page_rows(run, code: str | None = None) -> list[dict]:
    """The numeric run's questions as the pages print them, each with its figure."""
    from django.urls import reverse  # the module's tables stay importable without URLs

    questions = {q.code: q for q in run.survey_round.survey.questions.all()}
    rows = question_rows(run.result or {}, questions)
    if code is not None:
        rows = [row for row in rows if row["code"] == code]
    for row in rows:
        name = row["figure_name"]
        row["figure"] = (
            {"name": name, "url": reverse("aggregation:run-figure", args=[run.id, name])}
            if name in (run.figures or {})
            else None
        )
        row["alt"] = figure_alt(row)
    return rows


def results_csv_rows(run) -> list[list]:
    """One row per numeric question: forecast, typical median, disagreement, the decision
    makers, shown cohorts and gaps; values on the question's own scale, unrounded."""
    result = run.result or {}
    shown = shown_cohorts(result)
    pairs = presenters.cohort_pairs(shown)
    header = ["question", "text", "unit", "scale", "n_judgments", "known_value",
              "forecast_q05", "forecast_q50", "forecast_q95", "model_forecast_q05",
              "model_forecast_q50", "model_forecast_q95", "median_mean", "median_lower",
              "median_upper", "disagreement_mean", "disagreement_lower", "disagreement_upper"]  # fmt: skip
    for name in DECISION_MAKERS:
        header += [f"{name}_q05", f"{name}_q50", f"{name}_q95"]
    for c in shown:
        header += [
            f"cohort_{c}_median_mean",
            f"cohort_{c}_median_lower",
            f"cohort_{c}_median_upper",
        ]
    for a, b in pairs:
        header += [f"gap_{a}_minus_{b}_mean", f"gap_{a}_minus_{b}_lower",
                   f"gap_{a}_minus_{b}_upper", f"p_{a}_higher_than_{b}"]  # fmt: skip
    rows = [header]
    questions = {q.code: q for q in run.survey_round.survey.questions.all()}
    known = result.get("realizations") or {}
    for row in question_rows(result, questions):
        entry = result["questions"][row["code"]]
        question = row["question"]
        cells = [row["code"], question.text if question else "", row["unit"],
                 entry.get("scale"), entry.get("n_judgments"), known.get(row["code"])]  # fmt: skip
        cells += _triple(entry.get("forecast"))
        cells += _triple(entry.get("model_forecast"))
        for key in ("median", "disagreement"):
            point = entry.get(key) or {}
            cells += [point.get("mean"), *(point.get("interval") or (None, None))]
        for name in DECISION_MAKERS:
            cells += _triple((entry.get("baselines") or {}).get(name))
        for c in shown:
            point = (entry.get("cohorts") or {}).get(c) or {}
            cells += [point.get("mean"), *(point.get("interval") or (None, None))]
        gaps = {(g["a"], g["b"]): g for g in entry.get("cohort_gaps") or []}
        for a, b in pairs:
            gap = gaps.get((a, b)) or {}
            cells += [
                gap.get("mean"),
                *(gap.get("interval") or (None, None)),
                gap.get("p_a_higher"),
            ]
        rows.append(["" if v is None else v for v in cells])
    return rows


def _triple(triple: dict | None) -> list:
    return [(triple or {}).get(k) for k in ("q05", "q50", "q95")]
