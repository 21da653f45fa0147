"""Writes of the aggregation domain: requesting runs, executing them on a worker, recovery.

The life of a run:

1. ``aggregation_run_request`` hashes the round's judgments and the method's options and
   returns the run with that (round, method, options, data) or creates it, queued; the
   task is enqueued only after the row commits. Asking twice never makes two runs.
2. A worker's task calls ``aggregation_run_execute``, which claims the run with one
   conditional UPDATE (queued, or running with a stale heartbeat) that also increments
   ``attempts``. The attempt number is a fencing token: heartbeats and results are written
   only while the row still carries it, so a worker that lost its claim writes nothing.
3. While the model samples, a heartbeat thread writes the progress every few seconds.
4. ``aggregation_runs_recover`` (celery beat, and whenever a worker starts) re-enqueues
   queued runs whose message may have been lost (broker down at request time) and running
   runs whose worker stopped beating (killed mid-fit); the fresh claim takes them over.
"""

import hashlib
import json
import logging
import socket
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from aggregation import selectors
from aggregation.claims import (
    RunLost,
    run_claim,
    run_enqueue,
    run_retry,
    runs_orphaned,
    runs_stale_in,
)
from aggregation.engine.data import JudgmentTable
from aggregation.engine.hierarchical import MODEL_VERSION as HIERARCHICAL_MODEL_VERSION
from aggregation.engine.numeric import MODEL_VERSION as NUMERIC_MODEL_VERSION
from aggregation.engine.perception import MODEL_VERSION as PERCEPTION_MODEL_VERSION
from aggregation.engine.pooling import DEFAULT_EXTREMIZE_FACTOR
from aggregation.engine.rounds import MODEL_VERSION as LINKED_MODEL_VERSION
from aggregation.models import AggregationRun, QuestionResult
from elicitation.feedback import feedback_warm_soon
from elicitation.models import Question, Round

log = logging.getLogger(__name__)

Status = AggregationRun.Status
Method = AggregationRun.Method


# --- Requesting --------------------------------------------------------------------------


def aggregation_options_default(*, survey_round: Round, method: str) -> dict:
    base = {
        "interval_mass": 0.9,
        "cohort_attribute": survey_round.survey.cohort_attribute,
    }
    if method != Method.NUMERIC_HIERARCHICAL:  # the probability pools' extremizing
        base["extremize_factor"] = DEFAULT_EXTREMIZE_FACTOR
    else:  # a new version of the model is a new run, not the old result again
        base["model_version"] = NUMERIC_MODEL_VERSION
    if method in (Method.HIERARCHICAL, Method.LINKED_ROUNDS, Method.NUMERIC_HIERARCHICAL):
        base["random_seed"] = 0
    if method == Method.HIERARCHICAL:
        base["model_version"] = HIERARCHICAL_MODEL_VERSION
    if method == Method.HIERARCHICAL and selectors.round_has_meta_predictions(
        survey_round=survey_round
    ):  # the run fits the perception model too: a new version of it is a new run
        base["perception_model_version"] = PERCEPTION_MODEL_VERSION
    if method == Method.LINKED_ROUNDS:
        base["model_version"] = LINKED_MODEL_VERSION
        previous = selectors.round_linkable_previous(survey_round=survey_round)
        if previous is None:
            raise ValueError(
                f"round {survey_round.number} has no closed round before it to link with "
                "(one whose experts gave probability answers to this round's questions)"
            )
        base["rounds"] = [previous.number, survey_round.number]
    return base


def aggregation_run_request(
    *,
    survey_round: Round,
    method: str = Method.HIERARCHICAL,
    options: dict | None = None,
    requested_by=None,
) -> tuple[AggregationRun, bool]:
    """The run of this round, method, options and data: existing, or created and queued.

    Returns (run, created). A failed run asked for again is queued again (a retry).
    """
    if method not in Method.values:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(Method.values)}")
    run_options = {**aggregation_options_default(survey_round=survey_round, method=method)}
    run_options.update(options or {})
    table = _table_for(survey_round=survey_round, method=method, options=run_options)
    key = {
        "survey_round": survey_round,
        "method": method,
        "options_hash": _options_hash(run_options),
        "data_hash": table.data_hash(),
    }
    try:
        with transaction.atomic():
            run, created = AggregationRun.objects.get_or_create(
                **key,
                defaults={
                    "options": run_options,
                    "n_judgments": len(table),
                    "requested_by": requested_by,
                },
            )
    except IntegrityError:  # a concurrent request created it between our read and write
        run, created = AggregationRun.objects.get(**key), False
    if not created and run.status == Status.FAILED:
        run_retry(run)
    elif not created:
        return run, False
    transaction.on_commit(lambda: aggregation_run_enqueue(run_id=run.id))
    return run, created


