"""Reading EXCALIBUR .dtt/.rls files and building studies from tables."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aggregation.engine.cooke import CookeInputError, CookeStudy
from aggregation.engine.excalibur import read_excalibur

DATA = Path(__file__).resolve().parents[2] / "data" / "cooke"


def read_study(name: str) -> CookeStudy:
    return read_excalibur(DATA / f"{name}.dtt", DATA / f"{name}.rls")


# study, experts, items, seed items, quantile levels (%), log items
STUDIES = [
    ("Biol agents", 12, 37, 12, (5, 50, 95), 22),
    ("CREATE", 7, 10, 10, (5, 50, 95), 0),
    ("CWD", 14, 23, 10, (5, 50, 95), 0),
    ("Daniela", 4, 17, 7, (5, 50, 95), 0),
    ("GDP2300", 9, 11, 11, (5, 50, 95), 0),
    ("GL-NIS", 9, 100, 13, (5, 50, 95), 0),
    ("puig-gdp", 9, 19, 13, (5, 50, 95), 0),
    ("Sheep Scab", 14, 15, 15, (5, 50, 95), 0),
    ("tobacco", 7, 21, 10, (5, 25, 50, 75, 95), 0),
    ("umd", 9, 60, 11, (5, 50, 95), 0),
]


@pytest.mark.parametrize(("name", "n_experts", "n_items", "n_seeds", "levels", "n_log"), STUDIES)
def test_reads_every_shared_study(name, n_experts, n_items, n_seeds, levels, n_log):
    study = read_study(name)
    assert study.assessments.shape == (n_experts, n_items, len(levels))
    assert study.is_seed.sum() == n_seeds
    assert study.quantile_levels == pytest.approx([q / 100 for q in levels])
    assert study.is_log.sum() == n_log
    assert np.all(np.diff(study.assessments, axis=-1)[study.answered] > 0)


def test_daniela_has_one_missing_answer():
    study = read_study("Daniela")
    assert study.experts == ("Exp1", "Exp2", "Exp3", "Exp4")
    missing = np.argwhere(~study.answered)
    assert [(study.experts[e], study.items[i]) for e, i in missing] == [("Exp2", "Q7")]
    assert not study.is_seed[study.items.index("Q7")]  # a target item


def test_reads_names_with_spaces_scales_and_realizations():
    study = read_study("Biol agents")
    assert study.items[:2] == ("Dead dogs", "VEE mortality")
    assert study.scales[:3] == ("log", "log", "uni")
    assert study.realizations[0] == 47.0
    assert np.isnan(study.realizations[12])  # q01: -9.996E+002, a target
    np.testing.assert_array_equal(study.assessments[0, 0], [0.01, 30.0, 80.0])


# ------------------------------------------------------------------ malformed files

HEADER = "* CLASS ASCII OUTPUT FILE. NQ=   3   QU=   5  50  95"


def dtt_line(expert_no, expert, item_no, item, scale, values):
    numbers = " ".join(f"{v: .5E}" for v in values)
    return f"{expert_no:5d}{expert:>9s}{item_no:5d}{item:>15s} {scale} {numbers}"


def rls_line(item_no, item, value, scale="UNI"):
    return f"{item_no:5d}{item:>15s} {value: .5E} {scale}"


def tiny_files(tmp_path, dtt_lines=None, rls_lines=None, header=HEADER):
    """Two experts, two items (one seed, one target), written in EXCALIBUR's layout."""
    if dtt_lines is None:
        dtt_lines = [
            dtt_line(1, "Ann", 1, "seed one", "UNI", [1, 2, 3]),
            dtt_line(1, "Ann", 2, "target", "LOG", [1, 10, 100]),
            dtt_line(2, "Bob", 1, "seed one", "UNI", [2, 3, 4]),
            dtt_line(2, "Bob", 2, "target", "LOG", [-999.5] * 3),
        ]
    if rls_lines is None:
        rls_lines = [rls_line(1, "seed one", 2.5), rls_line(2, "target", -999.6, "LOG")]
    dtt, rls = tmp_path / "tiny.dtt", tmp_path / "tiny.rls"
    dtt.write_text("\n".join([header, *dtt_lines]) + "\n", encoding="latin-1")
    rls.write_text("\n".join(rls_lines) + "\n", encoding="latin-1")
    return dtt, rls


