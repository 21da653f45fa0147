"""How each cohort sees the others: meta-predictions, the perception model and its scores.

Beside their own probability p_ij, experts may predict the answer a typical expert of each
cohort gives to the same question (``meta_<cohort>`` columns of a ``JudgmentTable``):
m_ijc. A cohort's predictions of another cohort's answer are data about its perception of
that cohort, compared with what that cohort actually answered.

What a cohort actually believes, theta_cj, is the binary hierarchical model's cohort belief
(hierarchical.py: mu_j + delta_cj on the log-odds scale, from the answers alone; the
report's cohort table shows the same numbers). It is taken from that model's posterior and
never from the predictions: a model in which predictions and answers shared theta let a
misperception that every cohort holds about c on question j pull c's "actual" belief toward
it (a review measured c's actual belief move from 0.73 to 0.85 when all predictions of c on
one question were raised by 1.5 log-odds, the answers unchanged). The perception model is
therefore "cut": on the log-odds scale, with z_ijc = logit(m_ijc) (clipped as answers are),

    z_ijc ~ Student-t(nu, A_cj + s_{g(i) c} + e_{g(i) c j} + a_i, tau_{g(i)})            (1)

- A_cj                        the anchor: the posterior mean of theta_cj, a constant;
- s_bc ~ Normal(0, stereotype_sd)   the shared misperception of cohort c by cohort b (its
  "stereotype"): how far, in log-odds, b's experts put c's answers from c's actual belief
  on every question; s_bb is a cohort's misjudgement of itself;
- e_bcj ~ Normal(0, omega)    the question's own part of that misperception, partially
  pooled (omega ~ HalfNormal(omega_sd)), non-centred;
- a_i                         the expert's own offset over all their predictions, zero-sum
  over the experts of the predicting cohort who gave predictions (so it cannot absorb the
  cohort's stereotype), scale offset_scale ~ HalfNormal(offset_scale_sd);
- tau_b ~ HalfNormal(tau_sd)  the scatter of b's individual predictions.

Reported, per question j and pair (b, c) with predictions, from draws of (1) paired with
independent draws of theta (the two posteriors are independent by the cut):

    P_bcj          = A_cj + s_bc + e_bcj         what a typical expert of b expects c to say
    predicted_bcj  = expit(P_bcj),  actual_cj = expit(theta_cj)
    error_bcj      = predicted_bcj - actual_cj   (probability; > 0: b overestimates c)

with P(error > 0), and per pair the shared misperception: the mean of P_bcj - theta_cj over
the questions b predicted c on (log-odds; s_bc plus what its questions' parts average to),
with the mean error in probability.

What is predicted. The form asks for the answer of a typical expert of the cohort; the
engine reads every belief on the log-odds scale, and the typical answer of a cohort is
expit of its mean log-odds, theta_cj: the answer of its expert with bias 0 and slope 1
(binary model version 6: biases average 0 and slopes 1 over the cohort's answers, so
that expert is the cohort's average one, noise removed). The reciprocal scores below
use the median of the cohort's answers, which odd answers move less.

Why a model rather than the raw difference of means (b's mean prediction of c minus c's
mean answer): both means carry the sampling noise of a few experts and of odd answers; the
model pools the question parts towards the stereotype and reads predictions robustly
(Student-t, nu = 4). The synthetic recovery test
(tests/aggregation/engine/test_perception_recovery.py) measures both against the truth.

Closed-form scores, no model:

- ``reciprocal_scores``: reciprocal scoring (Karger, Monrad, Mellers & Tetlock 2021,
  "Reciprocal scoring: a method for forecasting unanswerable questions", SSRN 3954498),
  which scores a forecaster's prediction of what others forecast by its distance to their
  median: m_ijc is scored by its squared distance to the median of cohort c's
  probabilities on question j, leaving out expert i's own answer. Lower is better; 0 is
  perfect. Per expert and per (by, of) pair.
- ``pivot_forecasts``: the "surprisingly popular" signal (Prelec, Seung & McCoy 2017,
  Nature 541:532-535) for probabilities. An answer that is more popular than the panel
  predicted is "surprisingly popular": yes when the mean answer p_bar_j exceeds the mean
  predicted answer m_bar_j. As a probability, Palley & Soll's (2019, Management Science
  65(5):2291-2309) pivot 2 p_bar_j - m_bar_j, clipped to [0.005, 0.995]. The predicted
  panel answer of expert i is their predictions of each cohort weighted by the cohort's
  share of the question's answers.
"""

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit

