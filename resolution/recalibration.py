"""Recalibration runs: the LLO recalibration of a round's aggregate, learned from its
resolved questions, requested here and fitted by a worker.

They mirror ``aggregation.services`` in small: idempotent on (round, options, data), where
the data are the aggregate and the outcomes; claimed by one conditional UPDATE that
increments ``attempts`` (a fencing token for progress and results); swept by
``recalibration_runs_recover`` when a message or a worker was lost. A fit takes seconds
(a 2- to 12-parameter model), so progress is written between its steps rather than by a
heartbeat thread, and a run is taken over only after ``RECALIBRATION_STALE_SECONDS``.
"""

import hashlib
import json
import logging
import socket
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aggregation import selectors as aggregation_selectors
from aggregation.claims import RunLost, run_claim, run_enqueue, run_retry, runs_orphaned
from aggregation.engine.data import JudgmentDataError, JudgmentTable, clip_probabilities, logit
from aggregation.models import AggregationRun
from elicitation.feedback import feedback_warm_soon
from elicitation.models import Question, Round
from resolution import selectors
from resolution.models import RecalibrationRun

log = logging.getLogger(__name__)

Status = RecalibrationRun.Status
Input = RecalibrationRun.Input


def _setting(name: str, default):
    # A default until config/settings.py names it (the README lists it with the others).
    return getattr(settings, name, default)


def recalibrations_refresh(*, question: Question, requested_by=None) -> list[RecalibrationRun]:
    """Ask again for the recalibrations that the question's outcome feeds: of each closed
    round that answered it, for every aggregate input asked for before (and the log-odds
    mean always). Idempotent: an unchanged round gets its existing run back."""
    if not question.is_binary:
        return []  # the LLO recalibration learns from binary outcomes only
    round_ids = set(
        Round.objects.filter(
            status=Round.Status.CLOSED, is_pilot=False, judgments__question=question
        )
        .values_list("id", flat=True)
        .distinct()
    )
    # Lock the rounds (in id order, so two resolutions cannot deadlock) before reading
    # their outcomes: a resolution of another question of the same round, in a transaction
    # of its own, then waits for this one to commit and reads both outcomes, instead of
    # each asking for a recalibration that knows only its own.
    rounds = Round.objects.select_for_update(of=("self",)).filter(id__in=round_ids).order_by("id")
    runs = []
    for survey_round in rounds.select_related("survey"):
        used = selectors.round_recalibration_inputs_used(survey_round=survey_round)
        for source in sorted({Input.LOGODDS_MEAN, *used}):
            try:
                run, _created = recalibration_request(
                    survey_round=survey_round, options={"input": source}, requested_by=requested_by
                )
            except RecalibrationUnavailable:
                continue  # e.g. the hierarchical run it used is gone
            runs.append(run)
    return runs


# --- Recalibration: requesting --------------------------------------------------------------


class RecalibrationUnavailable(ValueError):
    """The round has nothing to recalibrate with these options (the message says why)."""


DEFAULT_OPTIONS = {
    "input": Input.LOGODDS_MEAN.value,
    "random_seed": 0,
    "interval_mass": 0.9,
    # Cross-validated forecasts of the resolved questions (for an honest score of the
    # recalibrated aggregate): K = min(max_folds, n) folds, once n >= min_resolved_for_cv.
    "max_folds": 10,
    "min_resolved_for_cv": 10,
    "sampler": {},  # LLORecalibration sampler_config overrides (tests use small ones)
}


def recalibration_options(*, survey_round: Round, options: dict | None = None) -> dict:
    """Default options merged with ``options``; the hierarchical input names its run."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS) - {"source_run"})
    if unknown:
        raise RecalibrationUnavailable(f"unknown recalibration option(s): {', '.join(unknown)}")
    merged = {**DEFAULT_OPTIONS, **options}
    if merged["input"] not in Input.values:
        raise RecalibrationUnavailable(
            f"unknown input {merged['input']!r}; choose one of {', '.join(Input.values)}"
        )
    if merged["input"] == Input.HIERARCHICAL and merged.get("source_run") is None:
        run = selectors.round_latest_hierarchical_run(survey_round=survey_round)
        if run is None:
            raise RecalibrationUnavailable(
                _(
                    "Round %(number)s has no finished hierarchical run whose consensus could "
                    "be recalibrated."
                )
                % {"number": survey_round.number}
            )
        merged["source_run"] = run.id
    if merged["input"] != Input.HIERARCHICAL:
        merged.pop("source_run", None)
    return merged


@dataclass(frozen=True)
class RecalibrationInputs:
    """What a fit reads: each question's aggregate log-odds and the resolved outcomes."""

    logodds: pd.Series  # (n_questions,) by question code, every question of the round
    outcomes: pd.DataFrame  # resolved questions among them: outcome, group
    groups: dict[str, str]  # code -> group of every question ("" when not grouped)
    source_run: AggregationRun | None

    @property
    def grouped(self) -> bool:
        return bool((self.outcomes["group"] != "").any())

    def outcomes_hash(self) -> str:
        return _sha256(selectors.outcomes_hash_input(self.outcomes))

    def data_hash(self) -> str:
        return _sha256(
            {
                "logodds": [[q, f"{x:.12g}"] for q, x in self.logodds.sort_index().items()],
                "groups": sorted(self.groups.items()) if self.grouped else [],
                "outcomes": self.outcomes_hash(),
            }
        )


