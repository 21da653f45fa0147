"""The fused Student-t likelihood op against PyMC's Student-t and PyTensor's autodiff.

``PanelStudentTLogp`` replaces, inside the hierarchical model, the generic graph

    pm.logp(pm.StudentT.dist(nu, mu=loc, sigma=exp(log_sigma[i] + log_kappa[j])), y).sum()
    loc = bias[i] + exp(log_slope[i]) * (mu[j] + delta_flat[cell])

with a hand-written value-and-gradient kernel. Both are evaluated here on random panels and
must agree to rounding, in each compilation mode: FAST_RUN and NUMBA (in PyTensor 3 both
use the numba linker, which calls the op's numba dispatch; nutpie compiles through it too)
and CVM (the C virtual machine, which calls the op's ``perform``).
"""

import functools

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from numpy.testing import assert_allclose
from pytensor.gradient import DisconnectedInputError

from aggregation.engine.density import panel_student_t
from aggregation.engine.likelihood import PanelStudentTLogp

PARAMS = ("mu", "delta_flat", "bias", "log_slope", "log_sigma", "log_kappa")
MODES = ("FAST_RUN", "NUMBA", "CVM")
NUS = (1.0, 4.0, 30.0)
# (judgments, experts, questions, cohorts)
SIZES = [(1, 1, 1, 1), (9, 4, 3, 2), (300, 25, 12, 3)]


def symbolic_inputs():
    return (
        pt.dvector("y"),
        pt.lmatrix("idx"),
        pt.dvector("mu"),
        pt.dvector("delta_flat"),
        pt.dvector("bias"),
        pt.dvector("log_slope"),
        pt.dvector("log_sigma"),
        pt.dvector("log_kappa"),
    )


@functools.cache
def reference_fn(mode: str):
    """logp and gradient through PyMC's Student-t and PyTensor's automatic gradient.

    nu is an input, so one compiled function serves every nu and every size.
    """
    y, idx, mu, delta_flat, bias, log_slope, log_sigma, log_kappa = inputs = symbolic_inputs()
    nu = pt.dscalar("nu")
    expert, question, cell = idx[0], idx[1], idx[2]
    loc = bias[expert] + pt.exp(log_slope[expert]) * (mu[question] + delta_flat[cell])
    sigma = pt.exp(log_sigma[expert] + log_kappa[question])
    logp = pm.logp(pm.StudentT.dist(nu=nu, mu=loc, sigma=sigma), y).sum()
    grads = pytensor.grad(logp, list(inputs[2:]))
    return pytensor.function([*inputs, nu], [logp, *grads], mode=mode)


@functools.cache
def fused_fn(mode: str, nu: float):
    inputs = symbolic_inputs()
    logp, *outputs = PanelStudentTLogp(nu)(*inputs)
    # The gradients through pytensor.grad, i.e. through the op's pullback, as PyMC takes them.
    grads = pytensor.grad(logp, list(inputs[2:]))
    return pytensor.function(list(inputs), [logp, *grads, *outputs], mode=mode)


def random_panel(sizes, seed):
    """A random point: parameters of order 1, answers around them with heavy tails."""
    n, n_experts, n_questions, n_cohorts = sizes
    rng = np.random.default_rng(seed)
    cohort_of_expert = rng.integers(n_cohorts, size=n_experts)
    expert = rng.integers(n_experts, size=n)
    question = rng.integers(n_questions, size=n)
    idx = np.stack([expert, question, question * n_cohorts + cohort_of_expert[expert]])
    params = {
        "mu": rng.normal(0.0, 1.5, n_questions),
        "delta_flat": rng.normal(0.0, 0.5, n_questions * n_cohorts),
        "bias": rng.normal(0.0, 0.5, n_experts),
        "log_slope": rng.normal(0.0, 0.3, n_experts),
        "log_sigma": rng.normal(0.0, 0.4, n_experts),
        "log_kappa": rng.normal(0.0, 0.4, n_questions),
    }
    # Student-t(2) residuals (heavy tails) plus a few gross outliers: the kernel's weights
    # (nu+1) z / (nu + z^2) must hold far in the tails too.
    y = rng.normal(0.0, 2.0, n) + rng.standard_t(2, n)
    y[rng.random(n) < 0.05] += 40.0
    return y, idx.astype(np.int64), params


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nu", NUS)
@pytest.mark.parametrize("sizes", SIZES, ids=["1x1x1x1", "9x4x3x2", "300x25x12x3"])
@pytest.mark.parametrize("seed", [0, 1])
def test_value_and_gradient_equal_pymc_student_t_and_autodiff(mode, nu, sizes, seed):
    y, idx, params = random_panel(sizes, seed)
    args = (y, idx, *(params[name] for name in PARAMS))
    expected_logp, *expected_grads = reference_fn(mode)(*args, nu)
    logp, *rest = fused_fn(mode, nu)(*args)
    grads, raw_outputs = rest[: len(PARAMS)], rest[len(PARAMS) :]

    # The value: a sum of up to 300 terms of order 1-10, computed by two formulas that
    # differ only in how they group the constants; rtol 1e-12 is ~1e4 ulps of the sum.
    assert_allclose(logp, expected_logp, rtol=1e-12)
    # The gradient: each component sums per-judgment terms of both signs, so it can be far
    # smaller than its terms and its relative error is the terms' rounding (~1e-16 each,
    # times the cancellation). rtol 1e-9 leaves six orders of magnitude for that while any
    # mistake in the formula (a factor, a sign, a missed term) is an O(1) relative error;
    # atol 1e-10 covers components that cancel to about zero.
    for name, got, want in zip(PARAMS, grads, expected_grads, strict=True):
        assert got.shape == want.shape, name
        assert_allclose(got, want, rtol=1e-9, atol=1e-10, err_msg=name)
    # what the op outputs is what the pullback hands back (the upstream gradient is 1)
    for name, got, want in zip(PARAMS, raw_outputs, grads, strict=True):
        assert_allclose(got, want, rtol=0, atol=0, err_msg=name)


