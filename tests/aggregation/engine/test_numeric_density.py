"""The numeric model's hand-written log density (density.py) against its PyMC statement.

``NumericHierarchicalModel.build_model`` states model (1) of numeric.py; the default fit
samples ``density.numeric_logp_and_gradient`` through nutpie's C callbacks instead (no
per-process compile). Both are evaluated at random unconstrained points and must agree to
rounding, value and gradient: one and two cohorts, seeds and none, normal and Student-t
shared errors, skewed answers, answers narrower than the width floor; then a fit through each backend gives the same posterior.
"""

import ctypes
import functools

import numpy as np
import pytensor
import pytest
from numpy.testing import assert_allclose
from pytensor.compile.mode import Mode

from aggregation.engine.density import (
    NUMERIC_TRACE_DIMS,
    NumericLayout,
    numeric_callbacks,
    numeric_logp_and_gradient,
    numeric_nutpie_model,
    numeric_panel_arrays,
)
from aggregation.engine.numeric import NumericHierarchicalModel, NumericPanelData
from aggregation.engine.quantiles import QuantileTable
from aggregation.engine.synthetic import simulate_quantile_panel

REFERENCE_MODE = Mode(linker="py", optimizer="fast_compile")  # no compiling
CONFIGS = {
    "default": {},
    "normal shared error, other priors": {
        "shared_error_nu": 0.0,
        "shared_error_disagreement": 0.5,
        "nu": 7.0,
        "location_sd": 2.0,
        "log_rho_mean_mu": 0.2,
        "answer_width_floor": 0.05,
    },
}


PANELS = {  # name: (cohorts, seeds)
    "two cohorts, seeds": (2, 3),
    "one cohort, seeds": (1, 2),
    "two cohorts, no seeds": (2, 0),
    "three cohorts, one of one expert": (3, 3),
}


@functools.cache
def panel(name: str) -> NumericPanelData:
    n_cohorts, n_seeds = PANELS[name]
    simulated = simulate_quantile_panel(n_experts=9, n_questions=6, n_seeds=n_seeds, seed=4)
    rows = simulated.rows
    if n_cohorts == 1:
        rows = [{**row, "cohort": "all"} for row in rows]
    if n_cohorts == 3:  # E000 alone in "solo"; US and ROK keep four experts each
        rows = [{**row, "cohort": "solo"} if row["expert"] == "E000" else row for row in rows]
    if name == "two cohorts, seeds":  # two answers narrower than the width floor
        rows = [
            {**row, "q05": row["q50"] - 1e-3, "q95": row["q50"] + 1e-2}
            if row["expert"] == "E001" and row["question"] in ("N000", "N004")
            else row
            for row in rows
        ]
    realized = {q: simulated.truth[q] for q in simulated.seeds}
    data = NumericPanelData.from_table(QuantileTable.from_rows(rows), realized)
    assert len(data.cohorts) == n_cohorts and int(data.seeds.sum()) == n_seeds
    if name == "two cohorts, seeds":
        assert (np.minimum(data.left, data.right) < 0.01).sum() == 2
    return data


def value_var_of(model, block: str) -> str:
    names = {v.name for v in model.value_vars}
    (name,) = {block, f"{block}_log__", f"{block}_zerosum__"} & names
    return name


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("name", PANELS)
def test_the_numeric_density_is_the_pymc_models_log_density(name, config):
    data = panel(name)
    model_obj = NumericHierarchicalModel(config)
    model = model_obj.build_model(data)
    layout = NumericLayout(len(data.questions), len(data.experts), len(data.cohorts))
    blocks = layout.blocks()
    assert {value_var_of(model, b) for b in blocks} == {v.name for v in model.value_vars}
    initial = model.initial_point()
    logp_fn = model.compile_logp(jacobian=True, mode=REFERENCE_MODE)
    dlogp_fn = model.compile_dlogp(jacobian=True, mode=REFERENCE_MODE)
    arrays = numeric_panel_arrays(data, model_obj.model_config).values()
    rng = np.random.default_rng(0)
    # typical points, and far ones (scales up to e^8, medians many widths away)
    points = np.concatenate(
        [rng.normal(scale=0.7, size=(4, layout.ndim)), rng.normal(scale=3, size=(2, layout.ndim))]
    )
    for x in points:
        point = {
            value_var_of(model, b): x[s].reshape(initial[value_var_of(model, b)].shape)
            for b, s in blocks.items()
        }
        ours, grad = numeric_logp_and_gradient(x, *arrays)
        theirs, flat = float(logp_fn(point)), dlogp_fn(point)
        assert ours == pytest.approx(theirs, rel=1e-8)
        ends = np.cumsum([point[v.name].size for v in model.value_vars])
        theirs_grad = dict(
            zip([v.name for v in model.value_vars], np.split(flat, ends[:-1]), strict=True)
        )
        for block, s in blocks.items():
            name = value_var_of(model, block)
            assert_allclose(grad[s], theirs_grad[name], rtol=1e-7, atol=1e-7, err_msg=name)


