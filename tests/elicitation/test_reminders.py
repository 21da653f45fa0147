"""Reminders: one click for everyone who has not submitted, or scheduled before the close;
never twice for the same expert and reminder, never after the round closed or the expert
submitted. Services are called directly; one test goes through a real worker."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from elicitation import reminders
from elicitation.models import Reminder, ReminderDelivery, Round
from elicitation.tasks import reminders_send_due_task
from tests.elicitation.helpers import answers_post, celery_broker, form_url, own_celery_queue


def _dispatch_and_send(reminder) -> list[str]:
    reminders.reminder_dispatch(reminder_id=reminder.id)
    for delivery in reminder.deliveries.all():
        reminders.reminder_delivery_send(delivery_id=delivery.id)
    return [message.to[0] for message in mail.outbox]


def test_one_click_reminds_everyone_who_has_not_submitted(
    organizer_client, open_round, invitation, other_invitation, expert_client, questions,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    expert_client.post(form_url(invitation), answers_post(questions, submit="1"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = organizer_client.post(reverse("elicitation:round-remind", args=[open_round.id]))
    assert response.status_code == 302
    assert len(callbacks) == 1  # the dispatch is queued after the commit
    reminder = Reminder.objects.get()
    assert reminder.created_by.username == "olivia"
    assert _dispatch_and_send(reminder) == ["bob@example.org"]
    delivery = ReminderDelivery.objects.get()
    assert delivery.invitation == other_invitation and delivery.sent_at is not None


def test_a_reminder_reaches_each_expert_once(open_round, invitation, other_invitation):
    reminder = reminders.reminder_schedule(survey_round=open_round)
    _dispatch_and_send(reminder)
    _dispatch_and_send(reminder)  # a redelivered dispatch and send
    for delivery in reminder.deliveries.all():  # and a duplicated send task
        assert not reminders.reminder_delivery_send(delivery_id=delivery.id)
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.org", "eunji@example.org"]


def test_no_reminder_after_submitting_or_after_the_close(
    open_round, invitation, other_invitation, expert_client, questions
):
    reminder = reminders.reminder_schedule(survey_round=open_round)
    reminders.reminder_dispatch(reminder_id=reminder.id)
    expert_client.post(form_url(invitation), answers_post(questions, submit="1"))
    Round.objects.filter(id=open_round.id).update(status=Round.Status.CLOSED)
    for delivery in reminder.deliveries.all():
        assert not reminders.reminder_delivery_send(delivery_id=delivery.id)
    skipped = dict(reminder.deliveries.values_list("invitation__expert__code", "skipped"))
    assert skipped == {"E001": "submitted", "E002": "closed"}
    assert mail.outbox == []


def test_a_scheduled_reminder_goes_out_when_due_from_the_sweep(open_round, invitation):
    send_at = timezone.now() + timedelta(hours=2)
    reminder = reminders.reminder_schedule(survey_round=open_round, send_at=send_at)
    assert reminders.reminders_send_due() == 0  # not yet
    assert reminders.reminders_send_due(now=send_at + timedelta(minutes=1)) == 2
    reminder.refresh_from_db()
    assert reminder.dispatched_at is not None
    assert reminder.deliveries.count() == 2
    assert reminders.reminders_send_due(now=send_at + timedelta(minutes=2)) == 0


def test_a_reminder_due_after_the_close_reaches_nobody(open_round, invitation):
    reminder = reminders.reminder_schedule(
        survey_round=open_round, send_at=timezone.now() + timedelta(hours=1)
    )
    Round.objects.filter(id=open_round.id).update(status=Round.Status.CLOSED)
    assert reminders.reminder_dispatch(reminder_id=reminder.id) == 0
    assert not ReminderDelivery.objects.exists()


@pytest.mark.parametrize(
    ("offset", "closes_in", "message"),
    [
        (timedelta(hours=-2), None, "Choose a moment in the future."),
        (timedelta(days=3), timedelta(days=2), "Choose a moment before the round closes"),
    ],
)
def test_scheduling_refuses_the_past_and_after_the_close(
    organizer_client, open_round, offset, closes_in, message
):
    if closes_in:
        Round.objects.filter(id=open_round.id).update(closes_at=timezone.now() + closes_in)
    when = timezone.localtime(timezone.now() + offset).strftime("%Y-%m-%dT%H:%M")
    response = organizer_client.post(
        reverse("elicitation:round-remind", args=[open_round.id]),
        {"schedule": "1", "send_at": when},
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Reminder.objects.exists()


def test_the_organizer_schedules_and_cancels_a_reminder(organizer_client, open_round):
    when = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    url = reverse("elicitation:round-remind", args=[open_round.id])
    assert organizer_client.post(url, {"schedule": "1", "send_at": when}).status_code == 302
    reminder = Reminder.objects.get()
    page = organizer_client.get(reverse("elicitation:round-detail", args=[open_round.id]))
    assert "scheduled" in page.content.decode()
    cancel = reverse("elicitation:reminder-cancel", args=[reminder.id])
    assert organizer_client.post(cancel).status_code == 302
    assert not Reminder.objects.exists()


@pytest.mark.parametrize("persona", ["other_staff", "member"])
def test_other_users_cannot_remind(client_as, open_round, persona):
    response = client_as(persona).post(reverse("elicitation:round-remind", args=[open_round.id]))
    assert response.status_code in (403, 404)
    assert not Reminder.objects.exists()


def test_the_round_page_shows_who_has_not_answered(organizer_client, open_round, invitation):
    html = organizer_client.get(reverse("elicitation:round-detail", args=[open_round.id]))
    text = html.content.decode()
    assert "not opened" in text and "Remind the 2 experts who have not submitted" in text
    assert "Send a reminder at (UTC)" in text


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_reminder_is_emailed_by_a_real_worker(
    broker_url, organizer, survey, expert, other_expert
):
    from celery.contrib.testing.worker import start_worker

    from elicitation import services

    survey_round = services.round_create(survey=survey)
    with (
        own_celery_queue(broker_url, "consilium-reminder-test") as queue,
        celery_broker(broker_url) as app,
        start_worker(app, perform_ping_check=False, queues=[queue], shutdown_timeout=30),
    ):
        services.round_open(survey_round=survey_round)
        # let the worker finish sending the invitations before this thread writes again:
        # SQLite's shared-cache test database refuses a second writer at once
        _wait_for(lambda: _invitations_sent(survey_round) == 2)
        reminder = reminders.reminder_schedule(
            survey_round=survey_round, send_at=timezone.now() + timedelta(seconds=1)
        )
        Reminder.objects.filter(id=reminder.id).update(send_at=timezone.now())
        reminders_send_due_task.delay()
        _wait_for(lambda: len([m for m in mail.outbox if "Reminder" in m.subject]) == 2)
    assert ReminderDelivery.objects.filter(sent_at__isnull=False).count() == 2


def _invitations_sent(survey_round) -> int:
    from django.db import OperationalError

    try:
        return survey_round.invitations.filter(sent_at__isnull=False).count()
    except OperationalError:  # SQLite: the worker holds the table; ask again
        return -1


def _wait_for(condition, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)
