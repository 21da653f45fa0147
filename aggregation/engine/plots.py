"""Figures of the reports, drawn with matplotlib and arviz-plots, returned as SVG text.

No Django here (``aggregation/engine`` never imports it): the caller decides what may be
shown (``aggregation.cohort_privacy`` picks the cohorts large enough to be drawn on their
own; smaller ones arrive as "other"), names the figures and stores them
(``aggregation.reports``, ``aggregation.numeric_reports``), and chooses the language: labels
go through ``_``, which translates with whatever ``translating(gettext)`` installed
(nothing: English). The strings are marked as Django's ``makemessages`` finds them.

Probability reports: ``consensus_forest``, ``disagreement_forest``, ``cohort_forest``,
``expert_forest`` (posterior forests), ``pooled_dots`` (a pool run), ``question_strip`` (every
answer to a question as a dot by cohort, the posteriors over them),
``consensus_shift_forest`` and ``rounds_chart`` (two rounds: each question's consensus in
both, an arrow for the change), ``perception_chart`` (how one cohort expected another to
answer, against what it believes, an arrow for the misperception). Numeric reports: ``range_chart`` (each expert's 5–95 %
range with the forecast and Cooke's decision makers), ``expert_chart``.
"""

import io
import re
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from xml.sax.saxutils import escape

import matplotlib

matplotlib.use("Agg")  # workers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402
from scipy.special import expit  # noqa: E402

# --- Language ------------------------------------------------------------------------------

_translator: ContextVar[Callable[[str], str]] = ContextVar("translator", default=str)


def _(message: str) -> str:
    """``message`` in the language of the drawing (see ``translating``)."""
    return _translator.get()(message)


def gettext_noop(message: str) -> str:
    """Marks a string for translation where it is defined (makemessages knows the name)."""
    return message


@contextmanager
def translating(gettext: Callable[[str], str]) -> Iterator[None]:
    """Draw with labels translated by ``gettext`` (Django's, under translation.override)."""
    token = _translator.set(gettext)
    try:
        yield
    finally:
        _translator.reset(token)


# --- Style -----------------------------------------------------------------------------------

OTHER_COHORT = "other"
BASELINE_LABELS = {
    "linear_pool": gettext_noop("Linear pool"),
    "median": gettext_noop("Median"),
    "logodds_mean": gettext_noop("Log-odds mean"),
    "extremized_logodds": gettext_noop("Extremized log-odds"),
}
BASELINE_MARKERS = {
    "linear_pool": ("s", "#6e7781"),
    "median": ("D", "#8250df"),
    "logodds_mean": ("^", "#1a7f37"),
    "extremized_logodds": ("v", "#cf222e"),
}
# Numeric reports: the decision makers a range chart draws, their colours and labels.
DRAWN_DECISION_MAKERS = {"equal_weight": "#8250df", "cooke_global": "#bc4c00"}
DECISION_MAKER_LABELS = {
    "equal_weight": gettext_noop("Cooke, equal weights"),
    "cooke_global": gettext_noop("Cooke, global weights"),
}
OTHER_COLOUR = "#8c959f"
CONSENSUS_COLOUR = "#1b1f24"  # cohorts take C0, C1, ... as in the cohort forest
FORECAST_COLOUR = "#1b1f24"
KNOWN_COLOUR = "#cf222e"
FIRST_ROUND_COLOUR = "#6e7781"
LAST_ROUND_COLOUR = "#0969da"
ACTUAL_COLOUR = "#1b1f24"  # perception: what a cohort believes
EXPECTED_COLOUR = "#bc4c00"  # perception: what another cohort expected it to answer
WIDTH = 7.5  # inches: about the width of a report page at 100 % zoom
ROW = 0.26  # inches per row of a forest or dot chart
EXPERT_ROW = 0.12  # inches per expert in a range chart
AGGREGATE_ROW = 0.32  # inches per aggregate row (forecast, decision makers)


