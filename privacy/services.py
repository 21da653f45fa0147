"""Writes of data-subject requests: recording an export, and erasing an expert.

An erasure removes who the expert is: the contact's name and email (replaced by a
placeholder, the row kept so that nothing that expects a contact breaks), the account's
details, their links (revoked: no email goes out again), every stored text that names them
(change-of-plan lines, rationales, the admin's history) and the site's own copies of the
emails sent to them (the file mail log). If they ask, their answers go too (every revision
with them). Runs that used those answers are never refitted or changed: each is marked,
and its report says that it was built on data since erased.
"""

import email
import email.policy
import re
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from elicitation.models import (
    ExpertContact,
    Invitation,
    Judgment,
    JudgmentRevision,
    RoundEvent,
)
from elicitation.services import round_panel_changed
from privacy.models import ErasedRunMark, SubjectRequest
from privacy.selectors import runs_using_answers

ERASED = "[erased]"
ERASED_EMAIL_DOMAIN = "erased.invalid"
MAIL_SEPARATOR = b"-" * 79


def contact_is_erased(contact: ExpertContact) -> bool:
    return contact.email.endswith("@" + ERASED_EMAIL_DOMAIN)


def subject_export_record(*, contact: ExpertContact, by, what: str) -> SubjectRequest:
    """The audit line of an export (``what``: "json" or "html")."""
    return SubjectRequest.objects.create(
        survey_id=contact.survey_id,
        expert_id=contact.expert_id,
        kind=SubjectRequest.Kind.EXPORT,
        by=by,
        detail={"format": what},
    )


def expert_erase(
    *, contact: ExpertContact, by, erase_answers: bool, reason: str = ""
) -> SubjectRequest:
    """Erase the expert's identity, and their answers if ``erase_answers``; the audit line."""
    already = contact_is_erased(contact)
    expert = contact.expert
    if already and not erase_answers:
        raise ValidationError(_("This person's identity has already been erased."))
    if already and erase_answers and not expert.judgments.exists():
        raise ValidationError(_("This person's identity and answers have already been erased."))
    identity = [] if already else [contact.name, contact.email]
    with transaction.atomic():
        detail: dict = {}
        if not already:
            detail.update(_identity_erase(contact=contact, identity=identity))
        runs, recalibrations = ([], [])
        if erase_answers:
            runs, recalibrations = runs_using_answers(expert=expert)
            detail.update(_answers_erase(expert=expert))
        subject_request = SubjectRequest.objects.create(
            survey_id=contact.survey_id,
            expert=expert,
            kind=SubjectRequest.Kind.ERASE_ALL
            if erase_answers
            else SubjectRequest.Kind.ERASE_IDENTITY,
            by=by,
            detail={
                **detail,
                "runs_marked": [run.id for run in runs],
                "recalibrations_marked": [run.id for run in recalibrations],
            },
            reason=_scrub(reason, identity),
        )
        ErasedRunMark.objects.bulk_create(
            [ErasedRunMark(request=subject_request, aggregation_run=run) for run in runs]
            + [
                ErasedRunMark(request=subject_request, recalibration_run=run)
                for run in recalibrations
            ]
        )
    if identity:
        mail_log_scrub(identity=identity)  # files, outside the transaction: after commit
    return subject_request


def _identity_erase(*, contact: ExpertContact, identity: list[str]) -> dict:
    expert = contact.expert
    contact.name = ERASED
    contact.email = f"erased-{uuid.uuid4().hex[:16]}@{ERASED_EMAIL_DOMAIN}"
    contact.save(update_fields=["name", "email"])
    user = expert.user
    user.first_name = user.last_name = user.email = ""
    user.is_active = False
    user.last_login = None
    user.set_unusable_password()
    user.save(
        update_fields=["first_name", "last_name", "email", "is_active", "last_login", "password"]
    )
    now = timezone.now()
    invitations = Invitation.objects.filter(expert=expert)
    revoked = 0
    for invitation in invitations:  # every link stops working; nothing is emailed again
        invitation.link_version += 1
        invitation.link_revoked_at = now
        invitation.expires_at = min(invitation.expires_at, now)
        invitation.save(update_fields=["link_version", "link_revoked_at", "expires_at"])
        revoked += 1
    return {
        "identity_erased": True,
        "links_revoked": revoked,
        "texts_scrubbed": _texts_scrub(
            survey_id=contact.survey_id, identity=identity, contact=contact
        ),
    }


