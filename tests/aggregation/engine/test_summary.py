"""Posterior -> result contract, on hand-made posteriors whose summaries are known.

No sampling: the posterior is an ``xr.DataTree`` shaped like the one
``BinaryHierarchicalModel.fit`` returns (a ``posterior`` group with chain/draw dims, a
``sample_stats`` group with ``diverging``, the root attrs ``_annotate`` writes), filled
with draws chosen so that every mean, interval and probability can be worked out by hand.
"""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import logit

from aggregation.engine.data import JudgmentTable
from aggregation.engine.hierarchical import HierarchicalFit
from aggregation.engine.pooling import all_baselines
from aggregation.engine.summary import ESS_BULK_MIN, RHAT_MAX, summarize_hierarchical

# The hand-made posteriors hold quantities that never vary (a consensus pinned at 0.5):
# their R-hat is 0/0, which ArviZ warns about and the summary skips (nan-aware max/min).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

# Rounded to 6 decimals by the summary (summary._round), so expected values are compared
# with abs 1e-6: at most 5e-7 from the rounding plus floating error far below it.
APPROX = {"abs": 1e-6}

EXPERTS = ["u1", "u2", "u3", "r1", "r2"]  # US has three experts, ROK two: US comes first
COHORT_OF = {"u1": "US", "u2": "US", "u3": "US", "r1": "ROK", "r2": "ROK"}
ANSWERS = {
    # Q1, Q2: everyone; Q3: only the US cohort answered
    "Q1": {"u1": 0.1, "u2": 0.2, "u3": 0.3, "r1": 0.4, "r2": 0.5},
    "Q2": {"u1": 0.6, "u2": 0.7, "u3": 0.65, "r1": 0.3, "r2": 0.35},
    "Q3": {"u1": 0.2, "u2": 0.5, "u3": 0.9},
}


def judgment_table(answers=ANSWERS, cohort_of=COHORT_OF) -> JudgmentTable:
    rows = [
        {"expert": e, "cohort": cohort_of[e], "question": q, "probability": p}
        for q, by_expert in answers.items()
        for e, p in by_expert.items()
    ]
    return JudgmentTable.from_rows(rows)


def tree_of(
    posterior: dict[str, tuple[tuple[str, ...], np.ndarray]],
    coords: dict[str, list[str]],
    *,
    diverging: np.ndarray | None = None,
    **attrs,
) -> HierarchicalFit:
    """A fit from draws: name -> (dims after chain/draw, array of shape (chain, draw, ...))."""
    n_chains, n_draws = next(iter(posterior.values()))[1].shape[:2]
    dataset = xr.Dataset(
        {name: (("chain", "draw", *dims), values) for name, (dims, values) in posterior.items()},
        coords={"chain": np.arange(n_chains), "draw": np.arange(n_draws), **coords},
    )
    if diverging is None:
        diverging = np.zeros((n_chains, n_draws), dtype=bool)
    stats = xr.Dataset({"diverging": (("chain", "draw"), diverging)})
    tree = xr.DataTree.from_dict({"posterior": dataset, "sample_stats": stats})
    tree.attrs.update(
        {
            "model_name": "binary_hierarchical",
            "model_version": "1",
            "model_config": "{}",
            "sampler_config": "{}",
            "parametrization": "expert=centred,question=centred,cell=noncentred",
            "data_hash": "abc123",
            "round": 1,
            "random_seed": 42,
            "compile_seconds": 1.5,
            "compiled_model_reused": 0,
            "sampling_seconds": 2.25,
            **attrs,
        }
    )
    return HierarchicalFit(posterior=tree)


def summarize_as_fitted(fit: HierarchicalFit, table: JudgmentTable, **options) -> dict:
    """Summarize a hand-made posterior as the fit of ``table`` (stamps its data hash)."""
    fit.posterior.attrs["data_hash"] = table.data_hash()
    return summarize_hierarchical(fit, table, **options)


def chains(values, n_chains=2) -> np.ndarray:
    """8 values as (chain=2, draw=4): the order does not matter to means and quantiles."""
    return np.asarray(values, dtype=float).reshape(n_chains, -1)


