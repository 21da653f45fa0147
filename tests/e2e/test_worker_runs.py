"""Aggregation runs through real ``celery worker`` processes, a real Redis and the test's
database (PostgreSQL in CI; a SQLite file locally, see conftest.py).

The issue's acceptance, one test each: a closed round is fitted; a worker SIGKILLed mid-fit
is replaced and the run completes exactly once; with the broker down a close succeeds and
the run waits for the broker; a fit that raises ends failed with its error. Every worker
process compiles the model once (about 20 s), which is most of this file's time.
"""

import time
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from aggregation import services
from aggregation.engine.hierarchical import HierarchicalFit
from aggregation.models import AggregationRun, QuestionResult
from elicitation.models import Round
from tests.aggregation.test_services import (
    N_QUESTIONS,
    NOT_ENOUGH_EXPERTS,
    assert_results_match,
    panel_round,
)
from tests.conftest import embedded_redis_server
from tests.elicitation.helpers import celery_broker

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Status = AggregationRun.Status
# Long enough (2 chains x 20 000 draws, several seconds) that the kill lands mid-fit.
LONG_FIT = {"draws": 20_000, "tune": 100, "chains": 2}
FIT_TIMEOUT = 180  # a worker's start, the model's compilation and the fit, on a busy machine


def _close(client, survey_round: Round) -> float:
    """Close the round as the organizer does, through the page; returns the seconds taken."""
    started = time.monotonic()
    response = client.post(
        reverse("elicitation:round-close", args=[survey_round.id]), {"confirm": "1"}
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.CLOSED
    return elapsed


def _finished(run: AggregationRun) -> bool:
    return run.is_finished


def _media(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def test_a_closed_round_is_fitted_by_a_worker_process(
    organizer, organizer_client, worker_queue, start_worker, wait_for_run
):
    survey_round = panel_round(organizer=organizer)
    worker = start_worker(queue=worker_queue)
    _close(organizer_client, survey_round)
    run = AggregationRun.objects.get(survey_round=survey_round)

    run = wait_for_run(run.id, _finished, timeout=FIT_TIMEOUT, workers=[worker], what="finished")
    assert run.status == Status.SUCCEEDED, run.error
    assert (run.attempts, run.progress_phase, run.progress) == (1, "done", 1.0)
    assert run.worker.startswith(f"{worker.nodename}@")
    assert_results_match(run)
    fit = HierarchicalFit.load(_media(run.posterior))
    assert fit.attrs["data_hash"] == run.data_hash
    assert run.figures and all(_media(path).stat().st_size > 0 for path in run.figures.values())


def test_a_worker_killed_mid_fit_is_replaced_and_the_run_completes_once(
    organizer, worker_queue, start_worker, wait_for_run
):
    survey_round = panel_round(organizer=organizer)
    first = start_worker(queue=worker_queue)
    run, _ = services.aggregation_run_request(survey_round=survey_round, options=LONG_FIT)

    sampling = wait_for_run(
        run.id,
        lambda row: row.progress_phase in ("tuning", "sampling") or row.is_finished,
        timeout=FIT_TIMEOUT,
        workers=[first],
        what="sampling",
    )
    first.kill()
    killed = AggregationRun.objects.get(id=run.id)
    assert killed.status == Status.RUNNING, "the fit ended before the kill: make LONG_FIT longer"
    assert killed.progress_phase in ("tuning", "sampling") and killed.attempts == 1
    assert killed.worker.startswith(f"{first.nodename}@")
    assert sampling.progress < 1.0 or sampling.progress_phase == "tuning"

    # Another worker, with beat: the sweep sees the heartbeat go stale and re-sends the run.
    second = start_worker(queue=worker_queue, beat=True)
    done = wait_for_run(run.id, _finished, timeout=FIT_TIMEOUT, workers=[second], what="finished")
    assert done.status == Status.SUCCEEDED, done.error
    assert done.attempts == 2
    assert done.worker.startswith(f"{second.nodename}@")
    assert done.started_at == killed.started_at  # the run's life began with the first attempt
    assert QuestionResult.objects.filter(run=done).count() == N_QUESTIONS
    assert_results_match(done)
    # The first attempt wrote nothing: no results, no posterior, no figures.
    assert done.posterior == f"runs/{run.id}/attempt-2/posterior.nc"
    assert not _media(f"runs/{run.id}/attempt-1").exists()
    assert all(path.startswith(f"runs/{run.id}/attempt-2/") for path in done.figures.values())

    # The duplicate messages the sweep sent while the run was stale change nothing.
    time.sleep(3)
    after = AggregationRun.objects.get(id=run.id)
    assert (after.status, after.attempts, after.finished_at) == (
        Status.SUCCEEDED,
        2,
        done.finished_at,
    )


def test_with_the_broker_down_a_close_succeeds_and_the_run_waits_for_the_broker(
    organizer, organizer_client, worker_queue, start_worker, wait_for_run
):
    with embedded_redis_server("down.sock") as server, celery_broker(server.url):
        survey_round = panel_round(organizer=organizer)  # invitations sent while up
        server.stop()
        assert _close(organizer_client, survey_round) < 15  # no hanging on the broker
        run = AggregationRun.objects.get(survey_round=survey_round)
        assert (run.status, run.enqueued_at) == (Status.QUEUED, None)

        # The sweep leaves runs younger than 2 s to the request that is creating them.
        time.sleep(2.5)
        server.start()
        worker = start_worker(queue=worker_queue, broker=server.url)  # its start sweeps
        done = wait_for_run(
            run.id, _finished, timeout=FIT_TIMEOUT, workers=[worker], what="finished"
        )
        worker.kill()  # before its broker goes
    assert done.status == Status.SUCCEEDED, done.error
    assert done.attempts == 1 and done.enqueued_at is not None
    assert_results_match(done)


def test_a_fit_that_raises_shows_failed_with_its_error(
    organizer, organizer_client, worker_queue, start_worker, wait_for_run
):
    survey_round = panel_round(organizer=organizer, submitted=1)
    worker = start_worker(queue=worker_queue)
    _close(organizer_client, survey_round)
    run = AggregationRun.objects.get(survey_round=survey_round)

    run = wait_for_run(run.id, _finished, timeout=FIT_TIMEOUT, workers=[worker], what="finished")
    assert (run.status, run.progress_phase, run.attempts) == (Status.FAILED, "failed", 1)
    assert run.error.startswith(f"ValueError: {NOT_ENOUGH_EXPERTS}")
    assert not QuestionResult.objects.filter(run=run).exists()
