"""Delphi rounds fitted together: the same experts' answers in two rounds are linked.

An expert who answered a question in round 1 and again in round 2 gives two answers that
share whatever made that expert see the question their way; treating them as independent
data would overstate how much is known about the change between rounds. The model of
``hierarchical.py`` is extended so that an expert's answers to one question in successive
rounds are jointly Student-t with correlation rho ("persistence"):

    m_ijr = b_i + a_i (mu_jr + delta_{g(i) j r}),    s_ijr = sigma_i kappa_jr
    (y_ij,r-1, y_ijr) ~ bivariate Student-t(nu; means m, scales s, correlation rho)

so every answer, taken alone, has the single-round distribution Student-t(nu, m_ijr,
s_ijr): consensus mu_jr and disagreement kappa_jr keep their single-round meaning, per
round. Bias b_i, slope a_i (how much of the probability scale the expert uses, the
binary model's version 5) and noise sigma_i are the expert's own across rounds. Given the previous
answer, with d = (y_ij,r-1 - m_ij,r-1) / s_ij,r-1 the expert's standardized lean then,

    y_ijr | y_ij,r-1 ~ Student-t(nu + 1, m_ijr + rho s_ijr d,
                                 s_ijr sqrt((nu + d^2) / (nu + 1) (1 - rho^2)))       (2)

(the conditional of a bivariate t), which is how the likelihood is computed: the first
answer of an expert to a question by the single-round density, each later one by (2)
given the one before. No latent variable per pair is sampled (an earlier version had one,
whose 1,800 latents on a 60 x 30 panel needed 50 leapfrog steps a draw).

Kept answers. "Keep my previous answer" is a choice, not a second independent
observation: an exact copy of the previous answer is read as "my belief now lies within
+- tau of what I said", an interval of (2):

    P(kept) = T_{nu+1}(y_ij,r-1 + tau) - T_{nu+1}(y_ij,r-1 - tau)    under (2),
    tau ~ HalfNormal(keep_tolerance_sd)                        (log-odds, panel-wide)

Read as exact answers, copies are a density that grows without bound as rho -> 1, which
pinned the persistence at 0.96 (0.95 to 0.96) on a panel that kept 40 % of its answers
and moved the rest; read as intervals their probability is at most 1, and rho is learned
from how far the others moved (bench/README.md). An answer equal to the previous one by
chance is read as kept too.

The change of the consensus between the first and the last round,
expit(mu_jR) - expit(mu_j1), and the ratio of disagreements kappa_jR / kappa_j1 are then
posterior quantities of one fit, with the pairing taken into account (as a paired test
would, rather than two independent ones).

This is a plain PyMC model, compiled by nutpie (``backend="pymc"``). Its per-round
quantities (mu, delta, the log kappa) are sampled in coordinates rotated across rounds
(``round_basis``): the same prior, but a question's rounds, which the pairing ties together
a posteriori (as closely as rho), become their mean and contrasts, which it does not. On a
60 x 30 x 2 panel this halved the leapfrog steps a draw (31 to 15), and the sampling time;
with the slopes of version 6 it takes 17-20.
"""

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import expit

from aggregation.engine.data import JudgmentTable, logit
from aggregation.engine.hierarchical import (
    POOLED_COHORT,
    HierarchicalFit,
    centred_by_answers,
    cohorts_to_pool,
    normalized_by_answers,
)
from aggregation.engine.posterior import ProgressCallback, sample
from aggregation.engine.spec import (
    DEFAULT_MODEL_CONFIG,
    DEFAULT_SAMPLER_CONFIG,
    ModelConfigError,
    merge_config,
    positive_whole,
)
from aggregation.engine.summary import SAMPLE_DIMS, _check_interval, _round, diagnostics

