"""Honest comparison of aggregation methods: K-fold cross-validation over questions.

The resolved questions are dealt into K folds (sorted by label, shuffled by a seeded
permutation, dealt round-robin, so the assignment depends on the seed and the question
labels only). Every method forecasts every resolved question, and is scored on them:

- the closed-form pools (``pooling``: linear_pool, median, logodds_mean,
  extremized_logodds with the default factor) use no outcomes, so their cross-validated
  forecast is just their forecast;
- hierarchical: expit(mu_j) of ``BinaryHierarchicalModel``, its posterior mean, fitted
  ONCE on all judgments. That is allowed only because the model never sees an outcome: it
  is a function of the judgments alone, like a pool;
- base_rate: the frequency of "yes" among the training folds' questions (a reference that
  knows nothing about the question itself);
- surprisingly_popular: where experts also predicted each cohort's average answer
  (meta-predictions), Palley & Soll's pivot 2 p_bar - m_bar (``perception.pivot_forecasts``):
  like a pool it reads no outcome. It is scored beside every other method on the questions
  that have meta-predictions (``result["surprisingly_popular"]``), with the hit rate of
  the surprisingly popular answer against the majority's, and joins the main table when
  every resolved question has them;
- recalibrated: the LLO recalibration (``recalibration.LLORecalibration``) of the log-odds
  mean, fitted for each fold k on the outcomes of the OTHER folds only and predicting fold
  k (its posterior predictive mean). ``forecast``, the panel forecast the report leads
  with (``recalibration.panel_forecasts``), does the same to the hierarchical consensus.
- ``learning_curve``: every method again with each fold's training set cut to k = 0, 5,
  10, 20 questions (a seeded subset of that fold's training questions) and all of them:
  how many resolved questions the calibration needs before it pays.

How leakage is ruled out: ``fold_forecasts`` is the only code that reads outcomes for a
fit, and it reads exactly the training questions' outcomes (``outcomes[q]`` for q in
train); the held-out outcomes are never passed to the recalibration. Each fold's sampler
seed depends only on (seed, fold), so flipping the held-out fold's outcomes leaves its
forecasts bit-identical; tests/aggregation/engine/test_evaluation.py proves both (a
sentinel mapping that raises when a held-out outcome is read, and the flip).

Scores (``scoring``): Brier (lower is better), log score (natural log, <= 0, higher is
better) and AUC per method over the n resolved questions, plus reliability-curve data with
Jeffreys intervals, and each method's difference from the log-odds mean with a paired
interval (``compare_methods``). Deterministic given the seed.
"""

import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import logit as scipy_logit

from aggregation.engine.data import JudgmentTable
from aggregation.engine.perception import pivot_forecasts
from aggregation.engine.pooling import DEFAULT_EXTREMIZE_FACTOR, POOLS, pool_questions
from aggregation.engine.recalibration import LLORecalibration, aggregate_logodds
from aggregation.engine.scoring import (
    as_outcome_frame,
    brier_scores,
    calibration_curve,
    json_safe,
    log_scores,
    paired_difference,
    score_methods,
)

POOL_METHODS = tuple(POOLS)
METHODS = (
    *POOL_METHODS,
    "hierarchical",
    "base_rate",
    "recalibrated",
    "forecast",
    "surprisingly_popular",
)
# Posterior means are all the evaluation needs, but its diagnostics are printed with it:
# 500 draws a chain left pooledmaRket's consensus at R-hat 1.013 (bulk ESS 390), a warning
# on every evaluation; 1,000 cost a second more. With version 5's slopes and the model's
# own tuning (500 draws, spec.py) pooledmaRket's consensus has R-hat 1.006, bulk ESS 1,079.
EVALUATION_HIERARCHICAL_SAMPLER: dict = {"chains": 4, "tune": 500, "draws": 1000}

ProgressCallback = Callable[[str, float], None]


class EvaluationError(ValueError):
    """The judgments and outcomes cannot be cross-validated (one clear reason)."""


