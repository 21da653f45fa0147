"""manage.py evaluate: cross-validated scores of every aggregation method on resolved questions.

Touches no database: it reads a judgments CSV and an outcomes CSV, runs
``aggregation.engine.evaluation.cross_validate`` and writes the scores as JSON (and, when
asked, a calibration plot as SVG). Numeric judgments (a CSV with q05,q50,q95, or a .dtt
study) with their realizations are cross-validated leave-one-seed-out instead
(``aggregation.engine.numeric.leave_one_seed_out``). Progress goes to stderr.
"""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Compare aggregation methods by K-fold cross-validation over resolved questions: "
        "judgments CSV (expert,cohort,question,probability[,round]) and outcomes CSV "
        "(question,outcome[,group]) in, Brier / log score / AUC per method out."
    )
    requires_system_checks: list = []  # no database, no app checks: this is a file tool

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "judgments", help="judgments CSV (probabilities, or q05,q50,q95), or a .dtt study"
        )
        parser.add_argument(
            "outcomes",
            help="outcomes CSV: question,outcome (1/0)[,group]; for numeric judgments the "
            "realizations: question,value CSV or .rls",
        )
        parser.add_argument("--out", required=True, help="where to write the scores JSON")
        parser.add_argument("--folds", type=int, default=10, help="number of folds (default 10)")
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of the folds and samplers (default 0)"
        )
        parser.add_argument("--plot", help="also draw the calibration plot here (SVG)")
        parser.add_argument(
            "--round", type=int, dest="round_number", help="round to evaluate (default: the last)"
        )
        parser.add_argument(
            "--no-hierarchical",
            action="store_true",
            help="skip the hierarchical model (and its recalibration): faster",
        )
        parser.add_argument(
            "--draws",
            type=int,
            help="posterior draws per chain of the hierarchical model (default 1000)",
        )
        parser.add_argument(
            "--bins", type=int, default=10, help="bins of the calibration curves (default 10)"
        )
        parser.add_argument(
            "--learning-curve",
            action="store_true",
            help="also score every method with each fold's calibration trained on 0, 5, 10, "
            "20 and all of its training questions",
        )
        parser.add_argument(
            "--interval", type=float, default=0.9, help="credible interval mass (default 0.9)"
        )

    def handle(self, *args, **options) -> None:
        from aggregation.management.commands.aggregate import is_numeric

        if is_numeric(options["judgments"]):
            self._check_options(options)
            return self._numeric(options)
        from aggregation.engine.evaluation import (
            LEARNING_CURVE_SIZES,
            EvaluationError,
            cross_validate,
        )
        from aggregation.progress import TerminalProgress

        table, outcomes = self._inputs(options)
        self._check_options(options)
        sampler = {"draws": options["draws"]} if options["draws"] else None
        started = time.monotonic()
        try:
            result = cross_validate(
                table,
                outcomes,
                n_folds=options["folds"],
                seed=options["seed"],
                hierarchical=not options["no_hierarchical"],
                hierarchical_sampler=sampler,
                interval_mass=options["interval"],
                n_bins=options["bins"],
                progress=TerminalProgress(self.stderr._out),
                learning_curve_sizes=LEARNING_CURVE_SIZES if options["learning_curve"] else None,
            )
        except EvaluationError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        result["metadata"] = {
            "judgments": str(options["judgments"]),
            "outcomes": str(options["outcomes"]),
            "round": int(table.rounds[0]),
            "data_hash": table.data_hash(),
            "seconds": round(time.monotonic() - started, 1),
            "scores": {
                "brier": "mean (p - y)^2; lower is better",
                "log_score": "mean natural log of the probability given to what happened "
                "(forecasts clipped to [0.005, 0.995]); <= 0, higher is better",
                "auc": "P(a question that happened was given more than one that did not), "
                "ties 1/2; null unless both outcomes occur",
            },
        }
        self._write(Path(options["out"]), result)
        if options["plot"]:
            self._plot(Path(options["plot"]), result)
        self.stdout.write(self._table(result, options["out"]))

    def _numeric(self, options: dict) -> None:
        """Leave-one-seed-out over the realized questions, every numeric method."""
        from aggregation.engine.numeric import NumericHierarchicalModel, leave_one_seed_out
        from aggregation.management.commands.aggregate import numeric_inputs
        from aggregation.progress import TerminalProgress

        table, realizations = numeric_inputs(options["judgments"], options["outcomes"])
        sampler = {"draws": options["draws"]} if options["draws"] else None
        progress = TerminalProgress(self.stderr._out)
        started = time.monotonic()
        try:
            result = leave_one_seed_out(
                table,
                realizations,
                model=NumericHierarchicalModel(sampler_config=sampler),
                random_seed=options["seed"],
                progress=lambda done, total: progress("folds", done / total),
            )
        except ValueError as exc:
            raise CommandError(f"{options['judgments']}: {exc}", returncode=2) from exc
        result["metadata"] = {
            "judgments": str(options["judgments"]),
            "realizations": str(options["outcomes"]),
            "data_hash": table.data_hash(),
            "seconds": round(time.monotonic() - started, 1),
            "scores": {
                "hit_rate_90": "share of held-out values inside the 5-95 % range",
                "calibration": "Cooke's statistical accuracy (p-value) of the 5/50/95 % bins",
                "information": "Cooke's mean relative information against the uniform "
                "background on each item's intrinsic range; higher is sharper",
                "interval_score": "Gneiting-Raftery interval score of the 90 % range, "
                "alpha 0.1: (u - l) + 20 (l - x)+ + 20 (x - u)+, divided by the item's "
                "spread of answers (largest q95 minus smallest q05, on the log scale for "
                "log items); lower is better",
            },
        }
        self._write(Path(options["out"]), result)
        lines = [
            f"leave-one-seed-out over {result['n_seeds']} realized questions -> {options['out']}",
            f"{'method':<20}{'hit 90%':>9}{'calibr.':>9}{'inform.':>9}{'int. score':>12}{'n':>5}",
        ]
        for name, s in result["methods"].items():
            lines.append(
                f"{name:<20}{_fmt(s['hit_rate_90']):>9}{_fmt(s['calibration']):>9}"
                f"{_fmt(s['information']):>9}{_fmt(s['interval_score']):>12}{s['n']:>5}"
            )
        comparisons = result.get("comparisons")
        if comparisons:
            lines.append(
                f"interval score minus the {comparisons['reference']}'s, item by item "
                "(negative: better; items better / worse):"
            )
            for name, c in comparisons["interval_score"].items():
                lines.append(f"  {name:<20}{_difference(c)}")
        self.stdout.write("\n".join(lines))

    def _inputs(self, options: dict):
        from aggregation.engine.data import JudgmentDataError, JudgmentTable
        from aggregation.engine.scoring import OutcomeDataError, read_outcomes

        try:
            table = JudgmentTable.from_csv(options["judgments"])
            number = options["round_number"]
            table = table.for_round(table.rounds[-1] if number is None else number)
        except JudgmentDataError as exc:
            raise CommandError(f"{options['judgments']}: {exc}", returncode=2) from exc
        try:
            outcomes = read_outcomes(options["outcomes"])
        except OutcomeDataError as exc:
            raise CommandError(f"{options['outcomes']}: {exc}", returncode=2) from exc
        return table, outcomes

    def _check_options(self, options: dict) -> None:
        if options["folds"] < 2:
            raise CommandError(f"--folds must be at least 2, got {options['folds']}", returncode=2)
        if not 0.0 < options["interval"] < 1.0:
            raise CommandError(
                f"--interval must be between 0 and 1, got {options['interval']}", returncode=2
            )
        if options["bins"] < 1:
            raise CommandError(f"--bins must be at least 1, got {options['bins']}", returncode=2)
        if options["draws"] is not None and options["draws"] < 10:
            raise CommandError(f"--draws must be at least 10, got {options['draws']}", returncode=2)

    def _write(self, out: Path, result: dict) -> None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc.strerror}", returncode=2) from exc

    def _plot(self, path: Path, result: dict) -> None:
        from aggregation.engine.evaluation import calibration_figure

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            calibration_figure(result).savefig(path, format="svg")
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}", returncode=2) from exc

    def _table(self, result: dict, out) -> str:
        lines = [
            f"{result['folds']['n_folds']}-fold cross-validation over {result['n_questions']} "
            f"resolved questions ({result['n_judgments']} judgments) -> {out}",
            f"{'method':<28}{'Brier':>8}{'log score':>11}{'AUC':>8}{'n':>6}",
        ]
        for name, scores in result["methods"].items():
            lines.append(
                f"{name:<28}{_fmt(scores['brier']):>8}{_fmt(scores['log_score']):>11}"
                f"{_fmt(scores['auc']):>8}{scores['n']:>6}"
            )
        comparisons = result.get("comparisons")
        if comparisons:
            percent = round(100 * comparisons["mass"])
            lines.append(
                f"Brier minus the {comparisons['reference']}'s, question by question "
                f"(negative: better; {percent} % interval; questions better / worse):"
            )
            for name, c in comparisons["brier"].items():
                lines.append(f"  {name:<26}{_difference(c)}")
        block = result.get("surprisingly_popular")
        if block and "surprisingly_popular" not in result["methods"]:
            lines.append(
                f"on the {block['n_questions']} questions with meta-predictions: "
                + ", ".join(
                    f"{name} {_fmt(scores['brier'])}"
                    for name, scores in block["methods"].items()
                    if name in ("logodds_mean", "linear_pool", "surprisingly_popular")
                )
                + " (Brier)"
            )
        if block:
            hits = block["hit_rate"]
            lines.append(
                f"answer right: surprisingly popular {hits['surprisingly_popular_answer']:.2f}, "
                f"majority {hits['majority_answer']:.2f}"
            )
        curve = result.get("learning_curve")
        if curve:
            lines.append("learning curve (Brier; k training questions per fold):")
            lines.append(f"{'method':<28}" + "".join(f"{'k=' + str(k):>9}" for k in curve["k"]))
            for name, line in curve["methods"].items():
                lines.append(f"{name:<28}" + "".join(f"{_fmt(b):>9}" for b in line["brier"]))
        hierarchical = result.get("hierarchical")
        if hierarchical:
            for warning in hierarchical["diagnostics"]["warnings"]:
                lines.append(f"WARNING (hierarchical): {warning}")
        return "\n".join(lines)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _difference(c: dict) -> str:
    """'+0.0133 (+0.0070 to +0.0197)  33 / 70' for a ``paired_difference``."""
    if c["difference"] is None:
        return "-"
    text = f"{c['difference']:+.4f}"
    if c["interval"]:
        text += f" ({c['interval'][0]:+.4f} to {c['interval'][1]:+.4f})"
    return f"{text}  {c['lower']} / {c['higher']}"
