"""The demo's synthetic answers, as plain rows: no Django, no ORM.

Given plain descriptions of the experts (``panel.ExpertSpec``) and the questions
(``content.QuestionSpec``) and numpy random generators, it returns ``DemoAnswer`` rows:
probabilities or 5/50/95 % quantiles, rationales, "why I changed" reasons and
meta-predictions, for the three rounds of the demo's Delphi study. ``build`` writes them.

Binary answers come from the aggregation model's own generative story
(``aggregation.engine.synthetic.simulate_binary_panel``) with the consensus ``mu``, the
dispersion ``kappa`` and the US-minus-ROK gap of every question, so the report built on
them has a known truth to recover (``content.PLANTED_COHORT_GAPS``). Round 1 is complete;
in round 2 some experts keep their answers and some move toward the round-1 consensus with
a "why I changed" reason; in the open round 3 a few experts have saved part of theirs.

Meta-predictions (issue 15): asked (optional) on the questions about South Korea's own
contributions, where the cohorts disagree (``content.META_QUESTION_CODES``). In the closed
round 2 every expert gave them, generated with a planted shared misperception
(``demo_meta_predictions``, ``META_MISPERCEPTION``), so the perception report has a known
truth to recover; in the open round 3 some of the experts who saved answers gave some.

The order of the draws is part of the demo's data: the same generators in the same order
give the same demo, byte for byte, and ``build`` goes on drawing the history's times from
the same ``rng`` after the answers.
"""

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

from aggregation.engine.synthetic import simulate_binary_panel
from elicitation import demo_ko
from elicitation.demo.content import (
    BINARY,
    COHORTS,
    LOG,
    META_QUESTION_CODES,
    NUMERIC,
    QUESTIONS,
    QuestionSpec,
    meta_question_codes,
)
from elicitation.demo.panel import ExpertSpec
from elicitation.demo.rationales import (
    CAPITALS,
    LEADS,
    NUMERIC_REASONS,
    REASONS,
    REASONS_KO,
    REVISION_REASONS,
    SEED_RECALL,
)

Questions = Sequence[QuestionSpec]


# --- Rationales ---------------------------------------------------------------------------


def _band(probability: float) -> str:
    return "yes" if probability >= 0.65 else "no" if probability <= 0.35 else "mid"


def _binary_rationale(spec: QuestionSpec, probability: float, language: str, rng) -> str:
    band = _band(probability)
    if spec.seed_answer is not None:
        return str(rng.choice(SEED_RECALL[band]))
    if language == "ko" and spec.actor == "ROK":
        return str(rng.choice(REASONS_KO[band]))
    reasons = REASONS[spec.contribution]
    side = band if band != "mid" else ("yes", "no")[int(rng.integers(2))]
    reason = str(rng.choice(reasons[side])).format(capital=CAPITALS[spec.actor])
    return f"{rng.choice(LEADS[band])} {reason}".strip()


# --- Answers ------------------------------------------------------------------------------

RATIONALE_SHARE = 0.35
# Rounds 1 and 2 are complete: every invitation in them was submitted, and submitting
# needs every question answered (services.invitation_submit). Gaps show in round 3, where a
# few experts have saved part of their answers.
ROUND3_SAVERS = 7
ROUND3_OPENERS = 5
# In round 2, each answer is kept with this probability, else revised toward the round-1
# median; a revision comes with a "why I changed" reason this often.
ROUND2_KEEP_SHARE = 0.55
ROUND2_REASON_SHARE = 0.7

# Meta-predictions. Each cohort's shared misperception of the other (its stereotype), in
# log-odds: what its experts expect the other cohort's experts to answer, minus the other
# cohort's actual mean log-odds answer. US experts think ROK respondents more forthcoming than they are; ROK
# experts think US respondents more sceptical than they are. The own cohort is roughly
# right (no shared error).
META_MISPERCEPTION = {("US", "ROK"): 0.8, ("ROK", "US"): -0.6}
META_QUESTION_SD = 0.3  # per (cohort pair, question): the stereotype varies by question
META_EXPERT_SD = 0.4  # per (expert, question, cohort predicted)
# In the open round, the share of a saver's answered meta-questions with predictions.
ROUND3_META_SHARE = 0.6


