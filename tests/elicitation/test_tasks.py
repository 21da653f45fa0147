"""Invitation emails through a real Celery worker on a real Redis broker; the broker down.

Each worker test consumes from a queue of its own, so that parallel test processes (or a
colleague's suite) sharing one Redis never take each other's tasks.
"""

import logging
import time

import pytest
from celery import signals
from celery.contrib.testing.worker import TestWorkController, start_worker
from django.core import mail
from django.urls import reverse

from elicitation.models import Invitation, Judgment
from elicitation.tasks import invitation_send_pending_task, invitation_send_task
from tests.conftest import embedded_redis_server
from tests.elicitation.helpers import (
    answers_post,
    celery_broker,
    client_with_link,
    form_url,
    own_celery_queue,
)

transactional = pytest.mark.django_db(transaction=True)


class ReadySignallingWorker(TestWorkController):
    """The in-process test worker, plus the ``worker_ready`` signal `celery worker` sends."""

    __test__ = False

    def on_consumer_ready(self, consumer):
        super().on_consumer_ready(consumer)
        signals.worker_ready.send(sender=consumer)


def wait_for_emails(count: int, timeout: float = 30.0) -> None:
    """Wait until the worker has sent ``count`` emails in all.

    Polls the outbox, not the database: on SQLite's shared in-memory test database a read
    here would make the worker's concurrent write fail with "database table is locked".
    """
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(mail.outbox)} of {count} emails after {timeout} s")
        time.sleep(0.1)


@pytest.fixture
def own_queue(broker_url):
    with own_celery_queue(broker_url) as name:
        yield name


def _worker(app, queue: str, **kwargs):
    return start_worker(
        app, perform_ping_check=False, queues=[queue], shutdown_timeout=30, **kwargs
    )


def _open_round(client, survey_round_id: int, link_days: str = "14"):
    from elicitation.models import Round

    survey = Round.objects.get(id=survey_round_id).survey
    return client.post(
        reverse("elicitation:round-open", args=[survey_round_id]),
        {"questions": list(survey.questions.values_list("id", flat=True)), "link_days": link_days},
    )


@transactional
def test_opening_a_round_emails_each_expert_their_link_via_a_real_worker(
    broker_url, own_queue, organizer_client, survey, expert, other_expert
):
    from elicitation import services

    survey_round = services.round_create(survey=survey)
    with celery_broker(broker_url) as app, _worker(app, own_queue):
        response = _open_round(organizer_client, survey_round.id)
        assert response.status_code == 302
        wait_for_emails(2)
    assert not Invitation.objects.filter(sent_at__isnull=True).exists()
    assert sorted(message.to[0] for message in mail.outbox) == [
        "bob@example.org",
        "eunji@example.org",
    ]
    invitation = Invitation.objects.get(expert=expert)
    message = next(m for m in mail.outbox if m.to == ["eunji@example.org"])
    assert f"/e/{invitation.id}/?t=" in message.body
    assert "round 1" in message.subject
    link = message.body.split(f"/e/{invitation.id}/", 1)[1].split()[0]
    assert client_with_link_path(f"/e/{invitation.id}/{link}").status_code == 302


def client_with_link_path(path: str):
    from django.test import Client

    return Client().get(path)


@transactional
def test_a_redelivered_send_task_does_not_email_twice(broker_url, own_queue, invitation):
    with celery_broker(broker_url) as app, _worker(app, own_queue):
        for _ in range(3):  # the same message delivered again, e.g. after a worker crash
            invitation_send_task.delay(invitation.id)
        wait_for_emails(1)
        invitation_send_task.delay(invitation.id)
        time.sleep(1.5)  # let the worker take the late duplicates too
    invitation.refresh_from_db()
    assert invitation.sent_at is not None
    assert len([m for m in mail.outbox if m.to == ["eunji@example.org"]]) == 1


@transactional
def test_with_the_broker_down_the_round_opens_answers_save_and_emails_follow_later(
    own_queue, organizer_client, survey, questions, expert, other_expert, caplog
):
    from elicitation import services

    survey_round = services.round_create(survey=survey)
    with embedded_redis_server("down.sock") as server, celery_broker(server.url) as app:
        server.stop()
        with caplog.at_level(logging.WARNING, logger="elicitation.services"):
            response = _open_round(organizer_client, survey_round.id)
        assert response.status_code == 302  # the round opened all the same
        survey_round.refresh_from_db()
        assert survey_round.status == "open"
        assert Invitation.objects.filter(sent_at__isnull=True).count() == 2
        assert "Broker unreachable" in caplog.text
        assert mail.outbox == []

        # An expert answers while the broker is still down: the database has it.
        invitation = Invitation.objects.get(expert=expert)
        expert_client = client_with_link(invitation)
        answered = expert_client.post(
            form_url(invitation), {**answers_post(questions), "submit": "1"}
        )
        assert answered.status_code == 302
        assert Judgment.objects.filter(expert=expert).count() == 3
        invitation.refresh_from_db()
        assert invitation.submitted_at is not None

        # The broker comes back and a worker starts: the sweep sends what was pending.
        server.start()
        with _worker(app, own_queue, WorkController=ReadySignallingWorker):
            wait_for_emails(2)
    assert sorted(message.to[0] for message in mail.outbox) == [
        "bob@example.org",
        "eunji@example.org",
    ]
    assert not Invitation.objects.filter(sent_at__isnull=True).exists()


@transactional
def test_the_sweep_task_queues_only_unsent_invitations(
    broker_url, own_queue, invitation, other_invitation
):
    from elicitation import services

    services.invitation_send(invitation_id=invitation.id)
    assert len(mail.outbox) == 1
    with celery_broker(broker_url) as app, _worker(app, own_queue):
        invitation_send_pending_task.delay()
        wait_for_emails(2)
    assert [message.to for message in mail.outbox] == [
        ["eunji@example.org"],
        ["bob@example.org"],
    ]


def test_the_sweep_is_on_the_beat_schedule_and_tasks_ack_late():
    from config.celery import app

    entry = app.conf.beat_schedule["elicitation-invitation-send-pending"]
    assert entry["task"] == invitation_send_pending_task.name
    assert entry["task"] in app.tasks
    assert entry["schedule"] <= 900
    assert invitation_send_task.acks_late and invitation_send_pending_task.acks_late
