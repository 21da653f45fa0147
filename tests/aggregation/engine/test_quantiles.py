"""Numeric judgment tables: every problem is reported, each naming its line."""

import io
from pathlib import Path

import numpy as np
import pytest

from aggregation.engine.data import JudgmentDataError
from aggregation.engine.quantiles import (
    QuantileTable,
    looks_numeric,
    realization_problems,
    realizations_from_csv,
    realizations_from_rls,
)

COOKE = Path(__file__).resolve().parents[2] / "data" / "cooke"


def _csv(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def test_a_table_reads_with_defaults_and_sorted():
    table = QuantileTable.from_csv(
        _csv("expert,question,q05,q50,q95\nE2,N1,1,2,3\nE1,N1,0.5,2,4\nE1,N2,10,20,40\n")
    )
    frame = table.frame
    assert list(frame["expert"]) == ["E1", "E2", "E1"]
    assert set(frame["cohort"]) == {"all"} and set(frame["round"]) == {1}
    assert set(frame["scale"]) == {"linear"}
    assert table.questions == ["N1", "N2"] and len(table) == 3
    assert np.isnan(table.question_info().loc["N1", "lower"])


def test_optional_columns_are_read():
    table = QuantileTable.from_rows(
        [
            {"expert": "a", "question": "Q", "q05": 1, "q50": 5, "q95": 50, "cohort": "US",
             "round": 2, "scale": "LOG", "lower": 0.5, "upper": 100},
        ]
    )  # fmt: skip
    row = table.frame.iloc[0]
    assert (row["cohort"], row["round"], row["scale"], row["upper"]) == ("US", 2, "log", 100)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("E1,N1,3,2,1", "line 2: quantiles must increase strictly"),
        ("E1,N1,2,2,3", "line 2: quantiles must increase strictly"),
        ("E1,N1,a,2,3", "line 2: q05 'a' is not a number"),
        ("E1,N1,1,2,inf", "line 2: q95 'inf' is not a finite number"),
        ("E1,N1,1,2,", "line 2: 'q95' is empty"),
        (",N1,1,2,3", "line 2: 'expert' is empty"),
    ],
)
def test_bad_values_name_their_line(body, message):
    with pytest.raises(JudgmentDataError) as caught:
        QuantileTable.from_csv(_csv("expert,question,q05,q50,q95\n" + body + "\n"))
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


def test_bounds_log_scale_and_duplicates_are_checked_all_at_once():
    text = (
        "expert,question,q05,q50,q95,scale,lower,upper\n"
        "E1,N1,-1,2,3,,0,10\n"  # below the lower bound
        "E2,N1,1,2,30,,0,10\n"  # above the upper bound
        "E1,N2,0,2,3,log,,\n"  # not positive on a log scale
        "E1,N3,1,2,3,,,\n"
        "E1,N3,1,2,4,,,\n"  # answered twice
        "E1,N4,1,2,3,cubic,,\n"
    )
    with pytest.raises(JudgmentDataError) as caught:
        QuantileTable.from_csv(_csv(text))
    text = "\n".join(caught.value.problems)
    assert "line 2: q05 -1 is below the question's lower bound 0" in text
    assert "line 3: q95 30 is above the question's upper bound 10" in text
    assert "line 4: on a log scale every quantile must be positive" in text
    assert "more than once in round 1 (lines 5, 6)" in text
    assert "line 7: scale 'cubic'" in text


def test_rows_of_one_question_must_agree_on_its_scale():
    text = "expert,question,q05,q50,q95,scale\nE1,N1,1,2,3,log\nE2,N1,1,2,3,linear\n"
    with pytest.raises(JudgmentDataError, match="different values of 'scale'"):
        QuantileTable.from_csv(_csv(text))


def test_unknown_and_missing_columns():
    with pytest.raises(JudgmentDataError) as caught:
        QuantileTable.from_csv(_csv("expert,question,q50,q95,colour\nE1,N1,2,3,red\n"))
    assert "missing column 'q05'" in caught.value.problems
    assert any("unknown column(s) 'colour'" in p for p in caught.value.problems)


def test_numeric_files_are_told_from_binary_ones():
    assert looks_numeric(["expert", "question", "Q05", "q50", "q95"])
    assert not looks_numeric(["expert", "cohort", "question", "probability"])


def test_realizations_from_csv_and_their_problems():
    values = realizations_from_csv(_csv("question,value\nN1,2.5\nN2,-3\n"))
    assert values == {"N1": 2.5, "N2": -3.0}
    with pytest.raises(JudgmentDataError) as caught:
        realizations_from_csv(_csv("question,value\nN1,x\nN1,2\nN1,3\n"))
    assert "line 2: value 'x' is not a number" in caught.value.problems
    assert "line 4: question N1 is given twice" in caught.value.problems
    table = QuantileTable.from_csv(
        _csv("expert,question,q05,q50,q95,scale,upper\nE1,N1,1,2,3,log,10\n")
    )
    problems = realization_problems(table, {"N1": 20, "N9": 1, **{}})
    assert "question N1: realization 20 is above 10" in problems
    assert "realization for question N9, which nobody answered" in problems
    assert realization_problems(table, {"N1": -1})[0].endswith("is not positive (log scale)")


def test_realizations_from_an_excalibur_file_leave_targets_out():
    values = realizations_from_rls(COOKE / "CWD.rls")
    assert values and all(np.isfinite(v) for v in values.values())
    lines = [line for line in (COOKE / "CWD.rls").read_text("latin-1").splitlines() if line.strip()]
    assert len(values) <= len(lines)
