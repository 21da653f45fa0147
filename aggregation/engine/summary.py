"""Posterior -> the result contract of DESIGN.md ("The result contract").

Every reported number is a posterior mean and a central (equal-tailed) credible interval
of mass ``interval_mass``, computed from draws of the reported quantity itself:

- consensus_j      = expit(mu_j + mean of delta_gj over the cohorts g that answered j)
                   (probability; = expit(mu_j) when every cohort answered, since the
                   delta_gj sum to zero; see ``answered_cells``)
- disagreement_j   = kappa_j                              (log-odds scale, see hierarchical.py)
- cohort belief gj = expit(mu_j + delta_gj)               (probability)
- cohort gap ab,j  = expit(mu_j + delta_aj) - expit(mu_j + delta_bj), with
  p_a_higher       = P(delta_aj > delta_bj)
- expert bias b_i (log-odds) and noise sigma_i (relative; 1 = a typical expert)

Diagnostics (rank-normalised split R-hat, bulk ESS; Vehtari et al. 2021) are computed on
those same derived draws, so they describe what is reported, and they are always returned:
``warnings`` says in words which thresholds a fit missed.
"""

import json
from itertools import combinations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from aggregation.engine.data import JudgmentTable
from aggregation.engine.diagnostics import rhat_and_ess_bulk
from aggregation.engine.hierarchical import HierarchicalFit
from aggregation.engine.pooling import DEFAULT_EXTREMIZE_FACTOR, all_baselines

RHAT_MAX = 1.01
ESS_BULK_MIN = 400
SAMPLE_DIMS = ("chain", "draw")
QUESTION_QUANTITIES = ("consensus", "disagreement", "cohort_belief", "cohort_gap")
EXPERT_QUANTITIES = ("bias", "noise", "slope")


def answered_cells(tree: xr.DataTree) -> xr.DataArray | None:
    """(question, cohort) True where at least one expert of that cohort answered the
    question, from the data a fit keeps (its constant_data group; None for a posterior
    without one, such as a test's hand-made draws: the consensus is then mu_j).

    Why the consensus needs it: mu_j weighs every cohort equally, including cohorts that
    never saw question j, whose deviations delta_gj are then drawn from their prior alone.
    On a question answered by one cohort of four (every question of pooledmaRket) mu_j is
    that cohort's belief minus a deviation the data cannot tell from mu_j: the prior then
    shrinks the consensus toward 0.5 and widens its interval. The consensus is therefore
    the equal-weight mean over the cohorts that answered, which is mu_j itself whenever
    all did (DESIGN.md, "The binary-question model").
    """
    if "constant_data" not in tree.children:
        return None
    data = tree["constant_data"].to_dataset()
    posterior = tree["posterior"]
    questions = [str(q) for q in posterior["question"].values]
    cohorts = [str(c) for c in posterior["cohort"].values]
    cohort_of_answer = data["cohort_of_expert"].values[data["expert_idx"].values]
    answered = np.zeros((len(questions), len(cohorts)), dtype=bool)
    answered[data["question_idx"].values, cohort_of_answer] = True
    return xr.DataArray(
        answered, dims=("question", "cohort"), coords={"question": questions, "cohort": cohorts}
    )


def derived_draws(
    posterior: xr.Dataset, cohorts: list[str], answered: xr.DataArray | None = None
) -> xr.Dataset:
    """Draws of every reported quantity, with dims (chain, draw, ...).

    ``answered`` (``answered_cells`` of the fit) makes the consensus the mean over the
    cohorts that answered each question; without it the consensus is mu_j (all cohorts).
    """
    mu = posterior["mu_question"]
    belief = expit(mu + posterior["delta_cohort"])
    consensus = mu
    if answered is not None and len(cohorts) >= 2:
        weights = answered.astype(float) / answered.sum("cohort")
        consensus = mu + (posterior["delta_cohort"] * weights).sum("cohort")
    quantities = {
        "consensus": expit(consensus),
        "disagreement": posterior["kappa_question"],
        "bias": posterior["bias_expert"],
        "noise": posterior["sigma_expert"],
    }
    if "slope_expert" in posterior:  # binary model version 5 on
        quantities["slope"] = posterior["slope_expert"]
    if len(cohorts) >= 2:
        pairs = list(combinations(cohorts, 2))
        gap = xr.concat([belief.sel(cohort=a) - belief.sel(cohort=b) for a, b in pairs], dim="pair")
        quantities["cohort_belief"] = belief
        quantities["cohort_gap"] = gap.assign_coords(pair=[f"{a}|{b}" for a, b in pairs])
        if "cohort_lean" in posterior:  # model version 2 on
            quantities["cohort_lean"] = posterior["cohort_lean"]
    return xr.Dataset(quantities)