def hand_made_fit() -> HierarchicalFit:
    """2 chains x 4 draws; see the expectations in ``test_the_summary_matches_hand_values``."""
    p1 = np.arange(1, 9) / 10  # Q1 consensus draws 0.1 .. 0.8
    q2 = np.array([0.45, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85])  # Q2: US belief draws
    mu = np.stack([logit(p1), np.zeros(8), np.full(8, logit(0.3))], axis=-1)  # (8, question)
    delta = np.zeros((8, 3, 2))  # (draw, question, cohort=[US, ROK])
    delta[:, 1, 0], delta[:, 1, 1] = logit(q2), -logit(q2)  # zero-sum; ROK believes 1 - q
    delta[:, 2, 0], delta[:, 2, 1] = 0.5, -0.5
    kappa = np.stack([np.arange(1.0, 9.0), np.full(8, 2.0), np.arange(1.0, 9.0) / 4], axis=-1)
    bias = np.tile(np.linspace(-0.35, 0.35, 8)[:, None], (1, 5)) * np.array([1, -1, 0, 2, -2])
    sigma = np.exp(np.tile(np.linspace(-0.35, 0.35, 8)[:, None], (1, 5)) * [1, 0, -1, 0.5, -0.5])
    return tree_of(
        {
            "mu_question": (("question",), mu.reshape(2, 4, 3)),
            "delta_cohort": (("question", "cohort"), delta.reshape(2, 4, 3, 2)),
            "kappa_question": (("question",), kappa.reshape(2, 4, 3)),
            "bias_expert": (("expert",), bias.reshape(2, 4, 5)),
            "sigma_expert": (("expert",), sigma.reshape(2, 4, 5)),
        },
        {"question": ["Q1", "Q2", "Q3"], "cohort": ["US", "ROK"], "expert": EXPERTS},
        diverging=np.array([[False, True, False, False], [False, False, False, True]]),
    )


@pytest.fixture(scope="module")
def summary() -> dict:
    return summarize_as_fitted(hand_made_fit(), judgment_table())


# ------------------------------------------------------------------ the contract's keys

DESIGN_TOP = {"method", "interval_mass", "diagnostics", "questions", "experts"}
DESIGN_DIAGNOSTICS = {"max_rhat", "min_ess_bulk", "divergences"}
DESIGN_QUESTION = {
    "n_judgments",
    "consensus",
    "disagreement",
    "cohorts",
    "cohort_gaps",
    "baselines",
}
DESIGN_GAP = {"a", "b", "mean", "interval", "p_a_higher"}
DESIGN_BASELINES = {"linear_pool", "median", "logodds_mean", "extremized_logodds"}
DESIGN_EXPERT = {"bias", "noise"}
# What the summary adds to DESIGN.md's example, pinned so that a change is deliberate.
EXTRA_TOP = {
    "round",
    "n_judgments",
    "data_hash",
    "model",
    "timings",
    "cohort_lean",
    "cohorts_pooled",
}
EXTRA_DIAGNOSTICS = {"per_quantity", "warnings"}
EXTRA_COHORT = {"n_judgments"}
EXTRA_EXPERT = {"cohort", "n_judgments"}


def test_the_result_has_exactly_the_contract_keys(summary):
    assert set(summary) == DESIGN_TOP | EXTRA_TOP
    assert summary["method"] == "hierarchical"
    assert set(summary["diagnostics"]) == DESIGN_DIAGNOSTICS | EXTRA_DIAGNOSTICS
    assert list(summary["questions"]) == ["Q1", "Q2", "Q3"]
    for entry in summary["questions"].values():
        assert set(entry) == DESIGN_QUESTION
        for point in (entry["consensus"], entry["disagreement"]):
            assert set(point) == {"mean", "interval"} and len(point["interval"]) == 2
        assert list(entry["cohorts"]) == ["US", "ROK"]
        for cohort in entry["cohorts"].values():
            assert set(cohort) == {"mean", "interval"} | EXTRA_COHORT
        assert [set(gap) for gap in entry["cohort_gaps"]] == [DESIGN_GAP]
        assert set(entry["baselines"]) == DESIGN_BASELINES
    assert list(summary["experts"]) == EXPERTS
    for entry in summary["experts"].values():
        assert set(entry) == DESIGN_EXPERT | EXTRA_EXPERT
        for point in (entry["bias"], entry["noise"]):
            if point is None:  # a bias constant in every draw is reported as none
                continue
            assert set(point) == {"mean", "interval"}
    assert set(summary["model"]) == {"name", "version", "parametrization", "random_seed", "scales"}
    assert set(summary["timings"]) == {
        "compile_seconds",
        "sampling_seconds",
        "compiled_model_reused",
    }


