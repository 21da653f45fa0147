"""The hierarchical model of numeric (5/50/95 % quantile) judgments (issue 10).

Reading the answers. Expert i's three quantiles for question j are read on the question's
working scale t (the value, or its log for log-scale questions and for positive quantities
whose answers are clearly right-skewed: ``working_log_scale``): median m_ij = t(q50), left
width l_ij = (t(q50) - t(q05)) / 1.645 and right width r_ij = (t(q95) - t(q50)) / 1.645.
The two-piece normal with these widths has exactly the stated 5/50/95 % quantiles
(``split_normal_quantiles``; a test holds it) and keeps the skew that real answers have
("between 3 and 60 days, most likely 10"). In the likelihood an answer is the continuous
split Student-t with the same widths whose *median* is m_ij (its mode is moved by
``split_median_offset``): smooth, which the sampler needs, and centred where the expert
said. Each question is put on a common footing by its centre c_j (the median of the
experts' medians) and its unit s_j (the median of their stated standard deviations); every
quantity below is in those units. No half-width is read below a tenth of that unit
(``answer_width_floor``): on Cooke's 2006-2022 studies a few answers state ranges a
thousandth of the panel's ("9,299 to 9,301"), and each such answer is a spike in the
likelihood that made the sampler take ten times the steps and left R-hat up to 1.05; with
the floor those studies mix in 15 steps a draw (bench/README.md).

The model. With L_j the location of the panel's medians, eta_j the error the whole panel
shares on question j, theta_j the true value:

    m_ij ~ SplitStudentT(nu, L_j + mu_b + delta_{g(i) j} + b_i, rho_i kappa_j (l_ij, r_ij))
    theta_j = L_j + eta_j,
    eta_j ~ SplitStudentT(nu_eta, 0, tau * kappa_j * (L'_j, R_j))                        (1)

(SplitStudentT(nu, m, (l, r)): median m, half-widths l below and r above.)

- theta_j is observed on seed (or resolved) questions: there eta_j = theta_j - L_j, so the
  seeds teach the model how far the panel's typical median lands from the truth; on a
  target eta_j has no data, and the forecast's draws of it are made after sampling from
  each posterior draw's tau and kappa_j (the posterior predictive);
- mu_b, the panel-wide bias (0 when there are no seeds: nothing could tell it apart from
  the location), and b_i, expert i's own bias, centred within each cohort so that a
  cohort's view stays in delta (partially pooled, scale bias_scale);
- rho_i, how much larger expert i's errors are than their stated widths (log rho_i
  partially pooled around a panel mean; the prior leans to over-confidence, rho ~ 1.6, as
  elicitation studies find: 90 % ranges hold the truth about 50-70 % of the time). The
  report shows the *confidence ratio* 1 / rho_i: below 1, the expert's ranges are too
  narrow; experts with small rho count more, through (1) — the Bayesian counterpart of
  Cooke's performance weights;
- kappa_j, how contested question j is beyond the experts' own widths (log kappa_j
  partially pooled, mean 0): the "disagreement";
- delta_gj, cohort g's deviation on question j (zero-sum over cohorts): each cohort's
  median is L_j + mu_b + delta_gj, and the gaps are their differences, with P(a > b);
- tau, the shared error: how far the truth tends to be from where the panel, corrected for
  its biases, puts it. Averaging experts does not remove it, so it widens every forecast;
  with no seeds it comes from its prior alone. Three choices, each measured on the TU Delft
  studies against the plain Normal(0, tau) (``bench/numeric.py``; issue 10's note):
  its scale grows with the question's disagreement kappa_j (where the experts' medians
  scatter, the truth is farther from their centre); it is read with the panel's own skew
  (L'_j, R_j: the median left and right half-widths of the answers, scaled to average 1,
  so a quantity that every expert puts "most likely 10, perhaps 150" gets a long right
  tail, not a symmetric range reaching below zero); and it has Student-t tails
  (nu_eta = 4): a panel is now and then far off (a shared misconception), and a normal
  tail would either miss those or widen every range for them.

The forecast of question j (the panel's distribution for the quantity) is the posterior of
theta_j, whose 5/50/95 % are calibrated if the model is; the typical expert's median is
L_j + mu_b. Both are reported on the question's own scale.

Fitting: ``build_model`` is the statement of the model. By default nutpie samples the same
log density written out in numba (``density.numeric_logp_and_gradient``, compiled once per
machine; ``tests/aggregation/engine/test_numeric_density.py`` holds the two equal);
``sampler_config={"backend": "pymc"}`` samples ``build_model`` compiled by nutpie instead,
as does a configuration with the panel-wide bias, which the density leaves out.
"""

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from aggregation.engine.posterior import ProgressCallback, sample, tree_load, tree_save
from aggregation.engine.quantiles import QuantileTable

MODEL_NAME = "numeric_hierarchical"
MODEL_VERSION = "4"  # 2: skewed, disagreement-scaled shared error; median-centred answers;
# 3: the forecast blends in the equal-weight decision maker (numeric_blend.py);
# 4: answers read no narrower than a tenth of the question's typical width, and questions
# whose medians lie two orders of magnitude apart on the log scale
Z95 = 1.6448536269514722  # standard normal 95 % quantile

