"""A database that is down or refuses connections gets a 503 answer, never a 500.

When PostgreSQL is down, restarting, or full ("sorry, too many clients already"), or the
SQLite file cannot be opened, every page fails the same way. ``DatabaseUnavailableMiddleware``
answers those requests with a short 503 page (``templates/503.html``, in the request's
language, ``Retry-After: 30``), or a JSON body ``{"status": "unavailable", ...}`` for
``/healthz`` and the ``*.json`` endpoints. The outage is logged once when it starts, at most
once a minute while it lasts, and once when the database answers again, not once a request.

Where the error is caught:

* In a view, a view decorator or a template a view renders: ``process_exception``.
* Anywhere else below this middleware (SessionMiddleware saving a session after the view,
  an error handler whose page fails): Django turns every exception a middleware raises
  into a 500 response right there (``convert_exception_to_response``), so no ``try``
  around ``get_response`` would ever see it. Django sends ``got_request_exception`` on
  the way; the receiver below marks the request, and ``__call__`` replaces that 500 with
  the 503. Django's "Internal Server Error" log record of it is dropped (a filter on
  ``django.request``): the outage log says it once.

Django's 500 page (``server_error``) renders 500.html without a request, so it needs no
database. The 404/403/400 pages extend base.html, whose menu reads ``request.user`` (the
session): in an outage their ``{% if %}`` takes that error for False, and they render as
for a visitor who is not logged in.

The session and auth middleware themselves read the database lazily, when a view or a
template first looks at ``request.user``; so this middleware sits right above
SessionMiddleware, and below SecurityMiddleware, ContentSecurityPolicyMiddleware and
WhiteNoise (the 503 gets the site's headers; static files never reach the database).

Only errors that mean "no usable connection" count (``is_database_outage``); an integrity
error, a syntax error or a deadlock stays a 500. Django closes a connection that had such
an error at the end of the request (``close_old_connections``, also with CONN_MAX_AGE), so
the next request connects afresh and the site recovers by itself.
"""

import logging
import sys
import threading
import time

from django.core.signals import got_request_exception
from django.db import connections
from django.db.utils import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.translation import gettext

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
# The "reason" of every JSON answer (here and /healthz) when the database is the cause.
DATABASE_UNREACHABLE = "database unreachable"

# PostgreSQL SQLSTATEs that mean the server cannot serve this connection: class 08
# (connection exception), class 53 (insufficient resources: 53300 too many connections),
# and the server shutting down, crashed or starting up (57P01, 57P02, 57P03).
_PG_OUTAGE_CLASSES = ("08", "53")
_PG_OUTAGE_STATES = {"57P01", "57P02", "57P03"}
# SQLite: the file cannot be opened, or another writer held the lock past the timeout.
_SQLITE_OUTAGE_ERRORS = {"SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_LOCKED"}


def is_database_outage(exc: BaseException | None) -> bool:
    """True when ``exc`` says the database cannot be reached or used right now.

    Django wraps the driver's error (kept as ``__cause__``) in its own OperationalError or
    InterfaceError; those classes also cover genuine mistakes (SQLite reports a syntax
    error or a missing table as OperationalError, PostgreSQL a deadlock), so the driver's
    code decides when there is one. psycopg gives no SQLSTATE for what happens on the
    client side (connection refused, "too many clients" at connect, a connection lost or
    already closed): those count when no live connection is left.
    """
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    driver_error = exc.__cause__ or exc
    sqlstate = getattr(driver_error, "sqlstate", None)
    if sqlstate:
        return sqlstate[:2] in _PG_OUTAGE_CLASSES or sqlstate in _PG_OUTAGE_STATES
    sqlite_error = getattr(driver_error, "sqlite_errorname", None)
    if sqlite_error:
        return sqlite_error in _SQLITE_OUTAGE_ERRORS
    return any(not _is_live(conn) for conn in connections.all(initialized_only=True))


def _is_live(conn) -> bool:
    """The connection is open and the driver does not know it to be broken (no query)."""
    raw = conn.connection
    return (
        raw is not None and not getattr(raw, "closed", False) and not getattr(raw, "broken", False)
    )


