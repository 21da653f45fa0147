#!/usr/bin/env python
"""How the numeric forecast's blend weight could be chosen, side by side (issue 10).

Not a test: it measures and prints. The blend (``aggregation/engine/numeric_blend.py``) is
``w * model + (1 - w) * equal weight`` with ``w`` learned from the seeds. Here each fold's
raw material is computed once (the other seeds' PSIS leave-one-out predictives, the held-out
seed's model draws, the equal-weight mixture): leave-one-seed-out on the TU Delft studies in
``tests/data/cooke``, and the three simulated 24 x 30 panels of the slow recovery test (their
20 targets each). Every rule is then applied to the same material, and the script prints
each rule's mean scaled interval score (TU Delft: the mean of the studies; simulated: the
mean over targets) beside equal weight and the quantile average, and a bootstrap interval of
the shipped rule minus equal weight (seeds resampled within each study).

Usage: .venv/bin/python bench/blend_rules.py [--only "CWD,umd"] [--draws 400]
       [--shared-error-nu 0]        (about 10 minutes on two cores; results in bench/README.md)
       [--studies-dir DIR]          other studies: DIR/NAME.csv (expert,question,q05,q50,q95)
                                    with DIR/NAME.realized.csv (question,value), instead of
                                    the TU Delft .dtt files
       [--no-simulated] [--save F.pkl | --load F.pkl]   keep the fits' material, or reuse it
       [--rules "model alone,fixed w = 0.5"]            only these rules (and the shipped one)
"""

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aggregation.engine import numeric  # noqa: E402
from aggregation.engine.excalibur import read_excalibur  # noqa: E402
from aggregation.engine.numeric_blend import (  # noqa: E402
    WEIGHTS,
    equal_weight_cdf,
    loo_seed_draws,
    mixture_quantiles,
    scaled_interval_score,
    seed_cases,
)
from aggregation.engine.quantiles import QuantileTable, realizations_from_csv  # noqa: E402
from aggregation.engine.synthetic import simulate_quantile_panel  # noqa: E402


def material(tree, data, table, targets: dict[str, float]) -> tuple[list, list]:
    """(the seeds' leave-one-out cases, the targets' cases) on the scoring scale: the seeds'
    as ``numeric_blend.blend`` builds them, the targets' from the model's draws."""
    answers, log_scored = numeric.blend_inputs(table)
    config = json.loads(tree.attrs["model_config"])
    loo = loo_seed_draws(tree, data, config, seed=int(tree.attrs.get("random_seed", 0)))
    seeds = seed_cases(loo, data, answers, log_scored)
    truth = tree["posterior"]["truth"].transpose("chain", "draw", "question").values
    held = []
    for q, value in targets.items():
        k = data.questions.index(q)
        a = np.log(answers[q]) if log_scored[q] else answers[q]
        on_scale = data.to_scale(truth[..., k].ravel(), k)
        held.append({
            "draws": np.log(on_scale) if log_scored[q] else on_scale,
            "weights": None,
            "x": float(np.log(value) if log_scored[q] else value),
            "answers": a,
            "ew": equal_weight_cdf(a),
        })  # fmt: skip
    return seeds, held


def tu_delft(only) -> dict[str, tuple]:
    out = {}
    for dtt in sorted((ROOT / "tests" / "data" / "cooke").glob("*.dtt")):
        if not only or dtt.stem in only:
            out[dtt.stem] = numeric.table_from_study(read_excalibur(dtt, dtt.with_suffix(".rls")))
    return out


def csv_studies(directory: Path, only) -> dict[str, tuple]:
    out = {}
    for realized in sorted(directory.glob("*.realized.csv")):
        name = realized.name.removesuffix(".realized.csv")
        if only and name not in only:
            continue
        try:
            table = QuantileTable.from_csv(directory / f"{name}.csv")
        except ValueError as error:  # a study the engine refuses is reported, not scored
            print(f"  {name}: skipped ({str(error)[:120]})", file=sys.stderr)
            continue
        out[name] = (table, realizations_from_csv(realized))
    return out


