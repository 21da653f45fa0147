"""The engine's vectorised R-hat and bulk ESS against ArviZ's, quantity by quantity.

``diagnostics.py`` recomputes ArviZ's rank-normalised split R-hat and bulk ESS on all
quantities at once. Both must agree with ``arviz_stats`` to rounding on chains that mix
well, that mix badly (strong autocorrelation, chains stuck apart), that alternate
(negative autocorrelation), that hold ties, that are constant, and with odd draw counts.
"""

import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr
from numpy.testing import assert_allclose

from aggregation.engine import diagnostics
from aggregation.engine.diagnostics import rhat_and_ess_bulk


def ar1_chains(phi: np.ndarray, chains: int, draws: int, seed: int) -> np.ndarray:
    """(quantity, chain, draw) AR(1) chains with coefficient phi per quantity."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(phi.size, chains, draws))
    out = np.empty_like(noise)
    out[..., 0] = noise[..., 0]
    for t in range(1, draws):
        out[..., t] = phi[:, None] * out[..., t - 1] + noise[..., t]
    return out


def arviz_reference(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    data = xr.DataArray(draws, dims=("q", "chain", "draw"))
    with np.errstate(invalid="ignore", divide="ignore"):
        return az.rhat(data).values, az.ess(data, method="bulk").values


def panel_of_cases(chains: int, draws: int, seed: int) -> np.ndarray:
    phi = np.concatenate([np.linspace(-0.9, 0.995, 40), [0.0, 0.5, 0.999]])
    draws_ = ar1_chains(phi, chains, draws, seed)
    stuck = draws_[[40] * 5].copy()  # white noise, chains shifted apart (the last 3: far)
    stuck += np.arange(chains)[None, :, None] * np.linspace(0.3, 2.0, 5)[:, None, None]
    ties = np.round(draws_[5:10], 1)  # rounded draws: many ties
    repeats = draws_[12:15].copy()  # a sampler's repeated draws: runs of one value
    repeats[..., 1::4] = repeats[..., 0::4][..., : repeats[..., 1::4].shape[-1]]
    trend = draws_[10:12] + np.linspace(0, 5, draws)  # non-stationary
    constant = np.full((2, chains, draws), 3.25)
    return np.concatenate([draws_, stuck, ties, trend, repeats, constant])


@pytest.mark.parametrize(
    ("chains", "draws"), [(4, 1000), (2, 101), (3, 7), (1, 50), (4, 4), (2, 3)]
)
def test_rhat_and_bulk_ess_equal_arviz(chains, draws):
    draws_ = panel_of_cases(chains, draws, seed=chains * draws)
    want_rhat, want_ess = arviz_reference(draws_)
    with np.errstate(invalid="ignore", divide="ignore"):
        got_rhat, got_ess = rhat_and_ess_bulk(draws_)
    assert_allclose(got_rhat, want_rhat, rtol=1e-10, equal_nan=True)
    assert_allclose(got_ess, want_ess, rtol=1e-10, equal_nan=True)
    if (chains, draws) == (4, 1000):  # the cases are what they claim to be
        mixing = np.abs(np.linspace(-0.9, 0.995, 40)) <= 0.9
        assert np.nanmin(got_rhat[45:48]) > 1.05 and np.nanmax(got_rhat[:40][mixing]) < 1.05
        assert got_ess[-1] == chains * draws  # constant


def test_a_nan_draw_gives_nan_as_in_arviz():
    draws_ = ar1_chains(np.array([0.3, 0.3]), 4, 200, seed=1)
    draws_[1, 2, 17] = np.nan
    want_rhat, want_ess = arviz_reference(draws_)
    got_rhat, got_ess = rhat_and_ess_bulk(draws_)
    assert np.isnan(got_rhat[1]) and np.isnan(got_ess[1])
    assert_allclose(got_rhat, want_rhat, rtol=1e-10, equal_nan=True)
    assert_allclose(got_ess, want_ess, rtol=1e-10, equal_nan=True)


def test_leading_dimensions_are_kept():
    draws_ = ar1_chains(np.full(6, 0.2), 4, 100, seed=2).reshape(2, 3, 4, 100)
    assert all(out.shape == (2, 3) for out in rhat_and_ess_bulk(draws_))


def test_chains_stuck_at_different_constants_get_a_huge_rhat_as_in_arviz():
    # no variance within any chain: the folded R-hat is 0 / 0, the bulk one is enormous
    draws_ = np.broadcast_to(np.arange(4.0)[None, :, None], (1, 4, 100)).copy()
    want_rhat, _ = arviz_reference(draws_)
    with np.errstate(invalid="ignore", divide="ignore"):
        got_rhat, _ = rhat_and_ess_bulk(draws_)
    assert got_rhat[0] > 1e6
    assert_allclose(got_rhat, want_rhat, rtol=1e-10)


def test_blocks_computed_in_parallel_equal_arviz_in_their_places(monkeypatch):
    """Quantities beyond one block (``CHUNK``) are computed block by block in threads: each
    result lands in its quantity's place, a NaN draw included, with leading dims kept."""
    monkeypatch.setattr(diagnostics, "CHUNK", 7)
    draws_ = panel_of_cases(4, 60, seed=5)  # 60 quantities: 9 blocks, the last short
    draws_[33, 1, 4] = np.nan
    want_rhat, want_ess = arviz_reference(draws_)
    with np.errstate(invalid="ignore", divide="ignore"):
        got_rhat, got_ess = rhat_and_ess_bulk(draws_.reshape(2, 30, 4, 60))
    assert got_rhat.shape == got_ess.shape == (2, 30)
    assert_allclose(got_rhat.ravel(), want_rhat, rtol=1e-10, equal_nan=True)
    assert_allclose(got_ess.ravel(), want_ess, rtol=1e-10, equal_nan=True)
    assert np.isnan(got_rhat.ravel()[33])


def test_threads_keep_the_callers_floating_point_settings(monkeypatch):
    """A constant quantity divides 0 by 0 in its R-hat: a caller that ignores that (the
    summary does) hears nothing from any block's thread, and one that raises gets it."""
    monkeypatch.setattr(diagnostics, "CHUNK", 3)
    draws_ = ar1_chains(np.full(8, 0.3), 4, 50, seed=3)
    draws_[6] = 2.5  # constant
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(invalid="ignore", divide="ignore"):
            rhat, _ = rhat_and_ess_bulk(draws_)
    assert np.isnan(rhat[6]) and np.isfinite(rhat[:6]).all()
    with np.errstate(invalid="raise", divide="raise"), pytest.raises(FloatingPointError):
        rhat_and_ess_bulk(draws_)


def test_no_quantities_give_empty_results():
    rhat, ess = rhat_and_ess_bulk(np.empty((0, 4, 100)))
    assert rhat.shape == ess.shape == (0,)
