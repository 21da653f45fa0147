"""What a numeric run's report shows: its figures (matplotlib, saved as SVG files) and
its tables (numbers as printed), built from the run's result contract (its ``questions``
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

The anonymity rules are the binary report's (``aggregation.reports``): cohorts smaller than
``settings.REPORT_MIN_COHORT_SIZE`` are drawn as one grey group, "other", with no interval of
their own; the range chart names no expert, and an expert's bias (measured within the
cohort) is not shown for experts of small cohorts.
"""

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # workers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.utils.translation import gettext as _  # noqa: E402
from django.utils.translation import gettext_lazy  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from aggregation import reports  # noqa: E402
from aggregation.engine.quantiles import QuantileTable  # noqa: E402

FORECAST_COLOUR = "#1b1f24"
KNOWN_COLOUR = "#cf222e"
# Decision makers in the tables, in this order; the figure draws the first two.
DECISION_MAKERS = {
    "equal_weight": gettext_lazy("Cooke, equal weights"),
    "cooke_global": gettext_lazy("Cooke, global weights"),
    "cooke_item": gettext_lazy("Cooke, item weights"),
    "quantile_average": gettext_lazy("Average of the quantiles"),
}
DRAWN_DECISION_MAKERS = {  # key -> colour; the label is DECISION_MAKERS'
    "equal_weight": "#8250df",
    "cooke_global": "#bc4c00",
}
LEFT_OUT_REASONS = {
    "not_increasing": gettext_lazy(
        "its 5 %, 50 % and 95 % values are not strictly increasing (equal values)"
    ),
    "not_positive": gettext_lazy("a value is not positive on a log-scale question"),
    "out_of_bounds": gettext_lazy("a value is outside the question's bounds"),
    "realization": gettext_lazy("the known value cannot be used"),
}
EXPERT_ROW = 0.12  # inches per expert in a range chart
AGGREGATE_ROW = 0.32  # inches per aggregate row (forecast, decision makers)


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
class Quantity(reports.Estimate):
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
    return reports.cohorts_shown(reports.cohort_sizes_of_result(result))


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
                        "p_a_higher": reports.number_text(gap.get("p_a_higher"), 2),
                    }
                    for gap in reports.gaps_shown(entry, shown)
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
    labels = reports.expert_cohort_labels(reports.cohort_sizes_of_result(result))
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
    (Path(settings.MEDIA_ROOT) / folder).mkdir(parents=True, exist_ok=True)
    shown = shown_cohorts(result)
    frame = table.frame[table.frame["round"] == table.rounds[-1]]
    known = result.get("realizations") or {}
    drawings = {}
    for code, entry in result["questions"].items():
        answers = frame[frame["question"] == code]
        unit = (units or {}).get(code, "")
        drawings[figure_name(code)] = lambda code=code, answers=answers, entry=entry, unit=unit: (
            range_chart(code, answers, entry, shown, known.get(code), unit)
        )
    experts = result.get("experts") or {}
    if experts:
        drawings["expert-confidence"] = lambda: expert_chart(
            result, "confidence_ratio", list(experts)
        )
    with_bias = [c for c, e in experts.items() if e.get("bias") and e["cohort"] in shown]
    if with_bias:
        drawings["expert-bias"] = lambda: expert_chart(result, "bias", with_bias)
    return reports._draw_in_every_language(drawings, folder)