MODEL_NAME = "linked_rounds"
# 3: the binary model's weaker cohort-scale priors (spec.py, 2026-12-07); 4: the same model,
# sampled in coordinates rotated across rounds (round_basis): half the leapfrog steps;
# 5: cohorts that share no question are pooled, as in the binary model's version 4;
# 6: each expert's slope, as in the binary model's version 5; 7: biases average 0 and slopes
# 1 over the answers, as in the binary model's version 6
MODEL_VERSION = "7"
LINKED_DEFAULTS = {
    **{k: v for k, v in DEFAULT_MODEL_CONFIG.items() if k != "parametrization"},
    "rho_alpha": 2.0,  # Beta(2, 2) on the persistence: weakly towards the middle
    "rho_beta": 2.0,
    "keep_tolerance_sd": 0.5,  # HalfNormal sd of tau, the half-width of "kept" (log-odds)
}
# The single-round model's sampler settings; "draws" "auto" is 800 a chain, and 2,000 for
# panels of at most SMALL_PANEL answers. In rotated coordinates (version 4) six 60 x 30 x 2
# panels (20-70 % kept) held max R-hat 1.0050-1.0064 with 750 draws and 1.0035-1.0068 with
# 1,000 (bench/README.md); 800 keeps a margin over 750. Small panels identify less per
# draw: 24 x 8 x 2 answers, 70 % kept, had min bulk ESS 790-980 with 800 draws and once
# R-hat 1.019; with 2,000, ESS 2,050-2,260 and R-hat <= 1.002, for about 2 s more.
SMALL_PANEL = 1500
# The binary model's tuning (500) and target acceptance (0.9), which its slopes needed, and
# this model's too since version 6: with 250 and 0.85 the disjoint-cohorts panel of the
# tests reached R-hat 1.011 (sampler seed 2).
LINKED_SAMPLER_DEFAULTS = {
    **DEFAULT_SAMPLER_CONFIG,
    "draws": "auto",
    "backend": "pymc",
}
TRACE_VARS = [
    "mu_question", "delta_cohort", "bias_expert", "slope_expert", "sigma_expert",
    "kappa_question", "rho", "keep_tolerance",
]  # fmt: skip


@dataclass(frozen=True)
class LinkedPanelData:
    """Judgments of several rounds, integer-coded; each answer knows the same expert's
    answer to the same question in the round before (if any) and whether it was kept.

    Attributes
    ----------
    rounds : round numbers, ascending ; experts grouped by cohort as in BinaryPanelData
    y : (n,) log-odds ; expert_idx, question_idx, round_idx : (n,)
    previous_idx : (n,) row of the same expert's latest earlier answer to the question,
        -1 for a first answer
    kept : (n,) bool, the answer is an exact copy of that previous answer
    cohort_of_expert : (E,) code into ``cohorts``; all 0 when the cohorts are pooled
        because no two of them share a question (``hierarchical.cohorts_to_pool``)
    bias_block_of_expert : (E,) the expert's own cohort: biases average 0 (and slopes 1)
        over its answers
    """

    rounds: list[int]
    experts: list[str]
    questions: list[str]
    cohorts: list[str]
    y: np.ndarray
    expert_idx: np.ndarray
    question_idx: np.ndarray
    round_idx: np.ndarray
    previous_idx: np.ndarray
    kept: np.ndarray
    cohort_of_expert: np.ndarray
    data_hash: str
    bias_block_of_expert: np.ndarray
    pooled_cohorts: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_table(cls, table: JudgmentTable) -> "LinkedPanelData":
        if len(table.rounds) < 2:
            raise ValueError("linking rounds needs judgments from at least two rounds")
        frame = table.frame.reset_index(drop=True)
        cohort_of = frame.drop_duplicates("expert").set_index("expert")["cohort"]
        cohorts = sorted(cohort_of.unique())
        rank = {c: g for g, c in enumerate(cohorts)}
        experts = sorted(table.experts, key=lambda e: (rank[cohort_of[e]], e))
        questions, rounds = table.questions, table.rounds
        codes = {
            "expert": {e: i for i, e in enumerate(experts)},
            "question": {q: j for j, q in enumerate(questions)},
            "round": {r: k for k, r in enumerate(rounds)},
        }
        # each answer's predecessor: the same expert and question, the latest earlier round
        order = frame.sort_values(["expert", "question", "round"], kind="stable").index
        ordered = frame.loc[order]
        same_pair = (ordered["expert"].to_numpy()[1:] == ordered["expert"].to_numpy()[:-1]) & (
            ordered["question"].to_numpy()[1:] == ordered["question"].to_numpy()[:-1]
        )
        previous = np.full(len(frame), -1, dtype=np.int64)
        previous[order[1:][same_pair]] = order[:-1][same_pair]
        probability = frame["probability"].to_numpy(dtype=float)
        linked = previous >= 0
        kept = np.zeros(len(frame), dtype=bool)
        kept[linked] = probability[linked] == probability[previous[linked]]
        own_cohort = np.array([rank[cohort_of[e]] for e in experts], dtype=np.int64)
        pooled = cohorts_to_pool(frame)
        return cls(
            rounds=rounds,
            experts=experts,
            questions=questions,
            cohorts=[POOLED_COHORT] if pooled else cohorts,
            y=logit(probability),
            expert_idx=frame["expert"].map(codes["expert"]).to_numpy(np.int64),
            question_idx=frame["question"].map(codes["question"]).to_numpy(np.int64),
            round_idx=frame["round"].map(codes["round"]).to_numpy(np.int64),
            previous_idx=previous,
            kept=kept,
            cohort_of_expert=np.zeros_like(own_cohort) if pooled else own_cohort,
            data_hash=table.data_hash(),
            bias_block_of_expert=own_cohort,
            pooled_cohorts=pooled,
        )

    @property
    def n_linked(self) -> int:
        """Answers that follow the same expert's answer in an earlier round."""
        return int((self.previous_idx >= 0).sum())

    @property
    def n_kept(self) -> int:
        return int(self.kept.sum())

    @property
    def cohort_sizes(self) -> list[int]:
        return np.bincount(self.cohort_of_expert, minlength=len(self.cohorts)).tolist()

    @property
    def bias_block_sizes(self) -> list[int]:
        return np.bincount(self.bias_block_of_expert).tolist()