def _texts_scrub(*, survey_id: int, identity: list[str], contact: ExpertContact) -> int:
    """Replace the name and email wherever the site stored them in free text."""
    changed = 0
    for model, fields, rows in (
        (RoundEvent, ("detail", "reason"), RoundEvent.objects.filter(survey_round__survey_id=survey_id)),
        (Judgment, ("rationale", "change_reason"), Judgment.objects.filter(survey_round__survey_id=survey_id)),
        (JudgmentRevision, ("rationale", "change_reason"),
         JudgmentRevision.objects.filter(judgment__survey_round__survey_id=survey_id)),
        (LogEntry, ("object_repr", "change_message"), LogEntry.objects.all()),
    ):  # fmt: skip
        for row in rows.filter(_mentions(fields, identity)):
            for field in fields:
                setattr(row, field, _scrub(getattr(row, field), identity))
            # A queryset update: a rationale's scrub is not a new answer (no revision).
            model.objects.filter(pk=row.pk).update(**{f: getattr(row, f) for f in fields})
            changed += 1
    # The admin's history names the contact by its __str__ ("name <email>").
    LogEntry.objects.filter(object_id=str(contact.pk)).update(object_repr=str(contact))
    if changed:  # the experts' feedback pages are cached: show them the scrubbed texts
        round_panel_changed(survey_id=survey_id)
    return changed


def _mentions(fields, identity):
    from django.db.models import Q

    query = Q(pk__in=[])
    for field in fields:
        for text in identity:
            if text.strip():
                query |= Q(**{f"{field}__icontains": text})
    return query


def _scrub(text: str, identity: list[str]) -> str:
    for value in sorted((v for v in identity if v.strip()), key=len, reverse=True):
        text = re.sub(re.escape(value), ERASED, text, flags=re.IGNORECASE)
    return text


def _answers_erase(*, expert) -> dict:
    judgments = Judgment.objects.filter(expert=expert)
    n_revisions = JudgmentRevision.objects.filter(judgment__expert=expert).count()
    n_answers = judgments.count()
    judgments.delete()
    expert.attributes = {}  # the cohort only mattered for the answers
    expert.save(update_fields=["attributes"])
    return {"answers_erased": n_answers, "revisions_erased": n_revisions}


# --- The site's own copies of sent emails ---------------------------------------------------


def _mail_log_dir() -> Path | None:
    mailer = (getattr(settings, "MAILERS", None) or {}).get("default") or {}
    if not mailer.get("BACKEND", "").endswith("filebased.EmailBackend"):
        return None
    path = (mailer.get("OPTIONS") or {}).get("file_path")
    return Path(path) if path else None


def mail_log_scrub(*, identity: list[str]) -> int:
    """Drop from the file mail log every message that names the person; the count dropped.

    Messages are decoded first (a Korean name is base64 or quoted-printable in the file).
    """
    folder = _mail_log_dir()
    if folder is None or not folder.is_dir():
        return 0
    dropped = 0
    wanted = [value.lower() for value in identity if value.strip()]
    for path in sorted(folder.glob("*.log")):
        chunks = path.read_bytes().split(MAIL_SEPARATOR + b"\n")
        kept = [chunk for chunk in chunks if not _message_names(chunk, wanted)]
        if len(kept) == len(chunks):
            continue
        dropped += len(chunks) - len(kept)
        if any(chunk.strip() for chunk in kept):
            path.write_bytes((MAIL_SEPARATOR + b"\n").join(kept))
        else:
            path.unlink()
    return dropped


def _message_names(chunk: bytes, wanted: list[str]) -> bool:
    if not chunk.strip():
        return False
    message = email.message_from_bytes(chunk.strip(), policy=email.policy.default)
    texts = [str(value) for value in message.values()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                texts.append(part.get_content())
            except (LookupError, ValueError):
                texts.append(part.get_payload())
    text = "\n".join(texts).lower()
    return any(value in text for value in wanted)
