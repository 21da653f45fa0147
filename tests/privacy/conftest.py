"""The report tests' panel and runs (tests/aggregation/conftest.py), and a person with a
trail everywhere: Alice Walker (E001), who answered round 1 with a rationale, was emailed
an invitation and a reminder to round 2, gave consent, and is named in free texts."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from elicitation import reminders, services
from elicitation.models import (
    ConsentResponse,
    ConsentVersion,
    Invitation,
    Judgment,
    JudgmentRevision,
    Reminder,
    ReminderDelivery,
    RoundEvent,
)
from tests.aggregation.conftest import *  # noqa: F403 (the personas and runs)
from tests.aggregation.conftest import PANEL

_CODE, NAME, EMAIL, _NATIONALITY = PANEL[0]


@pytest.fixture
def mail_dir(settings, tmp_path):
    """Emails written as files, as in development: the site's own log of what it sent."""
    folder = tmp_path / "mail"
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(folder)},
        }
    }
    return folder


@pytest.fixture
def person(panel, closed_round, open_round, finished_run, organizer, mail_dir):
    """E001's contact, after a trail through every table that refers to an expert."""
    expert = panel["E001"]
    invitation = Invitation.objects.get(expert=expert, survey_round=open_round)
    assert services.invitation_send(invitation_id=invitation.id)
    reminder = Reminder.objects.create(survey_round=open_round, send_at=timezone.now())
    delivery = ReminderDelivery.objects.create(reminder=reminder, invitation=invitation)
    assert reminders.reminder_delivery_send(delivery_id=delivery.id)
    judgment = Judgment.objects.get(expert=expert, survey_round=closed_round, question__code="Q01")
    JudgmentRevision.objects.create(judgment=judgment, probability=0.6, rationale="first go")
    Judgment.objects.filter(id=judgment.id).update(
        rationale=f"As {NAME} ({EMAIL}) I think US basing in Japan settles it."
    )
    other = Judgment.objects.filter(survey_round=closed_round).exclude(expert=expert).first()
    Judgment.objects.filter(id=other.id).update(rationale=f"I agree with {NAME}.")
    RoundEvent.objects.create(
        survey_round=open_round, kind=RoundEvent.Kind.EXTENDED, by=organizer,
        detail=f"{expert.code}", reason=f"{NAME} asked for more time",
    )  # fmt: skip
    version = ConsentVersion.objects.create(survey=expert.survey, number=1, text="We keep it.")
    ConsentResponse.objects.create(
        expert=expert, version=version, invitation=invitation, accepted=True
    )
    LogEntry.objects.create(
        user=organizer, content_type=ContentType.objects.get_for_model(expert.contact),
        object_id=str(expert.contact.pk), object_repr=str(expert.contact),
        action_flag=CHANGE, change_message=f"Changed email of {NAME}.",
        action_time=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    return expert.contact
