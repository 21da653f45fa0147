"""Recalibration of the panel's aggregate, learned from resolved questions.

A panel's aggregate is often miscalibrated in a systematic way: averaging many forecasts
that share little information gives an aggregate that is too timid (Baron et al. 2014,
Decision Analysis 11(2):133-145), and a panel may lean towards "yes" or "no". The
linear-in-log-odds (LLO) recalibration of Turner, Steyvers, Merkle, Budescu & Wallsten
(2014), "Forecast aggregation via recalibration", Machine Learning 95:261-289, maps the
aggregate log-odds x_j of question j to

    logit p'_j = gamma * x_j + tau,        y_j ~ Bernoulli(p'_j)                      (1)

gamma > 1 extremizes (gamma is the extremizing factor d of ``pooling.extremized_logodds``,
now learned instead of fixed), gamma < 1 tempers, and tau shifts the panel towards "yes"
(tau > 0) or "no". It is Turner et al.'s average-then-recalibrate LLO model, fitted by
Bayesian logistic regression of the outcomes on the aggregate.

Hierarchical over question groups: when questions come in groups (scenarios, surveys,
the four replication projects of the pooledmaRket data), each group g gets its own
(gamma_g, tau_g), partially pooled towards the panel-wide values (non-centred):

    log gamma_g = log_gamma + s_gamma * z_g,   tau_g = tau + s_tau * u_g,
    z_g, u_g ~ Normal(0, 1)                                                           (2)

so a group with few resolved questions borrows the others' calibration, and a question of
a group never resolved before gets the population's predictive (new z, u drawn).

Priors (``DEFAULT_MODEL_CONFIG``), chosen before looking at any evaluation data:

- log gamma ~ Normal(log 2, 0.5): median 2.0, 90 % of the mass in [0.88, 4.6]. Source: the
  Good Judgment Project analyses cited by ``pooling.py`` (Satopää et al. 2014, IJF
  30(2):344-356; Baron et al. 2014) found extremizing factors of roughly 1.5-3 best for
  the log-odds mean of a forecaster panel; the prior centres on that range and still lets
  the data say gamma < 1 (a panel that is already overconfident).
- tau ~ Normal(0, 1): a priori the panel has no lean (the LLO identity map has tau = 0);
  95 % of the mass keeps the panel's 50 % within 12-88 %, so a handful of resolved
  questions cannot swing it, while tens of them can (a weakly informative prior in the
  sense of Gelman et al. 2008, Annals of Applied Statistics 2(4):1360-1383, on the scale
  of a logistic regression's intercept when the predictor is on the log-odds scale).
- s_gamma ~ HalfNormal(0.25), s_tau ~ HalfNormal(0.5): groups differ in calibration by
  a fraction of the panel-wide values (a 25 % difference in gamma, half a log-odds unit in
  tau, is already a lot).

With no resolved questions the fit is the prior: gamma 2 and tau 0, i.e. the pool's
default extremizing; every resolved question moves it towards what the panel's record
says. ``RecalibrationFit.summary`` reports how many questions it learned from and how much
the data narrowed each parameter (posterior sd / prior sd: 1 = learned nothing).

What was measured and not chosen: Turner et al.'s LLO on each expert's log-odds
(recalibrate each expert with partially pooled gamma_i, tau_i, then average) was tried on
the pooledmaRket data as a MAP estimate (``bench/evaluate_pooledmarket.py --individual``):
10-fold cross-validated Brier 0.195-0.203 over fold seeds 0-9, against 0.171-0.178 for (1)
on the log-odds mean. An expert-level gamma describes one expert (about 0.6 there) and
leaves the average of many too timid; recalibrating the aggregate targets the aggregate.

The interval of a recalibrated probability is the central posterior interval of
expit(gamma x + tau): the uncertainty about the calibration map, given the aggregate.
"""

import hashlib
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from aggregation.engine.data import JudgmentTable, logit
from aggregation.engine.posterior import sample, tree_load, tree_save
from aggregation.engine.scoring import as_outcome_frame
from aggregation.engine.spec import merge_config

