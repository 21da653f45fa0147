"""Settings come from the environment; production settings pass `check --deploy`."""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-" + "x7Qz9" * 12,
    "ALLOWED_HOSTS": "consilium.example.org",
    "DATABASE_URL": "postgres://consilium@db.internal:5432/consilium",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.org:587",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # A production-like environment: none of the variables under test, and nothing a test
    # harness may have set (the browser tests allow async-unsafe calls in their process).
    unset = {*PRODUCTION, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_off_without_secret_key_fails_with_a_clear_message():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_email_url_becomes_a_mailer(settings):
    from config.settings import _mailer

    smtp = _mailer("smtp+tls://mailer:secret@smtp.example.org:587")
    assert smtp["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert smtp["OPTIONS"]["host"] == "smtp.example.org"
    assert smtp["OPTIONS"]["port"] == 587
    assert smtp["OPTIONS"]["use_tls"] is True
    assert smtp["OPTIONS"]["username"] == "mailer"
    files = _mailer("filemail:///var/spool/consilium")
    assert files["OPTIONS"] == {"file_path": "/var/spool/consilium"}


def _pool_settings(**env: str) -> dict:
    code = (
        "import json; from django.conf import settings; d = settings.DATABASES['default']; "
        "print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), "
        "'max_age': d.get('CONN_MAX_AGE')}))"
    )
    result = manage("shell", "-c", code, **{**PRODUCTION, **env})
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_postgresql_connections_are_pooled_and_bounded():
    # Django refuses a pool with persistent connections (CONN_MAX_AGE must stay 0).
    assert _pool_settings() == {
        "pool": {"min_size": 1, "max_size": 4, "timeout": 10.0},
        "max_age": 0,
    }
    assert _pool_settings(DB_POOL_SIZE="6")["pool"]["max_size"] == 6
    assert _pool_settings(DB_POOL_SIZE="0")["pool"] is None
    assert _pool_settings(DATABASE_URL="sqlite:///tmp/x.sqlite3")["pool"] is None


def test_gunicorn_sizes_the_pool_to_its_threads(monkeypatch):
    for name in ("WEB_WORKERS", "WEB_THREADS", "WEB_WORKER_CLASS", "DB_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert config["worker_class"] == "gthread" and config["threads"] == 2
    assert 1 <= config["workers"] <= 8
    assert os.environ["DB_POOL_SIZE"] == "2"
    monkeypatch.setenv("WEB_THREADS", "4")
    monkeypatch.delenv("DB_POOL_SIZE")
    runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert os.environ["DB_POOL_SIZE"] == "4"
    monkeypatch.setenv("DB_POOL_SIZE", "3")  # an explicit size is kept
    runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert os.environ["DB_POOL_SIZE"] == "3"


def test_gunicorn_loads_the_application_once_unless_told_not_to(monkeypatch):
    monkeypatch.delenv("WEB_PRELOAD", raising=False)
    monkeypatch.setenv("DB_POOL_SIZE", "2")  # the file sets it when unset: restored after
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))["preload_app"] is True
    monkeypatch.setenv("WEB_PRELOAD", "0")
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))["preload_app"] is False


def test_the_wsgi_application_has_every_view_loaded_and_no_database_connection():
    """What a server loads before its first request (once, in gunicorn's master, which
    then forks): the views are imported, and no connection is open to be shared by forks."""
    unset = {*PRODUCTION, "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    probe = (
        "import sys, config.wsgi; from django.db import connections; "
        "print(sorted(m for m in ('aggregation.views', 'elicitation.views.expert', "
        "'api.urls') if m in sys.modules)); "
        "print([a for a in connections if connections[a].connection is not None])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env={**clean, **PRODUCTION},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    loaded, open_connections = result.stdout.splitlines()
    assert loaded == "['aggregation.views', 'api.urls', 'elicitation.views.expert']"
    assert open_connections == "[]"
