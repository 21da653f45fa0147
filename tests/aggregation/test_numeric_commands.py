"""`manage.py aggregate` and `manage.py evaluate` on numeric (5/50/95 %) judgments, as a user
runs them: files in, the DESIGN.md contract out, no database. Both sample, so both are slow."""

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from aggregation.engine.quantiles import QuantileTable
from aggregation.engine.synthetic import simulate_quantile_panel

COOKE = Path(__file__).resolve().parents[1] / "data" / "cooke"
QUICK = ["--draws", "300"]


@pytest.fixture
def panel_files(tmp_path):
    panel = simulate_quantile_panel(n_experts=8, n_questions=6, n_seeds=4, seed=2)
    judgments = tmp_path / "quantiles.csv"
    QuantileTable.from_rows(panel.rows).frame.drop(columns=["round"]).to_csv(judgments, index=False)
    realized = tmp_path / "realized.csv"
    realized.write_text(
        "question,value\n" + "".join(f"{q},{panel.truth[q]}\n" for q in panel.seeds)
    )
    return panel, judgments, realized


@pytest.mark.slow
def test_aggregate_writes_the_numeric_contract_for_every_question(panel_files, tmp_path):
    panel, judgments, realized = panel_files
    out = tmp_path / "result.json"
    call_command("aggregate", str(judgments), "--realizations", str(realized), "--out", str(out))
    result = json.loads(out.read_text())
    assert result["kind"] == "numeric" and result["n_seeds"] == 4
    assert set(result["questions"]) == set(panel.truth)
    for question, entry in result["questions"].items():
        f = entry["forecast"]
        if entry["seed"]:  # its truth is known: the forecast is that value
            assert f["q05"] == f["q50"] == f["q95"] == pytest.approx(panel.truth[question])
        else:
            assert f["q05"] < f["q50"] < f["q95"]
        low, high = entry["median"]["interval"]
        assert low <= entry["median"]["mean"] <= high
        assert set(entry["baselines"]) == {
            "equal_weight", "cooke_global", "cooke_item", "quantile_average"
        }  # fmt: skip
        assert entry["baselines"]["cooke_global"] is not None  # there are seeds
        assert {g["a"] for g in entry["cohort_gaps"]} == {"ROK"}
    ratios = [e["confidence_ratio"]["mean"] for e in result["experts"].values()]
    assert all(r > 0 for r in ratios)
    assert result["diagnostics"]["max_rhat"] is not None


@pytest.mark.slow
def test_evaluate_cross_validates_every_numeric_method(panel_files, tmp_path):
    panel, judgments, realized = panel_files
    out = tmp_path / "scores.json"
    call_command("evaluate", str(judgments), str(realized), "--out", str(out), *QUICK)
    scores = json.loads(out.read_text())
    assert scores["kind"] == "numeric"
    methods = scores["methods"]
    assert {"hierarchical", "equal_weight", "cooke_global", "cooke_item"} <= set(methods)
    for name, s in methods.items():
        assert s["n"] == 4, name
        assert 0.0 <= s["hit_rate_90"] <= 1.0
        assert s["interval_score"] > 0
        predicted = scores["predictions"][name]
        assert set(predicted) == set(panel.seeds)
    # The scores are those of the predictions it wrote: recompute one by hand.
    q = scores["predictions"]["equal_weight"]
    hits = [q[s]["q05"] <= panel.truth[s] <= q[s]["q95"] for s in panel.seeds]
    assert methods["equal_weight"]["hit_rate_90"] == pytest.approx(np.mean(hits))
    # each method against the equal-weight decision maker, item by item (no interval:
    # scoring.paired_difference says why)
    comparisons = scores["comparisons"]
    assert set(comparisons["interval_score"]) == set(methods) - {"equal_weight"}
    for name, c in comparisons["interval_score"].items():
        expected = methods[name]["interval_score"] - methods["equal_weight"]["interval_score"]
        assert c["difference"] == pytest.approx(expected, abs=1e-12), name
        assert c["interval"] is None and c["n"] == 4


@pytest.mark.slow
def test_evaluate_reads_an_excalibur_study_of_five_quantiles(tmp_path):
    """tobacco elicited 5/25/50/75/95 %: the numeric model reads its 5/50/95 %."""
    out = tmp_path / "tobacco.json"
    call_command(
        "evaluate", str(COOKE / "tobacco.dtt"), str(COOKE / "tobacco.rls"), "--out", str(out),
        *QUICK,
    )  # fmt: skip
    scores = json.loads(out.read_text())
    assert scores["methods"]["hierarchical"]["n"] == scores["n_seeds"] >= 2


def test_evaluate_says_what_is_missing_without_enough_realizations(panel_files, tmp_path):
    _panel, judgments, _realized = panel_files
    one = tmp_path / "one.csv"
    one.write_text("question,value\nN000,3.0\n")
    with pytest.raises(CommandError, match="at least 2 seed questions"):
        call_command("evaluate", str(judgments), str(one), "--out", str(tmp_path / "x.json"))