def range_chart(code: str, answers, entry: dict, shown: list[str], known, unit: str):
    """Every expert's 5–95 % range and median, grouped by cohort, with the aggregates.

    Rows from the top: the model's forecast (not for a question whose value is known: there
    the forecast is that value), Cooke's equal-weight and global decision makers, then each
    shown cohort's experts sorted by their median, then "other".
    """
    labels = answers["cohort"].map(lambda c: reports.cohort_label(str(c), shown))
    groups = [c for c in shown if (labels == c).any()]
    if (labels == reports.OTHER_COHORT).any():
        groups.append(reports.OTHER_COHORT)
    seed = bool(entry.get("seed"))
    forecast = None if seed else entry.get("forecast")
    aggregates = [(_("Model forecast"), forecast, FORECAST_COLOUR)] if forecast else []
    for key, colour in DRAWN_DECISION_MAKERS.items():
        triple = (entry.get("baselines") or {}).get(key)
        if triple:
            aggregates.append((str(DECISION_MAKERS[key]), triple, colour))
    n_experts = len(answers)
    height = 1.3 + AGGREGATE_ROW * len(aggregates) + EXPERT_ROW * max(n_experts, 4)
    height += 0.1 * len(groups)
    figure, axes = plt.subplots(figsize=(reports.WIDTH, height))
    # y: experts at 0..n-1 from the bottom, a gap, then the aggregates above them
    y, ticks, tick_labels = 0.0, [], []
    for k, group in enumerate(reversed(groups)):
        members = answers[labels == group].sort_values("q50", ascending=False)
        colour = reports.OTHER_COLOUR if group == reports.OTHER_COHORT else f"C{shown.index(group)}"
        rows = np.arange(len(members)) + y
        axes.hlines(rows, members["q05"], members["q95"], color=colour, linewidth=1.2, alpha=0.8)
        axes.scatter(members["q50"], rows, s=10, color=colour, zorder=3, linewidths=0)
        ticks.append(y + (len(members) - 1) / 2)
        tick_labels.append(f"{group} ({len(members)})")
        y += len(members) + (0.8 if k < len(groups) - 1 else 0)
    top_of_experts = y - 1
    step = max(1.6, n_experts / 12)  # aggregate rows stay visible on a large panel
    for k, (label, triple, colour) in enumerate(reversed(aggregates)):
        row = top_of_experts + step * (k + 1.2)
        axes.plot([triple["q05"], triple["q95"]], [row, row], color=colour, linewidth=3.2,
                  solid_capstyle="butt", zorder=4)  # fmt: skip
        axes.scatter([triple["q50"]], [row], s=55, color="white", edgecolors=colour,
                     linewidths=1.8, zorder=5)  # fmt: skip
        ticks.append(row)
        tick_labels.append(label)
    if forecast:
        axes.axvspan(forecast["q05"], forecast["q95"], color=FORECAST_COLOUR, alpha=0.07,
                     linewidth=0, zorder=0)  # fmt: skip
        axes.axvline(forecast["q50"], color=FORECAST_COLOUR, linewidth=0.8, alpha=0.6, zorder=1)
    if known is not None:
        axes.axvline(known, color=KNOWN_COLOUR, linewidth=1.4, linestyle="--", zorder=6)
    axes.set_yticks(ticks, tick_labels)
    axes.set_ylim(-1, (ticks[-1] if aggregates else top_of_experts) + 1)
    if entry.get("scale") == "log":
        _log_axis(axes)
    quantity = _("%(code)s (%(unit)s)") % {"code": code, "unit": unit} if unit else code
    axes.set_xlabel(_("%(quantity)s: 5–95 %% ranges, dot at the median") % {"quantity": quantity})
    axes.grid(axis="x", color="#d0d7de", linewidth=0.6)
    axes.set_axisbelow(True)
    axes.tick_params(axis="y", length=0)
    handles = [
        Line2D([], [], color=colour, linewidth=3, marker="o", markerfacecolor="white",
               label=label)
        for label, _triple, colour in aggregates
    ]  # fmt: skip
    if forecast:
        handles.append(Patch(color=FORECAST_COLOUR, alpha=0.12, label=_("Forecast 5–95 % band")))
    if known is not None:
        handles.append(Line2D([], [], color=KNOWN_COLOUR, linestyle="--", label=_("Known value")))
    handles.append(Line2D([], [], color="#57606a", marker="o", markersize=3, label=_("An expert")))
    reports._legend_above(axes, handles)
    return figure


def expert_chart(result: dict, quantity: str, experts: list[str]):
    """Each expert's confidence ratio (log axis, 1 marked) or bias (0 marked) with its
    interval, by anonymised code, the largest at the top."""
    points = {code: result["experts"][code][quantity] for code in experts}
    ranked = sorted(experts, key=lambda code: points[code]["mean"])
    y = np.arange(len(ranked))
    figure, axes = plt.subplots(figsize=(5.0, 1.1 + reports.ROW * max(len(ranked), 3)))
    for row, code in zip(y, ranked, strict=True):
        point = points[code]
        lower, upper = point["interval"]
        narrow = quantity == "confidence_ratio" and upper < 1.0
        colour = "#cf222e" if narrow else "C0"
        axes.plot([lower, upper], [row, row], color=colour, linewidth=1.6)
        axes.scatter([point["mean"]], [row], s=22, color="white", edgecolors=colour,
                     linewidths=1.4, zorder=3)  # fmt: skip
    axes.set_yticks(y, ranked)
    axes.set_ylim(-0.7, len(ranked) - 0.3)
    mass = reports._percent(result.get("interval_mass", 0.9))
    if quantity == "confidence_ratio":
        _log_axis(axes)
        axes.axvline(1.0, color="#57606a", linewidth=0.8, zorder=0)
        axes.set_xlabel(
            _(
                "Confidence ratio (below 1: ranges too narrow; red: surely so)\n"
                "dot: posterior mean; line: %(mass)s interval"
            )
            % {"mass": mass}
        )
    else:
        axes.axvline(0.0, color="#57606a", linewidth=0.8, zorder=0)
        axes.set_xlabel(
            _(
                "Bias of the medians (> 0: higher than the cohort), in typical stated spreads\n"
                "dot: posterior mean; line: %(mass)s interval"
            )
            % {"mass": mass}
        )
    axes.grid(axis="x", color="#d0d7de", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure


def _log_axis(axes) -> None:
    """A log x axis labelled in plain numbers at 1-2-5 steps (0.5, 1, 2; 10, 20, 50), fewer
    steps per decade on a wide axis, without crowded minor labels."""
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    low, high = axes.get_xlim()
    for mantissas in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0**e for e in range(-9, 16) for m in mantissas]
        ticks = [v for v in ticks if low <= v <= high]
        if 2 <= len(ticks) <= 8:
            axes.set_xticks(ticks)
            return


def figure_alt(row: dict) -> str:
    """The text alternative of a question's range chart: what it shows, and where the
    numbers are."""
    return _(
        "Range chart of the %(n)s answers to %(code)s: each expert's 5 %% to 95 %% range as "
        "a line with a dot at the median, grouped by cohort, with the model's forecast and "
        "Cooke's decision makers drawn above them. The table below lists the same numbers."
    ) % {"n": row["n_judgments"], "code": row["code"]}