from aggregation.engine.data import CLIP, JudgmentTable, logit
from aggregation.engine.hierarchical import BinaryHierarchicalModel, HierarchicalFit
from aggregation.engine.posterior import ProgressCallback, sample, tree_load, tree_save
from aggregation.engine.spec import ModelConfigError, merge_config, positive_whole
from aggregation.engine.summary import SAMPLE_DIMS, diagnostics

MODEL_NAME = "perception"
MODEL_VERSION = "2"  # 2: cut from the answers, actual beliefs from the binary model

DEFAULT_MODEL_CONFIG: dict = {
    "nu": 4.0,  # Student-t degrees of freedom of (1)
    # a stereotype of 1 log-odds (50 % read as 73 %) is large; 2 would be extreme
    "stereotype_sd": 1.0,
    "omega_sd": 0.5,  # HalfNormal sd of the question parts of a misperception
    "offset_scale_sd": 0.5,  # HalfNormal sd of the spread of experts' own offsets a_i
    "tau_sd": 1.0,  # HalfNormal sd of the scatter of individual predictions
}
# Sampled with nutpie's low-rank mass matrix adaptation (``adaptation="low_rank"``): with
# the diagonal one, panels whose misperception has no question part (omega near 0) gave
# R-hat 1.016-1.019 and bulk ESS 295-350 (4 x 600 draws); low-rank 1.006-1.010 and
# 820-1,440. 4 x 1,000 draws after 500 tuning steps (4 x 800 left R-hat 1.012 on a
# recovery panel); 0.9 because the omega and offset scales make funnels when the data say
# they are near zero. The model is small: a fit samples in about a second.
DEFAULT_SAMPLER_CONFIG: dict = {
    "chains": 4,
    "tune": 500,
    "draws": 1000,
    "cores": None,
    "target_accept": 0.9,
}
TRACE_VARS = ["stereotype", "question_part", "omega", "tau", "offset_scale"]
BELIEF_DRAWS = 1000  # draws of theta kept with a perception fit (thinned evenly)


class PerceptionDataError(ValueError):
    """The table cannot be read by the perception model (one clear reason)."""


