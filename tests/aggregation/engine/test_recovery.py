"""The hierarchical model recovers what it is meant to, on panels simulated with known truth.

Real nutpie sampling (slow). The panels come from ``synthetic.simulate_binary_panel``,
which draws judgments from the model's own generative story with known mu, delta, bias,
sigma and kappa, then does what people do: answers rounded to 5 % and 10 % of questions
skipped. Compiling a model costs seconds per panel shape while sampling these panels costs
about one, so panels of one shape share a compiled model (which the refit test relies on)
and the default sampler settings (4 chains x 1,500 draws since model version 5) are kept except
where a test's claim needs less, as said there.
"""

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import expit, logit

from aggregation.engine.data import JudgmentTable
from aggregation.engine.hierarchical import BinaryHierarchicalModel, HierarchicalFit
from aggregation.engine.summary import summarize_hierarchical
from aggregation.engine.synthetic import SyntheticPanel, own_questions, simulate_binary_panel

pytestmark = pytest.mark.slow

ROUNDING = 0.05
ANSWER_RATE = 0.9


@dataclass
class Fitted:
    panel: SyntheticPanel
    table: JudgmentTable
    fit: HierarchicalFit
    summary: dict

    def consensus(self, field: str = "mean") -> np.ndarray:
        return np.array(
            [self.summary["questions"][q]["consensus"][field] for q in self.panel.questions]
        )

    def baseline(self, method: str) -> np.ndarray:
        return np.array(
            [self.summary["questions"][q]["baselines"][method] for q in self.panel.questions]
        )


def fit_panel(panel: SyntheticPanel, *, seed: int, frame=None, **configs) -> Fitted:
    table = JudgmentTable.from_frame(panel.judgments if frame is None else frame)
    fit = BinaryHierarchicalModel(**configs).fit(table, random_seed=seed)
    return Fitted(panel, table, fit, summarize_hierarchical(fit, table))


def rmse_logodds(p: np.ndarray, mu: np.ndarray) -> float:
    """Root mean squared error on the log-odds scale (0 and 1 clipped as the model does)."""
    return float(np.sqrt(np.mean((logit(np.clip(p, 0.005, 0.995)) - mu) ** 2)))


# ------------------------------------------------------------------ (a) coverage

N_COVERAGE_PANELS = 6  # x 25 questions = 150 intervals


def test_90_percent_consensus_intervals_cover_the_truth_at_about_the_nominal_rate():
    covered = []
    for k in range(N_COVERAGE_PANELS):
        panel = simulate_binary_panel(
            n_experts=40,
            n_questions=25,
            answer_rate=ANSWER_RATE,
            rounding=ROUNDING,
            seed=100 + k,
        )
        fitted = fit_panel(panel, seed=k)
        lower, upper = np.array(fitted.consensus("interval")).T
        covered += list((lower <= panel.consensus) & (panel.consensus <= upper))
        assert fitted.summary["diagnostics"]["divergences"] == 0
    rate = float(np.mean(covered))
    print(f"consensus coverage: {rate:.3f} of {len(covered)} intervals")
    # n = 150 intervals of nominal mass 0.9: a binomial sd of sqrt(0.9 x 0.1 / 150) = 0.024.
    # The upper bound is 3 sd above 0.9 (intervals far too wide would fail it); the lower
    # bound is 4 sd below, because intervals of one panel share its hyper-parameters (they
    # are not independent) and the 5 % rounding is a noise the model does not know about.
    assert len(covered) >= 100
    assert 0.80 <= rate <= 0.97


N_GAP_PANELS = 40  # x 20 questions = 800 intervals per condition, ~25 s of sampling


