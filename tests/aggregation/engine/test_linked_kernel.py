"""The linked-rounds likelihood kernel against the same likelihood written with PyMC's own
Student-t distributions (``pm.logp``, ``pm.logcdf``): value and gradient."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from aggregation.engine.linked_kernel import (
    LinkedStudentTLogp,
    _log_t_interval,
    _t_interval,
    linked_student_t,
    t_log_beta,
)


def reference_logp(y, previous, kept, location, log_scale, rho, tau, nu):
    """Equation (2) of rounds.py as plain PyMC: the statement the kernel must equal."""
    scale = pt.exp(log_scale)
    linked = previous >= 0
    first = np.flatnonzero(~linked)
    logp = pm.logp(pm.StudentT.dist(nu=nu, mu=location[first], sigma=scale[first]), y[first]).sum()
    for rows, is_kept in ((np.flatnonzero(linked & ~kept), False), (np.flatnonzero(kept), True)):
        before = previous[rows]
        lean = (y[before] - location[before]) / scale[before]
        given = pm.StudentT.dist(
            nu=nu + 1.0,
            mu=location[rows] + rho * scale[rows] * lean,
            sigma=scale[rows] * pt.sqrt((nu + lean**2) / (nu + 1.0) * (1.0 - rho**2)),
        )
        if is_kept:
            logp += pm.math.logdiffexp(
                pm.logcdf(given, y[before] + tau), pm.logcdf(given, y[before] - tau)
            ).sum()
        else:
            logp += pm.logp(given, y[rows]).sum()
    return logp


def panel(seed, n_pairs=40, keep=0.4):
    rng = np.random.default_rng(seed)
    y1 = rng.normal(0.0, 1.5, n_pairs)
    y2 = np.where(rng.random(n_pairs) < keep, y1, y1 + rng.normal(0.0, 0.8, n_pairs))
    lone = rng.normal(0.0, 1.0, 7)  # answered in one round only
    y = np.concatenate([y1, y2, lone])
    previous = np.concatenate([np.full(n_pairs, -1), np.arange(n_pairs), np.full(7, -1)])
    kept = np.zeros(y.size, dtype=bool)
    kept[n_pairs : 2 * n_pairs] = y2 == y1
    location = rng.normal(0.0, 1.0, y.size)
    log_scale = rng.normal(0.0, 0.4, y.size)
    return y, previous, kept, location, log_scale


@pytest.mark.parametrize(
    ("seed", "rho", "tau", "nu"),
    [(0, 0.6, 0.3, 4.0), (1, 0.95, 0.05, 4.0), (2, 0.1, 1.2, 7.5), (4, 0.5, 0.5, 5.0)],
)
def test_the_kernel_equals_pymc_value_and_gradient(seed, rho, tau, nu):
    y, previous, kept, location, log_scale = panel(seed)
    assert kept.any() and (~kept[previous >= 0]).any()
    m, ls, r, t = pt.dvector("m"), pt.dvector("ls"), pt.dscalar("r"), pt.dscalar("t")
    reference = reference_logp(y, previous, kept, m, ls, r, t, nu)
    ours, *_ = LinkedStudentTLogp(nu)(y, previous, kept, m, ls, r, t)
    inputs = [m, ls, r, t]
    f_ref = pytensor.function(inputs, [reference, *pytensor.grad(reference, inputs)])
    f_ours = pytensor.function(inputs, [ours, *pytensor.grad(ours, inputs)], mode="NUMBA")
    values = (location, log_scale, rho, tau)
    # PyTensor's incomplete beta (in the reference's Student-t CDF) is good to about 1e-7;
    # central differences agree with either to that order
    for expected, got in zip(f_ref(*values), f_ours(*values), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_the_kept_probability_holds_in_the_far_tails():
    """Where T(hi) - T(lo) would cancel to 0 in floating point, the interval is taken from
    the tails: its log stays finite and matches scipy's survival function. Whole degrees of
    freedom (odd and even) take the closed form up to CLOSED_FORM_BELOW, others the
    incomplete beta."""
    cases = [(30.0, 30.5, 5.0), (-40.0, -39.0, 5.0), (-0.2, 0.3, 5.0), (8.0, 9.0, 50.0)]
    cases += [
        (0.5, 2.0, 1.0),
        (-3.0, -1.0, 6.0),
        (-1.0, 7.9, 6.0),
        (1.0, 1.5, 8.5),
        (-2.0, 0.1, 3.0),
    ]
    for lo, hi, nu in cases:
        expected = np.log(stats.t.sf(lo, nu) - stats.t.sf(hi, nu))
        if lo >= 0:
            expected = np.log(stats.t.sf(lo, nu)) + np.log1p(
                -stats.t.sf(hi, nu) / stats.t.sf(lo, nu)
            )
        np.testing.assert_allclose(_log_t_interval(lo, hi, nu, t_log_beta(nu)), expected, rtol=1e-9)


@pytest.mark.parametrize("nu", [5.0, 6.0, 3.0, 8.5])
def test_the_kept_mass_is_right_wherever_its_ends_lie(nu):
    """``_t_interval`` (the kernel's path) takes the mass as a difference of the closed
    form whenever the interval straddles 0 or its nearer end is within CLOSED_FORM_BELOW,
    however far its other end; only an interval far in one tail is taken in logs. Both
    the log mass and the mass match scipy's distribution function."""
    cases = [(-0.3, 0.4), (-2.0, 40.0), (-60.0, 1.0), (-300.0, 500.0), (7.5, 90.0)]
    cases += [(-95.0, -7.9), (1.0, 3.0), (9.0, 9.5), (-1e4, -50.0), (30.0, 30.0001)]
    cases += [(-1.0, 1e160), (-1e200, 0.5), (2.0, 1e300)]  # ends whose square overflows
    for lo, hi in cases:
        expected = np.log(stats.t.cdf(hi, nu) - stats.t.cdf(lo, nu))
        if lo >= 0:
            expected = stats.t.logsf(lo, nu) + np.log1p(
                -np.exp(stats.t.logsf(hi, nu) - stats.t.logsf(lo, nu))
            )
        elif hi <= 0:
            expected = stats.t.logcdf(hi, nu) + np.log1p(
                -np.exp(stats.t.logcdf(lo, nu) - stats.t.logcdf(hi, nu))
            )
        log_mass, mass = _t_interval(lo, hi, nu, t_log_beta(nu))
        # near mass 1 the log is near 0: its rounding is absolute
        np.testing.assert_allclose(log_mass, expected, rtol=1e-9, atol=1e-13, err_msg=f"{lo}, {hi}")
        np.testing.assert_allclose(mass, np.exp(expected), rtol=1e-8, err_msg=f"{lo}, {hi}")


def test_a_nan_comes_out_as_nan_for_the_sampler_to_reject():
    y, previous, kept, location, log_scale = panel(3)
    location[0] = np.nan
    logp, *_ = linked_student_t(y, previous, kept, location, log_scale, 0.5, 0.2, 4.0)
    assert np.isnan(logp)