def assign_folds(questions: Sequence[str], n_folds: int, *, seed: int) -> pd.Series:
    """Fold (0..n_folds-1) of each question: sorted, shuffled by ``seed``, dealt round-robin.

    Returns
    -------
    (n_questions,) int Series indexed by question (sorted); fold sizes differ by at most 1.
    """
    questions = sorted(str(q) for q in questions)
    if n_folds < 2:
        raise EvaluationError(f"cross-validation needs at least 2 folds, got {n_folds}")
    if n_folds > len(questions):
        raise EvaluationError(
            f"{n_folds} folds but only {len(questions)} resolved questions with judgments; "
            "use at most one fold per question"
        )
    order = np.random.default_rng(seed).permutation(len(questions))
    folds = np.empty(len(questions), dtype=np.int64)
    folds[order] = np.arange(len(questions)) % n_folds
    return pd.Series(folds, index=pd.Index(questions, name="question"), name="fold")


def fold_seed(seed: int, fold: int) -> int:
    """The sampler seed of one fold: a function of (seed, fold) only, never of the data."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])


def fold_forecasts(
    logodds: pd.Series,
    outcomes: Mapping[str, int],
    train: Sequence[str],
    test: Sequence[str],
    *,
    recalibration: LLORecalibration,
    random_seed: int,
    groups: Mapping[str, str] | None = None,
    interval_mass: float = 0.9,
):
    """Fit the recalibration on the training questions and forecast the test questions.

    Parameters
    ----------
    logodds : aggregate log-odds indexed by question (train and test).
    outcomes : question -> 0/1. ONLY ``outcomes[q]`` for q in ``train`` is read.
    train, test : question labels.
    groups : question -> group label, or None.

    Returns
    -------
    (forecasts, fit): DataFrame indexed by the test questions (mean, lower, upper) and the
    RecalibrationFit.
    """
    train, test = list(train), list(test)
    train_outcomes = np.array([int(outcomes[q]) for q in train], dtype=np.int64)
    fit = recalibration.fit(
        logodds.loc[train].to_numpy(),
        train_outcomes,
        groups=[groups[q] for q in train] if groups is not None else None,
        questions=train,
        random_seed=random_seed,
    )
    forecasts = fit.predict(
        logodds.loc[test].to_numpy(),
        groups=[groups[q] for q in test] if groups is not None else None,
        questions=test,
        interval_mass=interval_mass,
        random_seed=random_seed,
    )
    return forecasts, fit


def out_of_fold_recalibration(
    logodds: pd.Series,
    outcomes: Mapping[str, int],
    folds: pd.Series,
    *,
    seed: int,
    recalibration: LLORecalibration | None = None,
    groups: Mapping[str, str] | None = None,
    interval_mass: float = 0.9,
    progress: ProgressCallback | None = None,
    label: str = "recalibration",
    train_size: int | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Forecast every question of ``folds`` by a recalibration fitted on the other folds
    (on ``train_size`` of them, a seeded subset, when given: the learning curve).

    Returns
    -------
    (forecasts, per_fold): DataFrame indexed by question (mean, lower, upper, fold) and,
    per fold, the fit's summary (n_resolved, gamma, tau, diagnostics).
    """
    recalibration = recalibration or LLORecalibration()
    notify = progress or (lambda phase, fraction: None)
    parts, per_fold = [], []
    n_folds = int(folds.max()) + 1
    notify(label, 0.0)
    for k in range(n_folds):
        test = folds.index[folds == k].tolist()
        train = training_subset(folds.index[folds != k].tolist(), train_size, seed=seed, fold=k)
        forecasts, fit = fold_forecasts(
            logodds,
            outcomes,
            train,
            test,
            recalibration=recalibration,
            random_seed=fold_seed(seed, k),
            groups=groups,
            interval_mass=interval_mass,
        )
        parts.append(forecasts.assign(fold=k))
        summary = fit.summary(interval_mass) if hasattr(fit, "summary") else {}
        per_fold.append({"fold": k, "n_test": len(test), **summary})
        notify(label, (k + 1) / n_folds)
    return pd.concat(parts).sort_index(), per_fold