def test_the_result_is_strict_json(summary):
    text = json.dumps(summary, allow_nan=False)  # no NaN or inf anywhere
    assert json.loads(text) == summary


# ------------------------------------------------------------------ values by hand


def test_the_summary_matches_hand_values(summary):
    q1, q2, q3 = (summary["questions"][q] for q in ("Q1", "Q2", "Q3"))
    # Consensus Q1: expit(mu) draws 0.1..0.8; mean 0.45. The 90 % interval is the 5 % and
    # 95 % quantiles with linear interpolation between the 8 sorted draws: positions
    # 7 x 0.05 = 0.35 and 7 x 0.95 = 6.65, i.e. 0.1 + 0.035 and 0.7 + 0.065.
    assert q1["consensus"]["mean"] == pytest.approx(0.45, **APPROX)
    assert q1["consensus"]["interval"] == pytest.approx([0.135, 0.765], **APPROX)
    # Q2 and Q3: constant consensus 0.5 and 0.3
    assert q2["consensus"] == {"mean": 0.5, "interval": [0.5, 0.5]}
    assert q3["consensus"]["mean"] == pytest.approx(0.3, **APPROX)
    # Disagreement is kappa itself: Q1 draws 1..8 -> mean 4.5, interval 1.35 .. 7.65
    assert q1["disagreement"]["mean"] == pytest.approx(4.5, **APPROX)
    assert q1["disagreement"]["interval"] == pytest.approx([1.35, 7.65], **APPROX)
    assert q2["disagreement"] == {"mean": 2.0, "interval": [2.0, 2.0]}
    # Q1: no cohort deviation, so both cohorts believe the consensus and the gap is 0
    for cohort in ("US", "ROK"):
        assert q1["cohorts"][cohort]["mean"] == pytest.approx(0.45, **APPROX)
    (gap,) = q1["cohort_gaps"]
    assert (gap["a"], gap["b"]) == ("US", "ROK")
    assert gap["mean"] == pytest.approx(0.0, **APPROX) and gap["p_a_higher"] == 0.0
    # Q2: US believes q, ROK 1 - q (delta = +-logit q around mu = 0):
    # q = .45 .55 .6 .65 .7 .75 .8 .85 -> mean 5.35 / 8 = 0.66875; gap 2q - 1 =
    # -.1 .1 .2 .3 .4 .5 .6 .7 -> mean 2.7 / 8 = 0.3375, 5 % quantile -0.1 + 0.35 x 0.2,
    # 95 % 0.6 + 0.65 x 0.1; P(US > ROK) = 7 of 8 draws. US interval: .45 + .35 x .1 and
    # .8 + .65 x .05.
    assert q2["cohorts"]["US"]["mean"] == pytest.approx(0.66875, **APPROX)
    assert q2["cohorts"]["US"]["interval"] == pytest.approx([0.485, 0.8325], **APPROX)
    assert q2["cohorts"]["ROK"]["mean"] == pytest.approx(1 - 0.66875, **APPROX)
    (gap,) = q2["cohort_gaps"]
    assert gap["mean"] == pytest.approx(0.3375, **APPROX)
    assert gap["interval"] == pytest.approx([-0.03, 0.665], **APPROX)
    assert gap["p_a_higher"] == 0.875
    # Q3: only the US answered; its ROK entry says so
    assert q3["cohorts"]["US"]["n_judgments"] == 3
    assert q3["cohorts"]["ROK"]["n_judgments"] == 0
    assert q3["cohort_gaps"][0]["p_a_higher"] == 1.0  # delta +-0.5 in every draw