def _font_families() -> list[str]:
    """DejaVu Sans, then a font with Hangul where one is installed (bin/ensure-chromium and
    the image install fonts-noto-cjk): Korean labels are measured with real glyphs, and the
    SVG names the font that draws them."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return ["DejaVu Sans"] + [n for n in ("Noto Sans CJK KR", "NanumGothic") if n in installed]


STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller files, selectable, searchable
    "font.family": _font_families(),
    "svg.hashsalt": "consilium",  # stable element ids, so a re-render is byte-identical
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def svg_text(draw: Callable[[], object], *, title: str = "", desc: str = "") -> str:
    """Draw a figure in the house style and return it as SVG text (no timestamp, so the
    same data draws the same bytes); ``title`` and ``desc`` become the SVG's accessible
    name and description."""
    with plt.rc_context(STYLE):
        figure = draw()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    svg = buffer.getvalue()
    if title or desc:
        svg = _with_title(svg, title, desc)
    return svg


def _with_title(svg: str, title: str, desc: str) -> str:
    """The SVG with <title> and <desc> first inside its root, named by aria-labelledby."""
    match = re.search(r"<svg\b[^>]*>", svg)
    if match is None:
        return svg
    root = match.group(0)
    labelled = root[:-1] + ' role="img" aria-labelledby="figure-title figure-desc">'
    inner = f'<title id="figure-title">{escape(title)}</title>'
    inner += f'<desc id="figure-desc">{escape(desc)}</desc>'
    return svg[: match.start()] + labelled + inner + svg[match.end() :]


# --- Cohorts as drawn ------------------------------------------------------------------------


def cohort_label(cohort: str, shown: list[str]) -> str:
    """The cohort as a figure may draw it: cohorts not ``shown`` are merged into "other"."""
    return cohort if cohort in shown else OTHER_COHORT


def gaps_shown(entry: dict, shown: list[str]) -> list[dict]:
    """A question's cohort gaps between shown cohorts only."""
    return [g for g in entry.get("cohort_gaps") or [] if g["a"] in shown and g["b"] in shown]


def largest_gap(entry: dict, shown: list[str]) -> float:
    return max((abs(g["mean"]) for g in gaps_shown(entry, shown)), default=0.0)


# --- Forests (arviz-plots) -------------------------------------------------------------


def _forest(data, *, rows: int, xlabel: str, width: float = WIDTH, **kwargs):
    """A forest plot of ``data`` (DataTree or dict of DataTrees) sized for ``rows`` rows.

    Returns the PlotCollection, its figure and the axes the intervals are drawn on.
    """
    import arviz_plots as azp

    height = 1.0 + ROW * max(rows, 3)
    plot = azp.plot_forest(
        data,
        combined=True,
        backend="matplotlib",
        figure_kwargs={
            "figsize": (width, height),
            "figsize_units": "inches",
            "width_ratios": [1, 6],
        },
        visuals={"ticklabels": False},
        **kwargs,
    )
    figure = plot.viz["figure"].item()
    axes = plot.viz["plot"].sel(column="forest").item()
    labels = plot.viz["plot"].sel(column="labels").item()
    labels.xaxis.set_visible(False)  # the label column has no scale
    labels.spines["bottom"].set_visible(False)
    axes.set_xlabel(xlabel)
    axes.grid(axis="x", color="#d0d7de", linewidth=0.6)
    axes.set_axisbelow(True)
    return plot, figure, axes


def _percent(mass: float) -> str:
    return f"{mass * 100:g} %"


def _interval_note(mass: float) -> str:
    return _("dot: posterior mean; thick line: 50 %%, thin line: %(percent)s interval") % {
        "percent": _percent(mass)
    }


def _posterior(dataset: xr.Dataset) -> xr.DataTree:
    return xr.DataTree.from_dict({"posterior": dataset})


def consensus_forest(draws: xr.Dataset, result: dict):
    """Every question's consensus with its interval, and the four baselines beside it."""
    mass = result["interval_mass"]
    questions = list(result["questions"])
    consensus = draws[["consensus"]].sel(question=questions)
    plot, figure, axes = _forest(
        _posterior(consensus),
        rows=len(questions),
        ci_probs=(0.5, mass),
        labels=["question"],
        xlabel=_("Consensus probability (%(note)s)") % {"note": _interval_note(mass)},
    )
    y = plot.get_aes_as_dataset("y")["consensus"]
    for method, (marker, colour) in BASELINE_MARKERS.items():
        values = [result["questions"][q]["baselines"].get(method) for q in questions]
        axes.scatter(
            np.array(values, dtype=float),
            y.sel(question=questions).values - 0.25,
            marker=marker,
            s=18,
            color=colour,
            alpha=0.85,
            zorder=3,
            linewidths=0,
        )
    handles = [
        Line2D(
            [], [], color="C0", marker="o", markerfacecolor="white", label=_("Consensus (model)")
        )
    ] + [
        Line2D([], [], color=colour, marker=marker, linestyle="none", label=_(BASELINE_LABELS[m]))
        for m, (marker, colour) in BASELINE_MARKERS.items()
    ]
    _legend_above(axes, handles)
    axes.set_xlim(-0.02, 1.02)
    return figure


