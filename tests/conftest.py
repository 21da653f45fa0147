"""Shared fixtures: the real broker, a real in-process Celery worker, and test personas.

The broker is whatever CELERY_BROKER_URL names (CI: the Redis service on 127.0.0.1:6379);
without it, a private embedded Redis (config.embedded_redis) is started for the session.
Nothing here mocks the database, the broker or the sampler.

The personas (one set for every test; the survey fixtures of tests/elicitation and
tests/aggregation make them organizers and analysts of their surveys):

organizer       staff ("olivia")
other_staff     staff ("oscar"), organizes nothing: must be refused other people's surveys
member          logged in, not staff ("mallory"): must be refused every organizer page
analyst         in the "analyst" group ("anna")
other_analyst   in the "analyst" group ("otto"), reads no survey
superuser       may do everything ("root")

``organizer_client`` is the test client logged in as the organizer; ``client_as(persona)``
logs the test client in as any persona fixture ("anonymous": nobody).
"""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def broker_url():
    """The URL of a live Redis broker for this test session."""
    from django.conf import settings

    from config.celery import app

    if "CELERY_BROKER_URL" in os.environ:
        yield os.environ["CELERY_BROKER_URL"]
        return
    with embedded_redis_server() as server:
        settings.CELERY_BROKER_URL = server.url
        app.conf.broker_url = server.url
        yield server.url


@contextmanager
def embedded_redis_server(name: str = "redis.sock"):
    """A private, started redis-server in a short temporary directory, removed afterwards.

    Short because unix socket paths are limited to ~100 characters. Tests may stop and
    start it again (the broker-down tests do).
    """
    from config.embedded_redis import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="cons-") as folder:
        server = EmbeddedRedis(Path(folder) / name).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def _no_language_left_active():
    """Each test starts and ends in the site's default language.

    Django's LocaleMiddleware activates a request's language in the thread and nothing
    deactivates it when the response is done: after a test client's request in Korean
    (``HTTP_ACCEPT_LANGUAGE="ko"``, a Korean expert's page), a service called directly in
    the next test in the same worker raised its messages in Korean.
    """
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_var_dirs(settings, tmp_path):
    """Posteriors and figures written by a test stay in its own directory; mail in memory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
    }


# --- Personas ------------------------------------------------------------------------------


def user_create(username: str, **fields):
    """A user with the email and password the personas follow (pw-<username>-123)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username, f"{username}@example.org", f"pw-{username}-123", **fields
    )


@pytest.fixture
def organizer(db):
    return user_create("olivia", is_staff=True)


@pytest.fixture
def other_staff(db):
    return user_create("oscar", is_staff=True)


@pytest.fixture
def member(db):
    return user_create("mallory")


@pytest.fixture
def analyst_group(db):
    from django.contrib.auth.models import Group

    from aggregation.selectors import ANALYST_GROUP

    return Group.objects.get_or_create(name=ANALYST_GROUP)[0]


@pytest.fixture
def analyst(analyst_group):
    user = user_create("anna")
    user.groups.add(analyst_group)
    return user


@pytest.fixture
def other_analyst(analyst_group):
    user = user_create("otto")
    user.groups.add(analyst_group)
    return user


@pytest.fixture
def superuser(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123")


@pytest.fixture
def organizer_client(client, organizer):
    client.force_login(organizer)
    return client


@pytest.fixture
def client_as(request, client):
    """persona -> the test client logged in as that persona fixture's user ("anonymous":
    not logged in). One client per test: logging in as another persona replaces the first."""

    def log_in(persona: str):
        if persona != "anonymous":
            client.force_login(request.getfixturevalue(persona))
        return client

    return log_in
