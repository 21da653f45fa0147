"""Celery tasks of the resolution app: thin, by id, safe to run twice."""

from celery import shared_task
from celery.signals import worker_ready

from aggregation.claims import runs_stale_in
from config.celery import broker_reconnected
from resolution import recalibration
from resolution.models import RecalibrationRun
from resolution.recalibration import recalibration_run_execute, recalibration_runs_recover


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def recalibration_run_execute_task(self, run_id: int) -> None:
    run = RecalibrationRun.objects.filter(id=run_id).only("status").first()
    if run is None or run.is_finished:
        return  # deleted, or a redelivery of a run that another worker finished
    recalibration_run_execute(run_id=run_id, worker=self.request.hostname)


@shared_task(acks_late=True)
def recalibration_runs_recover_task(look_again: bool = False) -> int:
    """The recovery sweep; ``look_again`` as in ``aggregation_runs_recover_task``: once
    more when the heartbeats of the runs running now would have gone stale."""
    sent = recalibration_runs_recover()
    if look_again:
        # recalibration's own stale limit (RECALIBRATION_STALE_SECONDS), its claims' rule
        delay = runs_stale_in(RecalibrationRun, stale_after=recalibration._stale_after())
        if delay is not None:
            recalibration_runs_recover_task.apply_async(countdown=delay)
    return sent


@worker_ready.connect
@broker_reconnected.connect
def _recover_when_a_worker_starts(sender=None, **kwargs) -> None:
    # Queued, not run here: this handler runs in the worker's main process.
    recalibration_runs_recover_task.delay(look_again=True)