def test_reads_a_tiny_written_study(tmp_path):
    study = read_excalibur(*tiny_files(tmp_path))
    assert study.experts == ("Ann", "Bob")
    assert study.items == ("seed one", "target")
    assert study.scales == ("uni", "log")
    np.testing.assert_array_equal(study.realizations, [2.5, np.nan])
    assert study.answered.tolist() == [[True, True], [True, False]]


BAD_DTT = [
    ("header", dict(header="* CLASS ASCII OUTPUT FILE."), "tiny.dtt, line 1: expected the header"),
    (
        "levels",
        dict(header="* CLASS ASCII OUTPUT FILE. NQ=   3   QU=  50   5  95"),
        "tiny.dtt, line 1: quantile levels",
    ),
    ("count", dict(header="* CLASS ASCII OUTPUT FILE. NQ=   2   QU=   5  50  95"), "NQ=2 but 3"),
    (
        "scale",
        dict(line=dtt_line(2, "Bob", 1, "seed one", "LIN", [2, 3, 4])),
        "line 4: unknown scale 'LIN'",
    ),
    ("order", dict(line=dtt_line(2, "Bob", 1, "seed one", "UNI", [2, 5, 4])), "line 4: quantiles"),
    (
        "tie",
        dict(line=dtt_line(2, "Bob", 1, "seed one", "UNI", [2, 2, 4])),
        "not strictly increasing",
    ),
    (
        "partial",
        dict(line=dtt_line(2, "Bob", 1, "seed one", "UNI", [2, -999.6, 4])),
        "line 4: some quantiles",
    ),
    ("short", dict(line="    2      Bob    1       seed one UNI  2.0"), "line 4: expected expert"),
    (
        "number",
        dict(line="    2      Bob    1       seed one UNI  2.0 x3.0 4.0"),
        "line 4: quantile 'x3.0'",
    ),
    (
        "expert no",
        dict(line="    x      Bob    1       seed one UNI  2.0 3.0 4.0"),
        "line 4: expert number 'x'",
    ),
    ("renamed", dict(line=dtt_line(2, "Bob", 1, "seed 1", "UNI", [2, 3, 4])), "line 4: item 1 is"),
    (
        "twice",
        dict(line=dtt_line(1, "Ann", 1, "seed one", "UNI", [2, 3, 4])),
        "line 4: expert 1 answers item 1",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD_DTT, ids=[c[0] for c in BAD_DTT])
def test_malformed_dtt_gets_one_clear_line(tmp_path, case, change, message):
    lines = [
        dtt_line(1, "Ann", 1, "seed one", "UNI", [1, 2, 3]),
        dtt_line(1, "Ann", 2, "target", "UNI", [1, 10, 100]),
        change.get("line", dtt_line(2, "Bob", 1, "seed one", "UNI", [2, 3, 4])),
        dtt_line(2, "Bob", 2, "target", "UNI", [1, 10, 100]),
    ]
    rls = [rls_line(1, "seed one", 2.5), rls_line(2, "target", -999.5)]
    files = tiny_files(tmp_path, lines, rls, header=change.get("header", HEADER))
    with pytest.raises(CookeInputError, match=message) as raised:
        read_excalibur(*files)
    assert "\n" not in str(raised.value)


BAD_PAIRS = [
    ("missing item", [rls_line(1, "seed one", 2.5)], "tiny.rls: no line for item 2"),
    (
        "extra item",
        [
            rls_line(1, "seed one", 2.5),
            rls_line(2, "target", -999.5, "LOG"),
            rls_line(3, "more", 1),
        ],
        "tiny.rls, line 3: item 3 is not in tiny.dtt",
    ),
    (
        "renamed item",
        [rls_line(1, "seed 1", 2.5), rls_line(2, "target", -999.5, "LOG")],
        "tiny.rls, line 1: item 1 is 'seed 1' uni, but 'seed one' uni in tiny.dtt",
    ),
    (
        "other scale",
        [rls_line(1, "seed one", 2.5, "LOG"), rls_line(2, "target", -999.5, "LOG")],
        "tiny.rls, line 1: item 1 is 'seed one' log",
    ),
    (
        "log realization",
        [rls_line(1, "seed one", 2.5), rls_line(2, "target", 0, "LOG")],
        r"tiny.rls, line 2: realization 0.0 of a LOG item must be > 0",
    ),
    ("bad value", ["    1       seed one  2.5e+0x UNI"], "tiny.rls, line 1: realization"),
    ("bad scale", ["    1       seed one  2.5 ABC"], "tiny.rls, line 1: unknown scale 'ABC'"),
]


@pytest.mark.parametrize(("case", "rls", "message"), BAD_PAIRS, ids=[c[0] for c in BAD_PAIRS])
def test_files_that_do_not_match_are_refused(tmp_path, case, rls, message):
    with pytest.raises(CookeInputError, match=message):
        read_excalibur(*tiny_files(tmp_path, rls_lines=rls))


def test_an_expert_without_a_line_for_an_item_is_refused(tmp_path):
    lines = [
        dtt_line(1, "Ann", 1, "seed one", "UNI", [1, 2, 3]),
        dtt_line(1, "Ann", 2, "target", "LOG", [1, 10, 100]),
        dtt_line(2, "Bob", 1, "seed one", "UNI", [2, 3, 4]),
    ]
    with pytest.raises(CookeInputError, match="expert 'Bob' has no line for item 'target'"):
        read_excalibur(*tiny_files(tmp_path, dtt_lines=lines))


def test_a_log_item_needs_positive_values(tmp_path):
    lines = [
        dtt_line(1, "Ann", 1, "seed one", "UNI", [1, 2, 3]),
        dtt_line(1, "Ann", 2, "target", "LOG", [0, 10, 100]),
        dtt_line(2, "Bob", 1, "seed one", "UNI", [2, 3, 4]),
        dtt_line(2, "Bob", 2, "target", "LOG", [1, 10, 100]),
    ]
    with pytest.raises(
        CookeInputError, match=r"tiny.dtt, line 3: quantiles \[0.0, 10.0, 100.0\] of a LOG"
    ):
        read_excalibur(*tiny_files(tmp_path, dtt_lines=lines))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CookeInputError, match="nothing.dtt: cannot read"):
        read_excalibur(tmp_path / "nothing.dtt", tmp_path / "nothing.rls")


