"""The hand-written log density (density.py) against the PyMC model it stands for.

``BinaryHierarchicalModel.build_model`` is the statement of the model; the default fit
samples ``density.logp_and_gradient`` instead, for speed. Both are evaluated here at random
unconstrained points and must agree to rounding, value and gradient, on panels with one,
two and three cohorts, a cohort of a single expert, and skipped answers. Then the C
callbacks nutpie calls are exercised directly, and a small panel is sampled through them.
"""

import ctypes
import functools
import json

import numpy as np
import pytest
from numpy.testing import assert_allclose
from pytensor.compile.mode import Mode

from aggregation.engine.data import JudgmentTable
from aggregation.engine.density import (
    Layout,
    answer_counts,
    callbacks,
    logp_and_gradient,
    nutpie_model,
    prior_scales,
    unpack,
)
from aggregation.engine.hierarchical import (
    DEFAULT_MODEL_CONFIG,
    TRACE_DIMS,
    BinaryHierarchicalModel,
    BinaryPanelData,
)
from aggregation.engine.synthetic import own_questions, simulate_binary_panel

PANELS = {  # name: simulate_binary_panel arguments
    "two cohorts": {"n_experts": 12, "n_questions": 5},
    "one cohort": {"n_experts": 7, "n_questions": 4, "cohorts": {"all": 1.0}},
    "three cohorts, skipped answers": {
        "n_experts": 14,
        "n_questions": 6,
        "cohorts": {"a": 0.5, "b": 0.35, "c": 0.15},
        "answer_rate": 0.7,
    },
}
# PyTensor's Python linker: no compiling (seconds per panel otherwise), and the likelihood
# op runs its ``perform``, which test_likelihood.py holds to PyMC's Student-t.
REFERENCE_MODE = Mode(linker="py", optimizer="fast_compile")
CONFIGS = {"default": {}, "other priors": {"mu_sd": 1.3, "nu": 7.0, "kappa_scale_sd": 0.8}}


def answers_of(data: BinaryPanelData) -> np.ndarray:
    return answer_counts(data.model_arrays()["judgment_idx"], len(data.experts))


@functools.cache
def panel(name: str) -> BinaryPanelData:
    judgments = simulate_binary_panel(**PANELS[name], seed=5).judgments
    return BinaryPanelData.from_table(JudgmentTable.from_frame(judgments))


def single_expert_cohort() -> BinaryPanelData:
    """Cohort "solo" has one expert, whose bias is then fixed at 0."""
    frame = simulate_binary_panel(n_experts=6, n_questions=3, seed=2).judgments
    frame.loc[frame["expert"] == frame["expert"].iloc[0], "cohort"] = "solo"
    return BinaryPanelData.from_table(JudgmentTable.from_frame(frame))


def disjoint_cohorts() -> BinaryPanelData:
    """Two cohorts that answered different questions: the model pools their deviations
    (``hierarchical.cohort_components``) and keeps one bias block per cohort."""
    frame = simulate_binary_panel(n_experts=10, n_questions=6, answer_rate=0.7, seed=3).judgments
    return BinaryPanelData.from_table(JudgmentTable.from_frame(own_questions(frame)))


def value_var_of(model, block: str) -> str:
    """PyMC's value variable for a block of the vector (log__ / zerosum__ if transformed)."""
    names = {v.name for v in model.value_vars}
    (name,) = {block, f"{block}_log__", f"{block}_zerosum__"} & names
    return name