@pytest.mark.parametrize("lean", [0.0, 1.0])
def test_90_percent_cohort_gap_intervals_cover_the_truth_with_and_without_a_lean(lean):
    """Gaps (US - ROK, probability) drawn question by question around a common lean of US
    over ROK (log-odds), small panels (16 experts, 80 % answered, 20 questions): the
    acceptance's 85-95 %. Coverage differs between sets of panels by more than the
    binomial sd of 0.011 (its intervals share each panel's hyper-parameters): the first 8
    of these panels gave 0.84 while 40 give 0.87, and two other sets of 40 gave 0.87-0.90
    (bench/README.md, "Cohort gaps"), so the test uses 40. Version 2's priors on the cohort
    scales (0.5) gave 0.854 and 0.879 here."""
    covered, leans = [], []
    for k in range(N_GAP_PANELS):
        rng = np.random.default_rng(200 + k)
        raw = rng.normal(0.0, 0.4, (20, 2))
        delta = raw - raw.mean(axis=1, keepdims=True) + np.array([lean, -lean]) / 2
        panel = simulate_binary_panel(
            n_experts=16, n_questions=20, delta=delta, answer_rate=0.8, seed=200 + k
        )
        fitted = fit_panel(panel, seed=k)
        summary = fitted.summary
        assert summary["diagnostics"]["divergences"] == 0
        us, rok = panel.cohorts.index("US"), panel.cohorts.index("ROK")
        for j, question in enumerate(panel.questions):
            gap = summary["questions"][question]["cohort_gaps"][0]
            a, b = (us, rok) if gap["a"] == "US" else (rok, us)
            truth = expit(panel.mu[j] + delta[j, a]) - expit(panel.mu[j] + delta[j, b])
            covered.append(gap["interval"][0] <= truth <= gap["interval"][1])
        leans.append(summary["cohort_lean"]["US"]["mean"] - summary["cohort_lean"]["ROK"]["mean"])
    rate = float(np.mean(covered))
    print(
        f"lean {lean}: gap coverage {rate:.3f} of {len(covered)}, lean found {np.mean(leans):.2f}"
    )
    assert 0.85 <= rate <= 0.95
    # the lean is recovered (US - ROK, log-odds; its truth is `lean` plus the mean of the
    # question-by-question parts, sd 0.4 x sqrt(2 / 20))
    assert abs(np.mean(leans) - lean) < 0.3


# ------------------------------------------------------------------ the main panel: (b) (c) (d)

N_EXPERTS, N_QUESTIONS = 60, 30
GAP_QUESTIONS = {2: 0.8, 9: -0.8, 16: 0.8, 23: -0.8}  # delta of the first cohort (US)


