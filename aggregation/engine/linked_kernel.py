"""The likelihood (2) of the linked-rounds model (rounds.py) and its gradient, in one pass.

``rounds.LinkedRoundsModel.build_model`` computes each answer's location m and log scale
log s in PyTensor (they are the single-round model's) and hands them, with the
persistence rho and the keep tolerance tau, to ``LinkedStudentTLogp``, one Op whose value
and gradient come from ``linked_student_t`` below. Written out as PyTensor's generic graph
(``pm.logp`` and ``pm.logcdf`` of Student-t distributions, as
``tests/aggregation/engine/test_linked_kernel.py`` does to check this kernel) a gradient
cost about 1.6 ms on a 60 x 30 x 2 panel, most of it in the incomplete beta function of
the kept answers' Student-t CDFs; here it is one loop.

Every numba function this kernel calls is in this file: numba's on-disk cache checks only
the file a function is defined in.

Rows (answers) come in three kinds, by ``previous`` and ``kept``:

    first answer (previous < 0):   log t_nu((y - m) / s) - log s
    revised (previous = p):        log t_nu'((y - loc) / c) - log c
    kept (previous = p, kept):     log [T_nu'((y_p + tau - loc) / c) - T_nu'((y_p - tau - loc) / c)]

with nu' = nu + 1, d = (y_p - m_p) / s_p, loc = m + rho s d and
c = s sqrt((nu + d^2) / (nu + 1) (1 - rho^2)); t and T are the standard Student-t density
and distribution function.
"""

import hashlib
import math
from pathlib import Path

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

FASTMATH = {"contract", "arcp"}  # no "afn": the incomplete beta's series needs exact logs
ERROR_MODEL = "numpy"


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _beta_fraction(a, b, x):
    """The continued fraction of the regularized incomplete beta (modified Lentz;
    Press et al., Numerical Recipes, 3rd ed., §6.4), converging for x < (a + 1) / (a + b + 2).
    """
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < tiny:
        d = tiny
    d = 1.0 / d
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < tiny:
            d = tiny
        c = 1.0 + aa / c
        if abs(c) < tiny:
            c = tiny
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < tiny:
            d = tiny
        c = 1.0 + aa / c
        if abs(c) < tiny:
            c = tiny
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-14:
            break
    return h


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _log_betainc(a, b, x, log_beta):
    """log I_x(a, b), the regularized incomplete beta, for 0 <= x <= 1; log_beta is
    log B(a, b) (the caller's constant)."""
    if x <= 0.0:
        return -math.inf
    if x >= 1.0:
        return 0.0
    log_front = a * math.log(x) + b * math.log1p(-x) - log_beta
    if x < (a + 1.0) / (a + b + 2.0):
        return log_front + math.log(_beta_fraction(a, b, x)) - math.log(a)
    # the symmetry I_x(a, b) = 1 - I_{1-x}(b, a), where that fraction converges
    tail = math.exp(log_front + math.log(_beta_fraction(b, a, 1.0 - x)) - math.log(b))
    return math.log1p(-tail)


