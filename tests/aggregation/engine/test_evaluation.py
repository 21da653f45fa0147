"""Cross-validation over questions: folds, leakage, and the pooledmaRket benchmark (slow).

The leakage promise, "recalibration never sees the outcome of the question it predicts",
is proved three ways: a sentinel mapping that raises when a held-out outcome is read, a spy
recalibration that records what each fit was given, and flipping the held-out fold's
outcomes, which must leave that fold's forecasts bit-identical (with a fast stand-in model
here, and with the real PyMC recalibration in a slow test).
"""

import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import minimize
from scipy.special import expit, logit

from aggregation.engine.data import JudgmentTable
from aggregation.engine.evaluation import (
    EvaluationError,
    assign_folds,
    calibration_figure,
    cross_validate,
    fold_forecasts,
    fold_seed,
    out_of_fold_recalibration,
    training_subset,
)
from aggregation.engine.pooling import all_baselines
from aggregation.engine.recalibration import LLORecalibration, aggregate_logodds
from aggregation.engine.scoring import brier_score, read_outcomes

ROOT = Path(__file__).resolve().parents[3]
POOLS = ("linear_pool", "median", "logodds_mean", "extremized_logodds")
POOLED = ROOT / "tests" / "data" / "pooledmarket"
SIPS = ROOT / "tests" / "data" / "sips2019"


# --- helpers ----------------------------------------------------------------------------
def timid_panel(n_questions: int = 30, n_experts: int = 6, *, seed: int = 0):
    """Experts who say expit(0.5 * s_j) (plus noise) where the truth is expit(s_j)."""
    rng = np.random.default_rng(seed)
    rows, outcomes = [], {}
    for j in range(n_questions):
        q = f"Q{j:02d}"
        signal = rng.normal(0.0, 2.0)
        outcomes[q] = int(rng.random() < expit(signal))
        for i in range(n_experts):
            p = float(expit(0.5 * signal + rng.normal(0.0, 0.3)))
            rows.append({"expert": f"E{i}", "cohort": "AB"[i % 2], "question": q, "probability": p})
    return JudgmentTable.from_rows(rows), outcomes


class StubFit:
    def __init__(self, gamma: float, tau: float):
        self.gamma, self.tau = gamma, tau

    def predict(self, logodds, *, groups=None, questions=None, interval_mass=0.9, random_seed=0):
        p = expit(self.gamma * np.asarray(logodds, dtype=float) + self.tau)
        index = pd.Index(list(questions), name="question") if questions is not None else None
        return pd.DataFrame({"mean": p, "lower": p, "upper": p}, index=index)


class SpyRecalibration:
    """A fast, deterministic stand-in for LLORecalibration (MAP of the same model, the same
    priors) that records what every fit was given."""

    model_config = {"stand_in": True}

    def __init__(self):
        self.calls: list[dict] = []

    def fit(self, logodds, outcome, *, groups=None, questions=None, random_seed):
        x, y = np.asarray(logodds, dtype=float), np.asarray(outcome, dtype=float)
        self.calls.append({"train": list(questions), "outcome": y.tolist(), "seed": random_seed})

        def negative_log_posterior(theta):
            eta = np.exp(theta[0]) * x + theta[1]
            loglik = np.sum(y * eta - np.logaddexp(0.0, eta))
            return -loglik + 0.5 * ((theta[0] - math.log(2.0)) / 0.5) ** 2 + 0.5 * theta[1] ** 2

        theta = minimize(negative_log_posterior, [math.log(2.0), 0.0], method="BFGS").x
        return StubFit(math.exp(theta[0]), theta[1])


class HeldOutSentinel(Mapping):
    """Outcomes that raise if a forbidden (held-out) question's outcome is read in any way."""

    def __init__(self, outcomes: Mapping[str, int], forbidden):
        self._outcomes, self._forbidden = dict(outcomes), set(forbidden)

    def __getitem__(self, question):
        if question in self._forbidden:
            raise AssertionError(f"the held-out outcome of {question} was read")
        return self._outcomes[question]

    def __iter__(self):  # keys only: knowing which questions exist reveals no outcome
        return iter(self._outcomes)

    def __len__(self):
        return len(self._outcomes)