def _table_for(
    *, survey_round: Round, method: str, options: dict
) -> JudgmentTable | selectors.NumericRoundData:
    """The judgments a run of this method reads: its round's, or several rounds' if linked;
    a numeric run's quantiles with the realized values that train it."""
    if method == Method.NUMERIC_HIERARCHICAL:
        return selectors.numeric_data_for_round(
            survey_round=survey_round, cohort_attribute=options["cohort_attribute"]
        )
    if method == Method.LINKED_ROUNDS:
        return selectors.judgment_table_for_rounds(
            survey_round=survey_round,
            round_numbers=options["rounds"],
            cohort_attribute=options["cohort_attribute"],
        )
    return selectors.judgment_table_for_round(
        survey_round=survey_round,
        cohort_attribute=options["cohort_attribute"],
        # meta-predictions are data of the hierarchical run only (its perception model)
        with_meta=method == Method.HIERARCHICAL,
    )


def aggregation_runs_request_for_closed_round(
    *, survey_round: Round, requested_by=None
) -> list[AggregationRun]:
    """What closing a round asks for: its hierarchical run and, after an earlier closed
    round, the run that links the two (Delphi change between rounds); the numeric run when
    the round has numeric answers."""
    runs = []
    if selectors.round_binary_judgments(survey_round=survey_round).exists():
        runs.append(
            aggregation_run_request(survey_round=survey_round, requested_by=requested_by)[0]
        )
        if selectors.round_linkable_previous(survey_round=survey_round) is not None:
            linked, _ = aggregation_run_request(
                survey_round=survey_round, method=Method.LINKED_ROUNDS, requested_by=requested_by
            )
            runs.append(linked)
    if selectors.round_numeric_judgments(survey_round=survey_round).exists():
        try:
            numeric, _ = aggregation_run_request(
                survey_round=survey_round,
                method=Method.NUMERIC_HIERARCHICAL,
                requested_by=requested_by,
            )
        except ValueError:
            # Closing must not fail for the aggregation's sake (every answer the engine
            # cannot read is left out before it sees them, so this is a bug): the
            # organizer can request the run from the report, which shows the error.
            log.exception("no numeric run for round %s", survey_round.id)
        else:
            runs.append(numeric)
    return runs


def _options_hash(run_options: dict) -> str:
    return hashlib.sha256(json.dumps(run_options, sort_keys=True).encode()).hexdigest()


def aggregation_run_enqueue(*, run_id: int) -> bool:
    """Send the run's task; a broker that is down leaves it queued for the recovery sweep."""
    from aggregation.tasks import aggregation_run_execute_task

    return run_enqueue(
        AggregationRun, run_id=run_id, task=aggregation_run_execute_task, what="aggregation run"
    )


# --- Executing ---------------------------------------------------------------------------


def aggregation_run_execute(*, run_id: int, worker: str | None = None) -> AggregationRun | None:
    """Claim the run and compute it; None when it is not ours to run (done, or held)."""
    attempt = _run_claim(run_id=run_id, worker=worker or socket.gethostname())
    if attempt is None:
        return None
    run = AggregationRun.objects.select_related("survey_round__survey").get(id=run_id)
    heartbeat = Heartbeat(run_id=run_id, attempt=attempt)
    try:
        with heartbeat:
            outcome = _compute(run=run, attempt=attempt, progress=heartbeat.report)
        _run_store(run=run, attempt=attempt, outcome=outcome)
    except RunLost:
        log.warning("aggregation run %s was taken over by another worker", run_id)
        return None
    except Exception as exc:  # the fit's own failure: recorded and shown, never swallowed
        _run_fail(run_id=run_id, attempt=attempt, exc=exc)
    run.refresh_from_db()
    return run


