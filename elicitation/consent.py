"""Consent and information: a versioned text per survey that an expert accepts before the
first question.

The survey's latest ``ConsentVersion`` is the one in force; a survey without any asks no
consent (surveys built before consent existed keep working). An expert's latest
``ConsentResponse`` to the version in force decides: accepted, the form opens; declined,
the expert sees a polite end page (and may still change their mind); none, the consent
page comes first, saying so when they had accepted an earlier version.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from elicitation.models import ConsentResponse, ConsentVersion, Expert, Invitation, Survey

# What the consent page says the survey's anonymity level means (in the expert's language).
ANONYMITY_MEANING = {
    Survey.Anonymity.STRICT: gettext_lazy(
        "Your answers are anonymous: the organizers' pages, exports and reports show them "
        "under a code, never next to your name. Your name and email are used only to send "
        "you your link and reminders."
    ),
    Survey.Anonymity.IDENTIFIED: gettext_lazy(
        "The organizers can see which answers are yours. Reports and exports show answers "
        "under a code, anonymised and combined; your rationales are shown to the other "
        "experts without your name."
    ),
}


def anonymity_meaning(survey: Survey) -> str:
    return str(ANONYMITY_MEANING[Survey.Anonymity(survey.anonymity)])


# --- Reads ------------------------------------------------------------------------------


def consent_current(*, survey: Survey) -> ConsentVersion | None:
    """The version in force: the survey's latest, or None when it asks no consent."""
    return survey.consent_versions.order_by("-number").first()


@dataclass(frozen=True)
class ConsentState:
    version: ConsentVersion | None
    # "not_required", "accepted", "declined", "needed" (never answered this version)
    status: str
    earlier_accepted: int | None = None  # the older version accepted, when asked again
    at: object = None  # when the latest response to the version in force was given

    @property
    def allows_answers(self) -> bool:
        return self.status in ("not_required", "accepted")


def consent_state(*, expert: Expert) -> ConsentState:
    version = consent_current(survey=expert.survey)
    if version is None:
        return ConsentState(None, "not_required")
    if expert.pk is None:  # an organizer's preview: a new expert, who has answered nothing
        return ConsentState(version, "needed")
    latest = (
        ConsentResponse.objects.filter(expert=expert, version=version)
        .order_by("-at", "-id")
        .first()
    )
    if latest is not None:
        return ConsentState(version, "accepted" if latest.accepted else "declined", at=latest.at)
    earlier = ConsentResponse.objects.filter(
        expert=expert, accepted=True, version__number__lt=version.number
    ).aggregate(n=Max("version__number"))["n"]
    return ConsentState(version, "needed", earlier_accepted=earlier)


def consent_states_for_round(*, survey_round) -> dict[int, ConsentState]:
    """Each invited expert's consent state, by expert id (the round page's column)."""
    version = consent_current(survey=survey_round.survey)
    expert_ids = list(survey_round.invitations.values_list("expert_id", flat=True))
    if version is None:
        return {expert_id: ConsentState(None, "not_required") for expert_id in expert_ids}
    latest: dict[int, ConsentResponse] = {}
    for response in ConsentResponse.objects.filter(
        expert_id__in=expert_ids, version=version
    ).order_by("at", "id"):
        latest[response.expert_id] = response
    states = {}
    for expert_id in expert_ids:
        response = latest.get(expert_id)
        if response is None:
            states[expert_id] = ConsentState(version, "needed")
        else:
            status = "accepted" if response.accepted else "declined"
            states[expert_id] = ConsentState(version, status, at=response.at)
    return states


def consent_declined_expert_ids(*, survey: Survey) -> set[int]:
    """The experts whose latest answer to the version in force is a refusal."""
    version = consent_current(survey=survey)
    if version is None:
        return set()
    latest: dict[int, bool] = {}
    for expert_id, accepted in (
        ConsentResponse.objects.filter(version=version)
        .order_by("at", "id")
        .values_list("expert_id", "accepted")
    ):
        latest[expert_id] = accepted
    return {expert_id for expert_id, accepted in latest.items() if not accepted}


def consent_declined_count(*, survey: Survey) -> int:
    return len(consent_declined_expert_ids(survey=survey))


def consent_history(*, survey: Survey) -> list[ConsentVersion]:
    """Every version, newest first, with how many experts accepted and declined it (each
    expert counted once, by their latest answer to that version)."""
    versions = list(survey.consent_versions.order_by("-number"))
    latest: dict[tuple[int, int], bool] = {}
    for version_id, expert_id, accepted in (
        ConsentResponse.objects.filter(version__survey=survey)
        .order_by("at", "id")
        .values_list("version_id", "expert_id", "accepted")
    ):
        latest[(version_id, expert_id)] = accepted
    for version in versions:
        answers = [accepted for (v, _e), accepted in latest.items() if v == version.id]
        version.n_accepted = sum(answers)
        version.n_declined = len(answers) - version.n_accepted
    return versions


def decision_missing_message() -> str:
    return _("Choose “I agree” or “I do not agree” with the buttons below the text.")


def round_closed_message(*, survey_round) -> str:
    return _("Round %(number)s is closed, so nothing can be recorded any more.") % {
        "number": survey_round.number
    }


# --- Writes -----------------------------------------------------------------------------


def consent_version_save(
    *, survey: Survey, text: str, text_ko: str = "", by=None
) -> ConsentVersion | None:
    """Save the consent text: a new version when it changed, else nothing (returns None).

    An empty English text is refused: a consent experts cannot read is no consent.
    """
    text, text_ko = text.strip(), text_ko.strip()
    if not text:
        raise ValidationError(
            {"text": _("Write the consent text in English (Korean is optional but recommended).")}
        )
    with transaction.atomic():
        Survey.objects.select_for_update().get(id=survey.id)
        current = consent_current(survey=survey)
        if current is not None and (current.text, current.text_ko) == (text, text_ko):
            return None
        number = (current.number if current else 0) + 1
        return ConsentVersion.objects.create(
            survey=survey, number=number, text=text, text_ko=text_ko, created_by=by
        )


def consent_respond(*, invitation: Invitation, version_id: int, accepted: bool) -> ConsentResponse:
    """Record the expert's answer to the version they were shown.

    A page shown before the text changed answers an old version: refused, so nobody accepts
    a text they did not see (the page is shown again with the new one).
    """
    survey = invitation.survey_round.survey
    current = consent_current(survey=survey)
    if current is None or current.id != version_id:
        raise ValidationError(
            _(
                "The consent text changed while the page was open. Please read the present "
                "version and answer again."
            ),
            code="stale_version",
        )
    return ConsentResponse.objects.create(
        expert_id=invitation.expert_id,
        version=current,
        invitation=invitation,
        accepted=accepted,
        at=timezone.now(),
    )