# ------------------------------------------------------------------ from tables


def study_frame(study: CookeStudy) -> pd.DataFrame:
    e, i = np.nonzero(study.answered)
    frame = pd.DataFrame({"expert": np.array(study.experts)[e], "item": np.array(study.items)[i]})
    for k, level in enumerate(study.quantile_levels):
        frame[f"q{round(level * 100):02d}"] = study.assessments[e, i, k]
    frame["realization"] = study.realizations[i]
    frame["scale"] = np.array(study.scales)[i]
    return frame


@pytest.mark.parametrize("name", ["Daniela", "Biol agents", "tobacco"])
def test_a_tidy_table_gives_the_same_study(name):
    study = read_study(name)
    rebuilt = CookeStudy.from_frame(study_frame(study))
    assert (rebuilt.experts, rebuilt.items, rebuilt.scales) == (
        study.experts,
        study.items,
        study.scales,
    )
    assert rebuilt.quantile_levels == pytest.approx(study.quantile_levels)
    np.testing.assert_array_equal(rebuilt.assessments, study.assessments)
    np.testing.assert_array_equal(rebuilt.realizations, study.realizations)


def test_from_frame_takes_realizations_and_scales_by_item():
    frame = pd.DataFrame(
        {
            "expert": ["a", "a", "b"],
            "item": ["s", "t", "s"],
            "q05": [1.0, 1.0, 2.0],
            "q50": [2.0, 10.0, 3.0],
            "q95": [3.0, 100.0, 4.0],
        }
    )
    study = CookeStudy.from_frame(frame, realizations={"s": 2.5}, scales={"s": "uni", "t": "log"})
    assert study.scales == ("uni", "log")
    np.testing.assert_array_equal(study.realizations, [2.5, np.nan])
    assert study.answered.tolist() == [[True, True], [True, False]]


