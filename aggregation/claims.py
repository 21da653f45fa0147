"""What aggregation runs and recalibrations share: a row that is queued, sent to a worker,
claimed by one worker at a time, retried, and sent again by the recovery sweep.

Both models (``AggregationRun``, ``resolution.RecalibrationRun``) inherit ``WorkerRun``: the
status values and bookkeeping fields (attempts, worker, heartbeat_at, enqueued_at, ...) and
what the worker writes at the end (result, error, posterior). A claim raises
``attempts``; every later write of that worker is fenced by its attempt number, so a worker
whose run was taken over (its heartbeat went stale) cannot overwrite the new one's work.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

log = logging.getLogger(__name__)


class WorkerRun(models.Model):
    """A fit that a worker claims, heartbeats and finishes (abstract: one table per kind)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    # The options, defaults filled in; a run is idempotent on them and on the data hash.
    options = models.JSONField(default=dict)
    options_hash = models.CharField(max_length=64)
    data_hash = models.CharField(max_length=64)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    progress_phase = models.CharField(max_length=30, blank=True)
    progress = models.FloatField(default=0.0)  # fraction of the phase, 0..1
    attempts = models.PositiveSmallIntegerField(default=0)  # the fencing token of a claim
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last time its task was sent
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    posterior = models.CharField(max_length=300, blank=True)  # path under MEDIA_ROOT

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class RunLost(Exception):
    """Another worker has taken the run over; this one must not write results."""


def run_retry(run: models.Model) -> None:
    """A failed run asked for again: queued again, as a message never sent."""
    # enqueued_at is cleared: the retry is a new message, and if the broker refuses it the
    # sweep must see a run never sent, not one sent (long ago or not) by the first request.
    model = type(run)
    updated = model.objects.filter(id=run.id, status=model.Status.FAILED).update(
        status=model.Status.QUEUED,
        error="",
        progress=0.0,
        progress_phase="",
        finished_at=None,
        enqueued_at=None,
    )
    if updated:
        run.refresh_from_db()


def run_enqueue(model: type[models.Model], *, run_id: int, task, what: str) -> bool:
    """Send the run's task; a broker that is down leaves it queued for the recovery sweep."""
    try:
        task.delay(run_id)
    except Exception:  # kombu raises many types; the run stays queued either way
        log.warning("could not queue %s %s; the recovery sweep will", what, run_id, exc_info=True)
        return False
    model.objects.filter(id=run_id).update(enqueued_at=timezone.now())
    return True


def run_claim(
    model: type[models.Model],
    *,
    run_id: int,
    worker: str,
    stale_after: timedelta,
    max_attempts: int,
    exhausted_error: str,
) -> int | None:
    """Take a queued run, or a running one whose heartbeat is older than ``stale_after``;
    returns the attempt number, or None when the run is not ours (done, or held).

    A run whose workers keep dying (out of memory, a crash in native code) is not taken over
    forever: after ``max_attempts`` it fails with ``exhausted_error``.
    """
    Status = model.Status
    now = timezone.now()
    stale = Q(status=Status.RUNNING, heartbeat_at__lt=now - stale_after)
    model.objects.filter(stale, id=run_id, attempts__gte=max_attempts).update(
        status=Status.FAILED, finished_at=now, progress_phase="failed", error=exhausted_error
    )
    claimed = model.objects.filter(Q(status=Status.QUEUED) | stale, id=run_id).update(
        status=Status.RUNNING,
        attempts=F("attempts") + 1,
        worker=worker[:200],
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), now),
        progress=0.0,
        progress_phase="starting",
    )
    if not claimed:
        return None
    return model.objects.values_list("attempts", flat=True).get(id=run_id)


def runs_orphaned(
    model: type[models.Model], *, stale_after: timedelta, resend_after: timedelta
) -> list[int]:
    """Runs whose task may be gone: queued but never sent (the broker was down) or sent
    long ago (the message may be lost), and running with a stale heartbeat (the worker
    died). Sending one again is harmless: only one claim can succeed."""
    Status = model.Status
    now = timezone.now()
    return list(
        model.objects.filter(
            Q(
                status=Status.QUEUED,
                enqueued_at__isnull=True,
                created_at__lt=now - timedelta(seconds=2),
            )
            | Q(status=Status.QUEUED, enqueued_at__lt=now - resend_after)
            | Q(status=Status.RUNNING, heartbeat_at__lt=now - stale_after)
        ).values_list("id", flat=True)
    )


def runs_stale_in(model: type[models.Model], *, stale_after: timedelta) -> float | None:
    """Seconds from now until every run that is running with a fresh heartbeat would be
    stale, if its worker stopped beating now (None: no such run).

    A worker that starts just after another died finds the dead worker's run still fresh,
    and its first sweep rightly leaves it alone; one more sweep this many seconds later
    takes it over (a run whose worker is alive is still fresh then, and is left alone again).
    """
    now = timezone.now()
    newest = model.objects.filter(
        status=model.Status.RUNNING, heartbeat_at__gte=now - stale_after
    ).aggregate(newest=Max("heartbeat_at"))["newest"]
    if newest is None:
        return None
    # A little later than the limit, for clocks and queues: ``run_claim`` wants it exceeded.
    margin = 1.0 + stale_after.total_seconds() / 10
    return max(0.0, (newest + stale_after - now).total_seconds()) + margin
