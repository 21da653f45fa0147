"""``make install`` compiles the engine's cached numba code ahead of the first fit."""

from aggregation.engine import density, diagnostics
from aggregation.engine.warm import warm


def test_warm_leaves_the_density_callbacks_and_the_ranking_compiled():
    assert warm() >= 0.0
    assert density.callbacks.cache_info().currsize == 1
    logp, expand = density.callbacks()
    assert logp.address and expand.address  # C callbacks nutpie can call
    assert diagnostics._normal_scores.signatures  # compiled (or loaded from the cache)
