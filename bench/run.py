#!/usr/bin/env python
"""Benchmark of the hierarchical fit (issue 3): `make bench`, or `python bench/run.py`.

Not a test: it prints timings and diagnostics measured side by side in one run, so that
ratios can be compared across machines (absolute seconds on shared machines are noisy).

1. `manage.py aggregate` from CSV to result JSON for 200 x 60, in a fresh process, first
   with an empty compile cache (a fresh machine), then with the cache it left (warm); then
   the plain PyMC + nutpie reference (`bench/plain_pymc.py`: the same model with PyMC's own
   Student-t likelihood, compiled by nutpie) the same way, and the ratio of the warm runs;
2. in one long-lived process, for each panel: the first fit (compile + sample), a refit
   with new data of the same shape (compiled model reused), and the log-odds mean of the
   same data, with max R-hat, min bulk ESS, ESS per second and divergences of the
   reported quantities; for 30x20 and 200x60 the same two fits again through nutpie's
   compile of the PyMC model (sampler backend "pymc"), for comparison.

3. `manage.py aggregate --method linked_rounds` from CSV to result for two Delphi rounds of
   60 x 30 with 40 % of the answers kept, empty cache and warm.

Options: --sizes 30x20,200x60,2000x200 --skip-cli --out var/bench/result.json
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aggregation.engine.data import JudgmentTable  # noqa: E402
from aggregation.engine.pooling import pool_questions  # noqa: E402
from aggregation.engine.synthetic import (  # noqa: E402
    simulate_binary_panel,
    simulate_linked_rounds,
)

# Panels also fitted through nutpie's own compile of the PyMC model (backend "pymc"), side by
# side with the hand-written density; not 2000x200, where it would double the run.
COMPARE_PYMC = {"30x20", "200x60"}
PANELS = {  # name: (experts, questions, share answered)
    "30x20": (30, 20, 1.0),
    "200x60": (200, 60, 1.0),
    "2000x200": (2000, 200, 0.15),
}


def panel_table(name: str, seed: int) -> JudgmentTable:
    experts, questions, rate = PANELS[name]
    panel = simulate_binary_panel(
        n_experts=experts, n_questions=questions, answer_rate=rate, rounding=0.01, seed=seed
    )
    return JudgmentTable.from_frame(panel.judgments)


def timed_run(command: list[str], cache: Path, out: Path) -> tuple[float, dict]:
    """``python COMMAND... OUT`` in a fresh process with its compile caches (PyTensor's, and
    numba's for the engine's own cached functions) under ``cache``: (wall seconds, the
    JSON it wrote to OUT)."""
    env = {
        **os.environ,
        "PYTENSOR_FLAGS": f"base_compiledir={cache}",
        "NUMBA_CACHE_DIR": str(cache / "numba"),
    }
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *command, str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started, json.loads(out.read_text())


def timed_aggregate(arguments: list[str], cache: Path, out: Path) -> tuple[float, dict]:
    """`manage.py aggregate ARGUMENTS --out OUT` in a fresh process (``timed_run``)."""
    return timed_run(["manage.py", "aggregate", *arguments, "--out"], cache, out)


def cli_runs(workdir: Path) -> dict:
    """CSV -> result with `manage.py aggregate`: empty compile cache, then warm; then the
    plain PyMC + nutpie reference (bench/plain_pymc.py) from the same CSV in a fresh process,
    once to fill its compile cache and once warm, and our warm run again beside it: the
    ratio is our warm wall time over the reference's."""
    csv = workdir / "panel-200x60.csv"
    panel_table("200x60", seed=11).frame.drop(columns="round").to_csv(csv, index=False)
    cache = workdir / "pytensor-cache"
    results = {}
    aggregate = ["manage.py", "aggregate", str(csv), "--out"]
    reference = [str(ROOT / "bench" / "plain_pymc.py"), str(csv)]
    for label, title, command, out in (
        ("empty cache", "CLI 200x60, empty cache", aggregate, "r.json"),
        ("warm cache", "CLI 200x60, warm cache", aggregate, "r.json"),
        ("plain PyMC reference, empty cache", None, reference, "p.json"),
        ("plain PyMC reference, warm cache", None, reference, "p.json"),
    ):
        wall, result = timed_run(command, cache, workdir / out)
        results[label] = {
            "wall_seconds": round(wall, 1),
            "compile_seconds": result["timings"]["compile_seconds"],
            "sampling_seconds": result["timings"]["sampling_seconds"],
            **_diagnostics(result),
        }
        print(f"  {title or label:34s}: {wall:6.1f} s wall  {_line(results[label])}", flush=True)
    wall, _ = timed_aggregate([str(csv)], cache, workdir / "r.json")
    plain = results["plain PyMC reference, warm cache"]["wall_seconds"]
    ours = (results["warm cache"]["wall_seconds"] + wall) / 2
    results["ratio_to_plain_reference"] = round(ours / plain, 3)
    print(
        f"  CLI 200x60, warm cache again: {wall:6.1f} s wall; mean of the two warm runs "
        f"{ours:.1f} s = {ours / plain:.2f} x the plain reference's {plain:.1f} s",
        flush=True,
    )
    return results


