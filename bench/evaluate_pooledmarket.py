#!/usr/bin/env python
"""How stable is the pooledmaRket evaluation? `python bench/evaluate_pooledmarket.py`.

Not a test: it measures and prints. The 10-fold cross-validated scores depend on which
questions share a fold, so one seed is one draw of the estimate. This runs
``evaluation.cross_validate`` (without the hierarchical model, which the fold seed does not
touch) for fold seeds 0..N-1, with the recalibration grouped by project (the outcomes
file's group column) and without groups, and prints per method the mean, min and max of
Brier, log score and AUC over the seeds.

With --individual it also measures the alternative recalibration that was not chosen
(recalibration.py): Turner et al.'s expert-level LLO (each expert's log-odds recalibrated,
then averaged), as a MAP estimate with fixed group scales, in the same folds. With
--weights, expert weights learned from the training outcomes (``learned_weights``; issue
11, point 3, bench/README.md).

With --joint (alone), the hierarchical model fitted jointly with the training folds'
outcomes, against the shipped two-stage forecast in the same folds (``joint_outcomes``).

Options: --seeds 10 --individual --weights --joint --out var/bench/evaluate_pooledmarket.json
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aggregation.engine.data import JudgmentTable, logit  # noqa: E402
from aggregation.engine.evaluation import assign_folds, cross_validate  # noqa: E402
from aggregation.engine.scoring import brier_score, read_outcomes  # noqa: E402

DATA = ROOT / "tests" / "data" / "pooledmarket"


def seed_sweep(table, outcomes, seeds: int) -> dict:
    runs = {}
    for label, frame in (("grouped", outcomes), ("ungrouped", outcomes.assign(group=""))):
        per_seed = []
        for seed in range(seeds):
            per_seed.append(cross_validate(table, frame, n_folds=10, seed=seed, hierarchical=False))
        runs[label] = {
            method: {
                score: {
                    "mean": float(np.mean([r["methods"][method][score] for r in per_seed])),
                    "min": float(np.min([r["methods"][method][score] for r in per_seed])),
                    "max": float(np.max([r["methods"][method][score] for r in per_seed])),
                }
                for score in ("brier", "log_score", "auc")
            }
            for method in per_seed[0]["methods"]
        }
        runs[label]["recalibrated_brier_per_seed"] = [
            round(r["methods"]["recalibrated"]["brier"], 4) for r in per_seed
        ]
    return runs


def individual_llo(table, outcomes, seeds: int, scale_gamma=0.3, scale_tau=0.5) -> list[float]:
    """10-fold Brier of expert-level LLO (MAP): logit p'_ij = gamma_i y_ij + tau_i, averaged."""
    frame = table.frame.assign(y=logit(table.frame["probability"].to_numpy()))
    experts = {e: i for i, e in enumerate(sorted(frame["expert"].unique()))}
    e_idx = frame["expert"].map(experts).to_numpy()
    y_obs = frame["y"].to_numpy()
    questions = sorted(outcomes.index)
    q_of = frame["question"].to_numpy()
    outcome = frame["question"].map(outcomes["outcome"]).to_numpy(dtype=float)
    n = len(experts)
    briers = []
    for seed in range(seeds):
        folds = assign_folds(questions, 10, seed=seed)
        forecast = pd.Series(np.nan, index=questions)
        for k in range(10):
            test = set(folds.index[folds == k])
            train = ~np.isin(q_of, list(test))

            def objective(theta, train=train):
                lg, tau, dg, dt = theta[0], theta[1], theta[2 : 2 + n], theta[2 + n :]
                eta = np.exp(lg + dg[e_idx[train]]) * y_obs[train] + tau + dt[e_idx[train]]
                loglik = np.sum(outcome[train] * eta - np.logaddexp(0, eta))
                prior = 0.5 * np.sum((dg / scale_gamma) ** 2) + 0.5 * np.sum((dt / scale_tau) ** 2)
                prior += 0.5 * ((lg - math.log(2)) / 0.5) ** 2 + 0.5 * tau**2
                return -loglik + prior

            theta = minimize(objective, np.zeros(2 + 2 * n), method="L-BFGS-B").x
            lg, tau, dg, dt = theta[0], theta[1], theta[2 : 2 + n], theta[2 + n :]
            rows = ~train
            eta = np.exp(lg + dg[e_idx[rows]]) * y_obs[rows] + tau + dt[e_idx[rows]]
            mean_eta = pd.Series(eta).groupby(q_of[rows]).mean()
            forecast[mean_eta.index] = expit(mean_eta.to_numpy())
        briers.append(brier_score(forecast[questions], outcomes.loc[questions, "outcome"]))
    return briers