# --- folds ------------------------------------------------------------------------------
def test_folds_are_balanced_and_depend_on_the_seed_only():
    questions = [f"Q{j}" for j in range(23)]
    folds = assign_folds(questions, 5, seed=3)
    assert sorted(folds.value_counts().tolist()) == [4, 4, 5, 5, 5]
    # the same labels in another order, same seed: the same assignment
    again = assign_folds(list(reversed(questions)), 5, seed=3)
    pd.testing.assert_series_equal(folds, again)
    assert not folds.equals(assign_folds(questions, 5, seed=4))


@pytest.mark.parametrize(
    ("n_folds", "message"),
    [(1, "at least 2 folds"), (4, "4 folds but only 3 resolved questions")],
)
def test_impossible_fold_counts_are_refused(n_folds, message):
    with pytest.raises(EvaluationError, match=message):
        assign_folds(["a", "b", "c"], n_folds, seed=0)


def test_fold_seeds_differ_by_fold_and_do_not_depend_on_data():
    seeds = {fold_seed(0, k) for k in range(10)}
    assert len(seeds) == 10
    assert fold_seed(5, 2) == fold_seed(5, 2)


# --- leakage ----------------------------------------------------------------------------
def test_a_fold_never_reads_a_held_out_outcome():
    table, outcomes = timid_panel()
    logodds = aggregate_logodds(table)
    folds = assign_folds(list(outcomes), 5, seed=1)
    for k in range(5):
        test = folds.index[folds == k].tolist()
        train = folds.index[folds != k].tolist()
        sentinel = HeldOutSentinel(outcomes, forbidden=test)
        forecasts, _ = fold_forecasts(
            logodds, sentinel, train, test, recalibration=SpyRecalibration(), random_seed=0
        )
        assert forecasts.index.tolist() == test


def test_the_sentinel_catches_a_leaky_fit():
    """The control: a fold that trained on its own test questions would be caught."""
    table, outcomes = timid_panel()
    logodds = aggregate_logodds(table)
    test = ["Q00", "Q01"]
    with pytest.raises(AssertionError, match="held-out outcome of Q00"):
        fold_forecasts(
            logodds,
            HeldOutSentinel(outcomes, forbidden=test),
            list(outcomes),  # leaky: the training set includes the test questions
            test,
            recalibration=SpyRecalibration(),
            random_seed=0,
        )


def test_each_fit_gets_exactly_the_other_folds_outcomes():
    table, outcomes = timid_panel()
    logodds = aggregate_logodds(table)
    folds = assign_folds(list(outcomes), 5, seed=2)
    spy = SpyRecalibration()
    forecasts, _ = out_of_fold_recalibration(logodds, outcomes, folds, seed=0, recalibration=spy)
    assert len(spy.calls) == 5
    for k, call in enumerate(spy.calls):
        test = set(folds.index[folds == k])
        assert set(call["train"]) == set(outcomes) - test
        assert call["outcome"] == [outcomes[q] for q in call["train"]]
        assert call["seed"] == fold_seed(0, k)
    assert forecasts.index.tolist() == sorted(outcomes)
    assert (forecasts["fold"] == folds[forecasts.index]).all()


@pytest.mark.parametrize("flipped_fold", [0, 3])
def test_flipping_held_out_outcomes_leaves_their_forecasts_bit_identical(flipped_fold):
    table, outcomes = timid_panel()
    first = cross_validate(
        table, outcomes, n_folds=4, seed=5, hierarchical=False, recalibration=SpyRecalibration()
    )
    held_out = [q for q, k in first["folds"]["assignment"].items() if k == flipped_fold]
    flipped = {q: (1 - y if q in held_out else y) for q, y in outcomes.items()}
    second = cross_validate(
        table, flipped, n_folds=4, seed=5, hierarchical=False, recalibration=SpyRecalibration()
    )
    for q in held_out:
        assert second["predictions"]["recalibrated"][q] == first["predictions"]["recalibrated"][q]
    # the control: the other folds did learn from the flipped outcomes
    others = [q for q in outcomes if q not in held_out]
    assert any(
        second["predictions"]["recalibrated"][q] != first["predictions"]["recalibrated"][q]
        for q in others
    )


