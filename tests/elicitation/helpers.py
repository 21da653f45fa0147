"""Helpers shared by the elicitation tests (fixtures live in conftest.py)."""

import uuid
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from elicitation.links import invitation_magic_link
from elicitation.models import Invitation


def link_path(invitation: Invitation) -> str:
    """The magic link without scheme and host, for the test client."""
    parts = urlsplit(invitation_magic_link(invitation=invitation))
    return f"{parts.path}?{parts.query}"


def form_url(invitation: Invitation) -> str:
    return reverse("elicitation:expert-form", args=[invitation.id])


def client_with_link(invitation: Invitation) -> Client:
    """A browser that has opened this invitation's magic link."""
    client = Client()
    response = client.get(link_path(invitation))
    assert response.status_code == 302, response.content
    return client


def answers_post(questions: dict, **overrides) -> dict:
    """A complete, valid POST of the expert form; override fields by name."""
    data = {
        f"q{questions['Q01'].id}_probability": "35",
        f"q{questions['Q01'].id}_rationale": "Bases matter.",
        f"q{questions['Q02'].id}_probability": "12.5",
        f"q{questions['Q02'].id}_rationale": "",
        f"q{questions['N01'].id}_q05": "2",
        f"q{questions['N01'].id}_q50": "6",
        f"q{questions['N01'].id}_q95": "15",
        f"q{questions['N01'].id}_rationale": "Past deployments.",
    }
    data.update(overrides)
    return data


def expire(invitation: Invitation) -> None:
    invitation.expires_at = timezone.now() - timedelta(minutes=1)
    invitation.save(update_fields=["expires_at"])


@contextmanager
def celery_broker(url: str):
    """Point the Celery app at another broker for a while.

    Sets the read and write URLs, which win over ``broker_url`` and, unlike it, over a
    CELERY_BROKER_URL environment variable (Celery reads that variable first).
    """
    from config.celery import app

    _set_broker(app, url)
    try:
        yield app
    finally:
        _set_broker(app, None)  # back to broker_url


def _set_broker(app, url: str | None) -> None:
    app.conf.broker_read_url = app.conf.broker_write_url = url
    # The app's pools are bound to the URL they were made with. They are dropped, not
    # closed: kombu keeps pools in a global registry by URL and would hand a closed one
    # back the next time this URL is used.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def own_celery_queue(broker_url: str, prefix: str = "consilium-test"):
    """Route tasks to a fresh queue for a while, then delete it from ``broker_url``.

    Parallel test processes, or a colleague's suite, may share one Redis: a queue of our
    own means no other worker takes our tasks, and we take none of theirs.
    """
    from config.celery import app

    previous = app.conf.task_default_queue
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    app.conf.task_default_queue = name
    try:
        yield name
    finally:
        app.conf.task_default_queue = previous
        with celery_broker(broker_url), app.connection_for_write() as connection:
            queue = app.amqp.queues[name].bind(connection.default_channel)
            queue.declare()  # the channel deletes only the bindings it knows of
            queue.delete()