def learned_weights(table, outcomes, seeds: int, betas=(0.0, 0.5, 1.0, 2.0)) -> dict:
    """10-fold Brier of a log-odds mean whose expert weights are learned from outcomes
    (issue 11, point 3, measured before building): w_i = exp(beta u_i), u_i ~ Normal(0, 1)
    partially pooled, the weighted mean recalibrated by project (LLO as recalibration.py,
    group scales fixed at their prior sds), everything learned jointly from the training
    folds' outcomes as a MAP estimate, for each fixed beta (0: equal weights)."""
    frame = table.frame.assign(y=logit(table.frame["probability"].to_numpy()))
    questions = sorted(outcomes.index)
    frame = frame[frame["question"].isin(questions)]
    experts = sorted(frame["expert"].unique())
    q_idx = frame["question"].map({q: j for j, q in enumerate(questions)}).to_numpy()
    e_idx = frame["expert"].map({e: i for i, e in enumerate(experts)}).to_numpy()
    answered = np.zeros((len(questions), len(experts)))
    answered[q_idx, e_idx] = 1.0
    values = np.zeros_like(answered)
    values[q_idx, e_idx] = frame["y"].to_numpy()
    y = outcomes.loc[questions, "outcome"].to_numpy(dtype=float)
    groups = sorted(outcomes["group"].unique())
    g = outcomes.loc[questions, "group"].map({c: k for k, c in enumerate(groups)}).to_numpy()
    n_g, n_e = len(groups), len(experts)

    def unpack(theta):
        return (
            theta[0],
            theta[1],
            theta[2 : 2 + n_g],
            theta[2 + n_g : 2 + 2 * n_g],
            theta[2 + 2 * n_g :],
        )

    def forecast(theta, beta, rows):
        lg, tau, zg, zt, u = unpack(theta)
        w = np.exp(beta * u)
        x = (values[rows] @ w) / (answered[rows] @ w)
        return np.exp(lg + 0.25 * zg[g[rows]]) * x + tau + 0.5 * zt[g[rows]]

    out = {}
    for beta in betas:
        briers = []
        for seed in range(seeds):
            folds = assign_folds(questions, 10, seed=seed).loc[questions].to_numpy()
            p = np.zeros(len(questions))
            for k in range(10):
                train = np.flatnonzero(folds != k)

                def objective(theta, train=train, beta=beta):
                    eta = forecast(theta, beta, train)
                    lg, tau, zg, zt, u = unpack(theta)
                    loglik = np.sum(y[train] * eta - np.logaddexp(0, eta))
                    prior = 0.5 * ((lg - math.log(2)) / 0.5) ** 2 + 0.5 * tau**2
                    prior += 0.5 * (zg @ zg + zt @ zt + u @ u)
                    return -loglik + prior

                start = np.r_[math.log(2), np.zeros(1 + 2 * n_g + n_e)]
                theta = minimize(objective, start, method="L-BFGS-B").x
                p[folds == k] = expit(forecast(theta, beta, np.flatnonzero(folds == k)))
            briers.append(round(brier_score(p, y), 4))
        out[str(beta)] = briers
    return out


