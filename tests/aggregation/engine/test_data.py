"""Judgment tables: every validation error, the clipping rule, rounds and the data hash."""

import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from aggregation.engine.data import (
    CLIP,
    MAX_ERRORS_LISTED,
    JudgmentDataError,
    JudgmentTable,
    clip_probabilities,
    logit,
)

HEADER = "expert,cohort,question,probability\n"


def table_of(text: str) -> JudgmentTable:
    return JudgmentTable.from_csv(io.StringIO(text))


def problems_of(source) -> list[str]:
    with pytest.raises(JudgmentDataError) as caught:
        if isinstance(source, bytes):
            JudgmentTable.from_csv(io.BytesIO(source))
        else:
            table_of(source)
    return caught.value.problems


# ------------------------------------------------------------------ validation errors

# (case, CSV text or raw bytes, a fragment of the expected message). Lines are counted
# as in the file, the header being line 1.
BAD_FILES = [
    ("missing column", "expert,cohort,question\nE1,US,Q1\n", "missing column 'probability'"),
    (
        "missing two columns",
        "expert,probability\nE1,0.5\n",
        "missing column 'cohort'; missing column 'question'",
    ),
    (
        "unknown column",
        "expert,cohort,question,probability,confidence\nE1,US,Q1,0.5,high\n",
        "unknown column(s) 'confidence'; expected expert, cohort, question, probability "
        "and optionally round",
    ),
    (
        "column given twice (differing case)",
        "expert,cohort,question,probability,Probability\nE1,US,Q1,0.5,0.6\n",
        "column 'probability' appears more than once",
    ),
    ("probability 150", HEADER + "E1,US,Q1,150\n", "line 2: probability 150 is outside [0, 1]"),
    ("probability -3", HEADER + "E1,US,Q1,-3\n", "line 2: probability -3 is outside [0, 1]"),
    ("probability abc", HEADER + "E1,US,Q1,abc\n", "line 2: probability 'abc' is not a number"),
    ("probability empty", HEADER + "E1,US,Q1,\n", "line 2: 'probability' is empty"),
    ("probability blank", HEADER + "E1,US,Q1,   \n", "line 2: 'probability' is empty"),
    ("probability nan", HEADER + "E1,US,Q1,nan\n", "line 2: probability 'nan' is not a finite"),
    ("probability inf", HEADER + "E1,US,Q1,inf\n", "line 2: probability 'inf' is not a finite"),
    ("probability -inf", HEADER + "E1,US,Q1,-inf\n", "probability '-inf' is not a finite"),
    ("expert empty", HEADER + ",US,Q1,0.5\n", "line 2: 'expert' is empty"),
    ("cohort empty", HEADER + "E1, ,Q1,0.5\n", "line 2: 'cohort' is empty"),
    ("question empty", HEADER + "E1,US,,0.5\n", "line 2: 'question' is empty"),
    (
        "row too short",
        HEADER + "E1,US,Q1,0.5\nE2,US,Q1\n",
        "line 3: 3 fields, but the header has 4",
    ),
    (
        "duplicate answer",
        HEADER + "E1,US,Q1,0.5\nE2,US,Q1,0.4\nE1,US,Q1,0.6\n",
        "expert E1 answered question Q1 more than once in round 1 (lines 2, 4)",
    ),
    (
        "duplicate answer after trimming spaces",
        HEADER + "E1,US,Q1,0.5\n E1 ,US, Q1 ,0.6\n",
        "expert E1 answered question Q1 more than once in round 1 (lines 2, 3)",
    ),
    (
        "expert in two cohorts",
        HEADER + "E1,US,Q1,0.5\nE1,ROK,Q2,0.6\n",
        "expert E1 is listed in more than one cohort",
    ),
    ("header only", HEADER, "the table has no judgments (no data rows)"),
    ("empty file", "", "the file is empty; expected a header line"),
    ("blank lines only", "\n\n\n", "the file is empty"),
    (
        "not UTF-8 (Latin-1 é)",
        HEADER.encode() + "E1,US,Qé,0.5\n".encode("latin-1"),
        "the file is not UTF-8 text (byte 42)",
    ),
    ("unclosed quote", HEADER + 'E1,US,Q1,"0.5\n', "the file is not valid CSV"),
    (
        "round not a number",
        "expert,cohort,question,probability,round\nE1,US,Q1,0.5,two\n",
        "line 2: round 'two' is not a whole number >= 1",
    ),
    (
        "round 0",
        "expert,cohort,question,probability,round\nE1,US,Q1,0.5,0\n",
        "line 2: round '0' is not a whole number >= 1",
    ),
    (
        "round empty",
        "expert,cohort,question,probability,round\nE1,US,Q1,0.5,\n",
        "line 2: round '' is not a whole number >= 1",
    ),
]


