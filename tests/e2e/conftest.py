"""Fixtures for end-to-end tests that start real ``celery worker`` processes.

A worker process must open the test's own database. On PostgreSQL it connects to
pytest-django's test database by name. SQLite's default test database lives in memory,
where no other process can see it: when the worker tests are selected, the session's SQLite
test database becomes a file instead (``pytest_collection_modifyitems`` below), which the
settings' WAL mode and busy timeout let several processes share.

Each test's tasks go to a queue of its own, which its workers alone consume; the workers'
own tasks (the recovery sweep that beat and ``worker_ready`` send) go there too, through
``task.default_queue`` on the worker's command line.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

WORKER_TESTS = ("test_worker_runs.py", "test_broker_restart.py")
# Short enough that a killed worker's run is taken over within seconds.
WORKER_ENV = {
    "AGGREGATION_STALE_SECONDS": "3",
    "AGGREGATION_HEARTBEAT_SECONDS": "0.5",
    "AGGREGATION_RECOVERY_EVERY_SECONDS": "1",
}
LOG_TAIL_LINES = 150


@pytest.hookimpl(trylast=True)  # after -m / -k deselection
def pytest_collection_modifyitems(config, items):
    if not any(item.path.name in WORKER_TESTS for item in items):
        return
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3":
        return
    test_settings = database.setdefault("TEST", {})
    if test_settings.get("NAME") and "memory" not in str(test_settings["NAME"]):
        return  # already a file
    folder = Path(tempfile.mkdtemp(prefix="consilium-e2e-db-"))
    config.stash[_db_folder_key] = folder
    test_settings["NAME"] = str(folder / "test.sqlite3")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            "SQLite: worker processes cannot open an in-memory database; this session's "
            f"test database is the file {test_settings['NAME']}"
        )


_db_folder_key = pytest.StashKey[Path]()


def pytest_unconfigure(config):
    folder = config.stash.get(_db_folder_key, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def database_url() -> str:
    """A DATABASE_URL naming the database this test runs on (the test database)."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        if connection.is_in_memory_db():
            pytest.skip(
                "the SQLite test database is in memory, which a worker process cannot open; "
                f"run {WORKER_TESTS} with its conftest (it makes the test database a file)"
            )
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if connection.vendor == "postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"
    pytest.skip(f"no worker DATABASE_URL for {connection.vendor}")


