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
gradient costs a fraction as much, and sampling is almost all gradient. Two callers:
``likelihood.PanelStudentTLogp`` wraps it as a PyTensor Op for the PyMC statement of the
model, and ``density.py`` calls it in the log density nutpie samples. No PyTensor import
here, so that the second starts without loading PyTensor;
``tests/aggregation/engine/test_likelihood.py`` checks value and gradient against
``pm.logp`` of a Student-t and PyTensor's automatic gradient.
"""

import math

import numba
import numpy as np

# Fast-math flags that cannot change results for finite inputs by more than rounding:
# approximate library functions (log), contraction, reassociation, reciprocals. Not the
# no-NaN / no-inf flags: a NaN or inf must still come out as one, for nutpie to reject.
FASTMATH = {"afn", "contract", "reassoc", "arcp"}


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def panel_student_t(y, idx, mu, delta_flat, bias, log_sigma, log_kappa, nu):
    """Log-likelihood of all judgments and its gradient.

    Parameters
    ----------
    y : (n,) float, log-odds answers
    idx : (3, n) int, rows: expert i, question j, cell (index into delta_flat); unsigned
        is faster (numba then skips its check for negative indices)
    mu : (n_questions,) ; delta_flat : (n_questions * n_cohorts,) ; bias, log_sigma :
        (n_experts,) ; log_kappa : (n_questions,)
    nu : float, degrees of freedom

    Returns
    -------
    logp : float and the gradients with the shapes of mu, delta_flat, bias, log_sigma,
    log_kappa, in that order.

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
    g_log_sigma = np.zeros_like(log_sigma)
    g_log_kappa = np.zeros_like(log_kappa)
    n = y.shape[0]
    if n == 0:
        return 0.0, g_mu, g_delta, g_bias, g_log_sigma, g_log_kappa
    inv_sigma = np.exp(-log_sigma)
    inv_kappa = np.exp(-log_kappa)
    kernel = 0.0  # sum of log(nu + z^2), partly held in `product`
    product = 1.0
    log_scales = 0.0  # sum of log s_n
    nu1 = nu + 1.0
    # the current run of judgments in one cell c (question j, one cohort)
    c, j = idx[2, 0], idx[1, 0]
    location_c, inv_kappa_j = mu[j] + delta_flat[c], inv_kappa[j]
    g_location_c = 0.0  # d log p / d location, summed over the run
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
        z = (y[k] - location_c - bias[i]) * inv_scale
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
        g_location = w * inv_scale
        g_location_c += g_location
        g_bias[i] += g_location
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
    return logp, g_mu, g_delta, g_bias, g_log_sigma, g_log_kappa