def evaluate_both(data: BinaryPanelData, config: dict, points: np.ndarray):
    """(ours, PyMC's) logp and gradient, gradients as {value variable: array}."""
    model = BinaryHierarchicalModel(config).build_model(data)
    layout = Layout.of(data)
    blocks = layout.blocks()
    assert {value_var_of(model, b) for b in blocks} == {v.name for v in model.value_vars}
    initial = model.initial_point()
    logp_fn = model.compile_logp(jacobian=True, mode=REFERENCE_MODE)
    dlogp_fn = model.compile_dlogp(jacobian=True, mode=REFERENCE_MODE)
    arrays = data.model_arrays()
    sizes = np.array(layout.cohort_sizes, dtype=np.int64)
    priors = prior_scales(BinaryHierarchicalModel(config).model_config)
    results = []
    for x in points:
        point = {
            value_var_of(model, b): x[s].reshape(initial[value_var_of(model, b)].shape)
            for b, s in blocks.items()
        }
        ours, grad = logp_and_gradient(
            x, arrays["y"], arrays["judgment_idx"], layout.n_questions, layout.n_cohorts,
            sizes, priors, answers_of(data),
        )  # fmt: skip
        theirs, flat = logp_fn(point), dlogp_fn(point)
        ends = np.cumsum([point[v.name].size for v in model.value_vars])
        theirs_grad = dict(
            zip([v.name for v in model.value_vars], np.split(flat, ends[:-1]), strict=True)
        )
        ours_grad = {value_var_of(model, b): grad[s] for b, s in blocks.items()}
        results.append((ours, float(theirs), ours_grad, theirs_grad))
    return results


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("name", PANELS)
def test_the_density_is_the_pymc_models_log_density(name, config):
    data = panel(name)
    rng = np.random.default_rng(0)
    ndim = Layout.of(data).ndim
    # typical points, and far ones (scales up to e^10, answers hundreds of scales away)
    points = np.concatenate(
        [rng.normal(scale=0.8, size=(3, ndim)), rng.normal(scale=4, size=(2, ndim))]
    )
    for ours, theirs, ours_grad, theirs_grad in evaluate_both(data, config, points):
        assert ours == pytest.approx(theirs, rel=1e-10)
        for var, expected in theirs_grad.items():
            assert_allclose(ours_grad[var], expected, rtol=1e-9, atol=1e-9, err_msg=var)


def test_a_cohort_of_one_expert_has_no_free_bias_or_slope():
    data = single_expert_cohort()
    assert 1 in data.cohort_sizes
    layout = Layout.of(data)
    solo = layout.blocks()[f"bias_raw_cohort{data.cohorts.index('solo')}"]
    assert solo.stop == solo.start  # no coordinates
    points = np.random.default_rng(1).normal(size=(2, layout.ndim))
    for ours, theirs, ours_grad, theirs_grad in evaluate_both(data, {}, points):
        assert ours == pytest.approx(theirs, rel=1e-10)
        for var, expected in theirs_grad.items():
            assert_allclose(ours_grad[var], expected, rtol=1e-9, atol=1e-9, err_msg=var)
    bias = unpack(
        points[0], layout.n_questions, layout.n_cohorts, np.array(data.cohort_sizes), 0.5,
        answers_of(data),
    )[2]  # fmt: skip
    assert bias[list(data.cohort_of_expert).index(data.cohorts.index("solo"))] == 0.0
    # nor a free slope: slopes average 1 within the cohort, so theirs is exactly 1
    assert layout.blocks()[f"log_slope_raw_cohort{data.cohorts.index('solo')}"].stop == (
        layout.blocks()[f"log_slope_raw_cohort{data.cohorts.index('solo')}"].start
    )
    log_slope = unpack(
        points[0], layout.n_questions, layout.n_cohorts, np.array(data.cohort_sizes), 0.5,
        answers_of(data),
    )[3]  # fmt: skip
    assert log_slope[list(data.cohort_of_expert).index(data.cohorts.index("solo"))] == 0.0


def test_pooled_cohorts_keep_a_bias_block_each_and_the_pymc_density():
    data = disjoint_cohorts()
    assert data.cohorts == ["all cohorts"] and len(data.pooled_cohorts) == 2
    layout = Layout.of(data)
    assert layout.n_cohorts == 1 and len(layout.cohort_sizes) == 2
    assert "delta_raw" not in layout.blocks() and "bias_raw_cohort1" in layout.blocks()
    points = np.random.default_rng(6).normal(size=(3, layout.ndim))
    for ours, theirs, ours_grad, theirs_grad in evaluate_both(data, {}, points):
        assert ours == pytest.approx(theirs, rel=1e-10)
        for var, expected in theirs_grad.items():
            assert_allclose(ours_grad[var], expected, rtol=1e-9, atol=1e-9, err_msg=var)
    # and through nutpie's callback, which reads the number of bias blocks from its header
    model = native(data)
    code, logp, grad = call_logp(model, points[0])
    expected, expected_grad = logp_and_gradient(
        points[0], *data.model_arrays().values(), layout.n_questions, layout.n_cohorts,
        np.array(layout.cohort_sizes), prior_scales(DEFAULT_MODEL_CONFIG), answers_of(data),
    )  # fmt: skip
    assert code == 0 and logp == pytest.approx(expected, rel=1e-13)
    assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-13)


