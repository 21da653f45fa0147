"""Compile the engine's cached numba code once, ahead of the first fit.

``make install`` runs ``python -m aggregation.engine.warm``: the hand-written density of the
binary and numeric models (``density.callbacks``, ``density.numeric_callbacks``: their
nutpie callbacks and everything they call)
and the rank-normalisation of the diagnostics are compiled into numba's on-disk cache
(``__pycache__`` beside their sources, or NUMBA_CACHE_DIR), which every later process
loads in under a second instead of compiling for ~10 s (bench/README.md). A changed source
file invalidates its part of the cache; the next fit, or the next ``make install``,
compiles it again.
"""

import time

import numpy as np


def warm() -> float:
    """Compile (or load) the cached numba code; returns the seconds it took."""
    from aggregation.engine import density, diagnostics

    started = time.perf_counter()
    density.callbacks()
    density.numeric_callbacks()
    diagnostics.rhat_and_ess_bulk(np.random.default_rng(0).normal(size=(2, 4, 8)))
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"Compiled the engine's numba code in {warm():.1f} s")
