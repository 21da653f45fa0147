"""`manage.py aggregate` as a user runs it: a subprocess, files in, JSON out, no database.

Subprocess runs point DATABASE_URL at a port nothing listens on, so a command that touched
the database would fail. They are few and started together by one fixture, because each
costs one to two seconds of interpreter and Django start-up: a pool round trip, Cooke, and
two bad files for the process-level promise (exit status 2, one line on stderr, no
traceback). The other options and bad inputs run in this process through
``call_command``, which is the same code path short of Django's ``run_from_argv`` (that
turns a CommandError into "CommandError: message" on stderr and its returncode), and where
pytest-django refuses any database access. The hierarchical run samples and is slow.
"""

import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from scipy.special import expit, logit

from aggregation.engine.cooke import cooke_result
from aggregation.engine.data import JudgmentTable
from aggregation.engine.excalibur import read_excalibur
from aggregation.engine.pooling import all_baselines

ROOT = Path(__file__).resolve().parents[2]
COOKE = ROOT / "tests" / "data" / "cooke"
ENV = {
    **os.environ,
    "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
    "PYTENSOR_FLAGS": os.environ.get(
        "PYTENSOR_FLAGS", f"base_compiledir={ROOT / 'var' / 'pytensor'}"
    ),
}

TWO_ROUNDS = """expert,cohort,question,probability,round
E1,US,Q1,0.2,1
E2,US,Q1,0.4,1
E3,ROK,Q1,0.6,1
E1,US,Q2,0.5,1
E3,ROK,Q2,0.5,1
E1,US,Q1,0.3,2
E2,US,Q1,0.4,2
E3,ROK,Q1,0.8,2
E2,US,Q2,0.6,2
E3,ROK,Q2,0.7,2
"""
POOLS = ("linear_pool", "median", "logodds_mean", "extremized_logodds")


