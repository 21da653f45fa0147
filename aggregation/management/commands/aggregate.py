"""manage.py aggregate: judgments from a CSV (or an EXCALIBUR study) to a result JSON.

Touches no database: it reads a file, runs the engine and writes the DESIGN.md contract.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

POOL_METHODS = ("linear_pool", "median", "logodds_mean", "extremized_logodds")
METHODS = ("hierarchical", "linked_rounds", *POOL_METHODS, "cooke", "equal_weight")


class Command(BaseCommand):
    help = (
        "Aggregate judgments from a CSV (expert,cohort,question,probability[,round] and "
        "optionally meta_<cohort> columns of meta-predictions) or, with "
        "--method cooke, an EXCALIBUR .dtt study with its --realizations .rls file. "
        "--method linked_rounds fits all rounds of the CSV together (Delphi rounds)."
    )
    requires_system_checks: list = []  # no database, no app checks: this is a file tool

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="judgments CSV, or the .dtt file for --method cooke")
        parser.add_argument("--out", required=True, help="where to write the result JSON")
        parser.add_argument("--method", choices=METHODS, default="hierarchical")
        parser.add_argument(
            "--interval", type=float, default=0.9, help="credible interval mass (default 0.9)"
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="random seed of the sampler (default 0)"
        )
        parser.add_argument(
            "--round", type=int, dest="round_number", help="round to aggregate (default: the last)"
        )
        parser.add_argument(
            "--extremize-factor",
            type=float,
            default=None,
            help="for extremized_logodds (default 2.5)",
        )
        parser.add_argument(
            "--draws",
            type=int,
            help="posterior draws per chain (default 1500; 2000 for panels reporting more "
            "than 2000 quantities)",
        )
        parser.add_argument("--tune", type=int, help="tuning draws per chain (default 500)")
        parser.add_argument("--chains", type=int, help="number of chains (default 4)")
        parser.add_argument("--posterior", help="also save the posterior as NetCDF here")
        parser.add_argument(
            "--outcomes",
            help="resolved binary questions (question,outcome[,group] CSV): the panel "
            "forecast's calibration learns from them (without, the published prior alone)",
        )
        parser.add_argument(
            "--realizations",
            help="known values of seed questions: a question,value CSV or an EXCALIBUR .rls",
        )

    def handle(self, *args, **options) -> None:
        out = Path(options["out"])
        dtt_for_cooke = options["method"] == "cooke" and options["source"].lower().endswith(".dtt")
        if is_numeric(options["source"]) and not dtt_for_cooke:
            result = self._numeric(options)
        elif options["method"] == "cooke":
            result = self._cooke(options)
        elif options["method"] == "linked_rounds":
            result = self._linked(options)
        else:
            result = self._binary(options)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise CommandError(f"cannot write {out}: {exc.strerror}", returncode=2) from exc
        self.stdout.write(self._summary_line(result, out))

    def _binary(self, options: dict) -> dict:
        from aggregation.engine.data import JudgmentDataError, JudgmentTable
        from aggregation.engine.pooling import DEFAULT_EXTREMIZE_FACTOR

        _check_interval(options)
        try:
            table = JudgmentTable.from_csv(options["source"])
            round_number = options["round_number"]
            table = table.for_round(table.rounds[-1] if round_number is None else round_number)
        except JudgmentDataError as exc:
            raise CommandError(f"{options['source']}: {exc}", returncode=2) from exc
        factor = options["extremize_factor"]
        if factor is None:
            factor = DEFAULT_EXTREMIZE_FACTOR
        elif factor <= 0:
            raise CommandError(f"--extremize-factor must be positive, got {factor}", returncode=2)
        if options["outcomes"] and options["method"] != "hierarchical":
            raise CommandError(
                "--outcomes trains the panel forecast of the hierarchical method; leave it "
                f"out with --method {options['method']}",
                returncode=2,
            )
        options["outcome_frame"] = None
        if options["outcomes"]:  # read before sampling: a bad file fails at once
            from aggregation.engine.scoring import OutcomeDataError, read_outcomes

            try:
                options["outcome_frame"] = read_outcomes(options["outcomes"])
            except OutcomeDataError as exc:
                raise CommandError(f"{options['outcomes']}: {exc}", returncode=2) from exc
        if options["method"] != "hierarchical":
            from aggregation.engine.perception import add_perception
            from aggregation.engine.summary import summarize_pool

            result = summarize_pool(
                table, options["method"], extremize_factor=factor, interval_mass=options["interval"]
            )
            # closed-form only: the perception model is sampled with the hierarchical method
            return add_perception(result, table, fit=None, interval_mass=options["interval"])
        return self._hierarchical(table, options, factor)

    def _hierarchical(self, table, options: dict, factor: float) -> dict:
        from aggregation.engine.hierarchical import BinaryHierarchicalModel
        from aggregation.engine.perception import PerceptionModel, add_perception
        from aggregation.engine.summary import summarize_hierarchical

        fit = self._fit(BinaryHierarchicalModel, table, options)
        result = summarize_hierarchical(
            fit, table, interval_mass=options["interval"], extremize_factor=factor
        )
        self._forecast(result, fit, options)
        if table.meta_cohorts and not table.meta_predictions().empty:
            # meta-predictions: how each cohort sees the others (engine/perception.py)
            perception = self._fit(
                PerceptionModel, table, {**options, "posterior": None}, belief=fit
            )
            add_perception(result, table, fit=perception, interval_mass=options["interval"])
        return result

    def _forecast(self, result: dict, fit, options: dict) -> None:
        """The panel forecast of every question (engine/recalibration.py), in place."""
        from aggregation.engine.recalibration import panel_forecasts
        from aggregation.engine.summary import consensus_logodds_draws

        forecast = panel_forecasts(
            consensus_logodds_draws(fit),
            options["outcome_frame"],
            random_seed=options["seed"],
            interval_mass=options["interval"],
        )
        for question, value in forecast.pop("questions").items():
            result["questions"][question]["forecast"] = value
        result["forecast"] = forecast

    def _fit(self, model_class, table, options: dict, **fit_options):
        """Fit a sampled model with the command's sampler options and progress on stderr;
        a bad setting or panel is one line and exit status 2. Saves the posterior if asked."""
        from aggregation.engine.spec import ModelConfigError
        from aggregation.progress import TerminalProgress

        sampler = {k: options[k] for k in ("draws", "tune", "chains") if options[k] is not None}
        try:
            fit = model_class(sampler_config=sampler).fit(
                table,
                random_seed=options["seed"],
                progress=TerminalProgress(self.stderr._out),
                **fit_options,
            )
        except (ModelConfigError, ValueError) as exc:
            raise CommandError(str(exc), returncode=2) from exc
        if options["posterior"]:
            fit.save(options["posterior"])
        return fit

    def _linked(self, options: dict) -> dict:
        """Every round of the CSV fitted together (engine/rounds.py): per-round consensus,
        the paired change, and the persistence."""
        from aggregation.engine.data import JudgmentDataError, JudgmentTable
        from aggregation.engine.rounds import LinkedRoundsModel, summarize_linked

        _check_interval(options)
        if options["round_number"] is not None:
            raise CommandError(
                "--round picks one round; --method linked_rounds fits every round of the CSV "
                "(leave out the rows of rounds you do not want)",
                returncode=2,
            )
        try:
            table = JudgmentTable.from_csv(options["source"])
        except JudgmentDataError as exc:
            raise CommandError(f"{options['source']}: {exc}", returncode=2) from exc
        fit = self._fit(LinkedRoundsModel, table, options)
        return summarize_linked(fit, table, interval_mass=options["interval"])

    def _numeric(self, options: dict) -> dict:
        """Quantile judgments: the hierarchical model (default), Cooke, or equal weights."""
        from aggregation.engine import numeric
        from aggregation.engine.cooke import CookeInputError, cooke_result

        table, realizations = numeric_inputs(options["source"], options["realizations"])
        method = options["method"]
        try:
            if method == "cooke":
                return cooke_result(numeric.cooke_study(table, realizations))
            if method == "equal_weight":
                return numeric.summarize_equal_weight(table, realizations)
        except CookeInputError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        if method != "hierarchical":
            raise CommandError(
                f"--method {method} is for probability judgments; numeric judgments take "
                "hierarchical, equal_weight or cooke",
                returncode=2,
            )
        sampler = {k: options[k] for k in ("draws", "tune", "chains") if options[k] is not None}
        data = numeric.NumericPanelData.from_table(table, realizations)
        tree = numeric.NumericHierarchicalModel(sampler_config=sampler).fit(
            data, random_seed=options["seed"]
        )
        if options["posterior"]:
            from aggregation.engine.posterior import tree_save

            tree_save(tree, options["posterior"])
        return numeric.summarize_numeric(
            tree, data, table, realizations, interval_mass=options["interval"]
        )

    def _cooke(self, options: dict) -> dict:
        from aggregation.engine.cooke import CookeInputError, cooke_result
        from aggregation.engine.excalibur import read_excalibur

        if not options["realizations"]:
            raise CommandError("--method cooke needs --realizations study.rls", returncode=2)
        try:
            return cooke_result(read_excalibur(options["source"], options["realizations"]))
        except CookeInputError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except FileNotFoundError as exc:
            raise CommandError(f"no such file: {exc.filename}", returncode=2) from exc

    def _summary_line(self, result: dict, out: Path) -> str:
        if result["method"] == "cooke" or "n_judgments" not in result:
            return f"Cooke's classical model: {len(result['experts'])} experts -> {out}"
        line = f"{result['method']}: {len(result['questions'])} questions, {result['n_judgments']} judgments -> {out}"
        diagnostics = result.get("diagnostics")
        if diagnostics:
            line += (
                f"\nmax R-hat {diagnostics['max_rhat']:.3f}, min bulk ESS {diagnostics['min_ess_bulk']}, "
                f"divergences {diagnostics['divergences']}"
            )
            for warning in diagnostics["warnings"]:
                line += f"\nWARNING: {warning}"
        if result.get("cohorts_pooled"):
            pooled = result["cohorts_pooled"]
            names = ", ".join(c for group in pooled["groups"] for c in group)
            line += f"\nNOTE: cohorts pooled ({names}): {pooled['why']}"
        perception = result.get("perception", {}).get("diagnostics")
        if perception:
            line += (
                f"\nperception model: max R-hat {perception['max_rhat']:.3f}, "
                f"min bulk ESS {perception['min_ess_bulk']}, divergences {perception['divergences']}"
            )
            for warning in perception["warnings"]:
                line += f"\nWARNING (perception): {warning}"
        return line


def is_numeric(source: str) -> bool:
    """A .dtt study, or a CSV whose header names q05, q50 and q95."""
    from aggregation.engine.quantiles import looks_numeric

    path = Path(source)
    if path.suffix.lower() == ".dtt":
        return True
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            header = handle.readline()
    except OSError:
        return False  # the reader of the binary path reports a missing file
    return looks_numeric(header.strip().split(","))


def numeric_inputs(source: str, rls: str | None):
    """The QuantileTable and realizations named by the command line (a CSV with an optional
    realizations CSV or .rls, or a .dtt study with its .rls)."""
    from aggregation.engine.cooke import CookeInputError
    from aggregation.engine.data import JudgmentDataError
    from aggregation.engine.excalibur import read_excalibur
    from aggregation.engine.numeric import table_from_study
    from aggregation.engine.quantiles import (
        QuantileTable,
        realization_problems,
        realizations_from_csv,
        realizations_from_rls,
    )

    try:
        if Path(source).suffix.lower() == ".dtt":
            if not rls:
                raise CommandError("a .dtt study needs --realizations study.rls", returncode=2)
            table, realizations = table_from_study(read_excalibur(source, rls))
        else:
            table = QuantileTable.from_csv(source)
            realizations = {}
            if rls:
                reader = (
                    realizations_from_rls if rls.lower().endswith(".rls") else realizations_from_csv
                )
                realizations = reader(rls)
        problems = realization_problems(table, realizations)
        if problems:
            raise JudgmentDataError(problems)
    except JudgmentDataError as exc:
        raise CommandError(f"{source}: {exc}", returncode=2) from exc
    except (CookeInputError, ValueError) as exc:  # e.g. a study of other quantiles than 5/50/95
        raise CommandError(f"{source}: {exc}", returncode=2) from exc
    return table, realizations


def _check_interval(options: dict) -> None:
    if not 0.0 < options["interval"] < 1.0:
        raise CommandError(
            f"--interval must be between 0 and 1, got {options['interval']}", returncode=2
        )
