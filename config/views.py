"""Site-wide views: the home page and the health check."""

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from config.celery import app as celery_app


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "down"; the message says which
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _ping_workers() -> tuple[list[str], str | None]:
    try:
        replies = celery_app.control.ping(timeout=1.0)
    except Exception as exc:
        return [], f"{type(exc).__name__}: {exc}"
    workers = sorted(name for reply in replies for name in reply)
    return workers, None if workers else "no Celery worker answered a ping within 1 s"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and at least one worker answer; 503 naming the rest."""
    checks: dict[str, dict] = {}
    error = _check_database()
    checks["database"] = {"ok": error is None, "error": error, "vendor": connection.vendor}
    error = _check_broker()
    checks["broker"] = {"ok": error is None, "error": error}
    if error is None:
        workers, error = _ping_workers()
    else:
        workers, error = [], "broker unreachable, workers cannot be pinged"
    checks["workers"] = {"ok": error is None, "error": error, "names": workers}
    failing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ok" if not failing else "fail", "failing": failing, "checks": checks}
    return JsonResponse(body, status=200 if not failing else 503)
