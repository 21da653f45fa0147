"""Meta-predictions: the meta_<cohort> columns, the closed-form scores checked by hand, and
the perception model's data and statement (its real fits are in test_perception_recovery.py)."""

import io

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from aggregation.engine.data import JudgmentDataError, JudgmentTable
from aggregation.engine.perception import (
    PerceptionData,
    PerceptionDataError,
    PerceptionModel,
    pivot_forecasts,
    raw_perception_errors,
    reciprocal_scores,
)
from aggregation.engine.synthetic import simulate_perception_panel

SMALL = """expert,cohort,question,probability,meta_US,meta_ROK
A,US,Q1,0.6,0.7,0.4
B,US,Q1,0.8,,0.2
C,ROK,Q1,0.3,0.5,0.3
A,US,Q2,0.5,0.5,0.5
C,ROK,Q2,0.9,0.6,
"""


def table_of(text: str) -> JudgmentTable:
    return JudgmentTable.from_csv(io.StringIO(text))


def problems_of(text: str) -> list[str]:
    with pytest.raises(JudgmentDataError) as caught:
        table_of(text)
    return caught.value.problems


# --------------------------------------------------------------------- the columns
def test_meta_columns_keep_the_cohorts_spelling_and_blanks_are_no_prediction():
    table = table_of(SMALL.replace("meta_US", "META_us"))
    assert table.meta_cohorts == ["US", "ROK"]
    meta = table.meta_predictions()
    assert len(meta) == 8  # ten cells, two blank
    row = meta[(meta["expert"] == "A") & (meta["question"] == "Q1") & (meta["of"] == "ROK")]
    assert row["probability"].tolist() == [0.4]
    assert row["cohort"].tolist() == ["US"]
    assert set(meta.columns) == {"expert", "cohort", "question", "round", "of", "probability"}


def test_a_table_without_meta_columns_has_no_meta_predictions():
    table = table_of("expert,cohort,question,probability\nA,US,Q1,0.5\n")
    assert table.meta_cohorts == []
    assert table.meta_predictions().empty


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (("meta_ROK", "meta_JP"), "column 'meta_JP' names cohort 'JP'"),
        (("0.7,0.4", "0.7,40"), "line 2: meta_ROK 40 is outside [0, 1]"),
        (("0.7,0.4", "0.7,abc"), "line 2: meta_ROK 'abc' is not a number"),
        (("meta_US,meta_ROK", "meta_US,meta_us"), "two meta columns name the same cohort"),
    ],
)
def test_bad_meta_columns_are_named(change, fragment):
    problems = problems_of(SMALL.replace(*change))
    assert any(fragment in p for p in problems), problems


def test_a_changed_meta_prediction_changes_the_data_hash():
    assert table_of(SMALL).data_hash() != table_of(SMALL.replace("0.7,0.4", "0.7,0.45")).data_hash()


# ------------------------------------------------------------ closed-form, by hand
def test_reciprocal_scores_leave_the_predictors_own_answer_out():
    scores = reciprocal_scores(table_of(SMALL))
    # A on Q1: US without A = median of B's 0.8 -> (0.7-0.8)^2; ROK = C's 0.3 -> (0.4-0.3)^2.
    # A on Q2: US without A: nobody, not scored; ROK = 0.9 -> (0.5-0.9)^2.
    assert scores["experts"]["A"]["n"] == 3
    assert scores["experts"]["A"]["score"] == pytest.approx((0.01 + 0.01 + 0.16) / 3)
    # C on Q1: US median of 0.6, 0.8 = 0.7 -> 0.04; ROK without C: nobody. C on Q2: US 0.5
    assert scores["experts"]["C"] == {"cohort": "ROK", "score": pytest.approx(0.025), "n": 2}
    # B on Q1: ROK = 0.3 -> (0.2-0.3)^2
    assert scores["experts"]["B"]["score"] == pytest.approx(0.01)
    pairs = {(p["by"], p["of"]): p for p in scores["pairs"]}
    assert pairs[("US", "ROK")]["n"] == 3
    assert pairs[("US", "ROK")]["score"] == pytest.approx((0.01 + 0.16 + 0.01) / 3)
    assert "median" in scores["rule"]


def test_reciprocal_scores_target_the_median_not_the_mean():
    text = (
        "expert,cohort,question,probability,meta_US,meta_ROK\n"
        "A,US,Q,0.1,,0.2\nB,ROK,Q,0.2,,\nC,ROK,Q,0.3,,\nD,ROK,Q,0.95,,\n"
    )
    # ROK answered 0.2, 0.3, 0.95: median 0.3 (the mean would be 0.483)
    assert reciprocal_scores(table_of(text))["experts"]["A"]["score"] == pytest.approx(0.01)


def test_pivot_and_surprisingly_popular_by_hand():
    frame = pivot_forecasts(table_of(SMALL)).set_index("question")
    # Q1: answers 0.6, 0.8 (US), 0.3 (ROK): shares US 2/3, ROK 1/3; mean 17/30.
    # A predicts 2/3*0.7 + 1/3*0.4 = 0.6; B only ROK: 0.2; C: 2/3*0.5 + 1/3*0.3 = 13/30.
    predicted = (0.6 + 0.2 + 13 / 30) / 3
    assert frame.loc["Q1", "mean_answer"] == pytest.approx(17 / 30)
    assert frame.loc["Q1", "predicted_answer"] == pytest.approx(predicted)
    assert frame.loc["Q1", "pivot"] == pytest.approx(2 * 17 / 30 - predicted)
    assert frame.loc["Q1", "surprisingly_popular"] == "yes"
    # Q2: mean 0.7; A predicts 0.5, C only US: 0.6 -> mean 0.55; pivot 0.85
    assert frame.loc["Q2", "pivot"] == pytest.approx(0.85)


