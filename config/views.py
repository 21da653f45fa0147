"""Site-wide views: the home page and the health check."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from config.celery import app as celery_app
from config.middleware import (
    DATABASE_UNREACHABLE,
    RETRY_AFTER_SECONDS,
    is_database_outage,
    outage_log,
)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@login_required
def after_login(request: HttpRequest) -> HttpResponse:
    """Organizers land on their surveys, analysts (not staff) on the reports they may read."""
    return redirect(
        "elicitation:survey-list" if request.user.is_staff else "aggregation:report-index"
    )


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "down"; the message says which
        if is_database_outage(exc):
            outage_log.failed(exc)  # the site's outage log, once per outage
        return f"{type(exc).__name__}: {exc}"
    outage_log.succeeded()
    return None


def _check_broker_and_workers() -> tuple[str | None, list[str], str | None]:
    """(broker error, worker names, worker error), on one fresh connection.

    A fresh connection with one retry, never the app's pool: a pooled connection to a
    broker that went away retries forever, and a health check must answer.
    """
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            replies = _ping_mailbox()(conn)._broadcast("ping", {}, reply=True, timeout=1.0)
    except Exception as exc:  # kombu raises many types; the message says which
        error = f"{type(exc).__name__}: {exc}"
        return error, [], "broker unreachable, workers cannot be pinged"
    workers = sorted(name for reply in replies for name in reply)
    return None, workers, None if workers else "no Celery worker answered a ping within 1 s"


def _ping_mailbox():
    """Celery's control mailbox without its producer pool (``control.ping`` publishes
    through the pool, whose connection retries forever when the broker is down)."""
    conf = celery_app.conf
    return celery_app.control.Mailbox(
        conf.control_exchange,
        type="fanout",
        accept=conf.accept_content,
        serializer=conf.task_serializer,
    )


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and at least one worker answer; 503 naming the rest.

    Without the database the site cannot serve: then the body says ``"status":
    "unavailable"`` with the same ``reason`` and ``Retry-After`` as every other JSON
    answer of config.middleware in an outage; a broker or worker failure is ``"fail"``.
    """
    checks: dict[str, dict] = {}
    error = _check_database()
    checks["database"] = {"ok": error is None, "error": error, "vendor": connection.vendor}
    broker_error, workers, workers_error = _check_broker_and_workers()
    checks["broker"] = {"ok": broker_error is None, "error": broker_error}
    checks["workers"] = {"ok": workers_error is None, "error": workers_error, "names": workers}
    failing = [name for name, check in checks.items() if not check["ok"]]
    if "database" in failing:
        body = {"status": "unavailable", "reason": DATABASE_UNREACHABLE}
    else:
        body = {"status": "ok" if not failing else "fail"}
    body.update(failing=failing, checks=checks)
    response = JsonResponse(body, status=200 if not failing else 503)
    if "database" in failing:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # A failing part is the answer to the question asked, not an error of this server:
    # monitors poll this page, and Django would log every 503 at ERROR.
    response._has_been_logged = True
    return response