def _legend_above(axes, handles, title=None) -> None:
    axes.legend(
        handles=handles,
        title=title,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncol=min(len(handles), 3),
        frameon=False,
        fontsize=9,
        borderaxespad=0.3,
    )


def disagreement_forest(draws: xr.Dataset, result: dict):
    """Every question's disagreement (kappa), the most contested at the top."""
    mass = result["interval_mass"]
    ranked = sorted(
        result["questions"], key=lambda q: -result["questions"][q]["disagreement"]["mean"]
    )
    _collection, figure, _axes = _forest(
        _posterior(draws[["disagreement"]].sel(question=ranked)),
        rows=len(ranked),
        ci_probs=(0.5, mass),
        labels=["question"],
        xlabel=_("Disagreement, log-odds (%(note)s)") % {"note": _interval_note(mass)},
    )
    return figure


def consensus_shift_forest(posterior: xr.Dataset, result: dict):
    """How each question's consensus moved from the first round to the last (a linked
    fit: the pairing of each expert's answers is in the intervals), largest rise on top."""
    first, last = result["rounds"][0], result["rounds"][-1]
    mu = posterior["mu_question"]
    shift = expit(mu.sel(round=last)) - expit(mu.sel(round=first))
    mass = result["interval_mass"]
    ranked = sorted(
        result["questions"], key=lambda q: -result["questions"][q]["consensus_shift"]["mean"]
    )
    _collection, figure, axes = _forest(
        _posterior(xr.Dataset({"consensus_shift": shift}).sel(question=ranked)),
        rows=len(ranked),
        ci_probs=(0.5, mass),
        labels=["question"],
        xlabel=_("Consensus in round %(last)s minus round %(first)s (%(note)s)")
        % {"last": last, "first": first, "note": _interval_note(mass)},
    )
    axes.axvline(0.0, color="#57606a", linewidth=0.8)
    return figure


def cohort_forest(draws: xr.Dataset, result: dict, shown: list[str]):
    """Each question's cohort beliefs side by side (colour = cohort), most divergent first."""
    mass = result["interval_mass"]
    questions = result["questions"]
    ranked = sorted(questions, key=lambda q: -largest_gap(questions[q], shown))
    belief = draws["cohort_belief"].sel(question=ranked)
    # One DataTree per cohort: plot_forest sets "models" side by side within a row and
    # colours them, which keeps one row per question however many cohorts there are.
    per_cohort = {
        cohort: _posterior(belief.sel(cohort=cohort, drop=True).to_dataset(name="belief"))
        for cohort in shown
    }
    _collection, figure, axes = _forest(
        per_cohort,
        rows=len(ranked) * (1 + 0.15 * len(shown)),
        ci_probs=(0.5, mass),
        labels=["question"],
        xlabel=_("Cohort belief, probability (%(note)s)") % {"note": _interval_note(mass)},
    )
    handles = [
        Line2D([], [], color=f"C{k}", marker="o", markerfacecolor="white", label=cohort)
        for k, cohort in enumerate(shown)
    ]
    _legend_above(axes, handles, title=_("Cohort"))
    axes.set_xlim(-0.02, 1.02)
    return figure


def _experts_with_bias(result: dict, shown: list[str]) -> list[str]:
    """Experts whose bias may be shown: it is measured within the cohort (zero-sum), so it is
    left out for experts of small cohorts (a cohort of one has none; of two, it pairs them)."""
    return [
        code
        for code, expert in (result.get("experts") or {}).items()
        if expert.get("bias") and expert["cohort"] in shown
    ]


def expert_forest(draws: xr.Dataset, quantity: str, experts: list[str], result: dict):
    """Bias, noise or slope of each expert (anonymised code), largest at the top."""
    values = draws[[quantity]].sel(expert=experts)
    order = (
        values[quantity]
        .mean(("chain", "draw"))
        .sortby(values[quantity].mean(("chain", "draw")), ascending=False)
    )
    ranked = [str(e) for e in order["expert"].values]
    xlabel = {
        "bias": _("Bias, log-odds (> 0: higher than the cohort)"),
        "noise": _("Noise (1 = a typical expert)"),
        "slope": _("Slope (1 = a typical expert of the cohort)"),
    }[quantity]
    mass = result["interval_mass"]
    _collection, figure, axes = _forest(
        _posterior(values.sel(expert=ranked)),
        rows=len(ranked),
        ci_probs=(0.5, mass),
        labels=["expert"],
        xlabel=f"{xlabel}\n{_interval_note(mass)}",
        width=5.0,  # shown two side by side on the experts page
    )
    axes.axvline(0.0 if quantity == "bias" else 1.0, color="#57606a", linewidth=0.8, zorder=0)
    return figure