def test_the_blocks_tile_the_vector():
    layout = Layout(n_questions=4, n_cohorts=3, cohort_sizes=(2, 1, 5))
    blocks = list(layout.blocks().values())
    assert blocks[0].start == 0 and blocks[-1].stop == layout.ndim
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:], strict=False))
    # mu, delta_scale, delta (Q-1)(G-1), lean G-1, three expert scales, the bias blocks,
    # log sigma E-1, the log slope blocks, log_kappa_mean and kappa_scale, kappa
    assert layout.ndim == 4 + 1 + 3 * 2 + 2 + 3 + (1 + 0 + 4) + 7 + (1 + 0 + 4) + 2 + 4


# ------------------------------------------------------------------ nutpie's C callbacks
def call_logp(model, x: np.ndarray, dim: int | None = None):
    """Call the logp cfunc as nutpie does: (dim, x, gradient out, logp out, user data)."""
    grad = np.full(x.size, np.nan)
    logp = np.full(1, np.nan)
    code = callbacks()[0].ctypes(
        dim if dim is not None else x.size,
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        grad.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        logp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        model.user_data.ctypes.data,
    )
    return code, float(logp[0]), grad


def native(data: BinaryPanelData):
    coords = {"question": data.questions, "expert": data.experts, "cohort": data.cohorts}
    return nutpie_model(Layout.of(data), DEFAULT_MODEL_CONFIG, coords, **data.model_arrays())


def test_the_logp_callback_returns_the_density_and_its_gradient():
    data = panel("three cohorts, skipped answers")
    model = native(data)
    layout = Layout.of(data)
    x = np.random.default_rng(3).normal(size=layout.ndim)
    code, logp, grad = call_logp(model, x)
    arrays = data.model_arrays()
    expected, expected_grad = logp_and_gradient(
        x, arrays["y"], arrays["judgment_idx"], layout.n_questions, layout.n_cohorts,
        np.array(layout.cohort_sizes), prior_scales(DEFAULT_MODEL_CONFIG), answers_of(data),
    )  # fmt: skip
    assert code == 0
    # the same code compiled twice (in the cfunc and alone): fast-math may order sums apart
    assert logp == pytest.approx(expected, rel=1e-13)
    assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-13)


def test_indices_that_do_not_fit_the_layout_are_refused():
    data = panel("two cohorts")
    arrays = data.model_arrays()
    arrays["judgment_idx"] = arrays["judgment_idx"].copy()
    arrays["judgment_idx"][2, 0] += 2  # a cell of the next question
    coords = {"question": data.questions, "expert": data.experts, "cohort": data.cohorts}
    with pytest.raises(ValueError, match="does not fit the layout"):
        nutpie_model(Layout.of(data), DEFAULT_MODEL_CONFIG, coords, **arrays)


def test_an_expert_without_a_judgment_is_refused():
    """The answer-weighted level of biases and slopes needs every expert's answers."""
    data = panel("two cohorts")
    arrays = data.model_arrays()
    keep = arrays["judgment_idx"][0] != 0  # drop every answer of expert 0
    coords = {"question": data.questions, "expert": data.experts, "cohort": data.cohorts}
    with pytest.raises(ValueError, match="at least one judgment"):
        nutpie_model(
            Layout.of(data), DEFAULT_MODEL_CONFIG, coords,
            y=arrays["y"][keep], judgment_idx=arrays["judgment_idx"][:, keep],
        )  # fmt: skip


def test_the_logp_callback_flags_a_wrong_size_and_a_non_finite_density():
    model = native(panel("two cohorts"))
    x = np.zeros(model.n_dim)
    assert call_logp(model, x, dim=model.n_dim + 1)[0] == -1
    x[model_block(model, "sigma_scale")] = 800.0  # exp(800) = inf
    assert call_logp(model, x)[0] in (3, 4)


def model_block(model, name: str) -> slice:
    """Where a block sits in the vector of a model nutpie_model built."""
    q, g = (int(v) for v in model.user_data[2:4])  # header: ndim, judgments, Q, G, ...
    return Layout(q, g, tuple(int(s) for s in model.shared_data["cohort_sizes"])).blocks()[name]