def consensus_logodds_draws(fit: HierarchicalFit) -> pd.DataFrame:
    """The consensus's draws on the log-odds scale: (draws of all chains) x questions.

    The input of the panel forecast (``recalibration.panel_forecasts``) and of the
    evaluation's recalibrated consensus: the same consensus the report shows.
    """
    tree = fit.posterior
    posterior = tree["posterior"].to_dataset()
    cohorts = [str(c) for c in posterior["cohort"].values]
    consensus = derived_draws(posterior, cohorts, answered_cells(tree))["consensus"]
    values = consensus.transpose(*SAMPLE_DIMS, "question").values
    flat = values.reshape(-1, values.shape[-1])
    return pd.DataFrame(
        np.log(flat) - np.log1p(-flat),
        columns=pd.Index([str(q) for q in consensus["question"].values], name="question"),
    )


def diagnostics(draws: xr.Dataset, sample_stats: xr.Dataset) -> dict:
    """R-hat and bulk ESS of every reported quantity, divergences, and warnings in words."""
    # every quantity of every variable in one array (quantity, chain, draw), computed at once
    arrays = [draws[name].transpose(..., *SAMPLE_DIMS).values for name in draws.data_vars]
    flat = np.concatenate([a.reshape(-1, *a.shape[-2:]) for a in arrays])
    # A quantity that is constant in every draw (the bias of an expert alone in a cohort,
    # which is 0 by definition) has no R-hat or ESS; it is left out, not counted as bad.
    # A quantity that is NaN in every draw (a numeric question's quantity the data leave
    # undefined) has no spread either; nanmax would warn on its empty slice.
    defined = ~np.isnan(flat).all(axis=(-2, -1))
    varies = np.zeros(len(flat), dtype=bool)
    within = flat[defined]
    varies[defined] = np.nanmax(within, axis=(-2, -1)) > np.nanmin(within, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 for those constants
        rhat_all, ess_all = rhat_and_ess_bulk(flat)
    one_chain = draws.sizes["chain"] < 2  # R-hat compares chains: with one it is undefined
    ends = np.cumsum([a[..., 0, 0].size for a in arrays])
    per_quantity = {}
    for name, start, stop in zip(draws.data_vars, [0, *ends[:-1]], ends, strict=True):
        kept = varies[start:stop]
        if kept.any():
            rhats = rhat_all[start:stop][kept]
            rhats = rhats[~np.isnan(rhats)]  # NaN: no variance within chains (a few draws)
            per_quantity[name] = {
                "max_rhat": None if one_chain or not rhats.size else _round(float(rhats.max())),
                "min_ess_bulk": int(np.nanmin(ess_all[start:stop][kept])),
            }
    divergences = int(sample_stats["diverging"].sum()) if "diverging" in sample_stats else 0
    rhats = [q["max_rhat"] for q in per_quantity.values() if q["max_rhat"] is not None]
    result = {
        "max_rhat": max(rhats) if rhats else None,
        "min_ess_bulk": min(q["min_ess_bulk"] for q in per_quantity.values()),
        "divergences": divergences,
        "per_quantity": per_quantity,
    }
    result["warnings"] = diagnostic_warnings(result)
    return result


def diagnostic_warnings(diag: dict) -> list[str]:
    """Plain-words warnings for R-hat, ESS and divergences beyond the thresholds."""
    warnings = []
    if diag["max_rhat"] is None:
        warnings.append(
            "R-hat could not be computed: it needs at least 2 chains. Refit with 4 chains "
            "before trusting these numbers."
        )
    for name, q in diag["per_quantity"].items():
        if q["max_rhat"] is not None and q["max_rhat"] > RHAT_MAX:
            warnings.append(
                f"{name}: R-hat up to {q['max_rhat']:.3f} (> {RHAT_MAX}); the chains disagree, "
                "so these numbers are not reliable. Refit with more draws."
            )
        if q["min_ess_bulk"] < ESS_BULK_MIN:
            warnings.append(
                f"{name}: bulk ESS down to {q['min_ess_bulk']} (< {ESS_BULK_MIN}); intervals "
                "are imprecise. Refit with more draws."
            )
    if diag["divergences"]:
        warnings.append(
            f"{diag['divergences']} divergent transitions: the sampler may have missed part of "
            "the posterior."
        )
    return warnings


def summarize_hierarchical(
    fit: HierarchicalFit,
    table: JudgmentTable,
    *,
    interval_mass: float = 0.9,
    extremize_factor: float = DEFAULT_EXTREMIZE_FACTOR,
) -> dict:
    """The DESIGN.md result contract for a hierarchical fit of ``table`` (one round)."""
    _check_interval(interval_mass)
    tree = fit.posterior
    if tree.attrs["data_hash"] != table.data_hash():
        raise ValueError(
            "this table is not the one the posterior was fitted to (data hashes differ); "
            "summarize a fit with the table it was fitted on"
        )
    posterior = tree["posterior"].to_dataset()
    cohorts = [str(c) for c in posterior["cohort"].values]
    draws = derived_draws(posterior, cohorts, answered_cells(tree))
    stats = _Stats(_interval_stats(draws, interval_mass))
    baselines = all_baselines(table, extremize_factor=extremize_factor)
    counts = _counts(table)
    bias_varies = draws["bias"].std(SAMPLE_DIMS) > 0
    varies_bias = dict(zip(map(str, bias_varies["expert"].values), bias_varies.values, strict=True))

    questions = {
        str(q): _question_entry(stats, str(q), cohorts, counts, baselines[str(q)])
        for q in posterior["question"].values
    }
    experts = {
        str(e): {
            "cohort": counts["expert_cohort"][str(e)],
            "n_judgments": counts["per_expert"][str(e)],
            # an expert alone in a cohort has no bias of their own (the cohort effect is theirs)
            "bias": _point(stats, "bias", expert=e) if varies_bias[str(e)] else None,
            "noise": _point(stats, "noise", expert=e),
            # likewise their slope (averaging 1 within the cohort: 1 for an expert alone)
            **(
                {"slope": _point(stats, "slope", expert=e) if varies_bias[str(e)] else None}
                if "slope" in draws
                else {}
            ),
        }
        for e in posterior["expert"].values
    }
    # each cohort's lean: its deviation from the consensus common to every question
    leans = (
        {str(c): _point(stats, "cohort_lean", cohort=c) for c in cohorts}
        if "cohort_lean" in draws
        else None
    )
    attrs = tree.attrs
    return {
        "method": "hierarchical",
        "cohort_lean": leans,
        "cohorts_pooled": _pooled_cohorts(attrs),
        "interval_mass": interval_mass,
        "round": int(attrs["round"]),
        "n_judgments": len(table),
        "data_hash": attrs["data_hash"],
        "model": {
            "name": attrs["model_name"],
            "version": attrs["model_version"],
            "parametrization": attrs["parametrization"],
            "random_seed": int(attrs["random_seed"]),
            "scales": {
                "consensus": "probability",
                "disagreement": "log-odds sd of a typical expert's answers beyond bias and cohort",
                "bias": "log-odds",
                "noise": "relative to a typical expert (1 = typical)",
                "slope": (
                    "log-odds moved per log-odds unit of a typical expert "
                    "(1 = typical within the expert's cohort)"
                ),
                "cohort_lean": "log-odds, common to every question, zero-sum over cohorts",
            },
        },
        "timings": {
            "compile_seconds": float(attrs.get("compile_seconds", 0.0)),
            "sampling_seconds": float(attrs.get("sampling_seconds", 0.0)),
            "compiled_model_reused": bool(attrs.get("compiled_model_reused", 0)),
        },
        "diagnostics": diagnostics(draws, tree["sample_stats"].to_dataset()),
        "questions": questions,
        "experts": experts,
    }


def _pooled_cohorts(attrs) -> dict | None:
    """Why a fit reports no cohort beliefs or gaps although the table has cohorts
    (``hierarchical.cohort_components``), or None."""
    groups = json.loads(attrs.get("pooled_cohorts", "[]"))
    if not groups:
        return None
    return {
        "groups": groups,
        "why": (
            "no question was answered by experts of two different cohorts, so a "
            "cohort's view cannot be told apart from the consensus of the questions only it "
            "answered: no cohort beliefs or gaps are estimated. Ask some questions of every "
            "cohort to compare them."
        ),
    }


def summarize_pool(
    table: JudgmentTable, method: str, *, extremize_factor: float, interval_mass: float = 0.9
) -> dict:
    """The contract for a closed-form pool: consensus point values and every baseline."""
    baselines = all_baselines(table, extremize_factor=extremize_factor)
    counts = _counts(table)
    return {
        "method": method,
        "interval_mass": interval_mass,  # a pool is a point: its intervals are null
        "round": int(table.rounds[0]),
        "n_judgments": len(table),
        "data_hash": table.data_hash(),
        "questions": {
            q: {
                "n_judgments": counts["per_question"][q],
                "consensus": {"mean": _round(pooled[method]), "interval": None},
                "baselines": {m: _round(v) for m, v in pooled.items()},
            }
            for q, pooled in baselines.items()
        },
    }


def _question_entry(stats, question, cohorts, counts, baselines) -> dict:
    entry = {
        "n_judgments": counts["per_question"][question],
        "consensus": _point(stats, "consensus", question=question),
        "disagreement": _point(stats, "disagreement", question=question),
        "cohorts": {},
        "cohort_gaps": [],
        "baselines": {method: _round(value) for method, value in baselines.items()},
    }
    if "cohort_belief" in stats:
        for cohort in cohorts:
            point = _point(stats, "cohort_belief", question=question, cohort=cohort)
            point["n_judgments"] = counts["per_cell"].get((question, cohort), 0)
            entry["cohorts"][cohort] = point
        for a, b in combinations(cohorts, 2):
            point = _point(stats, "cohort_gap", question=question, pair=f"{a}|{b}")
            point["p_a_higher"] = _round(
                stats.get("p_a_higher", question=question, pair=f"{a}|{b}")
            )
            entry["cohort_gaps"].append({"a": a, "b": b, **point})
    return entry


def _interval_stats(draws: xr.Dataset, mass: float) -> xr.Dataset:
    """Mean, lower and upper bounds of each quantity; P(gap > 0) for the gaps."""
    tail = (1.0 - mass) / 2.0
    quantiles = draws.quantile([tail, 1.0 - tail], dim=SAMPLE_DIMS)
    out = {}
    for name in draws.data_vars:
        out[name] = draws[name].mean(SAMPLE_DIMS)
        out[f"{name}_lower"] = quantiles[name].isel(quantile=0, drop=True)
        out[f"{name}_upper"] = quantiles[name].isel(quantile=1, drop=True)
    if "cohort_gap" in draws:
        # P(a > b) = P(delta_a > delta_b), the same event as a positive gap (expit is monotone)
        out["p_a_higher"] = (draws["cohort_gap"] > 0).mean(SAMPLE_DIMS)
    return xr.Dataset(out)


class _Stats:
    """``_interval_stats`` as numpy arrays, read by label: one lookup per reported number
    (``.sel`` on the Dataset cost 0.8 s for the 2,000 numbers of a 200 x 60 panel)."""

    def __init__(self, stats: xr.Dataset):
        self.values = {name: var.values for name, var in stats.data_vars.items()}
        self.dims = {name: var.dims for name, var in stats.data_vars.items()}
        self.position = {
            dim: {str(label): k for k, label in enumerate(stats[dim].values)} for dim in stats.dims
        }

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str, **where) -> float:
        index = tuple(self.position[dim][str(where[dim])] for dim in self.dims[name])
        return float(self.values[name][index])


def _point(stats: _Stats, name: str, **where) -> dict:
    def value(key):
        return _round(stats.get(key, **where))

    return {
        "mean": value(name),
        "interval": [value(f"{name}_lower"), value(f"{name}_upper")],
    }


def _counts(table: JudgmentTable) -> dict:
    frame = table.frame
    return {
        "per_question": frame.groupby("question").size().astype(int).to_dict(),
        "per_expert": frame.groupby("expert").size().astype(int).to_dict(),
        "per_cell": frame.groupby(["question", "cohort"]).size().astype(int).to_dict(),
        "expert_cohort": frame.drop_duplicates("expert").set_index("expert")["cohort"].to_dict(),
    }


def _check_interval(mass: float) -> None:
    if not 0.0 < mass < 1.0:
        raise ValueError(f"interval mass must be between 0 and 1 (exclusive), got {mass}")


def _round(value: float, digits: int = 6) -> float:
    return float(round(value, digits))
