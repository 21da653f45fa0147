"""Pilot mode: previewing the expert pages, and rehearsal rounds whose answers never count.

The pilot flag is on the Round (``Round.is_pilot``), not on the Expert: a pilot is a
rehearsal of a whole round (links, consent, form, submit, close), answered by test experts
or by colleagues on the panel, and everything it leaves behind belongs to that round.
Every reader of answers outside the round's own organizer pages goes through
``Judgment.objects.counted()`` (aggregation, scores, feedback, exports), so a pilot answer
reaches none of them; a pilot round is never a feedback round and closing it requests no
run. ``pilot_wipe`` deletes the pilot rounds with everything in them in one step, and the
test experts: those invited to pilot rounds only (an expert also invited to a real round
stays on the panel).
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from elicitation.models import Expert, ExpertContact, Invitation, Judgment, Round, Survey

PREVIEW_CODE = "PREVIEW"


def preview_invitation(*, survey_round: Round, language: str) -> Invitation:
    """An unsaved invitation of an unsaved expert: renders the expert pages as a new expert
    of this round sees them, and has nothing to save answers to (its ids are None)."""
    language = language if language in Expert.Language.values else Expert.Language.EN
    expert = Expert(survey=survey_round.survey, code=PREVIEW_CODE, language=language)
    # The welcome page greets the expert by name: a placeholder, in the page's language.
    expert.contact = ExpertContact(survey=survey_round.survey, name=gettext_lazy("(name)"))
    expires_at = survey_round.closes_at or timezone.now() + timedelta(days=14)
    return Invitation(
        expert=expert, survey_round=survey_round, expires_at=expires_at, language=language
    )


def pilot_only_experts(*, survey: Survey) -> QuerySet[Expert]:
    """The survey's test experts: invited to a pilot round and to no other round. An expert
    not invited anywhere yet is on the panel, not a test expert."""
    invited = Invitation.objects.filter(expert=OuterRef("pk"))
    return survey.experts.filter(
        Exists(invited.filter(survey_round__is_pilot=True)),
        ~Exists(invited.filter(survey_round__is_pilot=False)),
    )


def survey_pilot_counts(*, survey: Survey) -> dict[str, int]:
    rounds = survey.rounds.filter(is_pilot=True)
    return {
        "rounds": rounds.count(),
        "answers": Judgment.objects.filter(survey_round__in=rounds).count(),
        "experts": pilot_only_experts(survey=survey).count(),
    }


def pilot_wipe(*, survey: Survey, remove_testers: bool = False) -> dict[str, int]:
    """Delete every pilot round of the survey, with its invitations, answers and their
    revisions, reminders, events, consent responses given on its pages and any run of it;
    with ``remove_testers``, also the experts invited to pilot rounds only, with their
    contacts and accounts (an organizer's explicit choice: they may be the real panel
    rehearsing before round 1).

    Round numbers are not reused: the next round keeps counting after the pilot's.
    """
    with transaction.atomic():
        Survey.objects.select_for_update().get(id=survey.id)
        rounds = Round.objects.filter(survey=survey, is_pilot=True)
        testers = pilot_only_experts(survey=survey)
        if not remove_testers:
            testers = testers.none()
        user_ids = list(testers.values_list("user_id", flat=True))
        expert_ids = list(testers.values_list("id", flat=True))
        counts = {
            "rounds": rounds.count(),
            "answers": Judgment.objects.filter(survey_round__in=rounds).count(),
            "experts": len(expert_ids),
        }
        if not counts["rounds"]:
            raise ValidationError(
                _("This survey has no pilot round, so there is nothing to wipe."), code="none"
            )
        rounds.delete()
        # The contact and what is left of the expert go with it; then the account that
        # carried their link tokens (never a staff account: those are nobody's expert).
        Expert.objects.filter(id__in=expert_ids).delete()
        get_user_model().objects.filter(
            id__in=user_ids, is_staff=False, is_superuser=False
        ).delete()
    return counts


def preview_questions(*, survey_round: Round) -> list:
    """The questions a preview shows: the round's, or for a draft round (whose questions are
    fixed when it opens) every question a round may ask now."""
    from elicitation import selectors

    if survey_round.status != Round.Status.DRAFT:
        return selectors.round_questions(survey_round=survey_round)
    askable = selectors.survey_questions_askable(survey=survey_round.survey)
    return list(
        askable.select_related("scenario").order_by(
            "scenario__position", "scenario__id", "position", "id"
        )
    )