DEFAULT_MODEL_CONFIG: dict = {
    "nu": 4.0,  # Student-t degrees of freedom of (1): robust to the odd wild answer
    "location_sd": 3.0,  # prior sd of L_j (question units: typical stated sds)
    "tau_sd": 1.0,  # HalfNormal sd of the shared error tau
    # prior sd of mu_b (with seeds); 0: none. Off by default: with 10 seeds its estimate
    # added more noise than bias it removed (simulated panels: the forecast's median 8 %
    # farther from the truth with it; the TU Delft studies: interval score 3.587 with,
    # 3.593 without), and the shared error eta_j already carries a panel's offsets.
    "panel_bias_sd": 0.0,
    "bias_scale_sd": 0.5,  # HalfNormal sd of the spread of expert biases
    "log_rho_mean_mu": 0.5,  # prior mean of the panel's log rho: over-confidence, rho ~ 1.6
    "log_rho_mean_sd": 0.5,
    "rho_scale_sd": 0.5,  # HalfNormal sd of the spread of log rho between experts
    "kappa_scale_sd": 0.5,  # HalfNormal sd of the spread of log kappa between questions
    "delta_scale_sd": 0.5,  # HalfNormal sd of the scale of cohort deviations
    "shared_error_nu": 4.0,  # Student-t df of the shared error eta_j (0: normal)
    "shared_error_disagreement": 1.0,  # exponent of kappa_j in eta_j's scale (0: none)
    # No answer's half-width is read below this (question units: the question's median
    # stated sd), so nobody counts as more than ten times as sure as the panel's typical
    # expert: "9,299 to 9,301" beside ranges a thousand times wider is a spike in the
    # likelihood that the sampler crawls over (0: the stated widths as they are).
    "answer_width_floor": 0.1,
}
# "draws" "auto": 2,000 a chain for panels of at most SMALL_PANEL judgments, 1,000 above.
# On the demo's 44 x 11 panels (484 judgments) 1,000 draws let a typical expert's median
# reach R-hat 1.010 in one fit of six (min bulk ESS ~900 of 4,000); 2,000 held R-hat
# <= 1.004 on all six, for 2.7 s more sampling. Large panels mix as well and cost more:
# 200 x 60 holds R-hat <= 1.01 with 1,000 (bench/numeric.py --timing).
SMALL_PANEL = 5000
DEFAULT_SAMPLER_CONFIG: dict = {
    "chains": 4,
    "cores": 2,
    "tune": 500,
    "draws": "auto",
    "target_accept": 0.85,
    # "density": the hand-written density (density.py, compiled once per machine); "pymc":
    # build_model compiled by nutpie in every process (7-18 s; the tests compare the two).
    # A panel-wide bias (panel_bias_sd > 0) is fitted through PyMC either way.
    "backend": "density",
}


def split_median_offset(left, right, nu: float = 0.0) -> np.ndarray:
    """Median minus mode of the continuous split Student-t (nu; 0: normal) with these
    half-widths, density 2 / (left + right) * f(z), z scaled by the side's width.

    Right of its mode lies right / (left + right) of the mass; solving for the half
    point on the wider side gives wide * F^-1(1/2 + (wide - narrow) / (4 wide)), signed
    toward that side. Zero for a symmetric answer.
    """
    from scipy.stats import norm, t

    left, right = np.asarray(left, dtype=float), np.asarray(right, dtype=float)
    wide, narrow = np.maximum(left, right), np.minimum(left, right)
    level = 0.5 + (wide - narrow) / (4 * wide)
    quantile = t.ppf(level, nu) if nu else norm.ppf(level)
    return np.where(right >= left, 1.0, -1.0) * wide * quantile


def shared_error_logpdf(eta, scale, left, right, nu: float) -> np.ndarray:
    """Log density of a shared error eta_j under (1): the continuous split Student-t
    (nu; 0: normal) of scale ``scale`` with the panel's skews (which average 1), moved so
    that its median is 0. The model's "seeds" potential states the same density in
    PyTensor (the tests hold the two equal); the blend (numeric_blend.py) reads it here."""
    from scipy.special import gammaln

    eta, scale = np.asarray(eta, dtype=float), np.asarray(scale, dtype=float)
    mode = -scale * split_median_offset(left, right, nu)
    z = (eta - mode) / (scale * np.where(eta < mode, left, right))
    if nu:
        log_shape = (
            gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
            - (nu + 1) / 2 * np.log1p(z**2 / nu)
        )  # fmt: skip
    else:
        log_shape = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
    return log_shape - np.log(scale)


def shared_error_draws(rng, scale, left, right, nu: float) -> np.ndarray:
    """Draws of eta_j with that density, one per element of ``scale``."""
    scale = np.asarray(scale, dtype=float)
    size = np.abs(rng.standard_t(nu, scale.shape) if nu else rng.standard_normal(scale.shape))
    # the continuous split density: right of its mode with probability r / (l + r)
    to_right = rng.random(scale.shape) < right / (left + right)
    from_mode = np.where(to_right, size * right, -size * left)
    return scale * (from_mode - split_median_offset(left, right, nu))


def split_normal_quantiles(median, left, right, levels=(0.05, 0.5, 0.95)) -> np.ndarray:
    """Quantiles of the split normal with the given half-widths (the reading of answers)."""
    from scipy.stats import norm

    z = norm.ppf(np.asarray(levels, dtype=float))
    return np.where(z < 0, median + z * left, median + z * right)


