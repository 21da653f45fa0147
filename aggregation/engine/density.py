"""The log density of the hierarchical model (1) and its gradient, written out by hand.

``hierarchical.BinaryHierarchicalModel.build_model`` states the model in PyMC; this module
computes the same log density, on the same unconstrained parameters, in numba functions
that are compiled once per machine (numba's on-disk cache), and hands them to nutpie as the
two C callbacks its sampler calls. The reason is time (bench/README.md): nutpie's own PyMC
path compiles its callbacks around the PyTensor graph in every process, about 8 s that no
cache keeps. ``tests/aggregation/engine/test_density.py`` holds the density to PyMC's own
``model.logp()`` and its gradient, for one, two and three cohorts and a cohort of one
expert.

All of the engine's cached numba code lives in this one file on purpose: numba's cache
checks only the file a function is defined in, so a cached function that called a changed
function in another file would keep running the old one.

Contents: the likelihood kernel (also the PyTensor op of ``likelihood.py``), the priors
and transforms, the whole log density, and nutpie's callbacks.

The parameter vector, in order (Q questions, G cohorts, E experts, n_g experts in bias
block g: each cohort's experts, also when the model pools the cohorts and G is 1,
``hierarchical.cohort_components``):

    mu_question                     Q      Normal(0, mu_sd)
    log delta_scale                 1      HalfNormal(delta_scale_sd), log transform
    delta_raw, zero-sum coordinates (Q-1)(G-1) ZeroSumNormal(1) over questions and cohorts
                                     (only if G > 1; rows: questions)
    lean_raw, zero-sum coordinates  G-1    ZeroSumNormal(1) (only if G > 1)
    log bias_scale                  1      HalfNormal(bias_scale_sd)
    log sigma_scale                 1      HalfNormal(sigma_scale_sd)
    log slope_scale                 1      HalfNormal(slope_scale_sd)
    bias_raw_cohort g               n_g-1  ZeroSumNormal(1), for each bias block g
    log_sigma_raw                   E-1    ZeroSumNormal(1)
    log_slope_raw_cohort g          n_g-1  ZeroSumNormal(1), for each bias block g
    log_kappa_mean                  1      Normal(log_kappa_mean_mu, log_kappa_mean_sd)
    log kappa_scale                 1      HalfNormal(kappa_scale_sd)
    kappa_raw                       Q      Normal(0, 1)

with delta = delta_scale * delta_raw + lean_sd * lean_raw (the lean broadcast over
questions), bias = bias_scale * C(bias_raw), log sigma = sigma_scale * log_sigma_raw,
log slope = N(slope_scale * log_slope_raw) and log kappa = log_kappa_mean + kappa_scale *
kappa_raw, as in ``build_model``; block by block, C subtracts the mean weighted by each
expert's number of answers and N the log of the answer-weighted mean of the slopes
(``hierarchical.centred_by_answers``, ``normalized_by_answers``). A zero-sum vector of
length n is stored as n - 1 coordinates and extended by PyMC's ``ZeroSumTransform`` (an
isometry onto the vectors that sum to zero, so its Jacobian is constant).
"""

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from aggregation.engine.spec import TRACE_DIMS  # what "expand" writes, in order

LOG_2PI = math.log(2.0 * math.pi)


# ------------------------------------------------------------------ the likelihood kernel
# The Student-t likelihood of a panel of judgments and its gradient, in one pass.
#
# Equation (1) of ``hierarchical.py``: for judgment n of expert i on question j,
#
#     log p(y_n) = log G((nu+1)/2) - log G(nu/2) - log(nu pi)/2 - log s_n
#                  - (nu+1)/2 log(1 + z_n^2 / nu),
#     z_n = (y_n - m_n) / s_n,  m_n = b_i + a_i (mu_j + delta_{g(i) j}),  log s_n = log sigma_i + log kappa_j.
#
# Its gradient follows from two per-judgment weights:
#
#     d log p / d m_n       =  (nu+1) z_n / (nu + z_n^2) / s_n
#     d log p / d log s_n   =  (nu+1) z_n^2 / (nu + z_n^2) - 1
#
# which are added into the parameters that judgment n reads (b_i, and a_i times it into
# mu_j and delta_gj, and a_i (mu_j + delta_gj) times it into log a_i, for the location;
# log sigma_i and log kappa_j for the scale).
#
# Why a hand-written kernel: PyTensor's generic graph for this sum runs one loop per
# operation, with a gather before and a scatter-add after; fused into one numba loop the
# gradient costs a fraction as much, and sampling is almost all gradient. Two callers:
# ``likelihood.PanelStudentTLogp`` wraps it as a PyTensor Op for the PyMC statement of the
# model, and ``logp_and_gradient`` below calls it in the log density nutpie samples (no
# PyTensor import here, so that this path starts without loading PyTensor);
# ``tests/aggregation/engine/test_likelihood.py`` checks value and gradient against
# ``pm.logp`` of a Student-t and PyTensor's automatic gradient.