@dataclass(frozen=True)
class DemoAnswer:
    """One expert's answer to one question, as ``build`` writes it (codes, not rows)."""

    expert: str
    question: str
    probability: float | None = None
    q05: float | None = None
    q50: float | None = None
    q95: float | None = None
    rationale: str = ""
    change_reason: str = ""
    meta_predictions: dict = dataclasses.field(default_factory=dict)

    def same_answer(self, other: "DemoAnswer") -> bool:
        return (self.probability, self.q05, self.q50, self.q95) == (
            other.probability, other.q05, other.q50, other.q95
        )  # fmt: skip


@dataclass(frozen=True)
class _Calibration:
    """How an expert answers numeric questions, in units of the question's spread."""

    bias: float  # systematic offset of the median
    noise: float  # scatter of the median around the expert's belief
    width: float  # half-width of the 90 % interval; < ~1 is overconfident


def _calibration(rng) -> _Calibration:
    kind = rng.choice(["overconfident", "calibrated", "cautious"], p=[0.3, 0.5, 0.2])
    width = {"overconfident": (0.25, 0.5), "calibrated": (0.8, 1.3), "cautious": (1.5, 2.2)}
    return _Calibration(
        bias=float(rng.normal(0.0, 0.5)),
        noise=float(0.8 * np.exp(rng.normal(0.0, 0.25))),
        width=float(rng.uniform(*width[kind])),
    )


def _tidy_quantiles(spec: QuestionSpec, values) -> tuple[float, float, float]:
    """Snap to the question's step and keep 5 % < 50 % < 95 % strictly, inside the bounds."""
    step = spec.step

    def snap(x: float) -> float:
        return round(round(x / step) * step, 6)

    lower, upper = spec.lower, spec.upper
    q50 = round(min(max(snap(values[1]), lower + step), upper - step), 6)
    q05 = round(min(max(snap(values[0]), lower), q50 - step), 6)
    q95 = round(max(min(snap(values[2]), upper), q50 + step), 6)
    return q05, q50, q95


def _numeric_quantiles(spec, nationality, calibration, rng) -> tuple[float, float, float]:
    log = spec.scale == LOG
    shift = spec.gap / 2 if nationality == COHORTS[0] else -spec.gap / 2
    centre = (np.log(spec.centre) if log else spec.centre) + shift
    z50 = centre + spec.spread * (calibration.bias + calibration.noise * rng.standard_normal())
    half = 1.645 * spec.spread * calibration.width
    z = np.array([z50 - half * rng.uniform(0.7, 1.3), z50, z50 + half * rng.uniform(0.7, 1.3)])
    return _tidy_quantiles(spec, np.exp(z) if log else z)


def demo_round1_answers(
    panel: list[ExpertSpec], rng, questions: Questions = QUESTIONS
) -> list[DemoAnswer]:
    """Round-1 answers: binary from the model's generative story, numeric from calibrated
    and overconfident experts around the truth (seeds) or a cohort-specific centre."""
    binary_specs = [spec for spec in questions if spec.kind == BINARY]
    numeric_specs = [spec for spec in questions if spec.kind == NUMERIC]
    simulated = simulate_binary_panel(
        n_experts=len(panel),
        n_questions=len(binary_specs),
        cohorts={cohort: sum(e.nationality == cohort for e in panel) for cohort in COHORTS},
        answer_rate=1.0,
        mu=np.array([spec.mu for spec in binary_specs]),
        delta=np.array([[spec.gap / 2, -spec.gap / 2] for spec in binary_specs]),
        kappa=np.array([spec.kappa for spec in binary_specs]),
        rounding=0.05,
        seed=rng,
    )
    by_sim_index = {expert.sim_index: expert for expert in panel}
    for expert in panel:  # the panel and the simulation must agree on who is in which cohort
        assert simulated.cohorts[simulated.expert_cohort[expert.sim_index]] == expert.nationality

    answers = []
    for row in simulated.judgments.itertuples(index=False):
        expert = by_sim_index[int(row.expert[1:]) - 1]
        spec = binary_specs[int(row.question[1:]) - 1]
        probability = round(float(row.probability), 2)
        rationale = ""
        if rng.random() < RATIONALE_SHARE:
            rationale = _binary_rationale(spec, probability, expert.language, rng)
        answers.append(
            DemoAnswer(expert.code, spec.code, probability=probability, rationale=rationale)
        )

    for expert in panel:
        calibration = _calibration(rng)
        for spec in numeric_specs:
            is_seed = spec.seed_answer is not None
            q05, q50, q95 = _numeric_quantiles(spec, expert.nationality, calibration, rng)
            rationale = ""
            if rng.random() < RATIONALE_SHARE * 0.7:
                rationale = str(rng.choice(NUMERIC_REASONS["seed" if is_seed else "target"]))
            answers.append(
                DemoAnswer(expert.code, spec.code, q05=q05, q50=q50, q95=q95, rationale=rationale)
            )
    return answers


