"""Figures of a run's report, drawn with ArviZ (arviz-plots) and saved as SVG files.

``figures_render`` is called by the worker after a fit; the files live under MEDIA_ROOT
and are served through the report views, which check who may read them.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # workers have no display

import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402
from django.conf import settings  # noqa: E402

from aggregation.engine.data import JudgmentTable  # noqa: E402
from aggregation.engine.hierarchical import HierarchicalFit  # noqa: E402
from aggregation.engine.summary import derived_draws  # noqa: E402


def figures_render(
    *, result: dict, fit: HierarchicalFit | None, table: JudgmentTable, folder: Path
) -> dict[str, str]:
    """Draw the run's figures into MEDIA_ROOT/folder; returns name -> path under MEDIA_ROOT."""
    target = Path(settings.MEDIA_ROOT) / folder
    target.mkdir(parents=True, exist_ok=True)
    figures = {}
    if fit is not None:
        figures["consensus"] = _save(_consensus_forest(fit, result), folder / "consensus.svg")
    return figures


def _consensus_forest(fit: HierarchicalFit, result: dict):
    import arviz_plots as azp

    posterior = fit.posterior["posterior"].to_dataset()
    cohorts = [str(c) for c in posterior["cohort"].values]
    draws = derived_draws(posterior, cohorts)[["consensus"]]
    tree = xr.DataTree.from_dict({"posterior": draws})
    mass = result["interval_mass"]
    plot = azp.plot_forest(tree, combined=True, ci_probs=(0.5, mass), backend="matplotlib")
    figure = plot.viz["chart"].item() if "chart" in plot.viz else plt.gcf()
    return figure


def _save(figure, relative: Path) -> str:
    figure.savefig(Path(settings.MEDIA_ROOT) / relative, format="svg", bbox_inches="tight")
    plt.close(figure)
    return str(relative)