# Below this, a whole number of degrees of freedom takes the closed form of the Student-t
# distribution function (Abramowitz & Stegun 26.7.3-4), a few multiplications instead of a
# continued fraction; beyond it (far tails, where 1 - A would lose digits) the incomplete beta.
CLOSED_FORM_BELOW = 8.0


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _t_abs_mass(x, k):
    """A(x | k) = P(|T| < x) for x >= 0, T ~ Student-t with a whole number k of degrees
    of freedom: the closed form (Abramowitz & Stegun 26.7.3-4), with theta =
    atan(x / sqrt(k))."""
    ratio = x / math.sqrt(k)
    if ratio > 1e100:  # 1 - A ~ ratio^-k: 1 in double precision (and ratio^2 may overflow)
        return 1.0
    cos2 = 1.0 / (1.0 + ratio * ratio)
    cos = math.sqrt(cos2)
    sin = ratio * cos
    if k % 2 == 1:
        total, term = 0.0, cos
        if k > 1:
            total = term
            for j in range(1, (k - 1) // 2):
                term *= cos2 * (2.0 * j) / (2.0 * j + 1.0)
                total += term
        return 2.0 / math.pi * (math.atan(ratio) + sin * total)
    total, term = 1.0, 1.0
    for j in range(1, k // 2):
        term *= cos2 * (2.0 * j - 1.0) / (2.0 * j)
        total += term
    return sin * total


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _closed_form(nu):
    """Whether Student-t(nu) has the closed-form distribution function used here."""
    return nu == math.floor(nu) and nu <= 100.0


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _log_t_tail(x, nu, log_beta):
    """log P(T > x) for x >= 0, T ~ Student-t(nu)."""
    if _closed_form(nu) and x < CLOSED_FORM_BELOW:
        return math.log(0.5 * (1.0 - _t_abs_mass(x, int(nu))))
    return _log_betainc(0.5 * nu, 0.5, nu / (nu + x * x), log_beta) - math.log(2.0)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def t_log_beta(nu):
    """log B(nu / 2, 1 / 2), the constant of the Student-t(nu) distribution function."""
    return math.lgamma(0.5 * nu) + math.lgamma(0.5) - math.lgamma(0.5 * nu + 0.5)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _log_t_interval(lo, hi, nu, log_beta):
    """log P(lo < T < hi), T ~ Student-t(nu), lo < hi, without cancellation in the tails;
    log_beta = t_log_beta(nu)."""
    if lo >= 0.0:  # both above 0: P(T > lo) - P(T > hi)
        upper, lower = _log_t_tail(lo, nu, log_beta), _log_t_tail(hi, nu, log_beta)
    elif hi <= 0.0:  # both below 0: by symmetry
        upper, lower = _log_t_tail(-hi, nu, log_beta), _log_t_tail(-lo, nu, log_beta)
    else:  # straddles 0: 1 - P(T < lo) - P(T > hi)
        return math.log1p(
            -math.exp(_log_t_tail(-lo, nu, log_beta)) - math.exp(_log_t_tail(hi, nu, log_beta))
        )
    return upper + math.log1p(-math.exp(lower - upper))


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _t_interval(lo, hi, nu, log_beta):
    """(log P(lo < T < hi), P(lo < T < hi)), T ~ Student-t(nu), lo < hi.

    Where the closed form holds the mass is a difference (or sum) of A(x), without a log
    or exp per end: whenever the interval straddles 0 or its end nearer 0 lies within
    CLOSED_FORM_BELOW, however far the other end lies (a kept answer's interval often
    reaches far beyond: 2 tau / c ~ 13 at a typical posterior point). There A's absolute
    rounding (1e-16) costs the mass no more than the log path's tails did, which took the
    same closed form within CLOSED_FORM_BELOW. Only an interval with both ends far in one
    tail takes ``_log_t_interval``'s logs (the incomplete beta).
    """
    if _closed_form(nu) and math.isfinite(lo) and math.isfinite(hi):
        k = int(nu)
        mass = -1.0
        if lo >= 0.0:
            if lo < CLOSED_FORM_BELOW:
                mass = 0.5 * (_t_abs_mass(hi, k) - _t_abs_mass(lo, k))
        elif hi <= 0.0:
            if -hi < CLOSED_FORM_BELOW:
                mass = 0.5 * (_t_abs_mass(-lo, k) - _t_abs_mass(-hi, k))
        else:
            mass = 0.5 * (_t_abs_mass(-lo, k) + _t_abs_mass(hi, k))
        if mass > 1e-280:
            return math.log(mass), mass
    log_mass = _log_t_interval(lo, hi, nu, log_beta)
    return log_mass, math.exp(log_mass)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _log_t_density(x, nu, log_norm):
    return log_norm - 0.5 * (nu + 1.0) * math.log1p(x * x / nu)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def _t_density(x, nu, norm, power):
    """The Student-t(nu) density, norm = its constant exp(log_norm); ``power`` > 0 is the
    whole number (nu + 1) / 2, which makes the density a product (no log or exp), 0 if
    (nu + 1) / 2 is not whole."""
    base = 1.0 + x * x / nu
    if power > 0:
        product = base
        for _ in range(power - 1):
            product *= base
        return norm / product
    return norm * base ** (-0.5 * (nu + 1.0))


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, error_model=ERROR_MODEL)
def linked_student_t(y, previous, kept, location, log_scale, rho, tau, nu):
    """Log-likelihood (2) of all answers and its gradient.

    Parameters
    ----------
    y : (n,) log-odds answers ; previous : (n,) int, row of the same expert's answer to the
        question in the round before, -1 if none ; kept : (n,) bool (or 0/1)
    location, log_scale : (n,) each answer's m and log s ; rho : persistence in (0, 1) ;
    tau : keep tolerance > 0 ; nu : degrees of freedom of the single-round likelihood

    Returns
    -------
    logp, d/d location (n,), d/d log_scale (n,), d/d rho, d/d tau
    """
    n = y.shape[0]
    g_location = np.zeros(n)
    g_log_scale = np.zeros(n)
    g_rho = 0.0
    g_tau = 0.0
    nu1 = nu + 1.0
    norm0 = math.lgamma((nu + 1.0) / 2.0) - math.lgamma(nu / 2.0) - 0.5 * math.log(nu * math.pi)
    norm1 = math.lgamma((nu1 + 1.0) / 2.0) - math.lgamma(nu1 / 2.0) - 0.5 * math.log(nu1 * math.pi)
    one_minus = 1.0 - rho * rho
    shrink = math.sqrt(one_minus / nu1)
    log_beta1 = t_log_beta(nu1)
    density1 = math.exp(norm1)
    half = 0.5 * (nu1 + 1.0)
    power1 = int(half) if half == math.floor(half) and half <= 50.0 else 0
    scale = np.exp(log_scale)
    # Logs of many factors are summed as the log of their running product (as in the
    # single-round kernel, ``density.panel_student_t``), taken when it leaves [1e-200, 1e200]:
    # first answers' (1 + z^2 / nu), revised answers' (1 + w^2 / nu') and (nu + d^2).
    products = np.ones(3)
    log_sums = np.zeros(3)
    constant = 0.0  # normalizing constants and log scales
    for k in range(n):
        s = scale[k]
        p = previous[k]
        if p < 0:
            z = (y[k] - location[k]) / s
            factor = 1.0 + z * z / nu
            slot = 0
            constant += norm0 - log_scale[k]
            w = (nu + 1.0) * z / (nu + z * z)
            g_location[k] += w / s
            g_log_scale[k] += w * z - 1.0
        else:
            inv_sp = 1.0 / scale[p]
            d = (y[p] - location[p]) * inv_sp
            centre = location[k] + rho * s * d
            spread = nu + d * d
            c = s * math.sqrt(spread) * shrink
            if kept[k]:
                lo = (y[p] - tau - centre) / c
                hi = (y[p] + tau - centre) / c
                log_mass, mass = _t_interval(lo, hi, nu1, log_beta1)
                if mass > 1e-280:  # the densities over the mass, as products
                    f_lo = _t_density(lo, nu1, density1, power1) / mass
                    f_hi = _t_density(hi, nu1, density1, power1) / mass
                else:  # far in the tails: in logs
                    f_lo = math.exp(_log_t_density(lo, nu1, norm1) - log_mass)
                    f_hi = math.exp(_log_t_density(hi, nu1, norm1) - log_mass)
                constant += log_mass
                a = -(f_hi - f_lo) / c  # d logp / d centre
                b = -(f_hi * hi - f_lo * lo)  # d logp / d log c
                g_tau += (f_hi + f_lo) / c
                factor = 1.0
                slot = 1
            else:
                w = (y[k] - centre) / c
                factor = 1.0 + w * w / nu1
                slot = 1
                # log c = log s + log(nu + d^2) / 2 + log shrink; the middle term via slot 2
                constant += norm1 - log_scale[k] - math.log(shrink)
                products[2] *= spread
                if products[2] > 1e200 or products[2] < 1e-200:
                    log_sums[2] += math.log(products[2])
                    products[2] = 1.0
                weight = (nu1 + 1.0) * w / (nu1 + w * w)
                a = weight / c
                b = weight * w - 1.0
            g_location[k] += a
            g_log_scale[k] += a * rho * s * d + b
            g_rho += a * s * d - b * rho / one_minus
            g_d = a * rho * s + b * d / spread
            g_location[p] -= g_d * inv_sp
            g_log_scale[p] -= g_d * d
        if factor < 1e100:
            products[slot] *= factor
            if products[slot] > 1e200:
                log_sums[slot] += math.log(products[slot])
                products[slot] = 1.0
        else:  # an inf or NaN factor still comes out as one
            log_sums[slot] += math.log(factor)
    for slot in range(3):
        log_sums[slot] += math.log(products[slot])
    logp = (
        constant - 0.5 * (nu + 1.0) * log_sums[0] - 0.5 * (nu1 + 1.0) * log_sums[1]
        - 0.5 * log_sums[2]
    )  # fmt: skip
    return logp, g_location, g_log_scale, g_rho, g_tau


class LinkedStudentTLogp(Op):
    """[logp, d logp / d (location, log_scale, rho, tau)] of ``linked_student_t``.

    Inputs: y, previous, kept (data, no gradient), location, log_scale, rho, tau.
    """

    __props__ = ("nu",)

    def __init__(self, nu: float) -> None:
        self.nu = float(nu)

    def make_node(self, y, previous, kept, location, log_scale, rho, tau) -> Apply:
        inputs = [
            pt.as_tensor_variable(v) for v in (y, previous, kept, location, log_scale, rho, tau)
        ]
        outputs = [pt.dscalar(), pt.dvector(), pt.dvector(), pt.dscalar(), pt.dscalar()]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage) -> None:
        results = linked_student_t(*inputs, self.nu)
        for storage, value in zip(output_storage, results, strict=True):
            storage[0] = np.asarray(value, dtype=np.float64)

    def connection_pattern(self, node):
        data = [[False] * 5 for _ in range(3)]  # y, previous, kept: no gradient
        return data + [[True] * 5 for _ in range(4)]

    def pullback(self, inputs, outputs, output_grads):
        if any(not isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            raise NotImplementedError(
                "second derivatives of the linked likelihood are not implemented"
            )
        return [DisconnectedType()() for _ in range(3)] + [
            output_grads[0] * gradient for gradient in outputs[1:]
        ]


# PyTensor caches compiled graphs by the op's type and props; this file's source is added
# to the key so that a change to the kernel or its helpers is never served from a stale cache.
_KERNEL_VERSION = int(hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:15], 16)


@register_funcify_default_op_cache_key(LinkedStudentTLogp)
def _numba_linked_student_t(op, node, **kwargs):
    nu = op.nu

    @numba.njit
    def linked_student_t_op(y, previous, kept, location, log_scale, rho, tau):
        logp, g_location, g_log_scale, g_rho, g_tau = linked_student_t(
            y, previous, kept, location, log_scale, rho.item(), tau.item(), nu
        )
        return np.array(logp), g_location, g_log_scale, np.array(g_rho), np.array(g_tau)

    return linked_student_t_op, _KERNEL_VERSION
