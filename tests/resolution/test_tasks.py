"""Recalibration tasks through a real (in-process) Celery worker on the real broker.

As in tests/aggregation/test_tasks.py: the worker consumes a queue of the test's own and
the test thread waits on Celery's ``task_postrun`` signal, not on the database. The fits
sample (seconds), so these tests are marked slow.
"""

import pytest

from resolution import services
from resolution.models import RecalibrationRun
from resolution.tasks import recalibration_run_execute_task, recalibration_runs_recover_task
from tests.aggregation import test_tasks as aggregation_tasks
from tests.elicitation.helpers import celery_broker, own_celery_queue
from tests.resolution.conftest import resolve

Status = RecalibrationRun.Status
EXECUTE = recalibration_run_execute_task.name
worker = aggregation_tasks.worker
finished = aggregation_tasks.finished  # the fixture: wait for tasks the worker finished

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_queue(broker_url):
    with own_celery_queue(broker_url, "consilium-recal-task-test") as name:
        yield name


def test_tasks_are_acked_late_and_the_sweep_runs_when_a_worker_starts():
    assert recalibration_run_execute_task.acks_late
    assert recalibration_run_execute_task.reject_on_worker_lost
    assert recalibration_runs_recover_task.acks_late


def test_resolving_and_annulling_get_the_recalibration_refitted_by_a_worker(
    broker_url,
    own_queue,
    closed_round,
    questions,
    organizer,
    finished,
):
    with celery_broker(broker_url) as app:
        resolve(questions["Q01"], 1, by=organizer)  # each sends a task on commit
        resolve(questions["Q02"], 0, by=organizer)
        with worker(app, own_queue):
            done = finished(EXECUTE, count=2, timeout=240)
            assert {state for *_, state in done} == {"SUCCESS"}
            services.question_annul(question=questions["Q02"], reason="Ambiguous.", by=organizer)
            finished(EXECUTE, count=3, timeout=240)
    runs = list(RecalibrationRun.objects.order_by("id"))
    # The first request (Q01 alone) was overtaken by Q02's before a worker ran it: it
    # fails saying so. The second learned from both; the last from Q01 alone again, the
    # data of the first, so it is the first run, asked again and fitted this time.
    assert [run.n_resolved for run in runs] == [1, 2]
    first, second = runs
    assert second.status == Status.SUCCEEDED and second.result["summary"]["n_resolved"] == 2
    assert first.status == Status.SUCCEEDED, first.error
    assert first.result["summary"]["n_resolved"] == 1 and first.attempts == 2
    assert first.result["questions"]["Q02"]["resolved"] is False


def test_redelivered_messages_fit_a_run_once(
    broker_url, own_queue, closed_round, questions, finished
):
    with celery_broker(broker_url) as app:
        resolve(questions["Q01"], 1)
        [run] = RecalibrationRun.objects.all()
        for _ in range(2):  # a redelivery, a sweep
            recalibration_run_execute_task.delay(run.id)
        with worker(app, own_queue):
            done = finished(EXECUTE, count=3, timeout=240)
    assert {state for *_, state in done} == {"SUCCESS"}
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.SUCCEEDED, 1)