# --- what cross_validate reports --------------------------------------------------------
def test_pools_are_scored_on_their_own_forecasts():
    table, outcomes = timid_panel()
    result = cross_validate(
        table, outcomes, n_folds=5, seed=0, hierarchical=False, recalibration=SpyRecalibration()
    )
    baselines = all_baselines(table)
    y = np.array([outcomes[q] for q in sorted(outcomes)])
    for method in ("linear_pool", "median", "logodds_mean", "extremized_logodds"):
        p = np.array([baselines[q][method] for q in sorted(outcomes)])
        # pools learn nothing from outcomes: their CV score is their plain score (rounded
        # to 6 decimals in the predictions, not in the scores)
        assert_allclose(result["methods"][method]["brier"], brier_score(p, y), atol=1e-12)
        assert result["methods"][method]["n"] == 30
    assert set(result["methods"]) == {
        "linear_pool",
        "median",
        "logodds_mean",
        "extremized_logodds",
        "base_rate",
        "recalibrated",
    }
    assert result["hierarchical"] is None
    # the timid panel is under-extremized: learning gamma must beat the raw log-odds mean
    assert result["methods"]["recalibrated"]["brier"] < result["methods"]["logodds_mean"]["brier"]
    json.dumps(result)  # plain data, NaN-free


def test_base_rate_is_the_training_frequency():
    table, outcomes = timid_panel()
    result = cross_validate(
        table, outcomes, n_folds=3, seed=0, hierarchical=False, recalibration=SpyRecalibration()
    )
    assignment = result["folds"]["assignment"]
    q = "Q07"
    train = [o for p, o in outcomes.items() if assignment[p] != assignment[q]]
    expected = (sum(train) + 0.5) / (len(train) + 1)  # Jeffreys-smoothed
    assert result["predictions"]["base_rate"][q] == pytest.approx(expected, abs=1e-6)


def test_open_questions_and_unjudged_outcomes_are_listed_not_scored():
    table, outcomes = timid_panel(n_questions=12)
    resolved = {q: y for q, y in outcomes.items() if q not in ("Q10", "Q11")}
    resolved["Q99"] = 1  # resolved, but nobody answered it
    result = cross_validate(
        table, resolved, n_folds=3, seed=0, hierarchical=False, recalibration=SpyRecalibration()
    )
    assert result["n_questions"] == 10
    assert result["open_questions"] == ["Q10", "Q11"]
    assert result["outcomes_without_judgments"] == ["Q99"]


def test_no_overlap_between_judgments_and_outcomes_is_an_error():
    table, _ = timid_panel(n_questions=5)
    with pytest.raises(EvaluationError, match="no question has both judgments and an outcome"):
        cross_validate(table, {"X1": 1, "X2": 0}, hierarchical=False)


def test_calibration_figure_draws_the_methods():
    table, outcomes = timid_panel()
    result = cross_validate(
        table, outcomes, n_folds=3, seed=0, hierarchical=False, recalibration=SpyRecalibration()
    )
    figure = calibration_figure(result)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels[0] == "perfect calibration"
    assert any(label.startswith("recalibrated (Brier") for label in labels)


# --- the pooledmaRket files -------------------------------------------------------------
def converter(folder: Path):
    """The ``convert.py`` of a data folder, as a module."""
    spec = importlib.util.spec_from_file_location(f"convert_{folder.name}", folder / "convert.py")
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    return convert


def test_pooledmarket_files_are_what_convert_py_writes():
    convert = converter(POOLED)
    judgments, outcomes = convert.convert()
    assert (POOLED / "judgments.csv").read_text() == convert.to_csv(judgments)
    assert (POOLED / "outcomes.csv").read_text() == convert.to_csv(outcomes)
    assert len(judgments) == 7377 and len(outcomes) == 103
    anonymous = [r for r in judgments if "-anon-" in r["expert"]]
    assert len(anonymous) == 96 and len({r["expert"] for r in anonymous}) == 96


