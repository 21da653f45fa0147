"""What a run's report shows: its figures (ArviZ / arviz-plots, saved as SVG files) and
its tables (numbers as printed, built here and rendered by the views).

``figures_render`` is called by the worker after a fit; the files live under MEDIA_ROOT
and are served through the report views, which check who may read them. Figure names are
stable (the views and the downloads refer to them):

- hierarchical runs: ``consensus`` (forest of every question's consensus, baselines beside
  it), ``disagreement`` (forest, most contested first), ``cohorts`` (each question's cohort
  beliefs side by side, most divergent first; only with two cohorts large enough to show),
  ``expert-bias`` and ``expert-noise`` (forests by anonymised code);
- pool runs: ``pooled`` (a dot chart of the pooled value and every baseline);
- both: ``question-<code>`` for every question (each answer as a dot by cohort, jittered,
  with the consensus and the cohort posteriors over them).

Cohorts with fewer than ``settings.REPORT_MIN_COHORT_SIZE`` experts would identify people:
they never get a row, a colour or an interval of their own; their answers are drawn in
one grey row, "other".
"""

import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # workers have no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr
from django.conf import settings  # noqa: E402
from django.utils import translation  # noqa: E402
from django.utils.translation import gettext as _  # noqa: E402
from django.utils.translation import gettext_noop  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from scipy.special import expit  # noqa: E402

from aggregation.engine.data import JudgmentTable  # noqa: E402
from aggregation.engine.hierarchical import HierarchicalFit  # noqa: E402
from aggregation.engine.summary import ESS_BULK_MIN, RHAT_MAX, derived_draws  # noqa: E402
from aggregation.models import QuestionResult  # noqa: E402

OTHER_COHORT = "other"
WITHHELD_COHORT = "withheld"  # per-expert cohort not shown: see expert_cohort_labels
# Marked for translation and translated where a figure is drawn (gettext_noop keeps them
# plain strings for the pages that print them).
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
OTHER_COLOUR = "#8c959f"
CONSENSUS_COLOUR = "#1b1f24"  # cohorts take C0, C1, ... as in the cohort forest
WIDTH = 7.5  # inches: about the width of a report page at 100 % zoom
ROW = 0.26  # inches per row of a forest or dot chart


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


# --- Cohorts that may be shown -------------------------------------------------------------


def cohorts_shown(sizes: dict[str, int]) -> list[str]:
    """The cohorts with enough experts to be shown separately, in a stable order."""
    return sorted(c for c, n in sizes.items() if n >= settings.REPORT_MIN_COHORT_SIZE)


def cohort_label(cohort: str, shown: list[str]) -> str:
    """The cohort as a report may print it: small cohorts are merged into "other"."""
    return cohort if cohort in shown else OTHER_COHORT


def expert_cohort_labels(sizes: dict[str, int]) -> dict[str, str]:
    """What a per-expert listing may print as each cohort (cohort -> label).

    Small cohorts are merged into "other"; if "other" is itself smaller than the threshold
    (one lone Japanese expert, say), printing it next to an expert code would point at that
    person, so per-expert listings withhold every expert's cohort instead.
    """
    shown = cohorts_shown(sizes)
    merged = sum(n for cohort, n in sizes.items() if cohort not in shown)
    if 0 < merged < settings.REPORT_MIN_COHORT_SIZE:
        return dict.fromkeys(sizes, WITHHELD_COHORT)
    return {cohort: cohort_label(cohort, shown) for cohort in sizes}


def cohort_sizes_of_table(table: JudgmentTable) -> dict[str, int]:
    experts = table.frame.drop_duplicates("expert")
    return {str(c): int(n) for c, n in experts.groupby("cohort").size().items()}


def cohort_sizes_of_result(result: dict) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for expert in (result.get("experts") or {}).values():
        sizes[expert["cohort"]] = sizes.get(expert["cohort"], 0) + 1
    return sizes


def gaps_shown(entry: dict, shown: list[str]) -> list[dict]:
    """A question's cohort gaps between shown cohorts only."""
    return [g for g in entry.get("cohort_gaps") or [] if g["a"] in shown and g["b"] in shown]


def largest_gap(entry: dict, shown: list[str]) -> float:
    return max((abs(g["mean"]) for g in gaps_shown(entry, shown)), default=0.0)


def question_figure_name(code: str) -> str:
    """The figure name of a question's dot strip (safe in a URL and a file name)."""
    return "question-" + re.sub(r"[^A-Za-z0-9_-]", "_", code)


