"""``make install`` compiles the engine's cached numba code ahead of the first fit."""

from pathlib import Path

import numba

from aggregation.engine import density, diagnostics
from aggregation.engine.warm import warm


def test_warm_leaves_the_densities_and_the_ranking_compiled_and_cached_on_disk():
    warm()
    assert density.callbacks.cache_info().currsize == 1
    logp, expand = density.callbacks()
    assert logp.address and expand.address  # C callbacks nutpie can call
    assert density.numeric_callbacks.cache_info().currsize == 1
    assert all(callback.address for callback in density.numeric_callbacks())
    assert diagnostics._normal_scores.signatures  # compiled (or loaded from the cache)
    # numba's index files: beside the sources, or under NUMBA_CACHE_DIR
    engine = Path(density.__file__).parent
    roots = [Path(numba.config.CACHE_DIR)] if numba.config.CACHE_DIR else [engine / "__pycache__"]
    for module in ("density", "diagnostics"):
        assert any(next(root.rglob(f"{module}.*.nbi"), None) for root in roots), module