def main_panel(seed: int, question_prefix: str = "Q", expert_prefix: str = "E") -> SyntheticPanel:
    """60 x 30, US and ROK half each; cohort gaps planted on 4 questions, none elsewhere;
    the question of median disagreement made 3 times as contested (``extra["contested"]``).
    """
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 1.2, N_QUESTIONS)
    kappa = np.exp(rng.normal(np.log(0.8), 0.35, N_QUESTIONS))
    candidates = [j for j in np.argsort(kappa) if j not in GAP_QUESTIONS]
    contested = int(candidates[len(candidates) // 2])
    kappa[contested] *= 3
    delta = np.zeros((N_QUESTIONS, 2))
    for j, gap in GAP_QUESTIONS.items():
        delta[j] = [gap, -gap]
    panel = simulate_binary_panel(
        n_experts=N_EXPERTS,
        n_questions=N_QUESTIONS,
        cohorts={"US": 0.5, "ROK": 0.5},
        mu=mu,
        kappa=kappa,
        delta=delta,
        answer_rate=ANSWER_RATE,
        rounding=ROUNDING,
        seed=seed,
        question_prefix=question_prefix,
        expert_prefix=expert_prefix,
    )
    panel.extra["contested"] = contested
    return panel


@pytest.fixture(scope="module")
def main_fit() -> Fitted:
    return fit_panel(main_panel(seed=7), seed=7)


def test_the_main_panel_converges(main_fit):
    # the acceptance for a 60 x 30 two-cohort panel
    diagnostics = main_fit.summary["diagnostics"]
    assert diagnostics["max_rhat"] <= 1.01
    assert diagnostics["divergences"] == 0
    assert diagnostics["min_ess_bulk"] >= 400
    assert diagnostics["warnings"] == []


def test_the_consensus_is_closer_to_the_truth_than_the_pools(main_fit):
    mu = main_fit.panel.mu
    model = rmse_logodds(main_fit.consensus(), mu)
    logodds_mean = rmse_logodds(main_fit.baseline("logodds_mean"), mu)
    linear_pool = rmse_logodds(main_fit.baseline("linear_pool"), mu)
    print(
        f"RMSE (log-odds): model {model:.3f}, log-odds mean {logodds_mean:.3f}, linear pool {linear_pool:.3f}"
    )
    assert model < logodds_mean
    assert model < linear_pool


def test_a_question_made_more_contested_ranks_near_the_top_on_disagreement(main_fit):
    contested = main_fit.panel.extra["contested"]
    questions = main_fit.panel.questions
    disagreement = np.array(
        [main_fit.summary["questions"][q]["disagreement"]["mean"] for q in questions]
    )
    rank = int((disagreement > disagreement[contested]).sum()) + 1
    print(f"contested question ranks {rank} of {len(questions)} on disagreement")
    assert rank <= 3
    # and clearly above a typical question: its interval lies above the median mean
    lower = main_fit.summary["questions"][questions[contested]]["disagreement"]["interval"][0]
    assert lower > np.median(disagreement)


def test_a_planted_cohort_gap_is_recovered(main_fit):
    summary, panel = main_fit.summary, main_fit.panel
    gaps = {q: summary["questions"][q]["cohort_gaps"][0] for q in panel.questions}
    first = gaps[panel.questions[0]]["a"]
    sign = 1.0 if first == "US" else -1.0  # the planted deltas are the US cohort's
    for j, planted in GAP_QUESTIONS.items():
        gap = gaps[panel.questions[j]]
        us_higher = gap["p_a_higher"] if first == "US" else 1.0 - gap["p_a_higher"]
        assert np.sign(sign * gap["mean"]) == np.sign(planted), (j, gap)
        # P(the cohort that was made higher is higher) > 0.95
        assert (us_higher if planted > 0 else 1.0 - us_higher) > 0.95, (j, gap)
    # no gap planted: the gap's interval covers 0 and P(a > b) is not decisive
    no_gap = [gaps[q] for j, q in enumerate(panel.questions) if j not in GAP_QUESTIONS]
    covers_zero = np.mean([g["interval"][0] <= 0.0 <= g["interval"][1] for g in no_gap])
    undecided = np.mean([0.05 < g["p_a_higher"] < 0.95 for g in no_gap])
    print(
        f"no-gap questions: interval covers 0 in {covers_zero:.2f}, 0.05 < P < 0.95 in {undecided:.2f}"
    )
    # 26 questions whose true gap is 0, 90 % intervals: expect ~0.9 or more (cohort
    # deviations are shrunk); 0.75 is 2.5 binomial sd (0.059) below 0.9.
    assert covers_zero >= 0.75 and undecided >= 0.75
    assert 0.2 <= np.median([g["p_a_higher"] for g in no_gap]) <= 0.8


# ------------------------------------------------------------------ (f) save / load


def test_a_saved_posterior_round_trips_with_its_provenance(main_fit, tmp_path):
    path = main_fit.fit.save(tmp_path / "fit.nc")
    loaded = HierarchicalFit.load(path)
    attrs = loaded.attrs
    for key in ("model_name", "model_version", "model_config", "sampler_config", "data_hash"):
        assert attrs[key] == main_fit.fit.attrs[key], key
    assert attrs["model_name"] == "binary_hierarchical"
    assert attrs["data_hash"] == main_fit.table.data_hash()
    assert loaded.model_config == BinaryHierarchicalModel().model_config
    assert int(attrs["random_seed"]) == 7 and int(attrs["round"]) == 1
    for group in ("posterior", "sample_stats", "constant_data", "observed_data"):
        xr.testing.assert_equal(
            loaded.posterior[group].to_dataset(), main_fit.fit.posterior[group].to_dataset()
        )
    again = summarize_hierarchical(loaded, main_fit.table)
    assert again["questions"] == main_fit.summary["questions"]
    assert again["experts"] == main_fit.summary["experts"]


# ------------------------------------------------------------------ (g) refit, compiled model reused


def test_a_refit_with_new_data_of_the_same_shape_reuses_the_compiled_model(main_fit):
    # a new panel of the same shape (60 experts in cohorts of 30, 30 questions) with new
    # labels and another number of answers: only the data and the labels change
    panel = main_panel(seed=8, question_prefix="R", expert_prefix="X")
    assert len(panel.judgments) != len(main_fit.table)
    refit = fit_panel(panel, seed=8)
    assert refit.fit.attrs["compiled_model_reused"] == 1
    assert refit.fit.attrs["compile_seconds"] < 1.0  # no compilation, a data swap
    assert refit.fit.attrs["data_hash"] == refit.table.data_hash()
    posterior = refit.fit.posterior["posterior"]
    assert list(posterior["question"].values) == panel.questions
    assert set(posterior["expert"].values) == set(panel.experts)
    assert list(refit.summary["questions"]) == panel.questions
    # different numbers, and they are the new panel's: the consensus tracks the new truth
    assert not np.allclose(refit.consensus(), main_fit.consensus())
    model = rmse_logodds(refit.consensus(), panel.mu)
    assert model < rmse_logodds(refit.baseline("logodds_mean"), panel.mu)
    assert model < rmse_logodds(main_fit.consensus(), panel.mu) / 3
    assert refit.summary["diagnostics"]["divergences"] == 0


# ------------------------------------------------------------------ (e) awkward panels


def awkward_panel(seed: int = 5) -> tuple[SyntheticPanel, pd.DataFrame]:
    """24 x 12: cohorts of 20, 3 and 1 experts; Q05 answered by the US cohort only; every
    17th answer made exactly 0 and the one 5 after it exactly 1."""
    panel = simulate_binary_panel(
        n_experts=24,
        n_questions=12,
        cohorts={"US": 20 / 24, "ROK": 3 / 24, "JP": 1 / 24},
        rounding=ROUNDING,
        seed=seed,
    )
    frame = panel.judgments.copy()
    frame.loc[frame.index[::17], "probability"] = 0.0
    frame.loc[frame.index[5::17], "probability"] = 1.0
    return panel, frame


# The expert alone in JP has a bias pinned at 0 (biases sum to zero within a cohort): its
# draws never vary, so ArviZ warns that their R-hat is 0/0; the summary skips it.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_awkward_panels_fit_with_finite_results():
    """Claim: no error and finite, well-formed output; 300 tuning draws per chain are
    plenty for that (this is not a convergence test, see the next one), and 2,000 draws
    make the widths compared below more than Monte Carlo noise."""
    panel, complete = awkward_panel()
    one_cohort = complete[~((complete["question"] == "Q05") & (complete["cohort"] != "US"))]
    sampler = {"sampler_config": {"tune": 300, "draws": 2000}}
    fitted = fit_panel(panel, seed=5, frame=one_cohort, **sampler)
    summary = fitted.summary
    assert fitted.fit.data.cohort_sizes == [1, 3, 20]  # JP, ROK, US: alphabetical
    assert (fitted.table.frame["probability"] == 0).any() and (
        fitted.table.frame["probability"] == 1
    ).any()
    for name in ("mu_question", "delta_cohort", "bias_expert", "sigma_expert", "kappa_question"):
        assert np.isfinite(fitted.fit.posterior["posterior"][name].values).all(), name
    json.dumps(summary, allow_nan=False)  # every reported number is finite
    assert np.isfinite(summary["diagnostics"]["max_rhat"])
    q05 = summary["questions"]["Q05"]
    assert q05["cohorts"]["ROK"]["n_judgments"] == 0 and q05["cohorts"]["JP"]["n_judgments"] == 0
    assert len(q05["cohort_gaps"]) == 3  # JP-ROK, JP-US, ROK-US

    # The question only one cohort answered: its consensus (the cohorts' average belief)
    # is uncertain by the unanswered cohorts' deviations, so its interval widens. Widths
    # on the log-odds scale, where they do not depend on how close to 0 or 1 a question is.
    # The effect is small here (20 of the 24 experts answered Q05): over sampler seeds
    # 5-10, Q05's width was 0.4-3.4 % above the median with 2,000 draws a chain (model
    # version 6), and on two seeds of six below it with 500.
    def width(entry):
        low, high = entry["consensus"]["interval"]
        return float(logit(high) - logit(low))

    widths = {q: width(entry) for q, entry in summary["questions"].items()}
    print(
        f"Q05 log-odds interval width {widths['Q05']:.2f}, median {np.median(list(widths.values())):.2f}"
    )
    assert widths["Q05"] > np.median(list(widths.values()))
    # The same question answered by everyone (same shape: a data swap) reuses the compiled
    # model. Its width is not compared: on this panel the other cohorts are 1 and 3
    # experts, some of whose answers are 0 or 1, and the difference is below the Monte
    # Carlo error (sampler seeds 5-10: one cohort minus everyone -0.023 log-odds on average
    # with 500 draws, +0.020 with 2,000; either sign at either size). An earlier version
    # of this test asserted it and passed by the luck of one seed.
    everyone = fit_panel(panel, seed=5, frame=complete, **sampler)
    assert everyone.fit.attrs["compiled_model_reused"] == 1
    assert np.isfinite(width(everyone.summary["questions"]["Q05"]))


SMALL_PANEL_SEEDS = (1, 2)


def small_dense_fits(parametrization: str) -> list[Fitted]:
    """24 experts x 12 questions, everyone answers: 12 answers per expert, 24 per question."""
    fits = []
    for seed in SMALL_PANEL_SEEDS:
        panel = simulate_binary_panel(n_experts=24, n_questions=12, rounding=ROUNDING, seed=seed)
        config = {} if parametrization is None else {"parametrization": parametrization}
        fits.append(fit_panel(panel, seed=seed, model_config=config))
    return fits


def test_a_small_dense_panel_converges_with_the_default_parametrization():
    # The centred form diverged here (43 and 8 divergences on seeds 1 and 2, R-hat 1.07),
    # which is why non-centred is the default.
    for fitted in small_dense_fits(None):
        diagnostics = fitted.summary["diagnostics"]
        assert diagnostics["divergences"] == 0
        assert diagnostics["max_rhat"] <= 1.01


@pytest.mark.parametrize("seed", [0, 1])
def test_cohorts_that_answered_different_questions_are_pooled_and_converge(seed):
    """Four cohorts, each answering its own six questions (pooledmaRket's design): before
    the cohorts were pooled (hierarchical.cohort_components) these panels gave R-hat
    1.027 and 1.035 with 1 and 14 divergences, the lean trading off against the
    consensus of the questions only its cohort answered; pooled, 1.005 and no divergence."""
    cohorts = {f"P{k}": 0.25 for k in range(1, 5)}
    panel = simulate_binary_panel(n_experts=48, n_questions=24, cohorts=cohorts, seed=seed)
    table = JudgmentTable.from_frame(own_questions(panel.judgments))
    fit = BinaryHierarchicalModel().fit(table, random_seed=seed)
    result = summarize_hierarchical(fit, table)
    assert result["diagnostics"]["max_rhat"] <= 1.01
    assert result["diagnostics"]["divergences"] == 0
    assert result["cohorts_pooled"]["groups"] == [["P1"], ["P2"], ["P3"], ["P4"]]
    assert all(entry["cohort_gaps"] == [] for entry in result["questions"].values())


def test_a_panel_with_every_group_scale_near_zero_converges():
    # Equally contested questions, no cohort gaps, near-identical experts: every population
    # scale sits near 0, the geometry where a centred hierarchy has its funnel.
    panel = simulate_binary_panel(
        n_experts=60,
        n_questions=30,
        answer_rate=0.9,
        rounding=ROUNDING,
        seed=4,
        kappa=np.full(30, 0.8),
        delta=np.zeros((30, 2)),
        bias_sd=0.05,
        sigma_sd=0.02,
    )
    diagnostics = fit_panel(panel, seed=4).summary["diagnostics"]
    assert diagnostics["divergences"] == 0
    assert diagnostics["max_rhat"] <= 1.01


# ------------------------------------------------------------------ fit refuses early


def test_fit_refuses_a_multi_round_table_and_a_single_expert():
    panel = simulate_binary_panel(n_experts=6, n_questions=3, seed=0)
    table = JudgmentTable.from_frame(
        pd.concat([panel.judgments.assign(round=1), panel.judgments.assign(round=2)])
    )
    with pytest.raises(ValueError, match=r"one round at a time; this table holds rounds \[1, 2\]"):
        BinaryHierarchicalModel().fit(table, random_seed=0)
    alone = JudgmentTable.from_frame(panel.judgments[panel.judgments["expert"] == "E001"])
    with pytest.raises(ValueError, match="at least 2 experts"):
        BinaryHierarchicalModel().fit(alone, random_seed=0)


def test_expit_of_mu_is_the_reported_truth():
    # the quantity the coverage test compares with: SyntheticPanel.consensus = expit(mu)
    panel = main_panel(seed=7)
    np.testing.assert_allclose(panel.consensus, expit(panel.mu), rtol=1e-15)  # same op


# ------------------------------------------------------------------ expert slopes (version 5)

N_SLOPE_PANELS = 8  # x 40 experts = 320 slope intervals, x 25 questions = 200 consensus ones


def test_expert_slopes_are_recovered_and_their_intervals_cover_the_truth():
    """Panels whose experts differ in how far they move from 50 % (log slopes sd 0.4,
    mean slope 1 in each cohort): each expert's 90 % slope interval holds the true
    slope, the consensus interval the true consensus, at about the nominal rate; the
    slopes are recovered (correlation of the log slopes), and the consensus stays closer
    to the truth than the log-odds mean, which reads every slope as information."""
    slope_covered, consensus_covered = [], []
    for k in range(N_SLOPE_PANELS):
        panel = simulate_binary_panel(
            n_experts=40,
            n_questions=25,
            answer_rate=ANSWER_RATE,
            rounding=ROUNDING,
            slope_sd=0.4,
            seed=300 + k,
        )
        fitted = fit_panel(panel, seed=k)
        summary = fitted.summary
        assert summary["diagnostics"]["divergences"] == 0
        assert summary["diagnostics"]["max_rhat"] <= 1.01
        slopes = [summary["experts"][e]["slope"] for e in panel.experts]
        means = np.array([s["mean"] for s in slopes])
        lower, upper = np.array([s["interval"] for s in slopes]).T
        slope_covered += list((lower <= panel.slope) & (panel.slope <= upper))
        assert np.corrcoef(np.log(means), np.log(panel.slope))[0, 1] > 0.7
        lower, upper = np.array(fitted.consensus("interval")).T
        consensus_covered += list((lower <= panel.consensus) & (panel.consensus <= upper))
        assert rmse_logodds(fitted.consensus(), panel.mu) < rmse_logodds(
            fitted.baseline("logodds_mean"), panel.mu
        )
    slope_rate, consensus_rate = float(np.mean(slope_covered)), float(np.mean(consensus_covered))
    print(f"slope coverage {slope_rate:.3f}, consensus coverage {consensus_rate:.3f}")
    # 320 and 200 intervals of mass 0.9: binomial sds 0.017 and 0.021; the bounds leave
    # room for intervals of one panel sharing its hyper-parameters, as above
    assert 0.80 <= slope_rate <= 0.97
    assert 0.80 <= consensus_rate <= 0.97
