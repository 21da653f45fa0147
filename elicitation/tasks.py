"""Celery tasks of the elicitation app: thin, by id, safe to run twice.

Invitation emails are queued after the round's rows commit. If the broker was down at that
moment the rows stay unsent (``sent_at`` null) and the sweep below queues them again: when
a worker starts, and every ten minutes from celery beat (CELERY_BEAT_SCHEDULE in config/settings.py).

Reminders follow the same pattern: a reminder row is dispatched (its recipients chosen once)
by a task, each recipient's email sent by another; ``reminders_send_due_task`` (beat, and
at worker start) dispatches scheduled reminders when they fall due and re-queues emails
that a broker outage lost.

``feedback_warm_task`` renders the previous round's feedback of open rounds into the cache
(``feedback.feedback_warm``) when a worker starts, when a result or the panel changes, and
every minute from beat: the experts' pages then read it rather than all render it at once.
"""

from smtplib import SMTPException

from celery import shared_task
from celery.signals import worker_ready

from config.celery import broker_reconnected
from elicitation import feedback, reminders
from elicitation.models import Invitation, Reminder, ReminderDelivery
from elicitation.services import invitation_send, invitation_send_pending


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_kwargs={"max_retries": 6},
)
def invitation_send_task(invitation_id: int) -> None:
    invitation = Invitation.objects.select_related("survey_round").filter(id=invitation_id).first()
    if invitation is None or invitation.sent_at is not None or not invitation.survey_round.is_open:
        return  # deleted, already sent (a redelivery), or the round is no longer open
    invitation_send(invitation_id=invitation_id)


@shared_task(acks_late=True)
def invitation_send_pending_task() -> int:
    return invitation_send_pending()


@shared_task(acks_late=True)
def reminder_dispatch_task(reminder_id: int) -> int:
    reminder = Reminder.objects.filter(id=reminder_id).first()
    if reminder is None or reminder.dispatched_at is not None:
        return 0  # cancelled, or dispatched already (a redelivery)
    return reminders.reminder_dispatch(reminder_id=reminder_id)


@shared_task(
    acks_late=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=30,
    retry_kwargs={"max_retries": 6},
)
def reminder_delivery_send_task(delivery_id: int) -> None:
    delivery = ReminderDelivery.objects.filter(id=delivery_id).first()
    if delivery is None or delivery.sent_at is not None or delivery.skipped:
        return  # deleted, or already sent or skipped (a redelivery)
    reminders.reminder_delivery_send(delivery_id=delivery_id)


@shared_task(acks_late=True)
def reminders_send_due_task() -> int:
    return reminders.reminders_send_due()


@shared_task(acks_late=True, expires=120)
def feedback_warm_task(feedback_round_id: int | None = None) -> int:
    return feedback.feedback_warm(feedback_round_id=feedback_round_id)


@worker_ready.connect
@broker_reconnected.connect
def _send_pending_when_a_worker_starts(sender=None, **kwargs) -> None:
    # Queue the sweeps rather than run them here: this handler runs in the worker's main
    # process, which should not hold database connections its pool children inherit.
    # (Celery logs and swallows an exception raised by a signal handler.)
    invitation_send_pending_task.delay()
    reminders_send_due_task.delay()
    feedback_warm_task.delay()  # a Redis that restarted has lost the cached feedback
