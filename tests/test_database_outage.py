"""A database that is down or refuses connections: a 503 page (or JSON), never a 500.

The connection is pointed at a port nothing listens on (PostgreSQL) or at a file in a
folder that does not exist (SQLite), for real: nothing is mocked. ``database_settings``
swaps the connection's settings dict (not settings.DATABASES) and puts everything back,
the pool of a pooled PostgreSQL connection and SQLite's in-memory test database included.
"""

import logging
import socket
from contextlib import ExitStack, contextmanager
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.signals import request_finished
from django.db import IntegrityError, connection, connections
from django.db.utils import OperationalError
from django.http import HttpResponse
from django.template.loader import get_template
from django.templatetags.static import static
from django.test import Client
from django.urls import include, path, reverse
from django.utils import timezone

from config.middleware import DATABASE_UNREACHABLE, OutageLog, is_database_outage, outage_log
from elicitation import services
from elicitation.models import Invitation, Round
from tests.aggregation.conftest import closed_round_build, make_run, panel_build, survey_build
from tests.elicitation.helpers import link_path
from tests.test_csp import template_violations

pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"
)

BUSY_EN = "The site is busy or its database is unreachable; try again in a minute."
BUSY_KO = "사이트가 혼잡하거나 데이터베이스에 연결할 수 없습니다"
UNREACHABLE = "Database unreachable"
REACHABLE = "Database reachable again"


# --- Pointing the connection elsewhere, and back -------------------------------------------


def closed_port() -> int:
    """A local port nothing listens on: bound, then closed at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database_settings(**changes):
    """The default connection with other settings for a while; then exactly as before."""
    conn = connections["default"]
    saved_settings = conn.settings_dict
    saved_raw = None
    if conn.vendor == "sqlite" and conn.is_in_memory_db():
        # Closing would drop the in-memory test database: keep the open one aside.
        saved_raw, conn.connection = conn.connection, None
    else:
        conn.close()
    pools = getattr(type(conn), "_connection_pools", None)  # PostgreSQL's, by alias
    saved_pool = pools.pop(conn.alias, None) if pools is not None else None
    conn.settings_dict = {**saved_settings, **changes}
    try:
        yield conn
    finally:
        conn.close()
        if pools is not None:
            made_here = pools.pop(conn.alias, None)
            if made_here is not None:
                made_here.close()
            if saved_pool is not None:
                pools[conn.alias] = saved_pool
        conn.settings_dict = saved_settings
        if saved_raw is not None:
            conn.connection = saved_raw
        conn.errors_occurred = False


@contextmanager
def database_unreachable(tmp_path):
    conn = connections["default"]
    if conn.vendor == "postgresql":
        changes = {"HOST": "127.0.0.1", "PORT": str(closed_port())}
        pool = conn.settings_dict["OPTIONS"].get("pool")
        if pool:  # a pool waits its timeout for a connection before it gives up
            pool = {**(pool if isinstance(pool, dict) else {}), "timeout": 0.5}
            changes["OPTIONS"] = {**conn.settings_dict["OPTIONS"], "pool": pool}
    else:
        changes = {"NAME": str(tmp_path / "no-such-folder" / "consilium.sqlite3")}
    with database_settings(**changes):
        yield


# --- Fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_outage_log(caplog):
    outage_log.reset()
    caplog.set_level(logging.INFO, logger="config.middleware")
    yield
    outage_log.reset()


@pytest.fixture
def site(db):
    """An organizer, an analyst, a survey with a closed round and a run, an open round."""
    users = get_user_model().objects
    organizer = users.create_user("olivia", "olivia@example.org", "pw-olivia-123", is_staff=True)
    analyst = users.create_user("anna", "anna@example.org", "pw-anna-123")
    survey = survey_build(organizer=organizer, analyst=analyst)
    panel = panel_build(survey=survey)
    run = make_run(closed_round_build(survey=survey, panel=panel), status="queued")
    # An open round made from rows: round_open would email the panel through the broker.
    open_round = services.round_create(survey=survey)
    open_round.questions.set(survey.questions.all())
    now = timezone.now()
    Round.objects.filter(id=open_round.id).update(status=Round.Status.OPEN, opened_at=now)
    invitation = Invitation.objects.create(
        expert=panel["E004"], survey_round=open_round, expires_at=now + timedelta(days=30)
    )
    organizer_client = Client(raise_request_exception=False)
    organizer_client.force_login(organizer)
    expert_client = Client()
    assert expert_client.get(link_path(invitation)).status_code == 302
    return {
        "organizer": organizer,
        "organizer_client": organizer_client,
        "expert_client": expert_client,
        "invitation": invitation,
        "link": link_path(invitation),
        "run": run,
        "survey": survey,
    }


def outage_lines(caplog, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "config.middleware" and text in r.getMessage()
    ]


def request_errors(caplog) -> list:
    """Django's own ERROR lines (a 500, or a 503 logged once per request)."""
    return [r for r in caplog.records if r.name == "django.request" and r.levelno >= logging.ERROR]


