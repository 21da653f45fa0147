"""The numeric model: how answers are read, its data, its forecasts on simulated panels,
and a cross-validation that never lets a fold see its own value."""

import numpy as np
import pytest

from aggregation.engine.numeric import (
    NumericHierarchicalModel,
    NumericPanelData,
    baselines,
    leave_one_seed_out,
    split_normal_quantiles,
    summarize_numeric,
)
from aggregation.engine.quantiles import QuantileTable
from aggregation.engine.synthetic import simulate_quantile_panel

QUICK = {"draws": 300, "tune": 300, "chains": 2}


def test_answers_are_read_as_a_split_normal_with_exactly_their_quantiles():
    median, left, right = 10.0, 2.0, 7.0  # a skewed answer: 6.7 / 10 / 21.5
    q05, q50, q95 = split_normal_quantiles(median, left, right)
    assert q50 == median
    assert q05 == pytest.approx(median - 1.6448536 * left)
    assert q95 == pytest.approx(median + 1.6448536 * right)
    table = QuantileTable.from_rows(
        [{"expert": "a", "question": "N", "q05": q05, "q50": q50, "q95": q95},
         {"expert": "b", "question": "N", "q05": 1, "q50": 2, "q95": 4}]
    )  # fmt: skip
    data = NumericPanelData.from_table(table)
    k = table.experts.index("a")
    unit = data.unit[0]
    assert data.left[k] * unit == pytest.approx(left)
    assert data.right[k] * unit == pytest.approx(right)


def test_log_scale_questions_are_read_on_the_log_scale():
    table = QuantileTable.from_rows(
        [{"expert": e, "question": "N", "q05": 1, "q50": 10, "q95": 100, "scale": "log"}
         for e in ("a", "b")]
    )  # fmt: skip
    data = NumericPanelData.from_table(table)
    assert data.left[0] == pytest.approx(data.right[0])  # symmetric in log units
    assert data.to_scale(0.0, 0) == pytest.approx(10.0)


def test_baselines_need_seeds_for_cookes_weights():
    panel = simulate_quantile_panel(n_experts=6, n_questions=4, n_seeds=0)
    table = QuantileTable.from_rows(panel.rows)
    base = baselines(table, {})
    assert all(b["cooke_global"] is None and b["equal_weight"] for b in base.values())
    with_seeds = baselines(table, {q: panel.truth[q] for q in table.questions[:3]})
    assert with_seeds["N003"]["cooke_global"] is not None


@pytest.mark.slow
def test_no_fold_sees_its_own_value():
    """Move the held-out realization far away: no method's prediction of it changes."""
    panel = simulate_quantile_panel(n_experts=8, n_questions=5, n_seeds=4, seed=3)
    table = QuantileTable.from_rows(panel.rows)
    realized = {q: panel.truth[q] for q in panel.seeds}
    model = NumericHierarchicalModel(sampler_config=QUICK)
    first = leave_one_seed_out(table, realized, model=model)
    moved = {**realized, panel.seeds[0]: realized[panel.seeds[0]] + 500.0}
    second = leave_one_seed_out(table, moved, model=model)
    for method, predictions in first["predictions"].items():
        assert predictions[panel.seeds[0]] == second["predictions"][method][panel.seeds[0]], method
    assert first["methods"]["hierarchical"]["n"] == 4


@pytest.mark.slow
def test_recovery_on_simulated_panels():
    """Over-confident and biased experts, a shared panel error, two cohorts, 10 seeds."""
    hits, model_is, average_is, model_err, median_err = [], [], [], [], []
    planted_below_one = []
    for seed in range(3):
        panel = simulate_quantile_panel(n_experts=24, n_questions=30, n_seeds=10,
                                        overconfident=(0,), seed=seed)  # fmt: skip
        table = QuantileTable.from_rows(panel.rows)
        realized = {q: panel.truth[q] for q in panel.seeds}
        data = NumericPanelData.from_table(table, realized)
        tree = NumericHierarchicalModel().fit(data, random_seed=seed)
        result = summarize_numeric(tree, data, table, realized)
        assert result["diagnostics"]["max_rhat"] <= 1.01
        assert result["diagnostics"]["divergences"] == 0
        frame = table.frame
        for question, entry in result["questions"].items():
            if entry["seed"]:
                continue
            x = panel.truth[question]
            f, avg = entry["forecast"], entry["baselines"]["quantile_average"]
            answers = frame[frame["question"] == question]
            spread = answers["q95"].max() - answers["q05"].min()
            hits.append(f["q05"] <= x <= f["q95"])
            model_is.append(_interval_score(f, x) / spread)
            average_is.append(_interval_score(avg, x) / spread)
            model_err.append(abs(f["q50"] - x))
            median_err.append(abs(answers["q50"].median() - x))
        ratio = result["experts"]["E000"]["confidence_ratio"]["interval"]
        planted_below_one.append(ratio[1] < 1.0)
    assert 0.80 <= np.mean(hits) <= 0.97, np.mean(hits)
    assert all(planted_below_one)
    _SCORES.update(
        model_is=np.mean(model_is), average_is=np.mean(average_is),
        model_err=np.mean(model_err), median_err=np.mean(median_err),
    )  # fmt: skip


_SCORES: dict = {}


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 10 is open: on these panels the forecast's interval score (0.225) is still "
    "a little above the quantile average's (0.222), and its median a little farther from the "
    "truth (3.49) than the median of the medians (3.44); strict, so that it reports when the "
    "model gets there",
)
def test_recovery_forecast_beats_the_simple_summaries():
    if not _SCORES:
        test_recovery_on_simulated_panels()
    assert _SCORES["model_is"] < _SCORES["average_is"], _SCORES
    assert _SCORES["model_err"] <= _SCORES["median_err"], _SCORES


def _interval_score(q: dict, x: float) -> float:
    low, high = q["q05"], q["q95"]
    return (high - low) + 20 * max(low - x, 0) + 20 * max(x - high, 0)