def test_from_arrays_defaults_to_uniform_scales_and_5_50_95():
    study = CookeStudy.from_arrays(
        experts=["a"], items=["s"], assessments=[[[1, 2, 3]]], realizations=[2.5]
    )
    assert study.scales == ("uni",)
    assert study.quantile_levels == (0.05, 0.5, 0.95)


BAD_TABLES = [
    ("no quantiles", pd.DataFrame({"expert": ["a"], "item": ["s"]}), "needs columns"),
    (
        "twice",
        pd.DataFrame({"expert": ["a", "a"], "item": ["s", "s"], "q05": 1, "q50": 2, "q95": 3}),
        "expert 'a' answers item 's' twice",
    ),
    (
        "order",
        pd.DataFrame(
            {"expert": ["a"], "item": ["s"], "q05": 3, "q50": 2, "q95": 1, "realization": 2}
        ),
        "expert 'a' gives quantiles that are not increasing for item 's'",
    ),
    (
        "no seed",
        pd.DataFrame({"expert": ["a"], "item": ["s"], "q05": 1, "q50": 2, "q95": 3}),
        "no seed item",
    ),
    (
        "scale",
        pd.DataFrame(
            {"expert": ["a"], "item": ["s"], "q05": 1, "q50": 2, "q95": 3, "scale": "lin"}
        ),
        "unknown item scale 'lin'",
    ),
    (
        "two realizations",
        pd.DataFrame(
            {
                "expert": ["a", "b"],
                "item": ["s", "s"],
                "q05": 1,
                "q50": 2,
                "q95": 3,
                "realization": [1, 2],
            }
        ),
        "column 'realization' differs",
    ),
]


@pytest.mark.parametrize(("case", "frame", "message"), BAD_TABLES, ids=[c[0] for c in BAD_TABLES])
def test_bad_tables_are_refused(case, frame, message):
    with pytest.raises(CookeInputError, match=message):
        CookeStudy.from_frame(frame)


def test_from_frame_refuses_text_quantiles_and_takes_missing_ones():
    frame = pd.DataFrame(
        {
            "expert": ["a", "b"],
            "item": ["s", "s"],
            "q05": [1, None],
            "q50": [2, None],
            "q95": [3, None],
        }
    )
    study = CookeStudy.from_frame(frame, realizations={"s": 2})
    assert study.answered.tolist() == [[True], [False]]
    frame["q50"] = ["2", "two"]
    with pytest.raises(CookeInputError, match="quantiles must be numbers"):
        CookeStudy.from_frame(frame, realizations={"s": 2})


def test_from_arrays_refuses_non_positive_values_on_log_items():
    with pytest.raises(
        CookeInputError, match=r"expert 'a' gives a quantile <= 0 \(log scale\) for item 's'"
    ):
        CookeStudy.from_arrays(
            experts=["a"], items=["s"], assessments=[[[0, 1, 2]]], realizations=[1], scales=["LOG"]
        )
    with pytest.raises(CookeInputError, match="item 's' has an invalid realization -1.0"):
        CookeStudy.from_arrays(
            experts=["a"], items=["s"], assessments=[[[1, 2, 3]]], realizations=[-1], scales=["log"]
        )
