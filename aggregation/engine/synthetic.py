"""Synthetic panels drawn from the hierarchical model's own generative story.

Used by the recovery tests, the benchmark and the demo panel. The story (log-odds scale,
the same one ``hierarchical.BinaryHierarchicalModel`` fits):

    y_ij = mu_j + delta_{g(i), j} + b_i + sigma_i * kappa_j * eps_ij,   eps_ij ~ Student-t(nu)
    p_ij = round(expit(y_ij), to the nearest ``rounding``)

mu_j is the consensus, delta_gj the cohort deviation (zero-sum over cohorts), b_i the
expert's bias (zero-mean over each cohort's experts; the model's average is over the
answers, which differs by little on random designs), sigma_i the expert's relative noise
(geometric mean 1), kappa_j the question's dispersion ("disagreement").
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit


@dataclass(frozen=True)
class SyntheticPanel:
    """Simulated judgments plus the true parameters that produced them.

    Attributes
    ----------
    judgments : DataFrame with columns expert, cohort, question, probability
    mu : (n_questions,) true consensus, log-odds
    delta : (n_questions, n_cohorts) true cohort deviations, log-odds, rows sum to 0
    bias : (n_experts,) expert bias, log-odds
    sigma : (n_experts,) relative expert noise
    kappa : (n_questions,) question dispersion, log-odds
    slope : (n_experts,) expert slope (mean 1 within each cohort); all 1 unless
        simulate_binary_panel was given slope_sd > 0
    """

    judgments: pd.DataFrame
    questions: list[str]
    experts: list[str]
    cohorts: list[str]
    expert_cohort: np.ndarray
    mu: np.ndarray
    delta: np.ndarray
    bias: np.ndarray
    sigma: np.ndarray
    kappa: np.ndarray
    slope: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def consensus(self) -> np.ndarray:
        """True consensus per question on the probability scale."""
        return expit(self.mu)


def simulate_binary_panel(
    *,
    n_experts: int,
    n_questions: int,
    cohorts: dict[str, float] | None = None,
    answer_rate: float = 1.0,
    mu: np.ndarray | None = None,
    delta: np.ndarray | None = None,
    kappa: np.ndarray | None = None,
    bias_sd: float = 0.4,
    sigma_sd: float = 0.3,
    slope_sd: float = 0.0,
    delta_sd: float = 0.4,
    nu: float = 4.0,
    rounding: float | None = 0.01,
    seed: int | np.random.Generator = 0,
    expert_prefix: str = "E",
    question_prefix: str = "Q",
) -> SyntheticPanel:
    """Draw a panel of binary judgments with known parameters.

    Parameters
    ----------
    n_experts, n_questions : panel size.
    cohorts : cohort name -> share of experts (default US and ROK, half each).
    answer_rate : probability that an expert answers a given question (sparse panels);
        every question keeps at least two answers and every expert at least one.
    mu : (n_questions,) consensus log-odds; drawn from Normal(0, 1.2) when omitted.
    delta : (n_questions, n_cohorts) cohort deviations; drawn (zero-sum) when omitted.
    kappa : (n_questions,) dispersion; drawn log-normal around 0.8 when omitted.
    rounding : answers are rounded to this step (0.05 mimics people answering in 5 %
        steps); None keeps full precision.
    slope_sd : sd of the log expert slopes (model version 5: an expert's answer is
        b_i + a_i (mu_j + delta) plus noise), scaled to average 1 within each cohort, as
        model version 6 defines the average expert (over its experts here; the model's
        average over the answers differs by little on random designs); 0 (the default)
        gives every expert slope 1 and draws nothing, so panels of a seed are the same as
        before slopes existed.
    """
    rng = np.random.default_rng(seed)
    cohorts = cohorts or {"US": 0.5, "ROK": 0.5}
    names = list(cohorts)
    shares = np.array([cohorts[name] for name in names], dtype=float)
    counts = np.floor(shares / shares.sum() * n_experts).astype(int)
    counts[: n_experts - counts.sum()] += 1  # hand out the remainder
    expert_cohort = np.repeat(np.arange(len(names)), counts)

    mu = rng.normal(0.0, 1.2, n_questions) if mu is None else np.asarray(mu, float)
    if delta is None:
        raw = rng.normal(0.0, delta_sd, (n_questions, len(names)))
        delta = raw - raw.mean(axis=1, keepdims=True)
    delta = np.asarray(delta, float)
    kappa = (
        np.exp(rng.normal(np.log(0.8), 0.35, n_questions))
        if kappa is None
        else np.asarray(kappa, float)
    )

    bias = rng.normal(0.0, bias_sd, n_experts)
    for g in range(len(names)):  # zero mean within each cohort (over experts, not answers)
        members = expert_cohort == g
        bias[members] -= bias[members].mean()
    log_sigma = rng.normal(0.0, sigma_sd, n_experts)
    sigma = np.exp(log_sigma - log_sigma.mean())

    answered = rng.random((n_experts, n_questions)) < answer_rate
    for j in range(n_questions):  # each question keeps at least two answers
        if answered[:, j].sum() < 2:
            answered[rng.choice(n_experts, 2, replace=False), j] = True
    for i in range(n_experts):
        if not answered[i].any():
            answered[i, rng.integers(n_questions)] = True
    ei, qj = np.nonzero(answered)

    eps = rng.standard_t(nu, ei.size)
    slope = np.ones(n_experts)
    if slope_sd > 0:  # drawn last, so that slope_sd = 0 leaves every other draw as it was
        log_slope = rng.normal(0.0, slope_sd, n_experts)
        slope = np.exp(log_slope)
        for g in range(len(names)):
            members = expert_cohort == g
            slope[members] /= slope[members].mean()
    theta = mu[qj] + delta[qj, expert_cohort[ei]]
    # summed in the order of the version without slopes: with slope 1 the same numbers
    y = slope[ei] * theta + bias[ei] + sigma[ei] * kappa[qj] * eps
    p = expit(y)
    if rounding:
        p = np.clip(np.round(p / rounding) * rounding, 0.0, 1.0)

    experts = [f"{expert_prefix}{i + 1:03d}" for i in range(n_experts)]
    questions = [f"{question_prefix}{j + 1:02d}" for j in range(n_questions)]
    judgments = pd.DataFrame(
        {
            "expert": np.array(experts)[ei],
            "cohort": np.array(names)[expert_cohort[ei]],
            "question": np.array(questions)[qj],
            "probability": p,
        }
    )
    return SyntheticPanel(
        judgments=judgments,
        questions=questions,
        experts=experts,
        cohorts=names,
        expert_cohort=expert_cohort,
        mu=mu,
        delta=delta,
        bias=bias,
        sigma=sigma,
        kappa=kappa,
        slope=slope,
    )


@dataclass(frozen=True)
class SimulatedQuantilePanel:
    """A synthetic numeric panel with the truth behind it."""

    rows: list[dict]  # expert, question, cohort, q05, q50, q95 (QuantileTable.from_rows)
    truth: dict[str, float]  # every question's true value
    seeds: list[str]  # the questions whose value is known
    rho: np.ndarray  # each expert's errors / stated widths (> 1: over-confident)
    experts: list[str]


def simulate_quantile_panel(
    *,
    n_experts: int = 30,
    n_questions: int = 30,
    n_seeds: int = 10,
    shared_error: float = 0.7,
    overconfident: tuple[int, ...] = (),
    cohort_gap: float = 0.4,
    seed: int = 0,
) -> SimulatedQuantilePanel:
    """Experts who err by more than they say, with biases, a cohort gap, skewed ranges and
    an error the whole panel shares on each question (in units of a typical stated sd)."""
    rng = np.random.default_rng(seed)
    experts = [f"E{i:03d}" for i in range(n_experts)]
    questions = [f"N{j:03d}" for j in range(n_questions)]
    cohort = np.array(["US" if i % 2 else "ROK" for i in range(n_experts)])
    rho = np.exp(rng.normal(0.5, 0.3, n_experts))
    rho[list(overconfident)] = 4.0
    bias = rng.normal(0.0, 0.3, n_experts)
    stated = rng.uniform(0.6, 1.6, n_experts)  # each expert's typical stated sd
    truth = rng.normal(50.0, 20.0, n_questions)
    unit = rng.uniform(2.0, 8.0, n_questions)  # each question's own unit
    shared = rng.normal(0.0, shared_error, n_questions)
    gap = rng.normal(0.0, cohort_gap, n_questions)
    rows = []
    for j, question in enumerate(questions):
        for i, expert in enumerate(experts):
            side = 1.0 if cohort[i] == "US" else -1.0
            error = shared[j] + side * gap[j] / 2 + bias[i] + rho[i] * stated[i] * rng.standard_t(4)
            median = truth[j] + unit[j] * error
            skew = rng.uniform(0.7, 1.4)
            sd = unit[j] * stated[i]
            rows.append(
                {
                    "expert": expert,
                    "question": question,
                    "cohort": cohort[i],
                    "q05": median - 1.645 * sd / skew,
                    "q50": median,
                    "q95": median + 1.645 * sd * skew,
                }
            )
    return SimulatedQuantilePanel(
        rows=rows,
        truth=dict(zip(questions, truth.tolist(), strict=True)),
        seeds=questions[:n_seeds],
        rho=rho,
        experts=experts,
    )


def own_questions(judgments: pd.DataFrame) -> pd.DataFrame:
    """The judgments of a design where no two cohorts share a question: the questions,
    sorted, are dealt to the cohorts, sorted, in equal consecutive blocks, and each expert
    keeps only the answers to their cohort's block (pooledmaRket's design)."""
    questions = sorted(judgments["question"].unique())
    cohorts = sorted(judgments["cohort"].unique())
    block = -(-len(questions) // len(cohorts))  # ceiling
    owner = {q: cohorts[k // block] for k, q in enumerate(questions)}
    return judgments[judgments["question"].map(owner) == judgments["cohort"]]


def simulate_linked_rounds(
    *,
    n_experts: int,
    n_questions: int,
    keep: float = 0.4,
    move: float = 0.4,
    shift_sd: float = 0.5,
    revision_sd: float = 0.3,
    rounding: float | None = 0.01,
    seed: int = 0,
) -> tuple[SyntheticPanel, pd.DataFrame]:
    """Two Delphi rounds: round 1 from ``simulate_binary_panel``; in round 2 each expert
    moves ``move`` of the way (log-odds) toward the question's round-2 truth, which shifts
    by Normal(0, shift_sd), plus Normal(0, revision_sd) noise; a share ``keep`` of answers
    is kept exactly as given in round 1 ("keep my previous answer"), whatever the expert
    would have moved.

    Returns the round-1 panel (its ``extra["mu_round2"]`` holds the shifted truths) and
    the judgments of both rounds (columns expert, cohort, question, probability, round).
    """
    panel = simulate_binary_panel(
        n_experts=n_experts, n_questions=n_questions, rounding=rounding, seed=seed
    )
    rng = np.random.default_rng([seed, 2])
    first = panel.judgments.assign(round=1)
    y1 = np.log(np.clip(first["probability"], 0.005, 0.995))
    y1 = y1 - np.log1p(-np.clip(first["probability"], 0.005, 0.995))
    question = first["question"].str[len("Q") :].astype(int).to_numpy() - 1
    mu2 = panel.mu + rng.normal(0.0, shift_sd, n_questions)
    y2 = y1 + move * (mu2[question] - y1) + rng.normal(0.0, revision_sd, len(first))
    p2 = expit(y2)
    if rounding:
        p2 = np.clip(np.round(p2 / rounding) * rounding, 0.0, 1.0)
    kept = rng.random(len(first)) < keep
    second = first.assign(round=2, probability=np.where(kept, first["probability"], p2))
    panel.extra["mu_round2"] = mu2
    return panel, pd.concat([first, second], ignore_index=True)


@dataclass(frozen=True)
class SimulatedPerceptionPanel:
    """A binary panel with meta-predictions, and the misperceptions that produced them.

    ``judgments`` has the ``meta_<cohort>`` columns (``JudgmentTable.from_frame``);
    ``stereotype`` maps (by, of) to the shared misperception (log-odds); ``error`` maps
    (question, by, of) to the true perception error (probability) of a typical expert of
    ``by``: expit(theta + s + e) - expit(theta), theta the true belief of ``of``.
    """

    judgments: pd.DataFrame
    panel: SyntheticPanel
    stereotype: dict[tuple[str, str], float]
    error: dict[tuple[str, str, str], float]


def simulate_perception_panel(
    *,
    n_experts: int,
    n_questions: int,
    stereotype: dict[tuple[str, str], float],
    part_sd: float = 0.3,
    common_part_sd: float = 0.0,
    offset_sd: float = 0.3,
    scatter: float = 0.5,
    prediction_rate: float = 1.0,
    seed: int = 0,
    **panel_options,
) -> SimulatedPerceptionPanel:
    """Draw a panel (``simulate_binary_panel``) whose experts also predict each cohort.

    Expert i of cohort b predicts the average answer of cohort c on question j as

        logit m_ijc = theta_cj + s_bc + e_bcj + a_i + scatter * eps,  eps ~ Normal(0, 1)

    theta_cj = mu_j + delta_jc the true belief of c, s_bc the shared misperception
    (``stereotype``, 0 for pairs not named), e_bcj ~ Normal(0, part_sd) the question's
    part, a_i ~ Normal(0, offset_sd) the expert's own offset, centred within each cohort
    (as the biases are) so that the cohort's shared misperception is s_bc. With
    ``common_part_sd`` each question also has a misperception of c that every predicting
    cohort shares (c itself included), added to every e_bcj: a model that let predictions
    inform c's actual belief would take it for c's belief. Each prediction is given
    with probability ``prediction_rate``; predictions are rounded to 0.01, as people type.
    """
    rng = np.random.default_rng(seed)
    panel = simulate_binary_panel(
        n_experts=n_experts, n_questions=n_questions, seed=rng, **panel_options
    )
    names = panel.cohorts
    theta = panel.mu[:, None] + panel.delta  # (question, cohort)
    shared = {(b, c): float(stereotype.get((b, c), 0.0)) for b in names for c in names}
    common = {c: rng.normal(0.0, common_part_sd, n_questions) for c in names}
    part = {(b, c): rng.normal(0.0, part_sd, n_questions) + common[c] for (b, c) in shared}
    offset = rng.normal(0.0, offset_sd, n_experts)
    for g in range(len(names)):  # zero mean within each cohort: the shared part is s_bc
        offset[panel.expert_cohort == g] -= offset[panel.expert_cohort == g].mean()
    q_index = {q: j for j, q in enumerate(panel.questions)}
    e_index = {e: i for i, e in enumerate(panel.experts)}
    frame = panel.judgments.copy()
    for c_pos, c in enumerate(names):
        values = []
        for expert, cohort, question in zip(
            frame["expert"], frame["cohort"], frame["question"], strict=True
        ):
            i, j = e_index[expert], q_index[question]
            if rng.random() >= prediction_rate:
                values.append(np.nan)
                continue
            z = (
                theta[j, c_pos]
                + shared[(cohort, c)]
                + part[(cohort, c)][j]
                + offset[i]
                + scatter * rng.normal()
            )
            values.append(float(np.clip(np.round(expit(z), 2), 0.0, 1.0)))
        frame[f"meta_{c}"] = values
    error = {
        (q, b, c): float(
            expit(theta[j, names.index(c)] + shared[(b, c)] + part[(b, c)][j])
            - expit(theta[j, names.index(c)])
        )
        for j, q in enumerate(panel.questions)
        for (b, c) in shared
    }
    return SimulatedPerceptionPanel(judgments=frame, panel=panel, stereotype=shared, error=error)
