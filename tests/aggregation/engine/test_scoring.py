"""Scores against values computed by hand; AUC against a brute-force count of pairs."""

import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from aggregation.engine.data import JudgmentTable
from aggregation.engine.scoring import (
    OutcomeDataError,
    as_outcome_frame,
    auc,
    brier_score,
    calibration_curve,
    jeffreys_interval,
    json_safe,
    log_score,
    outcomes_from_rows,
    paired_difference,
    read_outcomes,
    score_cohorts,
    score_experts,
    score_forecasts,
    score_methods,
)

LN = math.log
CLIPPED = LN(0.005)  # a 0 % or 100 % forecast that misses costs log 0.005, not -inf

# forecasts, outcomes, Brier, log score, AUC (worked out in the comments)
SCORES = [
    # (0.1^2 + 0.2^2) / 2; (ln 0.9 + ln 0.8) / 2; the one yes is above the one no
    ([0.9, 0.2], [1, 0], 0.025, (LN(0.9) + LN(0.8)) / 2, 1.0),
    # "50 %" always: 1/4 and ln 1/2 whatever happens; every pair tied -> 1/2
    ([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], 0.25, LN(0.5), 0.5),
    # certain and wrong both times: Brier 1; the log score is clipped at 0.005
    ([0.0, 1.0], [1, 0], 1.0, CLIPPED, 0.0),
    # (0.7^2 + 0.7^2 + 0.4^2) / 3 = 0.38; both yeses (0.3, 0.6) below the no (0.7)
    ([0.3, 0.7, 0.6], [1, 0, 1], 0.38, (LN(0.3) + LN(0.3) + LN(0.6)) / 3, 0.0),
    # (0.04 + 0.16 + 0.36 + 0.04) / 4 = 0.15; pairs (yes, no): (.4,.2) 1, (.4,.4) 1/2,
    # (.8,.2) 1, (.8,.4) 1 -> 3.5 / 4
    ([0.2, 0.4, 0.4, 0.8], [0, 0, 1, 1], 0.15, (LN(0.8) + LN(0.6) + LN(0.4) + LN(0.8)) / 4, 0.875),
]


@pytest.mark.parametrize(("p", "y", "brier", "log", "area"), SCORES)
def test_scores_match_hand_computed_values(p, y, brier, log, area):
    # 1e-12: the hand values are exact; only float rounding separates them
    assert_allclose(brier_score(p, y), brier, atol=1e-12)
    assert_allclose(log_score(p, y), log, atol=1e-12)
    assert_allclose(auc(p, y), area, atol=1e-12)
    assert score_forecasts(p, y) == {
        "brier": pytest.approx(brier),
        "log_score": pytest.approx(log),
        "auc": pytest.approx(area),
        "n": len(p),
    }


@pytest.mark.parametrize(
    ("p", "y"),
    [([0.2, 0.9], [1, 1]), ([0.2, 0.9], [0, 0]), ([0.4], [1])],
)
def test_auc_is_undefined_with_one_kind_of_outcome(p, y):
    assert math.isnan(auc(p, y))


def test_log_score_orientation_higher_is_better():
    assert log_score([0.9], [1]) > log_score([0.6], [1]) > log_score([0.1], [1])
    assert log_score([1.0], [1]) == pytest.approx(LN(0.995))  # clipped on both sides


@pytest.mark.parametrize(
    ("p", "y", "message"),
    [
        ([0.5, 0.5], [1], "2 forecasts but 1 outcomes"),
        ([0.5], [2], "outcomes must be 0 or 1"),
        ([1.2], [1], "probabilities in \\[0, 1\\]"),
        ([float("nan")], [1], "probabilities in \\[0, 1\\]"),
    ],
)
def test_scores_refuse_bad_input(p, y, message):
    with pytest.raises(ValueError, match=message):
        brier_score(p, y)


def brute_force_auc(p, y) -> float:
    pos = [a for a, o in zip(p, y, strict=True) if o == 1]
    neg = [b for b, o in zip(p, y, strict=True) if o == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        # forecasts on a coarse grid so that ties, within and between classes, are common
        st.tuples(st.integers(0, 10).map(lambda k: k / 10), st.integers(0, 1)),
        min_size=2,
        max_size=40,
    ).filter(lambda rows: 0 < sum(o for _, o in rows) < len(rows))
)
def test_auc_equals_the_brute_force_pair_count(rows):
    p, y = zip(*rows, strict=True)
    # the rank formula and the pair count are both exact sums of halves: 1e-12 is rounding
    assert_allclose(auc(p, y), brute_force_auc(p, y), atol=1e-12)