@dataclass(frozen=True)
class NumericPanelData:
    """A QuantileTable on the model's footing (one round), with realizations."""

    questions: list[str]
    experts: list[str]
    cohorts: list[str]
    expert_cohort: np.ndarray  # (E,) cohort index of each expert
    question_idx: np.ndarray  # (N,)
    expert_idx: np.ndarray  # (N,)
    median: np.ndarray  # (N,) standardized
    left: np.ndarray  # (N,) standardized half-widths
    right: np.ndarray
    centre: np.ndarray  # (Q,) on the t scale
    unit: np.ndarray  # (Q,)
    log_scale: np.ndarray  # (Q,) bool
    realized: np.ndarray  # (Q,) standardized truth; NaN for targets
    skew_left: np.ndarray  # (Q,) the panel's typical left / right half-width, mean 1
    skew_right: np.ndarray

    @classmethod
    def from_table(
        cls, table: QuantileTable, realizations: dict[str, float] | None = None
    ) -> "NumericPanelData":
        frame = table.frame
        if len(table.rounds) > 1:
            frame = frame[frame["round"] == table.rounds[-1]]
        questions = sorted(frame["question"].unique())
        experts = sorted(frame["expert"].unique())
        cohort_of = frame.groupby("expert")["cohort"].first()
        cohorts = sorted(cohort_of.unique())
        info = table.question_info().loc[questions]
        log_scale = working_log_scale(frame, info)
        for question, value in (realizations or {}).items():
            if question in questions and value <= 0:  # a known value the log cannot read
                log_scale[questions.index(question)] = info.loc[question, "scale"] == "log"
        q_index = {q: k for k, q in enumerate(questions)}
        qi = frame["question"].map(q_index).to_numpy()
        ei = frame["expert"].map({e: k for k, e in enumerate(experts)}).to_numpy()
        values = frame[["q05", "q50", "q95"]].to_numpy(dtype=float)
        t = values.copy()
        logged = log_scale[qi]
        t[logged] = np.log(values[logged])  # validated positive on log-scale questions
        stated_sd = (t[:, 2] - t[:, 0]) / (2 * Z95)
        centre = pd.Series(t[:, 1]).groupby(qi).median().to_numpy()
        unit = pd.Series(stated_sd).groupby(qi).median().to_numpy()
        # The panel's typical skew on each question (median left and right half-widths,
        # scaled to average 1): the shared error is read with the same skew (model (1)).
        left_t, right_t = t[:, 1] - t[:, 0], t[:, 2] - t[:, 1]
        typical_left = pd.Series(left_t).groupby(qi).median().to_numpy()
        typical_right = pd.Series(right_t).groupby(qi).median().to_numpy()
        mean_width = (typical_left + typical_right) / 2
        realized = np.full(len(questions), np.nan)
        for question, value in (realizations or {}).items():
            if question in q_index:
                k = q_index[question]
                x = math.log(value) if log_scale[k] else value
                realized[k] = (x - centre[k]) / unit[k]
        return cls(
            questions=questions,
            experts=experts,
            cohorts=cohorts,
            expert_cohort=np.array([cohorts.index(cohort_of[e]) for e in experts]),
            question_idx=qi,
            expert_idx=ei,
            median=(t[:, 1] - centre[qi]) / unit[qi],
            left=(t[:, 1] - t[:, 0]) / Z95 / unit[qi],
            right=(t[:, 2] - t[:, 1]) / Z95 / unit[qi],
            centre=centre,
            unit=unit,
            log_scale=log_scale,
            realized=realized,
            skew_left=typical_left / mean_width,
            skew_right=typical_right / mean_width,
        )

    def read_widths(self, floor: float) -> tuple[np.ndarray, np.ndarray]:
        """The (left, right) half-widths the likelihood reads: the stated ones, none below
        ``floor`` (model config ``answer_width_floor``)."""
        return np.maximum(self.left, floor), np.maximum(self.right, floor)

    @property
    def seeds(self) -> np.ndarray:
        return ~np.isnan(self.realized)

    def fingerprint(self) -> str:
        """Everything of the panel that the compiled model holds (all but the seeds)."""
        import hashlib

        digest = hashlib.sha256()
        for array in (self.question_idx, self.expert_idx, self.median, self.left, self.right,
                      self.expert_cohort):  # fmt: skip
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr((self.questions, self.experts, self.cohorts)).encode())
        return digest.hexdigest()

    def model_arrays(self) -> dict[str, np.ndarray]:
        """The data of the compiled model that changes between folds."""
        return {
            "realized": np.nan_to_num(self.realized),
            "is_seed": self.seeds.astype(float),
            "has_seeds": np.array(float(self.seeds.any())),
        }

    def with_realizations(self, standardized: np.ndarray) -> "NumericPanelData":
        from dataclasses import replace

        return replace(self, realized=np.asarray(standardized, dtype=float))

    def to_scale(self, standardized, question: int) -> np.ndarray:
        """Values on the question's own scale from the model's units."""
        t = self.centre[question] + self.unit[question] * np.asarray(standardized)
        return np.exp(t) if self.log_scale[question] else t


CLEAR_SKEW = math.log(1.5)  # typical right width 1.5 x the left (or the reverse): skewed
WIDE_SPAN = 100.0  # experts' medians two orders of magnitude apart: a multiplicative scatter


def working_log_scale(frame: pd.DataFrame, info: pd.DataFrame) -> np.ndarray:
    """(Q,) whether the model reads each question on the log scale.

    A question declared ``log`` is. A ``linear`` one is read on whichever of the two scales
    its answers are more symmetric on, when it can be read on the log scale at all (every
    5 % quantile above zero, no upper bound, no negative lower bound): the model takes the
    scatter of the experts' medians as symmetric about the panel's location, and the split
    reading of each answer keeps only what skew is left. Asymmetry on a scale is
    |median over experts of log(right / left half-width)| (the medians' own scatter was
    tried too: with two dozen experts its skewness is too noisy to choose by), and only a
    clear skew on the linear scale (``CLEAR_SKEW``) moves a question. Days, deaths and costs, whose answers read "most likely 10, perhaps
    150", come out log; a quantity answered symmetrically stays linear (on the log scale
    its answers would lean left). So does one whose experts' medians lie two orders of
    magnitude apart or more (``WIDE_SPAN``), however symmetric each answer: "200 to 300"
    beside "2 to 3 million" is a multiplicative scatter (EXCALIBUR's analysts pick the log
    background measure for such items), and read linearly the small answers would become
    ranges a millionth of the question's unit wide, spikes that no sampler crosses (on
    Cooke's 2006-2022 studies, R-hat up to 3.9 before this rule; bench/README.md). The
    choice depends on the answers and bounds alone, never on a realization, so a held-out
    value cannot make it; results are reported on the question's own scale either way.
    """
    declared = (info["scale"] == "log").to_numpy()
    out = declared.copy()
    for k, question in enumerate(info.index):
        if declared[k] or info.loc[question, "upper"] == info.loc[question, "upper"]:
            continue  # declared log, or bounded above (a share, a percentage)
        lower = info.loc[question, "lower"]
        rows = frame[frame["question"] == question][["q05", "q50", "q95"]].to_numpy(float)
        if (rows[:, 0] <= 0).any() or (lower == lower and lower < 0):
            continue
        if rows[:, 1].max() >= WIDE_SPAN * rows[:, 1].min():
            out[k] = True
            continue
        linear = _asymmetry(rows)
        out[k] = linear > CLEAR_SKEW and _asymmetry(np.log(rows)) < linear
    return out


