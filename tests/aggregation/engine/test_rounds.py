"""Delphi rounds fitted together (aggregation.engine.rounds)."""

import json

import numpy as np
import pandas as pd
import pytensor
import pytest
from scipy import stats
from scipy.special import expit, logit

from aggregation.engine.data import JudgmentTable
from aggregation.engine.hierarchical import ModelConfigError
from aggregation.engine.rounds import (
    LinkedPanelData,
    LinkedRoundsModel,
    round_basis,
    summarize_linked,
)
from aggregation.engine.synthetic import own_questions, simulate_binary_panel


def two_rounds(*, n_experts=20, n_questions=6, seed=3, move=0.4, shift_q01=0.8, keep=0.3):
    """Round 2: each expert moves ``move`` of the way to the truth (plus noise); Q01's
    truth shifts by ``shift_q01`` log-odds; a share ``keep`` of answers is kept as is."""
    panel = simulate_binary_panel(
        n_experts=n_experts, n_questions=n_questions, rounding=None, seed=seed
    )
    rng = np.random.default_rng(seed)
    first = panel.judgments.assign(round=1)
    y1 = logit(np.clip(first["probability"], 0.005, 0.995))
    truth = panel.mu[first["question"].str[1:].astype(int) - 1]
    truth = truth + np.where(first["question"] == "Q01", shift_q01, 0.0)
    y2 = y1 + move * (truth - y1) + rng.normal(0.0, 0.3, len(y1))
    y2 = np.where(rng.random(len(y1)) < keep, y1, y2)
    second = first.assign(round=2, probability=expit(y2))
    return panel, JudgmentTable.from_frame(pd.concat([first, second]))


def test_pairs_link_the_same_expert_and_question_across_rounds():
    _, table = two_rounds()
    frame = table.frame
    # one expert skips Q02 in round 2: that answer has no partner
    dropped = frame[
        ~((frame["expert"] == "E001") & (frame["question"] == "Q02") & (frame["round"] == 2))
    ]
    data = LinkedPanelData.from_table(JudgmentTable.from_frame(dropped))
    assert data.rounds == [1, 2]
    assert data.n_linked == 20 * 6 - 1
    experts = np.array(data.experts)[data.expert_idx]
    questions = np.array(data.questions)[data.question_idx]
    lone = (experts == "E001") & (questions == "Q02")
    assert (data.previous_idx[lone] == -1).all()
    # every linked answer points at the same expert's round-1 answer to the same question
    later = np.flatnonzero(data.previous_idx >= 0)
    before = data.previous_idx[later]
    assert (experts[before] == experts[later]).all()
    assert (questions[before] == questions[later]).all()
    assert (data.round_idx[before] == 0).all() and (data.round_idx[later] == 1).all()
    assert (data.previous_idx[data.round_idx == 0] == -1).all()


def test_kept_answers_are_the_exact_copies_of_the_previous_answer():
    _, table = two_rounds(keep=0.3)
    data = LinkedPanelData.from_table(table)
    probability = table.frame["probability"].to_numpy()  # the rows in the model's order
    later = np.flatnonzero(data.previous_idx >= 0)
    same = probability[later] == probability[data.previous_idx[later]]
    assert (data.kept[later] == same).all() and same.any() and not same.all()
    assert not data.kept[data.previous_idx < 0].any()
    assert data.n_kept == int(same.sum())


def test_the_linked_model_refuses_a_backend_or_draws_it_cannot_use():
    with pytest.raises(ModelConfigError, match="backend 'pymc' only"):
        LinkedRoundsModel(sampler_config={"backend": "density"})
    for draws in (0, 2.5, "many"):
        with pytest.raises(ModelConfigError, match="must be a positive number or 'auto'"):
            LinkedRoundsModel(sampler_config={"draws": draws})


def test_one_round_is_refused_with_a_clear_message():
    panel = simulate_binary_panel(n_experts=5, n_questions=3, seed=0)
    with pytest.raises(ValueError, match="at least two rounds"):
        LinkedPanelData.from_table(JudgmentTable.from_frame(panel.judgments))