def studies(model, chosen: dict[str, tuple]) -> dict[str, list]:
    out = {}
    for name, (table, realized) in chosen.items():
        folds = []
        for k, held in enumerate(sorted(q for q in realized if q in set(table.questions))):
            others = {q: v for q, v in realized.items() if q != held}
            fold = numeric.NumericPanelData.from_table(table, others)
            tree = model.fit(fold, random_seed=k)
            seeds, targets = material(tree, fold, table, {held: realized[held]})
            folds.append((seeds, targets))
        out[name] = folds
        print(f"  {name}: {len(folds)} folds", file=sys.stderr, flush=True)
    return out


def simulated(model_config) -> list:
    out = []
    for seed in range(3):
        panel = simulate_quantile_panel(
            n_experts=24, n_questions=30, n_seeds=10, overconfident=(0,), seed=seed
        )
        table = QuantileTable.from_rows(panel.rows)
        realized = {q: panel.truth[q] for q in panel.seeds}
        data = numeric.NumericPanelData.from_table(table, realized)
        tree = numeric.NumericHierarchicalModel(model_config).fit(data, random_seed=seed)
        targets = {q: panel.truth[q] for q in table.questions if q not in realized}
        out.append(material(tree, data, table, targets))
    return out


# --- the rules: each maps (seeds' score matrix (n, len(WEIGHTS)), prior curve) to w --------
def scores(cases, quantiles) -> np.ndarray:
    return np.array([
        [scaled_interval_score(q[0], q[2], c["x"], c["answers"])
         for q in (quantiles(c["draws"], c["weights"], c["ew"], w) for w in WEIGHTS)]
        for c in cases
    ])  # fmt: skip


def vincentized(draws, weights, ew, w):
    """Quantile averaging of the model and the equal-weight mixture (not a mixture)."""
    model = mixture_quantiles(draws, weights, ew, 1.0)
    return w * model + (1 - w) * np.interp([0.05, 0.5, 0.95], ew[1], ew[0])


def plain_minimum(s, _prior):
    m = s.mean(0)
    return WEIGHTS[np.flatnonzero(m == m.min()).max()]


def within(tolerance):
    return lambda s, _prior: WEIGHTS[
        np.flatnonzero(s.mean(0) <= (1 + tolerance) * s.mean(0).min()).max()
    ]


def fixed(w):
    return lambda s, _prior: w


def bootstrap(s, _prior, draws=400):
    picks = np.random.default_rng(0).dirichlet(np.ones(len(s)), draws) @ s
    return float(np.mean([WEIGHTS[np.flatnonzero(r == r.min()).max()] for r in picks]))


def with_prior(pseudo_seeds):
    def rule(s, prior):
        objective = s.sum(0) + pseudo_seeds * s.mean(0)[0] * prior
        return WEIGHTS[np.flatnonzero(objective == objective.min()).max()]

    return rule


RULES = {
    "plain minimum (shipped)": (plain_minimum, mixture_quantiles),
    "model alone": (fixed(1.0), mixture_quantiles),
    "equal weight": (fixed(0.0), mixture_quantiles),
    "fixed w = 0.3": (fixed(0.3), mixture_quantiles),
    "fixed w = 0.5": (fixed(0.5), mixture_quantiles),
    "bootstrap of the seeds": (bootstrap, mixture_quantiles),
    "within 1 % of the minimum": (within(0.01), mixture_quantiles),
    "within 2 % of the minimum": (within(0.02), mixture_quantiles),
    "prior curve, 2 pseudo-seeds": (with_prior(2), mixture_quantiles),
    "prior curve, 5 pseudo-seeds": (with_prior(5), mixture_quantiles),
    "quantile averaging": (plain_minimum, vincentized),
}


