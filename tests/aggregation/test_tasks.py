"""Aggregation tasks through a real (in-process) Celery worker on the real broker.

The worker consumes a queue of the test's own. The test thread waits on Celery's
``task_postrun`` signal rather than polling the database: on SQLite's shared in-memory test
database a read here would make the worker's concurrent write fail ("table is locked").
Runs here are pools (no sampler), so the task layer is tested in seconds; the sampled path
through real worker processes is tests/e2e/test_worker_runs.py.
"""

import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from celery import signals
from celery.contrib.testing.worker import TestWorkController, start_worker
from django.utils import timezone

from aggregation import services
from aggregation.models import AggregationRun, QuestionResult
from aggregation.tasks import aggregation_run_execute_task, aggregation_runs_recover_task
from tests.aggregation.test_services import assert_results_match, panel_round, queued_run_ids
from tests.conftest import embedded_redis_server
from tests.elicitation.helpers import celery_broker, own_celery_queue

Status = AggregationRun.Status
Method = AggregationRun.Method
EXECUTE = aggregation_run_execute_task.name

transactional = pytest.mark.django_db(transaction=True)


class ReadySignallingWorker(TestWorkController):
    """The in-process test worker, plus the ``worker_ready`` signal `celery worker` sends."""

    __test__ = False

    def on_consumer_ready(self, consumer):
        super().on_consumer_ready(consumer)
        signals.worker_ready.send(sender=consumer)


@contextmanager
def worker(app, queue: str, **kwargs):
    with start_worker(
        app, perform_ping_check=False, queues=[queue], shutdown_timeout=30, **kwargs
    ) as controller:
        yield controller


@pytest.fixture
def own_queue(broker_url):
    with own_celery_queue(broker_url, "consilium-agg-task-test") as name:
        yield name


@pytest.fixture
def finished():
    """``wait(task_name, count)``: block until the worker has finished that many such tasks."""
    done: list[tuple[str, tuple, str]] = []
    changed = threading.Condition()

    def on_postrun(sender=None, args=None, state=None, **kwargs):
        with changed:
            done.append((sender.name, tuple(args or ()), state))
            changed.notify_all()

    def wait(task_name: str, count: int = 1, timeout: float = 60.0) -> list[tuple]:
        with changed:
            reached = changed.wait_for(
                lambda: sum(name == task_name for name, *_ in done) >= count, timeout
            )
        assert reached, f"{task_name}: finished {done} after {timeout} s"
        return [entry for entry in done if entry[0] == task_name]

    signals.task_postrun.connect(on_postrun, weak=False)
    yield wait
    signals.task_postrun.disconnect(on_postrun)


def _pool_run(organizer) -> AggregationRun:
    survey_round = panel_round(organizer=organizer)
    run, _ = services.aggregation_run_request(survey_round=survey_round, method=Method.LINEAR_POOL)
    return run


def test_run_tasks_ack_late_are_requeued_when_a_worker_dies_and_the_sweep_is_on_beat(settings):
    from config.celery import app

    assert aggregation_run_execute_task.acks_late
    assert aggregation_run_execute_task.reject_on_worker_lost
    assert aggregation_runs_recover_task.acks_late
    entry = app.conf.beat_schedule["aggregation-runs-recover"]
    assert entry["task"] == aggregation_runs_recover_task.name
    assert entry["schedule"] == settings.AGGREGATION_RECOVERY_EVERY_SECONDS
    # One message at a time per worker: a long fit must not hold other runs hostage.
    assert app.conf.worker_prefetch_multiplier == 1
    # Redis redelivers unacknowledged messages only after the visibility timeout.
    assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit


@transactional
def test_a_requested_run_is_computed_by_a_real_worker(broker_url, own_queue, organizer, finished):
    with celery_broker(broker_url) as app:
        run = _pool_run(organizer)  # sent on commit, to this test's queue
        with worker(app, own_queue):
            [(_, args, state)] = finished(EXECUTE)
    assert (args, state) == ((run.id,), "SUCCESS")
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.SUCCEEDED, 1)
    assert run.worker  # which worker ran it (the in-process one reports the machine's name)
    assert_results_match(run)


@transactional
def test_redelivered_messages_of_one_run_compute_it_once(
    broker_url, own_queue, organizer, finished
):
    with celery_broker(broker_url) as app:
        run = _pool_run(organizer)
        for _ in range(3):  # the same message again: a redelivery, a sweep, a double click
            aggregation_run_execute_task.delay(run.id)
        with worker(app, own_queue):
            outcomes = finished(EXECUTE, count=4)
    assert {state for *_, state in outcomes} == {"SUCCESS"}
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.SUCCEEDED, 1)
    assert QuestionResult.objects.filter(run=run).count() == len(run.result["questions"])


@transactional
def test_a_message_for_a_run_that_no_longer_exists_is_dropped(broker_url, own_queue, finished):
    with celery_broker(broker_url) as app:
        aggregation_run_execute_task.delay(987654)
        with worker(app, own_queue):
            [(_, args, state)] = finished(EXECUTE)
    assert (args, state) == ((987654,), "SUCCESS")


@transactional
def test_the_sweep_task_gets_a_run_whose_worker_died_finished_by_another(
    broker_url, own_queue, organizer, finished, settings
):
    settings.AGGREGATION_STALE_SECONDS = 60
    with celery_broker(broker_url) as app:
        run = _pool_run(organizer)
        # Its first worker took the message, claimed the run and died: the row says
        # running, nobody beats, and the message is gone.
        assert queued_run_ids(own_queue) == [run.id]
        AggregationRun.objects.filter(id=run.id).update(
            status=Status.RUNNING,
            attempts=1,
            worker="dead@host",
            heartbeat_at=timezone.now() - timedelta(minutes=5),
        )
        aggregation_runs_recover_task.delay()
        with worker(app, own_queue):
            [(_, _, sweep_state)] = finished(aggregation_runs_recover_task.name)
            [(_, args, state)] = finished(EXECUTE)
    assert sweep_state == "SUCCESS"
    assert (args, state) == ((run.id,), "SUCCESS")
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.SUCCEEDED, 2)
    assert run.worker != "dead@host"
    assert_results_match(run)


@transactional
def test_with_the_broker_down_the_run_waits_and_a_starting_worker_runs_it(
    own_queue, organizer, finished
):
    with embedded_redis_server("down.sock") as server, celery_broker(server.url) as app:
        survey_round = panel_round(organizer=organizer)  # invitations queued while up
        server.stop()
        run, created = services.aggregation_run_request(
            survey_round=survey_round, method=Method.LINEAR_POOL
        )
        assert created
        run.refresh_from_db()
        assert (run.status, run.enqueued_at) == (Status.QUEUED, None)
        # The broker stays down for a while; then it is back and a worker starts.
        AggregationRun.objects.filter(id=run.id).update(
            created_at=timezone.now() - timedelta(minutes=1)
        )
        server.start()
        with worker(app, own_queue, WorkController=ReadySignallingWorker):
            finished(aggregation_runs_recover_task.name)
            [(_, args, state)] = finished(EXECUTE)
    assert (args, state) == ((run.id,), "SUCCESS")
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.SUCCEEDED, 1)
    assert run.enqueued_at is not None
    assert_results_match(run)
