"""How each cohort sees the others: meta-predictions, the perception model and its scores.

Beside their own probability p_ij, experts may predict the average answer of each cohort's
experts to the same question (``meta_<cohort>`` columns of a ``JudgmentTable``): m_ijc.
A cohort's predictions of another cohort's answer are data about its perception of that
cohort. On the log-odds scale, with y_ij = logit(p_ij) and z_ijc = logit(m_ijc) (both
clipped as answers are, ``data.clip_probabilities``):

    answers          y_ij  ~ Student-t(nu, theta_{g(i) j} + b_i, sigma_i * kappa_j)        (1)
    meta-predictions z_ijc ~ Student-t(nu, theta_cj + s_{g(i) c} + e_{g(i) c j} + a_i,
                                        tau_{g(i)})                                     (2)

- theta_cj = mu_j + lambda_c + d_cj   cohort c's actual belief on question j: the log-odds
  of a typical expert of c (mu_j the question's level, lambda_c the cohort's lean over
  all questions, d_cj zero-sum over cohorts and over questions, as in the binary
  hierarchical model, hierarchical.py);
- b_i, sigma_i, kappa_j               expert bias (zero-sum within each cohort), expert noise
  (geometric mean 1) and question disagreement, as in the binary model;
- s_bc ~ Normal(0, stereotype_sd)     the shared misperception of cohort c by cohort b
  (its "stereotype"): how far, in log-odds, b's experts put c's answers from c's actual
  belief on every question; s_bb is a cohort's misjudgement of itself;
- e_bcj ~ Normal(0, omega)            the question's own part of that misperception,
  partially pooled (omega ~ HalfNormal(omega_sd)), non-centred;
- a_i                                  the expert's own offset over all their predictions,
  zero-sum within the predicting cohort (so it cannot absorb the cohort's stereotype);
- tau_b ~ HalfNormal(tau_sd)           the scatter of b's individual predictions.

Reported, per question j and pair (b, c) with predictions:

    predicted_bcj = expit(theta_cj + s_bc + e_bcj)   what a typical expert of b expects c to say
    actual_cj     = expit(theta_cj)                  what c's typical expert believes
    error_bcj     = predicted_bcj - actual_cj        (probability; > 0: b overestimates c)

with P(error > 0), and per pair the stereotype s_bc (log-odds) with its interval.
"Average answer" is read on the log-odds scale, like every other belief of the engine:
a cohort's actual belief is expit of its mean log-odds, not the mean of its probabilities.

Why a joint model rather than the raw difference of means (b's mean prediction of c minus
c's mean answer): both means carry the sampling noise of a few experts and of odd answers;
the model pools the question parts towards the stereotype and reads answers and
predictions robustly (Student-t, nu = 4). The synthetic recovery test
(tests/aggregation/engine/test_perception_recovery.py) measures both against the truth.

Closed-form scores, no model:

- ``reciprocal_scores``: reciprocal scoring (Karger, Monrad, Mellers & Tetlock 2021,
  "Reciprocal scoring: a method for forecasting unanswerable questions", SSRN 3954498):
  a meta-prediction m_ijc is scored by its squared distance to what cohort c actually
  answered, the mean of c's probabilities on question j leaving out expert i's own
  answer. Lower is better; 0 is perfect. Per expert and per (by, of) pair.
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
from aggregation.engine.posterior import ProgressCallback, sample, tree_load, tree_save
from aggregation.engine.spec import ModelConfigError, merge_config, positive_whole
from aggregation.engine.summary import SAMPLE_DIMS, diagnostics

MODEL_NAME = "perception"
MODEL_VERSION = "1"

DEFAULT_MODEL_CONFIG: dict = {
    "nu": 4.0,  # Student-t degrees of freedom of (1) and (2)
    "mu_sd": 2.0,  # as in the binary model (spec.DEFAULT_MODEL_CONFIG)
    "lean_sd": 0.5,
    "delta_scale_sd": 0.5,
    "bias_scale_sd": 1.0,
    "sigma_scale_sd": 0.5,
    "kappa_scale_sd": 0.5,
    # a stereotype of 1 log-odds (50 % read as 73 %) is large; 2 would be extreme
    "stereotype_sd": 1.0,
    "omega_sd": 0.5,  # HalfNormal sd of the question parts of a misperception
    "offset_scale_sd": 0.5,  # HalfNormal sd of the spread of experts' own offsets a_i
    "tau_sd": 1.0,  # HalfNormal sd of the scatter of individual predictions
}
# Small posteriors (a few hundred quantities), sampled with nutpie's low-rank mass matrix
# adaptation (``adaptation="low_rank"``): a stereotype is strongly correlated with the
# belief of the cohort it is about, which a diagonal mass matrix explores slowly. With the
# diagonal one, panels whose misperception has no question part (omega near 0) gave
# stereotype R-hat 1.016-1.019 and bulk ESS 295-350 (4 x 600 draws); low-rank: 1.006-1.010
# and 820-1,440. 4 x 800 draws after 400 tuning steps; 0.9 because the omega and offset
# scales make funnels when the data say they are near zero.
DEFAULT_SAMPLER_CONFIG: dict = {
    "chains": 4,
    "tune": 400,
    "draws": 800,
    "cores": None,
    "target_accept": 0.9,
}
TRACE_VARS = ["theta", "stereotype", "question_part", "omega", "tau", "bias_expert"]


class PerceptionDataError(ValueError):
    """The table cannot be read by the perception model (one clear reason)."""


@dataclass(frozen=True)
class PerceptionData:
    """One round's answers and meta-predictions, coded for the model.

    Answers: ``y`` (log-odds), ``answer_expert``, ``answer_question``. Predictions: ``z``
    (log-odds), ``meta_expert``, ``meta_question``, ``meta_pair`` (into ``pairs``) and
    ``meta_cell`` (into ``cells``, the (pair, question) combinations predicted).
    """

    questions: list[str]
    experts: list[str]
    cohorts: list[str]
    expert_cohort: np.ndarray
    y: np.ndarray
    answer_expert: np.ndarray
    answer_question: np.ndarray
    pairs: list[tuple[str, str]]  # (by, of)
    cells: list[tuple[int, int]]  # (pair index, question index)
    z: np.ndarray
    meta_expert: np.ndarray
    meta_question: np.ndarray
    meta_pair: np.ndarray
    meta_cell: np.ndarray
    round_number: int
    data_hash: str

    @classmethod
    def from_table(cls, table: JudgmentTable) -> "PerceptionData":
        if len(table.rounds) != 1:
            raise PerceptionDataError(
                f"the perception model reads one round at a time; this table has rounds "
                f"{table.rounds}: pass table.for_round(n)"
            )
        frame = table.frame
        meta = table.meta_predictions()
        if meta.empty:
            raise PerceptionDataError(
                "the table has no meta-predictions: add meta_<cohort> columns with each "
                "expert's expected average answer of that cohort"
            )
        questions, experts, cohorts = table.questions, table.experts, table.cohorts
        if len(cohorts) < 2:
            raise PerceptionDataError("meta-predictions need at least 2 cohorts to compare")
        q_index = {q: k for k, q in enumerate(questions)}
        e_index = {e: k for k, e in enumerate(experts)}
        c_index = {c: k for k, c in enumerate(cohorts)}
        by_expert = frame.drop_duplicates("expert").set_index("expert")["cohort"]
        expert_cohort = np.array([c_index[by_expert[e]] for e in experts])
        pair_keys = sorted({(b, c) for b, c in zip(meta["cohort"], meta["of"], strict=True)})
        p_index = {pair: k for k, pair in enumerate(pair_keys)}
        meta_pair = np.array(
            [p_index[(b, c)] for b, c in zip(meta["cohort"], meta["of"], strict=True)]
        )
        meta_question = meta["question"].map(q_index).to_numpy()
        cell_keys = sorted(set(zip(meta_pair.tolist(), meta_question.tolist(), strict=True)))
        cell_index = {cell: k for k, cell in enumerate(cell_keys)}
        return cls(
            questions=questions,
            experts=experts,
            cohorts=cohorts,
            expert_cohort=expert_cohort,
            y=logit(frame["probability"].to_numpy()),
            answer_expert=frame["expert"].map(e_index).to_numpy(),
            answer_question=frame["question"].map(q_index).to_numpy(),
            pairs=pair_keys,
            cells=cell_keys,
            z=logit(meta["probability"].to_numpy()),
            meta_expert=meta["expert"].map(e_index).to_numpy(),
            meta_question=meta_question,
            meta_pair=meta_pair,
            meta_cell=np.array([cell_index[c] for c in zip(meta_pair, meta_question, strict=True)]),
            round_number=int(table.rounds[0]),
            data_hash=table.data_hash(),
        )

    def model_arrays(self) -> dict[str, np.ndarray]:
        of_pair = np.array([self.cohorts.index(c) for _, c in self.pairs])
        return {
            "y": self.y,
            "answer_expert": self.answer_expert,
            "answer_question": self.answer_question,
            "answer_cohort": self.expert_cohort[self.answer_expert],
            "z": self.z,
            "meta_expert": self.meta_expert,
            "meta_question": self.meta_question,
            "meta_pair": self.meta_pair,
            "meta_cell": self.meta_cell,
            "meta_by": self.expert_cohort[self.meta_expert],
            "meta_of": of_pair[self.meta_pair],
        }

    @property
    def shape_key(self) -> tuple:
        """What a compiled model depends on besides the data values."""
        return (
            len(self.questions),
            len(self.experts),
            len(self.cohorts),
            tuple(self.expert_cohort.tolist()),
            tuple(self.pairs),
            tuple(self.cells),
            len(self.y),
            len(self.z),
        )


@dataclass(frozen=True)
class PerceptionFit:
    """A fitted posterior of the perception model, with what produced it."""

    posterior: xr.DataTree

    def save(self, path: str | Path) -> Path:
        return tree_save(self.posterior, path)

    @classmethod
    def load(cls, path: str | Path) -> "PerceptionFit":
        return cls(posterior=tree_load(path, model_names={MODEL_NAME}))


class PerceptionModel:
    """Build and fit the perception model, (1) and (2), on one round."""

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

    def build_model(self, data: PerceptionData):
        """The PyMC statement of (1) and (2)."""
        import pymc as pm
        import pytensor.tensor as pt

        cfg = self.model_config
        n_cohorts = len(data.cohorts)
        coords = {
            "question": data.questions,
            "expert": data.experts,
            "cohort": data.cohorts,
            "pair": [f"{b}|{c}" for b, c in data.pairs],
            "cell": np.arange(len(data.cells)),
        }
        arrays = data.model_arrays()
        cohort_of = data.expert_cohort
        # (cohort, expert) averaging matrix: row g holds 1/n_g at g's experts
        members = np.zeros((n_cohorts, len(data.experts)))
        members[cohort_of, np.arange(len(data.experts))] = 1.0
        members /= members.sum(axis=1, keepdims=True)
        with pm.Model(coords=coords) as model:
            y = pm.Data("y", arrays["y"])
            z = pm.Data("z", arrays["z"])
            a_e = pm.Data("answer_expert", arrays["answer_expert"])
            a_q = pm.Data("answer_question", arrays["answer_question"])
            a_c = pm.Data("answer_cohort", arrays["answer_cohort"])
            m_e = pm.Data("meta_expert", arrays["meta_expert"])
            m_q = pm.Data("meta_question", arrays["meta_question"])
            m_p = pm.Data("meta_pair", arrays["meta_pair"])
            m_c = pm.Data("meta_cell", arrays["meta_cell"])
            m_by = pm.Data("meta_by", arrays["meta_by"])
            m_of = pm.Data("meta_of", arrays["meta_of"])

            # (1): each cohort's actual belief and the answers
            mu = pm.Normal("mu", 0.0, cfg["mu_sd"], dims="question")
            lean = pm.ZeroSumNormal("lean", sigma=cfg["lean_sd"], dims="cohort")
            delta_scale = pm.HalfNormal("delta_scale", cfg["delta_scale_sd"])
            delta_raw = pm.ZeroSumNormal(
                "delta_raw", sigma=1.0, dims=("question", "cohort"), n_zerosum_axes=2
            )
            theta = pm.Deterministic(
                "theta",
                (mu[:, None] + lean[None, :] + delta_scale * delta_raw).T,
                dims=("cohort", "question"),
            )
            bias_scale = pm.HalfNormal("bias_scale", cfg["bias_scale_sd"])
            bias_raw = pm.Normal("bias_raw", 0.0, 1.0, dims="expert")
            centred_bias = bias_raw - pt.dot(pt.as_tensor(members), bias_raw)[cohort_of]
            bias = pm.Deterministic("bias_expert", bias_scale * centred_bias, dims="expert")
            sigma_scale = pm.HalfNormal("sigma_scale", cfg["sigma_scale_sd"])
            log_sigma_raw = pm.ZeroSumNormal("log_sigma_raw", sigma=1.0, dims="expert")
            log_sigma_mean = pm.Normal("log_sigma_mean", 0.0, 1.0)
            kappa_scale = pm.HalfNormal("kappa_scale", cfg["kappa_scale_sd"])
            log_kappa_raw = pm.ZeroSumNormal("log_kappa_raw", sigma=1.0, dims="question")
            scale = pt.exp(
                log_sigma_mean + sigma_scale * log_sigma_raw[a_e] + kappa_scale * log_kappa_raw[a_q]
            )
            pm.StudentT(
                "answers",
                nu=cfg["nu"],
                mu=theta[a_c, a_q] + bias[a_e],
                sigma=scale,
                observed=y,
            )

            # (2): the predictions of each cohort's answers
            stereotype = pm.Normal("stereotype", 0.0, cfg["stereotype_sd"], dims="pair")
            omega = pm.HalfNormal("omega", cfg["omega_sd"])
            part_raw = pm.Normal("part_raw", 0.0, 1.0, dims="cell")
            part = pm.Deterministic("question_part", omega * part_raw, dims="cell")
            offset_scale = pm.HalfNormal("offset_scale", cfg["offset_scale_sd"])
            offset_raw = pm.Normal("offset_raw", 0.0, 1.0, dims="expert")
            offset = offset_scale * (
                offset_raw - pt.dot(pt.as_tensor(members), offset_raw)[cohort_of]
            )
            tau = pm.HalfNormal("tau", cfg["tau_sd"], dims="cohort")
            pm.StudentT(
                "predictions",
                nu=cfg["nu"],
                mu=theta[m_of, m_q] + stereotype[m_p] + part[m_c] + offset[m_e],
                sigma=tau[m_by],
                observed=z,
            )
        return model

    def fit(
        self,
        table: JudgmentTable | PerceptionData,
        *,
        random_seed: int,
        progress: ProgressCallback | None = None,
    ) -> PerceptionFit:
        """Sample the posterior; the compiled model is reused for data of the same shape."""
        data = table if isinstance(table, PerceptionData) else PerceptionData.from_table(table)
        notify = progress or (lambda phase, fraction: None)
        started = time.perf_counter()
        notify("compiling", 0.0)
        compiled, reused = self._compiled_for(data)
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
            "question": data.questions,
            "expert": data.experts,
            "cohort": data.cohorts,
            "pair": [f"{b}|{c}" for b, c in data.pairs],
        }
        posterior = trace["posterior"].to_dataset()
        trace["posterior"] = posterior.assign_coords(
            {dim: values for dim, values in labels.items() if dim in posterior.dims}
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
                "cells": json.dumps([[int(p), int(q)] for p, q in data.cells]),
                "compile_seconds": round(compiled_at - started, 3),
                "compiled_model_reused": int(reused),
                "sampling_seconds": round(sampled_at - compiled_at, 3),
            }
        )
        return PerceptionFit(posterior=trace)

    def _compiled_for(self, data: PerceptionData):
        import nutpie

        key = (MODEL_VERSION, json.dumps(self.model_config, sort_keys=True), data.shape_key)
        with _COMPILED_LOCK:
            compiled = _COMPILED.get(key)
        if compiled is not None:
            return compiled.with_data(**data.model_arrays()), True
        compiled = nutpie.compile_pymc_model(self.build_model(data), var_names=TRACE_VARS)
        with _COMPILED_LOCK:
            _COMPILED[key] = compiled
        return compiled, False


_COMPILED: dict = {}
_COMPILED_LOCK = threading.Lock()


# --- the result -----------------------------------------------------------------------
def perception_draws(fit: PerceptionFit) -> xr.Dataset:
    """Draws of the reported quantities: per (pair, question) cell the predicted and actual
    beliefs and the error (probability), per pair the stereotype (log-odds)."""
    posterior = fit.posterior["posterior"].to_dataset()
    cells = json.loads(fit.posterior.attrs["cells"])
    pairs = [str(p) for p in posterior["pair"].values]
    cohorts = [str(c) for c in posterior["cohort"].values]
    of = np.array([cohorts.index(pairs[p].split("|", 1)[1]) for p, _ in cells])
    pair_of_cell = np.array([p for p, _ in cells])
    question_of_cell = np.array([q for _, q in cells])
    theta = posterior["theta"].transpose(*SAMPLE_DIMS, "cohort", "question").values
    actual_logodds = theta[:, :, of, question_of_cell]
    stereotype = posterior["stereotype"].transpose(*SAMPLE_DIMS, "pair").values
    part = posterior["question_part"].transpose(*SAMPLE_DIMS, "cell").values
    predicted = expit(actual_logodds + stereotype[..., pair_of_cell] + part)
    actual = expit(actual_logodds)
    dims = (*SAMPLE_DIMS, "cell")
    return xr.Dataset(
        {
            "predicted": (dims, predicted),
            "actual": (dims, actual),
            "error": (dims, predicted - actual),
            "stereotype": (
                (*SAMPLE_DIMS, "pair"),
                stereotype,
            ),
        },
        coords={"pair": pairs, "cell": np.arange(len(cells))},
    )


def summarize_perception(
    fit: PerceptionFit, table: JudgmentTable, *, interval_mass: float = 0.9
) -> dict:
    """The perception part of a round's result.

    Returns ``{"questions": {q: [{"by", "of", "predicted", "actual", "error",
    "p_overestimates", "n_predictions"}]}, "shared": [{"by", "of", "logodds",
    "p_overestimates", "mean_error"}], "diagnostics": {...}}``; means and central
    intervals of mass ``interval_mass``; errors and beliefs are probabilities.
    """
    if not 0.0 < interval_mass < 1.0:
        raise ValueError(f"interval mass must be between 0 and 1 (exclusive), got {interval_mass}")
    tree = fit.posterior
    if tree.attrs["data_hash"] != table.data_hash():
        raise ValueError("this table is not the one the perception model was fitted to")
    draws = perception_draws(fit)
    tail = (1.0 - interval_mass) / 2.0
    cells = json.loads(tree.attrs["cells"])
    pairs = [str(p).split("|", 1) for p in draws["pair"].values]
    questions = [str(q) for q in tree["posterior"]["question"].values]
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
        stereotype = draws["stereotype"].values[..., p]
        of_pair = [k for k, (pp, _) in enumerate(cells) if pp == p]
        shared.append(
            {
                "by": by,
                "of": of,
                "logodds": point(stereotype),
                "p_overestimates": _round((stereotype > 0).mean()),
                # the error averaged over the questions b predicted c on (probability)
                "mean_error": point(draws["error"].values[..., of_pair].mean(axis=-1)),
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
        },
        "questions": {q: rows for q, rows in per_question.items() if rows},
        "shared": shared,
        "diagnostics": diagnostics(draws, tree["sample_stats"].to_dataset()),
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
    each prediction to the predicted cohort's mean answer without the predictor's own.

    Returns ``{"rule", "experts": {expert: {"cohort", "score", "n"}}, "pairs":
    [{"by", "of", "score", "n"}]}``; predictions of a cohort with no other answer to the
    question are not scored.
    """
    frame = table.frame
    meta = table.meta_predictions()
    sums = frame.groupby(["question", "cohort"])["probability"].agg(["sum", "count"])
    own = frame.set_index(["expert", "question"])["probability"]
    scored = []
    for row in meta.itertuples(index=False):
        total, count = (
            sums.loc[(row.question, row.of)] if (row.question, row.of) in sums.index else (0.0, 0)
        )
        if row.cohort == row.of:  # leave the predictor's own answer out
            total, count = total - own.get((row.expert, row.question), 0.0), count - 1
        if count < 1:
            continue
        scored.append((row.expert, row.cohort, row.of, (row.probability - total / count) ** 2))
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
        "rule": "mean squared distance (probability) to the cohort's mean answer, "
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