# Fast-math flags that cannot change results for finite inputs by more than rounding, and
# give the same rounding on every call: approximate library functions (log), contraction,
# reciprocals. Not reassociation: it lets LLVM vectorize a sum with a prologue that depends
# on where the arrays sit in memory, so the same fit with the same seed came out different
# from one run to the next (3 of 8 fits of one panel in one process; one rounding apart at
# first, then another trajectory) while measuring no faster (200 x 60: 46 against 45 us a
# binary gradient, 76 against 76 numeric). Not the no-NaN / no-inf flags: a NaN or inf must
# still come out as one, for nutpie to reject.
FASTMATH = {"afn", "contract", "arcp"}
# A division by zero gives inf or NaN, as in numpy, instead of raising: nutpie then rejects
# the point (the callbacks cannot raise; an exception would be reported as success).
ERROR_MODEL = "numpy"


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def panel_student_t(y, idx, mu, delta_flat, bias, log_slope, log_sigma, log_kappa, nu):
    """Log-likelihood of all judgments and its gradient.

    Parameters
    ----------
    y : (n,) float, log-odds answers
    idx : (3, n) int, rows: expert i, question j, cell (index into delta_flat); a cell
        belongs to one question (cell = j * n_cohorts + cohort). Unsigned is faster (numba
        then skips its check for negative indices)
    mu : (n_questions,) ; delta_flat : (n_questions * n_cohorts,) ; bias, log_slope,
        log_sigma : (n_experts,) ; log_kappa : (n_questions,)
    nu : float, degrees of freedom

    Returns
    -------
    logp : float and the gradients with the shapes of mu, delta_flat, bias, log_slope,
    log_sigma, log_kappa, in that order.

    Judgments come sorted by cell (``BinaryPanelData.model_arrays`` sorts them), so the
    loop walks runs of one question and cohort and keeps that cell's terms in registers;
    any order is still correct, only slower.

    The sum of log(1 + z^2 / nu) is taken as log(nu + z^2) - log(nu), and the logs of
    the factors (nu + z^2) are summed as the log of their running product, taken whenever
    the product leaves [1e-200, 1e200]: one log per few hundred judgments instead of one
    each, which halves the cost of the whole loop. A factor above 1e100 is logged on its
    own, so the product cannot overflow; an inf or NaN factor still gives -inf or NaN.
    """
    g_mu = np.zeros_like(mu)
    g_delta = np.zeros_like(delta_flat)
    g_bias = np.zeros_like(bias)
    g_log_slope = np.zeros_like(log_slope)
    g_log_sigma = np.zeros_like(log_sigma)
    g_log_kappa = np.zeros_like(log_kappa)
    n = y.shape[0]
    if n == 0:
        return 0.0, g_mu, g_delta, g_bias, g_log_slope, g_log_sigma, g_log_kappa
    inv_sigma = np.exp(-log_sigma)
    slope = np.exp(log_slope)
    inv_kappa = np.exp(-log_kappa)
    kernel = 0.0  # sum of log(nu + z^2), partly held in `product`
    product = 1.0
    log_scales = 0.0  # sum of log s_n
    nu1 = nu + 1.0
    # the current run of judgments in one cell c (question j, one cohort)
    c, j = idx[2, 0], idx[1, 0]
    location_c, inv_kappa_j = mu[j] + delta_flat[c], inv_kappa[j]
    g_location_c = 0.0  # d log p / d (mu_j + delta_c), summed over the run
    g_scale_c = 0.0  # d log p / d log scale, summed over the run
    count_c = 0
    for k in range(n):
        if idx[2, k] != c:  # the run ends: add it to its cell and question
            g_delta[c] += g_location_c
            g_mu[j] += g_location_c
            g_log_kappa[j] += g_scale_c
            log_scales += count_c * log_kappa[j]
            c, j = idx[2, k], idx[1, k]
            location_c, inv_kappa_j = mu[j] + delta_flat[c], inv_kappa[j]
            g_location_c, g_scale_c, count_c = 0.0, 0.0, 0
        i = idx[0, k]
        inv_scale = inv_sigma[i] * inv_kappa_j
        z = (y[k] - bias[i] - slope[i] * location_c) * inv_scale
        factor = nu + z * z
        if factor < 1e100:
            product *= factor
            if product > 1e200 or product < 1e-200:
                kernel += math.log(product)
                product = 1.0
        else:
            kernel += math.log(factor)
        log_scales += log_sigma[i]
        w = nu1 * z / factor
        g_location = w * inv_scale  # d log p / d m_n
        g_bias[i] += g_location
        g_location_c += g_location * slope[i]
        g_log_slope[i] += g_location * slope[i] * location_c
        g_scale = w * z - 1.0
        g_log_sigma[i] += g_scale
        g_scale_c += g_scale
        count_c += 1
    g_delta[c] += g_location_c
    g_mu[j] += g_location_c
    g_log_kappa[j] += g_scale_c
    log_scales += count_c * log_kappa[j]
    kernel += math.log(product) - n * math.log(nu)  # now the sum of log(1 + z^2 / nu)
    constant = math.lgamma((nu + 1.0) / 2.0) - math.lgamma(nu / 2.0) - 0.5 * math.log(nu * math.pi)
    logp = n * constant - nu1 / 2.0 * kernel - log_scales
    return logp, g_mu, g_delta, g_bias, g_log_slope, g_log_sigma, g_log_kappa


# ------------------------------------------------------------------ priors and transforms


@dataclass(frozen=True)
class Layout:
    """Where each block of parameters sits in the vector (see the module docstring)."""

    n_questions: int
    n_cohorts: int
    cohort_sizes: tuple[int, ...]  # experts per bias block (each cohort's, in order)

    @classmethod
    def of(cls, data) -> "Layout":
        """The layout of a ``hierarchical.BinaryPanelData``."""
        return cls(len(data.questions), len(data.cohorts), tuple(data.bias_block_sizes))

    @property
    def n_experts(self) -> int:
        return sum(self.cohort_sizes)

    @property
    def n_delta(self) -> int:
        return (self.n_questions - 1) * (self.n_cohorts - 1) if self.n_cohorts > 1 else 0

    @property
    def ndim(self) -> int:
        q, e, g = self.n_questions, self.n_experts, self.n_cohorts
        n_lean = g - 1 if g > 1 else 0
        n_bias = e - len(self.cohort_sizes)
        return q + 1 + self.n_delta + n_lean + 3 + n_bias + (e - 1) + n_bias + 2 + q

    def blocks(self) -> dict[str, slice]:
        """name -> slice of the vector, in order (PyMC's value-variable names, untransformed)."""
        sizes = [("mu_question", self.n_questions), ("delta_scale", 1)]
        if self.n_cohorts > 1:
            sizes.append(("delta_raw", self.n_delta))
            sizes.append(("lean_raw", self.n_cohorts - 1))
        sizes += [("bias_scale", 1), ("sigma_scale", 1), ("slope_scale", 1)]
        sizes += [(f"bias_raw_cohort{g}", n - 1) for g, n in enumerate(self.cohort_sizes)]
        sizes += [
            ("log_sigma_raw", self.n_experts - 1),
        ]
        sizes += [(f"log_slope_raw_cohort{g}", n - 1) for g, n in enumerate(self.cohort_sizes)]
        sizes += [
            ("log_kappa_mean", 1),
            ("kappa_scale", 1),
            ("kappa_raw", self.n_questions),
        ]
        out, start = {}, 0
        for name, size in sizes:
            out[name] = slice(start, start + size)
            start += size
        return out


def prior_scales(model_config: dict) -> np.ndarray:
    """The config's prior constants in the order ``logp_and_gradient`` reads them."""
    keys = (
        "mu_sd",
        "delta_scale_sd",
        "bias_scale_sd",
        "sigma_scale_sd",
        "log_kappa_mean_mu",
        "log_kappa_mean_sd",
        "kappa_scale_sd",
        "nu",
        "lean_sd",
        "slope_scale_sd",
    )
    return np.array([float(model_config[k]) for k in keys])


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _extend(raw, out):
    """PyMC's ZeroSumTransform.extend_axis: n - 1 coordinates -> n values summing to 0."""
    n = out.shape[0]
    total = 0.0
    for k in range(n - 1):
        total += raw[k]
    sqrt_n = math.sqrt(n)
    norm = total / (sqrt_n + n)
    for k in range(n - 1):
        out[k] = raw[k] - norm
    out[n - 1] = -total / sqrt_n


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _extend_adjoint(g_out, g_raw):
    """Add the gradient of ``_extend`` applied to g_out (d/d values) into g_raw."""
    n = g_out.shape[0]
    head = 0.0
    for k in range(n - 1):
        head += g_out[k]
    sqrt_n = math.sqrt(n)
    shared = head / (sqrt_n + n) + g_out[n - 1] / sqrt_n
    for k in range(n - 1):
        g_raw[k] += g_out[k] - shared


