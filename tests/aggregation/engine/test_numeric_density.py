"""The numeric model's hand-written log density (density.py) against its PyMC statement.

``NumericHierarchicalModel.build_model`` states model (1) of numeric.py; the default fit
samples ``density.numeric_logp_and_gradient`` through nutpie's C callbacks instead (no
per-process compile). Both are evaluated at random unconstrained points and must agree to
rounding, value and gradient: one and two cohorts, seeds and none, normal and Student-t
shared errors, skewed answers; then a fit through each backend gives the same posterior.
"""

import functools

import numpy as np
import pytest
from numpy.testing import assert_allclose
from pytensor.compile.mode import Mode

from aggregation.engine.density import (
    NUMERIC_TRACE_DIMS,
    NumericLayout,
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
    },
}


@functools.cache
def panel(n_cohorts: int, n_seeds: int) -> NumericPanelData:
    simulated = simulate_quantile_panel(n_experts=9, n_questions=6, n_seeds=n_seeds, seed=4)
    rows = simulated.rows
    if n_cohorts == 1:
        rows = [{**row, "cohort": "all"} for row in rows]
    realized = {q: simulated.truth[q] for q in simulated.seeds}
    return NumericPanelData.from_table(QuantileTable.from_rows(rows), realized)


def value_var_of(model, block: str) -> str:
    names = {v.name for v in model.value_vars}
    (name,) = {block, f"{block}_log__", f"{block}_zerosum__"} & names
    return name


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize(("n_cohorts", "n_seeds"), [(2, 3), (1, 2), (2, 0)])
def test_the_numeric_density_is_the_pymc_models_log_density(n_cohorts, n_seeds, config):
    data = panel(n_cohorts, n_seeds)
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


def test_a_fit_through_the_density_agrees_with_a_fit_through_pymc():
    """Same panel, same sampler settings: the two backends' posteriors agree within Monte
    Carlo error, and the density's trace has every variable the summary reads."""
    data = panel(2, 3)
    quick = {"chains": 2, "tune": 300, "draws": 500}
    fast = NumericHierarchicalModel(sampler_config=quick).fit(data, random_seed=1)
    reference = NumericHierarchicalModel(sampler_config={**quick, "backend": "pymc"}).fit(
        data, random_seed=1
    )
    assert fast.attrs["backend"] == "density" and reference.attrs["backend"] == "pymc"
    for name in NUMERIC_TRACE_DIMS:
        assert name in fast.posterior, name
    for name in ("truth", "median", "rho", "kappa", "tau"):
        a, b = fast.posterior[name], reference.posterior[name]
        spread = float(b.std()) + 1e-9
        # 1,000 draws each: the means differ by a few Monte Carlo errors at most
        assert abs(float(a.mean()) - float(b.mean())) < 0.25 * spread, name
        assert float(a.std()) == pytest.approx(float(b.std()), rel=0.25), name


def test_a_configuration_with_a_panel_wide_bias_is_refused_by_the_density():
    config = {**NumericHierarchicalModel().model_config, "panel_bias_sd": 0.5}
    with pytest.raises(ValueError, match="panel-wide bias"):
        numeric_nutpie_model(panel(2, 3), config)