def test_pooledmarket_plain_pools_reproduce_the_published_numbers():
    """Pipeline check against Gordon et al. (2021) before any model is involved.

    Published: the survey mean correlates 0.564 with the outcomes (abstract) and is on the
    right side of 50 % for 68 of 103 findings (the script's chi-square table); the issue
    quotes Brier 0.201 for the log-odds mean.
    """
    table = JudgmentTable.from_csv(POOLED / "judgments.csv")
    outcomes = read_outcomes(POOLED / "outcomes.csv")["outcome"]
    baselines = all_baselines(table)
    y = outcomes[sorted(baselines)].to_numpy()
    mean = np.array([baselines[q]["linear_pool"] for q in sorted(baselines)])
    logodds = np.array([baselines[q]["logodds_mean"] for q in sorted(baselines)])
    assert np.corrcoef(mean, y)[0, 1] == pytest.approx(0.564, abs=0.0005)  # 3 decimals given
    assert int(np.sum((mean > 0.5) == (y == 1))) == 68
    assert brier_score(logodds, y) == pytest.approx(0.201, abs=0.005)


def test_sips_files_are_what_convert_py_writes():
    convert = converter(SIPS)
    judgments, outcomes = convert.convert()
    assert (SIPS / "judgments.csv").read_text() == convert.to_csv(judgments)
    assert (SIPS / "outcomes.csv").read_text() == convert.to_csv(outcomes)
    # 25 experts x 25 claims, every claim answered by every expert, in five groups of five
    frame = pd.DataFrame(judgments)
    assert len(frame) == 625 and frame.groupby("question")["expert"].nunique().eq(25).all()
    assert frame.groupby("cohort")["expert"].nunique().to_dict() == {
        f"UOM{k}": 5 for k in range(1, 6)
    }
    assert sum(int(row["outcome"]) for row in outcomes) == 13


def test_sips_judgments_reproduce_aggrecats_simple_pools():
    """Pipeline check against the aggreCAT package before any model is involved: its
    three simple pools ArMean, Median and LOArMean (round 2 best estimates) are our linear
    pool, median and log-odds mean for every claim (no answer is 0 or 100 %, so no clipping enters)."""
    table = JudgmentTable.from_csv(SIPS / "judgments.csv")
    baselines = all_baselines(table)
    scores = pd.read_csv(SIPS / "data_confidence_scores.csv")
    scores["question"] = "claim-" + scores["paper_id"].astype(str)
    for theirs, ours in (
        ("ArMean", "linear_pool"),
        ("Median", "median"),
        ("LOArMean", "logodds_mean"),
    ):
        published = scores[scores["method"] == theirs].set_index("question")["cs"]
        assert len(published) == 25
        mine = pd.Series({q: baselines[q][ours] for q in published.index})
        assert_allclose(mine.to_numpy(), published.to_numpy(), rtol=0, atol=1e-12, err_msg=theirs)