def test_counts_and_experts(summary):
    assert summary["n_judgments"] == 13
    assert [summary["questions"][q]["n_judgments"] for q in ("Q1", "Q2", "Q3")] == [5, 5, 3]
    assert summary["questions"]["Q1"]["cohorts"]["US"]["n_judgments"] == 3
    assert summary["questions"]["Q1"]["cohorts"]["ROK"]["n_judgments"] == 2
    assert summary["experts"]["u1"]["cohort"] == "US"
    assert summary["experts"]["u1"]["n_judgments"] == 3
    assert summary["experts"]["r2"]["n_judgments"] == 2
    # bias of u1: 8 evenly spaced draws -0.35 .. 0.35 (step 0.1): mean 0, interval
    # -0.35 + 0.035 .. 0.25 + 0.065; r1 twice that.
    assert summary["experts"]["u1"]["bias"]["mean"] == pytest.approx(0.0, **APPROX)
    assert summary["experts"]["u1"]["bias"]["interval"] == pytest.approx([-0.315, 0.315], **APPROX)
    assert summary["experts"]["r1"]["bias"]["interval"] == pytest.approx([-0.63, 0.63], **APPROX)
    # u3's bias is 0 in every draw, as for an expert alone in a cohort: it has no bias of
    # its own, so none is reported (a point mass at 0 would read as "measured: no bias")
    assert summary["experts"]["u3"]["bias"] is None
    # noise of u1: exp of the same draws; mean of exp(-0.35 .. 0.35)
    expected = np.exp(np.linspace(-0.35, 0.35, 8)).mean()
    assert summary["experts"]["u1"]["noise"]["mean"] == pytest.approx(expected, **APPROX)
    assert summary["experts"]["u2"]["noise"] == {"mean": 1.0, "interval": [1.0, 1.0]}


def test_baselines_come_from_the_table(summary):
    expected = all_baselines(judgment_table())
    for question, entry in summary["questions"].items():
        assert entry["baselines"] == pytest.approx(expected[question], **APPROX)
    # one by hand: Q1 answers 0.1 .. 0.5, linear pool 0.3, median 0.3
    assert summary["questions"]["Q1"]["baselines"]["linear_pool"] == pytest.approx(0.3, **APPROX)
    assert summary["questions"]["Q1"]["baselines"]["median"] == pytest.approx(0.3, **APPROX)


def test_provenance_and_timings_come_from_the_attrs(summary):
    assert summary["round"] == 1
    assert summary["data_hash"] == judgment_table().data_hash()
    assert summary["interval_mass"] == 0.9
    assert summary["model"]["name"] == "binary_hierarchical"
    assert summary["model"]["version"] == "1"
    assert summary["model"]["random_seed"] == 42
    assert summary["model"]["parametrization"].startswith("expert=centred")
    assert summary["timings"] == {
        "compile_seconds": 1.5,
        "sampling_seconds": 2.25,
        "compiled_model_reused": False,
    }
    assert summary["diagnostics"]["divergences"] == 2


@pytest.mark.parametrize(
    ("mass", "interval"),
    [
        # Q1's sorted draws 0.1 .. 0.8 (step 0.1) at positions 7 x tail, interpolated:
        (0.5, [0.275, 0.625]),  # tails 0.25, 0.75: positions 1.75, 5.25
        (0.8, [0.17, 0.73]),  # tails 0.1, 0.9: positions 0.7, 6.3
        (0.98, [0.107, 0.793]),  # tails 0.01, 0.99: positions 0.07, 6.93
    ],
)
def test_the_interval_mass_is_honoured(mass, interval):
    result = summarize_as_fitted(hand_made_fit(), judgment_table(), interval_mass=mass)
    assert result["interval_mass"] == mass
    assert result["questions"]["Q1"]["consensus"]["interval"] == pytest.approx(interval, **APPROX)


@pytest.mark.parametrize("mass", [0.0, 1.0, 1.5, -0.1, 90])
def test_an_impossible_interval_mass_is_refused(mass):
    with pytest.raises(ValueError, match="interval mass must be between 0 and 1"):
        summarize_as_fitted(hand_made_fit(), judgment_table(), interval_mass=mass)