@dataclass(frozen=True)
class PerceptionData:
    """One round's meta-predictions, coded for (1): ``z`` (log-odds), ``meta_expert``
    (into ``predictors``), ``meta_question``, ``meta_of`` and ``meta_by`` (into
    ``cohorts``), ``meta_pair`` (into ``pairs``), ``meta_cell`` (into ``cells``, the
    (pair, question) combinations predicted)."""

    questions: list[str]
    cohorts: list[str]
    predictors: list[str]
    predictor_cohort: np.ndarray
    pairs: list[tuple[str, str]]  # (by, of)
    cells: list[tuple[int, int]]  # (pair index, question index)
    z: np.ndarray
    meta_expert: np.ndarray
    meta_question: np.ndarray
    meta_pair: np.ndarray
    meta_cell: np.ndarray
    meta_by: np.ndarray
    meta_of: np.ndarray
    round_number: int
    data_hash: str

    @classmethod
    def from_table(cls, table: JudgmentTable) -> "PerceptionData":
        if len(table.rounds) != 1:
            raise PerceptionDataError(
                f"the perception model reads one round at a time; this table has rounds "
                f"{table.rounds}: pass table.for_round(n)"
            )
        questions, cohorts = table.questions, table.cohorts
        if len(cohorts) < 2:
            raise PerceptionDataError("meta-predictions need at least 2 cohorts to compare")
        meta = table.meta_predictions()
        # a cohort with no answer in this round has no actual belief to compare with
        meta = meta[meta["of"].isin(cohorts)].reset_index(drop=True)
        if meta.empty:
            raise PerceptionDataError(
                "the table has no meta-predictions of a cohort that answered: add "
                "meta_<cohort> columns with each expert's expected answer of that cohort"
            )
        q_index = {q: k for k, q in enumerate(questions)}
        c_index = {c: k for k, c in enumerate(cohorts)}
        predictors = sorted(meta["expert"].unique().tolist())
        e_index = {e: k for k, e in enumerate(predictors)}
        by_expert = meta.drop_duplicates("expert").set_index("expert")["cohort"]
        pair_keys = sorted(set(zip(meta["cohort"], meta["of"], strict=True)))
        p_index = {pair: k for k, pair in enumerate(pair_keys)}
        meta_pair = np.array([p_index[k] for k in zip(meta["cohort"], meta["of"], strict=True)])
        meta_question = meta["question"].map(q_index).to_numpy()
        cell_keys = sorted(set(zip(meta_pair.tolist(), meta_question.tolist(), strict=True)))
        cell_index = {cell: k for k, cell in enumerate(cell_keys)}
        return cls(
            questions=questions,
            cohorts=cohorts,
            predictors=predictors,
            predictor_cohort=np.array([c_index[by_expert[e]] for e in predictors]),
            pairs=pair_keys,
            cells=cell_keys,
            z=logit(meta["probability"].to_numpy()),
            meta_expert=meta["expert"].map(e_index).to_numpy(),
            meta_question=meta_question,
            meta_pair=meta_pair,
            meta_cell=np.array([cell_index[c] for c in zip(meta_pair, meta_question, strict=True)]),
            meta_by=meta["cohort"].map(c_index).to_numpy(),
            meta_of=meta["of"].map(c_index).to_numpy(),
            round_number=int(table.rounds[0]),
            data_hash=table.data_hash(),
        )

    def model_arrays(self, anchor: np.ndarray) -> dict[str, np.ndarray]:
        """The data of (1); ``anchor`` is (cohort, question) A_cj, read per prediction."""
        return {
            "z": self.z,
            "anchor": anchor[self.meta_of, self.meta_question],
            "meta_expert": self.meta_expert,
            "meta_pair": self.meta_pair,
            "meta_cell": self.meta_cell,
            "meta_by": self.meta_by,
        }

    @property
    def shape_key(self) -> tuple:
        """What a compiled model depends on besides the data values."""
        return (
            len(self.cohorts),
            tuple(self.predictor_cohort.tolist()),
            len(self.pairs),
            len(self.cells),
            len(self.z),
        )


@dataclass(frozen=True)
class PerceptionFit:
    """A fitted posterior of (1), with the draws of the actual beliefs it was cut from
    (group ``belief``: theta, log-odds, dims sample x cohort x question, and the anchor
    A_cj the fit read, cohort x question)."""

    posterior: xr.DataTree

    def save(self, path: str | Path) -> Path:
        return tree_save(self.posterior, path)

    @classmethod
    def load(cls, path: str | Path) -> "PerceptionFit":
        return cls(posterior=tree_load(path, model_names={MODEL_NAME}))


def belief_draws(fit: HierarchicalFit) -> xr.DataArray:
    """theta_cj = mu_j + delta_cj of a binary hierarchical fit: (sample, cohort, question)."""
    posterior = fit.posterior["posterior"]
    theta = (posterior["mu_question"] + posterior["delta_cohort"]).stack(sample=SAMPLE_DIMS)
    theta = theta.transpose("sample", "cohort", "question")
    return theta.drop_vars(["sample", "chain", "draw"], errors="ignore")