def answer_counts(judgment_idx: np.ndarray, n_experts: int) -> np.ndarray:
    """(E,) each expert's number of answers, from the judgments' expert row."""
    return np.bincount(judgment_idx[0], minlength=n_experts).astype(np.float64)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _centre_by_answers(values, answers, sizes):
    """C in place: subtract from ``values``, block by block, their mean weighted by
    ``answers`` (every expert has at least one)."""
    first = 0
    for size in sizes:
        total = 0.0
        weight = 0.0
        for i in range(first, first + size):
            total += answers[i] * values[i]
            weight += answers[i]
        level = total / weight
        for i in range(first, first + size):
            values[i] -= level
        first += size


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _normalize_by_answers(log_values, answers, sizes):
    """N in place: subtract from ``log_values``, block by block, the log of the mean of
    their exponentials weighted by ``answers``."""
    first = 0
    for size in sizes:
        top = log_values[first]
        for i in range(first, first + size):
            top = max(top, log_values[i])
        total = 0.0
        weight = 0.0
        for i in range(first, first + size):
            total += answers[i] * math.exp(log_values[i] - top)
            weight += answers[i]
        level = top + math.log(total / weight)
        for i in range(first, first + size):
            log_values[i] -= level
        first += size


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _level_adjoint(g, shares, answers, sizes):
    """The transposed Jacobian of C or N in place: g_k - shares_k / W * (the block's sum of
    g), W the block's answers; shares_k / W is the derivative of the level subtracted with
    respect to value k: shares = answers for C, answers * exp(output) for N."""
    first = 0
    for size in sizes:
        total = 0.0
        weight = 0.0
        for i in range(first, first + size):
            total += g[i]
            weight += answers[i]
        for i in range(first, first + size):
            g[i] -= shares[i] / weight * total
        first += size


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _half_normal_log(x, sd):
    """log HalfNormal(exp(x) | sd) + x (the log transform's Jacobian), and its derivative."""
    v = math.exp(x)
    r = v / sd
    logp = 0.5 * math.log(2.0 / math.pi) - math.log(sd) - 0.5 * r * r + x
    return logp, 1.0 - r * r


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _extend_blocks(x, pos, sizes, out):
    """``_extend`` block by block: the coordinates from x[pos:] of vectors that each sum to
    zero, of lengths ``sizes``, into out; returns the position after them."""
    first = 0
    for size in sizes:
        _extend(x[pos : pos + size - 1], out[first : first + size])
        pos += size - 1
        first += size
    return pos


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _scaled_zero_sum_prior(raw, g_value, scale, sizes, grad, pos, logp, g_scale):
    """value = scale * raw, raw ZeroSumNormal(1) in blocks of ``sizes``: adds its prior to
    logp, its gradient through the value to g_scale and (via ``_extend_adjoint``) to the
    coordinates grad[pos:]; returns (logp, g_scale, the position after the coordinates)."""
    g_full = np.empty(raw.shape[0])
    for i in range(raw.shape[0]):
        r = raw[i]
        g_scale += g_value[i] * scale * r
        g_full[i] = g_value[i] * scale - r
        logp -= 0.5 * r * r
    first = 0
    for size in sizes:
        _extend_adjoint(g_full[first : first + size], grad[pos : pos + size - 1])
        logp -= 0.5 * LOG_2PI * (size - 1)
        pos += size - 1
        first += size
    return logp, g_scale, pos


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def unpack(x, n_questions, n_cohorts, cohort_sizes, lean_sd, answers):
    """The model's values at x (``answers``: each expert's number of answers): mu, delta
    (Q, G), bias, log_slope, log_sigma, log_kappa,
    the hyperparameters [delta_scale, bias_scale, sigma_scale, slope_scale, log_kappa_mean,
    kappa_scale], the raw blocks (delta_raw, bias_raw, log_sigma_raw, log_slope_raw
    extended to sum to zero; kappa_raw; lean_raw extended) and the cohorts' lean (G,)."""
    q, g_count = n_questions, n_cohorts
    e = 0
    for size in cohort_sizes:
        e += size
    pos = 0
    mu = x[pos : pos + q]
    pos += q
    delta_scale = math.exp(x[pos])
    pos += 1
    delta_raw = np.zeros((q, g_count))
    if g_count > 1:
        # PyMC's ZeroSumTransform with zero-sum axes (-2, -1): the (Q-1, G-1) coordinates
        # extended along the questions first, then along the cohorts
        coords = x[pos : pos + (q - 1) * (g_count - 1)].reshape((q - 1, g_count - 1))
        columns = np.empty((q, g_count - 1))
        for g in range(g_count - 1):
            _extend(np.ascontiguousarray(coords[:, g]), columns[:, g])
        for j in range(q):
            _extend(np.ascontiguousarray(columns[j]), delta_raw[j])
        pos += (q - 1) * (g_count - 1)
    lean_raw = np.zeros(g_count)
    if g_count > 1:
        _extend(x[pos : pos + g_count - 1], lean_raw)
        pos += g_count - 1
    lean = lean_sd * lean_raw
    bias_scale = math.exp(x[pos])
    sigma_scale = math.exp(x[pos + 1])
    slope_scale = math.exp(x[pos + 2])
    pos += 3
    bias_raw = np.empty(e)
    pos = _extend_blocks(x, pos, cohort_sizes, bias_raw)
    log_sigma_raw = np.empty(e)
    _extend(x[pos : pos + e - 1], log_sigma_raw)
    pos += e - 1
    log_slope_raw = np.empty(e)
    pos = _extend_blocks(x, pos, cohort_sizes, log_slope_raw)
    log_kappa_mean = x[pos]
    kappa_scale = math.exp(x[pos + 1])
    pos += 2
    kappa_raw = x[pos : pos + q]
    delta = delta_scale * delta_raw
    for j in range(q):
        for g in range(g_count):
            delta[j, g] += lean[g]
    bias = bias_raw.copy()
    _centre_by_answers(bias, answers, cohort_sizes)
    bias *= bias_scale
    log_sigma = sigma_scale * log_sigma_raw
    log_slope = slope_scale * log_slope_raw
    _normalize_by_answers(log_slope, answers, cohort_sizes)
    log_kappa = log_kappa_mean + kappa_scale * kappa_raw
    hyper = np.array(
        [delta_scale, bias_scale, sigma_scale, slope_scale, log_kappa_mean, kappa_scale]
    )
    raw = (delta_raw, bias_raw, log_sigma_raw, log_slope_raw, kappa_raw, lean_raw)
    return mu, delta, bias, log_slope, log_sigma, log_kappa, hyper, raw, lean


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def logp_and_gradient(x, y, idx, n_questions, n_cohorts, cohort_sizes, priors, answers):
    """Log density of the model at x (unconstrained) and its gradient, as PyMC computes it
    (Jacobians of the log transforms included); ``answers`` (E,) each expert's number of
    answers (``answer_counts``)."""
    mu_sd, delta_sd, bias_sd, sigma_sd, lkm_mu, lkm_sd, kappa_sd, nu, lean_sd, slope_sd = priors
    q, g_count = n_questions, n_cohorts
    mu, delta, bias, log_slope, log_sigma, log_kappa, hyper, raw, lean = unpack(
        x, n_questions, n_cohorts, cohort_sizes, lean_sd, answers
    )
    delta_raw, bias_raw, log_sigma_raw, log_slope_raw, kappa_raw, lean_raw = raw
    delta_scale, bias_scale, sigma_scale, slope_scale, log_kappa_mean, kappa_scale = hyper
    e = bias.shape[0]

    logp, g_mu, g_delta, g_bias, g_log_slope, g_log_sigma, g_log_kappa = panel_student_t(
        y, idx, mu, delta.ravel(), bias, log_slope, log_sigma, log_kappa, nu
    )
    grad = np.zeros_like(x)
    pos = 0

    # mu_question ~ Normal(0, mu_sd)
    for j in range(q):
        z = mu[j] / mu_sd
        logp += -0.5 * z * z - math.log(mu_sd) - 0.5 * LOG_2PI
        grad[pos + j] = g_mu[j] - mu[j] / (mu_sd * mu_sd)
    pos += q

    # delta = delta_scale * delta_raw, delta_raw zero-sum per question
    lp, d = _half_normal_log(x[pos], delta_sd)
    logp += lp
    g_scale = d
    i_scale = pos
    pos += 1
    if g_count > 1:
        g_full = np.empty(g_count)
        g_columns = np.zeros((q, g_count - 1))  # d/d the values extended along questions
        for j in range(q):
            for g in range(g_count):
                r = delta_raw[j, g]
                gd = g_delta[j * g_count + g]
                g_scale += gd * delta_scale * r
                g_full[g] = gd * delta_scale - r
                logp -= 0.5 * r * r
            _extend_adjoint(g_full, g_columns[j])
        g_coords = np.zeros((q - 1, g_count - 1))
        for g in range(g_count - 1):
            column = np.zeros(q - 1)
            _extend_adjoint(np.ascontiguousarray(g_columns[:, g]), column)
            g_coords[:, g] = column
        n_coords = (q - 1) * (g_count - 1)
        grad[pos : pos + n_coords] += g_coords.ravel()
        pos += n_coords
        logp -= 0.5 * LOG_2PI * n_coords
        # lean = lean_sd * lean_raw, added to every question's deviation
        for g in range(g_count):
            g_lean = 0.0
            for j in range(q):
                g_lean += g_delta[j * g_count + g]
            r = lean_raw[g]
            g_full[g] = g_lean * lean_sd - r
            logp -= 0.5 * r * r
        _extend_adjoint(g_full, grad[pos : pos + g_count - 1])
        pos += g_count - 1
        logp -= 0.5 * LOG_2PI * (g_count - 1)
    grad[i_scale] = g_scale

    # bias = bias_scale * C(bias_raw) (bias_raw zero-sum per cohort), log sigma =
    # sigma_scale * raw, log slope = N(slope_scale * raw): the gradients through C and N
    # (transposed Jacobians) make them gradients of scale * raw, as for log sigma
    _level_adjoint(g_bias, answers, answers, cohort_sizes)
    _level_adjoint(g_log_slope, answers * np.exp(log_slope), answers, cohort_sizes)
    i_bias_scale, i_sigma_scale, i_slope_scale = pos, pos + 1, pos + 2
    lp_b, g_bias_scale = _half_normal_log(x[pos], bias_sd)
    lp_s, g_sigma_scale = _half_normal_log(x[pos + 1], sigma_sd)
    lp_a, g_slope_scale = _half_normal_log(x[pos + 2], slope_sd)
    logp += lp_b + lp_s + lp_a
    pos += 3
    logp, g_bias_scale, pos = _scaled_zero_sum_prior(
        bias_raw, g_bias, bias_scale, cohort_sizes, grad, pos, logp, g_bias_scale
    )
    every_expert = np.full(1, e, dtype=np.int64)  # log sigma: one block of all experts
    logp, g_sigma_scale, pos = _scaled_zero_sum_prior(
        log_sigma_raw, g_log_sigma, sigma_scale, every_expert, grad, pos, logp, g_sigma_scale
    )
    logp, g_slope_scale, pos = _scaled_zero_sum_prior(
        log_slope_raw, g_log_slope, slope_scale, cohort_sizes, grad, pos, logp, g_slope_scale
    )
    grad[i_bias_scale] = g_bias_scale
    grad[i_sigma_scale] = g_sigma_scale
    grad[i_slope_scale] = g_slope_scale

    # log kappa = log_kappa_mean + kappa_scale * kappa_raw
    z = (log_kappa_mean - lkm_mu) / lkm_sd
    logp += -0.5 * z * z - math.log(lkm_sd) - 0.5 * LOG_2PI
    g_mean = -z / lkm_sd
    lp, g_kappa_scale = _half_normal_log(x[pos + 1], kappa_sd)
    logp += lp
    i_mean = pos
    pos += 2
    for j in range(q):
        r = kappa_raw[j]
        g_mean += g_log_kappa[j]
        g_kappa_scale += g_log_kappa[j] * kappa_scale * r
        grad[pos + j] = g_log_kappa[j] * kappa_scale - r
        logp += -0.5 * r * r - 0.5 * LOG_2PI
    grad[i_mean] = g_mean
    grad[i_mean + 1] = g_kappa_scale
    return logp, grad