# --- Rendering -------------------------------------------------------------------------------


def figures_render(
    *, result: dict, fit: HierarchicalFit | None, table: JudgmentTable, folder: Path
) -> dict[str, str]:
    """Draw the run's figures into MEDIA_ROOT/folder; returns name -> path under MEDIA_ROOT."""
    (Path(settings.MEDIA_ROOT) / folder).mkdir(parents=True, exist_ok=True)
    shown = cohorts_shown(cohort_sizes_of_table(table))
    drawings = {}
    if result["method"] == "linked_rounds":
        posterior = fit.posterior["posterior"].to_dataset()
        shift = {"consensus-shift": lambda: consensus_shift_forest(posterior, result)}
        return _draw_in_every_language(shift, folder)
    if fit is not None:
        posterior = fit.posterior["posterior"].to_dataset()
        draws = derived_draws(posterior, [str(c) for c in posterior["cohort"].values])
        drawings["consensus"] = lambda: consensus_forest(draws, result)
        drawings["disagreement"] = lambda: disagreement_forest(draws, result)
        if len(shown) >= 2:
            drawings["cohorts"] = lambda: cohort_forest(draws, result, shown)
        experts = _experts_with_bias(result, shown)
        if experts:
            drawings["expert-bias"] = lambda: expert_forest(draws, "bias", experts, result)
        everyone = list(result["experts"])
        drawings["expert-noise"] = lambda: expert_forest(draws, "noise", everyone, result)
    else:
        drawings["pooled"] = lambda: pooled_dots(result)
    frame = table.frame
    for code in table.questions:
        answers = frame[frame["question"] == code]
        entry = result["questions"][code]
        drawings[question_figure_name(code)] = lambda answers=answers, entry=entry, code=code: (
            question_strip(code, answers, entry, shown, result)
        )
    return _draw_in_every_language(drawings, folder)


def localized_figure_name(name: str, language: str) -> str:
    """The name of a figure's drawing in ``language`` (the site's language: the name)."""
    return name if language == settings.LANGUAGE_CODE else f"{name}__{language}"


def _draw_in_every_language(drawings: dict, folder: Path) -> dict[str, str]:
    """Each figure once per site language, its labels translated (``name__ko``)."""
    figures = {}
    for language, _label in settings.LANGUAGES:
        with translation.override(language), plt.rc_context(STYLE):
            for name, draw in drawings.items():
                localized = localized_figure_name(name, language)
                figures[localized] = _save(draw(), folder / f"{localized}.svg")
    return figures


def _save(figure, relative: Path) -> str:
    figure.savefig(
        Path(settings.MEDIA_ROOT) / relative,
        format="svg",
        bbox_inches="tight",
        metadata={"Date": None},  # no timestamp: the same run draws the same file
    )
    plt.close(figure)
    return str(relative)


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
    """Bias or noise of each expert (anonymised code), largest at the top."""
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


# --- Tables of the report pages (numbers as printed; the views render them) -------------

QUANTITY_LABELS = {
    "consensus": "Consensus",
    "disagreement": "Disagreement",
    "cohort_belief": "Cohort beliefs",
    "cohort_gap": "Cohort gaps",
    "bias": "Expert bias",
    "noise": "Expert noise",
    # the numeric model's (aggregation.engine.numeric.summarize_numeric)
    "forecast": "Forecasts",
    "median": "Typical expert's medians",
    "cohort_median": "Cohort medians",
    "confidence_ratio": "Confidence ratios",
    "shared_error": "Shared error",
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


def consensus_row(result: QuestionResult) -> dict:
    return {
        "result": result,
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
        for gap in gaps_shown({"cohort_gaps": result.cohort_gaps}, shown)
    ]


def cohort_table(results: list[QuestionResult], shown: list[str]) -> list[dict]:
    """Each question's shown cohorts and the gaps between them, most divergent first."""
    rows = [
        {
            "result": r,
            "cohorts": [Estimate.of(r.cohorts.get(c)) for c in shown],
            "gaps": gap_rows(r, shown),
            "largest": largest_gap({"cohort_gaps": r.cohort_gaps}, shown),
        }
        for r in results
    ]
    return sorted((row for row in rows if row["gaps"]), key=lambda row: -row["largest"])


def hidden_cohort_count(result: dict, shown: list[str]) -> int:
    return sum(1 for cohort in cohort_sizes_of_result(result) if cohort not in shown)


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