MODEL_NAME = "llo_recalibration"
MODEL_VERSION = "1"

DEFAULT_MODEL_CONFIG: dict = {
    "log_gamma_mu": float(np.log(2.0)),  # prior median extremizing factor 2 (see above)
    "log_gamma_sd": 0.5,
    "tau_mu": 0.0,  # no lean towards yes or no a priori
    "tau_sd": 1.0,
    "group_log_gamma_scale_sd": 0.25,  # HalfNormal sd of s_gamma in (2)
    "group_tau_scale_sd": 0.5,  # HalfNormal sd of s_tau in (2)
}
# A 2- to 12-parameter posterior: 4 x 1000 draws take ~0.1-0.5 s once compiled. A high
# target acceptance because the group scales of (2) make a funnel when they are near zero
# (divergences at nutpie's default 0.8 with three groups); it costs little at this size.
DEFAULT_SAMPLER_CONFIG: dict = {
    "chains": 4,
    "tune": 500,
    "draws": 1000,
    "cores": None,
    "target_accept": 0.95,
}


class RecalibrationConfigError(ValueError):
    """An unknown or invalid setting was passed to the recalibration."""


@dataclass(frozen=True)
class RecalibrationData:
    """Resolved questions, coded for the model.

    Attributes
    ----------
    questions : (n,) labels
    logodds : (n,) the aggregate's log-odds x_j
    outcome : (n,) 1 if the question resolved yes, else 0
    groups : the distinct groups, sorted (one entry, "", when there are no groups)
    group_idx : (n,) integer code into groups
    """

    questions: list[str]
    logodds: np.ndarray
    outcome: np.ndarray
    groups: list[str]
    group_idx: np.ndarray

    @classmethod
    def from_arrays(
        cls,
        logodds: Sequence[float] | np.ndarray,
        outcome: Sequence[int] | np.ndarray,
        *,
        groups: Sequence[str] | None = None,
        questions: Sequence[str] | None = None,
    ) -> "RecalibrationData":
        x = np.asarray(logodds, dtype=float).ravel()
        y = np.asarray(outcome, dtype=float).ravel()
        if x.shape != y.shape:
            raise ValueError(f"{x.size} aggregates but {y.size} outcomes")
        if not np.all(np.isfinite(x)):
            raise ValueError("aggregate log-odds must be finite (clip probabilities first)")
        if not np.all(np.isin(y, (0.0, 1.0))):
            raise ValueError("outcomes must be 0 or 1")
        labels = [str(g) for g in groups] if groups is not None else [""] * x.size
        if len(labels) != x.size:
            raise ValueError(f"{x.size} aggregates but {len(labels)} groups")
        names = sorted(set(labels)) or [""]
        code = {g: i for i, g in enumerate(names)}
        return cls(
            questions=[str(q) for q in questions]
            if questions is not None
            else [str(i) for i in range(x.size)],
            logodds=x,
            outcome=y.astype(np.int64),
            groups=names,
            group_idx=np.array([code[g] for g in labels], dtype=np.int64),
        )

    @property
    def grouped(self) -> bool:
        return len(self.groups) > 1

    def data_hash(self) -> str:
        """SHA-256 of the questions, aggregates (to 12 significant digits), outcomes, groups."""
        canonical = json.dumps(
            {
                "questions": self.questions,
                "logodds": [f"{v:.12g}" for v in self.logodds],
                "outcome": self.outcome.tolist(),
                "groups": [self.groups[g] for g in self.group_idx],
            }
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class RecalibrationFit:
    """A fitted LLO recalibration: posterior draws of (1)-(2) and what produced them."""

    posterior: xr.DataTree
    data: RecalibrationData
    model_config: dict

    @property
    def n_resolved(self) -> int:
        return int(self.data.outcome.size)

    def save(self, path: str | Path) -> Path:
        """Write the posterior, its data and its provenance (config, version, hash) as NetCDF."""
        return tree_save(self.posterior, path)

    @classmethod
    def load(cls, path: str | Path) -> "RecalibrationFit":
        tree = tree_load(path, model_names={MODEL_NAME})
        data = tree["constant_data"].to_dataset()
        groups = json.loads(tree.attrs["groups"])
        restored = RecalibrationData(
            questions=json.loads(tree.attrs["questions"]),
            logodds=np.asarray(data["logodds"].values, dtype=float),
            outcome=np.asarray(data["outcome"].values, dtype=np.int64),
            groups=groups,
            group_idx=np.asarray(data["group_idx"].values, dtype=np.int64),
        )
        return cls(
            posterior=tree, data=restored, model_config=json.loads(tree.attrs["model_config"])
        )

    def parameter_draws(
        self, groups: Sequence[str] | None, n: int, *, random_seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n_draws, n) draws of gamma and tau for n questions of the given groups.

        A group the fit has not seen (or ``groups=None`` on a grouped fit) gets the
        population's predictive: new group effects drawn from (2) for every draw.
        """
        post = self.posterior["posterior"]
        log_gamma = _flat(post["log_gamma"])
        tau = _flat(post["tau"])
        if not self.data.grouped:
            return (
                np.repeat(np.exp(log_gamma)[:, None], n, axis=1),
                np.repeat(tau[:, None], n, axis=1),
            )
        gamma_group = np.stack([_flat(d) for d in _by_group(post["gamma_group"])], axis=1)
        tau_group = np.stack([_flat(d) for d in _by_group(post["tau_group"])], axis=1)
        s_gamma, s_tau = _flat(post["group_log_gamma_scale"]), _flat(post["group_tau_scale"])
        rng = np.random.default_rng(random_seed)
        new_gamma = np.exp(log_gamma + s_gamma * rng.standard_normal(log_gamma.size))
        new_tau = tau + s_tau * rng.standard_normal(tau.size)
        code = {g: i for i, g in enumerate(self.data.groups)}
        labels = list(groups) if groups is not None else [None] * n
        if len(labels) != n:
            raise ValueError(f"{n} aggregates but {len(labels)} groups")
        gammas = np.empty((log_gamma.size, n))
        taus = np.empty((log_gamma.size, n))
        for j, label in enumerate(labels):
            g = code.get(str(label)) if label is not None else None
            gammas[:, j] = gamma_group[:, g] if g is not None else new_gamma
            taus[:, j] = tau_group[:, g] if g is not None else new_tau
        return gammas, taus

    def probability_draws(
        self, logodds, *, groups: Sequence[str] | None = None, random_seed: int = 0
    ) -> np.ndarray:
        """(n_draws, n) draws of the recalibrated probability expit(gamma x + tau) of (1)."""
        x = np.asarray(logodds, dtype=float).ravel()
        gamma, tau = self.parameter_draws(groups, x.size, random_seed=random_seed)
        return expit(gamma * x[None, :] + tau)

    def predict(
        self,
        logodds,
        *,
        groups: Sequence[str] | None = None,
        questions: Sequence[str] | None = None,
        interval_mass: float = 0.9,
        random_seed: int = 0,
    ) -> pd.DataFrame:
        """Recalibrated probabilities of questions with aggregate log-odds ``logodds`` (n,).

        Returns
        -------
        DataFrame (n rows, indexed by ``questions`` when given) with columns mean (the
        posterior predictive probability: the forecast to score), lower and upper (central
        interval of mass ``interval_mass``).
        """
        _check_mass(interval_mass)
        draws = self.probability_draws(logodds, groups=groups, random_seed=random_seed)
        tail = (1.0 - interval_mass) / 2.0
        lower, upper = np.quantile(draws, [tail, 1.0 - tail], axis=0)
        index = pd.Index([str(q) for q in questions], name="question") if questions else None
        return pd.DataFrame(
            {"mean": draws.mean(axis=0), "lower": lower, "upper": upper}, index=index
        )

    def summary(self, interval_mass: float = 0.9) -> dict:
        """What the recalibration learned, from how much data, and its diagnostics."""
        _check_mass(interval_mass)
        post = self.posterior["posterior"]
        cfg = self.model_config
        gamma, tau = np.exp(_flat(post["log_gamma"])), _flat(post["tau"])
        result = {
            "model": "linear-in-log-odds (Turner et al. 2014), hierarchical over groups"
            if self.data.grouped
            else "linear-in-log-odds (Turner et al. 2014)",
            "n_resolved": self.n_resolved,
            "n_events": int(self.data.outcome.sum()),
            "interval_mass": interval_mass,
            "gamma": _point(gamma, interval_mass),
            "tau": _point(tau, interval_mass),
            "prior": prior_summary(cfg, interval_mass),
            # 1 = the data taught nothing about the parameter, 0 = it is pinned down
            "posterior_to_prior_sd": {
                "log_gamma": round(float(np.std(np.log(gamma)) / cfg["log_gamma_sd"]), 4),
                "tau": round(float(np.std(tau) / cfg["tau_sd"]), 4),
            },
            "diagnostics": self.diagnostics(),
        }
        if self.data.grouped:
            counts = np.bincount(self.data.group_idx, minlength=len(self.data.groups))
            gamma_group = _by_group(post["gamma_group"])
            tau_group = _by_group(post["tau_group"])
            result["groups"] = {
                group: {
                    "n_resolved": int(counts[g]),
                    "gamma": _point(_flat(gamma_group[g]), interval_mass),
                    "tau": _point(_flat(tau_group[g]), interval_mass),
                }
                for g, group in enumerate(self.data.groups)
            }
        return result

    def diagnostics(self) -> dict:
        """Max R-hat, min bulk ESS over the parameters, and divergences."""
        import arviz as az

        post = self.posterior["posterior"].to_dataset()
        names = [v for v in ("log_gamma", "tau", "gamma_group", "tau_group") if v in post]
        if not self.n_resolved:
            names = ["log_gamma", "tau"]
        draws = post[names]
        rhat = az.rhat(draws)
        ess = az.ess(draws, method="bulk")
        stats = self.posterior["sample_stats"].to_dataset()
        return {
            "max_rhat": round(float(max(float(rhat[v].max()) for v in names)), 4),
            "min_ess_bulk": int(min(float(ess[v].min()) for v in names)),
            "divergences": int(stats["diverging"].sum()) if "diverging" in stats else 0,
        }


class LLORecalibration:
    """Build and fit the LLO recalibration (1)-(2) on resolved questions."""

    def __init__(self, model_config: dict | None = None, sampler_config: dict | None = None):
        self.model_config = merge_config(
            DEFAULT_MODEL_CONFIG, model_config, "model_config", RecalibrationConfigError
        )
        self.sampler_config = merge_config(
            DEFAULT_SAMPLER_CONFIG, sampler_config, "sampler_config", RecalibrationConfigError
        )
        for key in ("log_gamma_sd", "tau_sd", "group_log_gamma_scale_sd", "group_tau_scale_sd"):
            if not self.model_config[key] > 0:
                raise RecalibrationConfigError(f"{key} must be positive")
        if self.sampler_config["chains"] < 2:
            raise RecalibrationConfigError("sample at least 2 chains: R-hat compares chains")

    def build_model(self, data: RecalibrationData):
        """The PyMC model of (1), with the group level (2) when there are several groups."""
        import pymc as pm
        import pytensor.tensor as pt

        cfg = self.model_config
        with pm.Model() as model:
            x = pm.Data("logodds", data.logodds)
            y = pm.Data("outcome", data.outcome)
            log_gamma = pm.Normal("log_gamma", cfg["log_gamma_mu"], cfg["log_gamma_sd"])
            tau = pm.Normal("tau", cfg["tau_mu"], cfg["tau_sd"])
            pm.Deterministic("gamma", pt.exp(log_gamma))
            if data.grouped:
                n_groups = len(data.groups)
                group_idx = pm.Data("group_idx", data.group_idx)
                s_gamma = pm.HalfNormal("group_log_gamma_scale", cfg["group_log_gamma_scale_sd"])
                s_tau = pm.HalfNormal("group_tau_scale", cfg["group_tau_scale_sd"])
                z = pm.Normal("group_log_gamma_raw", 0.0, 1.0, shape=n_groups)
                u = pm.Normal("group_tau_raw", 0.0, 1.0, shape=n_groups)
                gamma_g = pm.Deterministic("gamma_group", pt.exp(log_gamma + s_gamma * z))
                tau_g = pm.Deterministic("tau_group", tau + s_tau * u)
                eta = gamma_g[group_idx] * x + tau_g[group_idx]  # (1) with (2)
            else:
                eta = pt.exp(log_gamma) * x + tau  # (1)
            pm.Bernoulli("resolved", logit_p=eta, observed=y)
        return model

    def fit(
        self,
        logodds,
        outcome,
        *,
        groups: Sequence[str] | None = None,
        questions: Sequence[str] | None = None,
        random_seed: int,
    ) -> RecalibrationFit:
        """Sample the posterior of (1)-(2) given resolved questions.

        Parameters
        ----------
        logodds : (n,) aggregate log-odds of the resolved questions (n may be 0: the prior).
        outcome : (n,) 1/0 outcomes of the same questions.
        groups : (n,) optional group label of each question.
        questions : (n,) optional labels, kept for the record.
        random_seed : seed of the sampler; same data and seed give the same draws.
        """
        data = RecalibrationData.from_arrays(logodds, outcome, groups=groups, questions=questions)
        started = time.perf_counter()
        compiled = self._compiled_for(data)
        compiled_at = time.perf_counter()
        cfg = self.sampler_config
        trace = sample(
            compiled,
            sampler_config=cfg,
            random_seed=random_seed,
        )
        trace["constant_data"] = xr.Dataset(
            {
                "logodds": ("resolved_question", data.logodds),
                "outcome": ("resolved_question", data.outcome),
                "group_idx": ("resolved_question", data.group_idx),
            }
        )
        trace.attrs.update(
            {
                "model_name": MODEL_NAME,
                "model_version": MODEL_VERSION,
                "model_config": json.dumps(self.model_config, sort_keys=True),
                "sampler_config": json.dumps(self.sampler_config, sort_keys=True),
                "random_seed": random_seed,
                "n_resolved": int(data.outcome.size),
                "data_hash": data.data_hash(),
                "groups": json.dumps(data.groups),
                "questions": json.dumps(data.questions),
                "compile_seconds": round(compiled_at - started, 3),
                "sampling_seconds": round(time.perf_counter() - compiled_at, 3),
            }
        )
        return RecalibrationFit(posterior=trace, data=data, model_config=dict(self.model_config))

    def _compiled_for(self, data: RecalibrationData):
        """A compiled model for this configuration and number of groups (cached per process).

        The number of questions may change between fits: ``with_data`` swaps the arrays.
        """
        import nutpie

        key = (
            MODEL_VERSION,
            json.dumps(self.model_config, sort_keys=True),
            len(data.groups) if data.grouped else 1,
        )
        arrays = {"logodds": data.logodds, "outcome": data.outcome}
        if data.grouped:
            arrays["group_idx"] = data.group_idx
        with _COMPILED_LOCK:
            compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = nutpie.compile_pymc_model(self.build_model(data))
            with _COMPILED_LOCK:
                _COMPILED[key] = compiled
            return compiled
        return compiled.with_data(**arrays)


_COMPILED: dict = {}
_COMPILED_LOCK = threading.Lock()


def aggregate_logodds(table: JudgmentTable) -> pd.Series:
    """(n_questions,) log-odds mean of each question's answers (clipped), indexed by question.

    The default input of the recalibration: logit of ``pooling.logodds_mean``.
    """
    if len(table.rounds) != 1:
        raise ValueError("aggregate one round at a time (use table.for_round(n))")
    frame = table.frame.assign(y=logit(table.frame["probability"].to_numpy()))
    return frame.groupby("question", sort=True)["y"].mean().rename("logodds")


def recalibrated_forecasts(
    table: JudgmentTable,
    outcomes: pd.DataFrame | pd.Series | Mapping[str, int],
    *,
    random_seed: int,
    interval_mass: float = 0.9,
    recalibration: LLORecalibration | None = None,
) -> dict:
    """Recalibrate the log-odds mean of every question of a round, learned from the resolved.

    Parameters
    ----------
    table : judgments of one round.
    outcomes : the resolved questions: ``scoring.outcomes_from_frame`` output (outcome and
        group columns), a Series or a mapping question -> 0/1. Questions without judgments
        are ignored.

    Returns
    -------
    {"recalibration": RecalibrationFit.summary(), "questions": {question: {"aggregate",
    "mean", "interval", "resolved"}}}. A resolved question's recalibrated value saw its own
    outcome ("resolved": true); only the open questions' values are forecasts.
    """
    resolved = as_outcome_frame(outcomes)
    x = aggregate_logodds(table)
    known = resolved.index.intersection(x.index)
    grouped = bool((resolved["group"] != "").any())
    model = recalibration or LLORecalibration()
    fit = model.fit(
        x[known].to_numpy(),
        resolved.loc[known, "outcome"].to_numpy(),
        groups=resolved.loc[known, "group"].tolist() if grouped else None,
        questions=list(known),
        random_seed=random_seed,
    )
    groups = None
    if grouped:
        groups = [resolved["group"].get(q) for q in x.index]
    predicted = fit.predict(
        x.to_numpy(),
        groups=groups,
        questions=list(x.index),
        interval_mass=interval_mass,
        random_seed=random_seed,
    )
    return {
        "recalibration": fit.summary(interval_mass),
        "questions": {
            q: {
                "aggregate": round(float(expit(x[q])), 6),
                "mean": round(float(predicted.loc[q, "mean"]), 6),
                "interval": [
                    round(float(predicted.loc[q, "lower"]), 6),
                    round(float(predicted.loc[q, "upper"]), 6),
                ],
                "resolved": bool(q in known),
            }
            for q in x.index
        },
    }


FORECAST_DEFINITION = (
    "the panel forecast: the linear-in-log-odds recalibration (Turner et al. 2014) of the "
    "hierarchical consensus, learned from the resolved questions; with none, the prior "
    "drawn from published evidence alone"
)


def panel_forecasts(
    consensus_logodds: pd.DataFrame,
    outcomes=None,
    *,
    random_seed: int,
    interval_mass: float = 0.9,
    recalibration: LLORecalibration | None = None,
) -> dict:
    """The panel forecast of every question: expit(gamma x_j + tau), x_j the consensus.

    Parameters
    ----------
    consensus_logodds : draws x questions (``summary.consensus_logodds_draws``).
    outcomes : the resolved questions (``scoring.outcomes_from_frame`` output, a Series or a
        mapping question -> 0/1), or None. Their outcomes train (gamma, tau) on the
        consensus's posterior mean; with none the posterior is the prior, drawn directly
        (the same distribution a fit on no data samples, without a sampler).

    Each forecast draw pairs a draw of (gamma, tau) with a draw of the consensus, so the
    interval carries both uncertainties. A resolved question's forecast saw its own outcome
    (``"resolved": true``); ``manage.py evaluate`` scores the forecast out of fold.

    Returns
    -------
    {"definition", "calibration": {"n_resolved", "gamma", "tau", "prior", ...},
     "questions": {question: {"mean", "interval", "resolved"}}}
    """
    _check_mass(interval_mass)
    recalibration = recalibration or LLORecalibration()
    questions = [str(q) for q in consensus_logodds.columns]
    x_mean = consensus_logodds.mean(axis=0)
    resolved = as_outcome_frame(outcomes) if outcomes is not None else None
    known = [q for q in questions if resolved is not None and q in resolved.index]
    rng = np.random.default_rng(random_seed)
    if known:
        grouped = bool((resolved.loc[known, "group"] != "").any())
        fit = recalibration.fit(
            x_mean[known].to_numpy(),
            resolved.loc[known, "outcome"].to_numpy(),
            groups=resolved.loc[known, "group"].tolist() if grouped else None,
            questions=known,
            random_seed=random_seed,
        )
        groups = [resolved["group"].get(q) for q in questions] if grouped else None
        gamma, tau = fit.parameter_draws(groups, len(questions), random_seed=random_seed)
        calibration = fit.summary(interval_mass)
    else:
        cfg = recalibration.model_config
        n = _PRIOR_DRAWS
        gamma = np.exp(rng.normal(cfg["log_gamma_mu"], cfg["log_gamma_sd"], (n, 1)))
        tau = rng.normal(cfg["tau_mu"], cfg["tau_sd"], (n, 1))
        calibration = {
            "model": "linear-in-log-odds (Turner et al. 2014)",
            "n_resolved": 0,
            "gamma": _point(gamma.ravel(), interval_mass),
            "tau": _point(tau.ravel(), interval_mass),
            "prior": prior_summary(cfg, interval_mass),
            "note": "no resolved question: the prior alone",
        }
    pick = rng.integers(len(consensus_logodds), size=gamma.shape[0])
    draws = expit(gamma * consensus_logodds.to_numpy()[pick] + tau)
    tail = (1.0 - interval_mass) / 2.0
    lower, upper = np.quantile(draws, [tail, 1.0 - tail], axis=0)
    return {
        "definition": FORECAST_DEFINITION,
        "interval_mass": interval_mass,
        "calibration": calibration,
        "questions": {
            q: {
                "mean": round(float(draws[:, j].mean()), 6),
                "interval": [round(float(lower[j]), 6), round(float(upper[j]), 6)],
                "resolved": q in known,
            }
            for j, q in enumerate(questions)
        },
    }


_PRIOR_DRAWS = 4000  # as many as a default fit's posterior (4 chains x 1,000)


def prior_summary(model_config: dict, interval_mass: float = 0.9) -> dict:
    """The priors of gamma and tau in words and numbers (median and central interval)."""
    from scipy import stats

    tail = (1.0 - interval_mass) / 2.0
    z = stats.norm.ppf(1.0 - tail)
    mu, sd = model_config["log_gamma_mu"], model_config["log_gamma_sd"]
    t_mu, t_sd = model_config["tau_mu"], model_config["tau_sd"]
    return {
        "gamma": {
            "distribution": f"LogNormal({mu:.4g}, {sd:.4g})",
            "median": round(float(np.exp(mu)), 4),
            "interval": [
                round(float(np.exp(mu - z * sd)), 4),
                round(float(np.exp(mu + z * sd)), 4),
            ],
        },
        "tau": {
            "distribution": f"Normal({t_mu:.4g}, {t_sd:.4g})",
            "median": round(float(t_mu), 4),
            "interval": [round(float(t_mu - z * t_sd), 4), round(float(t_mu + z * t_sd), 4)],
        },
        "source": (
            "gamma: extremizing factors of about 1.5-3 found best for panels of forecasters "
            "(Satopaa et al. 2014, IJF 30:344-356; Baron et al. 2014, Decision Analysis "
            "11:133-145); tau: no lean a priori. Model: Turner et al. 2014, Machine "
            "Learning 95:261-289."
        ),
    }


def _flat(draws: xr.DataArray) -> np.ndarray:
    """(n_chains * n_draws,) values of a scalar quantity."""
    return np.asarray(draws.transpose("chain", "draw", ...).values).reshape(-1)


def _by_group(draws: xr.DataArray) -> list[xr.DataArray]:
    """The draws of a per-group quantity, one DataArray per group (its last dimension)."""
    dim = [d for d in draws.dims if d not in ("chain", "draw")][0]
    return [draws.isel({dim: g}) for g in range(draws.sizes[dim])]


def _point(values: np.ndarray, mass: float) -> dict:
    tail = (1.0 - mass) / 2.0
    lower, upper = np.quantile(values, [tail, 1.0 - tail])
    return {
        "mean": round(float(np.mean(values)), 4),
        "interval": [round(float(lower), 4), round(float(upper), 4)],
    }


def _check_mass(mass: float) -> None:
    if not 0.0 < mass < 1.0:
        raise ValueError(f"interval mass must be between 0 and 1 (exclusive), got {mass}")
