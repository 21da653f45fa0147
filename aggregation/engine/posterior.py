"""What every model of the engine does the same way: sample a compiled PyMC model with
nutpie, report progress, and save or load its posterior as NetCDF."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

ProgressCallback = Callable[[str, float], None]
"""Called with (phase, fraction of that phase done); phases: compiling, tuning, sampling."""


def sample(
    compiled,
    *,
    sampler_config: dict,
    random_seed: int,
    progress: ProgressCallback | None = None,
    **options,
) -> xr.DataTree:
    """nutpie's draws (no warm-up kept) with the chains, draws and tuning of the config.

    The config's ``target_accept``, when it has one, goes to nutpie; ``options`` go to
    ``nutpie.sample`` as they are.
    """
    import nutpie

    cfg = sampler_config
    if "target_accept" in cfg:
        options = {"target_accept": cfg["target_accept"], **options}
    callback = None if progress is None else _progress_adapter(progress, cfg["tune"], cfg["draws"])
    return nutpie.sample(
        compiled,
        draws=cfg["draws"],
        tune=cfg["tune"],
        chains=cfg["chains"],
        cores=cfg["cores"],
        seed=random_seed,
        progress_bar=False,
        save_warmup=False,
        progress_callback=callback,
        progress_rate=250,
        **options,
    )


def _progress_adapter(notify: ProgressCallback, tune: int, draws: int):
    """Turn nutpie's per-chain progress into (phase, fraction) calls."""

    def callback(chains) -> None:
        if not chains:
            return
        done = np.array([chain.finished_draws for chain in chains], dtype=float)
        if any(chain.tuning for chain in chains):
            notify("tuning", float(np.minimum(done, tune).mean() / max(tune, 1)))
        else:
            notify("sampling", float(np.clip(done - tune, 0, draws).mean() / max(draws, 1)))

    return callback


def tree_save(tree: xr.DataTree, path: str | Path) -> Path:
    """Write a posterior and its attrs (config, version, data hash) as NetCDF."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.to_netcdf(path, engine="h5netcdf")
    return path


def tree_load(path: str | Path, *, model_names: set[str]) -> xr.DataTree:
    """Read a saved posterior fully (the file is closed after) and check what model made it."""
    tree = xr.load_datatree(path, engine="h5netcdf")
    if tree.attrs.get("model_name") not in model_names:
        names = " or ".join(sorted(model_names))
        raise ValueError(f"{path} does not hold a {names} posterior")
    return tree
