"""The LLO recalibration: its model as built (instant), and recovery from simulated panels (slow)."""

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import expit

from aggregation.engine.data import JudgmentTable
from aggregation.engine.recalibration import (
    DEFAULT_MODEL_CONFIG,
    LLORecalibration,
    RecalibrationConfigError,
    RecalibrationData,
    RecalibrationFit,
    aggregate_logodds,
    prior_summary,
    recalibrated_forecasts,
)

FAST = {"chains": 2, "tune": 300, "draws": 500}


def simulate(n: int, gamma: float, tau: float, *, seed: int, groups=None):
    """Aggregates x ~ N(0.3, 1) and outcomes drawn from the LLO map (1) itself."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1.0, n)
    y = (rng.random(n) < expit(gamma * x + tau)).astype(int)
    return x, y


# --- the model as built -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("groups", "free"),
    [
        (None, {"log_gamma", "tau"}),
        (["a", "a", "a"], {"log_gamma", "tau"}),  # one group is no group
        (
            ["a", "b", "a"],
            {
                "log_gamma",
                "tau",
                "group_log_gamma_scale",
                "group_tau_scale",
                "group_log_gamma_raw",
                "group_tau_raw",
            },
        ),
    ],
)
def test_model_has_group_level_only_with_several_groups(groups, free):
    data = RecalibrationData.from_arrays([0.1, -0.5, 2.0], [1, 0, 1], groups=groups)
    model = LLORecalibration().build_model(data)
    assert {rv.name for rv in model.free_RVs} == free
    assert [rv.name for rv in model.observed_RVs] == ["resolved"]


def test_model_logp_is_the_llo_bernoulli_likelihood_plus_priors():
    """At a point, the model's log density is (1) by hand: Bernoulli terms + Normal priors."""
    from scipy import stats

    x, y = np.array([0.4, -1.0, 2.0]), np.array([1, 0, 0])
    model = LLORecalibration().build_model(RecalibrationData.from_arrays(x, y))
    point = {"log_gamma": math.log(1.7), "tau": -0.4}
    eta = 1.7 * x - 0.4
    expected = (
        np.sum(y * np.log(expit(eta)) + (1 - y) * np.log(expit(-eta)))
        + stats.norm.logpdf(math.log(1.7), math.log(2.0), 0.5)
        + stats.norm.logpdf(-0.4, 0.0, 1.0)
    )
    # 1e-9: the same sum in PyTensor and NumPy, differing only in float rounding
    assert_allclose(model.compile_logp()(point), expected, atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model_config": {"gamma_prior": 2}}, "unknown model_config key"),
        ({"model_config": {"tau_sd": 0}}, "tau_sd must be positive"),
        ({"sampler_config": {"chains": 1}}, "at least 2 chains"),
    ],
)
def test_bad_configs_are_refused(kwargs, message):
    with pytest.raises(RecalibrationConfigError, match=message):
        LLORecalibration(**kwargs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0.1, 0.2], [1]), "2 aggregates but 1 outcomes"),
        (([0.1], [3]), "outcomes must be 0 or 1"),
        (([np.inf], [1]), "must be finite"),
    ],
)
def test_bad_recalibration_data_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        RecalibrationData.from_arrays(*args)


def test_aggregate_is_the_log_odds_mean():
    table = JudgmentTable.from_rows(
        [
            {"expert": "E1", "cohort": "A", "question": "Q1", "probability": 0.2},
            {"expert": "E2", "cohort": "A", "question": "Q1", "probability": 0.9},
            {"expert": "E1", "cohort": "A", "question": "Q2", "probability": 0.0},
        ]
    )
    x = aggregate_logodds(table)
    # Q1: (log 1/4 + log 9) / 2 = log 1.5; Q2: 0 is clipped to 0.005 -> log(1/199)
    assert_allclose(x.to_numpy(), [math.log(1.5), math.log(0.005 / 0.995)], atol=1e-12)


def test_prior_summary_states_the_documented_prior():
    prior = prior_summary(DEFAULT_MODEL_CONFIG, 0.9)
    assert prior["gamma"]["median"] == 2.0
    # exp(log 2 -+ 1.645 * 0.5): the 90 % interval of LogNormal(log 2, 0.5)
    assert prior["gamma"]["interval"] == pytest.approx([0.8787, 4.552], abs=1e-3)
    assert prior["tau"]["interval"] == pytest.approx([-1.6449, 1.6449], abs=1e-4)
    assert "Turner" in prior["source"] and "Satop" in prior["source"]