# ------------------------------------------------------------------ sampling with nutpie
# nutpie's sampler (Rust, one thread per chain) calls two C functions: the log density
# with its gradient, and "expand", which turns a draw into the traced variables. They are
# numba cfuncs here, compiled once and cached on disk (no closure over per-panel objects:
# the panel's arrays reach them through a header of addresses, ``user_data``). nutpie's
# PyMC path builds the same pair around a PyTensor function, and numba cannot cache that.


N_PRIORS = 10  # the length of prior_scales()
# ndim, judgments, Q, G, E, n_expanded, addresses of y, idx, sizes, priors, answers,
# bias blocks
_HEADER = 12


@intrinsic
def _pointer(typingctx, address):
    """The integer ``address`` as a void pointer (for numba.carray)."""

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


@numba.njit(cache=True, error_model=ERROR_MODEL)
def _read_panel(user_data):
    header = numba.carray(user_data, (_HEADER,), np.int64)
    n = header[1]
    y = numba.carray(_pointer(header[6]), (n,), np.float64)
    idx = numba.carray(_pointer(header[7]), (3, n), np.uint32)
    sizes = numba.carray(_pointer(header[8]), (header[11],), np.int64)
    priors = numba.carray(_pointer(header[9]), (N_PRIORS,), np.float64)
    answers = numba.carray(_pointer(header[10]), (header[4],), np.float64)
    return header, y, idx, sizes, priors, answers