class PerceptionModel:
    """Build and fit the perception model (1) on one round."""

    def __init__(self, model_config: dict | None = None, sampler_config: dict | None = None):
        self.model_config = merge_config(DEFAULT_MODEL_CONFIG, model_config, "model_config")
        self.sampler_config = merge_config(DEFAULT_SAMPLER_CONFIG, sampler_config, "sampler_config")
        if self.sampler_config["chains"] < 2:
            raise ModelConfigError("sample at least 2 chains: R-hat compares chains")
        for key in ("tune", "draws"):
            if not positive_whole(self.sampler_config[key]):
                raise ModelConfigError(f"{key} must be a positive whole number")
        for key, value in self.model_config.items():
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ModelConfigError(f"model_config {key} must be a positive number")

    def build_model(self, data: PerceptionData, anchor: np.ndarray):
        """The PyMC statement of (1); ``anchor`` is (cohort, question) A_cj."""
        import pymc as pm
        import pytensor.tensor as pt

        cfg = self.model_config
        coords = {
            "cohort": data.cohorts,
            "pair": [f"{b}|{c}" for b, c in data.pairs],
            "cell": np.arange(len(data.cells)),
            "predictor": data.predictors,
        }
        arrays = data.model_arrays(anchor)
        # (cohort, predictor) averaging matrix over each cohort's predicting experts
        n_cohorts = len(data.cohorts)
        members = np.zeros((n_cohorts, len(data.predictors)))
        members[data.predictor_cohort, np.arange(len(data.predictors))] = 1.0
        members /= np.maximum(members.sum(axis=1, keepdims=True), 1.0)
        with pm.Model(coords=coords) as model:
            z = pm.Data("z", arrays["z"])
            anchored = pm.Data("anchor", arrays["anchor"])
            m_e = pm.Data("meta_expert", arrays["meta_expert"])
            m_p = pm.Data("meta_pair", arrays["meta_pair"])
            m_c = pm.Data("meta_cell", arrays["meta_cell"])
            m_by = pm.Data("meta_by", arrays["meta_by"])

            stereotype = pm.Normal("stereotype", 0.0, cfg["stereotype_sd"], dims="pair")
            omega = pm.HalfNormal("omega", cfg["omega_sd"])
            part_raw = pm.Normal("part_raw", 0.0, 1.0, dims="cell")
            part = pm.Deterministic("question_part", omega * part_raw, dims="cell")
            offset_scale = pm.HalfNormal("offset_scale", cfg["offset_scale_sd"])
            offset_raw = pm.Normal("offset_raw", 0.0, 1.0, dims="predictor")
            centred = offset_raw - pt.dot(pt.as_tensor(members), offset_raw)[data.predictor_cohort]
            offset = offset_scale * centred
            tau = pm.HalfNormal("tau", cfg["tau_sd"], dims="cohort")
            pm.StudentT(
                "predictions",
                nu=cfg["nu"],
                mu=anchored + stereotype[m_p] + part[m_c] + offset[m_e],
                sigma=tau[m_by],
                observed=z,
            )
        return model

    def fit(
        self,
        table: JudgmentTable,
        *,
        random_seed: int,
        belief: HierarchicalFit | None = None,
        progress: ProgressCallback | None = None,
    ) -> PerceptionFit:
        """Sample (1) for one round. ``belief`` is the binary hierarchical fit of the same
        table (the actual beliefs); fitted here with its defaults when None."""
        data = PerceptionData.from_table(table)
        notify = progress or (lambda phase, fraction: None)
        if belief is None:
            belief = BinaryHierarchicalModel().fit(table, random_seed=random_seed)
        if belief.posterior.attrs.get("data_hash") != data.data_hash:
            raise PerceptionDataError(
                "the binary fit given as the actual beliefs is not of this table"
            )
        if json.loads(belief.posterior.attrs.get("pooled_cohorts", "[]")):
            raise PerceptionDataError(
                "no two cohorts answered a common question, so the binary fit pooled them and "
                "no cohort's actual belief is known to compare the meta-predictions with"
            )
        theta = belief_draws(belief).sel(cohort=data.cohorts, question=data.questions)
        anchor = theta.mean("sample").values
        started = time.perf_counter()
        notify("compiling", 0.0)
        compiled, reused = self._compiled_for(data, anchor)
        compiled_at = time.perf_counter()
        notify("compiling", 1.0)
        trace = sample(
            compiled,
            sampler_config=self.sampler_config,
            random_seed=random_seed,
            progress=notify,
            adaptation="low_rank",
        )
        sampled_at = time.perf_counter()
        # a reused compiled model carries the labels of the data it was compiled with
        labels = {
            "cohort": data.cohorts,
            "pair": [f"{b}|{c}" for b, c in data.pairs],
            "predictor": data.predictors,
        }
        posterior = trace["posterior"].to_dataset()
        trace["posterior"] = posterior.assign_coords(
            {dim: values for dim, values in labels.items() if dim in posterior.dims}
        )
        keep = np.linspace(0, theta.sizes["sample"] - 1, min(BELIEF_DRAWS, theta.sizes["sample"]))
        trace["belief"] = xr.Dataset(
            {
                "theta": theta.isel(sample=keep.astype(int)).drop_vars("sample", errors="ignore"),
                # the anchor the fit used (the mean of all draws, not of the kept ones)
                "anchor": (("cohort", "question"), anchor),
            }
        )
        trace.attrs.update(
            {
                "model_name": MODEL_NAME,
                "model_version": MODEL_VERSION,
                "model_config": json.dumps(self.model_config, sort_keys=True),
                "sampler_config": json.dumps(self.sampler_config, sort_keys=True),
                "data_hash": data.data_hash,
                "round": data.round_number,
                "random_seed": random_seed,
                "pairs": json.dumps([list(pair) for pair in data.pairs]),
                "cells": json.dumps([[int(p), int(q)] for p, q in data.cells]),
                "questions": json.dumps(data.questions),
                "compile_seconds": round(compiled_at - started, 3),
                "compiled_model_reused": int(reused),
                "sampling_seconds": round(sampled_at - compiled_at, 3),
            }
        )
        return PerceptionFit(posterior=trace)

    def _compiled_for(self, data: PerceptionData, anchor: np.ndarray):
        import nutpie

        key = (MODEL_VERSION, json.dumps(self.model_config, sort_keys=True), data.shape_key)
        with _COMPILED_LOCK:
            compiled = _COMPILED.get(key)
        if compiled is not None:
            return compiled.with_data(**data.model_arrays(anchor)), True
        compiled = nutpie.compile_pymc_model(self.build_model(data, anchor), var_names=TRACE_VARS)
        with _COMPILED_LOCK:
            _COMPILED[key] = compiled
        return compiled, False