class OutageLog:
    """Logs an outage when it starts, then at most every ``repeat_seconds``, and its end.

    Every line counts against the same limit, so an outage that comes and goes (some
    connections refused, others not) still logs at most once a ``repeat_seconds``: a
    failure soon after the last line is only counted, and the end of an outage that was
    never logged is not logged either. One per process: each web process logs its own.
    """

    def __init__(self, repeat_seconds: float = 60.0, clock=time.monotonic):
        self.repeat_seconds = repeat_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self.since: float | None = None  # start of the current outage
        self._announced = False  # the current outage has been logged
        self._logged_at: float | None = None
        self._refused = 0  # requests refused since the last line

    @property
    def active(self) -> bool:
        return self.since is not None

    def reset(self) -> None:
        """Forget any outage and the last line (tests start from a clean state)."""
        with self._lock:
            self.since, self._announced, self._logged_at, self._refused = None, False, None, 0

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        with self._lock:
            self._refused += 1
            if self.since is None:
                self.since = now
            if self._logged_at is not None and now - self._logged_at < self.repeat_seconds:
                return
            refused, self._refused = self._refused, 0
            continuing, self._announced = self._announced, True
            self._logged_at = now
            duration = now - self.since
        reason = " ".join(f"{type(exc.__cause__ or exc).__name__}: {exc}".split())
        if not continuing:
            logger.error(
                "Database unreachable, answering 503 until it is back (%d request(s) so far): %s",
                refused,
                reason,
            )
        else:
            logger.error(
                "Database still unreachable after %.0f s, %d more request(s) answered 503: %s",
                duration,
                refused,
                reason,
            )

    def succeeded(self) -> None:
        if self.since is None:
            return
        with self._lock:
            if self.since is None:
                return
            duration, self.since = self.clock() - self.since, None
            announced, self._announced = self._announced, False
            if announced:
                self._logged_at, self._refused = self.clock(), 0
        if announced:
            logger.warning("Database reachable again after %.0f s", duration)


outage_log = OutageLog()


def database_used_successfully() -> bool:
    """A connection was opened (or is kept) and is live: the database answered."""
    return any(_is_live(conn) for conn in connections.all(initialized_only=True))


def _note_outage(request: HttpRequest, exc: BaseException) -> None:
    if getattr(request, "_database_outage", None) is None:
        request._database_outage = exc
        outage_log.failed(exc)


@receiver(got_request_exception, dispatch_uid="config.middleware.database_outage")
def _on_request_exception(sender, request=None, **kwargs):
    """Marks a request whose uncaught exception is an outage (Django makes it a 500)."""
    exc = sys.exc_info()[1]
    if isinstance(request, HttpRequest) and is_database_outage(exc):
        _note_outage(request, exc)


class _DropOutageRecords(logging.Filter):
    """Drops django.request's traceback of an outage: OutageLog reports it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and is_database_outage(record.exc_info[1]))


_drop_outage_records = _DropOutageRecords()


def wants_json(request: HttpRequest) -> bool:
    """The health check and the progress endpoints (``*.json``) are read by programs."""
    match = getattr(request, "resolver_match", None)
    return (
        request.path_info.endswith(".json")
        or request.path_info.rstrip("/") == "/healthz"
        or (match is not None and match.url_name == "healthz")
    )


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """The 503 answer: JSON for programs, otherwise templates/503.html.

    Rendered without a request (like Django's 500 page), so no context processor can
    reach for the database; the language is the request's (cookie, Accept-Language).
    """
    language = translation.get_language_from_request(request)
    with translation.override(language):
        message = gettext("The site is busy or its database is unreachable; try again in a minute.")
        if wants_json(request):
            response = JsonResponse(
                {"status": "unavailable", "reason": DATABASE_UNREACHABLE, "message": message},
                status=503,
            )
        else:
            response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Content-Language"] = language
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    add_never_cache_headers(response)
    # Logged by OutageLog, once per outage; Django would log every 503 at ERROR.
    response._has_been_logged = True
    return response


class DatabaseUnavailableMiddleware:
    """503 instead of 500 while the database is unreachable (see the module's docstring)."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response
        logging.getLogger("django.request").addFilter(_drop_outage_records)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self.get_response(request)
        except (OperationalError, InterfaceError) as exc:  # DEBUG_PROPAGATE_EXCEPTIONS
            if not is_database_outage(exc):
                raise
            _note_outage(request, exc)
            return unavailable_response(request)
        if getattr(request, "_database_outage", None) is not None:
            if response.status_code == 500:
                response = unavailable_response(request)
        elif outage_log.active and database_used_successfully():
            outage_log.succeeded()
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_database_outage(exception):
            return None
        _note_outage(request, exception)
        return unavailable_response(request)
