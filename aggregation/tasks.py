"""Celery tasks of the aggregation app: thin, by id, safe to run twice."""

from celery import shared_task
from celery.signals import worker_ready

from aggregation.models import AggregationRun
from aggregation.services import (
    aggregation_run_execute,
    aggregation_runs_recover,
    aggregation_runs_stale_in,
)
from config.celery import broker_reconnected


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def aggregation_run_execute_task(self, run_id: int) -> None:
    run = AggregationRun.objects.filter(id=run_id).only("status").first()
    if run is None or run.is_finished:
        return  # deleted, or a redelivery of a run that another worker finished
    aggregation_run_execute(run_id=run_id, worker=self.request.hostname)


@shared_task(acks_late=True)
def aggregation_runs_recover_task(look_again: bool = False) -> int:
    """The recovery sweep (beat's, and a starting worker's); returns how many runs it sent.

    ``look_again``: if runs are running with a fresh heartbeat, sweep once more when those
    heartbeats would have gone stale. A worker that died just before this one started left
    such a run; without this, only beat's next sweep after the stale limit would see it.
    """
    sent = aggregation_runs_recover()
    if look_again:
        delay = aggregation_runs_stale_in()
        if delay is not None:
            aggregation_runs_recover_task.apply_async(countdown=delay)
    return sent


@worker_ready.connect
@broker_reconnected.connect
def _recover_when_a_worker_starts(sender=None, **kwargs) -> None:
    # Queued, not run here: this handler runs in the worker's main process.
    aggregation_runs_recover_task.delay(look_again=True)