def joint_outcomes(table, outcomes, seed: int = 0) -> dict:
    """The binary model fitted jointly with the training folds' outcomes (issue 11, point
    3, measured before building): the hierarchical model of the answers (its PyMC
    statement; version 5 when measured, bench/README.md) plus, for each training question, y_j ~ Bernoulli(expit(tau_g +
    gamma_g mu_j)) with recalibration.py's priors and group scales, so that an outcome
    moves its question's consensus and through it every expert's bias, slope and noise:
    experts whose answers the outcomes bear out count more on the held-out questions. The
    forecast of a held-out question is the posterior mean of expit(tau_g + gamma_g mu_j).
    Also scores the shipped two-stage forecast (``cross_validate``) in the same folds, and
    says how far the outcomes moved the experts' weights (1 / sigma_i^2, normalized)."""
    import nutpie
    import pymc as pm
    import pytensor.tensor as pt

    from aggregation.engine.hierarchical import BinaryHierarchicalModel, BinaryPanelData
    from aggregation.engine.posterior import sample
    from aggregation.engine.recalibration import DEFAULT_MODEL_CONFIG as LLO

    started = time.perf_counter()
    two_stage = cross_validate(table, outcomes, n_folds=10, seed=seed)["methods"]
    two_stage_seconds = time.perf_counter() - started
    model_obj = BinaryHierarchicalModel()
    data = BinaryPanelData.from_table(table)
    questions = data.questions
    y = outcomes.loc[questions, "outcome"].to_numpy(dtype=float)
    groups = sorted(outcomes.loc[questions, "group"].unique())
    g = outcomes.loc[questions, "group"].map({c: k for k, c in enumerate(groups)}).to_numpy()
    model = model_obj.build_model(data)
    with model:
        outcome = pm.Data("outcome", np.zeros(len(questions)))
        mask = pm.Data("mask", np.zeros(len(questions)))
        log_gamma = pm.Normal("log_gamma", LLO["log_gamma_mu"], LLO["log_gamma_sd"])
        tau = pm.Normal("tau", LLO["tau_mu"], LLO["tau_sd"])
        s_gamma = pm.HalfNormal("s_gamma", LLO["group_log_gamma_scale_sd"])
        s_tau = pm.HalfNormal("s_tau", LLO["group_tau_scale_sd"])
        z = pm.Normal("z", 0.0, 1.0, shape=len(groups))
        u = pm.Normal("u", 0.0, 1.0, shape=len(groups))
        gamma_g = pm.Deterministic("gamma_g", pt.exp(log_gamma + s_gamma * z))
        tau_g = pm.Deterministic("tau_g", tau + s_tau * u)
        eta = tau_g[g] + gamma_g[g] * model["mu_question"]
        pm.Potential("outcomes", (mask * (outcome * eta - pt.softplus(eta))).sum())
    compiled = nutpie.compile_pymc_model(model)
    config = model_obj.sampler_config_for(data)

    def fit(train_mask, random_seed):
        trace = sample(
            compiled.with_data(outcome=np.where(train_mask, y, 0.0), mask=train_mask * 1.0),
            sampler_config=config,
            random_seed=random_seed,
        )
        post = trace["posterior"]
        eta = (
            post["tau_g"].values[..., g]
            + post["gamma_g"].values[..., g] * post["mu_question"].values
        )
        sigma = post["sigma_expert"].mean(("chain", "draw")).values
        weights = 1 / sigma**2
        divergences = int(trace["sample_stats"]["diverging"].sum())
        return expit(eta).mean(axis=(0, 1)), weights / weights.sum(), divergences

    _, base_weights, _ = fit(np.zeros(len(questions), dtype=bool), seed)
    folds = assign_folds(questions, 10, seed=seed).loc[questions].to_numpy()
    p = np.zeros(len(questions))
    moved, divergences = [], 0
    for k in range(10):
        forecast, weights, div = fit(folds != k, seed + k + 1)
        p[folds == k] = forecast[folds == k]
        moved.append(np.abs(weights / base_weights - 1))
        divergences += div
    moved = np.array(moved)
    out = {
        "joint_brier": round(brier_score(p, y), 4),
        "two_stage_forecast_brier": round(two_stage["forecast"]["brier"], 4),
        "log_odds_mean_brier": round(two_stage["logodds_mean"]["brier"], 4),
        "weight_change_median": round(float(np.median(moved)), 3),
        "weight_change_90th_percentile": round(float(np.quantile(moved, 0.9)), 3),
        "divergences": divergences,
        "two_stage_seconds": round(two_stage_seconds, 1),
        "joint_seconds": round(time.perf_counter() - started - two_stage_seconds, 1),
    }
    print("joint model with outcomes:", json.dumps(out), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--individual", action="store_true")
    parser.add_argument("--weights", action="store_true", help="weights learned from outcomes")
    parser.add_argument(
        "--joint", action="store_true", help="the hierarchical model fitted with the outcomes"
    )
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "evaluate_pooledmarket.json"))
    args = parser.parse_args()
    table = JudgmentTable.from_csv(DATA / "judgments.csv")
    outcomes = read_outcomes(DATA / "outcomes.csv")
    if args.joint:  # alone: it fits the hierarchical model 12 times
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(joint_outcomes(table, outcomes), indent=2) + "\n")
        return
    started = time.perf_counter()
    result = {"seeds": args.seeds, "sweep": seed_sweep(table, outcomes, args.seeds)}
    result["sweep_seconds"] = round(time.perf_counter() - started, 1)
    if args.individual:
        result["individual_llo_brier_per_seed"] = individual_llo(table, outcomes, args.seeds)
    if args.weights:
        result["learned_weights_brier_per_seed"] = learned_weights(table, outcomes, args.seeds)
    for label in ("grouped", "ungrouped"):
        print(f"\n{label} recalibration, 10-fold CV over fold seeds 0..{args.seeds - 1}")
        print(f"{'method':<22}{'Brier mean [min, max]':>28}{'log score':>12}{'AUC':>8}")
        for method, scores in result["sweep"][label].items():
            if method.endswith("per_seed"):
                continue
            b = scores["brier"]
            print(
                f"{method:<22}{b['mean']:>10.4f} [{b['min']:.4f}, {b['max']:.4f}]"
                f"{scores['log_score']['mean']:>12.4f}{scores['auc']['mean']:>8.4f}"
            )
        print("recalibrated Brier per seed:", result["sweep"][label]["recalibrated_brier_per_seed"])
    if args.individual:
        print(
            "expert-level LLO Brier per seed:",
            [round(b, 4) for b in result["individual_llo_brier_per_seed"]],
        )
    if args.weights:
        for beta, briers in result["learned_weights_brier_per_seed"].items():
            print(f"weights learned from outcomes, beta {beta}: Brier per seed {briers}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{result['sweep_seconds']} s for the sweep -> {out}")


if __name__ == "__main__":
    main()