def test_score_methods_scores_each_method_on_its_own_questions():
    forecasts = pd.DataFrame(
        {"a": [0.9, 0.2, 0.6], "b": [0.5, np.nan, 0.5]}, index=["Q1", "Q2", "Q3"]
    )
    outcomes = pd.Series({"Q1": 1, "Q2": 0, "Q3": 0})
    scores = score_methods(forecasts, outcomes)
    # a: (0.01 + 0.04 + 0.36) / 3; b: Q2 not forecast -> two questions at 1/4
    assert scores["a"]["brier"] == pytest.approx(0.41 / 3)
    assert scores["a"]["n"] == 3
    assert scores["b"] == {
        "brier": pytest.approx(0.25),
        "log_score": pytest.approx(LN(0.5)),
        "auc": pytest.approx(0.5),
        "n": 2,
    }


# --- experts and cohorts ----------------------------------------------------------------
# Q1 (yes): E1 0.9, E2 0.6, E3 0.3   -> Brier 0.01, 0.16, 0.49
# Q2 (no):  E1 0.2, E2 0.5           -> Brier 0.04, 0.25
# Q3 (yes): E3 0.8 alone             -> Brier 0.04 (no one to compare with)
# Q4 (open): nobody scored on it
PANEL = [
    ("E1", "US", "Q1", 0.9),
    ("E2", "US", "Q1", 0.6),
    ("E3", "ROK", "Q1", 0.3),
    ("E1", "US", "Q2", 0.2),
    ("E2", "US", "Q2", 0.5),
    ("E3", "ROK", "Q3", 0.8),
    ("E1", "US", "Q4", 0.7),
]
PANEL_OUTCOMES = pd.Series({"Q1": 1, "Q2": 0, "Q3": 1})


def panel() -> JudgmentTable:
    return JudgmentTable.from_rows(
        [dict(zip(("expert", "cohort", "question", "probability"), r, strict=True)) for r in PANEL]
    )


@pytest.mark.parametrize(
    ("expert", "n", "brier", "relative", "compared"),
    [
        # relative: own Brier minus the mean of the others on the same question
        ("E1", 2, 0.025, ((0.01 - 0.325) + (0.04 - 0.25)) / 2, 2),
        ("E2", 2, 0.205, ((0.16 - 0.25) + (0.25 - 0.04)) / 2, 2),
        ("E3", 2, 0.265, 0.49 - 0.085, 1),  # Q3: nobody else answered it
    ],
)
def test_expert_scores_are_relative_to_the_rest_of_the_panel(expert, n, brier, relative, compared):
    scores = score_experts(panel(), PANEL_OUTCOMES).loc[expert]
    assert scores["n_questions"] == n
    assert_allclose(scores["brier"], brier, atol=1e-12)
    assert_allclose(scores["relative_brier"], relative, atol=1e-12)
    assert scores["n_compared"] == compared


def test_expert_relative_log_score_on_the_same_questions():
    scores = score_experts(panel(), PANEL_OUTCOMES)
    # E2 on Q1: ln 0.6 - mean(ln 0.9, ln 0.3); on Q2: ln 0.5 - ln 0.8
    expected = ((LN(0.6) - (LN(0.9) + LN(0.3)) / 2) + (LN(0.5) - LN(0.8))) / 2
    assert_allclose(scores.loc["E2", "relative_log_score"], expected, atol=1e-12)


def test_cohort_scores_pool_the_members_by_log_odds_mean():
    scores = score_cohorts(panel(), PANEL_OUTCOMES)
    # US on Q1: geometric mean of odds 9 and 1.5 -> sqrt(13.5); on Q2: odds 1/4 and 1 -> 1/2
    q1 = math.sqrt(13.5) / (1 + math.sqrt(13.5))
    q2 = 0.5 / 1.5
    assert scores.loc["US", "n_questions"] == 2
    assert scores.loc["US", "n_experts"] == 2
    assert_allclose(scores.loc["US", "brier"], ((1 - q1) ** 2 + q2**2) / 2, atol=1e-12)
    assert_allclose(scores.loc["US", "mean_expert_brier"], (0.01 + 0.16 + 0.04 + 0.25) / 4)
    assert_allclose(scores.loc["ROK", "brier"], (0.49 + 0.04) / 2, atol=1e-12)
    assert math.isnan(scores.loc["ROK", "auc"])  # both of its questions resolved yes