def test_the_extremizing_factor_reaches_the_baselines():
    result = summarize_as_fitted(hand_made_fit(), judgment_table(), extremize_factor=1.0)
    for entry in result["questions"].values():
        assert entry["baselines"]["extremized_logodds"] == entry["baselines"]["logodds_mean"]


# ------------------------------------------------------------------ cohorts: one, three


def iid_fit(
    n_questions=3,
    experts=("a1", "a2", "b1", "b2"),
    cohorts=("A", "B"),
    *,
    n_chains=4,
    n_draws=1000,
    seed=0,
    shift=0.0,
    diverging=None,
) -> HierarchicalFit:
    """Independent normal draws (a well-mixed sampler), chain k offset by k x shift."""
    rng = np.random.default_rng(seed)
    questions = [f"Q{j + 1}" for j in range(n_questions)]
    offset = shift * np.arange(n_chains)[:, None, None]

    def draws(*shape, loc=0.0, scale=1.0):
        return loc + scale * rng.standard_normal((n_chains, n_draws, *shape))

    raw_delta = draws(n_questions, len(cohorts), scale=0.3)
    return tree_of(
        {
            "mu_question": (("question",), draws(n_questions) + offset),
            "delta_cohort": (
                ("question", "cohort"),
                raw_delta - raw_delta.mean(axis=-1, keepdims=True),
            ),
            "kappa_question": (("question",), np.exp(draws(n_questions, scale=0.2))),
            "bias_expert": (("expert",), draws(len(experts), scale=0.3)),
            "sigma_expert": (("expert",), np.exp(draws(len(experts), scale=0.2))),
        },
        {"question": questions, "cohort": list(cohorts), "expert": list(experts)},
        diverging=diverging,
    )


def table_for(fit: HierarchicalFit, cohort_of: dict[str, str]) -> JudgmentTable:
    posterior = fit.posterior["posterior"]
    rows = [
        {"expert": e, "cohort": cohort_of[e], "question": q, "probability": 0.5}
        for q in posterior["question"].values
        for e in posterior["expert"].values
    ]
    return JudgmentTable.from_frame(pd.DataFrame(rows))


def test_one_cohort_gives_no_cohort_entries():
    fit = iid_fit(cohorts=("A",), n_draws=100)
    posterior = fit.posterior["posterior"]
    posterior["delta_cohort"] = xr.zeros_like(posterior["delta_cohort"])
    result = summarize_as_fitted(fit, table_for(fit, dict.fromkeys(["a1", "a2", "b1", "b2"], "A")))
    for entry in result["questions"].values():
        assert entry["cohorts"] == {} and entry["cohort_gaps"] == []
    assert set(result["diagnostics"]["per_quantity"]) == {
        "consensus",
        "disagreement",
        "bias",
        "noise",
    }


def test_a_fit_with_pooled_cohorts_says_why_it_reports_no_cohorts():
    fit = iid_fit(cohorts=("all cohorts",), n_draws=100)
    posterior = fit.posterior["posterior"]
    posterior["delta_cohort"] = xr.zeros_like(posterior["delta_cohort"])
    fit.posterior.attrs["pooled_cohorts"] = json.dumps([["A"], ["B"]])
    result = summarize_as_fitted(fit, table_for(fit, {"a1": "A", "a2": "A", "b1": "B", "b2": "B"}))
    assert result["cohorts_pooled"]["groups"] == [["A"], ["B"]]
    assert "no question was answered by experts of two" in result["cohorts_pooled"]["why"]
    assert all(entry["cohorts"] == {} for entry in result["questions"].values())
    assert result["experts"]["b1"]["cohort"] == "B"  # the expert's own cohort, still
    assert summarize_as_fitted(hand_made_fit(), judgment_table())["cohorts_pooled"] is None


