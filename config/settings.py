"""Consilium settings: one module, every difference between environments is a variable.

README.md lists every variable with its default. With nothing set you get the zero-set-up
development configuration: DEBUG on, SQLite and an embedded Redis under ``var/``.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

# Runtime state of the zero-set-up mode (SQLite file, embedded Redis socket, posteriors).
VAR_DIR = Path(env.str("CONSILIUM_VAR_DIR", default=str(BASE_DIR / "var")))
# PyTensor's compile cache (with the numba code it generates) persists here across
# processes: a warm cache saves most of a fit's compile time. Read by PyTensor when it is
# first imported. The engine's own numba functions (the hierarchical model's density) are
# cached by numba next to their source, or under NUMBA_CACHE_DIR when that is set.
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={VAR_DIR / 'pytensor'}")

_DEV_SECRET_KEY = "dev-only-not-secret-8b2f0d4c6a1e4f3b9d7c5a2e0f1b3d5c7e9a1b2c3d4e5f60"
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. With DEBUG off it must come from the environment, e.g. "
        "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base of links in emails (magic links leave the site by email).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "elicitation",
    "aggregation",
    "resolution",
    "privacy",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Above every middleware that reads the database: a 503 page while it is unreachable.
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'consilium.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at the same time; WAL + a busy timeout keep
    # SQLite from failing with "database is locked" under that light concurrency.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A bounded pool of connections per process (psycopg_pool, Django's built-in pooling):
    # a request borrows one and gives it back at its end, instead of opening a connection
    # per request. A thread holds at most one connection at a time, so a web process needs
    # as many as it has threads: config/gunicorn.conf.py sets DB_POOL_SIZE to WEB_THREADS
    # when it is unset. Other processes (Celery children: the task and its heartbeat
    # thread; manage.py; the tests' threads) default to 4. Connections are opened only when
    # needed, so the bound to keep is: web workers x pool size + worker processes x 4 + a
    # few for beat and
    # manage.py, below PostgreSQL's max_connections (100 by default, 3 of them reserved).
    # DB_POOL_SIZE=0 turns pooling off (one connection per request, e.g. behind PgBouncer).
    # Django refuses a pool with persistent connections: CONN_MAX_AGE must stay 0.
    _pool_size = int(env.str("DB_POOL_SIZE", default="").strip() or 4)
    if _pool_size > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # A pooled connection is checked before it is handed out (a restarted database
        # otherwise fails the first request on each stale connection).
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": _pool_size,
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),  # seconds to wait for one
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a password login while its account and address are locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Experts authenticate only through their invitation link (elicitation.views.expert).
    "sesame.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "after-login"
LOGOUT_REDIRECT_URL = "home"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Magic links: a token is scoped to one invitation (see elicitation.services) and never
# lives longer than this, whatever the invitation's own expiry says.
SESAME_MAX_AGE = env.int("INVITATION_MAX_AGE_DAYS", default=60) * 24 * 3600
SESAME_TOKEN_NAME = "t"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "elicitation" / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only production collects static files (collectstatic); development serves them from the
# apps through WhiteNoise, which would warn about a missing STATIC_ROOT directory.
STATIC_ROOT = None if DEBUG else Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Posteriors (NetCDF) and report figures. Shared storage in production: every worker and
# web server must see the same directory.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- Email -----------------------------------------------------------------------------
# One variable, EMAIL_URL, in django-environ's form: smtp://user:pass@host:25,
# smtp+tls://...:587, smtp+ssl://...:465, consolemail://, filemail:///abs/path.
# Development writes emails as files under var/mail; production defaults to SMTP on localhost.
EMAIL_URL = env.str(
    "EMAIL_URL", default=f"filemail://{VAR_DIR / 'mail'}" if DEBUG else "smtp://localhost:25"
)


def _mailer(url: str) -> dict:
    """A MAILERS entry (Django 6.1) from an EMAIL_URL."""
    config = environ.Env.email_url_config(url)
    backend = config["EMAIL_BACKEND"]
    if backend.endswith("filebased.EmailBackend"):
        path = url.split("://", 1)[1] or str(VAR_DIR / "mail")
        return {"BACKEND": backend, "OPTIONS": {"file_path": path}}
    if backend.endswith("smtp.EmailBackend"):
        names = {
            "EMAIL_HOST": "host",
            "EMAIL_PORT": "port",
            "EMAIL_HOST_USER": "username",
            "EMAIL_HOST_PASSWORD": "password",
            "EMAIL_USE_TLS": "use_tls",
            "EMAIL_USE_SSL": "use_ssl",
        }
        options = {option: config[key] for key, option in names.items() if config.get(key)}
        return {"BACKEND": backend, "OPTIONS": {**options, "timeout": 20}}
    return {"BACKEND": backend}


MAILERS = {"default": _mailer(EMAIL_URL)}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Consilium <consilium@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery ----------------------------------------------------------------------------
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=f"redis+socket://{EMBEDDED_REDIS_SOCKET}")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Redis redelivers an unacknowledged task after this long; longer than any fit we run.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
# Publishing must not hang a web request when the broker is down: the row is committed
# first, and a later sweep (or the organizer) re-sends what did not go out.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker retries a lost broker for as long as it is gone (the default gives up after 100
# retries, about 46 minutes, and exits).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Aggregation runs: a running run whose heartbeat is older than this is taken over by
# another worker; queued runs are re-sent by the recovery sweep (see aggregation.services).
AGGREGATION_STALE_SECONDS = env.int("AGGREGATION_STALE_SECONDS", default=60)
AGGREGATION_HEARTBEAT_SECONDS = env.float("AGGREGATION_HEARTBEAT_SECONDS", default=2.0)
AGGREGATION_RESEND_AFTER_SECONDS = env.int("AGGREGATION_RESEND_AFTER_SECONDS", default=900)
AGGREGATION_RECOVERY_EVERY_SECONDS = env.float("AGGREGATION_RECOVERY_EVERY_SECONDS", default=30.0)
AGGREGATION_MAX_ATTEMPTS = env.int("AGGREGATION_MAX_ATTEMPTS", default=3)
# A running recalibration (resolution app) with no progress for this long is taken over.
RECALIBRATION_STALE_SECONDS = env.int("RECALIBRATION_STALE_SECONDS", default=300)
# Reports do not show a cohort smaller than this separately: it would identify people.
REPORT_MIN_COHORT_SIZE = env.int("REPORT_MIN_COHORT_SIZE", default=3)
CELERY_TASK_TIME_LIMIT = 3300  # a fit longer than this is killed; below the visibility timeout
CELERY_BEAT_SCHEDULE = {
    "aggregation-runs-recover": {
        "task": "aggregation.tasks.aggregation_runs_recover_task",
        "schedule": AGGREGATION_RECOVERY_EVERY_SECONDS,
        # a sweep that waited behind a long fit is stale: the next one will do
        "options": {"expires": AGGREGATION_RECOVERY_EVERY_SECONDS},
    },
    # Scheduled reminders that fell due, and reminder emails a broker outage lost.
    "elicitation-reminders-send-due": {
        "task": "elicitation.tasks.reminders_send_due_task",
        "schedule": 300.0,
    },
    "resolution-recalibrations-recover": {
        "task": "resolution.tasks.recalibration_runs_recover_task",
        "schedule": AGGREGATION_RECOVERY_EVERY_SECONDS,
        "options": {"expires": AGGREGATION_RECOVERY_EVERY_SECONDS},
    },
    # The previous round's feedback of open rounds, rendered into the cache before the
    # experts' pages ask for it (elicitation.feedback.feedback_warm): cheap when it is there.
    "elicitation-feedback-warm": {
        "task": "elicitation.tasks.feedback_warm_task",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # Invitations whose email could not be queued (broker down) go out on the next sweep.
    "elicitation-invitation-send-pending": {
        "task": "elicitation.tasks.invitation_send_pending_task",
        "schedule": 600.0,
    },
}

# --- Throttling -------------------------------------------------------------------------
# Password logins (organizers, analysts, the admin): django-axes counts failures per
# account *and* client address in the database; the fifth failure locks that pair out for
# AXES_COOLOFF_MINUTES (a 429 page that says so). Someone guessing from elsewhere cannot
# lock a real organizer out of their own address.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_WHITELIST_CALLABLE = "elicitation.throttle.is_magic_link_attempt"
# One reading of the client's address for every throttle (see config/client.py).
AXES_CLIENT_IP_CALLABLE = "config.client.client_address"
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
# Magic links: invalid tokens are counted per client address (elicitation.throttle); past
# the limit, further invalid ones get a 429 page until the window ends. A valid link
# always opens, so nobody's guesses lock an expert out of their own link.
LINK_FAILURE_LIMIT = env.int("LINK_FAILURE_LIMIT", default=10)
LINK_FAILURE_WINDOW_SECONDS = env.int("LINK_FAILURE_WINDOW_SECONDS", default=15 * 60)
# The throttles' counters and the expert form's cached feedback must be shared by every web
# process: the database by default, Redis in production (CACHE_URL=redis://127.0.0.1:6379/1).
# The database cache's default of 300 entries would cull the feedback of one large round
# (a fragment per question and language) over and over.
CACHES = {
    "default": env.cache_url("CACHE_URL", default="dbcache://consilium_cache?max_entries=20000")
}

# --- Security (production) -------------------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
# Database sessions whose failed save is a 503, not a 400 (config/sessions.py).
SESSION_ENGINE = "config.sessions"
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_REFERRER_POLICY = "same-origin"  # magic links must not leak through Referer
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The scientific stack logs its start-up chatter at INFO.
        **{
            name: {"level": "WARNING"}
            for name in (
                "axes",  # its start-up line at INFO; lock-outs are WARNING and stay
                "arviz",
                "arviz_base",
                "arviz_stats",
                "arviz_plots",
                "pytensor",
                "numba",
                "nutpie",
                "pymc",
            )
        },
    },
}

# --- Content-Security-Policy -----------------------------------------------------------
# Every response gets this policy (django.middleware.csp): scripts and styles only from our
# own static files, so no template may hold an inline script, a <style> block or a style=
# attribute (tests/test_csp.py greps them); images from here or data: URLs (the blank
# favicon of base.html). A view that sets its own Content-Security-Policy keeps it: the
# middleware leaves an existing header alone (the standalone SVG figures of aggregation
# and resolution; Django's debug pages opt out themselves).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