# --- calibration curve ------------------------------------------------------------------
def test_calibration_bins_by_hand():
    p = [0.05, 0.15, 0.15, 0.3, 0.95, 1.0]
    y = [0, 1, 0, 1, 1, 1]
    curve = calibration_curve(p, y, n_bins=10, interval_mass=0.9)
    assert_array_equal(curve.count, [1, 2, 0, 1, 0, 0, 0, 0, 0, 2])  # 0.3 in [0.3, 0.4)
    assert_array_equal(curve.events, [0, 1, 0, 1, 0, 0, 0, 0, 0, 2])
    assert_allclose(curve.mean_forecast[[0, 1, 3, 9]], [0.05, 0.15, 0.3, 0.975], atol=1e-12)
    assert_allclose(curve.observed[[0, 1, 3, 9]], [0.0, 0.5, 1.0, 1.0], atol=1e-12)
    assert np.isnan(curve.observed[2]) and np.isnan(curve.lower[2])
    # Jeffreys: Beta(k + 1/2, n - k + 1/2); bound 0 when k = 0, 1 when k = n
    assert_allclose(curve.lower[1], stats.beta.ppf(0.05, 1.5, 1.5), atol=1e-12)
    assert_allclose(curve.upper[1], stats.beta.ppf(0.95, 1.5, 1.5), atol=1e-12)
    assert curve.lower[0] == 0.0
    assert_allclose(curve.upper[0], stats.beta.ppf(0.95, 0.5, 1.5), atol=1e-12)
    assert curve.upper[9] == 1.0
    assert_allclose(curve.lower[9], stats.beta.ppf(0.05, 2.5, 0.5), atol=1e-12)
    assert_allclose(curve.bin_lower, np.arange(10) / 10, atol=1e-12)


def test_calibration_interval_narrows_with_more_questions():
    few = jeffreys_interval(3, 6)
    many = jeffreys_interval(300, 600)
    assert (few[1] - few[0]) > 5 * (many[1] - many[0])


def test_quantile_bins_hold_about_equal_numbers():
    rng = np.random.default_rng(3)
    p = rng.random(100)
    y = (rng.random(100) < p).astype(int)
    curve = calibration_curve(p, y, n_bins=4, strategy="quantile")
    assert curve.count.sum() == 100
    assert set(curve.count) <= {24, 25, 26}


def test_calibration_curve_to_dict_is_json_ready():
    curve = calibration_curve([0.05, 0.95], [0, 1], n_bins=2).to_dict()
    assert curve["count"] == [1, 1]
    assert curve["observed"] == [0.0, 1.0]
    curve = calibration_curve([0.05], [0], n_bins=2).to_dict()
    assert curve["observed"] == [0.0, None]  # an empty bin has no frequency


def test_json_safe_turns_nan_into_none():
    assert json_safe({"a": float("nan"), "b": [np.int64(2), np.float64(0.5)]}) == {
        "a": None,
        "b": [2, 0.5],
    }


# --- outcomes ---------------------------------------------------------------------------
def test_outcomes_from_a_csv_with_groups():
    text = "question,outcome,group\nQ2,0,A\nQ1,yes,B\nQ3,1,A\n"
    outcomes = read_outcomes(io.StringIO(text))
    assert outcomes.index.tolist() == ["Q1", "Q2", "Q3"]
    assert outcomes["outcome"].tolist() == [1, 0, 1]
    assert outcomes["group"].tolist() == ["B", "A", "A"]