def _revise_towards(answer: DemoAnswer, spec: QuestionSpec, medians: dict, rng) -> DemoAnswer:
    """A round-2 answer: part of the way from the expert's round-1 answer to the panel's."""
    pull = rng.uniform(0.1, 0.5)
    rationale = str(rng.choice(REVISION_REASONS)) if rng.random() < 0.4 else ""
    if spec.kind == BINARY:
        own = logit(np.clip(answer.probability, 0.005, 0.995))
        moved = float(expit(own + pull * (medians[spec.code] - own)))
        return DemoAnswer(
            answer.expert,
            spec.code,
            probability=round(round(moved / 0.05) * 0.05, 2),
            rationale=rationale,
        )
    log = spec.scale == LOG
    own = (
        np.log([answer.q05, answer.q50, answer.q95])
        if log
        else np.array([answer.q05, answer.q50, answer.q95])
    )
    target = np.log(medians[spec.code]) if log else medians[spec.code]
    moved = own + pull * (target - own[1])  # shift the whole interval, keep its width
    q05, q50, q95 = _tidy_quantiles(spec, np.exp(moved) if log else moved)
    return DemoAnswer(answer.expert, spec.code, q05=q05, q50=q50, q95=q95, rationale=rationale)


def _medians(previous: list[DemoAnswer], specs: dict) -> dict[str, float]:
    """Each question's median answer: log-odds for probabilities, the median's value else."""
    medians = {}
    for code, spec in specs.items():
        mine = [a for a in previous if a.question == code]
        if spec.kind == BINARY:
            medians[code] = float(
                np.median(logit(np.clip([a.probability for a in mine], 0.005, 0.995)))
            )
        else:
            medians[code] = float(np.median([a.q50 for a in mine]))
    return medians


def _revisable(previous: list[DemoAnswer], questions: Questions) -> tuple[dict, dict[str, float]]:
    """The questions asked again after round 1 (no seeds), by code, and their medians."""
    specs = {spec.code: spec for spec in questions if spec.seed_answer is None}
    return specs, _medians(previous, specs)


def demo_round2_answers(
    round1: list[DemoAnswer], panel: list[ExpertSpec], rng, questions: Questions = QUESTIONS
) -> list[DemoAnswer]:
    """Complete round-2 answers: each kept, or revised part of the way toward the round-1
    median, often with a reason (in Korean from the Korean speakers)."""
    specs, medians = _revisable(round1, questions)
    language = {expert.code: expert.language for expert in panel}
    answers = []
    for answer in round1:
        if answer.question not in specs:
            continue
        if rng.random() < ROUND2_KEEP_SHARE:
            answers.append(answer)
            continue
        revised = _revise_towards(answer, specs[answer.question], medians, rng)
        if revised.same_answer(answer):  # the move was lost in the rounding: a keep
            answers.append(answer)
            continue
        reason = ""
        if rng.random() < ROUND2_REASON_SHARE:
            reasons = demo_ko.REVISION_REASONS_KO if language[answer.expert] == "ko" else (
                REVISION_REASONS[:3]
            )  # fmt: skip
            reason = str(rng.choice(reasons))
        answers.append(
            DemoAnswer(
                answer.expert, answer.question, revised.probability, revised.q05,
                revised.q50, revised.q95, rationale=answer.rationale, change_reason=reason,
            )
        )  # fmt: skip
    return answers


def demo_partial_revisions(
    previous: list[DemoAnswer], experts: list[str], rng, questions: Questions = QUESTIONS
) -> list[DemoAnswer]:
    """Partial answers saved (not submitted) by ``experts`` in the open round."""
    specs, medians = _revisable(previous, questions)
    answers = []
    for code in experts:
        share = rng.uniform(0.25, 0.75)
        for answer in previous:
            if answer.expert == code and answer.question in specs and rng.random() < share:
                answers.append(_revise_towards(answer, specs[answer.question], medians, rng))
    return answers


def _cohort_mean_log_odds(answers: list[DemoAnswer], nationality: dict) -> dict:
    """{(question, cohort): the cohort's mean log-odds answer}, clipped as the model clips."""
    values = defaultdict(list)
    for answer in answers:
        if answer.probability is not None:
            values[answer.question, nationality[answer.expert]].append(answer.probability)
    return {
        key: float(np.mean(logit(np.clip(probabilities, 0.005, 0.995))))
        for key, probabilities in values.items()
    }