_COMPILED: dict = {}
_COMPILED_LOCK = threading.Lock()


# --- the result -----------------------------------------------------------------------
def perception_draws(fit: PerceptionFit, *, random_seed: int = 0) -> xr.Dataset:
    """Draws (chain, draw, ...) of the reported quantities: per (pair, question) cell the
    perceived log-odds P, the predicted and actual beliefs and the error (probability);
    per pair the shared misperception (log-odds, mean of P - theta over its questions).
    Each draw of (1) is paired with a draw of theta picked by ``random_seed``."""
    tree = fit.posterior
    posterior = tree["posterior"].to_dataset()
    cells = json.loads(tree.attrs["cells"])
    pairs = [tuple(pair) for pair in json.loads(tree.attrs["pairs"])]
    cohorts = [str(c) for c in posterior["cohort"].values]
    theta = tree["belief"]["theta"].transpose("sample", "cohort", "question").values
    pair_of = np.array([p for p, _ in cells], dtype=int)
    question_of = np.array([q for _, q in cells], dtype=int)
    of = np.array([cohorts.index(pairs[p][1]) for p in pair_of], dtype=int)
    anchor = tree["belief"]["anchor"].transpose("cohort", "question").values[of, question_of]
    stereotype = posterior["stereotype"].transpose(*SAMPLE_DIMS, "pair").values
    part = posterior["question_part"].transpose(*SAMPLE_DIMS, "cell").values
    perceived = anchor + stereotype[..., pair_of] + part
    n_chains, n_draws = perceived.shape[:2]
    pick = np.random.default_rng(random_seed).integers(theta.shape[0], size=(n_chains, n_draws))
    actual_logodds = theta[pick][..., of, question_of]
    gap = perceived - actual_logodds
    shared = np.stack([gap[..., pair_of == p].mean(axis=-1) for p in range(len(pairs))], -1)
    cell_dims, pair_dims = (*SAMPLE_DIMS, "cell"), (*SAMPLE_DIMS, "pair")
    predicted, actual = expit(perceived), expit(actual_logodds)
    return xr.Dataset(
        {
            "perceived": (cell_dims, perceived),
            "predicted": (cell_dims, predicted),
            "actual": (cell_dims, actual),
            "error": (cell_dims, predicted - actual),
            "shared": (pair_dims, shared),
        },
        coords={"pair": [f"{b}|{c}" for b, c in pairs], "cell": np.arange(len(cells))},
    )


