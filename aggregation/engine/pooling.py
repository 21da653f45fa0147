"""Closed-form pools of probability judgments, reported beside every model.

For question j with answers p_1..p_n (one round):

- linear pool:         mean(p_i)                      (Stone 1961)
- median:              median(p_i)
- log-odds mean:       expit(mean(logit p_i))         (the geometric mean of odds)
- extremized log-odds: expit(d * mean(logit p_i))     (Satopää et al. 2014, "Combining
  multiple probability predictions using a simple logit model", IJF 30(2):344-356;
  Baron et al. 2014, "Two reasons to make aggregated probability forecasts more extreme",
  Decision Analysis 11(2):133-145).

The extremizing factor d defaults to 2.5: the Good Judgment Project analyses above found
factors of roughly 1.5-3 best for panels of forecasters. It depends on how much the experts
share information, so a panel with resolved questions should learn it instead of taking
this default. Log-odds methods clip 0 and 1 first (see ``data.clip_probabilities``).
"""

from collections.abc import Callable

import numpy as np
from scipy.special import expit

from aggregation.engine.data import JudgmentTable, logit

DEFAULT_EXTREMIZE_FACTOR = 2.5


def linear_pool(p: np.ndarray) -> float:
    return float(np.mean(p))


def median_pool(p: np.ndarray) -> float:
    return float(np.median(p))


def logodds_mean(p: np.ndarray) -> float:
    return float(expit(np.mean(logit(p))))


def extremized_logodds(p: np.ndarray, factor: float = DEFAULT_EXTREMIZE_FACTOR) -> float:
    return float(expit(factor * np.mean(logit(p))))


POOLS: dict[str, Callable[[np.ndarray], float]] = {
    "linear_pool": linear_pool,
    "median": median_pool,
    "logodds_mean": logodds_mean,
    "extremized_logodds": extremized_logodds,
}


def pool_questions(
    table: JudgmentTable, method: str, *, extremize_factor: float = DEFAULT_EXTREMIZE_FACTOR
) -> dict[str, float]:
    """Pool each question of a single-round table with one method.

    Returns question -> pooled probability.
    """
    if method not in POOLS:
        raise ValueError(f"unknown pooling method {method!r}; choose one of {', '.join(POOLS)}")
    if len(table.rounds) != 1:
        raise ValueError("pool one round at a time (use table.for_round(n))")
    pool = POOLS[method]
    if method == "extremized_logodds":
        pool = lambda p: extremized_logodds(p, extremize_factor)  # noqa: E731
    grouped = table.frame.groupby("question", sort=True)["probability"]
    return {question: pool(values.to_numpy()) for question, values in grouped}


def all_baselines(
    table: JudgmentTable, *, extremize_factor: float = DEFAULT_EXTREMIZE_FACTOR
) -> dict[str, dict[str, float]]:
    """Every pool for every question: question -> {method: probability}."""
    pooled = {
        method: pool_questions(table, method, extremize_factor=extremize_factor) for method in POOLS
    }
    return {q: {method: pooled[method][q] for method in POOLS} for q in table.questions}