def _run_claim(*, run_id: int, worker: str) -> int | None:
    limit = settings.AGGREGATION_MAX_ATTEMPTS
    return run_claim(
        AggregationRun,
        run_id=run_id,
        worker=worker,
        stale_after=_stale_after(),
        max_attempts=limit,
        exhausted_error=(
            f"Its worker stopped {limit} times in the middle of the fit (killed, or out of "
            "memory?). Check the workers' logs and memory, then request the run again."
        ),
    )


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.AGGREGATION_STALE_SECONDS)


class Heartbeat:
    """Writes progress and a heartbeat every few seconds while the fit runs.

    A thread of its own, because the sampler holds the task's thread for minutes. Its
    writes are fenced by the attempt: if the row has moved on, ``lost`` is set and the
    results will not be stored.
    """

    def __init__(self, *, run_id: int, attempt: int) -> None:
        self.run_id, self.attempt = run_id, attempt
        self.phase, self.fraction = "starting", 0.0
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-run-{run_id}", daemon=True
        )

    def report(self, phase: str, fraction: float) -> None:
        self.phase, self.fraction = phase, fraction

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self.lost:
            raise RunLost

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.AGGREGATION_HEARTBEAT_SECONDS):
                try:
                    written = self._write()
                except DatabaseError as exc:
                    # A dropped connection (database restart, network blip) must not end
                    # the beats for good, or a healthy fit looks dead and is taken over.
                    log.warning("heartbeat of aggregation run %s failed (%s)", self.run_id, exc)
                    connection.close()  # the next beat reconnects
                    continue
                if not written:
                    self.lost = True
                    return
        finally:
            connection.close()  # this thread's own database connection

    def _write(self) -> bool:
        return bool(
            AggregationRun.objects.filter(
                id=self.run_id, attempts=self.attempt, status=Status.RUNNING
            ).update(heartbeat_at=timezone.now(), progress_phase=self.phase, progress=self.fraction)
        )