_LOGP_SIGNATURE = types.int64(
    types.uint64, types.CPointer(types.double), types.CPointer(types.double),
    types.CPointer(types.double), types.voidptr,
)  # fmt: skip
_EXPAND_SIGNATURE = types.int64(
    types.uint64, types.uint64, types.CPointer(types.double), types.CPointer(types.double),
    types.voidptr,
)  # fmt: skip


@numba.njit(cache=True, error_model=ERROR_MODEL)
def _hand_over(logp, grad, logp_ptr, grad_ptr):
    """Write a log density and its gradient where nutpie asked; return its code: 0, or 3 / 4
    for a non-finite gradient / log density."""
    out = numba.carray(grad_ptr, grad.shape)
    finite = True
    for k in range(grad.shape[0]):  # a loop: `out[:] = grad` makes numba build error code
        out[k] = grad[k]
        finite = finite and math.isfinite(grad[k])
    logp_ptr[0] = logp
    if not finite:
        return 3
    if not math.isfinite(logp):
        return 4
    return 0


@numba.njit(cache=True, error_model=ERROR_MODEL)
def _write_in_order(out, arrays):
    """Write the (flat) arrays one after another into out, as an expand callback must."""
    pos = 0
    for values in arrays:
        for k in range(values.shape[0]):
            out[pos + k] = values[k]
        pos += values.shape[0]


def _logp_callback(dim, x_ptr, grad_ptr, logp_ptr, user_data):
    """nutpie's logp callback: 0, or 3 / 4 for a non-finite gradient / log density."""
    header, y, idx, sizes, priors, answers = _read_panel(user_data)
    if dim != header[0]:
        return -1
    x = numba.carray(x_ptr, (dim,))
    logp, grad = logp_and_gradient(x, y, idx, header[2], header[3], sizes, priors, answers)
    return _hand_over(logp, grad, logp_ptr, grad_ptr)


def _expand_callback(dim, n_expanded, x_ptr, out_ptr, user_data):
    """nutpie's expand callback: the traced variables of one draw, in TRACE_DIMS order."""
    header, y, idx, sizes, priors, answers = _read_panel(user_data)
    if dim != header[0] or n_expanded != header[5]:
        return -1
    x = numba.carray(x_ptr, (dim,))
    out = numba.carray(out_ptr, (n_expanded,))
    mu, delta, bias, log_slope, log_sigma, log_kappa, hyper, _, lean = unpack(
        x, header[2], header[3], sizes, priors[8], answers
    )
    _write_in_order(
        out,
        (mu, delta.ravel(), bias, np.exp(log_slope), np.exp(log_sigma), np.exp(log_kappa), hyper,
         lean),
    )  # fmt: skip
    return 0


@functools.cache
def callbacks():
    """nutpie's two callbacks as numba cfuncs (logp, expand), compiled or loaded from the
    cache on first use: importing this module for the kernel alone compiles nothing."""
    options = {"cache": True, "error_model": ERROR_MODEL}
    return (
        numba.cfunc(_LOGP_SIGNATURE, **options)(_logp_callback),
        numba.cfunc(_EXPAND_SIGNATURE, **options)(_expand_callback),
    )


def initial_point(layout: Layout, model_config: dict, rng: np.random.Generator) -> np.ndarray:
    """Where a chain starts, as nutpie starts a PyMC model: each free variable at its
    prior's support point (0; a scale at its prior sd), plus a U(-1, 1) jitter."""
    x = rng.uniform(-1.0, 1.0, size=layout.ndim)
    blocks = layout.blocks()
    for name in ("delta_scale", "bias_scale", "sigma_scale", "slope_scale", "kappa_scale"):
        x[blocks[name]] += math.log(model_config[f"{name}_sd"])
    x[blocks["log_kappa_mean"]] += model_config["log_kappa_mean_mu"]
    return x