def linked_cli_runs(workdir: Path) -> dict:
    """Two Delphi rounds, 60 experts x 30 questions, 40 % of round-2 answers kept: CSV ->
    result with `manage.py aggregate --method linked_rounds`, empty compile cache, then warm."""
    _, frame = simulate_linked_rounds(n_experts=60, n_questions=30, keep=0.4, seed=11)
    csv = workdir / "two-rounds-60x30.csv"
    frame.to_csv(csv, index=False)
    cache = workdir / "pytensor-cache-linked"
    results = {}
    for label in ("empty cache", "warm cache"):
        arguments = [str(csv), "--method", "linked_rounds"]
        wall, result = timed_aggregate(arguments, cache, workdir / "linked.json")
        d = result["diagnostics"]
        results[label] = {
            "wall_seconds": round(wall, 1),
            "judgments": result["n_judgments"],
            "kept": result["n_kept"],
            "persistence": result["persistence"],
            "max_rhat": d["max_rhat"],
            "divergences": d["divergences"],
        }
        print(
            f"  CLI linked rounds 60x30x2 ({result['n_judgments']} judgments, "
            f"{result['n_kept']} kept), {label:11s}: {wall:6.1f} s wall  max R-hat "
            f"{d['max_rhat']:.3f}  divergences {d['divergences']}  persistence "
            f"{result['persistence']['mean']:.2f} {result['persistence']['interval']}",
            flush=True,
        )
    return results


def in_process(name: str) -> dict:
    from aggregation.engine.hierarchical import BinaryHierarchicalModel
    from aggregation.engine.summary import summarize_hierarchical

    models = {"density": BinaryHierarchicalModel()}
    if name in COMPARE_PYMC:
        models["pymc"] = BinaryHierarchicalModel(sampler_config={"backend": "pymc"})
    out = {}
    runs = [("first fit", 1, "density"), ("warm refit", 2, "density")]
    runs += [(f"pymc backend, {label}", seed, "pymc") for label, seed, _ in runs[:2]]
    for label, seed, backend in runs:
        if backend not in models:
            continue
        model = models[backend]
        table = panel_table(name, seed)
        started = time.perf_counter()
        fit = model.fit(table, random_seed=seed)
        result = summarize_hierarchical(fit, table)
        total = time.perf_counter() - started
        pooled_started = time.perf_counter()
        pool_questions(table, "logodds_mean")
        pooled = time.perf_counter() - pooled_started
        sampling = result["timings"]["sampling_seconds"]
        out[label] = {
            "judgments": len(table),
            "total_seconds": round(total, 2),
            "compile_seconds": result["timings"]["compile_seconds"],
            "sampling_seconds": sampling,
            "logodds_mean_seconds": round(pooled, 4),
            "ratio_to_logodds_mean": round(total / pooled),
            "min_ess_bulk_per_second": round(result["diagnostics"]["min_ess_bulk"] / sampling, 1),
            **_diagnostics(result),
        }
        print(f"  {name:8s} {label:28s}: {total:6.1f} s total  {_line(out[label])}", flush=True)
    return out


def _diagnostics(result: dict) -> dict:
    d = result["diagnostics"]
    per = d["per_quantity"]
    reported = [per[q] for q in ("consensus", "disagreement", "cohort_gap") if q in per]
    return {
        "max_rhat": d["max_rhat"],
        "min_ess_bulk": d["min_ess_bulk"],
        "divergences": d["divergences"],
        "max_rhat_consensus_disagreement_gaps": max(q["max_rhat"] for q in reported),
        "min_ess_consensus_disagreement_gaps": min(q["min_ess_bulk"] for q in reported),
    }


def _line(r: dict) -> str:
    parts = [
        f"compile {r['compile_seconds']:5.1f} s",
        f"sampling {r['sampling_seconds']:5.1f} s",
        f"max R-hat {r['max_rhat']:.4f}",
        f"min ESS {r['min_ess_bulk']}",
        f"divergences {r['divergences']}",
    ]
    if "min_ess_bulk_per_second" in r:
        parts.append(f"ESS/s {r['min_ess_bulk_per_second']}")
        parts.append(
            f"log-odds mean {r['logodds_mean_seconds'] * 1000:.1f} ms "
            f"(x{r['ratio_to_logodds_mean']})"
        )
    return "  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(PANELS))
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "result.json"))
    args = parser.parse_args()
    report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    print(f"Consilium engine benchmark ({os.cpu_count()} CPUs)", flush=True)
    if not args.skip_cli:
        with tempfile.TemporaryDirectory() as workdir:
            report["cli_200x60"] = cli_runs(Path(workdir))
            report["cli_linked_60x30x2"] = linked_cli_runs(Path(workdir))
    report["in_process"] = {name: in_process(name) for name in args.sizes.split(",")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"Written {args.out}")


if __name__ == "__main__":
    main()