def _asymmetry(rows: np.ndarray) -> float:
    """How far (E, 3) answers are from symmetric: |median of log(right / left width)|."""
    left, right = rows[:, 1] - rows[:, 0], rows[:, 2] - rows[:, 1]
    return abs(float(np.median(np.log(right / left))))


class NumericHierarchicalModel:
    """Build and fit model (1) on one round of quantile judgments."""

    def __init__(self, model_config: dict | None = None, sampler_config: dict | None = None):
        self.model_config = {**DEFAULT_MODEL_CONFIG, **(model_config or {})}
        self.sampler_config = {**DEFAULT_SAMPLER_CONFIG, **(sampler_config or {})}
        backend = self.sampler_config["backend"]
        if backend not in ("density", "pymc"):
            raise ValueError(f"sampler backend must be 'density' or 'pymc', not {backend!r}")

    def sampler_config_for(self, data: NumericPanelData) -> dict:
        """The sampler config of a fit of these data, with "auto" draws made a number."""
        config = dict(self.sampler_config)
        if config["draws"] == "auto":
            config["draws"] = 2000 if len(data.median) <= SMALL_PANEL else 1000
        return config

    def build_model(self, data: NumericPanelData):
        """Model (1) in PyMC. Which questions are seeds, and their values, are data
        (``realized``, ``is_seed``), so one compiled model serves every fold of a
        cross-validation (``NumericPanelData.model_arrays``)."""
        import pymc as pm
        import pytensor.tensor as pt

        cfg = self.model_config
        n_q, n_e, n_g = len(data.questions), len(data.experts), len(data.cohorts)
        coords = {"question": data.questions, "expert": data.experts, "cohort": data.cohorts}
        with pm.Model(coords=coords) as model:
            arrays = self._model_arrays(data)
            realized = pm.Data("realized", arrays["realized"], dims="question")
            is_seed = pm.Data("is_seed", arrays["is_seed"], dims="question")
            tau = pm.HalfNormal("tau", cfg["tau_sd"])
            bias_scale = pm.HalfNormal("bias_scale", cfg["bias_scale_sd"])
            bias_z = pm.Normal("bias_z", 0.0, 1.0, dims="expert")
            members = np.zeros((n_g, n_e))
            members[data.expert_cohort, np.arange(n_e)] = 1.0
            members /= members.sum(axis=1, keepdims=True)
            cohort_mean = pt.dot(members, bias_z)[data.expert_cohort]
            bias = pm.Deterministic("bias", bias_scale * (bias_z - cohort_mean), dims="expert")
            log_rho_mean = pm.Normal("log_rho_mean", cfg["log_rho_mean_mu"], cfg["log_rho_mean_sd"])
            rho_scale = pm.HalfNormal("rho_scale", cfg["rho_scale_sd"])
            rho_z = pm.Normal("rho_z", 0.0, 1.0, dims="expert")
            rho = pm.Deterministic("rho", pt.exp(log_rho_mean + rho_scale * rho_z), dims="expert")
            kappa_scale = pm.HalfNormal("kappa_scale", cfg["kappa_scale_sd"])
            kappa_z = pm.Normal("kappa_z", 0.0, 1.0, dims="question")
            kappa = pm.Deterministic("kappa", pt.exp(kappa_scale * kappa_z), dims="question")
            location = pm.Normal("location", 0.0, cfg["location_sd"], dims="question")
            # On a seed the truth is known, so its shared error eta_j = theta_j - L_j is
            # too: its density under (1) enters directly (centred: with the truth observed
            # a non-centred eta made a ridge with tau, and tau mixed slowly). A target's
            # eta_j has no data; its draws are made after sampling (``_with_truth``).
            eta_scale = tau * kappa ** cfg["shared_error_disagreement"]
            eta = realized - location
            nu_eta = cfg["shared_error_nu"]
            offset = split_median_offset(data.skew_left, data.skew_right, nu_eta)
            eta_mode = -eta_scale * offset  # the split density's mode: its median is 0
            side = pt.switch(pt.lt(eta, eta_mode), data.skew_left, data.skew_right)
            z = (eta - eta_mode) / (eta_scale * side)
            if nu_eta:
                log_shape = (
                    pt.gammaln((nu_eta + 1) / 2) - pt.gammaln(nu_eta / 2)
                    - 0.5 * pt.log(nu_eta * np.pi) - (nu_eta + 1) / 2 * pt.log1p(z**2 / nu_eta)
                )  # fmt: skip
            else:
                log_shape = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
            # continuous split density 2 / (s_left + s_right) * f(z); the skews average 1
            pm.Potential("seeds", (is_seed * (log_shape - pt.log(eta_scale))).sum())
            # Without seeds nothing tells a panel-wide bias from the location: it stays 0.
            if cfg["panel_bias_sd"]:
                has_seeds = pm.Data("has_seeds", arrays["has_seeds"])
                panel_bias_raw = pm.Normal("panel_bias_raw", 0.0, cfg["panel_bias_sd"])
                panel_bias = pm.Deterministic("panel_bias", has_seeds * panel_bias_raw)
            else:
                panel_bias = 0.0
            if n_g > 1:
                delta_scale = pm.HalfNormal("delta_scale", cfg["delta_scale_sd"])
                delta_z = pm.ZeroSumNormal("delta_z", sigma=1.0, dims=("question", "cohort"))
                delta = pm.Deterministic(
                    "delta", delta_scale * delta_z, dims=("question", "cohort")
                )
                shift = delta[data.question_idx, data.expert_cohort[data.expert_idx]]
            else:
                delta = pm.Deterministic("delta", pt.zeros((n_q, 1)), dims=("question", "cohort"))
                shift = 0.0
            loc = location[data.question_idx] + panel_bias + shift + bias[data.expert_idx]
            # The expert's answer read as a continuous split Student-t (density
            # 2 / (l + r) * t_nu(z), z scaled by the side's width) whose *median* is their
            # median m_ij: its mode sits at m_ij - c_ij, c_ij = rho_i kappa_j d_ij with
            # d_ij from ``split_median_offset``. (Each half carrying half the mass would put
            # the median at m_ij too, but its density jumps there, and NUTS stalls on a
            # posterior made of hundreds of such steps; a split density whose *mode* is
            # m_ij pulls the location toward the long side of every skewed answer.)
            scale = rho[data.expert_idx] * kappa[data.question_idx]
            left, right = data.read_widths(cfg["answer_width_floor"])
            mode = data.median - scale * split_median_offset(left, right, cfg["nu"])
            above = pt.gt(loc, mode)
            width = scale * pt.switch(above, right, left)
            nu = cfg["nu"]
            z = (mode - loc) / width
            logp = (
                pt.gammaln((nu + 1) / 2)
                - pt.gammaln(nu / 2)
                - 0.5 * pt.log(nu * np.pi)
                - (nu + 1) / 2 * pt.log1p(z**2 / nu)
                - pt.log(scale * 0.5 * (left + right))
            )
            pm.Potential("judgments", logp.sum())
            pm.Deterministic("median", location + panel_bias, dims="question")
            pm.Deterministic(
                "cohort_median",
                (location + panel_bias)[:, None] + delta,
                dims=("question", "cohort"),
            )
        return model

    def fit(self, data: NumericPanelData, *, random_seed: int = 0,
            progress: ProgressCallback | None = None) -> xr.DataTree:  # fmt: skip
        started = time.perf_counter()
        if progress is not None:
            progress("compiling", 0.0)
        compiled, backend = self._compiled_for(data)
        compiled_at = time.perf_counter()
        if progress is not None:
            progress("compiling", 1.0)
        sampler_config = self.sampler_config_for(data)
        tree = sample(
            compiled, sampler_config=sampler_config, random_seed=random_seed,
            progress=progress,
        )  # fmt: skip
        tree = self._with_truth(tree, data, random_seed)
        tree.attrs.update(
            {
                "model_name": MODEL_NAME,
                "model_version": MODEL_VERSION,
                "model_config": json.dumps(self.model_config, sort_keys=True),
                "sampler_config": json.dumps(sampler_config, sort_keys=True),
                "random_seed": random_seed,
                "backend": backend,
                "compile_seconds": compiled_at - started,
                "sample_seconds": time.perf_counter() - compiled_at,
            }
        )
        return tree

    def _with_truth(self, tree: xr.DataTree, data: NumericPanelData, seed: int) -> xr.DataTree:
        """Add ``truth`` (chain, draw, question): theta_j = L_j + eta_j of (1), with a
        target's eta_j drawn from its split Student-t given each draw's tau and kappa_j (the
        posterior predictive), and a seed's truth its realization."""
        cfg = self.model_config
        posterior = tree["posterior"].to_dataset()
        location = posterior["location"].transpose("chain", "draw", "question").values
        scale = (
            posterior["tau"].values[..., None]
            * posterior["kappa"].transpose("chain", "draw", "question").values
            ** cfg["shared_error_disagreement"]
        )
        rng = np.random.default_rng([seed, 17])
        eta = shared_error_draws(
            rng, scale, data.skew_left, data.skew_right, cfg["shared_error_nu"]
        )
        truth = np.where(data.seeds, np.nan_to_num(data.realized), location + eta)
        posterior["truth"] = (("chain", "draw", "question"), truth)
        tree["posterior"] = xr.DataTree(posterior)
        return tree

    @staticmethod
    def save(tree: xr.DataTree, path) -> Path:
        """Write a fitted posterior (with its attrs: configs, version, data hash) as NetCDF."""
        return tree_save(tree, path)

    @staticmethod
    def load(path) -> xr.DataTree:
        """Read a posterior that ``save`` wrote; refuses another model's file."""
        return tree_load(path, model_names={MODEL_NAME})

    def _compiled_for(self, data: NumericPanelData):
        """A model nutpie can sample, and which backend made it: the hand-written density
        (microseconds), or nutpie's compile of ``build_model``, kept per (version, config,
        panel) for the life of the process so that a refit with other realizations (a
        cross-validation fold) only swaps the data."""
        if self.sampler_config["backend"] == "density" and not self.model_config["panel_bias_sd"]:
            from aggregation.engine.density import numeric_nutpie_model

            return numeric_nutpie_model(data, self.model_config), "density"
        import nutpie

        key = (
            MODEL_VERSION,
            json.dumps(self.model_config, sort_keys=True),
            data.fingerprint(),
        )
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = nutpie.compile_pymc_model(self.build_model(data))
            _COMPILED.clear()  # one panel at a time: a worker does not collect them
            _COMPILED[key] = compiled
            return compiled, "pymc"
        return compiled.with_data(**self._model_arrays(data)), "pymc"

    def _model_arrays(self, data: NumericPanelData) -> dict[str, np.ndarray]:
        """The fold data the graph holds (``has_seeds`` only where mu_b uses it: nutpie
        refuses data the compiled graph does not know)."""
        arrays = data.model_arrays()
        if not self.model_config["panel_bias_sd"]:
            arrays.pop("has_seeds")
        return arrays