def summarize_perception(
    fit: PerceptionFit, table: JudgmentTable, *, interval_mass: float = 0.9
) -> dict:
    """The perception part of a round's result.

    Returns ``{"questions": {q: [{"by", "of", "predicted", "actual", "error",
    "p_overestimates", "n_predictions"}]}, "shared": [{"by", "of", "logodds",
    "p_overestimates", "mean_error"}], "diagnostics": {...}}``; means and central
    intervals of mass ``interval_mass``; errors and beliefs are probabilities. The
    diagnostics are those of (1): the perceived beliefs and the model's scales (the actual
    beliefs' are the binary fit's).
    """
    if not 0.0 < interval_mass < 1.0:
        raise ValueError(f"interval mass must be between 0 and 1 (exclusive), got {interval_mass}")
    tree = fit.posterior
    if tree.attrs["data_hash"] != table.data_hash():
        raise ValueError("this table is not the one the perception model was fitted to")
    draws = perception_draws(fit)
    tail = (1.0 - interval_mass) / 2.0
    cells = json.loads(tree.attrs["cells"])
    pairs = [tuple(pair) for pair in json.loads(tree.attrs["pairs"])]
    questions = json.loads(tree.attrs["questions"])
    counts = table.meta_predictions().groupby(["cohort", "of", "question"]).size()

    def point(values: np.ndarray) -> dict:
        flat = values.reshape(-1)
        low, high = np.quantile(flat, [tail, 1.0 - tail])
        return {"mean": _round(flat.mean()), "interval": [_round(low), _round(high)]}

    per_question: dict[str, list] = {q: [] for q in questions}
    for k, (p, q) in enumerate(cells):
        by, of = pairs[p]
        error = draws["error"].values[..., k]
        per_question[questions[q]].append(
            {
                "by": by,
                "of": of,
                "predicted": point(draws["predicted"].values[..., k]),
                "actual": point(draws["actual"].values[..., k]),
                "error": point(error),
                "p_overestimates": _round((error > 0).mean()),
                "n_predictions": int(counts.get((by, of, questions[q]), 0)),
            }
        )
    shared = []
    for p, (by, of) in enumerate(pairs):
        gap = draws["shared"].values[..., p]
        of_pair = [k for k, (pp, _) in enumerate(cells) if pp == p]
        shared.append(
            {
                "by": by,
                "of": of,
                "logodds": point(gap),
                "p_overestimates": _round((gap > 0).mean()),
                # the error averaged over the questions b predicted c on (probability)
                "mean_error": point(draws["error"].values[..., of_pair].mean(axis=-1)),
            }
        )
    posterior = tree["posterior"].to_dataset()
    checked = xr.Dataset(
        {
            "perceived": draws["perceived"],
            **{name: posterior[name] for name in ("stereotype", "omega", "tau", "offset_scale")},
        }
    )
    attrs = tree.attrs
    return {
        "interval_mass": interval_mass,
        "model": {
            "name": attrs["model_name"],
            "version": attrs["model_version"],
            "random_seed": int(attrs["random_seed"]),
            "scales": {
                "predicted, actual, error": "probability; error = predicted - actual belief",
                "logodds": "log-odds, the shared misperception of 'of' by 'by'",
            },
            "actual": "the cohort beliefs of the binary hierarchical model (answers only)",
        },
        "questions": {q: rows for q, rows in per_question.items() if rows},
        "shared": shared,
        "diagnostics": diagnostics(checked, tree["sample_stats"].to_dataset()),
        "timings": {
            "compile_seconds": float(attrs.get("compile_seconds", 0.0)),
            "sampling_seconds": float(attrs.get("sampling_seconds", 0.0)),
        },
    }


# --- closed-form scores -----------------------------------------------------------------
def raw_perception_errors(table: JudgmentTable) -> pd.DataFrame:
    """The naive estimate the model is measured against: per question and (by, of) pair,
    the mean of b's predictions of c minus the mean of c's answers (probabilities)."""
    meta = table.meta_predictions()
    predicted = meta.groupby(["question", "cohort", "of"])["probability"].mean()
    answered = table.frame.groupby(["question", "cohort"])["probability"].mean()
    rows = [
        {"question": q, "by": b, "of": c, "error": value - answered.get((q, c), np.nan)}
        for (q, b, c), value in predicted.items()
    ]
    return pd.DataFrame(rows, columns=["question", "by", "of", "error"])