def round_basis(n_rounds: int) -> np.ndarray:
    """An orthonormal (n_rounds, n_rounds) basis whose first column is constant: the
    rounds' mean direction, then contrasts between rounds (Helmert's).

    A vector of independent N(0, s^2) values, one per round, has the same distribution as
    ``basis @ z`` with z independent N(0, s^2) (an orthonormal rotation), so sampling z
    states the same prior; but in z the mean of a question's rounds and their differences
    are nearly uncorrelated a posteriori, where the rounds' own values move together (as
    closely as the persistence links them), which a diagonal mass matrix cannot follow.
    """
    helmert = np.zeros((n_rounds, n_rounds))
    helmert[:, 0] = 1.0 / np.sqrt(n_rounds)
    for k in range(1, n_rounds):
        helmert[:k, k] = 1.0
        helmert[k, k] = -float(k)
        helmert[:, k] /= np.sqrt(k * (k + 1.0))
    return helmert


class LinkedRoundsModel:
    """The model above: build it, fit it with nutpie, and keep what produced the fit."""

    def __init__(self, model_config: dict | None = None, sampler_config: dict | None = None):
        self.model_config = merge_config(LINKED_DEFAULTS, model_config, "model_config")
        self.sampler_config = merge_config(
            LINKED_SAMPLER_DEFAULTS, sampler_config, "sampler_config"
        )
        if self.sampler_config["backend"] != "pymc":
            raise ModelConfigError("the linked-rounds model is fitted with backend 'pymc' only")
        draws = self.sampler_config["draws"]
        if draws != "auto" and not positive_whole(draws):
            raise ModelConfigError(
                "draws of the linked-rounds model must be a positive number or 'auto'"
            )

    def build_model(self, data: LinkedPanelData):
        import pymc as pm
        import pytensor.tensor as pt

        from aggregation.engine.linked_kernel import LinkedStudentTLogp

        cfg = self.model_config
        coords = {
            "question": data.questions,
            "round": data.rounds,
            "cohort": data.cohorts,
            "expert": data.experts,
        }
        e, q, r = data.expert_idx, data.question_idx, data.round_idx
        g = data.cohort_of_expert[e]
        # Each per-round quantity is sampled in coordinates rotated across rounds (see
        # round_basis): the same prior, but the rounds' values of a question, which the
        # pairing makes strongly correlated, become a mean and contrasts that are not.
        basis = round_basis(len(data.rounds))
        coords["round_axis"] = list(range(len(data.rounds)))
        with pm.Model(coords=coords) as model:
            mu_rotated = pm.Normal("mu_rotated", 0.0, cfg["mu_sd"], dims=("question", "round_axis"))
            mu = pm.Deterministic("mu_question", mu_rotated @ basis.T, dims=("question", "round"))
            delta_scale = pm.HalfNormal("delta_scale", cfg["delta_scale_sd"])
            if len(data.cohorts) > 1:
                raw = pm.ZeroSumNormal(
                    "delta_rotated", dims=("question", "round_axis", "cohort"), n_zerosum_axes=1
                )
                delta = pm.Deterministic(
                    "delta_cohort",
                    delta_scale * pt.tensordot(raw, basis, axes=[[1], [1]]).dimshuffle(0, 2, 1),
                    dims=("question", "round", "cohort"),
                )
            else:
                delta = pm.Deterministic(
                    "delta_cohort",
                    pt.zeros((len(data.questions), len(data.rounds), 1)),
                    dims=("question", "round", "cohort"),
                )
            bias_scale = pm.HalfNormal("bias_scale", cfg["bias_scale_sd"])
            blocks = [
                bias_scale * pm.ZeroSumNormal(f"bias_raw_cohort{k}", shape=size)
                for k, size in enumerate(data.bias_block_sizes)
            ]
            # biases average 0 and slopes 1 over the answers, as in the binary model (its
            # version 6); every round's answers count, kept ones included: each is a term
            # of the likelihood
            answers = np.bincount(e, minlength=len(data.experts)).astype(float)
            sizes = data.bias_block_sizes
            bias = pm.Deterministic(
                "bias_expert",
                centred_by_answers(pt.concatenate(blocks), answers, sizes),
                dims="expert",
            )
            slope_scale = pm.HalfNormal("slope_scale", cfg["slope_scale_sd"])
            log_slope = normalized_by_answers(
                pt.concatenate(
                    [
                        slope_scale * pm.ZeroSumNormal(f"log_slope_raw_cohort{k}", shape=size)
                        for k, size in enumerate(data.bias_block_sizes)
                    ]
                ),
                answers,
                sizes,
            )
            slope = pm.Deterministic("slope_expert", pt.exp(log_slope), dims="expert")
            sigma_scale = pm.HalfNormal("sigma_scale", cfg["sigma_scale_sd"])
            log_sigma = sigma_scale * pm.ZeroSumNormal("log_sigma_raw", dims="expert")
            pm.Deterministic("sigma_expert", pt.exp(log_sigma), dims="expert")
            log_kappa_mean = pm.Normal(
                "log_kappa_mean", cfg["log_kappa_mean_mu"], cfg["log_kappa_mean_sd"]
            )
            kappa_scale = pm.HalfNormal("kappa_scale", cfg["kappa_scale_sd"])
            kappa_rotated = pm.Normal("kappa_rotated", 0.0, 1.0, dims=("question", "round_axis"))
            log_kappa = log_kappa_mean + kappa_scale * (kappa_rotated @ basis.T)
            pm.Deterministic("kappa_question", pt.exp(log_kappa), dims=("question", "round"))
            rho = pm.Beta("rho", cfg["rho_alpha"], cfg["rho_beta"])
            tolerance = pm.HalfNormal("keep_tolerance", cfg["keep_tolerance_sd"])

            # one-dimensional gathers (their gradients are a plain scatter-add in numba)
            n_rounds, n_cohorts = len(data.rounds), len(data.cohorts)
            cell = q * n_rounds + r
            location = bias[e] + slope[e] * (mu.ravel()[cell] + delta.ravel()[cell * n_cohorts + g])
            log_scale = log_sigma[e] + log_kappa.ravel()[cell]
            logp, *_ = LinkedStudentTLogp(cfg["nu"])(
                data.y, data.previous_idx, data.kept, location, log_scale, rho, tolerance
            )
            pm.Potential("likelihood", logp)
        return model

    def fit(
        self,
        table: JudgmentTable,
        *,
        random_seed: int,
        progress: ProgressCallback | None = None,
    ) -> HierarchicalFit:
        import nutpie

        data = LinkedPanelData.from_table(table)
        notify = progress or (lambda phase, fraction: None)
        notify("compiling", 0.0)
        compiled = nutpie.compile_pymc_model(self.build_model(data), var_names=TRACE_VARS)
        notify("compiling", 1.0)
        sampler_config = dict(self.sampler_config)
        if sampler_config["draws"] == "auto":
            sampler_config["draws"] = 2000 if len(data.y) <= SMALL_PANEL else 800
        trace = sample(
            compiled,
            sampler_config=sampler_config,
            random_seed=random_seed,
            progress=notify,
        )
        trace.attrs.update(
            {
                "model_name": MODEL_NAME,
                "model_version": MODEL_VERSION,
                "model_config": json.dumps(self.model_config, sort_keys=True),
                "sampler_config": json.dumps(sampler_config, sort_keys=True),
                "data_hash": data.data_hash,
                "rounds": json.dumps(data.rounds),
                "random_seed": random_seed,
                "n_pairs": data.n_linked,
                "n_kept": data.n_kept,
                "pooled_cohorts": json.dumps([list(group) for group in data.pooled_cohorts]),
            }
        )
        return HierarchicalFit(posterior=trace)


