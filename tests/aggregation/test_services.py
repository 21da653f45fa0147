"""Aggregation runs at the service level: requests, claims, fencing, heartbeats, recovery.

Real database, real broker (each test publishes to a queue of its own and reads it back),
and the real sampler wherever a hierarchical fit is claimed. Fits are tiny: 8 experts x 5
binary questions, 2 chains of 100 draws, so that the process compiles the model once and
every later fit of that shape reuses it.

Tests that execute a run are transactional: the heartbeat thread has a database connection
of its own, which cannot see rows that a test transaction has not committed.

The panel builders and ``queued_run_ids`` are also used by tests/aggregation/test_tasks.py
and tests/e2e/test_worker_runs.py.
"""

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from aggregation import selectors, services
from aggregation.engine.hierarchical import HierarchicalFit
from aggregation.engine.synthetic import simulate_binary_panel
from aggregation.models import AggregationRun, QuestionResult
from elicitation import services as elicitation_services
from elicitation.models import Invitation, Round
from tests.conftest import embedded_redis_server
from tests.elicitation.helpers import celery_broker, own_celery_queue

Status = AggregationRun.Status
Method = AggregationRun.Method

N_EXPERTS, N_QUESTIONS = 8, 5
# Enough for a posterior with every reported quantity, small enough to sample in well
# under a second once the model is compiled.
TINY = {"draws": 100, "tune": 100, "chains": 2}
NOT_ENOUGH_EXPERTS = "the hierarchical model needs answers from at least 2 experts"

transactional = pytest.mark.django_db(transaction=True)


# --- Builders shared with the task and worker tests ------------------------------------


def panel_round(
    *, organizer, submitted: int = N_EXPERTS, seed: int = 0, title: str = "Allied contributions"
) -> Round:
    """An open round of a new survey: 8 experts (4 US, 4 ROK) answered 5 binary questions.

    The answers are drawn from the model's own generative story; the first ``submitted``
    experts submitted, the others only saved (drafts, which aggregation ignores).
    """
    panel = simulate_binary_panel(n_experts=N_EXPERTS, n_questions=N_QUESTIONS, seed=seed)
    survey = elicitation_services.survey_create(title=title, organizers=[organizer])
    questions = {
        code: elicitation_services.question_create(
            survey=survey, code=code, text=f"Will event {code} happen?"
        )
        for code in panel.questions
    }
    cohort_of = dict(zip(panel.judgments["expert"], panel.judgments["cohort"], strict=False))
    experts = {
        code: elicitation_services.expert_create(
            survey=survey,
            name=f"Panelist {code}",
            email=f"{code.lower()}@example.org",
            attributes={"nationality": cohort_of[code]},
            code=code,
        )
        for code in panel.experts
    }
    survey_round = elicitation_services.round_open(
        survey_round=elicitation_services.round_create(survey=survey)
    )
    for index, (code, rows) in enumerate(panel.judgments.groupby("expert", sort=True)):
        invitation = Invitation.objects.get(survey_round=survey_round, expert=experts[code])
        answers = [
            elicitation_services.Answer(
                question=questions[row.question], probability=float(row.probability)
            )
            for row in rows.itertuples()
        ]
        elicitation_services.invitation_answers_save(
            invitation=invitation, answers=answers, submit=index < submitted
        )
    return survey_round


def answer_revise(*, survey_round: Round, expert_code: str, question_code: str, probability):
    """An expert changes one answer while the round is open."""
    invitation = Invitation.objects.get(survey_round=survey_round, expert__code=expert_code)
    question = survey_round.questions.get(code=question_code)
    elicitation_services.judgment_save(
        invitation=invitation, question=question, probability=probability
    )