def reciprocal_scores(table: JudgmentTable) -> dict:
    """Reciprocal scores of the meta-predictions (module docstring): squared distance of
    each prediction to the median answer of the predicted cohort without the predictor's.

    Returns ``{"rule", "experts": {expert: {"cohort", "score", "n"}}, "pairs":
    [{"by", "of", "score", "n"}]}``; predictions of a cohort with no other answer to the
    question are not scored.
    """
    answers = {
        key: dict(zip(group["expert"], group["probability"], strict=True))
        for key, group in table.frame.groupby(["question", "cohort"])
    }
    scored = []
    for row in table.meta_predictions().itertuples(index=False):
        others = [p for e, p in answers.get((row.question, row.of), {}).items() if e != row.expert]
        if not others:
            continue
        scored.append((row.expert, row.cohort, row.of, (row.probability - np.median(others)) ** 2))
    scores = pd.DataFrame(scored, columns=["expert", "by", "of", "score"])
    experts = {
        str(e): {"cohort": str(g["by"].iloc[0]), "score": _round(g["score"].mean()), "n": len(g)}
        for e, g in scores.groupby("expert")
    }
    pairs = [
        {"by": str(b), "of": str(c), "score": _round(g["score"].mean()), "n": len(g)}
        for (b, c), g in scores.groupby(["by", "of"])
    ]
    return {
        "rule": "mean squared distance (probability) to the cohort's median answer, "
        "the predictor's own answer left out; lower is better",
        "experts": experts,
        "pairs": pairs,
    }


def pivot_forecasts(table: JudgmentTable) -> pd.DataFrame:
    """Per question with predictions: the mean answer, the mean predicted answer of the
    panel, the surprisingly popular answer and Palley & Soll's pivot probability.

    Columns: question, mean_answer, predicted_answer, surprisingly_popular ("yes"/"no"),
    pivot (probability).
    """
    frame = table.frame
    meta = table.meta_predictions()
    if meta.empty:
        return pd.DataFrame(
            columns=["question", "mean_answer", "predicted_answer", "surprisingly_popular", "pivot"]
        )
    shares = frame.groupby("question")["cohort"].value_counts(normalize=True)
    weighted = meta.assign(
        w=[shares.get((q, c), 0.0) for q, c in zip(meta["question"], meta["of"], strict=True)]
    )
    weighted = weighted[weighted["w"] > 0]
    # each expert's predicted panel answer: their predictions weighted by cohort shares,
    # renormalised over the cohorts they predicted
    per_expert = weighted.groupby(["question", "expert"]).apply(
        lambda g: float(np.average(g["probability"], weights=g["w"])), include_groups=False
    )
    predicted = per_expert.groupby("question").mean()
    mean_answer = frame.groupby("question")["probability"].mean()
    rows = []
    for question, m_bar in predicted.items():
        p_bar = float(mean_answer[question])
        rows.append(
            {
                "question": question,
                "mean_answer": p_bar,
                "predicted_answer": float(m_bar),
                "surprisingly_popular": "yes" if p_bar > m_bar else "no",
                "pivot": float(np.clip(2 * p_bar - m_bar, CLIP, 1 - CLIP)),
            }
        )
    return pd.DataFrame(rows)


def _round(value: float, digits: int = 6) -> float:
    return float(round(float(value), digits))


def add_perception(
    result: dict, table: JudgmentTable, *, fit: PerceptionFit | None, interval_mass: float = 0.9
) -> dict:
    """Put the perception parts into a round's result (the DESIGN.md contract), in place.

    Per question: ``perception`` (the model's rows, when ``fit`` is given) and
    ``surprisingly_popular``. At the top: ``perception`` with the shared misperceptions,
    the model's diagnostics and the reciprocal scores. A table without meta-predictions
    leaves the result as it is.
    """
    if not table.meta_cohorts or table.meta_predictions().empty:
        return result
    block: dict = {"reciprocal_scores": reciprocal_scores(table)}
    if fit is not None:
        summary = summarize_perception(fit, table, interval_mass=interval_mass)
        for question, rows in summary["questions"].items():
            result["questions"][question]["perception"] = rows
        block.update({key: summary[key] for key in ("shared", "model", "diagnostics", "timings")})
    for row in pivot_forecasts(table).itertuples(index=False):
        result["questions"][row.question]["surprisingly_popular"] = {
            "answer": row.surprisingly_popular,
            "mean_answer": _round(row.mean_answer),
            "predicted_answer": _round(row.predicted_answer),
            "pivot": _round(row.pivot),
        }
    result["perception"] = block
    return result