def test_three_cohorts_give_every_pair_in_cohort_order():
    fit = iid_fit(experts=("a1", "b1", "c1"), cohorts=("A", "B", "C"), n_draws=100)
    result = summarize_as_fitted(fit, table_for(fit, {"a1": "A", "b1": "B", "c1": "C"}))
    for entry in result["questions"].values():
        assert list(entry["cohorts"]) == ["A", "B", "C"]
        assert [(g["a"], g["b"]) for g in entry["cohort_gaps"]] == [
            ("A", "B"),
            ("A", "C"),
            ("B", "C"),
        ]
        # the gaps are differences of beliefs, so a-c = (a-b) + (b-c) on the means (linear)
        ab, ac, bc = (g["mean"] for g in entry["cohort_gaps"])
        assert ac == pytest.approx(ab + bc, abs=3e-6)  # three roundings to 6 decimals
        # and P(a > b) and P(b > a) cannot both be large
        assert 0.0 <= entry["cohort_gaps"][0]["p_a_higher"] <= 1.0


# ------------------------------------------------------------------ diagnostics and warnings

COHORT_OF_IID = {"a1": "A", "a2": "A", "b1": "B", "b2": "B"}


def test_a_well_mixed_posterior_has_no_warnings():
    fit = iid_fit()
    diagnostics = summarize_as_fitted(fit, table_for(fit, COHORT_OF_IID))["diagnostics"]
    assert diagnostics["warnings"] == []
    assert diagnostics["max_rhat"] <= RHAT_MAX
    assert diagnostics["min_ess_bulk"] >= ESS_BULK_MIN
    assert diagnostics["divergences"] == 0
    assert set(diagnostics["per_quantity"]) == {
        "consensus",
        "disagreement",
        "bias",
        "noise",
        "cohort_belief",
        "cohort_gap",
    }
    assert diagnostics["max_rhat"] == max(
        q["max_rhat"] for q in diagnostics["per_quantity"].values()
    )


def test_chains_shifted_apart_give_an_rhat_warning_for_what_they_touch():
    fit = iid_fit(shift=0.5)  # the chains' consensus log-odds sit 0.5 sd apart
    diagnostics = summarize_as_fitted(fit, table_for(fit, COHORT_OF_IID))["diagnostics"]
    per = diagnostics["per_quantity"]
    assert per["consensus"]["max_rhat"] > RHAT_MAX
    assert diagnostics["max_rhat"] == per["consensus"]["max_rhat"]
    rhat_warnings = [w for w in diagnostics["warnings"] if "R-hat" in w]
    # consensus and the cohort beliefs and gaps (functions of mu + delta) move with mu;
    # the disagreement and the expert effects do not
    flagged = {w.split(":")[0] for w in rhat_warnings}
    assert "consensus" in flagged and "cohort_belief" in flagged
    assert not flagged & {"disagreement", "bias", "noise"}
    assert any(
        w.startswith(f"consensus: R-hat up to {per['consensus']['max_rhat']:.3f} (> 1.01)")
        for w in rhat_warnings
    )


def test_few_draws_give_an_ess_warning():
    fit = iid_fit(n_chains=2, n_draws=60)  # at most 120 independent draws
    diagnostics = summarize_as_fitted(fit, table_for(fit, COHORT_OF_IID))["diagnostics"]
    assert diagnostics["min_ess_bulk"] < ESS_BULK_MIN
    ess_warnings = {w.split(":")[0] for w in diagnostics["warnings"] if "bulk ESS" in w}
    assert ess_warnings == set(diagnostics["per_quantity"])  # every quantity, none dropped
    for name, q in diagnostics["per_quantity"].items():
        assert f"{name}: bulk ESS down to {q['min_ess_bulk']} (< 400)" in " | ".join(
            diagnostics["warnings"]
        )


def test_divergences_are_counted_and_warned_about():
    diverging = np.zeros((4, 1000), dtype=bool)
    diverging[1, [5, 50, 500]] = True
    fit = iid_fit(diverging=diverging)
    result = summarize_as_fitted(fit, table_for(fit, COHORT_OF_IID))
    diagnostics = result["diagnostics"]
    assert diagnostics["divergences"] == 3
    assert diagnostics["warnings"] == [
        "3 divergent transitions: the sampler may have missed part of the posterior."
    ]
    # and the warning survives the trip to JSON
    assert json.loads(json.dumps(result))["diagnostics"]["warnings"] == diagnostics["warnings"]