_COMPILED: dict = {}


# --- The result contract ------------------------------------------------------------------


def _assessments(table: QuantileTable):
    """(questions, experts, values (E, Q, 3), scales as Cooke names them) of the last round."""
    frame = table.frame[table.frame["round"] == table.rounds[-1]]
    questions = sorted(frame["question"].unique())
    experts = sorted(frame["expert"].unique())
    values = np.full((len(experts), len(questions), 3), np.nan)
    e_pos = {e: k for k, e in enumerate(experts)}
    q_pos = {q: k for k, q in enumerate(questions)}
    for row in frame.itertuples(index=False):
        values[e_pos[row.expert], q_pos[row.question]] = (row.q05, row.q50, row.q95)
    info = table.question_info().loc[questions]
    scales = tuple("log" if s == "log" else "uni" for s in info["scale"])
    return questions, experts, values, scales


def cooke_study(table: QuantileTable, realizations: dict[str, float] | None = None):
    """The table as Cooke's classical model reads it (one round; 5/50/95 %)."""
    from aggregation.engine.cooke import CookeStudy

    questions, experts, values, scales = _assessments(table)
    realized = np.array([(realizations or {}).get(q, np.nan) for q in questions], dtype=float)
    return CookeStudy(
        experts=tuple(experts),
        items=tuple(questions),
        scales=scales,
        quantile_levels=(0.05, 0.5, 0.95),
        assessments=values,
        realizations=realized,
    )