def test_engine_modules_import_no_django():
    code = (
        "import json, sys\n"
        "import aggregation.engine.scoring, aggregation.engine.recalibration, "
        "aggregation.engine.evaluation\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'django')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


# --- slow: the real recalibration -------------------------------------------------------
@pytest.mark.slow
def test_real_recalibration_forecasts_of_a_flipped_fold_are_bit_identical():
    table, outcomes = timid_panel(n_questions=24)
    model = LLORecalibration(sampler_config={"chains": 2, "tune": 200, "draws": 200})
    kwargs = {"n_folds": 3, "seed": 1, "hierarchical": False, "recalibration": model}
    first = cross_validate(table, outcomes, **kwargs)
    held_out = [q for q, k in first["folds"]["assignment"].items() if k == 2]
    flipped = {q: (1 - y if q in held_out else y) for q, y in outcomes.items()}
    second = cross_validate(table, flipped, **kwargs)
    for method in ("recalibrated",):
        for q in held_out:
            assert second["predictions"][method][q] == first["predictions"][method][q]
            assert second["intervals"][method][q] == first["intervals"][method][q]
    assert second["predictions"]["recalibrated"] != first["predictions"]["recalibrated"]


@pytest.mark.slow
def test_pooledmarket_ten_fold_scores_meet_issues_6_and_11():
    """The acceptance lines of issues 6 and 11, on the 103 pooledmaRket findings, seed 0.

    Priors and structure were fixed before this evaluation (recalibration.py). The
    recalibrated Brier varies with the fold assignment: 0.171-0.178 over fold seeds 0-9
    (mean 0.175); the final market price scores 0.192 on the same findings. Issue 11: the
    panel forecast at most 0.170, also no worse than the log-odds mean with 10 training
    questions a fold, and the consensus (no outcome seen) no worse than the log-odds mean:
    0.1980 against 0.2009 with binary model version 6, 0.2019 with version 5 (DESIGN.md,
    "Which expert is typical").
    """
    table = JudgmentTable.from_csv(POOLED / "judgments.csv")
    outcomes = read_outcomes(POOLED / "outcomes.csv")
    result = cross_validate(table, outcomes, n_folds=10, seed=0, learning_curve_sizes=(10,))
    methods = result["methods"]
    assert methods["forecast"]["brier"] <= 0.170
    assert methods["hierarchical"]["brier"] <= methods["logodds_mean"]["brier"]
    at_ten = {m: line["brier"][0] for m, line in result["learning_curve"]["methods"].items()}
    assert result["learning_curve"]["k"] == [10]
    assert at_ten["forecast"] <= at_ten["logodds_mean"] == methods["logodds_mean"]["brier"]
    print(json.dumps(methods, indent=1))
    assert all(m["n"] == 103 for m in methods.values())
    assert methods["recalibrated"]["brier"] <= 0.18
    assert methods["recalibrated"]["brier"] < 0.192  # the final market price
    # the best plain pool within 0.005 of the value the issue quotes; the paper itself
    # prints no Brier scores (its survey-mean numbers are checked in the test above)
    assert methods["logodds_mean"]["brier"] == pytest.approx(0.201, abs=0.005)
    assert min(methods[m]["brier"] for m in POOLS) == methods["logodds_mean"]["brier"]
    # recalibration keeps the ranking of the log-odds mean (a monotone map per project)
    assert methods["recalibrated"]["auc"] == pytest.approx(methods["logodds_mean"]["auc"], abs=0.03)
    assert methods["recalibrated"]["log_score"] > methods["logodds_mean"]["log_score"]
    # the hierarchical consensus was fitted once, on judgments alone, with diagnostics
    diagnostics = result["hierarchical"]["diagnostics"]
    assert {"max_rhat", "min_ess_bulk", "divergences", "warnings"} <= set(diagnostics)
    # every fold learned from the other 92-93 questions only
    assert [f["n_resolved"] + f["n_test"] for f in result["recalibration"]["folds"]] == [103] * 10
    # the calibration curve counts every question once
    assert sum(result["calibration"]["recalibrated"]["count"]) == 103


# --- meta-predictions: the surprisingly popular answer ----------------------------------
def with_meta(table: JudgmentTable, questions) -> JudgmentTable:
    """Every expert predicts each cohort's average answer as 0.5 on ``questions``."""
    frame = table.frame.copy()
    asked = frame["question"].isin(list(questions))
    for cohort in ("A", "B"):
        frame[f"meta_{cohort}"] = np.where(asked, 0.5, np.nan)
    return JudgmentTable.from_frame(frame)


def test_the_pivot_is_scored_on_the_questions_with_meta_predictions_only():
    table, outcomes = timid_panel()
    asked = sorted(outcomes)[:12]
    result = cross_validate(
        with_meta(table, asked),
        outcomes,
        n_folds=5,
        hierarchical=False,
        recalibration=SpyRecalibration(),
    )
    block = result["surprisingly_popular"]
    assert block["n_questions"] == 12
    assert "surprisingly_popular" not in result["methods"]  # not every question has them
    # predicted answers are all 0.5, so the pivot is 2 * mean - 0.5, and its answer is the
    # majority's: above 0.5 exactly when the mean answer is
    mean = table.frame.groupby("question")["probability"].mean()
    pivot = np.clip(2 * mean.loc[asked].to_numpy() - 0.5, 0.005, 0.995)
    y = np.array([outcomes[q] for q in asked])
    assert_allclose(block["methods"]["surprisingly_popular"]["brier"], brier_score(pivot, y))
    assert block["methods"]["logodds_mean"]["n"] == 12
    hits = block["hit_rate"]
    assert hits["surprisingly_popular_answer"] == hits["majority_answer"]


def test_the_pivot_joins_the_main_table_when_every_question_has_meta_predictions():
    table, outcomes = timid_panel()
    kwargs = {"n_folds": 5, "hierarchical": False, "recalibration": SpyRecalibration()}
    result = cross_validate(with_meta(table, outcomes), outcomes, **kwargs)
    assert result["methods"]["surprisingly_popular"]["n"] == 30
    # it reads no outcome: flipping every outcome leaves its forecasts as they were
    flipped = {q: 1 - v for q, v in outcomes.items()}
    again = cross_validate(with_meta(table, outcomes), flipped, **kwargs)
    assert (
        again["predictions"]["surprisingly_popular"]
        == result["predictions"]["surprisingly_popular"]
    )
    assert cross_validate(table, outcomes, **kwargs)["surprisingly_popular"] is None


# --- the learning curve -------------------------------------------------------------------
def test_training_subsets_are_seeded_subsets_of_the_fold_and_all_when_not_smaller():
    train = [f"Q{j:02d}" for j in range(30)]
    five = training_subset(train, 5, seed=3, fold=1)
    assert len(five) == 5 and set(five) <= set(train)
    assert five == training_subset(list(reversed(train)), 5, seed=3, fold=1)
    assert five != training_subset(train, 5, seed=3, fold=2)
    assert training_subset(train, None, seed=3, fold=1) == train
    assert training_subset(train, 40, seed=3, fold=1) == train
    assert training_subset(train, 0, seed=3, fold=1) == []


def test_the_learning_curve_scores_every_method_at_every_k():
    table, outcomes = timid_panel(n_questions=40)
    spy = SpyRecalibration()
    result = cross_validate(
        table, outcomes, n_folds=5, hierarchical=False, recalibration=spy,
        learning_curve_sizes=(0, 5, None),
    )  # fmt: skip
    curve = result["learning_curve"]
    assert curve["k"] == [0, 5, "all"]
    assert set(curve["methods"]) == set(result["methods"])
    # pools learn nothing: the same score at every k, the main table's
    pool = curve["methods"]["logodds_mean"]["brier"]
    assert pool == [result["methods"]["logodds_mean"]["brier"]] * 3
    # with all training questions the curve is the main table
    assert curve["methods"]["recalibrated"]["brier"][-1] == pytest.approx(
        result["methods"]["recalibrated"]["brier"]
    )
    # k = 0: the prior alone (gamma 2, tau 0) and a base rate of 1/2
    assert curve["methods"]["base_rate"]["brier"][0] == pytest.approx(0.25)
    logodds = table.frame.assign(x=logit(table.frame["probability"])).groupby("question")["x"]
    prior = expit(2.0 * logodds.mean())
    y = pd.Series(outcomes).sort_index()
    assert curve["methods"]["recalibrated"]["brier"][0] == pytest.approx(
        brier_score(prior.loc[y.index].to_numpy(), y.to_numpy()), abs=1e-6
    )
    # the curve's fits saw as many training questions as asked (the folds' own leak
    # tests above cover out_of_fold_recalibration, which the curve calls)
    assert sorted({len(call["train"]) for call in spy.calls})[:2] == [0, 5]
