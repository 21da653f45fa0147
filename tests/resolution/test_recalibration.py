"""Recalibration runs: requested idempotently on (round, options, data), claimed once,
fenced by their attempt, swept when lost; the real fit is marked slow."""

import logging
import math
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from aggregation.engine.recalibration import RecalibrationFit
from resolution import recalibration, services
from resolution.models import RecalibrationRun
from resolution.tasks import recalibration_run_execute_task
from tests.conftest import embedded_redis_server
from tests.elicitation.helpers import celery_broker, own_celery_queue
from tests.resolution.conftest import resolve

Status = RecalibrationRun.Status
FAST = {"sampler": {"chains": 2, "tune": 200, "draws": 200}}


@pytest.fixture(autouse=True)
def task_queue(broker_url):
    """Every task these tests publish goes to a queue of the test's own on the real broker."""
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-recal-test") as name:
        yield name


def queued_ids(queue: str) -> list[int]:
    """Run ids of the recalibration tasks waiting in ``queue``; reading empties it."""
    from config.celery import app

    ids = []
    with app.connection_for_write() as broker:
        bound = app.amqp.queues[queue].bind(broker.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            if message.headers.get("task") == recalibration_run_execute_task.name:
                ids.append(message.decode()[0][0])
    return ids


def test_asking_twice_for_the_same_data_and_options_gives_the_same_run(
    closed_round, resolved, django_capture_on_commit_callbacks
):
    first = recalibration.recalibration_current(survey_round=closed_round)[0]  # from resolving
    with django_capture_on_commit_callbacks() as callbacks:
        again, created = recalibration.recalibration_request(survey_round=closed_round)
    assert (again.id, created, callbacks) == (first.id, False, [])
    other_seed, created = recalibration.recalibration_request(
        survey_round=closed_round, options={"random_seed": 3}
    )
    assert created and other_seed.id != first.id
    assert first.options["input"] == "logodds_mean" and first.outcomes_hash


def test_the_data_hash_follows_the_outcomes_of_the_rounds_questions_only(
    closed_round, questions, survey
):
    from elicitation import services as elicitation_services

    empty = recalibration.recalibration_current(survey_round=closed_round)[1]
    resolve(questions["Q01"], 1)
    one = recalibration.recalibration_current(survey_round=closed_round)[1]
    assert one.data_hash() != empty.data_hash() and one.outcomes_hash() != empty.outcomes_hash()
    # a question the round did not ask: its outcome does not touch this round's fit
    extra = elicitation_services.question_create(survey=survey, code="Q09", text="Later?")
    resolve(extra, 0)
    assert recalibration.recalibration_current(survey_round=closed_round)[1].data_hash() == (
        one.data_hash()
    )
    assert RecalibrationRun.objects.count() == 1  # Q09 asked for none


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gamma": 2}, "unknown recalibration option(s): gamma"),
        ({"input": "median"}, "unknown input 'median'"),
        ({"input": "hierarchical"}, "Round 1 has no finished hierarchical run"),
    ],
)
def test_a_recalibration_that_cannot_be_made_says_why(closed_round, options, message):
    with pytest.raises(recalibration.RecalibrationUnavailable) as caught:
        recalibration.recalibration_request(survey_round=closed_round, options=options)
    assert message in str(caught.value)
    assert RecalibrationRun.objects.count() == 0


def test_the_hierarchical_input_is_the_runs_consensus_on_the_log_odds_scale(
    closed_round, resolved, finished_run
):
    run, _ = recalibration.recalibration_request(
        survey_round=closed_round, options={"input": "hierarchical"}
    )
    inputs = recalibration.recalibration_inputs(survey_round=closed_round, options=run.options)
    assert run.source_run == finished_run and run.options["source_run"] == finished_run.id
    assert inputs.logodds["Q01"] == pytest.approx(math.log(0.623 / 0.377))


