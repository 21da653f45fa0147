"""Recovery of known misperceptions (issue 15's acceptance): panels where each cohort
misjudges the other by a known shared amount plus question noise.

Three panels of 24 experts (two cohorts of 12) x 16 questions, with stereotypes of
opposite signs and a cohort that judges itself right; one has a third of the predictions
blank and a misperception of each question that every cohort shares, one unequal cohorts:
the 90 % intervals of the perception error must hold the truth at least 80 % of the time,
each non-zero shared misperception's sign must be recovered (its interval excludes 0 on the
right side), and the model's error estimates must be closer to the truth than the raw
difference of the two cohorts' means. The actual beliefs are the binary model's.
"""

import numpy as np
import pytest

from aggregation.engine.data import JudgmentTable
from aggregation.engine.hierarchical import BinaryHierarchicalModel
from aggregation.engine.perception import (
    PerceptionFit,
    PerceptionModel,
    add_perception,
    perception_draws,
    raw_perception_errors,
    summarize_perception,
)
from aggregation.engine.summary import summarize_hierarchical
from aggregation.engine.synthetic import simulate_perception_panel

STEREOTYPE = {("US", "ROK"): 0.8, ("ROK", "US"): -0.6}
PANELS = [
    {"seed": 11},
    {"seed": 12, "prediction_rate": 0.7, "common_part_sd": 0.4},  # blanks, shared parts
    {"seed": 13, "cohorts": {"US": 0.6, "ROK": 0.4}},  # unequal cohorts
]


@pytest.fixture(scope="module")
def fitted():
    model = PerceptionModel()
    out = []
    for options in PANELS:
        sim = simulate_perception_panel(
            n_experts=24, n_questions=16, stereotype=STEREOTYPE, **options
        )
        table = JudgmentTable.from_frame(sim.judgments)
        belief = BinaryHierarchicalModel().fit(table, random_seed=options["seed"])
        fit = model.fit(table, random_seed=options["seed"], belief=belief)
        out.append((sim, table, summarize_perception(fit, table), belief))
    return out


@pytest.mark.slow
def test_perception_errors_are_covered_and_beat_the_raw_difference(fitted):
    hits, model_errors, raw_errors = [], [], []
    for sim, table, result, _belief in fitted:
        raw = raw_perception_errors(table).set_index(["question", "by", "of"])["error"]
        for question, rows in result["questions"].items():
            for row in rows:
                truth = sim.error[(question, row["by"], row["of"])]
                low, high = row["error"]["interval"]
                hits.append(low <= truth <= high)
                model_errors.append(row["error"]["mean"] - truth)
                raw_errors.append(raw[(question, row["by"], row["of"])] - truth)
    coverage = float(np.mean(hits))
    model_rmse = float(np.sqrt(np.mean(np.square(model_errors))))
    raw_rmse = float(np.sqrt(np.mean(np.square(raw_errors))))
    print(
        f"coverage {coverage:.3f} over {len(hits)}; RMSE model {model_rmse:.4f} raw {raw_rmse:.4f}"
    )
    assert coverage >= 0.80
    assert model_rmse < raw_rmse


@pytest.mark.slow
def test_the_sign_of_each_shared_misperception_is_recovered(fitted):
    for _sim, _table, result, _belief in fitted:
        shared = {(s["by"], s["of"]): s for s in result["shared"]}
        for pair, truth in STEREOTYPE.items():
            low, high = shared[pair]["logodds"]["interval"]
            assert (low > 0) if truth > 0 else (high < 0), (pair, shared[pair])
        for own in (("US", "US"), ("ROK", "ROK")):  # a cohort judging itself right
            low, high = shared[own]["logodds"]["interval"]
            assert low < 0.3 and high > -0.3, (own, shared[own])


@pytest.mark.slow
def test_every_fit_converged(fitted):
    for _sim, _table, result, _belief in fitted:
        diagnostics = result["diagnostics"]
        assert diagnostics["max_rhat"] <= 1.01, diagnostics["warnings"]
        assert diagnostics["divergences"] == 0
        assert diagnostics["min_ess_bulk"] >= 400, diagnostics["warnings"]


@pytest.mark.slow
def test_a_fit_gives_the_contract_and_reuses_its_compiled_model_with_new_labels(fitted, tmp_path):
    sim, table, _, belief = fitted[0]
    model = PerceptionModel()
    fit = model.fit(table, random_seed=11, belief=belief)  # compiled by the fixture: reused
    assert fit.posterior.attrs["compiled_model_reused"] == 1
    result = {"questions": {q: {} for q in table.questions}}
    add_perception(result, table, fit=fit)

    rows = result["questions"]["Q01"]["perception"]
    pairs = {("US", "US"), ("US", "ROK"), ("ROK", "US"), ("ROK", "ROK")}
    assert {(r["by"], r["of"]) for r in rows} == pairs
    for row in rows:
        assert row["error"]["interval"][0] <= row["error"]["mean"] <= row["error"]["interval"][1]
        assert row["error"]["mean"] == pytest.approx(
            row["predicted"]["mean"] - row["actual"]["mean"], abs=1e-5
        )
        assert 0.0 <= row["p_overestimates"] <= 1.0
        assert row["n_predictions"] == 12  # every expert of the predicting cohort
    assert result["questions"]["Q01"]["surprisingly_popular"]["answer"] in ("yes", "no")
    block = result["perception"]
    assert {"shared", "diagnostics", "reciprocal_scores", "model"} <= set(block)
    assert {(s["by"], s["of"]) for s in block["shared"]} == pairs

    again = PerceptionFit.load(fit.save(tmp_path / "perception.nc"))
    assert np.allclose(perception_draws(again)["error"], perception_draws(fit)["error"])

    # what a cohort actually believes is the binary model's cohort belief, never moved by
    # the predictions (the cut)
    cohorts = summarize_hierarchical(belief, table)["questions"]
    for question, entry in result["questions"].items():
        for row in entry["perception"]:
            expected = cohorts[question]["cohorts"][row["of"]]["mean"]
            assert row["actual"]["mean"] == pytest.approx(expected, abs=0.01)

    # same shape, other labels: the labels of the posterior are the new data's
    renamed = sim.judgments.assign(question=sim.judgments["question"].str.replace("Q", "X"))
    renamed_table = JudgmentTable.from_frame(renamed)
    second = model.fit(renamed_table, random_seed=2)
    assert second.posterior.attrs["compiled_model_reused"] == 1
    labels = sorted(summarize_perception(second, renamed_table)["questions"])
    assert labels == [f"X{j:02d}" for j in range(1, 17)]