def queued_run_ids(queue: str) -> list[int]:
    """Run ids of the execute tasks waiting in ``queue``; reading empties the queue."""
    from aggregation.tasks import aggregation_run_execute_task
    from config.celery import app

    run_ids = []
    with app.connection_for_write() as broker:
        bound = app.amqp.queues[queue].bind(broker.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            if message.headers.get("task") == aggregation_run_execute_task.name:
                args, _kwargs, _embed = message.decode()
                run_ids.append(args[0])
    return run_ids


def assert_results_match(run: AggregationRun) -> None:
    """One QuestionResult per question of ``run.result``, carrying exactly its numbers."""
    rows = {row.question.code: row for row in run.question_results.select_related("question")}
    assert sorted(rows) == sorted(run.result["questions"])
    for code, entry in run.result["questions"].items():
        row = rows[code]
        consensus = entry["consensus"]
        disagreement = entry.get("disagreement") or {}
        assert row.n_judgments == entry["n_judgments"], code
        assert row.consensus == consensus["mean"], code
        assert [row.consensus_lower, row.consensus_upper] == (
            consensus["interval"] or [None, None]
        ), code
        assert row.disagreement == disagreement.get("mean"), code
        assert [row.disagreement_lower, row.disagreement_upper] == (
            disagreement.get("interval") or [None, None]
        ), code
        assert row.cohorts == entry.get("cohorts", {}), code
        assert row.cohort_gaps == entry.get("cohort_gaps", []), code
        assert row.baselines == entry["baselines"], code


def skip_if_shared_memory_sqlite() -> None:
    """Concurrent writers need a real database file (or PostgreSQL, as in CI)."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "SQLite's shared-cache in-memory test database fails a concurrent writer at once "
            "('database table is locked') where a database file waits its busy timeout"
        )


def in_own_thread(function) -> None:
    """Run ``function`` on a connection of its own, as another worker would, and wait."""
    errors = []

    def target():
        try:
            function()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def another_worker_claims(run_id: int) -> None:
    """What a second worker's claim does to the row: a new attempt number, its name."""
    AggregationRun.objects.filter(id=run_id).update(
        attempts=F("attempts") + 1, worker="usurper@elsewhere", heartbeat_at=timezone.now()
    )


# --- Fixtures ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def run_queue(broker_url):
    """Every task these tests publish goes to a queue of the test's own on the real broker."""
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-agg-test") as name:
        yield name


@pytest.fixture
def down_broker_url():
    """The URL of a Redis server that was started and stopped: nothing answers there."""
    with embedded_redis_server("down.sock") as server:
        server.stop()
        yield server.url


@pytest.fixture
def slow_heartbeat(settings):
    """No beat during the test (the fencing is then checked by the results' own write)."""
    settings.AGGREGATION_HEARTBEAT_SECONDS = 600


@pytest.fixture
def takeover(monkeypatch):
    """Arm a takeover: when the fit first reports one of ``phases``, another worker claims
    the run (from a connection of its own) and then ``after`` runs in the fit's thread."""

    def arm(*phases: str, after=None):
        report = services.Heartbeat.report
        fired = threading.Event()

        def report_and_lose(heartbeat, phase, fraction):
            report(heartbeat, phase, fraction)
            if phase in phases and not fired.is_set():
                fired.set()
                in_own_thread(lambda: another_worker_claims(heartbeat.run_id))
                if after is not None:
                    after(heartbeat)

        monkeypatch.setattr(services.Heartbeat, "report", report_and_lose)
        return fired

    return arm


# --- Requests: idempotent on data and spec -----------------------------------------------


def test_the_same_data_and_options_give_the_same_run(organizer):
    survey_round = panel_round(organizer=organizer)
    run, created = services.aggregation_run_request(
        survey_round=survey_round, options=TINY, requested_by=organizer
    )
    again, created_again = services.aggregation_run_request(
        survey_round=survey_round, options=dict(reversed(TINY.items()))
    )
    assert created and not created_again
    assert again.id == run.id
    assert AggregationRun.objects.count() == 1
    run.refresh_from_db()
    assert run.status == Status.QUEUED
    assert run.n_judgments == N_EXPERTS * N_QUESTIONS
    assert run.requested_by == organizer
    assert run.options["random_seed"] == 0 and run.options["draws"] == 100


def test_options_equal_to_the_defaults_are_the_default_run(organizer):
    survey_round = panel_round(organizer=organizer)
    run, _ = services.aggregation_run_request(survey_round=survey_round)
    spelled_out, created = services.aggregation_run_request(
        survey_round=survey_round,
        options={"random_seed": 0, "interval_mass": 0.9, "cohort_attribute": "nationality"},
    )
    assert not created and spelled_out.id == run.id


@pytest.mark.parametrize(
    ("method", "options"),
    [
        (Method.HIERARCHICAL, {"random_seed": 1}),
        (Method.HIERARCHICAL, {"draws": 200}),
        (Method.HIERARCHICAL, {"interval_mass": 0.8}),
        (Method.LINEAR_POOL, {}),
        (Method.EXTREMIZED_LOGODDS, {"extremize_factor": 2.0}),
    ],
)
def test_another_seed_method_or_setting_is_a_new_run(organizer, analyst, method, options):
    survey_round = panel_round(organizer=organizer)
    first, _ = services.aggregation_run_request(survey_round=survey_round)
    other, created = services.aggregation_run_request(
        survey_round=survey_round, method=method, options=options, requested_by=analyst
    )
    assert created and other.id != first.id
    assert other.data_hash == first.data_hash
    assert other.requested_by == analyst
    assert AggregationRun.objects.count() == 2


def test_changed_judgments_are_a_new_run_and_changing_them_back_the_old_one(organizer):
    survey_round = panel_round(organizer=organizer)
    judgment = survey_round.judgments.get(expert__code="E001", question__code="Q01")
    original = judgment.probability
    run, _ = services.aggregation_run_request(survey_round=survey_round)

    answer_revise(
        survey_round=survey_round,
        expert_code="E001",
        question_code="Q01",
        probability=0.5 if original != 0.5 else 0.6,
    )
    revised, created = services.aggregation_run_request(survey_round=survey_round)
    assert created and revised.data_hash != run.data_hash

    answer_revise(
        survey_round=survey_round, expert_code="E001", question_code="Q01", probability=original
    )
    back, created = services.aggregation_run_request(survey_round=survey_round)
    assert not created and back.id == run.id
    assert AggregationRun.objects.count() == 2


def test_drafts_of_experts_who_did_not_submit_do_not_change_the_data(organizer):
    survey_round = panel_round(organizer=organizer, submitted=6)
    run, _ = services.aggregation_run_request(survey_round=survey_round)
    assert run.n_judgments == 6 * N_QUESTIONS
    answer_revise(survey_round=survey_round, expert_code="E008", question_code="Q01", probability=1)
    again, created = services.aggregation_run_request(survey_round=survey_round)
    assert not created and again.id == run.id


def test_an_unknown_method_is_refused_and_creates_nothing(organizer):
    survey_round = panel_round(organizer=organizer)
    with pytest.raises(ValueError, match="unknown method 'mean'"):
        services.aggregation_run_request(survey_round=survey_round, method="mean")
    assert not AggregationRun.objects.exists()


@transactional
def test_concurrent_double_requests_make_one_run(organizer):
    """Double-clicks, or two web servers: the unique constraint keeps one row."""
    skip_if_shared_memory_sqlite()
    survey_round = panel_round(organizer=organizer)
    contenders = 4
    start = threading.Barrier(contenders)
    outcomes, errors = [], []

    def request():
        try:
            start.wait(timeout=10)
            outcomes.append(
                services.aggregation_run_request(
                    survey_round=Round.objects.get(id=survey_round.id), options=TINY
                )
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AggregationRun.objects.count() == 1
    assert {run.id for run, _ in outcomes} == {AggregationRun.objects.get().id}
    assert sorted(created for _, created in outcomes) == [False] * (contenders - 1) + [True]


# --- Enqueueing after commit ----------------------------------------------------------------


def test_a_request_enqueues_only_on_commit_and_asking_again_does_not(
    organizer, run_queue, django_capture_on_commit_callbacks
):
    survey_round = panel_round(organizer=organizer)
    with django_capture_on_commit_callbacks() as callbacks:
        run, _ = services.aggregation_run_request(survey_round=survey_round)
        services.aggregation_run_request(survey_round=survey_round)
    assert len(callbacks) == 1
    assert queued_run_ids(run_queue) == []
    run.refresh_from_db()
    assert run.enqueued_at is None

    callbacks[0]()  # the commit
    assert queued_run_ids(run_queue) == [run.id]
    run.refresh_from_db()
    assert run.enqueued_at is not None


@transactional
def test_closing_a_round_queues_one_run_sent_only_after_the_close_commits(organizer, run_queue):
    survey_round = panel_round(organizer=organizer)
    with transaction.atomic():
        elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
        run = AggregationRun.objects.get(survey_round=survey_round)
        assert queued_run_ids(run_queue) == []
    assert queued_run_ids(run_queue) == [run.id]
    run.refresh_from_db()
    assert (run.method, run.status, run.requested_by) == (
        Method.HIERARCHICAL,
        Status.QUEUED,
        organizer,
    )
    assert run.enqueued_at is not None

    with pytest.raises(ValidationError, match="only an open round can be closed"):
        elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
    assert AggregationRun.objects.count() == 1
    assert queued_run_ids(run_queue) == []


@transactional
def test_a_close_that_rolls_back_leaves_no_run_and_sends_nothing(organizer, run_queue):
    survey_round = panel_round(organizer=organizer)
    with pytest.raises(RuntimeError), transaction.atomic():
        elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
        raise RuntimeError("the request failed after the close")
    assert not AggregationRun.objects.exists()
    assert queued_run_ids(run_queue) == []
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.OPEN


def test_closing_a_round_nobody_submitted_requests_no_run(organizer):
    survey_round = panel_round(organizer=organizer, submitted=0)
    elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
    assert not AggregationRun.objects.exists()


@transactional
def test_with_the_broker_down_a_request_commits_and_stays_queued(
    organizer, down_broker_url, caplog
):
    survey_round = panel_round(organizer=organizer)
    started = time.monotonic()
    with celery_broker(down_broker_url), caplog.at_level(logging.WARNING):
        run, created = services.aggregation_run_request(survey_round=survey_round)
    assert created
    assert time.monotonic() - started < 15  # a publish that fails does not hang a request
    run.refresh_from_db()
    assert run.status == Status.QUEUED and run.enqueued_at is None
    assert f"could not queue aggregation run {run.id}" in caplog.text


# --- Claims --------------------------------------------------------------------------------


def _pool_run(organizer, **fields) -> AggregationRun:
    """A linear-pool run of a fresh panel round: claimed and computed with no sampler."""
    survey_round = panel_round(organizer=organizer)
    run, _ = services.aggregation_run_request(survey_round=survey_round, method=Method.LINEAR_POOL)
    if fields:
        AggregationRun.objects.filter(id=run.id).update(**fields)
        run.refresh_from_db()
    return run


@transactional
def test_a_queued_run_is_claimed_computed_and_stored(organizer):
    run = _pool_run(organizer)
    done = services.aggregation_run_execute(run_id=run.id, worker="w1@host")
    assert done is not None
    run.refresh_from_db()
    assert (run.status, run.attempts, run.worker) == (Status.SUCCEEDED, 1, "w1@host")
    assert (run.progress_phase, run.progress) == ("done", 1.0)
    assert run.started_at <= run.finished_at
    assert run.result["method"] == Method.LINEAR_POOL
    assert run.result["data_hash"] == run.data_hash
    assert run.error == ""
    assert_results_match(run)


@pytest.mark.parametrize(
    "state",
    [
        {"status": Status.RUNNING, "attempts": 1, "worker": "w1@host", "stale": False},
        {"status": Status.SUCCEEDED, "attempts": 1, "worker": "w1@host", "stale": True},
        {"status": Status.FAILED, "attempts": 1, "worker": "w1@host", "stale": True},
    ],
    ids=["running-fresh-heartbeat", "succeeded", "failed"],
)
@transactional
def test_a_run_held_or_finished_is_not_claimed(organizer, settings, state):
    settings.AGGREGATION_STALE_SECONDS = 60
    age = timedelta(seconds=61 if state["stale"] else 5)
    run = _pool_run(
        organizer,
        status=state["status"],
        attempts=state["attempts"],
        worker=state["worker"],
        heartbeat_at=timezone.now() - age,
    )
    assert services.aggregation_run_execute(run_id=run.id, worker="w2@host") is None
    unchanged = AggregationRun.objects.get(id=run.id)
    assert (unchanged.status, unchanged.attempts, unchanged.worker) == (
        state["status"],
        1,
        "w1@host",
    )
    assert unchanged.heartbeat_at == run.heartbeat_at
    assert not QuestionResult.objects.exists()


@transactional
def test_a_running_run_whose_worker_stopped_beating_is_taken_over(organizer, settings):
    settings.AGGREGATION_STALE_SECONDS = 60
    first_start = timezone.now() - timedelta(minutes=5)
    run = _pool_run(
        organizer,
        status=Status.RUNNING,
        attempts=1,
        worker="w1@host",
        started_at=first_start,
        heartbeat_at=timezone.now() - timedelta(seconds=61),
    )
    services.aggregation_run_execute(run_id=run.id, worker="w2@host")
    run.refresh_from_db()
    assert (run.status, run.attempts, run.worker) == (Status.SUCCEEDED, 2, "w2@host")
    assert run.started_at == first_start  # the run's life began with its first attempt
    assert_results_match(run)


# --- Fencing: a worker that lost its claim writes nothing -------------------------------


@transactional
def test_a_worker_that_lost_its_claim_stores_no_results(
    organizer, takeover, slow_heartbeat, caplog
):
    run = _pool_run(organizer)
    fired = takeover("figures")  # after the pool is computed, before the results are stored
    with caplog.at_level(logging.WARNING, logger="aggregation.services"):
        assert services.aggregation_run_execute(run_id=run.id, worker="w1@host") is None
    assert fired.is_set()
    run.refresh_from_db()
    assert (run.status, run.attempts, run.worker) == (Status.RUNNING, 2, "usurper@elsewhere")
    assert run.result is None and run.finished_at is None
    assert not QuestionResult.objects.exists()
    assert f"aggregation run {run.id} was taken over" in caplog.text


@transactional
def test_a_worker_that_lost_its_claim_cannot_mark_the_run_failed(
    organizer, takeover, slow_heartbeat
):
    def crash(heartbeat):
        raise RuntimeError("the fit crashed after another worker took the run")

    run = _pool_run(organizer)
    takeover("figures", after=crash)
    services.aggregation_run_execute(run_id=run.id, worker="w1@host")
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error) == (Status.RUNNING, 2, "")
    assert run.finished_at is None


@transactional
def test_the_heartbeat_notices_a_lost_claim_and_nothing_is_stored(organizer, takeover, settings):
    settings.AGGREGATION_HEARTBEAT_SECONDS = 0.05

    def wait_until_noticed(heartbeat):
        deadline = time.monotonic() + 10
        while not heartbeat.lost:
            assert time.monotonic() < deadline, "the heartbeat never noticed the takeover"
            time.sleep(0.02)

    run = _pool_run(organizer)
    takeover("figures", after=wait_until_noticed)
    assert services.aggregation_run_execute(run_id=run.id, worker="w1@host") is None
    run.refresh_from_db()
    assert (run.status, run.attempts) == (Status.RUNNING, 2)
    assert not QuestionResult.objects.exists()


@pytest.mark.slow
@transactional
def test_a_fit_whose_run_is_taken_over_mid_sampling_stores_nothing(
    organizer, takeover, slow_heartbeat
):
    survey_round = panel_round(organizer=organizer)
    run, _ = services.aggregation_run_request(survey_round=survey_round, options=TINY)
    fired = takeover("tuning", "sampling")
    assert services.aggregation_run_execute(run_id=run.id, worker="w1@host") is None
    assert fired.is_set()
    run.refresh_from_db()
    assert (run.status, run.attempts, run.worker) == (Status.RUNNING, 2, "usurper@elsewhere")
    assert (run.result, run.posterior, run.figures, run.diagnostics) == (None, "", {}, {})
    assert not QuestionResult.objects.exists()


# --- Heartbeats ----------------------------------------------------------------------------


def _running(run: AggregationRun, *, attempts: int = 1) -> AggregationRun:
    AggregationRun.objects.filter(id=run.id).update(
        status=Status.RUNNING,
        attempts=attempts,
        heartbeat_at=timezone.now() - timedelta(seconds=30),
        progress_phase="starting",
        progress=0.0,
    )
    run.refresh_from_db()
    return run


def _wait_for(predicate, timeout: float = 10.0, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message or "timed out")
        time.sleep(0.02)


@transactional
def test_the_heartbeat_writes_progress_while_the_claim_holds(organizer, settings):
    settings.AGGREGATION_HEARTBEAT_SECONDS = 0.05
    run = _running(_pool_run(organizer))
    before = run.heartbeat_at
    with services.Heartbeat(run_id=run.id, attempt=1) as heartbeat:
        heartbeat.report("sampling", 0.25)
        _wait_for(
            lambda: AggregationRun.objects.filter(id=run.id, progress=0.25).exists(),
            message="no heartbeat wrote the progress",
        )
    run.refresh_from_db()
    assert (run.progress_phase, run.progress) == ("sampling", 0.25)
    assert run.heartbeat_at > before
    assert not heartbeat.lost


@transactional
def test_a_heartbeat_of_an_old_attempt_writes_nothing_and_the_fit_is_told(organizer, settings):
    settings.AGGREGATION_HEARTBEAT_SECONDS = 0.05
    run = _running(_pool_run(organizer), attempts=2)
    with pytest.raises(services.RunLost), services.Heartbeat(run_id=run.id, attempt=1) as beat:
        beat.report("sampling", 0.5)
        _wait_for(lambda: beat.lost, message="the heartbeat did not notice the lost claim")
    unchanged = AggregationRun.objects.get(id=run.id)
    assert (unchanged.progress_phase, unchanged.progress) == ("starting", 0.0)
    assert unchanged.heartbeat_at == run.heartbeat_at


@transactional
def test_the_heartbeat_survives_a_dropped_database_connection(organizer, settings):
    """A database restart or a network blip mid-fit must not stop the beats for good: a
    healthy worker would then lose its run to another after AGGREGATION_STALE_SECONDS."""
    if connection.vendor != "postgresql":
        pytest.skip("drops the heartbeat's server connection with pg_terminate_backend")
    settings.AGGREGATION_HEARTBEAT_SECONDS = 0.05
    run = _running(_pool_run(organizer))
    with services.Heartbeat(run_id=run.id, attempt=1) as heartbeat:
        heartbeat.report("sampling", 0.1)
        _wait_for(lambda: AggregationRun.objects.filter(id=run.id, progress=0.1).exists())
        with connection.cursor() as cursor:  # every other session on this database
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        heartbeat.report("sampling", 0.2)
        _wait_for(
            lambda: AggregationRun.objects.filter(id=run.id, progress=0.2).exists(),
            timeout=5,
            message="the heartbeat stopped after its connection was dropped",
        )
    assert not heartbeat.lost


# --- Sampling and failing for real ----------------------------------------------------------


@pytest.mark.slow
@transactional
def test_a_hierarchical_run_stores_results_posterior_and_figures(organizer):
    survey_round = panel_round(organizer=organizer)
    elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
    run, _ = services.aggregation_run_request(survey_round=survey_round, options=TINY)
    services.aggregation_run_execute(run_id=run.id, worker="w1@host")
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED, run.error
    assert (run.attempts, run.progress_phase, run.progress) == (1, "done", 1.0)
    assert run.result["method"] == "hierarchical"
    assert run.result["n_judgments"] == N_EXPERTS * N_QUESTIONS
    assert run.diagnostics == run.result["diagnostics"]
    assert {"max_rhat", "min_ess_bulk", "divergences"} <= set(run.diagnostics)
    assert run.timings["total_seconds"] > 0
    assert_results_match(run)
    assert sorted(run.result["questions"]["Q01"]["cohorts"]) == ["ROK", "US"]

    # The sampler ran with the run's own settings, and the posterior says so.
    assert run.posterior == f"runs/{run.id}/attempt-1/posterior.nc"
    fit = HierarchicalFit.load(Path(django_settings.MEDIA_ROOT) / run.posterior)
    posterior = fit.posterior["posterior"]
    assert (posterior.sizes["chain"], posterior.sizes["draw"]) == (2, 100)
    sampler = fit.attrs["sampler_config"]
    assert '"tune": 100' in sampler and '"draws": 100' in sampler
    assert fit.attrs["data_hash"] == run.data_hash
    assert fit.attrs["random_seed"] == 0
    for relative in run.figures.values():
        assert (Path(django_settings.MEDIA_ROOT) / relative).stat().st_size > 0


@transactional
def test_a_fit_that_raises_ends_failed_with_its_error(organizer):
    survey_round = panel_round(organizer=organizer, submitted=1)
    elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
    run = AggregationRun.objects.get(survey_round=survey_round)
    services.aggregation_run_execute(run_id=run.id, worker="w1@host")
    run.refresh_from_db()
    assert (run.status, run.progress_phase, run.attempts) == (Status.FAILED, "failed", 1)
    assert run.error.startswith(f"ValueError: {NOT_ENOUGH_EXPERTS}")
    assert "Traceback" in run.error
    assert run.finished_at is not None and run.result is None
    assert not QuestionResult.objects.exists()


@transactional
def test_a_failed_run_requested_again_is_queued_again(organizer, run_queue):
    survey_round = panel_round(organizer=organizer, submitted=1)
    elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
    run = AggregationRun.objects.get(survey_round=survey_round)
    services.aggregation_run_execute(run_id=run.id, worker="w1@host")
    assert queued_run_ids(run_queue) == [run.id]  # the close's own message

    retried, created = services.aggregation_run_request(survey_round=survey_round)
    assert (retried.id, created) == (run.id, False)
    assert (retried.status, retried.error, retried.finished_at) == (Status.QUEUED, "", None)
    assert queued_run_ids(run_queue) == [run.id]

    services.aggregation_run_execute(run_id=run.id, worker="w2@host")
    run.refresh_from_db()
    assert (run.status, run.attempts, run.worker) == (Status.FAILED, 2, "w2@host")
    assert AggregationRun.objects.count() == 1


@transactional
def test_a_failed_run_asked_again_while_the_broker_is_down_goes_out_with_the_next_sweep(
    organizer, run_queue, down_broker_url, settings
):
    settings.AGGREGATION_RESEND_AFTER_SECONDS = 900
    survey_round = panel_round(organizer=organizer, submitted=1)
    elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
    run = AggregationRun.objects.get(survey_round=survey_round)
    services.aggregation_run_execute(run_id=run.id, worker="w1@host")
    assert queued_run_ids(run_queue) == [run.id]  # sent when requested, a minute ago:
    AggregationRun.objects.filter(id=run.id).update(
        created_at=timezone.now() - timedelta(minutes=1)
    )

    with celery_broker(down_broker_url):
        retried, _ = services.aggregation_run_request(survey_round=survey_round)
    assert retried.status == Status.QUEUED
    # The broker is back: the next sweep sends the retry, not one RESEND_AFTER later.
    assert services.aggregation_runs_recover() == 1
    assert queued_run_ids(run_queue) == [run.id]


def test_a_run_whose_data_changed_since_the_request_fails_with_a_clear_error(
    organizer, slow_heartbeat
):
    """Only reachable while a round is open: the request and the data must agree."""
    survey_round = panel_round(organizer=organizer)
    run, _ = services.aggregation_run_request(survey_round=survey_round, method=Method.MEDIAN)
    answer_revise(survey_round=survey_round, expert_code="E002", question_code="Q02", probability=0)
    services.aggregation_run_execute(run_id=run.id, worker="w1@host")
    run.refresh_from_db()
    assert run.status == Status.FAILED
    assert "the round's judgments changed since this run was requested" in run.error


# --- Recovery ------------------------------------------------------------------------------


def _recovery_fixture(organizer, settings) -> dict[str, AggregationRun]:
    """One run per state the sweep must tell apart, of one round (distinct data hashes)."""
    settings.AGGREGATION_STALE_SECONDS = 60
    settings.AGGREGATION_RESEND_AFTER_SECONDS = 900
    survey_round = panel_round(organizer=organizer)
    now = timezone.now()
    long_ago = now - timedelta(hours=1)
    states = {
        "queued, never sent": dict(status=Status.QUEUED, created_at=now - timedelta(seconds=10)),
        "queued, being requested": dict(status=Status.QUEUED, created_at=None),
        "queued, sent long ago": dict(status=Status.QUEUED, enqueued_at=long_ago),
        "queued, sent recently": dict(
            status=Status.QUEUED, enqueued_at=now - timedelta(seconds=60)
        ),
        "running, stale": dict(
            status=Status.RUNNING, attempts=1, heartbeat_at=now - timedelta(seconds=61)
        ),
        "running, beating": dict(
            status=Status.RUNNING, attempts=1, heartbeat_at=now - timedelta(seconds=5)
        ),
        "succeeded": dict(status=Status.SUCCEEDED, attempts=1, heartbeat_at=long_ago),
        "failed": dict(status=Status.FAILED, attempts=1, heartbeat_at=long_ago),
    }
    runs = {}
    for index, (name, fields) in enumerate(states.items()):
        run = AggregationRun.objects.create(
            survey_round=survey_round, options={}, options_hash="o", data_hash=f"d{index}"
        )
        fields = {"created_at": long_ago, **fields}
        fields["created_at"] = fields["created_at"] or timezone.now()
        AggregationRun.objects.filter(id=run.id).update(**fields)
        run.refresh_from_db()
        runs[name] = run
    return runs


ORPHANED = ["queued, never sent", "queued, sent long ago", "running, stale"]


def test_recovery_resends_exactly_the_orphaned_runs(organizer, settings, run_queue):
    runs = _recovery_fixture(organizer, settings)
    assert services.aggregation_runs_recover() == len(ORPHANED)
    assert sorted(queued_run_ids(run_queue)) == sorted(runs[name].id for name in ORPHANED)
    for name, run in runs.items():
        after = AggregationRun.objects.get(id=run.id)
        assert (after.status, after.attempts) == (run.status, run.attempts), name
        if name in ORPHANED:
            assert after.enqueued_at > timezone.now() - timedelta(seconds=30), name
        else:
            assert after.enqueued_at == run.enqueued_at, name


def test_recovery_with_the_broker_down_sends_nothing_and_marks_nothing(
    organizer, settings, down_broker_url, caplog
):
    runs = _recovery_fixture(organizer, settings)
    with celery_broker(down_broker_url), caplog.at_level(logging.WARNING):
        assert services.aggregation_runs_recover() == 0
    for name in ORPHANED:
        assert AggregationRun.objects.get(id=runs[name].id).enqueued_at == runs[name].enqueued_at
        assert f"could not queue aggregation run {runs[name].id}" in caplog.text


def test_a_run_whose_workers_keep_dying_fails_after_the_last_attempt(organizer, settings):
    settings.AGGREGATION_MAX_ATTEMPTS = 3
    run = _pool_run(
        organizer,
        status=Status.RUNNING,
        attempts=3,
        heartbeat_at=timezone.now() - timedelta(seconds=settings.AGGREGATION_STALE_SECONDS + 5),
    )
    assert services.aggregation_run_execute(run_id=run.id, worker="fourth-worker") is None
    run.refresh_from_db()
    assert run.status == Status.FAILED
    assert run.attempts == 3  # not claimed a fourth time
    assert "stopped 3 times" in run.error
    assert not run.question_results.exists()


# --- Rounds linked (Delphi) --------------------------------------------------------------


def _second_round(first: Round, *, move: float = 0.5) -> Round:
    """Close ``first``, then every expert answers round 2 on the same questions, moving
    ``move`` of the way toward the round-1 median, and submits; round 2 is left open."""
    elicitation_services.round_close(survey_round=first)
    second = elicitation_services.round_open(
        survey_round=elicitation_services.round_create(survey=first.survey)
    )
    medians = {
        q.code: float(np.median([j.probability for j in q.judgments.filter(survey_round=first)]))
        for q in first.questions.all()
    }
    for invitation in second.invitations.select_related("expert"):
        previous = {
            j.question.code: j.probability
            for j in first.judgments.filter(expert=invitation.expert).select_related("question")
        }
        answers = [
            elicitation_services.Answer(
                question=question,
                probability=previous[question.code]
                + move * (medians[question.code] - previous[question.code]),
            )
            for question in second.questions.all()
        ]
        elicitation_services.invitation_answers_save(
            invitation=invitation, answers=answers, submit=True
        )
    return second


def test_closing_a_follow_up_round_requests_its_run_and_the_linked_run(organizer):
    second = _second_round(panel_round(organizer=organizer))
    elicitation_services.round_close(survey_round=second, closed_by=organizer)
    runs = {run.method: run for run in AggregationRun.objects.filter(survey_round=second)}
    assert set(runs) == {Method.HIERARCHICAL, Method.LINKED_ROUNDS}
    assert runs[Method.LINKED_ROUNDS].options["rounds"] == [1, 2]
    assert runs[Method.LINKED_ROUNDS].n_judgments == 2 * N_EXPERTS * N_QUESTIONS
    assert runs[Method.HIERARCHICAL].n_judgments == N_EXPERTS * N_QUESTIONS


def test_after_a_round_nobody_submitted_the_follow_up_closes_without_a_linked_run(organizer):
    second = _second_round(panel_round(organizer=organizer, submitted=0))
    elicitation_services.round_close(survey_round=second, closed_by=organizer)
    second.refresh_from_db()
    assert second.status == Round.Status.CLOSED
    assert list(AggregationRun.objects.values_list("method", flat=True)) == [Method.HIERARCHICAL]
    with pytest.raises(ValueError, match="no closed round before it to link with"):
        services.aggregation_run_request(survey_round=second, method=Method.LINKED_ROUNDS)


def test_the_round_to_link_with_comes_before_the_follow_up(organizer):
    first = panel_round(organizer=organizer)
    second = _second_round(first)
    later = elicitation_services.round_create(survey=second.survey)
    Round.objects.filter(id=second.id).update(feedback_round=later)  # out of number order
    second.refresh_from_db()
    assert selectors.round_previous_closed(survey_round=second) == first
    assert selectors.round_linkable_previous(survey_round=second) == first


def test_a_linked_run_needs_an_earlier_closed_round(organizer):
    first = panel_round(organizer=organizer)
    with pytest.raises(ValueError, match="no closed round before it"):
        services.aggregation_run_request(survey_round=first, method=Method.LINKED_ROUNDS)


@pytest.mark.slow
@transactional  # the heartbeat thread writes from a connection of its own
def test_a_linked_run_fits_both_rounds_and_stores_the_last_rounds_numbers(organizer):
    second = _second_round(panel_round(organizer=organizer))
    elicitation_services.round_close(survey_round=second)
    run, created = services.aggregation_run_request(
        survey_round=second,
        method=Method.LINKED_ROUNDS,
        options={"draws": 300, "tune": 200, "chains": 2},
    )
    assert created and run.options["rounds"] == [1, 2]
    assert run.n_judgments == 2 * N_EXPERTS * N_QUESTIONS
    run = services.aggregation_run_execute(run_id=run.id)
    assert run.status == Status.SUCCEEDED, run.error
    result = run.result
    assert result["method"] == "linked_rounds" and result["rounds"] == [1, 2]
    assert result["n_linked_pairs"] == N_EXPERTS * N_QUESTIONS
    # everyone moved halfway to the median: the spread shrank
    assert result["panel"]["median_disagreement_ratio"]["mean"] < 1.0
    assert set(run.figures) == {"consensus-shift", "consensus-shift__ko"}  # one per language
    assert HierarchicalFit.load(Path(django_settings.MEDIA_ROOT) / run.posterior)
    rows = {r.question.code: r for r in run.question_results.select_related("question")}
    assert len(rows) == N_QUESTIONS
    for code, row in rows.items():
        last = result["questions"][code]["rounds"]["2"]
        assert row.consensus == last["consensus"]["mean"]
        assert row.disagreement == last["disagreement"]["mean"]