def summarize_linked(
    fit: HierarchicalFit, table: JudgmentTable, *, interval_mass: float = 0.9
) -> dict:
    """Per round consensus and disagreement, the change between the first and last round,
    the persistence rho, and diagnostics of all of them."""
    _check_interval(interval_mass)
    if fit.posterior.attrs["data_hash"] != table.data_hash():
        raise ValueError("this table is not the one the posterior was fitted to")
    posterior = fit.posterior["posterior"].to_dataset()
    rounds = json.loads(fit.posterior.attrs["rounds"])
    first, last = rounds[0], rounds[-1]
    mu, kappa = posterior["mu_question"], posterior["kappa_question"]
    draws = xr.Dataset(
        {
            "consensus": expit(mu),
            "disagreement": kappa,
            "consensus_shift": expit(mu.sel(round=last)) - expit(mu.sel(round=first)),
            "disagreement_ratio": kappa.sel(round=last) / kappa.sel(round=first),
            "persistence": posterior["rho"],
            "keep_tolerance": posterior["keep_tolerance"],
        }
    )
    tail = (1.0 - interval_mass) / 2.0
    low, high = draws.quantile(tail, dim=SAMPLE_DIMS), draws.quantile(1 - tail, dim=SAMPLE_DIMS)
    mean = draws.mean(SAMPLE_DIMS)

    def point(name, **where):
        return {
            "mean": _round(float(mean[name].sel(**where))),
            "interval": [
                _round(float(low[name].sel(**where))),
                _round(float(high[name].sel(**where))),
            ],
        }

    counts = table.frame.groupby(["question", "round"]).size()
    increase = (draws["consensus_shift"] > 0).mean(SAMPLE_DIMS)
    questions = {}
    for question in (str(c) for c in posterior["question"].values):
        questions[question] = {
            "rounds": {
                str(r): {
                    "n_judgments": int(counts.get((question, r), 0)),
                    "consensus": point("consensus", question=question, round=r),
                    "disagreement": point("disagreement", question=question, round=r),
                }
                for r in rounds
            },
            "consensus_shift": {
                **point("consensus_shift", question=question),
                "p_increase": _round(float(increase.sel(question=question))),
            },
            "disagreement_ratio": point("disagreement_ratio", question=question),
        }
    ratios = draws["disagreement_ratio"].median("question")
    return {
        "method": MODEL_NAME,
        "interval_mass": interval_mass,
        "rounds": rounds,
        "n_judgments": len(table),
        "n_linked_pairs": int(fit.posterior.attrs["n_pairs"]),
        "n_kept": int(fit.posterior.attrs.get("n_kept", 0)),
        "data_hash": table.data_hash(),
        "persistence": point("persistence"),
        # half-width (log-odds) of the beliefs an expert who kept an answer may hold now
        "keep_tolerance": point("keep_tolerance"),
        "panel": {
            # the typical question's spread in the last round relative to the first
            "median_disagreement_ratio": {
                "mean": _round(float(ratios.mean(SAMPLE_DIMS))),
                "interval": [
                    _round(float(ratios.quantile(tail, dim=SAMPLE_DIMS))),
                    _round(float(ratios.quantile(1 - tail, dim=SAMPLE_DIMS))),
                ],
            },
        },
        "diagnostics": diagnostics(draws, fit.posterior["sample_stats"].to_dataset()),
        "questions": questions,
    }