def test_the_model_builds_with_named_dims_and_a_finite_logp():
    _, table = two_rounds()
    model = LinkedRoundsModel().build_model(LinkedPanelData.from_table(table))
    assert model.named_vars_to_dims["mu_question"] == ("question", "round")
    assert model.named_vars_to_dims["kappa_question"] == ("question", "round")
    # each expert's slope, as in the binary model (version 5 on): zero-sum log per cohort,
    # then averaging 1 over the cohort's answers (version 6)
    assert model.named_vars_to_dims["slope_expert"] == ("expert",)
    free = {v.name for v in model.free_RVs}
    assert {"slope_scale", "log_slope_raw_cohort0", "log_slope_raw_cohort1"} <= free
    assert np.isfinite(model.compile_logp(mode="FAST_COMPILE")(model.initial_point()))


def test_biases_average_0_and_slopes_1_over_each_cohorts_answers():
    """As in the binary model (version 6): weighted by every round's answers, here unequal
    (some experts skipped round 2), at a point away from the start."""
    _, table = two_rounds()
    frame = table.frame
    skipped = frame["expert"].isin(sorted(frame["expert"].unique())[::3]) & (frame["round"] == 2)
    data = LinkedPanelData.from_table(JudgmentTable.from_frame(frame[~skipped]))
    model = LinkedRoundsModel().build_model(data)
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0.0, 0.7, np.shape(v)) for k, v in model.initial_point().items()}
    fn = model.compile_fn(
        [model["bias_expert"], model["slope_expert"]],
        inputs=model.value_vars,
        on_unused_input="ignore",
        mode="FAST_COMPILE",
        point_fn=True,
    )
    bias, slope = fn(point)
    answers = np.bincount(data.expert_idx, minlength=len(data.experts))
    for g in range(len(data.bias_block_sizes)):
        w = answers[data.bias_block_of_expert == g]
        assert len(set(w)) > 1
        assert abs((w * bias[data.bias_block_of_expert == g]).sum()) < 1e-10
        assert (w * slope[data.bias_block_of_expert == g]).sum() == pytest.approx(w.sum())
        assert abs(bias[data.bias_block_of_expert == g].sum()) > 1e-6


def disjoint_two_rounds(seed=3):
    """Two rounds of a panel whose two cohorts each answered their own questions."""
    _, table = two_rounds(n_experts=24, n_questions=6, seed=seed)
    return JudgmentTable.from_frame(own_questions(table.frame))


def test_cohorts_that_share_no_question_are_pooled_as_in_the_binary_model():
    data = LinkedPanelData.from_table(disjoint_two_rounds())
    assert data.cohorts == ["all cohorts"] and len(data.pooled_cohorts) == 2
    assert set(data.cohort_of_expert) == {0} and len(data.bias_block_sizes) == 2
    model = LinkedRoundsModel().build_model(data)
    free = {v.name for v in model.free_RVs}
    assert "delta_rotated" not in free and {"bias_raw_cohort0", "bias_raw_cohort1"} <= free
    assert {"log_slope_raw_cohort0", "log_slope_raw_cohort1"} <= free
    assert np.isfinite(model.compile_logp(mode="FAST_COMPILE")(model.initial_point()))


@pytest.mark.slow
def test_a_linked_panel_of_cohorts_that_share_no_question_converges():
    """Before the cohorts were pooled (model version 4) this panel gave R-hat 1.023 (bulk
    ESS 291) with sampler seed 2; pooled, R-hat <= 1.003 over seeds 2-5."""
    table = disjoint_two_rounds()
    fit = LinkedRoundsModel().fit(table, random_seed=2)
    diagnostics = summarize_linked(fit, table)["diagnostics"]
    assert diagnostics["divergences"] == 0 and diagnostics["max_rhat"] <= 1.01
    assert json.loads(fit.posterior.attrs["pooled_cohorts"]) == [["ROK"], ["US"]]


@pytest.mark.parametrize("n_rounds", [1, 2, 3, 5])
def test_the_round_basis_is_a_rotation_whose_first_axis_is_the_rounds_mean(n_rounds):
    basis = round_basis(n_rounds)
    assert np.allclose(basis.T @ basis, np.eye(n_rounds))
    assert np.allclose(basis @ basis.T, np.eye(n_rounds))
    assert np.allclose(basis[:, 0], 1.0 / np.sqrt(n_rounds))


