"""GET /healthz: the state of the database, the broker and the workers."""

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app
from tests.conftest import embedded_redis_server
from tests.elicitation.helpers import celery_broker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private_broker():
    """A Redis of this test's own, so no other test's worker answers our pings."""
    with embedded_redis_server() as server, celery_broker(server.url):
        yield server


def test_all_up_is_200_and_names_the_worker(client, private_broker):
    with start_worker(app, perform_ping_check=False, pool="solo", hostname="healthcheck@test"):
        # /healthz waits 1 s for pings; a worker thread starved by a parallel test's
        # sampler can miss one, so ask a few times (a worker that never answers still fails)
        for _ in range(5):
            response = client.get("/healthz")
            if response.status_code == 200:
                break
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    assert body["checks"]["database"]["ok"] is True
    assert "healthcheck@test" in body["checks"]["workers"]["names"]


def test_no_worker_is_503_naming_the_workers(client, private_broker):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["workers"]
    assert "no Celery worker answered" in body["checks"]["workers"]["error"]


def test_broker_down_is_503_naming_broker_and_workers(client, private_broker):
    private_broker.stop()
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["failing"] == ["broker", "workers"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["error"]


def test_health_is_never_cached(client, private_broker):
    response = client.get("/healthz")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