def test_the_expand_callback_writes_the_traced_variables_in_order():
    data = panel("three cohorts, skipped answers")
    model = native(data)
    layout = Layout.of(data)
    x = np.random.default_rng(4).normal(size=layout.ndim)
    out = np.full(model.n_expanded, np.nan)
    code = callbacks()[1].ctypes(
        layout.ndim,
        model.n_expanded,
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        model.user_data.ctypes.data,
    )
    assert code == 0
    lean_sd = DEFAULT_MODEL_CONFIG["lean_sd"]
    mu, delta, bias, log_slope, log_sigma, log_kappa, hyper, _, lean = unpack(
        x, layout.n_questions, layout.n_cohorts, np.array(layout.cohort_sizes), lean_sd,
        answers_of(data),
    )  # fmt: skip
    names, slices, shapes = model.shape_info
    assert names == list(TRACE_DIMS)
    written = {n: out[s].reshape(shape) for n, s, shape in zip(names, slices, shapes, strict=True)}
    assert_allclose(written["mu_question"], mu)
    assert_allclose(written["delta_cohort"], delta)
    assert_allclose(written["bias_expert"], bias)
    assert_allclose(written["sigma_expert"], np.exp(log_sigma))
    assert_allclose(written["slope_expert"], np.exp(log_slope))
    assert_allclose(written["kappa_question"], np.exp(log_kappa))
    scalars = [
        "delta_scale", "bias_scale", "sigma_scale", "slope_scale", "log_kappa_mean", "kappa_scale"
    ]  # fmt: skip
    assert_allclose([written[n] for n in scalars], hyper)
    assert_allclose(written["cohort_lean"], lean)
    assert abs(lean.sum()) < 1e-12 and np.abs(lean).max() > 0
    # the constraints of the model hold for what is written: within each cohort, biases
    # average 0 and slopes 1 over the answers (this panel's experts skipped some), not over
    # the experts
    answers = answers_of(data)
    assert len(set(answers)) > 1
    for g in range(layout.n_cohorts):
        w = answers[data.cohort_of_expert == g]
        bias = written["bias_expert"][data.cohort_of_expert == g]
        slope = written["slope_expert"][data.cohort_of_expert == g]
        assert abs((w * bias).sum()) < 1e-12 and abs(bias.sum()) > 1e-6
        assert (w * slope).sum() == pytest.approx(w.sum(), rel=1e-12)
        assert abs(slope.mean() - 1) > 1e-6
    assert abs(np.log(written["sigma_expert"]).sum()) < 1e-12
    assert_allclose(written["delta_cohort"].sum(axis=1), 0, atol=1e-12)


@pytest.mark.slow
def test_a_fit_through_the_density_agrees_with_a_fit_through_the_pymc_model():
    """The same small panel fitted through both backends: the posteriors agree within Monte
    Carlo error (every pair of means differs by less than 4 of its standard errors, each
    counted as if a fit had only 1,000 independent draws of its 4,000)."""
    data = panel("two cohorts")
    config = {"tune": 300, "draws": 1000}
    fast = BinaryHierarchicalModel(sampler_config=config).fit(data, random_seed=1)
    slow = BinaryHierarchicalModel(sampler_config={**config, "backend": "pymc"}).fit(
        data, random_seed=2
    )
    assert json.loads(fast.attrs["sampler_config"])["backend"] == "density"
    fast, reference = fast.posterior["posterior"], slow.posterior["posterior"]
    assert int(fast.sizes["draw"]) == 1000
    for name, dims in TRACE_DIMS.items():
        assert fast[name].dims == ("chain", "draw", *dims)
        a, b = fast[name], reference[name]
        standard_error = np.sqrt((a.var(("chain", "draw")) + b.var(("chain", "draw"))) / 1000)
        gap = abs(a.mean(("chain", "draw")) - b.mean(("chain", "draw")))
        assert float((gap / standard_error).max()) < 4, name
    assert fast["question"].values.tolist() == data.questions


def test_the_same_seed_gives_the_same_draws():
    """Bit for bit, fit after fit: a flag letting the compiler reorder sums made the draws
    depend on where the arrays happened to sit in memory (density.FASTMATH)."""
    model = BinaryHierarchicalModel(sampler_config={"draws": 50, "tune": 100, "chains": 2})
    data = panel("two cohorts")
    draws = [
        model.fit(data, random_seed=3).posterior["posterior"]["mu_question"].values
        for _ in range(8)
    ]
    for other in draws[1:]:
        assert np.array_equal(other, draws[0])