# --- sampling (slow) --------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("gamma", "tau"), [(2.5, -0.8), (0.7, 0.5)])
def test_recalibration_recovers_a_known_gamma_and_tau(gamma, tau):
    x, y = simulate(3000, gamma, tau, seed=11)
    fit = LLORecalibration(sampler_config=FAST).fit(x, y, random_seed=1)
    summary = fit.summary(interval_mass=0.95)
    # With 3000 questions the posterior sd is ~0.1 for gamma and ~0.06 for tau: the 95 %
    # intervals must hold the truth, and the means be within 3 posterior sd of it.
    assert summary["gamma"]["interval"][0] < gamma < summary["gamma"]["interval"][1]
    assert summary["tau"]["interval"][0] < tau < summary["tau"]["interval"][1]
    assert summary["gamma"]["mean"] == pytest.approx(gamma, abs=0.3)
    assert summary["tau"]["mean"] == pytest.approx(tau, abs=0.2)
    assert summary["n_resolved"] == 3000
    assert summary["posterior_to_prior_sd"]["tau"] < 0.15  # the data, not the prior, speaks
    assert summary["diagnostics"]["max_rhat"] < 1.01
    assert summary["diagnostics"]["divergences"] == 0


@pytest.mark.slow
def test_with_no_resolved_questions_the_fit_is_the_prior():
    fit = LLORecalibration(sampler_config=FAST).fit([], [], random_seed=2)
    summary = fit.summary(interval_mass=0.9)
    assert summary["n_resolved"] == 0
    # 1000 prior draws: the median of gamma is 2 within Monte Carlo error (~0.06)
    draws = np.exp(fit.posterior["posterior"]["log_gamma"].values.ravel())
    assert np.median(draws) == pytest.approx(2.0, abs=0.15)
    assert summary["posterior_to_prior_sd"]["log_gamma"] == pytest.approx(1.0, abs=0.1)
    # an aggregate of 70 % is extremized by the prior's gamma ~ 2: above 0.75 on average
    predicted = fit.predict([math.log(0.7 / 0.3)])
    assert predicted.loc[0, "mean"] > 0.75


@pytest.mark.slow
def test_few_questions_lean_on_the_prior_many_learn():
    x, y = simulate(2000, 1.0, -1.0, seed=5)
    model = LLORecalibration(sampler_config=FAST)
    few = model.fit(x[:8], y[:8], random_seed=3).summary()
    many = model.fit(x, y, random_seed=3).summary()
    assert few["posterior_to_prior_sd"]["tau"] > 0.5  # 8 questions barely move it
    assert many["posterior_to_prior_sd"]["tau"] < 0.1
    assert many["tau"]["mean"] == pytest.approx(-1.0, abs=0.2)


@pytest.mark.slow
def test_grouped_recalibration_recovers_group_shifts_and_predicts_new_groups():
    rng = np.random.default_rng(8)
    taus = {"a": -1.0, "b": 0.0, "c": 1.0}
    groups = rng.choice(list(taus), 1500)
    x = rng.normal(0.0, 1.0, groups.size)
    y = (rng.random(groups.size) < expit(1.5 * x + np.vectorize(taus.get)(groups))).astype(int)
    model = LLORecalibration(sampler_config=FAST)
    fit = model.fit(x, y, groups=groups, random_seed=4)
    summary = fit.summary(interval_mass=0.95)
    for group, tau in taus.items():
        low, high = summary["groups"][group]["tau"]["interval"]
        assert low < tau < high
    assert summary["diagnostics"]["divergences"] == 0
    predicted = fit.predict([0.0, 0.0, 0.0], groups=["a", "c", "never seen"])
    assert predicted.loc[0, "mean"] < 0.4 < 0.6 < predicted.loc[1, "mean"]
    # a group never resolved gets the population's predictive: wider than a known group's
    width = predicted["upper"] - predicted["lower"]
    assert width[2] > width[0]


@pytest.mark.slow
def test_same_data_and_seed_give_identical_draws_and_a_saved_fit_predicts_the_same(tmp_path):
    x, y = simulate(60, 2.0, -0.5, seed=9)
    groups = ["a", "b"] * 30
    model = LLORecalibration(sampler_config=FAST)
    fit = model.fit(x, y, groups=groups, random_seed=7)
    first = fit.predict(x, groups=groups)
    second = model.fit(x, y, groups=groups, random_seed=7).predict(x, groups=groups)
    pd.testing.assert_frame_equal(first, second, check_exact=True)

    loaded = RecalibrationFit.load(fit.save(tmp_path / "recalibration.nc"))
    pd.testing.assert_frame_equal(loaded.predict(x, groups=groups), first, check_exact=True)
    assert loaded.posterior.attrs["data_hash"] == fit.data.data_hash()
    assert loaded.data.data_hash() == fit.data.data_hash()
    assert loaded.model_config == model.model_config
    assert loaded.summary() == fit.summary()