@pytest.mark.parametrize(
    ("source", "fragment"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_a_bad_file_names_its_problem(source, fragment):
    assert fragment in "; ".join(problems_of(source))


def test_a_percentage_gets_a_hint_about_the_scale():
    (problem,) = problems_of(HEADER + "E1,US,Q1,65\n")
    assert problem == (
        "line 2: probability 65 is outside [0, 1] (give probabilities on the 0-1 scale, e.g. "
        "0.65 for 65 %)"
    )
    # The hint is for numbers that look like percentages only.
    (problem,) = problems_of(HEADER + "E1,US,Q1,-3\n")
    assert "hint" not in problem and "0-1 scale" not in problem


def test_every_problem_is_listed_with_its_line_in_one_pass():
    text = HEADER + "E1,US,Q1,0.5\nE2,US,Q1,abc\nE3,,Q1,2\nE4,US,Q1,0.5\n"
    assert problems_of(text) == [
        "line 3: probability 'abc' is not a number",
        "line 4: 'cohort' is empty",
        "line 4: probability 2 is outside [0, 1] (give probabilities on the 0-1 scale, e.g. "
        "0.65 for 65 %)",
    ]


def test_a_long_list_of_problems_is_cut_in_the_message_but_kept_whole():
    text = HEADER + "".join(f"E{i},US,Q1,{i + 2}\n" for i in range(MAX_ERRORS_LISTED + 5))
    with pytest.raises(JudgmentDataError) as caught:
        table_of(text)
    assert len(caught.value.problems) == MAX_ERRORS_LISTED + 5
    message = str(caught.value)
    assert message.endswith("; and 5 more problems")
    assert message.count("is outside [0, 1]") == MAX_ERRORS_LISTED


def test_a_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(JudgmentDataError, match="no such file: .*nothing.csv"):
        JudgmentTable.from_csv(tmp_path / "nothing.csv")


def test_columns_given_twice_in_a_frame_are_named():
    frame = pd.DataFrame([["E1", "US", "Q1", 0.5, 0.6]])
    frame.columns = ["expert", "cohort", "question", "probability", "probability"]
    with pytest.raises(JudgmentDataError, match="column 'probability' appears more than once"):
        JudgmentTable.from_frame(frame)


def test_an_empty_list_of_rows_is_an_empty_table():
    with pytest.raises(JudgmentDataError, match="no judgments"):
        JudgmentTable.from_rows([])


def test_a_column_repeated_in_the_csv_header_is_named():
    problems = problems_of("expert,cohort,question,probability,probability\nE1,US,Q1,0.5,0.6\n")
    assert "column 'probability' appears more than once" in "; ".join(problems)


# Python's float() reads these, pd.to_numeric does not: the validator passes them and the
# conversion that follows raises a bare ValueError (a traceback in `manage.py aggregate`).
@pytest.mark.parametrize(
    "text",
    [
        HEADER + "E1,US,Q1,0.5_0\n",  # digit separator (PEP 515)
        HEADER + "E1,US,Q1,\uff11\n",  # full-width digit one
        "expert,cohort,question,probability,round\nE1,US,Q1,0.5,\uff11\n",  # round ditto
    ],
    ids=["underscore", "full-width-probability", "full-width-round"],
)
def test_numbers_python_reads_but_pandas_does_not_are_data_errors(text):
    with pytest.raises(JudgmentDataError):
        table_of(text)


def test_the_offset_of_a_non_utf8_byte_is_counted_from_the_start_of_the_file():
    # header (35 bytes) + "E1,US,Q" (7 bytes): the bad byte is byte 42, counted from 0
    (problem,) = problems_of(HEADER.encode() + "E1,US,Q\xe9,0.5\n".encode("latin-1"))
    assert problem == "the file is not UTF-8 text (byte 42); save it as CSV UTF-8"


def test_the_offset_of_a_non_utf8_byte_deep_in_a_large_file_is_right():
    good = (HEADER + "".join(f"E{i},US,Q{i},0.5\n" for i in range(50_000))).encode()
    (problem,) = problems_of(good + "E1,US,Q\xe9,0.5\n".encode("latin-1"))
    assert f"(byte {len(good) + 7})" in problem


def test_line_numbers_count_blank_lines():
    problems = problems_of(HEADER + "E1,US,Q1,0.5\n\nE2,US,Q1,abc\n")
    assert problems == ["line 4: probability 'abc' is not a number"]


def test_a_row_with_an_extra_field_is_reported_as_such():
    problems = problems_of(HEADER + "E1,US,Q1,0.5,7\n")
    assert "line 2" in problems[0] and "field" in problems[0], problems


# ------------------------------------------------------------------ what is accepted


def test_a_valid_file_is_read_trimmed_and_sorted():
    table = table_of(
        "Expert , Cohort,question,PROBABILITY\n E2 ,US,Q2,0.25\nE1,ROK, Q2 ,0.5\nE1,ROK,Q1,1e-1\n"
    )
    assert table.frame.to_dict("records") == [
        {"expert": "E1", "cohort": "ROK", "question": "Q1", "probability": 0.1, "round": 1},
        {"expert": "E1", "cohort": "ROK", "question": "Q2", "probability": 0.5, "round": 1},
        {"expert": "E2", "cohort": "US", "question": "Q2", "probability": 0.25, "round": 1},
    ]
    assert (table.experts, table.cohorts, table.questions) == (
        ["E1", "E2"],
        ["ROK", "US"],
        ["Q1", "Q2"],
    )
    assert len(table) == 3


def test_a_utf8_bom_is_accepted():
    table = JudgmentTable.from_csv(
        io.BytesIO(b"\xef\xbb\xbf" + (HEADER + "E1,US,Q1,0.5\n").encode())
    )
    assert list(table.frame.columns) == ["expert", "cohort", "question", "probability", "round"]
    assert table.frame.loc[0, "expert"] == "E1"


def test_names_in_other_scripts_are_kept():
    table = table_of(HEADER + "전문가1,한국,Q1,0.5\n")
    assert table.experts == ["전문가1"] and table.cohorts == ["한국"]


def test_rows_from_the_database_are_accepted():
    rows = [
        {"expert": "E1", "cohort": "US", "question": "Q1", "probability": 1, "round": 2},
        {"expert": "E2", "cohort": "US", "question": "Q1", "probability": 0.0, "round": 2},
    ]
    table = JudgmentTable.from_rows(rows)
    assert table.frame["probability"].tolist() == [1.0, 0.0]
    assert table.rounds == [2]


@pytest.mark.parametrize(
    ("answer", "stored", "clipped", "log_odds"),
    [
        # 0 and 1 are legal answers, stored as given; the log-odds methods clip them to
        # [CLIP, 1 - CLIP] = [0.005, 0.995], i.e. log-odds -+log(199) = -+5.293.
        ("0", 0.0, 0.005, -np.log(199.0)),
        ("1", 1.0, 0.995, np.log(199.0)),
        ("0.004", 0.004, 0.005, -np.log(199.0)),
        ("0.005", 0.005, 0.005, -np.log(199.0)),
        ("0.5", 0.5, 0.5, 0.0),
        ("0.9", 0.9, 0.9, np.log(9.0)),
    ],
)
def test_zero_and_one_are_accepted_and_clipped_by_the_documented_rule(
    answer, stored, clipped, log_odds
):
    table = table_of(HEADER + f"E1,US,Q1,{answer}\n")
    p = table.frame["probability"].to_numpy()
    assert p[0] == stored  # the stored table is never clipped
    assert CLIP == 0.005
    # rtol 1e-12: a few floating operations on numbers of order 1 (log1p, subtraction).
    assert_allclose(clip_probabilities(p), [clipped], rtol=1e-12)
    assert_allclose(logit(p), [log_odds], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ rounds

ROUNDS = (
    "expert,cohort,question,probability,round\n"
    "E1,US,Q1,0.5,1\nE2,US,Q1,0.6,1\nE1,US,Q1,0.7,2\nE2,US,Q2,0.2,2\n"
)


def test_the_round_column_is_optional_and_defaults_to_1():
    assert table_of(HEADER + "E1,US,Q1,0.5\n").rounds == [1]


def test_for_round_and_latest_round_select_one_round():
    table = table_of(ROUNDS)
    assert table.rounds == [1, 2]
    first = table.for_round(1)
    assert first.rounds == [1]
    assert first.frame["probability"].tolist() == [0.5, 0.6]
    latest = table.latest_round()
    assert latest.rounds == [2]
    assert latest.frame[["expert", "question", "probability"]].values.tolist() == [
        ["E1", "Q1", 0.7],
        ["E2", "Q2", 0.2],
    ]
    # the same answer in two rounds is a revision, not a duplicate
    assert len(table) == 4


def test_a_round_with_no_judgments_is_a_data_error():
    with pytest.raises(JudgmentDataError, match="there are no judgments for round 3"):
        table_of(ROUNDS).for_round(3)


# ------------------------------------------------------------------ data hash

BASE = HEADER + "E1,US,Q1,0.5\nE2,ROK,Q1,0.25\nE1,US,Q2,0.75\nE2,ROK,Q2,0\n"


def test_the_hash_does_not_depend_on_row_or_column_order_or_spacing():
    lines = BASE.splitlines()
    reordered = "\n".join([lines[0], lines[4], lines[2], lines[3], lines[1]]) + "\n"
    columns = (
        "question,probability,expert,cohort\n"
        "Q1,0.5,E1,US\nQ1,0.25,E2,ROK\nQ2,0.75,E1,US\nQ2,0,E2,ROK\n"
    )
    spaced = BASE.replace("E1,", " E1 ,").replace("0.5", "0.50")
    explicit_round = "\n".join(
        line + (",round" if i == 0 else ",1") for i, line in enumerate(lines)
    )
    reference = table_of(BASE).data_hash()
    assert len(reference) == 64
    for text in (reordered, columns, spaced, explicit_round + "\n"):
        assert table_of(text).data_hash() == reference


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("E2,ROK,Q2,0\n", "E2,ROK,Q2,0.01\n"),  # a changed answer
        ("E1,US,Q2,0.75\n", "E1,US,Q2,0.7500001\n"),  # within the 10 significant digits hashed
        ("E1,US,Q2,0.75\n", "E1,US,Q3,0.75\n"),  # a renamed question
        ("E1,US,Q2,0.75\n", "E3,US,Q2,0.75\n"),  # a renamed expert
        ("E1,US,Q2,0.75\n", ""),  # a dropped answer
    ],
)
def test_a_changed_value_changes_the_hash(old, new):
    assert table_of(BASE.replace(old, new)).data_hash() != table_of(BASE).data_hash()


def test_a_changed_cohort_changes_the_hash():
    changed = BASE.replace(",ROK,", ",KR,")
    assert table_of(changed).data_hash() != table_of(BASE).data_hash()


def test_the_hash_depends_on_the_round():
    assert table_of(ROUNDS).for_round(1).data_hash() != table_of(ROUNDS).data_hash()


# ------------------------------------------------------------------ property: CSV round trip

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
    min_size=1,
    max_size=6,
).filter(lambda s: s.strip() == s and s != "")


@st.composite
def judgment_tables(draw):
    experts = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    questions = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    cohorts = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    rows = []
    for expert in experts:
        cohort = draw(st.sampled_from(cohorts))
        for question in draw(st.lists(st.sampled_from(questions), min_size=1, unique=True)):
            for survey_round in draw(
                st.lists(st.integers(1, 3), min_size=1, max_size=2, unique=True)
            ):
                probability = draw(st.floats(0.0, 1.0, allow_nan=False))
                rows.append(
                    {
                        "expert": expert,
                        "cohort": cohort,
                        "question": question,
                        "probability": probability,
                        "round": survey_round,
                    }
                )
    order = draw(st.permutations(range(len(rows))))
    return [rows[i] for i in order]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=judgment_tables())
def test_any_valid_table_round_trips_through_csv_with_the_same_hash(rows):
    table = JudgmentTable.from_rows(rows)
    text = table.frame.sample(frac=1.0, random_state=0).to_csv(index=False)
    again = table_of(text)
    pd.testing.assert_frame_equal(again.frame, table.frame)
    assert again.data_hash() == table.data_hash()
    # and the order the rows came in never matters
    assert JudgmentTable.from_rows(rows[::-1]).data_hash() == table.data_hash()