def test_outcomes_without_groups_have_an_empty_group():
    outcomes = outcomes_from_rows([{"question": "Q1", "outcome": 1}])
    assert outcomes.loc["Q1", "group"] == ""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("question,outcome\nQ1,2\n", "line 2: outcome '2' is not 1 or 0"),
        ("question,outcome\nQ1,\n", "line 2: 'outcome' is empty"),
        ("question,outcome\nQ1,1\n\nQ1,0\n", "question Q1 has more than one outcome (lines 2, 4)"),
        ("question,result\nQ1,1\n", "missing column 'outcome'"),
        ("question,outcome,when\nQ1,1,today\n", "unknown column(s) 'when'"),
        ("question,outcome\n", "there are no outcomes"),
        ("", "the file is empty"),
        ("question,outcome\nQ1,1,3\n", "line 2: 3 fields, but the header has 2"),
        ("question,outcome,group\nQ1,1,\n", "line 2: 'group' is empty"),
    ],
)
def test_bad_outcomes_are_refused_naming_the_line(text, problem):
    with pytest.raises(OutcomeDataError) as caught:
        read_outcomes(io.StringIO(text))
    assert problem in str(caught.value)


def test_as_outcome_frame_accepts_a_mapping_and_refuses_other_values():
    frame = as_outcome_frame({"Q2": 0, "Q1": 1})
    assert frame.index.tolist() == ["Q1", "Q2"]
    with pytest.raises(OutcomeDataError, match="0 or 1"):
        as_outcome_frame({"Q1": 0.5})


def test_paired_difference_by_hand():
    d = paired_difference([0.3, 0.1, 0.4, 0.2], [0.1, 0.2, 0.1, 0.2], mass=0.9)
    # differences 0.2, -0.1, 0.3, 0.0: mean 0.1, sd 0.1826, t_3(0.95) = 2.3534
    assert d["difference"] == pytest.approx(0.1)
    half = stats.t.ppf(0.95, 3) * np.std([0.2, -0.1, 0.3, 0.0], ddof=1) / 2
    assert d["interval"] == pytest.approx([0.1 - half, 0.1 + half])
    assert (d["n"], d["lower"], d["higher"]) == (4, 1, 2)
    assert paired_difference([1.0, 2.0], [0.5, 1.0], mass=None)["interval"] is None
    assert paired_difference([1.0], [0.5])["interval"] is None  # one item: no spread
    with pytest.raises(ValueError, match="2 scores but 1 reference"):
        paired_difference([1.0, 2.0], [1.0])


def _brier_differences(rng, n):
    """Brier score of a sharp forecaster minus a noisier one's, on n binary questions."""
    p = rng.beta(2, 2, n)
    y = rng.random(n) < p
    sharp = np.clip(p + rng.normal(0, 0.1, n), 0, 1)
    noisy = np.clip(p + rng.normal(0, 0.2, n), 0, 1)
    return (sharp - y) ** 2 - (noisy - y) ** 2


@pytest.mark.parametrize(
    ("kind", "n"), [("brier", 30), ("brier", 100), ("student_t", 10), ("student_t", 100)]
)
def test_paired_difference_intervals_hold_the_true_mean_85_to_95_percent(kind, n):
    """Coverage on simulated score differences whose expectation is known (the Brier
    difference's by a million simulated questions)."""
    rng = np.random.default_rng([7, n])
    if kind == "brier":
        truth = _brier_differences(np.random.default_rng(1), 1_000_000).mean()
        draw = lambda: _brier_differences(rng, n)  # noqa: E731
    else:
        truth = 0.05
        draw = lambda: 0.05 + 0.2 * rng.standard_t(3, n)  # noqa: E731
    hits = []
    for _ in range(1000):
        low, high = paired_difference(draw(), np.zeros(n))["interval"]
        hits.append(low <= truth <= high)
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)


def test_paired_difference_intervals_do_not_hold_for_ten_items_with_rare_large_misses():
    """Why the numeric evaluation claims no interval (``mass=None`` there): scores that are
    small but now and then huge, like interval scores with a seed far outside a range.
    With ten items most samples hold no big miss, and the interval misses the mean far
    more often than 10 % (57 % coverage when this was written; 84 % with 100 items)."""
    rng = np.random.default_rng(11)
    n, truth = 10, 0.1  # mean of normal noise plus a 10 % chance of an exponential miss
    hits = []
    for _ in range(2000):
        d = rng.normal(0, 0.1, n) + (rng.random(n) < 0.1) * rng.exponential(1.0, n)
        low, high = paired_difference(d, np.zeros(n))["interval"]
        hits.append(low <= truth <= high)
    assert np.mean(hits) < 0.75, np.mean(hits)
