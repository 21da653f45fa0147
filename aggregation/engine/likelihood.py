"""The Student-t likelihood of a panel of judgments and its gradient, in one pass.

Equation (1) of ``hierarchical.py``: for judgment n of expert i on question j,

    log p(y_n) = log G((nu+1)/2) - log G(nu/2) - log(nu pi)/2 - log s_n
                 - (nu+1)/2 log(1 + z_n^2 / nu),
    z_n = (y_n - m_n) / s_n,  m_n = mu_j + delta_{g(i) j} + b_i,  log s_n = log sigma_i + log kappa_j.

Its gradient follows from two per-judgment weights:

    d log p / d m_n       =  (nu+1) z_n / (nu + z_n^2) / s_n
    d log p / d log s_n   =  (nu+1) z_n^2 / (nu + z_n^2) - 1

which are added into the parameters that judgment n reads (mu_j, delta_gj, b_i for the
location; log sigma_i and log kappa_j for the scale).

Why a hand-written kernel: PyTensor's generic graph for this sum runs one loop per
operation, with a gather before and a scatter-add after; fused into one numba loop the
gradient costs half as much, and sampling is almost all gradient. ``PanelStudentTLogp``
wraps the kernel as a PyTensor Op, so the PyMC model stays a PyMC model (nutpie compiles
it as usual); ``tests/aggregation/engine/test_likelihood.py`` checks value and gradient
against ``pm.logp`` of a Student-t and PyTensor's automatic gradient.
"""

import hashlib
import inspect
import math

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

# Fast-math flags that cannot change results for finite inputs by more than rounding:
# approximate library functions (log), contraction, reassociation, reciprocals. Not the
# no-NaN / no-inf flags: a NaN or inf must still come out as one, for nutpie to reject.
_FASTMATH = {"afn", "contract", "reassoc", "arcp"}


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def panel_student_t(y, idx, mu, delta_flat, bias, log_sigma, log_kappa, nu):
    """Log-likelihood of all judgments and its gradient.

    Parameters
    ----------
    y : (n,) float, log-odds answers
    idx : (3, n) int, rows: expert i, question j, cell (index into delta_flat)
    mu : (n_questions,) ; delta_flat : (n_questions * n_cohorts,) ; bias, log_sigma :
        (n_experts,) ; log_kappa : (n_questions,)
    nu : float, degrees of freedom

    Returns
    -------
    logp : float and the gradients with the shapes of mu, delta_flat, bias, log_sigma,
    log_kappa, in that order.

    Judgments come sorted by question (``JudgmentTable`` sorts them), so the loop walks
    runs of one question and keeps that question's terms in registers; any order is
    still correct, only slower.
    """
    g_mu = np.zeros_like(mu)
    g_delta = np.zeros_like(delta_flat)
    g_bias = np.zeros_like(bias)
    g_log_sigma = np.zeros_like(log_sigma)
    g_log_kappa = np.zeros_like(log_kappa)
    inv_sigma = np.exp(-log_sigma)
    inv_kappa = np.exp(-log_kappa)
    kernel = 0.0  # sum of log(1 + z^2 / nu)
    log_scales = 0.0  # sum of log s_n
    n = y.shape[0]
    start = 0
    while start < n:
        j = idx[1, start]
        mu_j, inv_kappa_j = mu[j], inv_kappa[j]
        g_mu_j = 0.0
        g_log_kappa_j = 0.0
        stop = start
        while stop < n and idx[1, stop] == j:
            i, c = idx[0, stop], idx[2, stop]
            inv_scale = inv_sigma[i] * inv_kappa_j
            z = (y[stop] - mu_j - delta_flat[c] - bias[i]) * inv_scale
            zz = z * z
            kernel += math.log(1.0 + zz / nu)  # not log1p: slower, and the sum needs no more
            log_scales += log_sigma[i]
            w = (nu + 1.0) * z / (nu + zz)
            g_location = w * inv_scale  # d log p / d location
            g_mu_j += g_location
            g_delta[c] += g_location
            g_bias[i] += g_location
            g_scale = w * z - 1.0  # d log p / d log scale
            g_log_sigma[i] += g_scale
            g_log_kappa_j += g_scale
            stop += 1
        g_mu[j] += g_mu_j
        g_log_kappa[j] += g_log_kappa_j
        log_scales += (stop - start) * log_kappa[j]
        start = stop
    constant = math.lgamma((nu + 1.0) / 2.0) - math.lgamma(nu / 2.0) - 0.5 * math.log(nu * math.pi)
    logp = n * constant - (nu + 1.0) / 2.0 * kernel - log_scales
    return logp, g_mu, g_delta, g_bias, g_log_sigma, g_log_kappa


class PanelStudentTLogp(Op):
    """Outputs [logp, d logp / d each parameter] of ``panel_student_t`` as one Apply.

    Inputs: y, idx (data, no gradient), mu, delta_flat, bias, log_sigma, log_kappa.
    The gradient outputs are what ``grad`` hands back, so logp and gradient share one pass.
    """

    __props__ = ("nu",)

    def __init__(self, nu: float) -> None:
        self.nu = float(nu)

    def make_node(self, y, idx, mu, delta_flat, bias, log_sigma, log_kappa) -> Apply:
        inputs = [
            pt.as_tensor_variable(v) for v in (y, idx, mu, delta_flat, bias, log_sigma, log_kappa)
        ]
        outputs = [pt.dscalar()] + [v.type() for v in inputs[2:]]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage) -> None:
        results = panel_student_t(*inputs, self.nu)
        for storage, value in zip(output_storage, results, strict=True):
            storage[0] = np.asarray(value, dtype=np.float64)

    def connection_pattern(self, node):
        data = [[False] * 6, [False] * 6]  # y and idx: no gradient flows into data
        params = [[True] * 6 for _ in range(5)]
        return data + params

    def pullback(self, inputs, outputs, output_grads):
        if any(not isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            raise NotImplementedError(
                "second derivatives of the panel likelihood are not implemented"
            )
        return [DisconnectedType()(), DisconnectedType()()] + [
            output_grads[0] * gradient for gradient in outputs[1:]
        ]


# PyTensor caches compiled graphs by the op's type and props; the kernel's own source is
# added to the key so that a change to the kernel is never served from a stale cache.
_KERNEL_VERSION = int(
    hashlib.sha256(inspect.getsource(panel_student_t.py_func).encode()).hexdigest()[:15], 16
)


@register_funcify_default_op_cache_key(PanelStudentTLogp)
def _numba_panel_student_t(op, node, **kwargs):
    nu = op.nu

    @numba.njit
    def panel_student_t_op(y, idx, mu, delta_flat, bias, log_sigma, log_kappa):
        logp, g_mu, g_delta, g_bias, g_log_sigma, g_log_kappa = panel_student_t(
            y, idx, mu, delta_flat, bias, log_sigma, log_kappa, nu
        )
        return np.array(logp), g_mu, g_delta, g_bias, g_log_sigma, g_log_kappa

    return panel_student_t_op, _KERNEL_VERSION