def baselines(table: QuantileTable, realizations: dict[str, float] | None = None) -> dict:
    """question -> {equal_weight, cooke_global, cooke_item, quantile_average}: each the
    decision maker's {q05, q50, q95}, or None where it cannot be built (no seeds)."""
    from aggregation.engine.cooke import cooke_model

    questions, _experts, values, scales = _assessments(table)
    has_seeds = any(q in (realizations or {}) for q in questions)
    if has_seeds:
        dms = cooke_model(cooke_study(table, realizations)).decision_makers
        equal = dms["equal"].quantiles
    else:  # Cooke's model needs a seed; the equal-weight mixture does not
        equal = _equal_weight_quantiles(values, scales)
    frame = table.frame[table.frame["round"] == table.rounds[-1]]
    average = frame.groupby("question")[["q05", "q50", "q95"]].mean()
    out = {}
    for k, question in enumerate(questions):
        entry = {"equal_weight": _triple(equal[k])}
        for name, key in (("cooke_global", "global_opt"), ("cooke_item", "item_opt")):
            entry[name] = _triple(dms[key].quantiles[k]) if has_seeds else None
        entry["quantile_average"] = _triple(average.loc[question].to_numpy())
        out[question] = entry
    return out


def _equal_weight_quantiles(assessments: np.ndarray, scales) -> np.ndarray:
    """(items, 3) quantiles of the equal mixture of the experts' distributions, each
    linear between its quantiles on the item's intrinsic range (10 % overshoot), as
    Cooke's decision maker reads them."""
    from aggregation.engine.numeric_blend import equal_weight_cdf

    out = np.full((assessments.shape[1], 3), np.nan)
    for k in range(assessments.shape[1]):
        values = assessments[:, k]
        values = values[np.isfinite(values).all(axis=1)]
        if not len(values):
            continue
        log = scales[k] == "log"
        grid, cdf = equal_weight_cdf(np.log(values) if log else values)
        q = np.interp([0.05, 0.5, 0.95], cdf, grid)
        out[k] = np.exp(q) if log else q
    return out


def blend_inputs(table: QuantileTable) -> tuple[dict[str, np.ndarray], dict[str, bool]]:
    """What ``numeric_blend`` reads of the answers: each question's experts' (E, 3)
    quantiles on its own scale, and which questions are scored on the log scale."""
    questions, _experts, values, scales = _assessments(table)
    answers = {}
    for k, question in enumerate(questions):
        rows = values[:, k]
        answers[question] = rows[np.isfinite(rows).all(axis=1)]
    log_scored = {q: scale == "log" for q, scale in zip(questions, scales, strict=True)}
    return answers, log_scored


def blended_forecasts(tree: xr.DataTree, data: "NumericPanelData", table: QuantileTable):
    """``numeric_blend.blend`` for a fit of ``table``: the forecast of every target
    question, the model blended with the equal-weight decision maker by a weight learned
    from the fit's seeds, and how it was learned."""
    from aggregation.engine.numeric_blend import blend

    answers, log_scored = blend_inputs(table)
    config = json.loads(tree.attrs["model_config"])
    return blend(
        tree, data, answers, log_scored, config, seed=int(tree.attrs.get("random_seed", 0))
    )


def _triple(values) -> dict | None:
    values = [float(v) for v in values]
    if not all(math.isfinite(v) for v in values):
        return None
    return {"q05": values[0], "q50": values[1], "q95": values[2]}


def summarize_numeric(
    tree: xr.DataTree,
    data: NumericPanelData,
    table: QuantileTable,
    realizations: dict[str, float] | None = None,
    *,
    interval_mass: float = 0.9,
) -> dict:
    """The result contract (DESIGN.md) for numeric questions."""
    from itertools import combinations

    from aggregation.engine.summary import diagnostics

    post = tree.posterior
    reported = xr.Dataset(
        {
            "forecast": post["truth"],
            "median": post["median"],
            "disagreement": post["kappa"],
            "bias": post["bias"],
            "confidence_ratio": 1.0 / post["rho"],
            "shared_error": post["tau"],
            **({"cohort_median": post["cohort_median"]} if len(data.cohorts) > 1 else {}),
        }
    )
    # Seed questions' truth is their realization: constant, left out of the diagnostics.
    targets = [q for q, s in zip(data.questions, data.seeds, strict=True) if not s]
    checked = reported.drop_vars("forecast")
    if targets:
        checked["forecast"] = post["truth"].sel(question=targets)
    diag = diagnostics(checked, tree.sample_stats)
    low, high = (1 - interval_mass) / 2, 1 - (1 - interval_mass) / 2

    def draws(name, **where) -> np.ndarray:
        return post[name].sel(**where).stack(s=("chain", "draw")).values

    def interval(values: np.ndarray) -> dict:
        lo, hi = np.quantile(values, [low, high])
        return {"mean": float(np.mean(values)), "interval": [float(lo), float(hi)]}

    base = baselines(table, realizations)
    blended, blend_info = blended_forecasts(tree, data, table)
    counts = table.frame.groupby("question").size()
    declared = table.question_info()["scale"]
    questions = {}
    for k, question in enumerate(data.questions):
        truth = data.to_scale(draws("truth", question=question), k)
        median = data.to_scale(draws("median", question=question), k)
        model_forecast = dict(
            zip(
                ("q05", "q50", "q95"),
                map(float, np.quantile(truth, [0.05, 0.5, 0.95])),
                strict=True,
            )
        )
        # a weight of 1 is the model's own forecast; a seed has none to blend
        blend_moved = blend_info["model_weight"] < 1.0 and question in blended
        forecast = blended[question] if blend_moved else model_forecast
        entry = {
            "kind": "numeric",
            "n_judgments": int(counts.get(question, 0)),
            "seed": bool(data.seeds[k]),
            "scale": declared.loc[question],
            "model_scale": "log" if data.log_scale[k] else "linear",
            # the panel forecast: the model blended with the equal-weight decision maker
            # (numeric_blend.py); "model_forecast" is the model's predictive alone
            "forecast": forecast,
            "model_forecast": model_forecast,
            "median": interval(median),
            "disagreement": interval(draws("kappa", question=question)),
            "cohorts": {},
            "cohort_gaps": [],
            "baselines": base[question],
        }
        if len(data.cohorts) > 1:
            by_cohort = {
                c: data.to_scale(draws("cohort_median", question=question, cohort=c), k)
                for c in data.cohorts
            }
            entry["cohorts"] = {c: interval(v) for c, v in by_cohort.items()}
            for a, b in combinations(data.cohorts, 2):
                gap = by_cohort[a] - by_cohort[b]
                entry["cohort_gaps"].append(
                    {"a": a, "b": b, **interval(gap), "p_a_higher": float(np.mean(gap > 0))}
                )
        questions[question] = entry
    experts = {}
    answered = np.bincount(data.expert_idx, minlength=len(data.experts))
    for i, expert in enumerate(data.experts):
        experts[expert] = {
            "cohort": data.cohorts[data.expert_cohort[i]],
            "n_judgments": int(answered[i]),
            "bias": interval(draws("bias", expert=expert)),
            "confidence_ratio": interval(1.0 / draws("rho", expert=expert)),
        }
    return {
        "method": "hierarchical",
        "kind": "numeric",
        "interval_mass": interval_mass,
        "n_judgments": len(table),
        "n_seeds": int(data.seeds.sum()),
        "shared_error": interval(post["tau"].stack(s=("chain", "draw")).values),
        "forecast_blend": blend_info,
        "model": {
            "name": MODEL_NAME,
            "version": MODEL_VERSION,
            "random_seed": int(tree.attrs.get("random_seed", 0)),
        },
        "timings": {
            "compile_seconds": float(tree.attrs.get("compile_seconds", 0.0)),
            "sample_seconds": float(tree.attrs.get("sample_seconds", 0.0)),
        },
        "diagnostics": diag,
        "questions": questions,
        "experts": experts,
    }