def hierarchical_consensus(
    table: JudgmentTable,
    *,
    random_seed: int,
    sampler_config: dict | None = None,
    progress: ProgressCallback | None = None,
    fit=None,
) -> tuple[pd.DataFrame, dict]:
    """The hierarchical model's consensus per question, from judgments alone.

    Parameters
    ----------
    fit : a HierarchicalFit of ``table`` to reuse; fitted here when None.

    Returns
    -------
    (frame, info): frame indexed by question with columns probability (posterior mean of
    expit(mu_j)) and logodds (posterior mean of mu_j); info holds the diagnostics of the
    consensus, the sampler configuration and the timings.
    """
    from aggregation.engine.hierarchical import BinaryHierarchicalModel
    from aggregation.engine.summary import answered_cells, derived_draws, diagnostics

    if fit is None:
        model = BinaryHierarchicalModel(
            sampler_config={**EVALUATION_HIERARCHICAL_SAMPLER, **(sampler_config or {})}
        )
        fit = model.fit(table, random_seed=random_seed, progress=progress)
    tree = fit.posterior
    posterior = tree["posterior"].to_dataset()
    draws = derived_draws(
        posterior, [str(c) for c in posterior["cohort"].values], answered_cells(tree)
    )
    frame = pd.DataFrame(
        {
            "probability": draws["consensus"].mean(("chain", "draw")).to_series(),
            # the log-odds of the consensus, unclipped (scipy's logit, not data.logit)
            "logodds": xr.apply_ufunc(scipy_logit, draws["consensus"])
            .mean(("chain", "draw"))
            .to_series(),
        }
    )
    frame.index = frame.index.astype(str).rename("question")
    diag = diagnostics(draws[["consensus"]], tree["sample_stats"].to_dataset())
    info = {
        "note": (
            "fitted once on all judgments: the model never sees an outcome, so no fold "
            "can learn from a held-out question through it"
        ),
        "sampler_config": json_safe(_json_attr(tree.attrs.get("sampler_config"))),
        "diagnostics": {
            "max_rhat": diag["max_rhat"],
            "min_ess_bulk": diag["min_ess_bulk"],
            "divergences": diag["divergences"],
            "warnings": diag["warnings"],
        },
        "compile_seconds": float(tree.attrs.get("compile_seconds", 0.0)),
        "sampling_seconds": float(tree.attrs.get("sampling_seconds", 0.0)),
    }
    return frame, info


