"""The numeric panel forecast's blend of the model and the equal-weight decision maker
(aggregation/engine/numeric_blend.py): its pieces, and its leave-one-seed-out predictive
against a real refit without the seed."""

import numpy as np
import pytest
from scipy import integrate

from aggregation.engine.numeric import (
    NumericHierarchicalModel,
    NumericPanelData,
    shared_error_draws,
    shared_error_logpdf,
    summarize_numeric,
)
from aggregation.engine.numeric_blend import (
    MIN_SEEDS,
    choose_weight,
    equal_weight_cdf,
    loo_seed_draws,
    mixture_quantiles,
    scaled_interval_score,
)
from aggregation.engine.quantiles import QuantileTable
from aggregation.engine.synthetic import simulate_quantile_panel


@pytest.mark.parametrize("nu", [0.0, 4.0])
@pytest.mark.parametrize(("left", "right"), [(0.5, 1.5), (1.0, 1.0), (1.6, 0.4)])
def test_the_shared_error_density_is_a_density_with_median_zero(left, right, nu):
    def pdf(x):
        return np.exp(shared_error_logpdf(x, 0.7, left, right, nu))

    total = integrate.quad(pdf, -np.inf, np.inf)[0]
    below = integrate.quad(pdf, -np.inf, 0.0)[0]
    assert total == pytest.approx(1.0, abs=1e-6)
    assert below == pytest.approx(0.5, abs=1e-6)
    # and the draws follow it: their median is 0 and their spread matches
    draws = shared_error_draws(np.random.default_rng(1), np.full(200_000, 0.7), left, right, nu)
    assert np.median(draws) == pytest.approx(0.0, abs=0.01)
    q90 = np.quantile(draws, 0.9)
    assert integrate.quad(pdf, -np.inf, q90)[0] == pytest.approx(0.9, abs=0.005)


def test_the_shared_error_density_is_the_models_seed_term():
    """numpy's density (the blend's) and the PyMC model's "seeds" potential agree."""
    panel = simulate_quantile_panel(n_experts=6, n_questions=5, n_seeds=3, seed=2)
    table = QuantileTable.from_rows(panel.rows)
    data = NumericPanelData.from_table(table, {q: panel.truth[q] for q in panel.seeds})
    model_obj = NumericHierarchicalModel()
    model = model_obj.build_model(data)
    rng = np.random.default_rng(0)
    point = {name: rng.normal(0, 0.5, np.shape(v)) for name, v in model.initial_point().items()}
    (seeds_term,) = model.replace_rvs_by_values([model["seeds"]])  # at the value variables
    value = model.compile_fn(seeds_term, inputs=model.value_vars, on_unused_input="ignore")(point)
    cfg = model_obj.model_config
    tau = np.exp(point["tau_log__"])
    kappa = np.exp(np.exp(point["kappa_scale_log__"]) * point["kappa_z"])
    seeds = data.seeds
    scale = tau * kappa[seeds] ** cfg["shared_error_disagreement"]
    eta = data.realized[seeds] - point["location"][seeds]
    expected = shared_error_logpdf(
        eta, scale, data.skew_left[seeds], data.skew_right[seeds], cfg["shared_error_nu"]
    ).sum()
    assert float(value) == pytest.approx(expected, rel=1e-9)


ANSWERS = np.array([[1.0, 5.0, 9.0], [2.0, 6.0, 12.0], [0.0, 4.0, 8.0]])


def test_the_equal_weight_cdf_has_each_experts_quantiles_averaged():
    grid, cdf = equal_weight_cdf(ANSWERS)
    assert cdf[0] == 0.0 and cdf[-1] == 1.0 and np.all(np.diff(cdf) >= 0)
    # at 5: expert 1's median (0.5), expert 2 between its 5 and 50 % (0.05 + 0.45 * 3/4),
    # expert 3 between its 50 and 95 % (0.5 + 0.45 / 4)
    expected = (0.5 + (0.05 + 0.45 * 3 / 4) + (0.5 + 0.45 / 4)) / 3
    assert np.interp(5.0, grid, cdf) == pytest.approx(expected, abs=1e-3)


def test_a_mixture_has_its_parts_at_the_ends_and_their_blend_between():
    draws = np.random.default_rng(0).normal(20.0, 1.0, 40_000)
    ew = equal_weight_cdf(ANSWERS)
    model_only = mixture_quantiles(draws, None, ew, 1.0)
    ew_only = mixture_quantiles(draws, None, ew, 0.0)
    assert model_only == pytest.approx(np.quantile(draws, [0.05, 0.5, 0.95]), abs=0.02)
    assert ew_only == pytest.approx(np.interp([0.05, 0.5, 0.95], ew[1], ew[0]), abs=1e-9)
    # half and half, the two far apart: the median falls between them, the 5 % in the
    # equal-weight part and the 95 % in the model's
    low, mid, high = mixture_quantiles(draws, None, ew, 0.5)
    assert ew_only[0] - 0.1 < low < ew_only[1]
    assert ew_only[2] < mid < model_only[0]
    assert model_only[1] < high < model_only[2] + 0.1
    # weights on the draws count as such: all the weight on the lower half moves it down
    weights = (draws < 20.0).astype(float)
    weights /= weights.sum()
    assert mixture_quantiles(draws, weights, ew, 1.0)[1] < 19.5