@pytest.mark.parametrize("nu", [0.05, 4.0])
def test_the_running_product_of_factors_neither_overflows_nor_underflows(nu):
    """The kernel sums log(nu + z^2) as the log of a running product (see its docstring).

    5,000 judgments take the product past 1e200 many times (and, with nu = 0.05, factors
    below 1 take it under 1e-200); answers 1e60 log-odds away give factors above 1e100,
    which are logged on their own. The value must still be PyMC's to rounding.
    """
    y, idx, params = random_panel((5000, 40, 30, 2), seed=3)
    y[::500] = 1e60
    y[1::500] = -1e60
    block = slice(1000, 1400)  # 400 answers right at their location: factors of nu
    y[block] = params["bias"][idx[0, block]] + np.exp(params["log_slope"][idx[0, block]]) * (
        params["mu"][idx[1, block]] + params["delta_flat"][idx[2, block]]
    )
    args = (y, idx, *(params[name] for name in PARAMS))
    expected_logp, *expected_grads = reference_fn("CVM")(*args, nu)
    logp, *grads = panel_student_t(*args, nu)
    assert np.isfinite(logp)
    assert_allclose(logp, expected_logp, rtol=1e-12)
    for name, got, want in zip(PARAMS, grads, expected_grads, strict=True):
        assert_allclose(got, want, rtol=1e-9, atol=1e-10, err_msg=name)


def test_the_kernel_counts_unanswered_cells_as_zero_gradient():
    # Question 1 and expert 2 have no judgment: their gradient is exactly zero.
    y = np.array([0.3, -1.0])
    idx = np.array([[0, 1], [0, 0], [0, 1]], dtype=np.int64)
    logp, g_mu, g_delta, g_bias, g_log_slope, g_log_sigma, g_log_kappa = panel_student_t(
        y, idx, np.zeros(2), np.zeros(4), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(2), 4.0
    )
    assert g_mu[1] == 0 and g_log_kappa[1] == 0 and g_bias[2] == 0 and g_log_sigma[2] == 0
    assert g_log_slope[2] == 0
    assert np.all(g_delta[2:] == 0)
    # the value by hand at mu = 0, unit scale: sum of log t_4(y) densities,
    # log t_4(x) = log(3/8) - (5/2) log(1 + x^2/4) for nu = 4 (Gamma(5/2)/Gamma(2)/sqrt(4 pi) = 3/8)
    expected = sum(np.log(3 / 8) - 2.5 * np.log1p(v**2 / 4) for v in y)
    assert_allclose(logp, expected, rtol=1e-13)  # two closed forms of one number


def test_second_derivatives_raise_not_implemented():
    inputs = symbolic_inputs()
    logp, *_ = PanelStudentTLogp(4.0)(*inputs)
    g_mu = pytensor.grad(logp, inputs[2])
    with pytest.raises(NotImplementedError, match="second derivatives"):
        pytensor.grad(g_mu.sum(), inputs[2])


def test_no_gradient_flows_into_the_data():
    inputs = symbolic_inputs()
    logp, *_ = PanelStudentTLogp(4.0)(*inputs)
    with pytest.raises(DisconnectedInputError):
        pytensor.grad(logp, inputs[0])


def test_ops_with_the_same_nu_are_equal_and_others_differ():
    # __props__ = ("nu",): PyTensor merges equal ops and caches compiled code by them
    assert PanelStudentTLogp(4) == PanelStudentTLogp(4.0)
    assert hash(PanelStudentTLogp(4)) == hash(PanelStudentTLogp(4.0))
    assert PanelStudentTLogp(4.0) != PanelStudentTLogp(5.0)


@pytest.mark.parametrize(
    ("mode", "uses_perform"), [("FAST_RUN", False), ("NUMBA", False), ("CVM", True)]
)
def test_each_mode_runs_the_path_it_is_meant_to(monkeypatch, mode, uses_perform):
    """The numba linker runs the numba dispatch, never ``perform``; the C VM runs perform.

    So between them the modes above check both implementations of the op.
    """
    calls = []
    original = PanelStudentTLogp.perform

    def counting_perform(self, node, inputs, output_storage):
        calls.append(1)
        return original(self, node, inputs, output_storage)

    monkeypatch.setattr(PanelStudentTLogp, "perform", counting_perform)
    inputs = symbolic_inputs()
    logp, *_ = PanelStudentTLogp(7.0)(*inputs)  # a nu no other test compiles
    fn = pytensor.function(list(inputs), logp, mode=mode)
    y, idx, params = random_panel(SIZES[1], seed=3)
    value = fn(y, idx, *(params[name] for name in PARAMS))
    assert bool(calls) is uses_perform
    expected = reference_fn(mode)(y, idx, *(params[name] for name in PARAMS), 7.0)[0]
    assert_allclose(value, expected, rtol=1e-12)  # as in the comparison above