def cross_validate(
    table: JudgmentTable,
    outcomes: pd.DataFrame | pd.Series | Mapping[str, int],
    *,
    n_folds: int = 10,
    seed: int = 0,
    hierarchical: bool = True,
    hierarchical_fit=None,
    hierarchical_sampler: dict | None = None,
    recalibration: LLORecalibration | None = None,
    extremize_factor: float = DEFAULT_EXTREMIZE_FACTOR,
    interval_mass: float = 0.9,
    n_bins: int = 10,
    progress: ProgressCallback | None = None,
    learning_curve_sizes: Sequence[int | None] | None = None,
) -> dict:
    """K-fold cross-validation over questions of every method; the scores as plain data.

    Parameters
    ----------
    table : judgments of one round (open questions, without an outcome, are left out).
    outcomes : ``scoring.outcomes_from_frame`` output (outcome and optional group
        columns: a non-empty group makes the recalibration hierarchical over groups), a
        Series or a mapping question -> 0/1.
    n_folds : K.
    seed : seeds the fold assignment, the hierarchical sampler and each fold's
        recalibration sampler; same inputs and seed, same result.
    hierarchical : also fit the hierarchical model (once, on all judgments), or reuse
        ``hierarchical_fit``.
    recalibration : the LLORecalibration to use (its configs); default settings if None.
    learning_curve_sizes : also score every method with each fold trained on k questions,
        for each k given (None: all), in ``result["learning_curve"]``.

    Returns
    -------
    {"methods": {name: {"brier", "log_score", "auc", "n"}}, "comparisons": each method's
    scores minus the log-odds mean's (``compare_methods``), "calibration": {name: curve},
    "predictions": {name: {question: p}}, "recalibration": {...}, "hierarchical": {...} or
    None, "folds": {...}, "n_questions", "n_judgments", "open_questions",
    "outcomes_without_judgments"}; NaN scores (e.g. AUC with one outcome) are None.
    """
    if len(table.rounds) != 1:
        raise EvaluationError("evaluate one round at a time (use table.for_round(n))")
    resolved = as_outcome_frame(outcomes)
    judged = table.questions
    questions = sorted(set(judged) & set(resolved.index))
    if not questions:
        raise EvaluationError(
            "no question has both judgments and an outcome; check that the question labels "
            "of the two files match"
        )
    folds = assign_folds(questions, n_folds, seed=seed)
    y = resolved.loc[questions, "outcome"].astype(int)
    outcome_of = y.to_dict()
    grouped = bool((resolved.loc[questions, "group"] != "").any())
    groups = resolved.loc[questions, "group"].to_dict() if grouped else None
    resolved_table = JudgmentTable(
        table.frame[table.frame["question"].isin(questions)].reset_index(drop=True)
    )

    forecasts = pd.DataFrame(index=pd.Index(questions, name="question"))
    for method in POOL_METHODS:
        pooled = pool_questions(resolved_table, method, extremize_factor=extremize_factor)
        forecasts[method] = pd.Series(pooled)
    forecasts["base_rate"] = _base_rate(y, folds)

    recalibration = recalibration or LLORecalibration()
    logodds = aggregate_logodds(resolved_table)
    recalibrated, per_fold = out_of_fold_recalibration(
        logodds,
        outcome_of,
        folds,
        seed=seed,
        recalibration=recalibration,
        groups=groups,
        interval_mass=interval_mass,
        progress=progress,
    )
    forecasts["recalibrated"] = recalibrated["mean"]
    intervals = {"recalibrated": recalibrated}

    hierarchical_info = None
    if hierarchical or hierarchical_fit is not None:
        # fitted on ALL judgments (open questions too): it never reads an outcome
        consensus, hierarchical_info = hierarchical_consensus(
            table,
            random_seed=seed,
            sampler_config=hierarchical_sampler,
            progress=progress,
            fit=hierarchical_fit,
        )
        forecasts["hierarchical"] = consensus.loc[questions, "probability"]
        recal_h, per_fold_h = out_of_fold_recalibration(
            consensus.loc[questions, "logodds"],
            outcome_of,
            folds,
            seed=seed,
            recalibration=recalibration,
            groups=groups,
            interval_mass=interval_mass,
            progress=progress,
            label="the panel forecast (recalibrated hierarchical consensus)",
        )
        forecasts["forecast"] = recal_h["mean"]
        intervals["forecast"] = recal_h
        hierarchical_info["recalibration_folds"] = [_fold_line(f) for f in per_fold_h]

    forecasts = forecasts[[m for m in METHODS if m in forecasts.columns]]
    curve = None
    if learning_curve_sizes:
        inputs = {"recalibrated": logodds}
        if "forecast" in forecasts.columns:
            inputs["forecast"] = consensus.loc[questions, "logodds"]
        curve = learning_curve(
            forecasts,
            inputs,
            y,
            folds,
            seed=seed,
            recalibration=recalibration,
            groups=groups,
            sizes=learning_curve_sizes,
            progress=progress,
        )
    meta_block = _surprisingly_popular(resolved_table, forecasts, y)
    if meta_block and meta_block["n_questions"] == len(questions):
        forecasts["surprisingly_popular"] = pd.Series(meta_block.pop("pivot"))
    elif meta_block:
        meta_block.pop("pivot")
    scores = score_methods(forecasts, y)
    comparisons = compare_methods(forecasts, y, mass=interval_mass)
    curves = {
        method: calibration_curve(
            forecasts[method].to_numpy(), y.to_numpy(), n_bins=n_bins, interval_mass=interval_mass
        ).to_dict()
        for method in forecasts.columns
    }
    predictions = {
        method: {q: round(float(p), 6) for q, p in forecasts[method].items()}
        for method in forecasts.columns
    }
    prior = per_fold[0].get("prior") if per_fold else None
    result = {
        "methods": scores,
        "comparisons": comparisons,
        "calibration": curves,
        "predictions": predictions,
        "intervals": {
            method: {
                q: [round(float(row.lower), 6), round(float(row.upper), 6)]
                for q, row in frame.iterrows()
            }
            for method, frame in intervals.items()
        },
        "recalibration": {
            "input": "logodds_mean",
            "model": per_fold[0].get("model") if per_fold else None,
            "grouped_by": "group column of the outcomes" if grouped else None,
            "prior": prior,
            "config": recalibration.model_config,
            "folds": [_fold_line(f) for f in per_fold],
        },
        "hierarchical": hierarchical_info,
        "surprisingly_popular": meta_block,
        "learning_curve": curve,
        "folds": {
            "n_folds": n_folds,
            "seed": seed,
            "assignment": {q: int(k) for q, k in folds.items()},
        },
        "interval_mass": interval_mass,
        "extremize_factor": extremize_factor,
        "n_questions": len(questions),
        "n_events": int(y.sum()),
        "n_judgments": len(resolved_table),
        "open_questions": sorted(set(judged) - set(resolved.index)),
        "outcomes_without_judgments": sorted(set(resolved.index) - set(judged)),
    }
    return json_safe(result)