def test_the_weight_goes_to_whichever_part_predicted_the_seeds():
    rng = np.random.default_rng(3)
    sharp_and_right = [
        {"draws": rng.normal(5.0, 0.5, 4000), "weights": None, "ew": equal_weight_cdf(ANSWERS),
         "x": 5.2, "answers": ANSWERS}
        for _ in range(MIN_SEEDS)
    ]  # fmt: skip
    assert choose_weight(sharp_and_right)[0] == 1.0
    confidently_wrong = [
        {"draws": rng.normal(30.0, 0.5, 4000), "weights": None, "ew": equal_weight_cdf(ANSWERS),
         "x": 5.2, "answers": ANSWERS}
        for _ in range(MIN_SEEDS)
    ]  # fmt: skip
    weight, scores = choose_weight(confidently_wrong)
    assert weight < 0.5 and scores[weight] < scores[1.0]


def test_the_scaled_interval_score():
    # width 4, truth 2 below the range: 4 + 20 * 2 = 44, over a spread of 12 - 0
    assert scaled_interval_score(3.0, 7.0, 1.0, ANSWERS) == pytest.approx(44 / 12)
    assert scaled_interval_score(3.0, 7.0, 5.0, ANSWERS) == pytest.approx(4 / 12)


@pytest.mark.slow
def test_the_leave_one_seed_out_predictive_matches_a_refit_without_the_seed():
    """PSIS from the full fit against the fold a real refit gives: same quantiles of the
    held-out seed's truth, within Monte Carlo error."""
    panel = simulate_quantile_panel(n_experts=12, n_questions=10, n_seeds=6, seed=4)
    table = QuantileTable.from_rows(panel.rows)
    realized = {q: panel.truth[q] for q in panel.seeds}
    model = NumericHierarchicalModel(sampler_config={"draws": 1000, "tune": 500})
    data = NumericPanelData.from_table(table, realized)
    tree = model.fit(data, random_seed=1)
    loo = loo_seed_draws(tree, data, model.model_config, seed=1)
    held_out = panel.seeds[0]
    j = data.questions.index(held_out)
    draws, weights, khat = loo[j]
    assert khat < 0.7
    fold = NumericPanelData.from_table(table, {q: v for q, v in realized.items() if q != held_out})
    refit = model.fit(fold, random_seed=2)
    truth = refit.posterior["truth"].sel(question=held_out).values.ravel()
    levels = [0.05, 0.5, 0.95]
    order = np.argsort(draws)
    cumulative = np.cumsum(weights[order]) - weights[order] / 2
    psis = np.interp(levels, cumulative, draws[order])
    width = np.quantile(truth, 0.95) - np.quantile(truth, 0.05)
    assert psis == pytest.approx(np.quantile(truth, levels), abs=0.1 * width)
    # and the full fit, which saw the value, is not what PSIS reproduces: it is pinned
    # at the realization
    full = tree.posterior["truth"].sel(question=held_out).values.ravel()
    assert np.ptp(full) == 0.0


@pytest.mark.slow
def test_the_result_carries_the_blend_and_the_models_own_forecast():
    panel = simulate_quantile_panel(n_experts=10, n_questions=8, n_seeds=5, seed=6)
    table = QuantileTable.from_rows(panel.rows)
    realized = {q: panel.truth[q] for q in panel.seeds}
    data = NumericPanelData.from_table(table, realized)
    model = NumericHierarchicalModel(sampler_config={"draws": 300, "tune": 300, "chains": 2})
    result = summarize_numeric(model.fit(data, random_seed=0), data, table, realized)
    blend = result["forecast_blend"]
    assert blend["n_seeds"] == 5 and 0.0 <= blend["model_weight"] <= 1.0
    assert set(blend["scores"]) == {round(w / 10, 1) for w in range(11)}
    target = next(q for q, e in result["questions"].items() if not e["seed"])
    entry = result["questions"][target]
    assert entry["forecast"]["q05"] < entry["forecast"]["q50"] < entry["forecast"]["q95"]
    assert entry["model_forecast"]["q05"] < entry["model_forecast"]["q95"]
    if blend["model_weight"] == 1.0:
        assert entry["forecast"] == pytest.approx(entry["model_forecast"], rel=0.02)