def assert_busy_page(response, text: str = BUSY_EN):
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "30"
    assert response["Content-Type"].startswith("text/html")
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert text in html
    assert f'<link rel="stylesheet" href="{static("consilium.css")}">' in html
    assert response.get("Content-Security-Policy"), "the site's policy is on the 503 page too"


def assert_busy_json(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["reason"] == DATABASE_UNREACHABLE
    return body


# --- Pages and JSON during an outage, and after it ---------------------------------------------


def test_every_kind_of_page_answers_503_and_the_outage_is_logged_once(
    site, tmp_path, caplog, broker_url
):
    organizer_client, expert_client = site["organizer_client"], site["expert_client"]
    invitation, run = site["invitation"], site["run"]
    survey_page = reverse("elicitation:survey-detail", args=[site["survey"].id])
    welcome = reverse("elicitation:expert-welcome", args=[invitation.id])
    progress = reverse("aggregation:run-progress", args=[run.id])
    recalibration = reverse("resolution:recalibration-progress", args=[run.id])
    login = {"username": "olivia", "password": "pw-olivia-123"}

    with database_unreachable(tmp_path):
        assert_busy_page(organizer_client.get(survey_page))
        assert_busy_page(expert_client.get(welcome))  # an expert who opened their link
        assert_busy_page(Client().get(site["link"]))  # the magic link itself
        assert_busy_page(Client().post(reverse("login"), login))
        # No such page is no such page: the 404 page's menu ({% if user.is_authenticated %})
        # reads the session, and a template's {% if %} takes the error for False.
        assert organizer_client.get("/no-such-page/").status_code == 404
        assert_busy_json(organizer_client.get(progress))
        assert_busy_json(organizer_client.get(recalibration))
        health = Client().get("/healthz")
        body = assert_busy_json(health)
        assert "database" in body["failing"]
        assert body["checks"]["database"]["ok"] is False

    assert len(outage_lines(caplog, UNREACHABLE)) == 1, caplog.text
    assert not outage_lines(caplog, REACHABLE)
    assert not request_errors(caplog), caplog.text

    # Back: the same requests answer as they did before, with no restart.
    assert organizer_client.get(survey_page).status_code == 200
    assert len(outage_lines(caplog, REACHABLE)) == 1
    assert expert_client.get(welcome).status_code == 200
    assert Client().get(site["link"]).status_code == 302
    assert Client().post(reverse("login"), login).status_code == 302
    assert organizer_client.get(progress).json()["status"] == "queued"
    assert organizer_client.get("/no-such-page/").status_code == 404
    assert Client().get("/healthz").json()["checks"]["database"]["ok"] is True
    assert len(outage_lines(caplog, REACHABLE)) == 1
    assert len(outage_lines(caplog, UNREACHABLE)) == 1


def test_the_busy_page_is_in_the_language_of_the_request(site, tmp_path):
    welcome = reverse("elicitation:expert-welcome", args=[site["invitation"].id])
    with database_unreachable(tmp_path):
        response = site["expert_client"].get(welcome, headers={"accept-language": "ko"})
        assert_busy_page(response, BUSY_KO)
        assert response["Content-Language"] == "ko"
        assert '<html lang="ko">' in response.content.decode()
        body = assert_busy_json(
            site["organizer_client"].get(
                reverse("aggregation:run-progress", args=[site["run"].id]),
                headers={"accept-language": "ko"},
            )
        )
        assert BUSY_KO in body["message"]


def test_a_long_outage_is_logged_again_at_most_once_a_minute(site, tmp_path, caplog):
    now = [1000.0]
    survey_page = reverse("elicitation:survey-detail", args=[site["survey"].id])
    client = site["organizer_client"]
    with pytest.MonkeyPatch.context() as patch, database_unreachable(tmp_path):
        patch.setattr(outage_log, "clock", lambda: now[0])
        for _ in range(3):
            assert client.get(survey_page).status_code == 503
        now[0] += 61
        for _ in range(3):
            assert client.get(survey_page).status_code == 503
    assert len(outage_lines(caplog, UNREACHABLE)) == 1
    still = outage_lines(caplog, "Database still unreachable after 61 s")
    assert len(still) == 1 and "3 more request(s)" in still[0], caplog.text


def test_a_session_saved_after_the_view_is_a_503_too(settings, tmp_path, caplog):
    """SessionMiddleware writes the session after the view: Django makes its error a 500."""
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    with database_unreachable(tmp_path):
        assert_busy_page(client.get("/test-outage/session/"))
    assert len(outage_lines(caplog, UNREACHABLE)) == 1
    assert not request_errors(caplog), caplog.text


def test_an_existing_session_the_database_cannot_save_is_a_503_not_a_400(
    settings, tmp_path, caplog, db
):
    """A session read while the database answered, and saved after the view when it no
    longer does (PostgreSQL gone, SQLite locked past its busy timeout under load): Django's
    database backend calls that an UpdateError, and SessionMiddleware would answer 400
    "session interrupted", as for a session another request deleted."""
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    assert client.get("/test-outage/session/").status_code == 200  # the session exists
    _AFTER_THE_VIEW.tmp_path = tmp_path
    try:
        assert_busy_page(client.get("/test-outage/session-then-outage/"))
    finally:
        _AFTER_THE_VIEW.close()
    assert len(outage_lines(caplog, UNREACHABLE)) == 1
    assert not request_errors(caplog), caplog.text
    assert client.get("/test-outage/session/").status_code == 200  # and back


def test_the_session_store_raises_the_database_error_with_its_driver_cause(tmp_path, db):
    """The 503 is decided from the driver's error (SQLITE_BUSY, a SQLSTATE), which Django
    keeps as the cause of its own: the session store must raise it with that chain."""
    from config.sessions import SessionStore

    store = SessionStore()
    store["seen"] = True
    store.save(must_create=True)
    store["seen"] = "again"
    with database_unreachable(tmp_path), pytest.raises(OperationalError) as raised:
        store.save()
    assert raised.value.__cause__ is not None  # the driver's error
    assert type(raised.value.__cause__).__module__.startswith(("sqlite3", "psycopg"))
    assert is_database_outage(raised.value)


def test_a_session_another_request_deleted_is_still_session_interrupted(settings, db):
    """Only an unreachable database turns into the 503: a session deleted meanwhile (a
    logout in another tab) keeps Django's answer."""
    from django.contrib.sessions.models import Session

    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    assert client.get("/test-outage/session/").status_code == 200
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    response = client.get("/test-outage/session-deleted-meanwhile/")
    assert response.status_code == 400
    assert not Session.objects.filter(session_key=key).exists()


# --- What is not an outage stays a 500 ---------------------------------------------------------


def test_genuine_database_errors_stay_500(settings, site, caplog):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    for url in ("/test-outage/syntax/", "/test-outage/integrity/"):
        response = client.get(url)
        assert response.status_code == 500, url
        assert "Retry-After" not in response
    assert not outage_lines(caplog, UNREACHABLE)


def test_a_server_error_during_an_outage_still_gets_the_500_page(settings, tmp_path):
    """500.html is rendered without a request: the handler needs no database."""
    settings.ROOT_URLCONF = __name__
    with database_unreachable(tmp_path):
        response = Client(raise_request_exception=False).get("/test-outage/crash/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_the_classification_of_driver_errors(tmp_path):
    import sqlite3

    def wrapped(driver_error):  # what Django's DatabaseErrorWrapper raises
        exc = OperationalError(*driver_error.args)
        exc.__cause__ = driver_error
        return exc

    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError) as locked:
            sqlite3.connect(path, timeout=0).execute("INSERT INTO t VALUES (1)")
    finally:
        holder.close()
    assert is_database_outage(wrapped(locked.value))  # "database is locked": busy
    with pytest.raises(sqlite3.OperationalError) as syntax:
        sqlite3.connect(":memory:").execute("SELEC 1")
    assert not is_database_outage(wrapped(syntax.value))
    with pytest.raises(sqlite3.OperationalError) as missing:
        sqlite3.connect(":memory:").execute("SELECT * FROM no_such_table")
    assert not is_database_outage(wrapped(missing.value))
    assert not is_database_outage(IntegrityError("duplicate key"))
    assert not is_database_outage(ValueError("no"))
    assert not is_database_outage(None)


def test_the_outage_log_counts_every_line_against_one_limit(caplog):
    now = [0.0]
    log = OutageLog(repeat_seconds=60, clock=lambda: now[0])
    error = OperationalError("connection refused")
    log.failed(error)
    log.succeeded()  # flapping: refused, then served, then refused again
    now[0] = 5
    log.failed(error)
    log.succeeded()  # an outage that was never logged ends silently
    now[0] = 70
    log.failed(error)
    log.succeeded()
    messages = [r.getMessage() for r in caplog.records if r.name == "config.middleware"]
    assert [m.split(",")[0].split(" after")[0] for m in messages] == [
        UNREACHABLE,
        REACHABLE,
        UNREACHABLE,
        REACHABLE,
    ], messages
    assert "(2 request(s) so far)" in messages[2]


def test_the_503_page_needs_no_context_and_no_inline_style():
    html = get_template("503.html").render()
    assert f'<link rel="stylesheet" href="{static("consilium.css")}">' in html
    assert 'class="error-page"' in html
    assert BUSY_EN in html
    assert not template_violations(html)


# --- PostgreSQL: a refused login, a lost connection ------------------------------------------


@postgres_only
def test_too_many_connections_is_a_503(site, tmp_path, caplog):
    """PostgreSQL's "too many connections" (SQLSTATE 53300), for a role limited to none."""
    import uuid

    import psycopg

    conn = connections["default"]
    role = f"outage_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(**_raw_params(conn), autocommit=True)
    try:
        admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
        survey_page = reverse("elicitation:survey-detail", args=[site["survey"].id])
        with database_settings(USER=role, PASSWORD="", **_shorter_pool_wait(conn)):
            assert_busy_page(site["organizer_client"].get(survey_page))
        assert len(outage_lines(caplog, UNREACHABLE)) == 1
        assert site["organizer_client"].get(survey_page).status_code == 200
    finally:
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


@postgres_only
@pytest.mark.parametrize("kind", ["persistent", "pooled"])
def test_a_lost_connection_is_dropped_at_the_end_of_the_request(site, caplog, kind):
    """The server ends our session (a restart, pg_terminate_backend): one 503, then the next
    request gets a new connection; a persistent or pooled one is not kept broken."""
    import psycopg

    conn = connections["default"]
    options = {k: v for k, v in conn.settings_dict["OPTIONS"].items() if k != "pool"}
    if kind == "pooled":
        pytest.importorskip("psycopg_pool")
        changes = {
            "CONN_MAX_AGE": 0,
            "OPTIONS": {**options, "pool": {"min_size": 1, "max_size": 2}},
        }
    else:
        changes = {"CONN_MAX_AGE": 600, "CONN_HEALTH_CHECKS": False, "OPTIONS": options}
    survey_page = reverse("elicitation:survey-detail", args=[site["survey"].id])
    client = site["organizer_client"]
    with database_settings(**changes):
        conn.ensure_connection()
        with conn.connection.cursor() as cursor, pytest.raises(psycopg.OperationalError):
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        assert_busy_page(client.get(survey_page))
        request_finished.send(sender=None)  # what the WSGI server's response.close() sends
        assert conn.connection is None, "the broken connection was not dropped"
        assert client.get(survey_page).status_code == 200
    assert len(outage_lines(caplog, UNREACHABLE)) == 1
    assert len(outage_lines(caplog, REACHABLE)) == 1


def _raw_params(conn) -> dict:
    params = {"host": conn.settings_dict["HOST"] or None, "dbname": conn.settings_dict["NAME"]}
    params["user"] = conn.settings_dict["USER"] or None
    params["password"] = conn.settings_dict["PASSWORD"] or None
    params["port"] = conn.settings_dict["PORT"] or None
    return {k: v for k, v in params.items() if v is not None}


def _shorter_pool_wait(conn) -> dict:
    pool = conn.settings_dict["OPTIONS"].get("pool")
    if not pool:
        return {}
    pool = {**(pool if isinstance(pool, dict) else {}), "timeout": 0.5}
    return {"OPTIONS": {**conn.settings_dict["OPTIONS"], "pool": pool}}


# --- Views of this module's URLconf (settings.ROOT_URLCONF = __name__) ----------------------


def _session_view(request):
    request.session["seen"] = True  # an anonymous session: no read, a write after the view
    return HttpResponse("ok")


class _AfterTheView(ExitStack):
    """Where _session_then_outage_view leaves the database unreachable until the test ends."""

    tmp_path = None


_AFTER_THE_VIEW = _AfterTheView()


def _session_then_outage_view(request):
    request.session["seen"] = "again"  # reads the existing session: the database answers
    _AFTER_THE_VIEW.enter_context(database_unreachable(_AFTER_THE_VIEW.tmp_path))
    return HttpResponse("ok")  # SessionMiddleware's save, after this, finds no database


def _session_deleted_meanwhile_view(request):
    from django.contrib.sessions.models import Session

    request.session["seen"] = "again"
    Session.objects.filter(session_key=request.session.session_key).delete()
    return HttpResponse("ok")


def _syntax_error_view(request):
    with connection.cursor() as cursor:
        cursor.execute("SELEC 1")  # SQLite: OperationalError; PostgreSQL: ProgrammingError


def _integrity_error_view(request):
    get_user_model().objects.create_user("twice")
    get_user_model().objects.create_user("twice")


def _crash_view(request):
    raise RuntimeError("a bug, while the database is down")


urlpatterns = [
    path("test-outage/session/", _session_view),
    path("test-outage/session-then-outage/", _session_then_outage_view),
    path("test-outage/session-deleted-meanwhile/", _session_deleted_meanwhile_view),
    path("test-outage/syntax/", _syntax_error_view),
    path("test-outage/integrity/", _integrity_error_view),
    path("test-outage/crash/", _crash_view),
    path("", include("config.urls")),  # the error pages link to the site's own pages
]
