"""Rank-normalised split R-hat and bulk ESS of many quantities at once.

The definitions are Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-normalization,
folding, and localization: an improved R-hat", Bayesian Analysis 16(2), as ArviZ 1.x computes
them (``arviz_stats``: ``rhat(method="rank")`` and ``ess(method="bulk")``). ArviZ loops over
quantities in Python and ranks each with a stable sort; a report holds about 700 quantities
(200 experts, 60 questions), which took it 3.5 s, longer than half of the sampling. Here every
step runs on a block of up to 512 quantities at once (the ranking in one numba pass), the
blocks on parallel threads: about 0.5 s. ``tests/aggregation/engine/
test_diagnostics.py`` holds both to ArviZ's, to rounding, on chains that mix well,
badly, with ties and with constants.

Arrays have shape (..., chain, draw); results have shape (...).
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

# Quantities per task: each task sorts, ranks and transforms its own block, in numpy and
# numba code that releases the GIL, so blocks run in parallel on the machine's cores (a
# 2,000 x 200 panel reports ~10,000 quantities x 8,000 draws: 11 s in one thread). Small
# blocks also keep the temporary arrays small.
CHUNK = 512


def rhat_and_ess_bulk(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank-normalised split R-hat (the larger of the bulk and the folded, tail, R-hat) and
    bulk ESS (the ESS of the rank-normalised split chains), which share their ranks.

    NaN where a quantity has a NaN draw or fewer than 4 draws; R-hat also with 1 chain.
    Blocks of ``CHUNK`` quantities are computed in parallel threads.
    """
    draws = np.asarray(draws, dtype=float)
    lead = draws.shape[:-2]
    if draws.shape[-1] < 4:
        nothing = np.full(lead, np.nan)
        return nothing, nothing.copy()
    flat = draws.reshape(-1, *draws.shape[-2:])
    if not len(flat):
        return np.empty(lead), np.empty(lead)
    blocks = [flat[start : start + CHUNK] for start in range(0, len(flat), CHUNK)]
    errors = np.geterr()  # the caller's floating-point error handling, for every thread

    def block_result(block):
        with np.errstate(**errors):
            return _rhat_and_ess_block(block)

    if len(blocks) > 1:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            parts = list(pool.map(block_result, blocks))
    else:
        parts = [block_result(block) for block in blocks]
    rhat = np.concatenate([part[0] for part in parts]).reshape(lead)
    ess = np.concatenate([part[1] for part in parts]).reshape(lead)
    return rhat, ess


def _rhat_and_ess_block(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rhat_and_ess_bulk`` of (quantity, chain, draw) with at least 4 draws."""
    split = _split_chains(draws)
    z = _z_scale(split)
    folded = np.abs(split - np.median(split, axis=(-2, -1), keepdims=True))
    bulk, tail = _rhat(z), _rhat(_z_scale(folded))
    rhat = np.where(tail > bulk, tail, bulk)  # ArviZ's max(bulk, tail): a NaN tail keeps bulk
    ess = _ess(z)
    return (
        np.where(_invalid(draws, min_chains=2), np.nan, rhat),
        np.where(_invalid(draws, min_chains=1), np.nan, ess),
    )


def _invalid(draws: np.ndarray, *, min_chains: int) -> np.ndarray:
    n_chains, n_draws = draws.shape[-2:]
    nan = np.isnan(draws).any(axis=(-2, -1))
    return nan | (n_chains < min_chains) | (n_draws < 4)


def _split_chains(draws: np.ndarray) -> np.ndarray:
    """Each chain's first and last half as two chains (the middle draw of an odd count
    is dropped)."""
    half = draws.shape[-1] // 2
    return np.concatenate([draws[..., :half], draws[..., -half:]], axis=-2)


def _z_scale(draws: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks of all draws of each quantity (Blom's offset 3/8).

    Tied draws (a sampler repeats a draw now and then) share their average rank, as in
    ``scipy.stats.rankdata(method="average")``, which ArviZ calls once per quantity; here
    one sort ranks every quantity. An average rank is a whole or half number, so the normal
    scores of all of them are computed once, as a table. A quantity with a NaN draw is
    ranked by scipy itself.
    """
    shape = draws.shape
    flat = np.ascontiguousarray(draws.reshape(-1, shape[-2] * shape[-1]))
    size = flat.shape[1]

    def normal_score(rank):
        return ndtri((rank - 3 / 8) / (size - 2 * 3 / 8 + 1))

    table = normal_score(np.arange(2 * size - 1) / 2.0 + 1.0)  # ranks 1, 1.5, 2, ..., size
    scores = np.empty_like(flat)
    _normal_scores(flat, np.argsort(flat, axis=1), table, scores)
    for row in np.flatnonzero(np.isnan(flat).any(axis=1)):
        scores[row] = normal_score(rankdata(flat[row], method="average", nan_policy="omit"))
    return scores.reshape(shape)


