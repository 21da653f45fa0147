"""`manage.py evaluate` as a user runs it: two CSVs in, scores JSON (and an SVG) out, no database.

Subprocess runs point DATABASE_URL at a port nothing listens on, so a command that touched
the database would fail. Two bad files go through a subprocess for the process-level
promise (exit status 2, one line on stderr, no traceback); the other bad inputs run in this
process through ``call_command`` (the same code path short of Django's ``run_from_argv``).
The round trip samples (the recalibration and the hierarchical model) and is slow.
"""

import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from scipy import stats

from aggregation.engine.data import JudgmentTable
from aggregation.engine.pooling import all_baselines
from aggregation.engine.scoring import brier_score

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
    "PYTENSOR_FLAGS": os.environ.get(
        "PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'pytensor'}"
    ),
}
POOLS = ("linear_pool", "median", "logodds_mean", "extremized_logodds")


def small_panel() -> tuple[str, str]:
    """12 questions, 4 experts in 2 cohorts; question Q12 is open (no outcome)."""
    rng = np.random.default_rng(0)
    lines, outcomes = ["expert,cohort,question,probability"], ["question,outcome"]
    for j in range(1, 13):
        signal = rng.normal(0.0, 1.5)
        for i in range(4):
            p = 1.0 / (1.0 + np.exp(-(0.6 * signal + rng.normal(0.0, 0.4))))
            lines.append(f"E{i},{'US' if i < 2 else 'ROK'},Q{j:02d},{p:.2f}")
        if j < 12:
            outcomes.append(f"Q{j:02d},{int(rng.random() < 1 / (1 + np.exp(-signal)))}")
    return "\n".join(lines) + "\n", "\n".join(outcomes) + "\n"


def write_inputs(folder: Path) -> Path:
    judgments, outcomes = small_panel()
    (folder / "judgments.csv").write_text(judgments)
    (folder / "outcomes.csv").write_text(outcomes)
    (folder / "percent.csv").write_text(judgments.replace("0.", "", 1))
    (folder / "outcome_two.csv").write_text(
        outcomes.replace("Q03,0", "Q03,2").replace("Q03,1", "Q03,2")
    )
    (folder / "no_outcome_column.csv").write_text("question,result\nQ01,1\n")
    (folder / "duplicate.csv").write_text("question,outcome\nQ01,1\nQ01,0\n")
    (folder / "other_questions.csv").write_text("question,outcome\nX1,1\nX2,0\n")
    (folder / "empty.csv").write_text("")
    (folder / "a_folder.csv").mkdir()
    return folder