@pytest.mark.slow
def test_recalibrated_forecasts_learn_from_resolved_and_forecast_open_questions():
    rows = []
    rng = np.random.default_rng(4)
    truth = {}
    for j in range(40):
        q = f"Q{j:02d}"
        # a timid panel: every expert says expit(0.4 * signal), the truth is expit(signal)
        signal = rng.normal(0, 2)
        truth[q] = int(rng.random() < expit(signal))
        for i in range(5):
            p = float(expit(0.4 * signal + rng.normal(0, 0.2)))
            rows.append({"expert": f"E{i}", "cohort": "A", "question": q, "probability": p})
    table = JudgmentTable.from_rows(rows)
    resolved = {q: y for q, y in truth.items() if q < "Q30"}
    result = recalibrated_forecasts(
        table,
        resolved,
        random_seed=0,
        recalibration=LLORecalibration(sampler_config=FAST),
    )
    assert result["recalibration"]["n_resolved"] == 30
    assert result["recalibration"]["gamma"]["mean"] > 1.5  # it learned to extremize
    entry = result["questions"]["Q35"]
    assert entry["resolved"] is False
    assert entry["interval"][0] <= entry["mean"] <= entry["interval"][1]
    # extremized: further from 1/2 than the panel's own aggregate
    assert abs(entry["mean"] - 0.5) > abs(entry["aggregate"] - 0.5)
    assert result["questions"]["Q05"]["resolved"] is True


# --- the panel forecast ----------------------------------------------------------------------
def constant_consensus(values: dict[str, float], n_draws: int = 200) -> pd.DataFrame:
    return pd.DataFrame({q: np.full(n_draws, x) for q, x in values.items()})


def test_with_nothing_resolved_the_forecast_is_the_prior_map_of_the_consensus():
    from aggregation.engine.recalibration import panel_forecasts

    result = panel_forecasts(constant_consensus({"Q1": 1.0, "Q2": -0.5}), None, random_seed=0)
    assert result["calibration"]["n_resolved"] == 0
    assert "Turner" in result["definition"]
    # E[expit(gamma x + tau)] with log gamma ~ N(log 2, 0.5), tau ~ N(0, 1), by quadrature
    rng = np.random.default_rng(99)
    gamma, tau = np.exp(rng.normal(math.log(2.0), 0.5, 400_000)), rng.normal(0.0, 1.0, 400_000)
    for question, x in (("Q1", 1.0), ("Q2", -0.5)):
        forecast = result["questions"][question]
        assert forecast["mean"] == pytest.approx(expit(gamma * x + tau).mean(), abs=0.01)
        low, high = forecast["interval"]
        assert low < forecast["mean"] < high
        assert forecast["resolved"] is False
    assert result["calibration"]["gamma"]["mean"] == pytest.approx(
        math.exp(math.log(2.0) + 0.5**2 / 2), rel=0.05
    )


@pytest.mark.slow
def test_a_learned_forecast_is_the_fits_prediction_and_flags_resolved_questions():
    from aggregation.engine.recalibration import panel_forecasts

    x, y = simulate(60, 0.6, 0.4, seed=3)
    questions = [f"Q{j:02d}" for j in range(len(x))]
    consensus = constant_consensus(dict(zip(questions, x, strict=True)), n_draws=4000)
    outcomes = dict(zip(questions[:50], y[:50].tolist(), strict=True))
    recalibration = LLORecalibration(sampler_config=FAST)
    result = panel_forecasts(consensus, outcomes, random_seed=4, recalibration=recalibration)
    assert result["calibration"]["n_resolved"] == 50
    assert [result["questions"][q]["resolved"] for q in questions[48:52]] == [
        True, True, False, False,
    ]  # fmt: skip
    # with a consensus that does not vary, each forecast is the recalibration's own
    fit = recalibration.fit(x[:50], y[:50], questions=questions[:50], random_seed=4)
    predicted = fit.predict(x[50:], questions=questions[50:])
    for q in questions[50:]:
        assert result["questions"][q]["mean"] == pytest.approx(predicted.loc[q, "mean"], abs=0.02)