COMPARISON_REFERENCE = "logodds_mean"  # the simplest pool that issue 11 asks to beat


def compare_methods(forecasts: pd.DataFrame, y: pd.Series, *, mass: float = 0.9) -> dict:
    """Each method's Brier and log score minus the log-odds mean's, question by question,
    with a paired interval (``scoring.paired_difference``): whether a method's lead is
    more than the luck of which questions were asked. It treats the questions as
    independent; the questions of one fold share their recalibration, and which fold a
    question falls in moves the recalibrated scores too (by about 0.007 of Brier on
    pooledmaRket over fold seeds 0-9, bench/README.md), which the interval does not
    cover. A negative Brier difference and a positive log-score difference favour the
    method."""
    if COMPARISON_REFERENCE not in forecasts.columns:
        return {}
    out = {"reference": COMPARISON_REFERENCE, "mass": mass, "brier": {}, "log_score": {}}
    for method in forecasts.columns:
        if method == COMPARISON_REFERENCE:
            continue
        both = forecasts[[method, COMPARISON_REFERENCE]].dropna()
        both = both[both.index.isin(y.index)]
        outcome = y[both.index].to_numpy()
        for name, score in (("brier", brier_scores), ("log_score", log_scores)):
            out[name][method] = paired_difference(
                score(both[method].to_numpy(), outcome),
                score(both[COMPARISON_REFERENCE].to_numpy(), outcome),
                mass=mass,
            )
    return out


def _surprisingly_popular(table: JudgmentTable, forecasts: pd.DataFrame, y: pd.Series):
    """Every method and the pivot scored on the questions with meta-predictions, and the
    hit rates of the surprisingly popular answer and of the majority; None without any."""
    pivots = pivot_forecasts(table).set_index("question")
    if pivots.empty:
        return None
    subset = [q for q in forecasts.index if q in pivots.index]
    on_subset = forecasts.loc[subset].copy()
    on_subset["surprisingly_popular"] = pivots.loc[subset, "pivot"]
    outcome = y.loc[subset]
    says_yes = pivots.loc[subset, "surprisingly_popular"] == "yes"
    majority_yes = pivots.loc[subset, "mean_answer"] > 0.5
    return {
        "n_questions": len(subset),
        "methods": score_methods(on_subset, outcome),
        "hit_rate": {
            "surprisingly_popular_answer": float((says_yes == (outcome == 1)).mean()),
            "majority_answer": float((majority_yes == (outcome == 1)).mean()),
        },
        "pivot": pivots.loc[subset, "pivot"].to_dict(),
    }


def _base_rate(
    y: pd.Series, folds: pd.Series, *, train_size: int | None = None, seed: int = 0
) -> pd.Series:
    """Each question's forecast: the frequency of yes in the other folds (Jeffreys-smoothed).

    (events + 1/2) / (n + 1), so a training set of one kind never forecasts 0 or 1.
    """
    out = pd.Series(np.nan, index=y.index)
    for k in range(int(folds.max()) + 1):
        train = training_subset(folds.index[folds != k].tolist(), train_size, seed=seed, fold=k)
        out[folds.index[folds == k]] = (y[train].sum() + 0.5) / (len(train) + 1.0)
    return out


LEARNING_CURVE_SIZES = (0, 5, 10, 20, None)  # training questions per fold; None: all


def training_subset(train: list[str], size: int | None, *, seed: int, fold: int) -> list[str]:
    """``size`` of a fold's training questions, drawn by (seed, fold, size) alone; all of
    them when ``size`` is None or not smaller."""
    if size is None or size >= len(train):
        return list(train)
    rng = np.random.default_rng([seed, fold, size])
    return sorted(rng.choice(sorted(train), size=size, replace=False).tolist())