def held_scores(rule, quantiles, seeds, held, prior) -> list[tuple[float, bool]]:
    """Each held-out item's (scaled interval score, whether its 90 % range holds it)."""
    w = rule(scores(seeds, quantiles), prior) if len(seeds) >= 3 else 1.0
    out = []
    for c in held:
        low, _mid, high = quantiles(c["draws"], c["weights"], c["ew"], w)
        out.append((scaled_interval_score(low, high, c["x"], c["answers"]), low <= c["x"] <= high))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated study names")
    parser.add_argument("--draws", type=int, default=400, help="draws a chain (study folds)")
    parser.add_argument("--shared-error-nu", type=float, help="the model's nu_eta (0: normal)")
    parser.add_argument("--studies-dir", type=Path, help="CSV studies instead of TU Delft's")
    parser.add_argument("--no-simulated", action="store_true", help="skip the simulated panels")
    parser.add_argument("--save", type=Path, help="write the fits' material here (pickle)")
    parser.add_argument("--load", type=Path, help="reuse material written by --save")
    parser.add_argument("--rules", help="comma-separated rule names (default: all)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if args.load:
        tu, panels = pickle.loads(args.load.read_bytes())
        tu = {s: folds for s, folds in tu.items() if not only or s in only}
    else:
        config = {} if args.shared_error_nu is None else {"shared_error_nu": args.shared_error_nu}
        sampler = {"draws": args.draws, "tune": 300, "chains": 4}
        model = numeric.NumericHierarchicalModel(config, sampler_config=sampler)
        chosen = csv_studies(args.studies_dir, only) if args.studies_dir else tu_delft(only)
        tu = studies(model, chosen)
        panels = [] if args.no_simulated else simulated(config)
        if args.save:
            args.save.write_bytes(pickle.dumps((tu, panels)))

    def curve(study, quantiles):  # a study's mean seed score per w, relative to w = 0
        m = np.vstack([scores(seeds, quantiles) for seeds, _ in tu[study]]).mean(0)
        return m / m[0]

    average = np.mean([scaled_interval_score(c["answers"][:, 0].mean(), c["answers"][:, 2].mean(),
                       c["x"], c["answers"]) for _, held in panels for c in held])  # fmt: skip
    print(f"{len(tu)} studies, {sum(len(f) for f in tu.values())} held-out items")
    print(f"{'rule':<30}{'studies':>10}{'hit':>7}{'pooled':>9}{'simulated':>11}"
          f"   (quantile average {average:.4f})")  # fmt: skip
    per_item = {}
    chosen_rules = set(args.rules.split(",")) if args.rules else set(RULES)
    chosen_rules |= {"plain minimum (shipped)", "equal weight"}  # the comparison below
    for name, (rule, quantiles) in RULES.items():
        if name not in chosen_rules:
            continue
        curves = {s: curve(s, quantiles) for s in tu} if "prior" in name else {}
        study_means, hits = [], []
        for study, folds in tu.items():
            prior = (
                np.mean([c for s, c in curves.items() if s != study], axis=0) if curves else None
            )
            items = [
                x for seeds, held in folds for x in held_scores(rule, quantiles, seeds, held, prior)
            ]
            item_scores = np.array([score for score, _ in items])
            per_item.setdefault(name, {})[study] = item_scores
            study_means.append(item_scores.mean())
            hits += [hit for _, hit in items]
        prior = np.mean(list(curves.values()), axis=0) if curves else None
        sim = [
            x[0] for seeds, held in panels for x in held_scores(rule, quantiles, seeds, held, prior)
        ]
        tu_mean = np.mean(study_means) if study_means else float("nan")
        pooled = np.mean(np.concatenate(list(per_item[name].values()))) if tu else float("nan")
        print(f"{name:<30}{tu_mean:>10.4f}{np.mean(hits) if hits else np.nan:>7.3f}"
              f"{pooled:>9.4f}{np.mean(sim) if sim else np.nan:>11.4f}")  # fmt: skip
    if tu:
        shipped, equal = per_item["plain minimum (shipped)"], per_item["equal weight"]
        rng = np.random.default_rng(1)
        base = np.mean([equal[s].mean() for s in tu])
        diffs = []
        for _ in range(4000):
            picks = {s: rng.integers(0, len(equal[s]), len(equal[s])) for s in tu}
            diffs.append(
                np.mean([shipped[s][i].mean() - equal[s][i].mean() for s, i in picks.items()])
            )
        point = np.mean([shipped[s].mean() - equal[s].mean() for s in tu]) / base
        low, high = np.percentile(diffs, [5, 95]) / base
        print(f"shipped minus equal weight: {point:+.1%} (90 %: {low:+.1%} to {high:+.1%})")
        wins = sum(shipped[s].mean() <= equal[s].mean() for s in tu)
        print(f"studies where the shipped blend's mean is no worse than equal weight's: "
              f"{wins} of {len(tu)}")  # fmt: skip


if __name__ == "__main__":
    main()