def table_from_study(study) -> tuple[QuantileTable, dict[str, float]]:
    """An EXCALIBUR study as a QuantileTable (its 5/50/95 %) and its realizations.

    A study that elicited more quantiles (5/25/50/75/95 %, say) is read at the three the
    model uses; one without all three is refused.
    """
    levels = [round(level, 6) for level in study.quantile_levels]
    if not {0.05, 0.5, 0.95} <= set(levels):
        shown = "/".join(f"{100 * level:g}" for level in levels)
        raise ValueError(
            f"the numeric model reads the 5, 50 and 95 % quantiles; this study has {shown} %"
        )
    used = [levels.index(level) for level in (0.05, 0.5, 0.95)]
    rows = [
        {
            "expert": expert,
            "question": item,
            "q05": values[0],
            "q50": values[1],
            "q95": values[2],
            "scale": "log" if study.scales[k] == "log" else "linear",
        }
        for e, expert in enumerate(study.experts)
        for k, item in enumerate(study.items)
        if np.isfinite(values := study.assessments[e, k, used]).all()
    ]
    realizations = {
        item: float(value)
        for item, value in zip(study.items, study.realizations, strict=True)
        if np.isfinite(value)
    }
    return QuantileTable.from_rows(rows), realizations


def summarize_equal_weight(table: QuantileTable, realizations: dict | None = None) -> dict:
    """The equal-weight decision maker in the numeric contract (point quantiles only)."""
    base = baselines(table, realizations)
    counts = table.frame.groupby("question").size()
    return {
        "method": "equal_weight",
        "kind": "numeric",
        "n_judgments": len(table),
        "questions": {
            q: {
                "kind": "numeric",
                "n_judgments": int(counts.get(q, 0)),
                "forecast": entry["equal_weight"],
                "baselines": entry,
            }
            for q, entry in base.items()
        },
    }


# --- Leave-one-seed-out cross-validation ---------------------------------------------------

EVALUATED_METHODS = (
    "hierarchical",  # the panel forecast: the model blended with equal weight
    "hierarchical_model",  # the model's predictive alone
    "equal_weight",
    "cooke_global",
    "cooke_item",
    "quantile_average",
)
CALIBRATION_MASSES = np.array([0.05, 0.45, 0.45, 0.05])  # between the 5/50/95 % quantiles


def leave_one_seed_out(
    table: QuantileTable,
    realizations: dict[str, float],
    *,
    model: "NumericHierarchicalModel | None" = None,
    random_seed: int = 0,
    methods: tuple[str, ...] = EVALUATED_METHODS,
    progress=None,
) -> dict:
    """Predict each seed from a fit that has not seen its value, with every method.

    Each fold refits the hierarchical model with the held-out realization removed from its
    data (only the seeds change: nothing is compiled again) and rebuilds Cooke's
    decision makers from the other seeds alone, so that the held-out value enters neither
    the weights nor the intrinsic range of the information score. Returns the
    ``manage.py evaluate`` contract: ``{"kind": "numeric", "methods": {name: scores},
    "comparisons": each method against equal weight (``compare_to_equal_weight``),
    "predictions": {name: {question: {q05, q50, q95}}}}``.
    """
    model = model or NumericHierarchicalModel()
    seeds = sorted(q for q in realizations if q in set(table.questions))
    if len(seeds) < 2:
        raise ValueError("leave-one-seed-out needs at least 2 seed questions with realizations")
    predictions: dict[str, dict] = {name: {} for name in methods}
    for k, held_out in enumerate(seeds):
        others = {q: v for q, v in realizations.items() if q != held_out}
        if {"hierarchical", "hierarchical_model"} & set(methods):
            fold = NumericPanelData.from_table(table, others)  # built without the held-out
            j = fold.questions.index(held_out)
            tree = model.fit(fold, random_seed=random_seed + k)
            truth = tree.posterior["truth"].sel(question=held_out).stack(s=("chain", "draw")).values
            values = np.quantile(fold.to_scale(truth, j), [0.05, 0.5, 0.95])
            if "hierarchical" in methods:  # the weight learned from the other seeds
                blended, _info = blended_forecasts(tree, fold, table)
                predictions["hierarchical"][held_out] = _triple(
                    [blended[held_out][key] for key in ("q05", "q50", "q95")]
                )
            if "hierarchical_model" in methods:
                predictions["hierarchical_model"][held_out] = _triple(values)
        base = baselines(table, others)[held_out]
        for name in methods:
            if name not in ("hierarchical", "hierarchical_model"):
                predictions[name][held_out] = base[name]
        if progress is not None:
            progress(k + 1, len(seeds))
    info = table.question_info()
    frame = table.frame[table.frame["round"] == table.rounds[-1]]
    scores = {
        name: score_predictions(predictions[name], realizations, frame, info) for name in methods
    }
    return {
        "kind": "numeric",
        "n_seeds": len(seeds),
        "methods": scores,
        "comparisons": compare_to_equal_weight(predictions, realizations, frame, info),
        "predictions": predictions,
    }