def _sha256(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def recalibration_inputs(
    *, survey_round: Round, options: dict, table: JudgmentTable | None = None
) -> RecalibrationInputs:
    """The aggregate (log-odds mean of the answers, or a hierarchical run's consensus) and
    the outcomes of the round's questions. ``table``: the round's judgment table, when the
    caller has it already (the scores page reads it once)."""
    source_run = None
    if options["input"] == Input.HIERARCHICAL:
        source_run = AggregationRun.objects.filter(
            id=options["source_run"],
            survey_round=survey_round,
            status=AggregationRun.Status.SUCCEEDED,
        ).first()
        if source_run is None:
            raise RecalibrationUnavailable(
                _("Run %(id)s is not a finished run of this round.") % {"id": options["source_run"]}
            )
        results = source_run.question_results.filter(question__kind=Question.Kind.BINARY)
        consensus = {r.question.code: r.consensus for r in results.select_related("question")}
        # The run stores the posterior mean of the consensus probability; its log-odds is
        # the aggregate x_j of Turner et al.'s (1) (clipped like every log-odds method).
        codes = sorted(consensus)
        logodds = pd.Series(
            logit(clip_probabilities(np.array([consensus[c] for c in codes], dtype=float))),
            index=pd.Index(codes, name="question"),
        )
    else:
        from aggregation.engine.recalibration import aggregate_logodds

        if table is None:
            try:
                table = aggregation_selectors.judgment_table_for_round(
                    survey_round=survey_round,
                    cohort_attribute=survey_round.survey.cohort_attribute,
                )
            except JudgmentDataError:
                table = None
        if table is None or not len(table):
            raise RecalibrationUnavailable(
                _("Round %(number)s has no answers to probability questions to recalibrate.")
                % {"number": survey_round.number}
            )
        logodds = aggregate_logodds(table)
    if logodds.empty:
        raise RecalibrationUnavailable(_("The run has no probability questions."))
    outcomes = selectors.outcomes_table_for_survey(
        survey=survey_round.survey, questions=list(logodds.index)
    )
    grouped = bool((outcomes["group"] != "").any())
    questions = {
        q.code: q
        for q in survey_round.survey.questions.select_related("scenario").filter(
            code__in=list(logodds.index)
        )
    }
    groups = {
        code: (selectors.question_group(questions[code]) if grouped else "")
        for code in logodds.index
    }
    return RecalibrationInputs(
        logodds=logodds, outcomes=outcomes, groups=groups, source_run=source_run
    )


def recalibration_request(
    *, survey_round: Round, options: dict | None = None, requested_by=None
) -> tuple[RecalibrationRun, bool]:
    """The recalibration of this round with these options and the current data: existing,
    or created and queued (its task sent after commit). Returns (run, created); a failed
    run asked for again is queued again."""
    run_options = recalibration_options(survey_round=survey_round, options=options)
    inputs = recalibration_inputs(survey_round=survey_round, options=run_options)
    key = {
        "survey_round": survey_round,
        "options_hash": _sha256(run_options),
        "data_hash": inputs.data_hash(),
    }
    defaults = {
        "options": run_options,
        "outcomes_hash": inputs.outcomes_hash(),
        "source_run": inputs.source_run,
        "n_questions": len(inputs.logodds),
        "n_resolved": len(inputs.outcomes),
        "n_events": int(inputs.outcomes["outcome"].sum()),
        "requested_by": requested_by,
    }
    try:
        with transaction.atomic():
            run, created = RecalibrationRun.objects.get_or_create(**key, defaults=defaults)
    except IntegrityError:  # a concurrent request created it between our read and write
        run, created = RecalibrationRun.objects.get(**key), False
    if not created and run.status == Status.FAILED:
        run_retry(run)
    elif not created:
        return run, False
    transaction.on_commit(lambda: recalibration_run_enqueue(run_id=run.id))
    return run, created


def recalibration_current(
    *, survey_round: Round, options: dict | None = None, table: JudgmentTable | None = None
) -> tuple[RecalibrationRun | None, RecalibrationInputs]:
    """The run for these options and today's data (None if never requested), and the data."""
    run_options = recalibration_options(survey_round=survey_round, options=options)
    inputs = recalibration_inputs(survey_round=survey_round, options=run_options, table=table)
    run = RecalibrationRun.objects.filter(
        survey_round=survey_round,
        options_hash=_sha256(run_options),
        data_hash=inputs.data_hash(),
    ).first()
    return run, inputs


def forecast_request(*, source_run: AggregationRun, requested_by=None) -> RecalibrationRun | None:
    """The panel forecast of a succeeded hierarchical run: the LLO recalibration of its
    consensus on today's outcomes (the prior alone while nothing is resolved), requested
    like any other recalibration and so idempotent. None when there is nothing to
    recalibrate (no probability question)."""
    if (
        source_run.method != AggregationRun.Method.HIERARCHICAL
        or source_run.status != AggregationRun.Status.SUCCEEDED
    ):
        return None
    try:
        run, _created = recalibration_request(
            survey_round=source_run.survey_round,
            options={"input": Input.HIERARCHICAL, "source_run": source_run.id},
            requested_by=requested_by,
        )
    except RecalibrationUnavailable:
        return None
    return run


def forecast_current(*, source_run: AggregationRun) -> RecalibrationRun | None:
    """The panel forecast of this hierarchical run on today's outcomes, finished or not;
    None when it was never requested (a run older than the forecast) or cannot be."""
    try:
        run, _inputs = recalibration_current(
            survey_round=source_run.survey_round,
            options={"input": Input.HIERARCHICAL, "source_run": source_run.id},
        )
    except RecalibrationUnavailable:
        return None
    return run


def recalibration_run_enqueue(*, run_id: int) -> bool:
    """Send the run's task; a broker that is down leaves it queued for the recovery sweep."""
    from resolution.tasks import recalibration_run_execute_task

    return run_enqueue(
        RecalibrationRun, run_id=run_id, task=recalibration_run_execute_task, what="recalibration"
    )


# --- Recalibration: executing ---------------------------------------------------------------


def recalibration_run_execute(*, run_id: int, worker: str | None = None) -> RecalibrationRun | None:
    """Claim the run and fit it; None when it is not ours to run (done, or held)."""
    attempt = _run_claim(run_id=run_id, worker=worker or socket.gethostname())
    if attempt is None:
        return None
    run = RecalibrationRun.objects.select_related("survey_round__survey").get(id=run_id)

    def progress(phase: str, fraction: float) -> None:
        written = RecalibrationRun.objects.filter(
            id=run_id, attempts=attempt, status=Status.RUNNING
        ).update(progress_phase=phase[:30], progress=fraction, heartbeat_at=timezone.now())
        if not written:
            raise RunLost

    try:
        result, fit = _fit(run=run, progress=progress)
        posterior = Path("recalibrations") / str(run.id) / f"attempt-{attempt}" / "posterior.nc"
        fit.save(Path(settings.MEDIA_ROOT) / posterior)
        _run_store(run_id=run_id, attempt=attempt, result=result, posterior=str(posterior))
    except RunLost:
        log.warning("recalibration %s was taken over by another worker", run_id)
        return None
    except Exception as exc:  # the fit's own failure: recorded and shown
        _run_fail(run_id=run_id, attempt=attempt, exc=exc)
    run.refresh_from_db()
    return run


def _stale_after() -> timedelta:
    return timedelta(seconds=_setting("RECALIBRATION_STALE_SECONDS", 300))


def _run_claim(*, run_id: int, worker: str) -> int | None:
    limit = settings.AGGREGATION_MAX_ATTEMPTS
    return run_claim(
        RecalibrationRun,
        run_id=run_id,
        worker=worker,
        stale_after=_stale_after(),
        max_attempts=limit,
        exhausted_error=(
            f"Its worker stopped {limit} times in the middle of the fit. Check the workers' "
            "logs, then request the recalibration again."
        ),
    )


def _fit(*, run: RecalibrationRun, progress):
    """Fit the LLO recalibration on the resolved questions and forecast every question;
    with enough resolved questions, also K-fold cross-validated forecasts of them."""
    from scipy.special import expit

    from aggregation.engine.recalibration import LLORecalibration
    from aggregation.engine.scoring import json_safe

    options = run.options
    inputs = recalibration_inputs(survey_round=run.survey_round, options=options)
    if inputs.data_hash() != run.data_hash:
        raise ValueError(
            "the answers or the outcomes changed since this recalibration was requested; "
            "the newer one replaces it"
        )
    started = time.perf_counter()
    x, outcomes, mass, seed = (
        inputs.logodds,
        inputs.outcomes,
        options["interval_mass"],
        options["random_seed"],
    )
    resolved = list(outcomes.index)
    group_list = (
        (lambda codes: [inputs.groups[c] for c in codes])
        if inputs.grouped
        else (lambda codes: None)
    )
    model = LLORecalibration(sampler_config=options.get("sampler") or None)
    progress("fitting", 0.0)
    fit = model.fit(
        x[resolved].to_numpy(),
        outcomes["outcome"].to_numpy(),
        groups=group_list(resolved),
        questions=resolved,
        random_seed=seed,
    )
    predicted = fit.predict(
        x.to_numpy(),
        groups=group_list(list(x.index)),
        questions=list(x.index),
        interval_mass=mass,
        random_seed=seed,
    )
    progress("fitting", 1.0)
    result = {
        "input": options["input"],
        "source_run": inputs.source_run.id if inputs.source_run else None,
        "grouped_by": "scenario" if inputs.grouped else None,
        "interval_mass": mass,
        "summary": fit.summary(mass),
        "questions": {
            code: {
                "aggregate": float(expit(x[code])),
                "mean": float(predicted.loc[code, "mean"]),
                "interval": [
                    float(predicted.loc[code, "lower"]),
                    float(predicted.loc[code, "upper"]),
                ],
                "resolved": code in outcomes.index,
                "group": inputs.groups[code],
            }
            for code in x.index
        },
        "cross_validation": _cross_validate(inputs, model, options, progress),
    }
    result["timings"] = {"total_seconds": round(time.perf_counter() - started, 2)}
    return json_safe(result), fit


def _cross_validate(inputs: RecalibrationInputs, model, options: dict, progress) -> dict:
    """Each resolved question forecast by a recalibration fitted on the other folds only
    (``aggregation.engine.evaluation``), so the recalibrated aggregate can be scored."""
    from aggregation.engine.evaluation import assign_folds, out_of_fold_recalibration

    outcomes = inputs.outcomes
    n, events = len(outcomes), int(outcomes["outcome"].sum())
    if n < options["min_resolved_for_cv"] or events in (0, n):
        return {
            "skipped": _(
                "Not cross-validated: it needs at least %(min)d resolved questions, both "
                "outcomes among them (there are %(n)d, %(events)d of them yes)."
            )
            % {"min": options["min_resolved_for_cv"], "n": n, "events": events}
        }
    n_folds = min(options["max_folds"], n)
    folds = assign_folds(list(outcomes.index), n_folds, seed=options["random_seed"])
    forecasts, _per_fold = out_of_fold_recalibration(
        inputs.logodds[list(folds.index)],
        outcomes["outcome"].to_dict(),
        folds,
        seed=options["random_seed"],
        recalibration=model,
        groups=dict(inputs.groups) if inputs.grouped else None,
        interval_mass=options["interval_mass"],
        progress=lambda _phase, fraction: progress("cross-validating", fraction),
    )
    return {
        "n_folds": n_folds,
        "seed": options["random_seed"],
        "forecasts": {q: float(p) for q, p in forecasts["mean"].items()},
        "intervals": {q: [float(r.lower), float(r.upper)] for q, r in forecasts.iterrows()},
    }


def _run_store(*, run_id: int, attempt: int, result: dict, posterior: str) -> None:
    with transaction.atomic():
        locked = RecalibrationRun.objects.select_for_update().get(id=run_id)
        if locked.attempts != attempt or locked.status != Status.RUNNING:
            raise RunLost
        locked.status, locked.finished_at = Status.SUCCEEDED, timezone.now()
        locked.progress_phase, locked.progress = "done", 1.0
        locked.result, locked.posterior = result, posterior
        locked.save(
            update_fields=[
                "status",
                "finished_at",
                "progress_phase",
                "progress",
                "result",
                "posterior",
            ]
        )
        # the panel forecast the next round's feedback may show
        feedback_warm_soon(feedback_round_id=locked.survey_round_id)


def _run_fail(*, run_id: int, attempt: int, exc: Exception) -> None:
    message = f"{type(exc).__name__}: {exc}"
    log.error("recalibration %s failed: %s", run_id, message)
    RecalibrationRun.objects.filter(id=run_id, attempts=attempt, status=Status.RUNNING).update(
        status=Status.FAILED,
        finished_at=timezone.now(),
        error=f"{message}\n\n{''.join(traceback.format_exception(exc))}",
        progress_phase="failed",
    )


# --- Recovery -------------------------------------------------------------------------------


def recalibration_runs_recover() -> int:
    """Re-send runs whose task may be gone (never sent, sent long ago, or a dead worker's)."""
    orphaned = runs_orphaned(
        RecalibrationRun,
        stale_after=_stale_after(),
        resend_after=timedelta(seconds=settings.AGGREGATION_RESEND_AFTER_SECONDS),
    )
    return sum(recalibration_run_enqueue(run_id=run_id) for run_id in orphaned)
