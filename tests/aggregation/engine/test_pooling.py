"""Closed-form pools against values computed by hand on tiny tables."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from aggregation.engine.data import JudgmentTable
from aggregation.engine.pooling import (
    DEFAULT_EXTREMIZE_FACTOR,
    POOLS,
    all_baselines,
    extremized_logodds,
    linear_pool,
    logodds_mean,
    median_pool,
    pool_questions,
)


def table(answers: dict[str, list[float]], survey_round: int = 1) -> JudgmentTable:
    rows = [
        {"expert": f"E{i}", "cohort": "US", "question": q, "probability": p, "round": survey_round}
        for q, ps in answers.items()
        for i, p in enumerate(ps)
    ]
    return JudgmentTable.from_rows(rows)


def odds_to_p(odds: float) -> float:
    return odds / (1.0 + odds)


# Q1: 0.2, 0.5, 0.9 -> odds 1/4, 1, 9; their geometric mean is (9/4)^(1/3).
# Q2: 0.1, 0.3      -> odds 1/9, 3/7; geometric mean (1/21)^(1/2); median of two = their mean.
# Q3: 0, 0.5        -> 0 is clipped to 0.005, odds 1/199; geometric mean (1/199)^(1/2).
# Q4: 0, 1          -> clipped to 0.005 and 0.995: log-odds -+log(199), mean 0.
ANSWERS = {"Q1": [0.2, 0.5, 0.9], "Q2": [0.1, 0.3], "Q3": [0.0, 0.5], "Q4": [0.0, 1.0]}
EXPECTED = {
    "Q1": {
        "linear_pool": 1.6 / 3,
        "median": 0.5,
        "logodds_mean": odds_to_p(2.25 ** (1 / 3)),
        "extremized_logodds": odds_to_p(2.25 ** (2.5 / 3)),
    },
    "Q2": {
        "linear_pool": 0.2,
        "median": 0.2,
        "logodds_mean": odds_to_p(21**-0.5),
        "extremized_logodds": odds_to_p(21**-1.25),
    },
    "Q3": {
        "linear_pool": 0.25,
        "median": 0.25,
        "logodds_mean": odds_to_p(199**-0.5),
        "extremized_logodds": odds_to_p(199**-1.25),
    },
    "Q4": {"linear_pool": 0.5, "median": 0.5, "logodds_mean": 0.5, "extremized_logodds": 0.5},
}


@pytest.mark.parametrize("method", list(POOLS))
@pytest.mark.parametrize("question", list(ANSWERS))
def test_each_pool_matches_the_hand_computed_value(method, question):
    pooled = pool_questions(table(ANSWERS), method)
    # rtol 1e-12 / atol 1e-15: the expected values are closed forms of the same numbers and
    # differ from the pools only by floating-point rounding of a handful of log/exp
    # operations on numbers of order 1 (Q4 is 0.5 up to 1 - 0.995 != 0.005 in binary).
    assert_allclose(pooled[question], EXPECTED[question][method], rtol=1e-12, atol=1e-15)


def test_all_baselines_gives_every_pool_for_every_question():
    baselines = all_baselines(table(ANSWERS))
    assert list(baselines) == ["Q1", "Q2", "Q3", "Q4"]
    for question, expected in EXPECTED.items():
        assert list(baselines[question]) == list(POOLS)
        assert_allclose(
            [baselines[question][m] for m in POOLS],
            [expected[m] for m in POOLS],
            rtol=1e-12,  # as above
            atol=1e-15,
        )


@pytest.mark.parametrize(
    ("factor", "expected"),
    [
        (1.0, odds_to_p(2.25 ** (1 / 3))),  # d = 1 is the plain log-odds mean
        (2.0, odds_to_p(2.25 ** (2 / 3))),
        (3.0, odds_to_p(2.25)),  # (odds^(1/3))^3
        (0.5, odds_to_p(2.25 ** (1 / 6))),  # d < 1 pulls towards 1/2
    ],
)
def test_the_extremizing_factor_is_configurable(factor, expected):
    q1 = {"Q1": ANSWERS["Q1"]}
    assert_allclose(
        pool_questions(table(q1), "extremized_logodds", extremize_factor=factor)["Q1"],
        expected,
        rtol=1e-12,  # closed form vs. the pool, rounding only
    )
    assert_allclose(
        all_baselines(table(q1), extremize_factor=factor)["Q1"]["extremized_logodds"],
        expected,
        rtol=1e-12,
    )
    assert_allclose(extremized_logodds(np.array(ANSWERS["Q1"]), factor), expected, rtol=1e-12)


def test_the_default_extremizing_factor_is_the_documented_one():
    assert DEFAULT_EXTREMIZE_FACTOR == 2.5
    assert pool_questions(table(ANSWERS), "extremized_logodds") == pool_questions(
        table(ANSWERS), "extremized_logodds", extremize_factor=2.5
    )


def test_the_extremizing_factor_leaves_the_other_pools_alone():
    plain = all_baselines(table(ANSWERS))
    strong = all_baselines(table(ANSWERS), extremize_factor=4.0)
    for question in ANSWERS:
        for method in ("linear_pool", "median", "logodds_mean"):
            assert strong[question][method] == plain[question][method]


def test_an_unknown_method_is_refused_with_the_choices():
    with pytest.raises(
        ValueError, match="unknown pooling method 'mean'; choose one of linear_pool, median"
    ):
        pool_questions(table(ANSWERS), "mean")


def test_pools_take_one_round_at_a_time():
    two_rounds = JudgmentTable.from_frame(
        pd.concat([table(ANSWERS, 1).frame, table(ANSWERS, 2).frame])
    )
    with pytest.raises(ValueError, match="pool one round at a time"):
        pool_questions(two_rounds, "median")
    assert_allclose(
        pool_questions(two_rounds.for_round(2), "median")["Q1"], 0.5, rtol=0
    )  # exact: the middle answer


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=12))
def test_every_pool_lies_between_the_extreme_clipped_answers(answers):
    p = np.array(answers)
    clipped = np.clip(p, 0.005, 0.995)
    # 1e-12 absolute: a mean of up to 12 numbers in [0, 1] can land a few ulps outside.
    for pool, low, high in [
        (linear_pool, p.min(), p.max()),
        (median_pool, p.min(), p.max()),
        (logodds_mean, clipped.min(), clipped.max()),
    ]:
        assert low - 1e-12 <= pool(p) <= high + 1e-12
    # extremizing moves away from 1/2 (d > 1), never across it
    plain, extreme = logodds_mean(p), extremized_logodds(p)
    assert abs(extreme - 0.5) >= abs(plain - 0.5) - 1e-12
    assert (extreme - 0.5) * (plain - 0.5) >= 0