class WorkerProcess:
    """A ``celery worker`` started in a process group of its own (``nodename`` is the part
    of its ``--hostname`` before the @)."""

    def __init__(self, *, nodename: str, process: subprocess.Popen, log_path: Path):
        self.nodename, self.process, self.log_path = nodename, process, log_path
        self.killed = False

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and whatever it started (embedded beat): a machine dying."""
        self.killed = True
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def check_running(self) -> None:
        if not self.alive and not self.killed:
            raise AssertionError(
                f"worker {self.nodename} exited with {self.process.returncode}:\n" + self.log_tail()
            )


@pytest.fixture
def worker_queue(broker_url):
    """A queue for this test's tasks: the test's app publishes there, its workers read it."""
    from tests.elicitation.helpers import celery_broker, own_celery_queue

    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-e2e") as name:
        yield name
        _forget_unacked(name)


def _forget_unacked(queue: str) -> None:
    """Drop the messages a killed worker left unacknowledged in this queue, so that Redis
    does not hand them to the queue again an hour later (the visibility timeout)."""
    from config.celery import app

    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client = getattr(channel, "client", None)
        if client is None or not hasattr(channel, "unacked_key"):
            return  # not Redis
        for tag, raw in client.hgetall(channel.unacked_key).items():
            _payload, exchange, routing_key = json.loads(raw)
            if queue in (exchange, routing_key):
                client.hdel(channel.unacked_key, tag)
                client.zrem(channel.unacked_index_key, tag)


@pytest.fixture
def start_worker(transactional_db, broker_url, tmp_path):
    """``start_worker(queue=..., broker=..., beat=False)``: a ``celery -A config worker``
    process on this test's database and broker. Killed (with its process group) when the
    test ends; its log is printed then, which pytest shows when the test failed."""
    from django.conf import settings

    started: list[WorkerProcess] = []
    celery = Path(sys.executable).with_name("celery")

    def start(*, queue: str, broker: str | None = None, beat: bool = False) -> WorkerProcess:
        name = f"e2e-{uuid.uuid4().hex[:8]}"
        log_path = tmp_path / f"{name}.log"
        command = [
            str(celery),
            "-A",
            "config",
            "worker",
            "--pool=solo",
            f"--hostname={name}@%h",
            "-Q",
            queue,
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
        ]
        if beat:
            command += ["--beat", f"--schedule={tmp_path / f'{name}-beat-schedule'}"]
        # Its tasks and the sweeps it sends go to the test's queue; no remote control, whose
        # broadcast bindings would outlive a killed worker on a shared Redis.
        command += ["--", f"task.default_queue={queue}", "worker.enable_remote_control=False"]
        env = worker_environment(broker or broker_url, tmp_path)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        worker = WorkerProcess(nodename=name, process=process, log_path=log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
    for worker in started:
        print(f"\n----- log of worker {worker.nodename} (last {LOG_TAIL_LINES} lines) -----")
        print(worker.log_tail())


@pytest.fixture
def wait_for_run():
    """``wait_for_run(run_id, predicate, timeout=..., workers=...)``: the run's row once
    ``predicate(row)`` holds; fails early when one of ``workers`` died unasked."""
    return _wait_for_run


def _wait_for_run(run_id: int, predicate, *, timeout: float, workers=(), what: str = ""):
    from aggregation.models import AggregationRun

    deadline = time.monotonic() + timeout
    while True:
        run = AggregationRun.objects.get(id=run_id)
        if predicate(run):
            return run
        for worker in workers:
            worker.check_running()
        if time.monotonic() > deadline:
            raise AssertionError(
                f"run {run_id} not {what or 'as expected'} after {timeout} s: status "
                f"{run.status}, phase {run.progress_phase!r}, attempts {run.attempts}"
            )
        time.sleep(0.2)


# --- The browser tests' Chromium ----------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


# Content-Security-Policy violations fail the test that caused them. Chromium reports a
# blocked inline script or style, or a blocked load, twice: as a console message
# ("Applying inline style violates the following Content Security Policy directive ...";
# older versions: "Refused to ...") and as a ``securitypolicyviolation`` event, which this
# script (run in every document before the page's own scripts; CSP does not apply to it)
# logs with a marker. Either is collected.
CSP_MARKER = "CSP violation:"
CSP_PROBE = f"""
document.addEventListener("securitypolicyviolation", (event) => {{
  console.error("{CSP_MARKER} " + event.effectiveDirective + " blocked "
    + (event.blockedURI || "inline") + " in " + event.documentURI
    + (event.lineNumber ? ":" + event.lineNumber : "")
    + (event.sample ? " (" + event.sample + ")" : ""));
}}, true);
"""
CSP_CONSOLE = re.compile(r"Content[- ]Security[- ]Policy|^Refused to |" + re.escape(CSP_MARKER))


class CspWatchedBrowser:
    """The Playwright browser, whose every context (``new_context``, ``new_page``) records
    the CSP violations of its pages in ``violations``; everything else is the browser's."""

    def __init__(self, browser, violations: list[str]):
        self._browser, self.violations = browser, violations

    def _watch(self, context):
        context.add_init_script(CSP_PROBE)

        def on_console(message):
            if CSP_CONSOLE.search(message.text):
                self.violations.append(
                    f"{message.page.url if message.page else '?'}: {message.text}"
                )

        context.on("console", on_console)
        return context

    def new_context(self, **options):
        return self._watch(self._browser.new_context(**options))

    def new_page(self, **options):
        page = self._browser.new_page(**options)
        self._watch(page.context)
        return page

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium, headless, driven by Playwright's sync API. A test during which a
    page reported a Content-Security-Policy violation fails at teardown."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"No Chromium at {CHROMIUM}: run bin/ensure-chromium or set CHROMIUM_PATH")
    # Playwright's sync API runs an event loop in this thread; Django would otherwise refuse
    # the database calls the test makes around it. Set for these tests only, never globally.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield CspWatchedBrowser(browser, violations)
        for context in browser.contexts:  # let the last console messages arrive
            for page in context.pages:
                with contextlib.suppress(Exception):
                    page.wait_for_timeout(100)
        browser.close()
        # ORM calls made while Playwright's loop runs get a connection of their own (its
        # greenlet has its own context); close it, or PostgreSQL cannot drop the test DB.
        connections.close_all()
    if violations:
        pytest.fail(
            f"{len(violations)} Content-Security-Policy violation(s):\n" + "\n".join(violations),
            pytrace=False,
        )


def worker_environment(broker: str, tmp_path: Path, extra: dict | None = None) -> dict:
    """The environment of a real worker process run by a test (WORKER_ENV, this test's
    database, broker and folders; ``extra`` wins)."""
    from django.conf import settings

    return {
        **os.environ,
        **WORKER_ENV,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CONSILIUM_VAR_DIR": str(tmp_path / "var"),
        "EMAIL_URL": "dummymail://",
        # The compile cache the developer's processes share (not the test's var dir).
        "PYTENSOR_FLAGS": os.environ.get("PYTENSOR_FLAGS")
        or f"base_compiledir={settings.BASE_DIR / 'var' / 'pytensor'}",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


def wait_until(page, expression: str, arg=None, *, timeout: float = 15.0) -> None:
    """Poll a JavaScript expression (or function of ``arg``) until it is true.

    Playwright's ``wait_for_function`` polls inside the page with a function built from
    the string, which the site's Content-Security-Policy (no 'unsafe-eval') refuses
    whenever the condition is not already true at the first check: such tests failed
    now and then, whenever a figure was still loading. ``page.evaluate`` runs through
    the DevTools protocol, outside the page's policy.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.1)