def _compute(*, run: AggregationRun, attempt: int, progress) -> dict:
    """Run the engine on the round's judgments: the result contract, posterior, figures."""
    from aggregation import reports

    table = _table_for(survey_round=run.survey_round, method=run.method, options=run.options)
    if table.data_hash() != run.data_hash:
        raise ValueError(
            "the round's judgments changed since this run was requested; request a new run"
        )
    folder = Path("runs") / str(run.id) / f"attempt-{attempt}"
    started = time.perf_counter()
    if run.method == Method.NUMERIC_HIERARCHICAL:
        return _compute_numeric(run=run, data=table, folder=folder, progress=progress)
    if run.method in (Method.HIERARCHICAL, Method.LINKED_ROUNDS):
        fit_method = _hierarchical if run.method == Method.HIERARCHICAL else _linked
        result, fit = fit_method(run=run, table=table, progress=progress)
        posterior = folder / "posterior.nc"
        fit.save(Path(settings.MEDIA_ROOT) / posterior)
        if run.method == Method.HIERARCHICAL and table.meta_cohorts:
            _perception(
                run=run, table=table, result=result, folder=folder, progress=progress, belief=fit
            )
    else:
        result, fit, posterior = _pool(run=run, table=table), None, None
    progress("figures", 0.0)
    questions = Question.objects.filter(survey=run.survey_round.survey_id)
    figures = reports.figures_render(
        result=result, fit=fit, table=table, folder=folder, questions=list(questions)
    )
    result["timings"] = {
        **result.get("timings", {}),
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    return {"result": result, "posterior": str(posterior or ""), "figures": figures}


def _hierarchical(*, run: AggregationRun, table: JudgmentTable, progress):
    from aggregation.engine.hierarchical import BinaryHierarchicalModel
    from aggregation.engine.summary import summarize_hierarchical

    sampler = _sampler_options(run)
    model = BinaryHierarchicalModel(sampler_config=sampler)
    fit = model.fit(table, random_seed=run.options["random_seed"], progress=progress)
    progress("summarizing", 0.0)
    result = summarize_hierarchical(
        fit,
        table,
        interval_mass=run.options["interval_mass"],
        extremize_factor=run.options["extremize_factor"],
    )
    return result, fit


def _sampler_options(run: AggregationRun) -> dict:
    """The sampler settings a run's options override (draws, tune, chains), if any."""
    return {k: run.options[k] for k in ("draws", "tune", "chains") if k in run.options}


def _perception(
    *, run: AggregationRun, table: JudgmentTable, result: dict, folder: Path, progress, belief
) -> None:
    """How the cohorts see each other (engine/perception.py), after the binary model, whose
    cohort beliefs (``belief``, the run's fit) are what each cohort actually believes: its
    parts go into ``result``; its posterior is a second artifact, named in the result."""
    from aggregation.engine.perception import PerceptionDataError, PerceptionModel, add_perception

    sampler = _sampler_options(run)
    try:
        fit = PerceptionModel(sampler_config=sampler).fit(
            table,
            random_seed=run.options["random_seed"],
            belief=belief,
            progress=_perception_progress(progress),
        )
    except PerceptionDataError as exc:
        # e.g. one cohort only: the closed-form parts still go in, and the report says why
        add_perception(result, table, fit=None, interval_mass=run.options["interval_mass"])
        if "perception" in result:
            result["perception"]["not_fitted"] = str(exc)
        return
    progress("summarizing", 0.0)
    add_perception(result, table, fit=fit, interval_mass=run.options["interval_mass"])
    posterior = folder / "perception.nc"
    fit.save(Path(settings.MEDIA_ROOT) / posterior)
    result["perception"]["posterior"] = str(posterior)


def _perception_progress(progress):
    """The perception fit's own phases as one phase of the run, "perception", 0 to 1."""
    spans = {"compiling": (0.0, 0.3), "tuning": (0.3, 0.6), "sampling": (0.6, 1.0)}

    def report(phase: str, fraction: float) -> None:
        start, end = spans.get(phase, (0.0, 0.0))
        progress("perception", start + (end - start) * fraction)

    return report


def _linked(*, run: AggregationRun, table: JudgmentTable, progress):
    from aggregation.engine.rounds import LinkedRoundsModel, summarize_linked

    sampler = _sampler_options(run)
    fit = LinkedRoundsModel(sampler_config=sampler).fit(
        table, random_seed=run.options["random_seed"], progress=progress
    )
    progress("summarizing", 0.0)
    return summarize_linked(fit, table, interval_mass=run.options["interval_mass"]), fit


def _compute_numeric(
    *, run: AggregationRun, data: selectors.NumericRoundData, folder: Path, progress
) -> dict:
    """The numeric model on the round's quantiles: its contract, posterior and figures."""
    from aggregation import numeric_reports
    from aggregation.engine.numeric import NumericHierarchicalModel, fit_numeric

    started = time.perf_counter()
    sampler = _sampler_options(run)
    tree, result = fit_numeric(
        data.table,
        data.realizations,
        random_seed=run.options["random_seed"],
        interval_mass=run.options["interval_mass"],
        sampler_config=sampler,
        progress=progress,
    )
    posterior = folder / "posterior.nc"
    NumericHierarchicalModel.save(tree, Path(settings.MEDIA_ROOT) / posterior)
    # Beside the engine's contract: what the report says of the data (known values drawn
    # on the charts, answers the model could not read).
    result["realizations"], result["left_out"] = data.realizations, data.left_out
    progress("figures", 0.0)
    units = dict(
        Question.objects.filter(survey=run.survey_round.survey_id).values_list("code", "unit")
    )
    figures = numeric_reports.figures_render(
        result=result, table=data.table, folder=folder, units=units
    )
    result["timings"] = {
        **result.get("timings", {}),
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    return {"result": result, "posterior": str(posterior), "figures": figures}


def _pool(*, run: AggregationRun, table: JudgmentTable) -> dict:
    from aggregation.engine.summary import summarize_pool

    return summarize_pool(
        table,
        run.method,
        extremize_factor=run.options["extremize_factor"],
        interval_mass=run.options["interval_mass"],
    )


def _run_store(*, run: AggregationRun, attempt: int, outcome: dict) -> None:
    """Write the results in one transaction, if the run is still this attempt's."""
    result = outcome["result"]
    with transaction.atomic():
        locked = AggregationRun.objects.select_for_update().get(id=run.id)
        if locked.attempts != attempt or locked.status != Status.RUNNING:
            raise RunLost
        questions = {q.code: q for q in Question.objects.filter(survey=run.survey_round.survey_id)}
        QuestionResult.objects.filter(run=locked).delete()
        if result.get("kind") != "numeric":  # numeric entries stay in ``result`` (models.py)
            QuestionResult.objects.bulk_create(
                [
                    _question_result(locked, questions[code], entry)
                    for code, entry in result["questions"].items()
                ]
            )
        locked.status, locked.finished_at = Status.SUCCEEDED, timezone.now()
        locked.progress_phase, locked.progress = "done", 1.0
        locked.result = result
        locked.diagnostics = result.get("diagnostics", {})
        locked.timings = result.get("timings", {})
        locked.posterior, locked.figures = outcome["posterior"], outcome["figures"]
        locked.save(
            update_fields=[
                "status",
                "finished_at",
                "progress_phase",
                "progress",
                "result",
                "diagnostics",
                "timings",
                "posterior",
                "figures",
            ]
        )
        if locked.method == Method.HIERARCHICAL:
            _forecast_request(run=locked)
        # the next round's feedback shows this result: rendered before the experts ask
        feedback_warm_soon(feedback_round_id=locked.survey_round_id)


def _forecast_request(*, run: AggregationRun) -> None:
    """Ask for the run's panel forecast (the recalibration of its consensus) in the same
    transaction as its results, so a worker stopping in between cannot leave a report
    without one; a failure to ask is logged and never fails the run."""
    from resolution.recalibration import forecast_request  # resolution builds on us

    try:
        with transaction.atomic():  # a savepoint: a database error leaves the results
            forecast_request(source_run=run)
    except Exception:
        log.exception("the panel forecast of aggregation run %s was not requested", run.id)


def _question_result(run: AggregationRun, question: Question, entry: dict) -> QuestionResult:
    if "rounds" in entry:  # a linked run: the row holds the last round's numbers
        entry = entry["rounds"][max(entry["rounds"], key=int)]
    consensus = entry["consensus"]
    disagreement = entry.get("disagreement") or {}
    consensus_interval = consensus.get("interval") or (None, None)
    disagreement_interval = disagreement.get("interval") or (None, None)
    return QuestionResult(
        run=run,
        question=question,
        n_judgments=entry["n_judgments"],
        consensus=consensus["mean"],
        consensus_lower=consensus_interval[0],
        consensus_upper=consensus_interval[1],
        disagreement=disagreement.get("mean"),
        disagreement_lower=disagreement_interval[0],
        disagreement_upper=disagreement_interval[1],
        cohorts=entry.get("cohorts", {}),
        cohort_gaps=entry.get("cohort_gaps", []),
        baselines=entry.get("baselines", {}),
    )


def _run_fail(*, run_id: int, attempt: int, exc: Exception) -> None:
    message = f"{type(exc).__name__}: {exc}"
    details = "".join(traceback.format_exception(exc))
    log.error("aggregation run %s failed: %s", run_id, message)
    AggregationRun.objects.filter(id=run_id, attempts=attempt, status=Status.RUNNING).update(
        status=Status.FAILED,
        finished_at=timezone.now(),
        error=f"{message}\n\n{details}",
        progress_phase="failed",
    )


# --- Recovery ----------------------------------------------------------------------------


def aggregation_runs_recover() -> int:
    """Re-enqueue runs whose task may be gone (``claims.runs_orphaned``); returns how many
    were sent again."""
    orphaned = runs_orphaned(
        AggregationRun,
        stale_after=_stale_after(),
        resend_after=timedelta(seconds=settings.AGGREGATION_RESEND_AFTER_SECONDS),
    )
    return sum(aggregation_run_enqueue(run_id=run_id) for run_id in orphaned)


def aggregation_runs_stale_in() -> float | None:
    """Seconds until the runs running now would all be stale if their workers were dead
    (``claims.runs_stale_in``): when a worker that just started should sweep again."""
    return runs_stale_in(AggregationRun, stale_after=_stale_after())