def test_every_bad_diagnostic_is_reported_at_once():
    diverging = np.zeros((2, 60), dtype=bool)
    diverging[0, 0] = True
    fit = iid_fit(n_chains=2, n_draws=60, shift=2.0, diverging=diverging)
    warnings = summarize_as_fitted(fit, table_for(fit, COHORT_OF_IID))["diagnostics"]["warnings"]
    assert any("R-hat" in w for w in warnings)
    assert any("bulk ESS" in w for w in warnings)
    assert warnings[-1].startswith("1 divergent transitions")


# ------------------------------------------------------------------ mismatched inputs


def test_a_table_that_is_not_the_fitted_one_is_refused():
    fit = hand_made_fit()
    fit.posterior.attrs["data_hash"] = judgment_table().data_hash()
    summarize_hierarchical(fit, judgment_table())  # the right table passes
    other = {q: {e: 0.5 for e in by_expert} for q, by_expert in ANSWERS.items()}
    with pytest.raises(ValueError, match="data hash"):
        summarize_hierarchical(fit, judgment_table(other))


def test_a_single_chain_is_flagged_and_the_result_stays_valid_json():
    fit = iid_fit(n_chains=1)
    result = summarize_as_fitted(fit, table_for(fit, COHORT_OF_IID))
    json.dumps(result, allow_nan=False)
    assert any("R-hat" in w for w in result["diagnostics"]["warnings"])


def test_the_consensus_of_a_question_one_cohort_answered_is_that_cohorts_belief():
    """mu_j weighs every cohort, including those that never saw question j; the reported
    consensus is the mean over the cohorts that answered (mu_j when all did)."""
    import xarray as xr
    from scipy.special import expit

    from aggregation.engine.summary import answered_cells, derived_draws

    rng = np.random.default_rng(0)
    questions, cohorts = ["Q1", "Q2"], ["ROK", "US"]
    raw = rng.normal(size=(2, 50, 2, 1))
    posterior = xr.Dataset(
        {
            "mu_question": (("chain", "draw", "question"), rng.normal(size=(2, 50, 2))),
            "delta_cohort": (
                ("chain", "draw", "question", "cohort"),
                np.concatenate([raw, -raw], axis=-1),
            ),
            "kappa_question": (("chain", "draw", "question"), np.ones((2, 50, 2))),
            "bias_expert": (("chain", "draw", "expert"), np.zeros((2, 50, 3))),
            "sigma_expert": (("chain", "draw", "expert"), np.ones((2, 50, 3))),
        },
        coords={"question": questions, "cohort": cohorts, "expert": ["E1", "E2", "E3"]},
    )
    # E1 (ROK) answered Q1 and Q2, E2 and E3 (US) only Q2
    constant = xr.Dataset(
        {
            "expert_idx": ("judgment", [0, 0, 1, 2]),
            "question_idx": ("judgment", [0, 1, 1, 1]),
            "cohort_of_expert": ("expert", [0, 1, 1]),
        }
    )
    tree = xr.DataTree.from_dict({"posterior": posterior, "constant_data": constant})
    answered = answered_cells(tree)
    assert answered.sel(question="Q1").values.tolist() == [True, False]
    assert answered.sel(question="Q2").values.all()
    draws = derived_draws(posterior, cohorts, answered)
    mu, delta = posterior["mu_question"], posterior["delta_cohort"]
    np.testing.assert_allclose(
        draws["consensus"].sel(question="Q1"), expit(mu + delta).sel(question="Q1", cohort="ROK")
    )
    np.testing.assert_allclose(draws["consensus"].sel(question="Q2"), expit(mu).sel(question="Q2"))


def test_a_quantity_undefined_in_every_draw_is_left_out_without_a_warning():
    import warnings

    from aggregation.engine.summary import diagnostics

    rng = np.random.default_rng(0)
    draws = xr.Dataset(
        {
            "defined": (("chain", "draw"), rng.normal(size=(4, 200))),
            "undefined": (("chain", "draw"), np.full((4, 200), np.nan)),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Degrees of freedom <= 0" would fail here
        result = diagnostics(draws, xr.Dataset())
    assert set(result["per_quantity"]) == {"defined"}
    assert result["max_rhat"] < 1.02