# --- Dot charts (matplotlib: ArviZ draws no charts of raw answers) ---------------------


def pooled_dots(result: dict):
    """A pool run: each question's pooled value (large dot) and every baseline."""
    method = result["method"]
    questions = list(result["questions"])
    y = np.arange(len(questions))[::-1]
    figure, axes = plt.subplots(figsize=(WIDTH, 1.0 + ROW * max(len(questions), 3)))
    handles = []
    for name, (marker, colour) in BASELINE_MARKERS.items():
        values = [result["questions"][q]["baselines"].get(name) for q in questions]
        chosen = name == method
        axes.scatter(
            np.array(values, dtype=float),
            y,
            marker="o" if chosen else marker,
            s=60 if chosen else 18,
            color="C0" if chosen else colour,
            zorder=3 if chosen else 2,
            alpha=1.0 if chosen else 0.7,
            linewidths=0,
        )
        label = _(BASELINE_LABELS[name]) + (_(" (this run)") if chosen else "")
        handles.append(
            Line2D([], [], linestyle="none", marker="o" if chosen else marker, label=label,
                   color="C0" if chosen else colour)
        )  # fmt: skip
    axes.set_yticks(y, questions)
    axes.set_ylim(-0.7, len(questions) - 0.3)
    axes.set_xlim(-0.02, 1.02)
    axes.set_xlabel(_("Pooled probability"))
    axes.grid(axis="x", color="#d0d7de", linewidth=0.6)
    axes.set_axisbelow(True)
    _legend_above(axes, handles)
    return figure