def evaluate(*args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "evaluate", *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


BAD_SUBPROCESS_CASES = {
    "bad outcome": (
        ["judgments.csv", "outcome_two.csv", "--out", "s.json"],
        "CommandError: outcome_two.csv: line 4: outcome '2' is not 1 or 0",
    ),
    "missing judgments": (
        ["nowhere.csv", "outcomes.csv", "--out", "s.json"],
        "CommandError: nowhere.csv: no such file: nowhere.csv",
    ),
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    folder = write_inputs(tmp_path_factory.mktemp("evaluate"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(evaluate, *args, cwd=folder)
            for name, (args, _) in BAD_SUBPROCESS_CASES.items()
        }
        return folder, {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", BAD_SUBPROCESS_CASES)
def test_a_bad_file_exits_2_with_one_line_on_stderr(bad_runs, case):
    folder, done = bad_runs
    run = done[case]
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [run.stderr.strip()], "one line, no traceback"
    assert run.stderr.startswith(BAD_SUBPROCESS_CASES[case][1])
    assert not (folder / "s.json").exists()


@pytest.fixture
def inputs(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(write_inputs(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["percent.csv", "outcomes.csv"], "percent.csv: line 2: probability"),
        (["judgments.csv", "no_outcome_column.csv"], "missing column 'outcome'"),
        (["judgments.csv", "duplicate.csv"], "question Q01 has more than one outcome (lines 2, 3)"),
        (["judgments.csv", "empty.csv"], "empty.csv: the file is empty"),
        (["judgments.csv", "a_folder.csv"], "a_folder.csv is a folder, not a CSV file"),
        (["judgments.csv", "other_questions.csv"], "no question has both judgments and an outcome"),
        (["judgments.csv", "outcomes.csv", "--folds", "1"], "--folds must be at least 2"),
        (["judgments.csv", "outcomes.csv", "--folds", "12"], "12 folds but only 11 resolved"),
        (["judgments.csv", "outcomes.csv", "--interval", "1.5"], "--interval must be between"),
        (["judgments.csv", "outcomes.csv", "--round", "2"], "there are no judgments for round 2"),
        (["judgments.csv", "outcomes.csv", "--bins", "0"], "--bins must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_line_with_exit_status_2(inputs, args, fragment):
    with pytest.raises(CommandError) as caught:
        call_command(
            "evaluate", *args, "--out", "s.json", stdout=io.StringIO(), stderr=io.StringIO()
        )
    assert caught.value.returncode == 2
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (inputs / "s.json").exists()


@pytest.mark.slow
def test_a_round_trip_writes_scores_metadata_and_a_calibration_plot(tmp_path):
    folder = write_inputs(tmp_path)
    done = evaluate(
        "judgments.csv",
        "outcomes.csv",
        "--folds",
        3,
        "--seed",
        4,
        "--draws",
        200,
        "--out",
        "out/scores.json",
        "--plot",
        "out/calibration.svg",
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((folder / "out" / "scores.json").read_text())
    methods = result["methods"]
    assert list(methods) == [
        "linear_pool",
        "median",
        "logodds_mean",
        "extremized_logodds",
        "hierarchical",
        "base_rate",
        "recalibrated",
        "forecast",
    ]
    for scores in methods.values():
        assert set(scores) == {"brier", "log_score", "auc", "n"}
        assert scores["n"] == 11  # Q12 is open: not scored
    # the pools' scores are those of their plain forecasts (they learn nothing)
    table = JudgmentTable.from_csv(folder / "judgments.csv")
    baselines = all_baselines(table)
    outcomes = dict(
        line.split(",") for line in (folder / "outcomes.csv").read_text().splitlines()[1:]
    )
    questions = sorted(outcomes)
    y = [int(outcomes[q]) for q in questions]
    for method in POOLS:
        p = [baselines[q][method] for q in questions]
        assert methods[method]["brier"] == pytest.approx(brier_score(p, y), abs=1e-12)
    # each method against the log-odds mean, question by question: the mean difference is
    # the difference of the two Brier scores, and its interval the paired t interval
    comparisons = result["comparisons"]
    assert comparisons["reference"] == "logodds_mean"
    assert set(comparisons["brier"]) == set(methods) - {"logodds_mean"}
    y_of = {q: int(v) for q, v in outcomes.items()}
    reference = result["predictions"]["logodds_mean"]
    for method, c in comparisons["brier"].items():
        expected = methods[method]["brier"] - methods["logodds_mean"]["brier"]
        assert c["difference"] == pytest.approx(expected, abs=1e-12), method
        # the 90 % paired t interval, by hand from the written predictions
        p = result["predictions"][method]
        d = np.array([(p[q] - y_of[q]) ** 2 - (reference[q] - y_of[q]) ** 2 for q in questions])
        half = stats.t.ppf(0.95, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
        # (predictions are written to 6 decimals)
        assert c["interval"] == pytest.approx([d.mean() - half, d.mean() + half], abs=1e-5)
        assert c["lower"] + c["higher"] <= c["n"] == 11
    assert "Brier minus the logodds_mean's" in done.stdout
    assert result["open_questions"] == ["Q12"]
    assert result["folds"]["n_folds"] == 3 and result["folds"]["seed"] == 4
    assert sorted(result["folds"]["assignment"]) == questions
    assert result["metadata"]["data_hash"] == table.data_hash()
    assert "higher is better" in result["metadata"]["scores"]["log_score"]
    assert result["hierarchical"]["sampler_config"]["draws"] == 200
    assert [f["n_resolved"] + f["n_test"] for f in result["recalibration"]["folds"]] == [11] * 3
    assert result["recalibration"]["prior"]["gamma"]["median"] == 2.0
    assert sum(result["calibration"]["recalibrated"]["count"]) == 11
    svg = (folder / "out" / "calibration.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg
    # a table on stdout, progress on stderr
    assert "recalibrated" in done.stdout and "Brier" in done.stdout
    assert "recalibration" in done.stderr and "100%" in done.stderr