def call(callback, model, x: np.ndarray, out_size: int, *, dim: int | None = None):
    """Call a cfunc as nutpie does: logp (dim, x, gradient out, logp out, user data) when
    out_size is None, else expand (dim, n_expanded, x, values out, user data)."""
    pointer = ctypes.POINTER(ctypes.c_double)
    dim = x.size if dim is None else dim
    if out_size is None:
        grad, logp = np.full(x.size, np.nan), np.full(1, np.nan)
        code = callback.ctypes(dim, x.ctypes.data_as(pointer), grad.ctypes.data_as(pointer),
                               logp.ctypes.data_as(pointer), model.user_data.ctypes.data)  # fmt: skip
        return code, float(logp[0]), grad
    out = np.full(out_size, np.nan)
    code = callback.ctypes(dim, out_size, x.ctypes.data_as(pointer), out.ctypes.data_as(pointer),
                           model.user_data.ctypes.data)  # fmt: skip
    return code, out


def test_the_callbacks_give_the_density_and_write_the_pymc_models_variables():
    """Through the C functions nutpie calls, with the header ``numeric_nutpie_model``
    builds: the logp callback returns the density, flags a wrong size and a non-finite
    point; the expand callback writes NUMERIC_TRACE_DIMS, each equal to the PyMC model's
    variable of that name at the same point (three cohorts, one of a single expert)."""
    data = panel("three cohorts, one of one expert")
    config = NumericHierarchicalModel().model_config
    native = numeric_nutpie_model(data, config)
    logp_callback, expand_callback = numeric_callbacks()
    layout = NumericLayout(len(data.questions), len(data.experts), len(data.cohorts))
    x = np.random.default_rng(5).normal(scale=0.7, size=layout.ndim)
    code, logp, grad = call(logp_callback, native, x, None)
    expected, expected_grad = numeric_logp_and_gradient(
        x, *numeric_panel_arrays(data, config).values()
    )
    assert code == 0
    assert logp == pytest.approx(expected, rel=1e-13)
    assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-13)
    assert call(logp_callback, native, x, None, dim=x.size + 1)[0] == -1
    far = x.copy()
    far[layout.blocks()["tau"]] = 800.0  # exp(800) = inf
    assert call(logp_callback, native, far, None)[0] in (3, 4)

    code, out = call(expand_callback, native, x, native.n_expanded)
    assert code == 0
    names, slices, shapes = native.shape_info
    assert names == list(NUMERIC_TRACE_DIMS)
    model = NumericHierarchicalModel().build_model(data)
    initial = model.initial_point()
    point = {
        value_var_of(model, b): x[s].reshape(initial[value_var_of(model, b)].shape)
        for b, s in layout.blocks().items()
    }
    outputs = model.replace_rvs_by_values([model[n] for n in names])  # transforms applied
    function = pytensor.function(
        model.value_vars, outputs, mode=REFERENCE_MODE, on_unused_input="ignore"
    )
    pymc_values = function(*(point[v.name] for v in model.value_vars))
    for name, s, shape, theirs in zip(names, slices, shapes, pymc_values, strict=True):
        assert_allclose(out[s].reshape(shape), theirs, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.slow
def test_a_fit_through_the_density_agrees_with_a_fit_through_pymc():
    """Same panel, same sampler settings: every traced quantity's posterior mean agrees
    between the two backends within 4 Monte Carlo standard errors (each fit counted as
    250 independent draws of its 2,000), and so do the forecasts (``truth``)."""
    data = panel("two cohorts, seeds")
    quick = {"chains": 4, "tune": 300, "draws": 500}
    fast = NumericHierarchicalModel(sampler_config=quick).fit(data, random_seed=1)
    reference = NumericHierarchicalModel(sampler_config={**quick, "backend": "pymc"}).fit(
        data, random_seed=1
    )
    assert fast.attrs["backend"] == "density" and reference.attrs["backend"] == "pymc"
    targets = [q for q, seed in zip(data.questions, data.seeds, strict=True) if not seed]
    for name in [*NUMERIC_TRACE_DIMS, "truth"]:
        a, b = fast.posterior[name], reference.posterior[name]
        if name == "truth":
            a, b = a.sel(question=targets), b.sel(question=targets)
        sd = np.sqrt((a.var(("chain", "draw")) + b.var(("chain", "draw"))) / 2)
        gap = np.abs(a.mean(("chain", "draw")) - b.mean(("chain", "draw")))
        assert float((gap - 4 * sd * np.sqrt(2 / 250)).max()) <= 1e-12, name


def test_a_configuration_with_a_panel_wide_bias_is_refused_by_the_density():
    config = {**NumericHierarchicalModel().model_config, "panel_bias_sd": 0.5}
    with pytest.raises(ValueError, match="panel-wide bias"):
        numeric_nutpie_model(panel("two cohorts, seeds"), config)


def test_the_same_seed_gives_the_same_draws():
    """Bit for bit, fit after fit (see test_density.py's test of the same name)."""
    model = NumericHierarchicalModel(sampler_config={"draws": 50, "tune": 100, "chains": 1})
    data = panel("two cohorts, seeds")
    draws = [model.fit(data, random_seed=3).posterior["location"].values for _ in range(8)]
    for other in draws[1:]:
        assert np.array_equal(other, draws[0])