def nutpie_model(
    layout: Layout, model_config: dict, coords: dict, y: np.ndarray, judgment_idx: np.ndarray
):
    """A model nutpie samples (``nutpie.sample``) with this density, for this panel.

    Costs microseconds once the two cfuncs are loaded: build one per fit. It fills
    nutpie's ``CompiledPyMCModel`` with these callbacks instead of compiled PyTensor ones;
    ``tests/aggregation/engine/test_density.py`` samples through it, so a nutpie release
    that changes that class fails there.
    """
    arrays = {  # kept alive by the model: the header holds their addresses
        "y": np.ascontiguousarray(y, dtype=np.float64),
        "judgment_idx": np.ascontiguousarray(judgment_idx, dtype=np.uint32),
        "cohort_sizes": np.array(layout.cohort_sizes, dtype=np.int64),
        "priors": prior_scales(model_config),
    }
    if arrays["judgment_idx"].shape != (3, arrays["y"].size):
        raise ValueError("judgment_idx must have shape (3, number of judgments)")
    expert, question, cell = arrays["judgment_idx"]
    if np.any(cell // layout.n_cohorts != question) or np.any(expert >= layout.n_experts):
        raise ValueError("judgment_idx does not fit the layout (cell = question x cohorts + g)")
    arrays["answers"] = answer_counts(arrays["judgment_idx"], layout.n_experts)
    if np.any(arrays["answers"] == 0):
        raise ValueError("every expert of the layout must have at least one judgment")
    return _compiled_model(
        TRACE_DIMS,
        coords,
        layout.ndim,
        callbacks(),
        lambda seed: initial_point(layout, model_config, np.random.default_rng(seed)),
        arrays,
        header_counts=[
            layout.ndim,
            arrays["y"].size,
            layout.n_questions,
            layout.n_cohorts,
            layout.n_experts,
        ],
        header_tail=[len(layout.cohort_sizes)],
    )


# ------------------------------------------------------------------ the numeric model
# ``numeric.NumericHierarchicalModel.build_model`` states model (1) of numeric.py in PyMC;
# this is the same log density on the same unconstrained parameters, for the same reason
# as the binary model's (nutpie's PyMC path compiles the graph in every process, 7-18 s).
# ``tests/aggregation/engine/test_numeric_density.py`` holds it to PyMC's ``model.logp()``
# and gradient. The vector, in order (E experts, Q questions, G cohorts):
#
#     log tau            1    HalfNormal(tau_sd)
#     log bias_scale     1    HalfNormal(bias_scale_sd)
#     bias_z             E    Normal(0, 1); bias = bias_scale (bias_z - its cohort's mean)
#     log_rho_mean       1    Normal(log_rho_mean_mu, log_rho_mean_sd)
#     log rho_scale      1    HalfNormal(rho_scale_sd)
#     rho_z              E    Normal(0, 1); log rho = log_rho_mean + rho_scale rho_z
#     log kappa_scale    1    HalfNormal(kappa_scale_sd)
#     kappa_z            Q    Normal(0, 1); log kappa = kappa_scale kappa_z
#     location           Q    Normal(0, location_sd)
#     log delta_scale    1    HalfNormal(delta_scale_sd)         (only if G > 1)
#     delta_z, zero-sum  Q(G-1) ZeroSumNormal(1) over cohorts    (only if G > 1)
#
# The panel-wide bias (``panel_bias_sd`` > 0, off by default) is not here: such a
# configuration is fitted through PyMC.

NUMERIC_TRACE_DIMS = {  # what the numeric expand callback writes, in order
    "tau": (),
    "bias_scale": (),
    "log_rho_mean": (),
    "rho_scale": (),
    "kappa_scale": (),
    "location": ("question",),
    "bias": ("expert",),
    "rho": ("expert",),
    "kappa": ("question",),
    "delta": ("question", "cohort"),
    "median": ("question",),
    "cohort_median": ("question", "cohort"),
}
NUMERIC_PRIOR_KEYS = (
    "tau_sd",
    "bias_scale_sd",
    "log_rho_mean_mu",
    "log_rho_mean_sd",
    "rho_scale_sd",
    "kappa_scale_sd",
    "location_sd",
    "delta_scale_sd",
    "nu",
    "shared_error_nu",
    "shared_error_disagreement",
)


@dataclass(frozen=True)
class NumericLayout:
    """Where each block of the numeric model's parameters sits in the vector."""

    n_questions: int
    n_experts: int
    n_cohorts: int

    @property
    def ndim(self) -> int:
        q, e, g = self.n_questions, self.n_experts, self.n_cohorts
        return 5 + 2 * e + 2 * q + (1 + q * (g - 1) if g > 1 else 0)

    def blocks(self) -> dict[str, slice]:
        """name -> slice of the vector, in order (PyMC's variable names, untransformed)."""
        q, e, g = self.n_questions, self.n_experts, self.n_cohorts
        sizes = [("tau", 1), ("bias_scale", 1), ("bias_z", e), ("log_rho_mean", 1)]
        sizes += [("rho_scale", 1), ("rho_z", e), ("kappa_scale", 1), ("kappa_z", q)]
        sizes += [("location", q)]
        if g > 1:
            sizes += [("delta_scale", 1), ("delta_z", q * (g - 1))]
        out, start = {}, 0
        for name, size in sizes:
            out[name] = slice(start, start + size)
            start += size
        return out


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _log_shape(z, nu):
    """log f(z) of the standard Student-t (nu; 0: normal) and its derivative in z."""
    if nu > 0.0:
        const = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
        return const - (nu + 1) / 2 * math.log1p(z * z / nu), -(nu + 1) * z / (nu + z * z)
    return -0.5 * z * z - 0.5 * LOG_2PI, -z


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def numeric_unpack(x, n_questions, expert_cohort, cohort_sizes):
    """The model's values at x: location, bias, log rho, log kappa, delta (Q, G), the
    hyperparameters [tau, bias_scale, log_rho_mean, rho_scale, kappa_scale, delta_scale]
    and the raw blocks (bias_z, rho_z, kappa_z, delta_z extended to sum to zero)."""
    q, e, g_count = n_questions, expert_cohort.shape[0], cohort_sizes.shape[0]
    tau, bias_scale = math.exp(x[0]), math.exp(x[1])
    bias_z = x[2 : 2 + e]
    pos = 2 + e
    log_rho_mean, rho_scale = x[pos], math.exp(x[pos + 1])
    rho_z = x[pos + 2 : pos + 2 + e]
    pos += 2 + e
    kappa_scale = math.exp(x[pos])
    kappa_z = x[pos + 1 : pos + 1 + q]
    pos += 1 + q
    location = x[pos : pos + q]
    pos += q
    cohort_mean = np.zeros(g_count)
    for i in range(e):
        cohort_mean[expert_cohort[i]] += bias_z[i] / cohort_sizes[expert_cohort[i]]
    bias = np.empty(e)
    log_rho = np.empty(e)
    for i in range(e):
        bias[i] = bias_scale * (bias_z[i] - cohort_mean[expert_cohort[i]])
        log_rho[i] = log_rho_mean + rho_scale * rho_z[i]
    log_kappa = kappa_scale * kappa_z
    delta_scale = 1.0
    delta_z = np.zeros((q, g_count))
    if g_count > 1:
        delta_scale = math.exp(x[pos])
        pos += 1
        for j in range(q):
            _extend(x[pos : pos + g_count - 1], delta_z[j])
            pos += g_count - 1
    delta = delta_scale * delta_z
    hyper = np.array([tau, bias_scale, log_rho_mean, rho_scale, kappa_scale, delta_scale])
    return location, bias, log_rho, log_kappa, delta, hyper, (bias_z, rho_z, kappa_z, delta_z)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def numeric_logp_and_gradient(x, idx, answers, per_question, expert_cohort, cohort_sizes, priors):
    """Log density of numeric model (1) at x (unconstrained) and its gradient, as PyMC
    computes it (Jacobians of the log transforms included).

    The arrays are ``numeric_panel_arrays``: idx (3, N) expert, question and cell
    (question x G + cohort) of each answer, sorted by cell; answers (5, N) rows: median,
    1 / left and 1 / right half-width (standardized), the median's offset from the mode
    in scale units (``numeric.split_median_offset``) and log((left + right) / 2);
    per_question (5, Q) rows: realized value (0 for a target), 1 for a seed, the panel's
    left and right skews and the shared error's median offset.
    """
    tau_sd, bias_sd, lrm_mu, lrm_sd, rho_sd, kappa_sd, loc_sd, delta_sd = priors[:8]
    nu, nu_eta, power = priors[8], priors[9], priors[10]
    q, e, g_count = per_question.shape[1], expert_cohort.shape[0], cohort_sizes.shape[0]
    location, bias, log_rho, log_kappa, delta, hyper, raw = numeric_unpack(
        x, q, expert_cohort, cohort_sizes
    )
    tau, bias_scale, log_rho_mean, rho_scale, kappa_scale, delta_scale = hyper
    bias_z, rho_z, kappa_z, delta_z = raw
    g_loc = np.zeros(q)
    g_delta = np.zeros(q * g_count)
    g_bias = np.zeros(e)
    g_log_rho = np.zeros(e)
    g_log_kappa = np.zeros(q)
    g_log_tau = 0.0

    # The answers: a continuous split Student-t whose median is the stated median m. With
    # u = (m - loc) / scale, the answer's side is the right one when u < c (loc above the
    # mode m - c scale), z = (u - c) / side, and
    #     d log p / d loc = -psi / (scale side),  d log p / d log scale = -psi u / side - 1
    # with psi = -(nu+1) z / (nu + z^2). As in ``panel_student_t``: answers come sorted by
    # cell (question, cohort), whose location is kept in registers over the run, and the
    # logs of (nu + z^2) are summed as the log of their running product.
    inv_rho, inv_kappa = np.exp(-log_rho), np.exp(-log_kappa)
    nu1 = nu + 1.0
    kernel, product, log_scales = 0.0, 1.0, 0.0
    n_answers = idx.shape[1]
    c = -1
    j = 0
    location_c, inv_kappa_j, g_location_c, g_scale_c = 0.0, 1.0, 0.0, 0.0
    for n in range(n_answers):
        i = idx[0, n]
        if idx[2, n] != c:  # a new run: close the last one
            if c >= 0:
                g_loc[j] += g_location_c
                g_delta[c] += g_location_c
                g_log_kappa[j] += g_scale_c
            c, j = idx[2, n], idx[1, n]
            location_c = location[j] + delta[j, c - j * g_count]
            inv_kappa_j = inv_kappa[j]
            g_location_c, g_scale_c = 0.0, 0.0
        inv_scale = inv_rho[i] * inv_kappa_j
        offset = answers[3, n]
        u = (answers[0, n] - location_c - bias[i]) * inv_scale
        inv_side = answers[2, n] if u < offset else answers[1, n]
        z = (u - offset) * inv_side
        factor = nu + z * z
        if factor < 1e100:
            product *= factor
            if product > 1e200 or product < 1e-200:
                kernel += math.log(product)
                product = 1.0
        else:
            kernel += math.log(factor)
        log_scales += log_rho[i] + log_kappa[j] + answers[4, n]
        w = nu1 * z / factor  # -psi
        d_loc = w * inv_scale * inv_side
        d_log_scale = w * u * inv_side - 1.0
        g_location_c += d_loc
        g_bias[i] += d_loc
        g_log_rho[i] += d_log_scale
        g_scale_c += d_log_scale
    if c >= 0:
        g_loc[j] += g_location_c
        g_delta[c] += g_location_c
        g_log_kappa[j] += g_scale_c
    kernel += math.log(product) - n_answers * math.log(nu)  # sum of log(1 + z^2 / nu)
    const = math.lgamma(nu1 / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    logp = n_answers * const - nu1 / 2.0 * kernel - log_scales

    # the seeds: their shared error eta_j = theta_j - L_j under its split density
    for j in range(q):
        if per_question[1, j] == 0.0:
            continue
        eta = per_question[0, j] - location[j]
        log_scale = x[0] + power * log_kappa[j]
        scale = math.exp(log_scale)
        offset = per_question[4, j]
        mode = -scale * offset
        side = per_question[2, j] if eta < mode else per_question[3, j]
        z = (eta - mode) / (scale * side)
        lp, psi = _log_shape(z, nu_eta)
        logp += lp - log_scale
        g_loc[j] -= psi / (scale * side)
        d_log_scale = -psi * (z - offset / side) - 1.0
        g_log_tau += d_log_scale
        g_log_kappa[j] += power * d_log_scale

    grad = np.zeros_like(x)
    # tau, bias_scale
    lp, d = _half_normal_log(x[0], tau_sd)
    logp += lp
    grad[0] = d + g_log_tau
    lp, d = _half_normal_log(x[1], bias_sd)
    logp += lp
    # bias = bias_scale (bias_z - cohort mean): the centring is a projection, so the
    # gradient in bias_z is bias_scale times g_bias minus its cohort's mean
    g_mean = np.zeros(g_count)
    for i in range(e):
        g_mean[expert_cohort[i]] += g_bias[i] / cohort_sizes[expert_cohort[i]]
        d += g_bias[i] * bias[i]
    grad[1] = d
    pos = 2
    for i in range(e):
        grad[pos + i] = bias_scale * (g_bias[i] - g_mean[expert_cohort[i]]) - bias_z[i]
        logp += -0.5 * bias_z[i] * bias_z[i] - 0.5 * LOG_2PI
    pos += e
    # log rho = log_rho_mean + rho_scale rho_z
    z = (log_rho_mean - lrm_mu) / lrm_sd
    logp += -0.5 * z * z - math.log(lrm_sd) - 0.5 * LOG_2PI
    g_lrm = -z / lrm_sd
    lp, g_rho_scale = _half_normal_log(x[pos + 1], rho_sd)
    logp += lp
    for i in range(e):
        g_lrm += g_log_rho[i]
        g_rho_scale += g_log_rho[i] * rho_scale * rho_z[i]
        grad[pos + 2 + i] = g_log_rho[i] * rho_scale - rho_z[i]
        logp += -0.5 * rho_z[i] * rho_z[i] - 0.5 * LOG_2PI
    grad[pos] = g_lrm
    grad[pos + 1] = g_rho_scale
    pos += 2 + e
    # log kappa = kappa_scale kappa_z
    lp, g_kappa_scale = _half_normal_log(x[pos], kappa_sd)
    logp += lp
    for j in range(q):
        g_kappa_scale += g_log_kappa[j] * kappa_scale * kappa_z[j]
        grad[pos + 1 + j] = g_log_kappa[j] * kappa_scale - kappa_z[j]
        logp += -0.5 * kappa_z[j] * kappa_z[j] - 0.5 * LOG_2PI
    grad[pos] = g_kappa_scale
    pos += 1 + q
    # location ~ Normal(0, location_sd)
    for j in range(q):
        z = location[j] / loc_sd
        logp += -0.5 * z * z - math.log(loc_sd) - 0.5 * LOG_2PI
        grad[pos + j] = g_loc[j] - z / loc_sd
    pos += q
    # delta = delta_scale delta_z, delta_z zero-sum over the cohorts of each question
    if g_count > 1:
        lp, g_delta_scale = _half_normal_log(x[pos], delta_sd)
        logp += lp
        rows = np.full(q, g_count, dtype=np.int64)
        logp, g_delta_scale, _ = _scaled_zero_sum_prior(
            delta_z.ravel(), g_delta, delta_scale, rows, grad, pos + 1, logp, g_delta_scale
        )
        grad[pos] = g_delta_scale
    return logp, grad


_NUMERIC_HEADER = 13  # ndim, N, Q, E, G, n_expanded, addresses of the six arrays, N_PRIORS


@numba.njit(cache=True, error_model=ERROR_MODEL)
def _read_numeric_panel(user_data):
    header = numba.carray(user_data, (_NUMERIC_HEADER,), np.int64)
    n, q, e, g = header[1], header[2], header[3], header[4]
    idx = numba.carray(_pointer(header[6]), (3, n), np.uint32)
    answers = numba.carray(_pointer(header[7]), (5, n), np.float64)
    per_question = numba.carray(_pointer(header[8]), (5, q), np.float64)
    expert_cohort = numba.carray(_pointer(header[9]), (e,), np.int64)
    cohort_sizes = numba.carray(_pointer(header[10]), (g,), np.int64)
    priors = numba.carray(_pointer(header[11]), (header[12],), np.float64)
    return header, idx, answers, per_question, expert_cohort, cohort_sizes, priors


def _numeric_logp_callback(dim, x_ptr, grad_ptr, logp_ptr, user_data):
    """nutpie's logp callback of the numeric model (codes as ``_logp_callback``)."""
    header, idx, answers, per_question, expert_cohort, cohort_sizes, priors = _read_numeric_panel(
        user_data
    )
    if dim != header[0]:
        return -1
    x = numba.carray(x_ptr, (dim,))
    logp, grad = numeric_logp_and_gradient(
        x, idx, answers, per_question, expert_cohort, cohort_sizes, priors
    )
    return _hand_over(logp, grad, logp_ptr, grad_ptr)


def _numeric_expand_callback(dim, n_expanded, x_ptr, out_ptr, user_data):
    """nutpie's expand callback of the numeric model: NUMERIC_TRACE_DIMS, in order."""
    header, idx, answers, per_question, expert_cohort, cohort_sizes, priors = _read_numeric_panel(
        user_data
    )
    if dim != header[0] or n_expanded != header[5]:
        return -1
    x = numba.carray(x_ptr, (dim,))
    out = numba.carray(out_ptr, (n_expanded,))
    q, g_count = header[2], header[4]
    location, bias, log_rho, log_kappa, delta, hyper, _ = numeric_unpack(
        x, q, expert_cohort, cohort_sizes
    )
    cohort_median = np.empty((q, g_count))
    for j in range(q):
        for g in range(g_count):
            cohort_median[j, g] = location[j] + delta[j, g]
    _write_in_order(
        out,
        (hyper[:5], location, bias, np.exp(log_rho), np.exp(log_kappa), delta.ravel(), location,
         cohort_median.ravel()),
    )  # fmt: skip
    return 0


@functools.cache
def numeric_callbacks():
    """The numeric model's two nutpie callbacks (logp, expand), as ``callbacks``."""
    options = {"cache": True, "error_model": ERROR_MODEL}
    return (
        numba.cfunc(_LOGP_SIGNATURE, **options)(_numeric_logp_callback),
        numba.cfunc(_EXPAND_SIGNATURE, **options)(_numeric_expand_callback),
    )


def numeric_initial_point(layout: NumericLayout, model_config: dict, rng) -> np.ndarray:
    """Where a chain starts: as ``initial_point``, each free variable at its prior's
    support point (a scale at its prior sd) plus a U(-1, 1) jitter."""
    x = rng.uniform(-1.0, 1.0, size=layout.ndim)
    blocks = layout.blocks()
    for name in ("tau", "bias_scale", "rho_scale", "kappa_scale", "delta_scale"):
        if name in blocks:
            x[blocks[name]] += math.log(model_config[f"{name}_sd"])
    x[blocks["log_rho_mean"]] += model_config["log_rho_mean_mu"]
    return x


def numeric_panel_arrays(data, model_config: dict) -> dict[str, np.ndarray]:
    """The arrays ``numeric_logp_and_gradient`` reads, in its argument order, from a
    ``numeric.NumericPanelData``: what in the answers does not depend on the parameters
    is computed here once (inverse widths, median offsets, log half-width sums)."""
    from aggregation.engine.numeric import split_median_offset

    n_cohorts = len(data.cohorts)
    cohort = data.expert_cohort[data.expert_idx]
    cell = data.question_idx * n_cohorts + cohort
    order = np.argsort(cell, kind="stable")
    left, right = (width[order] for width in data.read_widths(model_config["answer_width_floor"]))
    nu_eta = model_config["shared_error_nu"]
    return {
        "idx": np.ascontiguousarray(
            [data.expert_idx[order], data.question_idx[order], cell[order]], dtype=np.uint32
        ),
        "answers": np.ascontiguousarray(
            [
                data.median[order],
                1.0 / left,
                1.0 / right,
                split_median_offset(left, right, model_config["nu"]),
                np.log(0.5 * (left + right)),
            ],
            dtype=np.float64,
        ),
        "per_question": np.ascontiguousarray(
            [
                np.nan_to_num(data.realized),
                data.seeds,
                data.skew_left,
                data.skew_right,
                split_median_offset(data.skew_left, data.skew_right, nu_eta),
            ],
            dtype=np.float64,
        ),
        "expert_cohort": np.ascontiguousarray(data.expert_cohort, dtype=np.int64),
        "cohort_sizes": np.bincount(data.expert_cohort, minlength=n_cohorts).astype(np.int64),
        "priors": np.array([float(model_config[k]) for k in NUMERIC_PRIOR_KEYS]),
    }


def numeric_nutpie_model(data, model_config: dict):
    """A model nutpie samples with the numeric density, for a ``numeric.NumericPanelData``
    (microseconds: build one per fit, also per cross-validation fold)."""
    if model_config["panel_bias_sd"]:
        raise ValueError("the numeric density has no panel-wide bias: fit it through PyMC")
    layout = NumericLayout(len(data.questions), len(data.experts), len(data.cohorts))
    arrays = numeric_panel_arrays(data, model_config)  # kept alive by the model
    coords = {"question": data.questions, "expert": data.experts, "cohort": data.cohorts}
    return _compiled_model(
        NUMERIC_TRACE_DIMS,
        coords,
        layout.ndim,
        numeric_callbacks(),
        lambda seed: numeric_initial_point(layout, model_config, np.random.default_rng(seed)),
        arrays,
        header_counts=[
            layout.ndim,
            data.median.size,
            layout.n_questions,
            layout.n_experts,
            layout.n_cohorts,
        ],
        header_tail=[len(NUMERIC_PRIOR_KEYS)],
    )


def _compiled_model(
    trace_dims, coords, ndim, callbacks_pair, initial_point_func, arrays, *, header_counts,
    header_tail,
):  # fmt: skip
    """nutpie's ``CompiledPyMCModel`` filled with our callbacks, for either model: the
    header is ``header_counts``, the number of values expand writes, the addresses of
    ``arrays`` (in their order) and ``header_tail``."""
    from nutpie.compile_pymc import CompiledPyMCModel

    shapes = [tuple(len(coords[d]) for d in dims) for dims in trace_dims.values()]
    sizes = [math.prod(shape) for shape in shapes]
    bounds = np.cumsum([0, *sizes])
    header = np.array(
        [*header_counts, bounds[-1], *(a.ctypes.data for a in arrays.values()), *header_tail],
        dtype=np.int64,
    )
    names = list(trace_dims)
    logp_callback, expand_callback = callbacks_pair
    return CompiledPyMCModel(
        dims={name: dims for name, dims in trace_dims.items() if dims},
        _coords=dict(coords),
        _n_dim=ndim,
        _shapes=dict(zip(names, shapes, strict=True)),
        compiled_logp_func=logp_callback,
        compiled_expand_func=expand_callback,
        initial_point_func=initial_point_func,
        shared_data=arrays,
        shared_var_keys={},
        user_data=header,
        n_expanded=int(bounds[-1]),
        shape_info=(names, [slice(a, bounds[k + 1]) for k, a in enumerate(bounds[:-1])], shapes),
        logp_func=None,
        expand_func=None,
    )