def learning_curve(
    forecasts: pd.DataFrame,
    inputs: Mapping[str, pd.Series],
    y: pd.Series,
    folds: pd.Series,
    *,
    seed: int,
    recalibration: LLORecalibration,
    groups: Mapping[str, str] | None,
    sizes: Sequence[int | None] = LEARNING_CURVE_SIZES,
    progress: ProgressCallback | None = None,
) -> dict:
    """Every method's Brier and log score when each fold trains on k questions only.

    ``forecasts`` holds the methods that learn nothing from outcomes (the pools, the
    consensus), scored as they are; ``inputs`` maps each recalibrated method to the
    aggregate log-odds it recalibrates; the base rate is recomputed from the subset.
    """
    outcome_of = y.to_dict()
    fixed = [m for m in forecasts.columns if m not in inputs and m != "base_rate"]
    curve: dict = {"k": [], "methods": {}}
    for size in sizes:
        predicted = forecasts[fixed].copy()
        predicted["base_rate"] = _base_rate(y, folds, train_size=size, seed=seed)
        for method, logodds in inputs.items():
            out, _ = out_of_fold_recalibration(
                logodds,
                outcome_of,
                folds,
                seed=seed,
                recalibration=recalibration,
                groups=groups,
                progress=progress,
                label=f"learning curve: {method}, k = {'all' if size is None else size}",
                train_size=size,
            )
            predicted[method] = out["mean"]
        scores = score_methods(predicted, y)
        curve["k"].append("all" if size is None else size)
        for method, score in scores.items():
            line = curve["methods"].setdefault(method, {"brier": [], "log_score": []})
            line["brier"].append(score["brier"])
            line["log_score"].append(score["log_score"])
    return curve


def _fold_line(summary: dict) -> dict:
    keep = ("fold", "n_test", "n_resolved", "n_events", "gamma", "tau", "diagnostics", "groups")
    return {k: summary[k] for k in keep if k in summary}


def _json_attr(text):
    try:
        return json.loads(text) if text else None
    except (TypeError, ValueError):
        return None


PLOTTED_METHODS = ("logodds_mean", "hierarchical", "recalibrated")


def calibration_figure(result: dict, *, methods: Sequence[str] | None = None):
    """A reliability diagram of a ``cross_validate`` result (a matplotlib Figure).

    One series per method (default: the log-odds mean, the hierarchical consensus and the
    recalibrated aggregate, those present): each bin's observed frequency against its mean
    forecast, with the Jeffreys interval as an error bar and the marker's area proportional
    to the number of questions in the bin; the diagonal is perfect calibration.
    """
    from matplotlib.figure import Figure

    curves = result["calibration"]
    methods = [m for m in (methods or PLOTTED_METHODS) if m in curves]
    figure = Figure(figsize=(6.0, 6.0), layout="constrained")
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    colours = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")
    for i, method in enumerate(methods):
        curve = curves[method]
        keep = [j for j, n in enumerate(curve["count"]) if n > 0]
        x = np.array([curve["mean_forecast"][j] for j in keep], dtype=float)
        y = np.array([curve["observed"][j] for j in keep], dtype=float)
        low = np.array([curve["lower"][j] for j in keep], dtype=float)
        high = np.array([curve["upper"][j] for j in keep], dtype=float)
        count = np.array([curve["count"][j] for j in keep], dtype=float)
        scores = result["methods"][method]
        colour = colours[i % len(colours)]
        axes.errorbar(
            x, y, yerr=[y - low, high - y], fmt="none", ecolor=colour, alpha=0.6, capsize=2
        )
        axes.scatter(
            x,
            y,
            s=12 + 6 * count,
            color=colour,
            alpha=0.8,
            label=f"{method} (Brier {scores['brier']:.3f}, n = {scores['n']})",
        )
    mass = round(100 * curves[methods[0]]["interval_mass"]) if methods else 90
    axes.set(
        xlim=(-0.02, 1.02),
        ylim=(-0.02, 1.02),
        xlabel="forecast (mean in bin)",
        ylabel="observed frequency",
        title=f"Calibration, {result['folds']['n_folds']}-fold cross-validated "
        f"({mass} % Jeffreys intervals)",
    )
    axes.set_aspect("equal")
    axes.legend(loc="upper left", fontsize="small", frameon=False)
    return figure