def question_strip(code: str, answers, entry: dict, shown: list[str], result: dict):
    """One question: every answer as a dot in its cohort's row, the posteriors over them.

    Rows from the top: the consensus (its interval also shades the whole chart), each shown
    cohort with its posterior interval, then "other" (answers of small cohorts) if any.
    """
    rng = np.random.default_rng(0)  # fixed jitter: the same answers draw the same figure
    labels = answers["cohort"].map(lambda c: cohort_label(str(c), shown))
    rows = ["Consensus", *[c for c in shown if (labels == c).any()]]
    if (labels == OTHER_COHORT).any():
        rows.append(OTHER_COHORT)
    y_of = {row: len(rows) - 1 - k for k, row in enumerate(rows)}
    figure, axes = plt.subplots(figsize=(WIDTH, 0.9 + 0.55 * len(rows)))
    consensus = entry["consensus"]
    interval = consensus.get("interval")
    if interval:
        axes.axvspan(*interval, color=CONSENSUS_COLOUR, alpha=0.07, linewidth=0, zorder=0)
    for row in rows[1:]:
        values = answers["probability"][labels == row].to_numpy(dtype=float)
        colour = OTHER_COLOUR if row == OTHER_COHORT else f"C{shown.index(row)}"
        jitter = rng.uniform(-0.18, 0.18, size=values.size)
        axes.scatter(values, y_of[row] + jitter, s=22, color=colour, alpha=0.55, linewidths=0)
        posterior = (entry.get("cohorts") or {}).get(row)
        if posterior and row != OTHER_COHORT:
            _interval(axes, posterior, y_of[row] - 0.32, colour)
    _interval(axes, consensus, y_of["Consensus"], CONSENSUS_COLOUR)
    if not interval:  # a pool: a point, drawn as a line through every row
        axes.axvline(consensus["mean"], color=CONSENSUS_COLOUR, linewidth=1, zorder=1)
    counts = {row: int((labels == row).sum()) for row in rows[1:]}
    axes.set_yticks(
        [y_of[r] for r in rows],
        [_("Consensus") if r == "Consensus" else f"{r} ({counts[r]})" for r in rows],
    )
    axes.set_ylim(-0.6, len(rows) - 0.4)
    axes.set_xlim(-0.02, 1.02)
    mass = result.get("interval_mass", 0.9)
    if interval:
        label = _(
            "%(code)s: probability (dots: answers, by cohort; lines: posterior mean and "
            "%(percent)s interval)"
        ) % {"code": code, "percent": _percent(mass)}
    else:
        label = _("%(code)s: probability (dots: answers, by cohort)") % {"code": code}
    axes.set_xlabel(label)
    axes.grid(axis="x", color="#d0d7de", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure


def _interval(axes, point: dict, y: float, colour: str) -> None:
    interval = point.get("interval")
    if interval:
        axes.plot(interval, [y, y], color=colour, linewidth=2.5, solid_capstyle="butt", zorder=4)
    axes.scatter(
        [point["mean"]], [y], s=45, color="white", edgecolors=colour, linewidths=1.6, zorder=5
    )


# --- Two rounds --------------------------------------------------------------------------------


def _dumbbells(
    labels: list[str], pairs: list[tuple], *, height: float, offset: float, arrow: str, xlabel: str
):
    """Rows of two estimates of a probability, one row per label, the first row at the top.

    ``pairs``: per row ((first, colour, face), (second, colour, face)), each estimate
    {mean, interval}; the first's interval is drawn ``offset`` above the row's line, the
    second's ``offset`` below, and an arrow of colour ``arrow`` goes from the first to the
    second when they are further apart than its head. Returns (figure, axes).
    """  # fmt: skip
    figure, axes = plt.subplots(figsize=(WIDTH, height))
    heights = [label.count("\n") + 1.6 for label in labels]
    y, ticks = 0.0, []
    for row_height in reversed(heights):
        ticks.append(y + row_height / 2)
        y += row_height
    ticks.reverse()
    for ((start, *first_style), (end, *second_style)), centre in zip(pairs, ticks, strict=True):
        for point, shift, (colour, face) in (
            (start, offset, first_style),
            (end, -offset, second_style),
        ):
            interval = point.get("interval")
            if interval:
                axes.plot(interval, [centre + shift] * 2, color=colour, linewidth=1.6,
                          solid_capstyle="butt", zorder=2)  # fmt: skip
            axes.scatter([point["mean"]], [centre + shift], s=36, color=face,
                         edgecolors=colour, linewidths=1.5, zorder=4)  # fmt: skip
        if abs(end["mean"] - start["mean"]) > 0.002:  # shorter than the arrowhead: no arrow
            axes.annotate(
                "",
                xy=(end["mean"], centre - offset),
                xytext=(start["mean"], centre + offset),
                arrowprops={"arrowstyle": "-|>", "color": arrow, "linewidth": 1.0,
                            "shrinkA": 4, "shrinkB": 4},
                zorder=3,
            )  # fmt: skip
    axes.set_yticks(ticks, labels)
    axes.tick_params(axis="y", length=0, labelsize=8.5)
    axes.set_ylim(-0.2, y + 0.2)
    axes.set_xlim(-0.02, 1.02)
    axes.set_xlabel(xlabel)
    axes.grid(axis="x", color="#d0d7de", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure, axes


def rounds_chart(rows: list[dict], *, first: str, last: str, mass: float):
    """Each question's consensus in two rounds, one row a question in the order given.

    ``rows``: dicts with ``label`` (the question's text), ``first`` and ``last`` (a round's
    consensus: {mean, interval}) and ``shift`` (the paired change: {mean, interval}).
    The earlier round is a hollow grey dot with its interval just above the row's line, the
    later a blue dot with its interval just below, and an arrow goes from one to the other.
    """
    n = len(rows)
    labels = [_wrapped(row["label"]) for row in rows]
    lines = sum(label.count("\n") + 1 for label in labels)
    figure, axes = _dumbbells(
        labels,
        [
            ((row["first"], FIRST_ROUND_COLOUR, "white"),
             (row["last"], LAST_ROUND_COLOUR, LAST_ROUND_COLOUR))
            for row in rows
        ],
        height=1.2 + 0.2 * lines + 0.12 * max(n, 3),
        offset=0.35,
        arrow="#1b1f24",
        xlabel=_("Consensus probability (dot: posterior mean; line: %(percent)s interval)")
        % {"percent": _percent(mass)},
    )  # fmt: skip
    handles = [
        Line2D([], [], color=FIRST_ROUND_COLOUR, marker="o", markerfacecolor="white",
               label=_("Round %(number)s") % {"number": first}),
        Line2D([], [], color=LAST_ROUND_COLOUR, marker="o",
               label=_("Round %(number)s") % {"number": last}),
        Line2D([], [], color="#1b1f24", marker=">", markersize=5,
               label=_("Change (questions sorted by it, largest rise first)")),
    ]  # fmt: skip
    _legend_above(axes, handles)
    return figure


def perception_chart(rows: list[dict], *, mass: float):
    """How each cohort expected another to answer, against what that cohort believes; one
    row a (question, pair) in the order given (the caller sorts, most misjudged first).

    ``rows``: dicts with ``label`` (the question's text), ``by`` and ``of`` (the cohorts),
    ``actual`` (the belief of ``of``) and ``predicted`` (what ``by`` expected), each
    {mean, interval} as probabilities. The actual belief is a dark dot with its interval
    just above the row's line, the expectation an orange hollow dot with its interval just
    below, and an arrow goes from the belief to the expectation: the misperception.
    """
    labels = [
        _wrapped(row["label"], lines=2)
        + "\n"
        + _("%(by)s expected of %(of)s") % {"by": row["by"], "of": row["of"]}
        for row in rows
    ]
    heights = [label.count("\n") + 1.6 for label in labels]
    figure, axes = _dumbbells(
        labels,
        [
            ((row["actual"], ACTUAL_COLOUR, ACTUAL_COLOUR),
             (row["predicted"], EXPECTED_COLOUR, "white"))
            for row in rows
        ],
        height=1.2 + 0.2 * sum(heights) + 0.05 * len(rows),
        offset=0.3,
        arrow=EXPECTED_COLOUR,
        xlabel=_("Probability (dot: posterior mean; line: %(percent)s interval)")
        % {"percent": _percent(mass)},
    )  # fmt: skip
    handles = [
        Line2D([], [], color=ACTUAL_COLOUR, marker="o",
               label=_("What the cohort believes")),
        Line2D([], [], color=EXPECTED_COLOUR, marker="o", markerfacecolor="white",
               label=_("What the other cohort expected it to answer")),
        Line2D([], [], color=EXPECTED_COLOUR, marker=">", markersize=5,
               label=_("Misperception (most misjudged first)")),
    ]  # fmt: skip
    axes.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2,
                frameon=False, fontsize=9, borderaxespad=0.3)  # fmt: skip
    return figure


def _wrapped(text: str, width: int = 48, lines: int = 3) -> str:
    """A question's text on at most ``lines`` lines of ``width`` characters (cut with …)."""
    return "\n".join(textwrap.wrap(" ".join(text.split()), width, max_lines=lines,
                                   placeholder=" …"))  # fmt: skip


# --- Numeric questions ---------------------------------------------------------------------------


def range_chart(code: str, answers, entry: dict, shown: list[str], known, unit: str):
    """Every expert's 5–95 % range and median, grouped by cohort, with the aggregates.

    Rows from the top: the model's forecast (not for a question whose value is known: there
    the forecast is that value), Cooke's equal-weight and global decision makers, then each
    shown cohort's experts sorted by their median, then "other".
    """
    labels = answers["cohort"].map(lambda c: cohort_label(str(c), shown))
    groups = [c for c in shown if (labels == c).any()]
    if (labels == OTHER_COHORT).any():
        groups.append(OTHER_COHORT)
    seed = bool(entry.get("seed"))
    forecast = None if seed else entry.get("forecast")
    aggregates = [(_("Model forecast"), forecast, FORECAST_COLOUR)] if forecast else []
    for key, colour in DRAWN_DECISION_MAKERS.items():
        triple = (entry.get("baselines") or {}).get(key)
        if triple:
            aggregates.append((_(DECISION_MAKER_LABELS[key]), triple, colour))
    n_experts = len(answers)
    height = 1.3 + AGGREGATE_ROW * len(aggregates) + EXPERT_ROW * max(n_experts, 4)
    height += 0.1 * len(groups)
    figure, axes = plt.subplots(figsize=(WIDTH, height))
    # y: experts at 0..n-1 from the bottom, a gap, then the aggregates above them
    y, ticks, tick_labels = 0.0, [], []
    for k, group in enumerate(reversed(groups)):
        members = answers[labels == group].sort_values("q50", ascending=False)
        colour = OTHER_COLOUR if group == OTHER_COHORT else f"C{shown.index(group)}"
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
    _legend_above(axes, handles)
    return figure


def expert_chart(result: dict, quantity: str, experts: list[str]):
    """Each expert's confidence ratio (log axis, 1 marked) or bias (0 marked) with its
    interval, by anonymised code, the largest at the top."""
    points = {code: result["experts"][code][quantity] for code in experts}
    ranked = sorted(experts, key=lambda code: points[code]["mean"])
    y = np.arange(len(ranked))
    figure, axes = plt.subplots(figsize=(5.0, 1.1 + ROW * max(len(ranked), 3)))
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
    mass = _percent(result.get("interval_mass", 0.9))
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