def test_the_pivot_is_clipped_to_a_probability():
    text = "expert,cohort,question,probability,meta_US,meta_ROK\nA,US,Q,0.99,0.1,0.1\nB,ROK,Q,0.99,0.1,0.1\n"
    assert pivot_forecasts(table_of(text))["pivot"].tolist() == [0.995]


def test_raw_errors_are_mean_prediction_minus_mean_answer():
    raw = raw_perception_errors(table_of(SMALL)).set_index(["question", "by", "of"])["error"]
    assert raw[("Q1", "US", "ROK")] == pytest.approx((0.4 + 0.2) / 2 - 0.3)
    assert raw[("Q2", "ROK", "US")] == pytest.approx(0.6 - 0.5)


# ---------------------------------------------------------------- the model's data
def test_perception_data_codes_pairs_and_cells():
    data = PerceptionData.from_table(table_of(SMALL))
    assert data.pairs == [("ROK", "ROK"), ("ROK", "US"), ("US", "ROK"), ("US", "US")]
    assert len(data.z) == 8 and data.predictors == ["A", "B", "C"]
    anchor = np.array([[0.1, 0.2], [0.3, 0.4]])  # (cohort ROK, US) x (question Q1, Q2)
    arrays = data.model_arrays(anchor)
    # every prediction's anchor is the belief of the cohort it predicts, on its question
    for k in range(len(data.z)):
        of = data.cohorts.index(data.pairs[arrays["meta_pair"][k]][1])
        assert arrays["anchor"][k] == anchor[of, data.meta_question[k]]
    assert len(set(arrays["meta_cell"].tolist())) == len(data.cells)


def test_predictions_of_a_cohort_absent_from_the_round_are_left_out():
    text = (
        "expert,cohort,question,probability,round,meta_US,meta_JP\n"
        "A,US,Q,0.5,2,0.4,0.3\nB,ROK,Q,0.5,2,0.5,0.2\nC,JP,Q,0.5,1,0.5,0.2\n"
    )
    data = PerceptionData.from_table(table_of(text).for_round(2))
    assert {of for _, of in data.pairs} == {"US"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("expert,cohort,question,probability\nA,US,Q,0.5\nB,ROK,Q,0.5\n", "no meta-predictions"),
        (
            "expert,cohort,question,probability,meta_US\nA,US,Q,0.5,0.4\nB,US,Q,0.5,0.5\n",
            "2 cohorts",
        ),
        (
            "expert,cohort,question,probability,round,meta_US\nA,US,Q,0.5,1,0.4\nB,ROK,Q,0.5,2,0.5\n",
            "one round at a time",
        ),
    ],
)
def test_tables_the_model_cannot_read_are_refused_with_the_reason(text, fragment):
    with pytest.raises(PerceptionDataError, match=fragment):
        PerceptionData.from_table(table_of(text))


def test_a_binary_fit_that_pooled_the_cohorts_is_refused_with_the_reason():
    """Cohorts answering different questions: the binary fit pools them (no cohort
    beliefs), so there is no actual belief to hold the meta-predictions against."""
    import xarray as xr

    from aggregation.engine.hierarchical import HierarchicalFit
    from aggregation.engine.perception import PerceptionModel

    table = table_of(
        "expert,cohort,question,probability,meta_US,meta_ROK\n"
        "A,US,Q1,0.5,0.4,0.3\nB,US,Q1,0.6,0.5,0.2\nC,ROK,Q2,0.5,0.5,0.2\nD,ROK,Q2,0.4,0.5,0.4\n"
    )
    belief = HierarchicalFit(
        xr.DataTree(
            dataset=xr.Dataset(
                attrs={
                    "data_hash": PerceptionData.from_table(table).data_hash,
                    "pooled_cohorts": '[["ROK"], ["US"]]',
                }
            )
        )
    )
    with pytest.raises(PerceptionDataError, match="no two cohorts answered a common question"):
        PerceptionModel().fit(table, random_seed=0, belief=belief)


def test_the_pymc_statement_has_a_finite_density_at_its_initial_point():
    data = PerceptionData.from_table(table_of(SMALL))
    model = PerceptionModel().build_model(data, np.zeros((2, 2)))
    logp = model.compile_logp()(model.initial_point())
    assert np.isfinite(logp)
    assert {"stereotype", "question_part", "omega", "tau"} <= set(model.named_vars)


def test_the_simulated_truth_is_the_typical_experts_misperception():
    sim = simulate_perception_panel(
        n_experts=8, n_questions=3, stereotype={("US", "ROK"): 0.8}, part_sd=0.0, seed=0
    )
    theta = sim.panel.mu + sim.panel.delta[:, sim.panel.cohorts.index("ROK")]
    expected = expit(theta + 0.8) - expit(theta)
    got = [sim.error[(q, "US", "ROK")] for q in sim.panel.questions]
    assert np.allclose(got, expected)
    assert all(sim.error[(q, "ROK", "US")] == 0.0 for q in sim.panel.questions)
    # predictions are given as probabilities rounded to 0.01, in meta_<cohort> columns
    values = pd.to_numeric(sim.judgments["meta_ROK"])
    assert np.allclose(values, values.round(2))
