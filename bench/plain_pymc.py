#!/usr/bin/env python
"""The plain PyMC + nutpie reference of `bench/run.py` (issue 12): what the single-round fit
costs without this project's fast path, from CSV to result in a fresh process.

    python bench/plain_pymc.py judgments.csv result.json

The model is ``BinaryHierarchicalModel.build_model``, the statement users read, with its
fused likelihood kernel replaced by PyMC's own Student-t (``pm.logp`` of ``pm.StudentT``,
which ``tests/aggregation/engine/test_likelihood.py`` holds the kernel to), compiled by
``nutpie.compile_pymc_model`` and sampled with the same settings; the result is summarized by
the same ``summarize_hierarchical``, so the two runs differ only in how the log density is
compiled and evaluated.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aggregation.engine.data import JudgmentTable  # noqa: E402
from aggregation.engine.hierarchical import BinaryHierarchicalModel  # noqa: E402
from aggregation.engine.summary import summarize_hierarchical  # noqa: E402


class PlainPyMCModel(BinaryHierarchicalModel):
    """The same model with PyMC's generic Student-t likelihood instead of the fused kernel."""

    def likelihood(self, y, judgment_idx, mu, delta_flat, bias, log_slope, log_sigma, log_kappa):
        import pymc as pm
        import pytensor.tensor as pt

        expert, question, cell = judgment_idx[0], judgment_idx[1], judgment_idx[2]
        location = bias[expert] + pt.exp(log_slope[expert]) * (mu[question] + delta_flat[cell])
        scale = pt.exp(log_sigma[expert] + log_kappa[question])
        student = pm.StudentT.dist(nu=self.model_config["nu"], mu=location, sigma=scale)
        return pm.logp(student, y).sum()


def main() -> None:
    source, out = sys.argv[1], Path(sys.argv[2])
    table = JudgmentTable.from_csv(source)
    table = table.for_round(table.rounds[-1])
    fit = PlainPyMCModel(sampler_config={"backend": "pymc"}).fit(table, random_seed=0)
    result = summarize_hierarchical(fit, table)
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