def demo_meta_stereotypes(
    rng, codes: Sequence[str] = META_QUESTION_CODES
) -> dict[tuple[str, str, str], float]:
    """{(by, of, question): s_gc + u_gcj}, the shared error of cohort ``by`` about cohort
    ``of`` on a question of ``codes`` (0 about itself): drawn once, for every round."""
    return {
        (by, of, code): META_MISPERCEPTION.get((by, of), 0.0)
        + (float(rng.normal(0.0, META_QUESTION_SD)) if by != of else 0.0)
        for code in codes
        for by in COHORTS
        for of in COHORTS
    }


def demo_meta_predictions(
    answers: list[DemoAnswer],
    panel: list[ExpertSpec],
    rng,
    *,
    stereotypes: dict,
    actual: list[DemoAnswer] = (),
    share: float = 1.0,
    codes: Sequence[str] = META_QUESTION_CODES,
) -> list[DemoAnswer]:
    """``answers`` with meta-predictions on the questions of ``codes``.

    Expert i of cohort g predicts cohort c's average answer to question j as

        logit(prediction) = m_cj + s_gc + u_gcj + e_icj,

    m_cj the mean log-odds of cohort c's answers (of ``actual``, by default ``answers``),
    s_gc the shared misperception (``META_MISPERCEPTION``, 0 for the own cohort),
    u_gcj ~ N(0, META_QUESTION_SD) (other cohorts only; ``stereotypes`` holds s + u),
    e_icj ~ N(0, META_EXPERT_SD);
    rounded to a percent and kept within 1-99 %. ``share``: the chance that an answer gets
    them at all (1 in a closed round, less for the partial answers of an open one).
    """
    nationality = {expert.code: expert.nationality for expert in panel}
    means = _cohort_mean_log_odds(list(actual) or answers, nationality)
    given = []
    for answer in answers:
        if answer.question not in codes or rng.random() >= share:
            given.append(answer)
            continue
        by = nationality[answer.expert]
        predictions = {}
        for of in COHORTS:
            log_odds = means[answer.question, of] + stereotypes[by, of, answer.question]
            log_odds += float(rng.normal(0.0, META_EXPERT_SD))
            predictions[of] = round(float(np.clip(expit(log_odds), 0.01, 0.99)), 2)
        given.append(dataclasses.replace(answer, meta_predictions=predictions))
    return given


# --- The three rounds ---------------------------------------------------------------------


@dataclass(frozen=True)
class DemoRounds:
    """Every answer of the demo's three rounds, and who did what in the open one."""

    round1: list[DemoAnswer]  # complete, submitted
    round2: list[DemoAnswer]  # complete, submitted, with meta-predictions
    round3: list[DemoAnswer]  # the savers' partial answers
    savers: list[str]  # expert codes: saved part of round 3
    openers: list[str]  # expert codes: opened round 3, saved nothing


def demo_rounds(
    *,
    panel: list[ExpertSpec],
    rng,
    meta_rng,
    questions: Questions = QUESTIONS,
    featured: Sequence[str] = (),
) -> DemoRounds:
    """The answers of the three rounds; ``featured`` experts neither save nor open round 3.

    ``rng`` draws the answers (``build`` goes on with it), ``meta_rng`` the
    meta-predictions: a stream of its own, so the answers are those the demo had before it
    asked meta-predictions.
    """
    answers1 = demo_round1_answers(panel, rng, questions)
    answers2 = demo_round2_answers(answers1, panel, rng, questions)
    candidates = [e.code for e in panel if e.code not in featured]
    savers = sorted(str(c) for c in rng.choice(candidates, size=ROUND3_SAVERS, replace=False))
    others = sorted(set(candidates) - set(savers))
    openers = sorted(str(c) for c in rng.choice(others, size=ROUND3_OPENERS, replace=False))
    answers3 = demo_partial_revisions(answers2, savers, rng, questions)
    codes = meta_question_codes(questions)
    stereotypes = demo_meta_stereotypes(meta_rng, codes)
    answers2 = demo_meta_predictions(
        answers2, panel, meta_rng, stereotypes=stereotypes, codes=codes
    )
    answers3 = demo_meta_predictions(
        answers3, panel, meta_rng, stereotypes=stereotypes, actual=answers2,
        share=ROUND3_META_SHARE, codes=codes,
    )  # fmt: skip
    return DemoRounds(answers1, answers2, answers3, savers, openers)