def _scored_items(predicted: dict, realizations: dict, frame: pd.DataFrame, info):
    """(question, (low, mid, high), realization, answers (E, 3)) of every predicted item,
    each on its scoring scale: logged on a log-scale item."""
    for question, q in predicted.items():
        if q is None:
            continue
        log = info.loc[question, "scale"] == "log"
        answers = frame[frame["question"] == question][["q05", "q50", "q95"]].to_numpy(float)

        def t(x, log=log):
            return np.log(x) if log else np.asarray(x, dtype=float)

        low, mid, high = t([q["q05"], q["q50"], q["q95"]])
        yield question, (low, mid, high), float(t(realizations[question])), t(answers)


def compare_to_equal_weight(
    predictions: dict, realizations: dict, frame: pd.DataFrame, info
) -> dict:
    """Each method's scaled interval score minus the equal-weight decision maker's, item by
    item (``scoring.paired_difference``): the mean difference and on how many items each
    side scored lower. No interval: with ten seeds and the odd item far outside every range,
    a paired interval of interval scores held the truth 57 % of the time on simulated
    differences (scoring.paired_difference), so none is claimed."""
    from aggregation.engine.numeric_blend import scaled_interval_score
    from aggregation.engine.scoring import paired_difference

    def item_scores(name):
        return {
            question: scaled_interval_score(low, high, x, answers)
            for question, (low, _mid, high), x, answers in _scored_items(
                predictions[name], realizations, frame, info
            )
        }

    if "equal_weight" not in predictions:
        return {}
    reference = item_scores("equal_weight")
    out = {"reference": "equal_weight", "interval_score": {}}
    for name in predictions:
        if name == "equal_weight":
            continue
        scores = item_scores(name)
        common = [q for q in scores if q in reference]
        out["interval_score"][name] = paired_difference(
            [scores[q] for q in common], [reference[q] for q in common], mass=None
        )
    return out


def score_predictions(predicted: dict, realizations: dict, frame: pd.DataFrame, info) -> dict:
    """Hit rate of the 90 % ranges, Cooke's calibration and mean information, and the
    interval score scaled by each item's spread of answers.

    On a log-scale item every number is first logged. Interval score (Gneiting & Raftery
    2007, alpha = 0.1): (u - l) + 20 (l - x)+ + 20 (x - u)+, divided by the item's spread
    (the largest 95 % minus the smallest 5 % quantile the experts gave), so that items of
    any unit count alike; lower is better. Information: Cooke's relative information of
    the three quantiles against the uniform background on the item's intrinsic range (the
    experts' and the method's quantiles, 10 % overshoot; never the realization).
    """
    from scipy.stats import chi2

    from aggregation.engine.numeric_blend import scaled_interval_score

    hits, interval_scores, informations, bins = [], [], [], np.zeros(4)
    for _question, (low, mid, high), x, answers in _scored_items(
        predicted, realizations, frame, info
    ):
        hits.append(low <= x <= high)
        bins[np.searchsorted([low, mid, high], x)] += 1
        interval_scores.append(scaled_interval_score(low, high, x, answers))
        lo = min(float(answers[:, 0].min()), low)
        hi = max(float(answers[:, 2].max()), high)
        lo, hi = lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)
        widths = np.diff([lo, low, mid, high, hi]) / (hi - lo)
        informations.append(
            float(
                np.sum(CALIBRATION_MASSES * np.log(CALIBRATION_MASSES / np.maximum(widths, 1e-12)))
            )
        )
    n = len(hits)
    if n == 0:
        return {
            "hit_rate_90": None,
            "calibration": None,
            "information": None,
            "interval_score": None,
            "n": 0,
        }
    s = bins / n
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.nansum(np.where(s > 0, s * np.log(s / CALIBRATION_MASSES), 0.0))
    return {
        "hit_rate_90": float(np.mean(hits)),
        "calibration": float(chi2.sf(2 * n * relative, df=3)),
        "information": float(np.mean(informations)),
        "interval_score": float(np.mean(interval_scores)),
        "n": n,
    }


# --- One call for the command line and the workers -----------------------------------------


def fit_numeric(
    table: QuantileTable,
    realizations: dict[str, float] | None = None,
    *,
    random_seed: int = 0,
    interval_mass: float = 0.9,
    model_config: dict | None = None,
    sampler_config: dict | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[xr.DataTree, dict]:
    """Fit model (1) on the table's last round and summarize it.

    ``realizations`` holds the values of seed (or resolved) questions on their own scale;
    those questions train the panel's biases, confidence ratios and shared error. Returns
    (posterior, result contract); the posterior's attrs name the model, its configs and
    the data hash, so ``tree_save`` / ``NumericHierarchicalModel.load`` round-trip it.
    """
    model = NumericHierarchicalModel(model_config, sampler_config)
    data = NumericPanelData.from_table(table, realizations)
    tree = model.fit(data, random_seed=random_seed, progress=progress)
    tree.attrs["data_hash"] = table.data_hash()
    result = summarize_numeric(tree, data, table, realizations, interval_mass=interval_mass)
    result["data_hash"] = tree.attrs["data_hash"]
    return tree, result
