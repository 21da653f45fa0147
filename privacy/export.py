"""Everything Consilium holds about one expert, as sections (a data-subject access request).

The export is a list of section providers. A provider returns the rows of one part of the
expert's data and declares which models it covers (``covers``), so that a test can walk
Django's relations to ``Expert`` and fail when a model that references an expert is in no
section. A new model about experts (consent records, say) adds a provider here:

    @export_section("consents", _("Consent records"), covers=["elicitation.Consent"])
    def _consents(expert):
        return [row_of(c) for c in expert.consents.all()]
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from elicitation.models import Expert, RoundEvent

FORMAT = "consilium-subject-export"
VERSION = 1


@dataclass(frozen=True)
class Section:
    key: str
    title: Promise | str
    covers: tuple[str, ...]  # model labels, e.g. "elicitation.Judgment"
    rows: Callable[[Expert], list[dict]]


SECTIONS: list[Section] = []


def export_section(key: str, title: Promise | str, *, covers: list[str]):
    """Register a provider of one section (in the order of registration)."""

    def register(func: Callable[[Expert], list[dict]]):
        SECTIONS.append(Section(key, title, tuple(covers), func))
        return func

    return register


def covered_models() -> set[str]:
    return {label for section in SECTIONS for label in section.covers}


def row_of(obj: models.Model, *, exclude: tuple[str, ...] = ()) -> dict:
    """Every stored field of a row (foreign keys as ids): new fields are exported too."""
    row = {}
    for field in obj._meta.concrete_fields:
        if field.name in exclude:
            continue
        key = field.attname if field.is_relation else field.name
        row[key] = field.value_from_object(obj)
    return row


# --- The sections ----------------------------------------------------------------------------


@export_section(
    "expert",
    _("The expert as the analysis knows them"),
    covers=["elicitation.Expert", "auth.User"],
)
def _expert(expert: Expert) -> list[dict]:
    survey = expert.survey
    row = row_of(expert, exclude=("user",) if not survey.is_strict else ("user", "code"))
    row["survey"] = survey.title
    if survey.is_strict:
        # The code links the answers to the reports; at the strict level it is not paired
        # with a person anywhere else either.
        row["code"] = str(_("withheld (strict anonymity)"))
    user = expert.user
    row["account"] = {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "is_active": user.is_active,
        "note": str(_("Carries the personal links only: no password.")),
    }
    return [row]


@export_section("contact", _("Name and email address"), covers=["elicitation.ExpertContact"])
def _contact(expert: Expert) -> list[dict]:
    contact = getattr(expert, "contact", None)
    return [row_of(contact, exclude=("survey", "expert"))] if contact else []


@export_section(
    "invitations",
    _("Invitations, links and emails sent"),
    covers=["elicitation.Invitation", "elicitation.ReminderDelivery"],
)
def _invitations(expert: Expert) -> list[dict]:
    rows = []
    invitations = expert.invitations.select_related("survey_round").prefetch_related(
        "reminder_deliveries__reminder"
    )
    for invitation in invitations.order_by("survey_round__number", "id"):
        row = row_of(invitation, exclude=("expert",))
        row["round"] = invitation.survey_round.number
        row["emails"] = (
            [{"kind": "invitation", "sent_at": invitation.sent_at}] if invitation.sent_at else []
        )
        row["reminders"] = [
            {
                **row_of(delivery, exclude=("invitation", "reminder")),
                "reminder_planned_for": delivery.reminder.send_at,
            }
            for delivery in invitation.reminder_deliveries.all()
        ]
        rows.append(row)
    return rows


@export_section(
    "answers",
    _("Answers, rationales and every earlier version of them"),
    covers=["elicitation.Judgment", "elicitation.JudgmentRevision"],
)
def _answers(expert: Expert) -> list[dict]:
    judgments = expert.judgments.select_related("question", "survey_round").prefetch_related(
        "revisions"
    )
    rows = []
    for judgment in judgments.order_by("survey_round__number", "question__position", "id"):
        row = row_of(judgment, exclude=("expert",))
        row["round"] = judgment.survey_round.number
        row["question_code"] = judgment.question.code
        row["question_text"] = judgment.question.text
        row["revisions"] = [
            row_of(revision, exclude=("judgment",)) for revision in judgment.revisions.all()
        ]
        rows.append(row)
    return rows


@export_section("consent", _("Consent given or declined"), covers=["elicitation.ConsentResponse"])
def _consent(expert: Expert) -> list[dict]:
    responses = expert.consent_responses.select_related("version", "invitation__survey_round")
    return [
        {
            **row_of(response, exclude=("expert",)),
            "consent_version": response.version.number,
            "consent_text": response.version.text,
            "round": response.invitation.survey_round.number,
        }
        for response in responses.order_by("at", "id")
    ]


@export_section("round_events", _("Changes of plan that name this expert's code"), covers=[])
def _round_events(expert: Expert) -> list[dict]:
    """RoundEvent lines hold codes only (a late invitation, a reopening for named experts)."""
    code = re.compile(rf"\b{re.escape(expert.code)}\b")
    events = RoundEvent.objects.filter(
        survey_round__survey_id=expert.survey_id, detail__contains=expert.code
    ).select_related("survey_round")
    return [
        {**row_of(event, exclude=("by",)), "round": event.survey_round.number}
        for event in events
        if code.search(event.detail)
    ]


@export_section(
    "requests",
    _("Requests about this data (exports and erasures)"),
    covers=["privacy.SubjectRequest", "privacy.ErasedRunMark"],
)
def _requests(expert: Expert) -> list[dict]:
    rows = []
    for request in expert.subject_requests.prefetch_related("marks").order_by("at", "id"):
        row = row_of(request, exclude=("survey", "expert", "by"))
        row["by"] = request.by.get_username() if request.by else None
        row["runs_marked"] = [
            {"aggregation_run": m.aggregation_run_id, "recalibration_run": m.recalibration_run_id}
            for m in request.marks.all()
        ]
        rows.append(row)
    return rows


# --- The document ----------------------------------------------------------------------------


def expert_export(*, expert: Expert) -> dict:
    """The whole export, JSON-ready after ``DjangoJSONEncoder`` (dates as ISO strings)."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": timezone.now(),
        "survey": {"id": expert.survey_id, "title": expert.survey.title},
        "sections": {
            section.key: {"title": str(section.title), "rows": section.rows(expert)}
            for section in SECTIONS
        },
    }
    # Round-trip through the encoder: every value is then a plain JSON value.
    return json.loads(json.dumps(document, cls=DjangoJSONEncoder))


def expert_export_json(*, expert: Expert) -> str:
    return json.dumps(expert_export(expert=expert), ensure_ascii=False, indent=2)


def readable(value):
    """The export for the readable page: empty lists and texts print as a dash."""
    if isinstance(value, dict):
        return {key: readable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [readable(item) for item in value] or None
    return None if value == "" else value