def aggregate(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "aggregate", *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_inputs(folder: Path) -> Path:
    """The input files every test here reads, written into ``folder``."""
    (folder / "two_rounds.csv").write_text(TWO_ROUNDS)
    (folder / "percent.csv").write_text(TWO_ROUNDS.replace("0.8,2", "80,2"))
    (folder / "unclosed.csv").write_text('expert,cohort,question,probability\nE1,US,Q1,"0.5\n')
    (folder / "separator.csv").write_text(TWO_ROUNDS.replace("E2,US,Q2,0.6,2", "E2,US,Q2,0.6_0,2"))
    (folder / "garbage.dtt").write_text("this is not an EXCALIBUR file\n")
    (folder / "a_folder.csv").mkdir()
    return folder


SUBPROCESS_CASES = {
    "linear_pool": ["two_rounds.csv", "--out", "linear_pool.json", "--method", "linear_pool"],
    "cooke": [COOKE / "CWD.dtt", "--realizations", COOKE / "CWD.rls"]
    + ["--method", "cooke", "--out", "out/cooke.json"],
    "bad csv": ["percent.csv", "--method", "median", "--out", "bad-csv.json"],
    "bad cooke": [COOKE / "CWD.dtt", "--method", "cooke", "--out", "bad-cooke.json"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    folder = write_inputs(tmp_path_factory.mktemp("aggregate"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(aggregate, *args, cwd=folder)
            for name, args in SUBPROCESS_CASES.items()
        }
        return folder, {name: future.result() for name, future in futures.items()}


@pytest.fixture
def inputs(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(write_inputs(tmp_path))
    return tmp_path


def aggregate_here(*args) -> str:
    """Run the command in this process (cwd: the ``inputs`` folder); return its stdout."""
    out = io.StringIO()
    call_command("aggregate", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def result_of(runs, name: str, out: str) -> dict:
    folder, done = runs
    assert done[name].returncode == 0, done[name].stderr
    return json.loads((folder / out).read_text())


def table(survey_round: int) -> JudgmentTable:
    return JudgmentTable.from_csv(io.StringIO(TWO_ROUNDS)).for_round(survey_round)


# ------------------------------------------------------------------ pools


def test_a_linear_pool_round_trip(runs):
    result = result_of(runs, "linear_pool", "linear_pool.json")
    # the last round by default: Q1 = (0.3 + 0.4 + 0.8) / 3 = 0.5, Q2 = (0.6 + 0.7) / 2
    assert result["method"] == "linear_pool"
    assert result["round"] == 2
    assert result["n_judgments"] == 5
    assert result["data_hash"] == table(2).data_hash()
    assert result["questions"]["Q1"]["consensus"] == {"mean": 0.5, "interval": None}
    assert result["questions"]["Q2"]["consensus"] == {"mean": 0.65, "interval": None}
    assert result["questions"]["Q1"]["n_judgments"] == 3
    assert set(result["questions"]["Q1"]["baselines"]) == set(POOLS)
    line = runs[1]["linear_pool"].stdout.strip()
    assert line == "linear_pool: 2 questions, 5 judgments -> linear_pool.json"


@pytest.mark.parametrize("method", POOLS)
def test_every_pool_method_writes_its_consensus_and_all_baselines(inputs, method):
    aggregate_here("two_rounds.csv", "--out", "out.json", "--method", method)
    result = json.loads((inputs / "out.json").read_text())
    expected = all_baselines(table(2))
    assert result["method"] == method
    for question, entry in result["questions"].items():
        # abs 1e-6: the command rounds every number to 6 decimals
        assert entry["consensus"]["mean"] == pytest.approx(expected[question][method], abs=1e-6)
        assert entry["baselines"] == pytest.approx(expected[question], abs=1e-6)


def test_the_extremizing_factor_option_is_honoured(inputs):
    aggregate_here(
        "two_rounds.csv",
        "--out",
        "f.json",
        "--method",
        "extremized_logodds",
        "--extremize-factor",
        2,
    )
    result = json.loads((inputs / "f.json").read_text())
    # Q1 answers 0.3, 0.4, 0.8: expit(2 x mean log-odds); abs 1e-6 as above
    expected = expit(2 * np.mean(logit([0.3, 0.4, 0.8])))
    assert result["questions"]["Q1"]["consensus"]["mean"] == pytest.approx(expected, abs=1e-6)


def test_round_selects_a_round(inputs):
    aggregate_here("two_rounds.csv", "--out", "r.json", "--method", "linear_pool", "--round", 1)
    result = json.loads((inputs / "r.json").read_text())
    assert result["round"] == 1
    assert result["data_hash"] == table(1).data_hash()
    # round 1: Q1 = (0.2 + 0.4 + 0.6) / 3, Q2 = (0.5 + 0.5) / 2
    assert result["questions"]["Q1"]["consensus"]["mean"] == pytest.approx(0.4, abs=1e-6)
    assert result["questions"]["Q2"]["consensus"]["mean"] == 0.5


def test_a_pool_result_carries_the_interval_mass_it_was_asked_for(inputs):
    aggregate_here("two_rounds.csv", "--out", "r.json", "--method", "median", "--interval", 0.8)
    assert json.loads((inputs / "r.json").read_text())["interval_mass"] == 0.8


# ------------------------------------------------------------------ Cooke


def test_cooke_on_an_excalibur_study(runs):
    result = result_of(runs, "cooke", "out/cooke.json")  # the out folder is created
    assert set(result) == {"method", "experts", "decision_makers"}
    assert result["method"] == "cooke"
    assert len(result["experts"]) == 14
    for expert in result["experts"].values():
        assert set(expert) == {"calibration", "info_seed", "info_total", "n_seed_answered"}
    assert set(result["decision_makers"]) == {"global_opt", "item_opt", "global_alpha0", "equal"}
    for dm in result["decision_makers"].values():
        assert set(dm) == {
            "alpha",
            "calibration",
            "info_seed",
            "info_total",
            "weights",
            "quantiles",
        }
        assert set(dm["weights"]) == set(result["experts"])
        assert len(dm["quantiles"]) == 23  # CWD has 23 items
    # the same numbers as the engine's, through JSON (exact: floats survive JSON)
    expected = cooke_result(read_excalibur(COOKE / "CWD.dtt", COOKE / "CWD.rls"))
    assert result == json.loads(json.dumps(expected))
    assert runs[1]["cooke"].stdout.strip().startswith("Cooke's classical model: 14 experts ->")


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("bad csv", "CommandError: percent.csv: line 9: probability 80 is outside [0, 1]"),
        ("bad cooke", "CommandError: --method cooke needs --realizations study.rls"),
    ],
)
def test_a_bad_file_exits_2_with_one_line_on_stderr(runs, case, fragment):
    folder, done = runs
    run = done[case]
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [run.stderr.strip()], "one line, no traceback"
    assert run.stderr.startswith(fragment)
    assert run.stdout == ""
    assert not (folder / SUBPROCESS_CASES[case][-1]).exists()


def bad(case: str, args: list, fragment: str):
    """One bad input: its arguments and a fragment of the one-line message expected."""
    return pytest.param(args, fragment, id=case)


BAD = [
    bad("missing file", ["nothing.csv"], "nothing.csv: no such file: nothing.csv"),
    bad("unclosed quote", ["unclosed.csv"], "unclosed.csv: the file is not valid CSV"),
    bad("probability 80", ["percent.csv"], "percent.csv: line 9: probability 80 is outside [0, 1]"),
    bad("round not there", ["two_rounds.csv", "--round", "3"], "no judgments for round 3"),
    bad(
        "interval 1.5",
        ["two_rounds.csv", "--interval", "1.5"],
        "--interval must be between 0 and 1",
    ),
    bad("interval 0", ["two_rounds.csv", "--interval", "0"], "--interval must be between 0 and 1"),
    bad(
        "cooke without realizations",
        [COOKE / "CWD.dtt", "--method", "cooke"],
        "--method cooke needs --realizations study.rls",
    ),
    bad(
        "malformed dtt",
        ["garbage.dtt", "--method", "cooke", "--realizations", COOKE / "CWD.rls"],
        "garbage.dtt, line 1: expected the header",
    ),
    bad(
        "missing rls",
        [COOKE / "CWD.dtt", "--method", "cooke", "--realizations", "no.rls"],
        "no.rls",
    ),
    bad(
        "a folder",
        ["a_folder.csv"],
        "a_folder.csv",
    ),
    bad(
        "round 0",
        ["two_rounds.csv", "--round", "0"],
        "round",
    ),
    bad(
        "digit separator",
        ["separator.csv"],
        "0.6_0",
    ),
]


@pytest.mark.parametrize(("args", "fragment"), BAD)
def test_bad_input_is_one_clear_line_with_exit_status_2(inputs, args, fragment):
    method = [] if "--method" in args else ["--method", "median"]
    with pytest.raises(CommandError) as caught:
        aggregate_here(*args, *method, "--out", "bad.json")
    assert caught.value.returncode == 2
    message = str(caught.value)
    assert "\n" not in message and fragment in message
    assert not (inputs / "bad.json").exists()


# ------------------------------------------------------------------ the hierarchical model


@pytest.mark.slow
def test_a_hierarchical_run_writes_the_contract_and_a_loadable_posterior(tmp_path):
    """One small sampled run (300 draws, 200 tuning: enough for finite, well-formed output,
    which is what this test claims; recovery is test_recovery.py's job)."""
    from aggregation.engine.hierarchical import HierarchicalFit
    from aggregation.engine.summary import summarize_hierarchical
    from aggregation.engine.synthetic import simulate_binary_panel

    panel = simulate_binary_panel(n_experts=16, n_questions=8, rounding=0.05, seed=11)
    later = panel.judgments.assign(probability=(panel.judgments["probability"] + 0.05).clip(0, 1))
    frame = pd.concat([panel.judgments.assign(round=1), later.assign(round=2)], ignore_index=True)
    frame.to_csv(tmp_path / "panel.csv", index=False)
    run = aggregate(
        "panel.csv",
        "--out",
        "result.json",
        "--round",
        "1",
        "--interval",
        "0.8",
        "--posterior",
        "posterior/fit.nc",
        "--draws",
        "300",
        "--tune",
        "200",
        "--seed",
        "5",
        cwd=tmp_path,
        timeout=400,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    first_round = JudgmentTable.from_frame(frame).for_round(1)

    assert {"method", "interval_mass", "diagnostics", "questions", "experts"} <= set(result)
    assert result["method"] == "hierarchical"
    assert result["interval_mass"] == 0.8
    assert result["round"] == 1
    assert result["data_hash"] == first_round.data_hash()
    assert result["model"]["random_seed"] == 5
    diagnostics = result["diagnostics"]
    assert {"max_rhat", "min_ess_bulk", "divergences", "warnings"} <= set(diagnostics)
    assert np.isfinite(diagnostics["max_rhat"]) and diagnostics["min_ess_bulk"] > 0
    assert len(result["questions"]) == 8 and len(result["experts"]) == 16
    for entry in result["questions"].values():
        assert set(entry["baselines"]) == set(POOLS)
        low, high = entry["consensus"]["interval"]
        assert 0 < low <= entry["consensus"]["mean"] <= high < 1
        # 8 and 8 experts: equal sizes, so the cohorts are in name order
        assert [(g["a"], g["b"]) for g in entry["cohort_gaps"]] == [("ROK", "US")]
    # the summary line and every warning go to stdout; progress goes to stderr
    assert run.stdout.startswith("hierarchical: 8 questions, 128 judgments -> result.json")
    assert "max R-hat" in run.stdout
    assert run.stdout.count("WARNING:") == len(diagnostics["warnings"])
    assert "sampling" in run.stderr and "100%" in run.stderr

    # the posterior file holds this fit: summarising it again gives the same numbers
    fit = HierarchicalFit.load(tmp_path / "posterior" / "fit.nc")
    assert fit.attrs["data_hash"] == first_round.data_hash()
    again = summarize_hierarchical(fit, first_round, interval_mass=0.8)
    forecasts = {q: entry.pop("forecast") for q, entry in result["questions"].items()}
    assert again["questions"] == result["questions"]
    assert again["experts"] == result["experts"]

    # the panel forecast: nothing resolved, so the published prior alone, which extremizes
    assert result["forecast"]["calibration"]["n_resolved"] == 0
    for question, forecast in forecasts.items():
        low, high = forecast["interval"]
        assert 0 <= low <= forecast["mean"] <= high <= 1 and not forecast["resolved"]
        consensus = result["questions"][question]["consensus"]["mean"]
        assert abs(forecast["mean"] - 0.5) >= abs(consensus - 0.5) - 0.05


# ------------------------------------------------------------------ the progress bar

CALLS = [
    ("compiling", 0.0),
    ("compiling", 1.0),
    ("tuning", 0.0),
    ("tuning", 0.5),
    ("tuning", 0.96),  # the engine switches to "sampling" before tuning reports 100 %
    ("sampling", 0.04),
    ("sampling", 0.5),
    ("sampling", 0.5),
    ("sampling", 1.0),
]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress_output(stream: io.StringIO) -> str:
    from aggregation.progress import TerminalProgress

    progress = TerminalProgress(stream)
    for phase, fraction in CALLS:
        progress(phase, fraction)
    return stream.getvalue()


def test_in_a_log_file_each_phase_has_a_line_where_it_starts_and_where_it_ends():
    lines = progress_output(io.StringIO()).splitlines()
    assert [(line.split()[0], line.split("]")[1].split()[0]) for line in lines] == [
        ("compiling", "0%"),
        ("compiling", "100%"),
        ("tuning", "0%"),
        ("tuning", "96%"),  # where tuning ended, written when sampling begins
        ("sampling", "4%"),
        ("sampling", "100%"),
    ]
    assert all("[" in line and line.endswith(" s") for line in lines)


def test_on_a_terminal_each_phase_keeps_one_line_and_there_are_no_blank_lines():
    output = progress_output(Terminal())
    segments = output.split("\n")
    assert segments[-1] == "" and "" not in segments[:-1], repr(output)
    shown = [segment.split("\r")[-1].split()[0] for segment in segments[:-1]]
    assert shown == ["compiling", "tuning", "sampling"], repr(output)


# ------------------------------------------------------------------ linked rounds


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["two_rounds.csv", "--round", "2"], "fits every round"),
        (["one_round.csv"], "at least two rounds"),
    ],
)
def test_linked_rounds_refuse_one_round_with_a_clear_line(inputs, args, fragment):
    lines = TWO_ROUNDS.splitlines()
    (inputs / "one_round.csv").write_text(
        "\n".join([lines[0], *(line for line in lines[1:] if line.endswith(",1"))]) + "\n"
    )
    with pytest.raises(CommandError) as caught:
        aggregate_here(*args, "--method", "linked_rounds", "--out", "bad.json")
    assert caught.value.returncode == 2 and fragment in str(caught.value)
    assert not (inputs / "bad.json").exists()


@pytest.mark.slow
def test_linked_rounds_write_the_persistence_per_round_consensus_and_the_change(tmp_path):
    """The contract of issue 12: top-level persistence {mean, interval}, each question's
    consensus per round and its paired change (small sampled run: well-formed output)."""
    from aggregation.engine.synthetic import simulate_linked_rounds

    _, frame = simulate_linked_rounds(n_experts=12, n_questions=4, keep=0.4, seed=3)
    frame.to_csv(tmp_path / "rounds.csv", index=False)
    out = tmp_path / "linked.json"
    call_command(
        "aggregate", str(tmp_path / "rounds.csv"), "--method", "linked_rounds",
        "--draws", "300", "--tune", "200", "--out", str(out),
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert result["method"] == "linked_rounds" and result["rounds"] == [1, 2]
    low, high = result["persistence"]["interval"]
    assert 0.0 < low <= result["persistence"]["mean"] <= high < 1.0
    assert result["n_judgments"] == 2 * 12 * 4 and result["n_linked_pairs"] == 12 * 4
    assert result["n_kept"] == int(
        (frame.groupby(["expert", "question"])["probability"].nunique() == 1).sum()
    )
    for question in result["questions"].values():
        assert set(question["rounds"]) == {"1", "2"}
        shift = question["consensus_shift"]
        assert shift["interval"][0] <= shift["mean"] <= shift["interval"][1]


def test_outcomes_are_for_the_hierarchical_forecast_and_a_bad_file_fails_before_sampling(
    tmp_path,
):
    (tmp_path / "j.csv").write_text(TWO_ROUNDS)
    (tmp_path / "bad.csv").write_text("question,outcome\nQ1,maybe\n")
    out = str(tmp_path / "r.json")
    with pytest.raises(CommandError, match="--outcomes trains the panel forecast"):
        call_command("aggregate", str(tmp_path / "j.csv"), "--method", "median",
                     "--outcomes", str(tmp_path / "bad.csv"), "--out", out)  # fmt: skip
    with pytest.raises(CommandError, match="bad.csv: .*line 2"):
        call_command("aggregate", str(tmp_path / "j.csv"), "--outcomes",
                     str(tmp_path / "bad.csv"), "--out", out)  # fmt: skip
