"""Reminders: the writes of the reminder sub-domain (services split out of services.py).

An organizer sends a reminder now, in one click, or schedules it before the close. Either
way it is a ``Reminder`` row; dispatching it picks the experts who have not submitted and
creates one ``ReminderDelivery`` per invitation (unique), whose email a task sends once.
Due reminders and emails lost to a broker outage are picked up by ``reminders_send_due``,
which celery beat runs (CELERY_BEAT_SCHEDULE) and every worker runs when it starts.
"""

import logging
from datetime import datetime, timedelta
from functools import partial

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from elicitation import selectors, texts
from elicitation.links import invitation_magic_link
from elicitation.models import Invitation, Reminder, ReminderDelivery, Round
from elicitation.services import BROKER_ERRORS

logger = logging.getLogger(__name__)


def reminder_schedule(
    *, survey_round: Round, send_at: datetime | None = None, created_by=None
) -> Reminder:
    """A reminder to the round's experts who have not submitted, at ``send_at`` (now if None).

    A reminder due now is dispatched as soon as this commits; a later one by the sweep
    (``reminders_send_due``, run by celery beat).
    """
    now = timezone.now()
    send_at = send_at or now
    survey_round = Round.objects.get(id=survey_round.id)
    if not survey_round.is_open:
        raise ValidationError(_("Reminders are for open rounds only."), code="round_not_open")
    if send_at < now - timedelta(minutes=1):
        raise ValidationError({"send_at": _("Choose a moment in the future.")})
    if survey_round.closes_at and send_at >= survey_round.closes_at:
        raise ValidationError(
            {"send_at": _("Choose a moment before the round closes (%(date)s).")
             % {"date": timezone.localtime(survey_round.closes_at).strftime("%Y-%m-%d %H:%M")}}
        )  # fmt: skip
    reminder = Reminder.objects.create(
        survey_round=survey_round, send_at=send_at, created_by=created_by
    )
    if send_at <= now:
        transaction.on_commit(
            partial(reminders_enqueue_dispatch, reminder_ids=[reminder.id]), robust=True
        )
    return reminder


def reminder_cancel(*, reminder: Reminder) -> None:
    """Drop a scheduled reminder; one already sent stays on record."""
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().get(id=reminder.id)
        if reminder.dispatched_at is not None:
            raise ValidationError(_("This reminder has already been sent."), code="dispatched")
        reminder.delete()


def reminder_dispatch(*, reminder_id: int) -> int:
    """Pick the reminder's recipients once and queue their emails; returns how many."""
    with transaction.atomic():
        reminder = (
            Reminder.objects.select_for_update()
            .select_related("survey_round")
            .filter(id=reminder_id)
            .first()
        )
        if reminder is None or reminder.dispatched_at is not None:
            return 0
        reminder.dispatched_at = timezone.now()
        reminder.save(update_fields=["dispatched_at"])
        if not reminder.survey_round.is_open:
            return 0  # closed before it was due: nobody is reminded
        recipients = selectors.round_invitations_to_remind(survey_round=reminder.survey_round)
        deliveries = ReminderDelivery.objects.bulk_create(
            [ReminderDelivery(reminder=reminder, invitation=i) for i in recipients],
            ignore_conflicts=True,
        )
        ids = list(reminder.deliveries.values_list("id", flat=True))
        transaction.on_commit(partial(reminder_deliveries_enqueue, delivery_ids=ids), robust=True)
    return len(deliveries)


def reminders_enqueue_dispatch(*, reminder_ids: list[int]) -> int:
    from elicitation.tasks import reminder_dispatch_task  # tasks import this module

    for published, reminder_id in enumerate(reminder_ids):
        try:
            reminder_dispatch_task.delay(reminder_id)
        except BROKER_ERRORS as exc:
            logger.warning("Broker unreachable (%s): reminders wait for the sweep.", exc)
            return published
    return len(reminder_ids)


def reminder_deliveries_enqueue(*, delivery_ids: list[int]) -> int:
    from elicitation.tasks import reminder_delivery_send_task  # tasks import this module

    for published, delivery_id in enumerate(delivery_ids):
        try:
            reminder_delivery_send_task.delay(delivery_id)
        except BROKER_ERRORS as exc:
            logger.warning("Broker unreachable (%s): reminder emails wait for the sweep.", exc)
            return published
    return len(delivery_ids)


def reminder_delivery_send(*, delivery_id: int) -> bool:
    """Email one expert's reminder unless sent already, submitted, closed or expired.

    The row lock makes a redelivered task a no-op, as for invitations.
    """
    with transaction.atomic():
        delivery = (
            ReminderDelivery.objects.select_for_update(of=("self",))
            .select_related("invitation__expert__user", "invitation__survey_round__survey")
            .filter(id=delivery_id)
            .first()
        )
        if delivery is None or delivery.sent_at is not None or delivery.skipped:
            return False
        invitation = delivery.invitation
        skipped = _reminder_skip_reason(invitation)
        if skipped:
            delivery.skipped = skipped
            delivery.save(update_fields=["skipped"])
            return False
        _reminder_email(invitation=invitation).send()
        delivery.sent_at = timezone.now()
        delivery.save(update_fields=["sent_at"])
    return True


def _reminder_skip_reason(invitation: Invitation) -> str:
    if invitation.submitted_at is not None:
        return "submitted"
    if not invitation.survey_round.is_open:
        return "closed"
    if invitation.is_expired():
        return "expired"
    return ""


def _reminder_email(*, invitation: Invitation) -> EmailMessage:
    expert, survey_round = invitation.expert, invitation.survey_round
    language = invitation.effective_language
    answered = len(selectors.invitation_judgments(invitation=invitation))
    context = {
        "invitation": invitation,
        "expert": expert,
        "survey_round": survey_round,
        "link": invitation_magic_link(invitation=invitation),
        "answered": answered,
        "total": survey_round.questions.count(),
        "contact_email": selectors.survey_contact_email(survey=survey_round.survey),
    }
    with translation.override(language), timezone.override(expert.time_zone):
        context["survey_title"] = texts.localized(survey_round.survey, "title", language).text
        subject = _("Reminder: %(title)s, round %(number)s") % {
            "title": context["survey_title"],
            "number": survey_round.number,
        }
        body = render_to_string("elicitation/email/reminder.txt", context)
    return EmailMessage(subject=subject, body=body, to=[expert.contact.email])


def reminders_send_due(*, now: datetime | None = None) -> int:
    """The beat sweep: dispatch reminders that are due, re-queue emails never sent."""
    now = now or timezone.now()
    due = list(
        Reminder.objects.filter(dispatched_at__isnull=True, send_at__lte=now)
        .order_by("send_at", "id")
        .values_list("id", flat=True)
    )
    dispatched = sum(reminder_dispatch(reminder_id=reminder_id) for reminder_id in due)
    # Emails queued in the last minutes are still on their way; older unsent ones were lost
    # (broker down) and go again (a second task for the same row is a no-op).
    pending = ReminderDelivery.objects.filter(
        sent_at__isnull=True,
        skipped="",
        invitation__survey_round__status=Round.Status.OPEN,
        created_at__lt=now - timedelta(minutes=5),
    )
    reminder_deliveries_enqueue(delivery_ids=list(pending.values_list("id", flat=True)))
    return dispatched