def test_the_rotated_coordinates_state_the_same_prior_as_independent_rounds():
    """mu and kappa (and delta, the same way) are sampled rotated across rounds
    (round_basis); their prior must still be what the docstring states, independent per
    round: the log prior of any point is the sum of the per-round Normal log densities of
    the unrotated values."""
    _, table = two_rounds(n_questions=3)
    data = LinkedPanelData.from_table(table)
    model = LinkedRoundsModel().build_model(data)
    point = model.initial_point()
    rng = np.random.default_rng(0)
    point["mu_rotated"] = rng.normal(0.0, 2.0, point["mu_rotated"].shape)
    point["kappa_rotated"] = rng.normal(0.0, 1.0, point["kappa_rotated"].shape)
    point["delta_rotated_zerosum__"] = rng.normal(0.0, 1.0, point["delta_rotated_zerosum__"].shape)
    outputs = [
        model.logp(vars=[model["mu_rotated"]]),
        model.logp(vars=[model["kappa_rotated"]]),
        *model.replace_rvs_by_values(
            [model["mu_question"], model["kappa_question"], model["delta_cohort"]]
        ),
    ]
    function = pytensor.function(
        model.value_vars, outputs, on_unused_input="ignore", mode="FAST_COMPILE"
    )
    logp_mu, logp_kappa, mu, kappa, delta = function(*(point[v.name] for v in model.value_vars))
    # delta (question, round, cohort): still zero-sum over the cohorts, and the rotation
    # across rounds keeps each question's length (the zero-sum coordinates are isometric)
    raw = delta / np.exp(point["delta_scale_log__"])
    assert np.allclose(raw.sum(axis=2), 0.0)
    assert np.allclose(
        (raw**2).sum(axis=(1, 2)), (point["delta_rotated_zerosum__"] ** 2).sum(axis=(1, 2))
    )
    cfg = LinkedRoundsModel().model_config
    kappa_raw = (np.log(kappa) - point["log_kappa_mean"]) / np.exp(point["kappa_scale_log__"])
    assert logp_mu == pytest.approx(float(stats.norm(0.0, cfg["mu_sd"]).logpdf(mu).sum()))
    assert logp_kappa == pytest.approx(float(stats.norm(0.0, 1.0).logpdf(kappa_raw).sum()))


@pytest.mark.slow
def test_the_change_between_rounds_is_recovered_with_the_pairing():
    _, table = two_rounds(n_experts=24, n_questions=6, shift_q01=2.0, move=0.5)
    model = LinkedRoundsModel()
    result = summarize_linked(model.fit(table, random_seed=1), table)
    diagnostics = result["diagnostics"]
    assert diagnostics["divergences"] == 0 and diagnostics["max_rhat"] <= 1.01
    q01 = result["questions"]["Q01"]["consensus_shift"]
    assert q01["interval"][0] > 0 and q01["p_increase"] > 0.95  # the planted rise

    # on the log-odds scale Q01 moved most: half of its planted 2.0, the others only by
    # the experts' moving toward their question's truth
    def logodds_shift(question):
        rounds = result["questions"][question]["rounds"]
        return logit(rounds["2"]["consensus"]["mean"]) - logit(rounds["1"]["consensus"]["mean"])

    others = [abs(logodds_shift(q)) for q in ("Q02", "Q03", "Q04", "Q05", "Q06")]
    assert logodds_shift("Q01") > max(others)
    # everyone moved 40 % of the way to the truth: the spread shrank
    assert result["panel"]["median_disagreement_ratio"]["interval"][1] < 1.0
    assert 0.1 < result["persistence"]["mean"] < 1.0
    assert result["n_linked_pairs"] == 24 * 6


@pytest.mark.slow
def test_a_panel_that_mostly_keeps_its_answers_does_not_pin_the_persistence():
    """Kept answers are a choice (an interval around the previous answer), not a second
    exact observation: with 70 % kept, the persistence is still learned from how far the
    others moved, well inside (0, 1), as is the keep tolerance."""
    _, table = two_rounds(n_experts=24, n_questions=8, keep=0.7, move=0.5, seed=5)
    fit = LinkedRoundsModel().fit(table, random_seed=2)
    # "auto" draws: a small panel (384 answers) draws 2,000 a chain
    assert json.loads(fit.posterior.attrs["sampler_config"])["draws"] == 2000
    result = summarize_linked(fit, table)
    assert result["diagnostics"]["max_rhat"] <= 1.01
    assert result["diagnostics"]["divergences"] == 0
    assert result["n_kept"] > 0.6 * result["n_linked_pairs"]
    assert result["persistence"]["interval"][1] < 0.99
    assert result["keep_tolerance"]["interval"][0] > 0.0
