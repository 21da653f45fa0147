#!/usr/bin/env python
"""Benchmark and evaluation of the numeric (quantile) model (issue 10).

Not a test: it measures and prints, side by side in one run.

1. ``--timing``: ``manage.py aggregate`` from CSV to result JSON on a simulated
   200 experts x 60 questions numeric panel (10 seeds), in a fresh process, with the
   compile cache it finds (run it twice for the warm figure), and the equal-weight
   decision maker of the same data in the same process for the ratio; then the same
   panel fitted in this process by both backends (the hand-written density and nutpie's
   PyMC compile), twice each, side by side;
2. ``--studies``: leave-one-seed-out on the TU Delft studies in ``tests/data/cooke``: per
   study and pooled, every method's hit rate of the 90 % range, calibration, information
   and scaled interval score (``aggregation.engine.numeric.score_predictions``).

Usage: .venv/bin/python bench/numeric.py [--timing] [--studies] [--draws 400|auto]
       [--only "CWD,umd"] [--out var/bench/numeric.json]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aggregation.engine import numeric  # noqa: E402
from aggregation.engine.excalibur import read_excalibur  # noqa: E402
from aggregation.engine.quantiles import QuantileTable  # noqa: E402
from aggregation.engine.synthetic import simulate_quantile_panel  # noqa: E402

STUDIES = ROOT / "tests" / "data" / "cooke"


def timing() -> dict:
    panel = simulate_quantile_panel(n_experts=200, n_questions=60, n_seeds=10, seed=5)
    with tempfile.TemporaryDirectory() as workdir:
        csv, rls, out = (Path(workdir) / name for name in ("q.csv", "r.csv", "r.json"))
        QuantileTable.from_rows(panel.rows).frame.drop(columns=["round"]).to_csv(csv, index=False)
        rls.write_text("question,value\n" + "".join(f"{q},{panel.truth[q]}\n" for q in panel.seeds))
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "manage.py", "aggregate", str(csv), "--realizations", str(rls),
             "--out", str(out)],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wall = time.perf_counter() - started
        result = json.loads(out.read_text())
    table = QuantileTable.from_rows(panel.rows)
    started = time.perf_counter()
    numeric.baselines(table, {q: panel.truth[q] for q in panel.seeds})
    closed_form = time.perf_counter() - started
    d = result["diagnostics"]
    line = {
        "judgments": result["n_judgments"],
        "wall_seconds": round(wall, 1),
        **{k: round(v, 1) for k, v in result["timings"].items()},
        "cooke_decision_makers_seconds": round(closed_form, 2),
        "max_rhat": d["max_rhat"],
        "min_ess_bulk": d["min_ess_bulk"],
        "divergences": d["divergences"],
    }
    print(f"CLI 200x60 numeric (10 seeds): {json.dumps(line)}", flush=True)
    line["backends"] = backends(panel)
    return line


def backends(panel) -> dict:
    """The same panel fitted in this process by each backend, side by side: the
    hand-written density (density.py) and nutpie's compile of ``build_model`` ("pymc"),
    each twice (the second "pymc" fit reuses its compile)."""
    data = numeric.NumericPanelData.from_table(
        QuantileTable.from_rows(panel.rows), {q: panel.truth[q] for q in panel.seeds}
    )
    out = {}
    for run in range(2):
        for backend in ("density", "pymc"):
            model = numeric.NumericHierarchicalModel(sampler_config={"backend": backend})
            started = time.perf_counter()
            tree = model.fit(data, random_seed=run)
            wall = time.perf_counter() - started
            stats = tree["sample_stats"]
            row = {
                "wall_seconds": round(wall, 1),
                "compile_seconds": round(float(tree.attrs["compile_seconds"]), 1),
                "sample_seconds": round(float(tree.attrs["sample_seconds"]), 1),
                "leapfrog_steps_per_draw": round(float(stats["n_steps"].mean()), 1),
                "divergences": int(stats["diverging"].sum()),
            }
            out[f"{backend}, fit {run + 1}"] = row
            print(f"  in process, {backend:7s} fit {run + 1}: {json.dumps(row)}", flush=True)
    ratio = out["density, fit 2"]["sample_seconds"] / out["pymc, fit 2"]["sample_seconds"]
    out["sampling_ratio_density_to_pymc"] = round(ratio, 3)
    print(f"  sampling, density / pymc (second fits): {ratio:.2f}", flush=True)
    return out


def studies(draws: str, only: set[str] | None) -> dict:
    # one fit per seed: kept short by default; "auto" fits with the model's own defaults,
    # as `manage.py evaluate` does
    sampler = None if draws == "auto" else {"draws": int(draws), "tune": 300, "chains": 4}
    model = numeric.NumericHierarchicalModel(sampler_config=sampler)
    per_study, pooled = {}, {}
    for dtt in sorted(STUDIES.glob("*.dtt")):
        if only and dtt.stem not in only:
            continue
        table, realized = numeric.table_from_study(read_excalibur(dtt, dtt.with_suffix(".rls")))
        started = time.perf_counter()
        out = numeric.leave_one_seed_out(table, realized, model=model)
        per_study[dtt.stem] = out["methods"]
        cells = "  ".join(
            f"{name} {s['hit_rate_90']:.2f}/{s['interval_score']:.2f}"
            for name, s in out["methods"].items()
        )
        print(f"{dtt.stem:12s} n={out['n_seeds']:2d} {time.perf_counter() - started:5.1f} s  "
              f"hit/IS  {cells}", flush=True)  # fmt: skip
        for name, s in out["methods"].items():
            acc = pooled.setdefault(name, {"hits": 0.0, "n": 0, "scores": [], "sum": 0.0})
            acc["hits"] += s["hit_rate_90"] * s["n"]
            acc["n"] += s["n"]
            acc["scores"].append(s["interval_score"])
            acc["sum"] += s["interval_score"] * s["n"]
    summary = {
        name: {
            "hit_rate_90": acc["hits"] / acc["n"],
            "interval_score_mean_of_studies": float(np.mean(acc["scores"])),
            "interval_score_pooled": acc["sum"] / acc["n"],
            "n": acc["n"],
        }
        for name, acc in pooled.items()
    }
    print(f"{'all studies':<18}{'hit 90%':>9}{'IS, mean of studies':>21}{'IS, pooled':>12}")
    for name, s in summary.items():
        print(f"{name:<18}{s['hit_rate_90']:>9.3f}{s['interval_score_mean_of_studies']:>21.3f}"
              f"{s['interval_score_pooled']:>12.3f}")  # fmt: skip
    return {"studies": per_study, "all": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--studies", action="store_true")
    parser.add_argument("--draws", default="400", help='draws a chain, or "auto" (defaults)')
    parser.add_argument("--only", help="comma-separated study names")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "numeric.json"))
    args = parser.parse_args()
    run_all = not (args.timing or args.studies)
    report = {}
    if args.timing or run_all:
        report["timing"] = timing()
    if args.studies or run_all:
        report["leave_one_seed_out"] = studies(
            args.draws, set(args.only.split(",")) if args.only else None
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