def test_a_claim_is_taken_once_and_a_stale_one_is_taken_over(closed_round, resolved, settings):
    run = recalibration.recalibration_current(survey_round=closed_round)[0]
    assert recalibration._run_claim(run_id=run.id, worker="a") == 1
    assert recalibration._run_claim(run_id=run.id, worker="b") is None  # held, beating
    RecalibrationRun.objects.filter(id=run.id).update(
        heartbeat_at=timezone.now() - timedelta(seconds=301)
    )
    assert recalibration._run_claim(run_id=run.id, worker="b") == 2
    # the first worker's results are refused: its attempt is no longer the run's
    with pytest.raises(recalibration.RunLost):
        recalibration._run_store(run_id=run.id, attempt=1, result={}, posterior="")


def test_a_run_whose_data_changed_fails_with_a_clear_error(closed_round, resolved, organizer):
    run = recalibration.recalibration_current(survey_round=closed_round)[0]
    services.question_annul(question=resolved["Q02"], reason="Ambiguous.", by=organizer)
    done = recalibration.recalibration_run_execute(run_id=run.id, worker="test")
    assert done.status == Status.FAILED
    assert (
        "the answers or the outcomes changed since this recalibration was requested" in done.error
    )
    again, _ = recalibration.recalibration_request(survey_round=closed_round)
    assert again.id != run.id and again.n_resolved == 1


def test_a_failed_run_asked_again_is_queued_again(closed_round, resolved, task_queue):
    run = recalibration.recalibration_current(survey_round=closed_round)[0]
    RecalibrationRun.objects.filter(id=run.id).update(status=Status.FAILED, error="boom")
    again, created = recalibration.recalibration_request(survey_round=closed_round)
    assert (again.id, created, again.status, again.error) == (run.id, False, Status.QUEUED, "")


def test_recovery_resends_orphaned_runs_only(closed_round, resolved, task_queue, settings):
    now = timezone.now()
    orphan = recalibration.recalibration_current(survey_round=closed_round)[0]
    RecalibrationRun.objects.filter(id=orphan.id).update(
        created_at=now - timedelta(minutes=1), enqueued_at=None
    )
    fresh, _ = recalibration.recalibration_request(
        survey_round=closed_round, options={"random_seed": 5}
    )
    RecalibrationRun.objects.filter(id=fresh.id).update(enqueued_at=now)
    queued_ids(task_queue)  # empty the queue of what the requests sent
    assert recalibration.recalibration_runs_recover() == 1
    assert queued_ids(task_queue) == [orphan.id]
    assert RecalibrationRun.objects.get(id=orphan.id).enqueued_at is not None


def test_with_the_broker_down_a_request_stays_queued_for_the_sweep(closed_round, resolved, caplog):
    run = recalibration.recalibration_current(survey_round=closed_round)[0]
    with embedded_redis_server("down.sock") as server:
        server.stop()
        with celery_broker(server.url), caplog.at_level(logging.WARNING):
            assert not recalibration.recalibration_run_enqueue(run_id=run.id)
    run.refresh_from_db()
    assert (run.status, run.enqueued_at) == (Status.QUEUED, None)
    assert f"could not queue recalibration {run.id}" in caplog.text


# --- slow: the real fit -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_fit_learns_from_the_resolved_questions_and_forecasts_the_open_ones(
    closed_round, resolved, settings
):
    run, _ = recalibration.recalibration_request(survey_round=closed_round, options=FAST)
    done = recalibration.recalibration_run_execute(run_id=run.id, worker="test")
    assert done.status == Status.SUCCEEDED, done.error
    summary = done.result["summary"]
    assert (summary["n_resolved"], summary["n_events"]) == (2, 1)
    # two questions barely move a prior of sd 0.5 on log gamma
    assert summary["posterior_to_prior_sd"]["log_gamma"] > 0.8
    q03 = done.result["questions"]["Q03"]
    assert not q03["resolved"] and q03["interval"][0] < q03["mean"] < q03["interval"][1]
    assert "at least 10 resolved questions" in done.result["cross_validation"]["skipped"]
    fit = RecalibrationFit.load(Path(settings.MEDIA_ROOT) / done.posterior)
    assert fit.data.questions == ["Q01", "Q02"]
    assert (done.progress_phase, done.attempts) == ("done", 1)