@numba.njit(cache=True, nogil=True)
def _normal_scores(values, order, table, scores):
    """scores[r, i] = table[2 * (rank - 1)], rank being the 1-based rank of values[r, i] in
    its row (``order``: each row's sorting permutation); equal values share the mean of
    their positions."""
    rows, size = values.shape
    for r in range(rows):
        start = 0
        while start < size:
            value = values[r, order[r, start]]
            stop = start + 1
            while stop < size and values[r, order[r, stop]] == value:
                stop += 1
            score = table[start + stop - 1]  # rank (start + stop - 1) / 2 + 1
            for k in range(start, stop):
                scores[r, order[r, k]] = score
            start = stop


def _rhat(draws: np.ndarray) -> np.ndarray:
    """The classic R-hat of chains (..., chain, draw)."""
    n = draws.shape[-1]
    chain_mean = draws.mean(axis=-1)
    between = n * chain_mean.var(axis=-1, ddof=1)
    within = draws.var(axis=-1, ddof=1).mean(axis=-1)
    return np.sqrt((between / within + n - 1) / n)


def _autocov(draws: np.ndarray) -> np.ndarray:
    """Autocovariance of each chain at every lag, by FFT (ArviZ's ``autocov``)."""
    from arviz_stats.base import array_stats

    return array_stats.autocov(draws, axis=-1)


def _ess(draws: np.ndarray) -> np.ndarray:
    """ESS of chains (..., chain, draw) with Geyer's initial monotone sequence.

    ArviZ walks the autocorrelations pair by pair (lags 2k, 2k + 1) until a pair sums to
    zero or less, keeps that last pair's even lag if it is positive or the pair sums to
    exactly zero, and caps each pair's sum by the one before. The same, on all quantities at once: pair sums, the first
    non-positive one, a running minimum.
    """
    lead = draws.shape[:-2]
    m, n = draws.shape[-2:]
    if n < 2:  # no autocorrelation to speak of (and no valid ESS: 4 draws at least)
        return np.full(lead, np.nan)
    flat = draws.reshape(-1, m, n)
    acov = _autocov(flat)
    mean_var = acov[:, :, 0].mean(axis=1) * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if m > 1:
        var_plus = var_plus + flat.mean(axis=2).var(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (mean_var[:, None] - acov.mean(axis=1)) / var_plus[:, None]
    rho[:, 0] = 1.0
    k_max = max((n - 3) // 2, 0)  # the last pair ArviZ may read (pair 0 always counts)
    pairs = rho[:, 0 : 2 * k_max + 2 : 2] + rho[:, 1 : 2 * k_max + 2 : 2]  # pairs 0..k_max
    stops = ~(pairs > 0)
    k_last = np.where(stops.any(axis=1), stops.argmax(axis=1), k_max)
    kept = np.arange(pairs.shape[1])[None, :] < k_last[:, None]
    monotone = np.minimum.accumulate(pairs, axis=1)
    rows = np.arange(flat.shape[0])
    even = rho[rows, 2 * k_last]
    last = np.where((even > 0) | (pairs[rows, k_last] >= 0), even, 0.0)
    tau = -1.0 + 2.0 * np.where(kept, monotone, 0.0).sum(axis=1) + last
    tau = np.maximum(tau, 1.0 / np.log10(m * n))
    ess = m * n / tau
    ess = np.where(np.isnan(rho).any(axis=1), np.nan, ess)
    constant = (flat.max(axis=(1, 2)) - flat.min(axis=(1, 2))) < np.finfo(float).resolution
    ess = np.where(constant, float(m * n), ess)
    return ess.reshape(lead)
