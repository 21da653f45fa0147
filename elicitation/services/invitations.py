"""Invitations: the expert's language, links (opened, renewed) and the invitation emails."""

import logging
from functools import partial

from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

from elicitation import selectors, texts
from elicitation.links import invitation_magic_link
from elicitation.models import Expert, Invitation, Round

logger = logging.getLogger(__name__)

# What a publish raises when the broker is unreachable (kombu wraps most socket errors).
BROKER_ERRORS = (OperationalError, OSError)


def invitation_language_set(*, invitation: Invitation, language: str) -> Invitation:
    """Remember the language the expert picked on the page, for this invitation."""
    if language not in Expert.Language.values:
        raise ValidationError(_("This language is not offered."), code="language")
    if invitation.language != language:
        invitation.language = language
        invitation.save(update_fields=["language"])
    return invitation


def invitation_mark_opened(*, invitation: Invitation) -> None:
    if invitation.first_opened_at is None:
        invitation.first_opened_at = timezone.now()
        invitation.save(update_fields=["first_opened_at"])


def invitation_link_renew(*, invitation: Invitation) -> Invitation:
    """Revoke an invitation's link and email the expert a new one.

    The link version is part of the token's scope: every earlier link stops working at
    once, and so do the browser sessions that one opened. Answers are kept. The new email
    is queued after the commit (the send-pending sweep retries it if the broker is down).
    """
    with transaction.atomic():
        locked = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("survey_round", "expert")
            .get(id=invitation.id)
        )
        if not locked.survey_round.is_open:
            raise ValidationError(
                _(
                    "Round %(number)s is not open, so %(code)s needs no new link: links are "
                    "issued only while a round takes answers."
                )
                % {"number": locked.survey_round.number, "code": locked.expert.code}
            )
        locked.link_version += 1
        locked.link_revoked_at = timezone.now()
        locked.sent_at = None
        locked.save(update_fields=["link_version", "link_revoked_at", "sent_at"])
        transaction.on_commit(partial(invitations_enqueue, invitation_ids=[locked.id]))
    logger.info(
        "Invitation %d (%s): link revoked, version %d issued.",
        locked.id,
        locked.expert.code,
        locked.link_version,
    )
    return locked


def invitations_enqueue(*, invitation_ids: list[int]) -> int:
    """Publish one send task per invitation; returns how many were published.

    Stops at the first broker error: each failed publish waits for the retry policy, and
    the unsent rows (``sent_at`` null) are picked up by ``invitation_send_pending`` later.
    """
    from elicitation.tasks import invitation_send_task  # tasks import this module

    for published, invitation_id in enumerate(invitation_ids):
        try:
            invitation_send_task.delay(invitation_id)
        except BROKER_ERRORS as exc:
            logger.warning(
                "Broker unreachable (%s): %d of %d invitation emails not queued; "
                "they stay unsent until invitation_send_pending runs.",
                exc,
                len(invitation_ids) - published,
                len(invitation_ids),
            )
            return published
    return len(invitation_ids)


def invitation_send(*, invitation_id: int) -> bool:
    """Email one invitation unless already sent; True when this call sent it.

    The row lock makes a redelivered or duplicated task a no-op instead of a second email.
    (An email that leaves and a worker that dies before the commit can still mean two: the
    broker's at-least-once delivery cannot promise exactly-once email.)
    """
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("expert__user", "expert__contact", "survey_round__survey")
            .get(id=invitation_id)
        )
        if invitation.sent_at is not None or not invitation.takes_answers:
            return False
        _invitation_email(invitation=invitation).send()
        invitation.sent_at = timezone.now()
        invitation.save(update_fields=["sent_at"])
    return True


def _invitation_email(*, invitation: Invitation) -> EmailMessage:
    expert, survey_round = invitation.expert, invitation.survey_round
    context = {
        "invitation": invitation,
        "expert": expert,
        "survey": survey_round.survey,
        "survey_round": survey_round,
        "link": invitation_magic_link(invitation=invitation),
        "contact_email": selectors.survey_contact_email(survey=survey_round.survey),
    }
    language = invitation.effective_language
    with translation.override(language), timezone.override(expert.time_zone):
        context["survey_title"] = texts.localized(survey_round.survey, "title", language).text
        subject = _("Your invitation: %(title)s, round %(number)s") % {
            "title": context["survey_title"],
            "number": survey_round.number,
        }
        body = render_to_string("elicitation/email/invitation.txt", context)
    return EmailMessage(subject=subject, body=body, to=[expert.contact.email])


def invitation_send_pending(*, survey_round: Round | None = None) -> int:
    """Queue the emails of open rounds that never went out (e.g. the broker was down)."""
    pending = selectors.invitations_unsent(survey_round=survey_round)
    ids = list(pending.order_by("id").values_list("id", flat=True))
    return invitations_enqueue(invitation_ids=ids)
