"""Helpers shared by the elicitation tests (fixtures live in conftest.py)."""

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

    The app keeps a connection pool (and a producer pool over it) bound to the URL it was
    first used with, so both are dropped on the way in and on the way out.
    """
    from config.celery import app

    previous = app.conf.broker_url
    _set_broker(app, url)
    try:
        yield app
    finally:
        _set_broker(app, previous)


def _set_broker(app, url: str) -> None:
    # Not closed: kombu keeps pools in a global registry by URL and would hand the closed
    # one back the next time this URL is used.
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
