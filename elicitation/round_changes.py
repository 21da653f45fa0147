"""Plans that change while a round runs (services split out of services.py): an expert
invited late, a link sent again, a new closing time, a closed round reopened for named
experts. Each change leaves an audit line (``RoundEvent``) with codes only, never names.

Independence is kept by the feedback rules (``elicitation.feedback``): an expert who joins
a follow-up round late answers it before seeing anything of the earlier round's panel.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from elicitation.models import Expert, Invitation, Round, RoundEvent
from elicitation.services import DEFAULT_LINK_DAYS, invitations_enqueue

logger = logging.getLogger(__name__)


def _link_expiry_check(*, expires_at: datetime, now: datetime) -> None:
    if expires_at > now + timedelta(seconds=settings.SESAME_MAX_AGE):
        raise ValidationError(
            _(
                "Personal links can live at most %(days)s days (INVITATION_MAX_AGE_DAYS): "
                "choose a closing time within that."
            )
            % {"days": settings.SESAME_MAX_AGE // 86400}
        )


def _stamp(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"


def round_invite_late(
    *, survey_round: Round, experts: Iterable[Expert], by=None
) -> list[Invitation]:
    """Invite experts of the panel to a round that is already open; email them after commit.

    Their links expire with the others' (or at the round's planned close, if later).
    """
    experts = list(experts)
    if not experts:
        raise ValidationError(_("Choose at least one expert to invite."))
    now = timezone.now()
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(id=survey_round.id)
        if not locked.is_open:
            raise ValidationError(
                _("Round %(number)s is not open: open it first, or invite to an open round.")
                % {"number": locked.number}
            )
        foreign = [e.code for e in experts if e.survey_id != locked.survey_id]
        if foreign:
            raise ValidationError(
                _("Not on this survey's panel: %(codes)s.") % {"codes": ", ".join(foreign)}
            )
        invited = set(locked.invitations.values_list("expert_id", flat=True))
        again = [e.code for e in experts if e.id in invited]
        if again:
            raise ValidationError(
                _("Already invited to this round: %(codes)s. Use “Send again” on their row.")
                % {"codes": ", ".join(again)}
            )
        latest = locked.invitations.aggregate(latest=Max("expires_at"))["latest"]
        expires_at = max(
            filter(None, [latest, locked.closes_at]),
            default=now + timedelta(days=DEFAULT_LINK_DAYS),
        )
        if expires_at <= now:
            raise ValidationError(
                _("The round's links have expired: extend the closing time first.")
            )
        invitations = Invitation.objects.bulk_create(
            Invitation(expert=e, survey_round=locked, expires_at=expires_at, joined_late=True)
            for e in experts
        )
        RoundEvent.objects.create(
            survey_round=locked,
            kind=RoundEvent.Kind.INVITED_LATE,
            by=by,
            detail=", ".join(sorted(e.code for e in experts)),
        )
        ids = [invitation.id for invitation in invitations]
        transaction.on_commit(partial(invitations_enqueue, invitation_ids=ids), robust=True)
    return invitations


def invitation_resend(*, invitation: Invitation) -> Invitation:
    """Email the same link again (the link keeps working; "New link" revokes it instead)."""
    with transaction.atomic():
        locked = (
            Invitation.objects.select_for_update(of=("self",))
            .select_related("survey_round", "expert")
            .get(id=invitation.id)
        )
        if not locked.takes_answers:
            raise ValidationError(
                _("Round %(number)s does not take answers from %(code)s now: nothing to send.")
                % {"number": locked.survey_round.number, "code": locked.expert.code}
            )
        if locked.is_expired():
            raise ValidationError(
                _("The link of %(code)s has expired: use “New link”, or extend the round.")
                % {"code": locked.expert.code}
            )
        locked.sent_at = None
        locked.save(update_fields=["sent_at"])
        transaction.on_commit(partial(invitations_enqueue, invitation_ids=[locked.id]))
    return locked


def round_extend(*, survey_round: Round, closes_at: datetime, by=None, reason: str = "") -> Round:
    """A new planned closing time for an open round; links that would expire before it are
    kept alive until then."""
    now = timezone.now()
    if closes_at <= now:
        raise ValidationError({"closes_at": _("Choose a closing time in the future.")})
    _link_expiry_check(expires_at=closes_at, now=now)
    with transaction.atomic():
        locked = Round.objects.select_for_update().get(id=survey_round.id)
        if not locked.is_open:
            raise ValidationError(
                _(
                    "Round %(number)s is %(status)s: only an open round's closing time can "
                    "change. To take more answers after the close, reopen it."
                )
                % {"number": locked.number, "status": locked.get_status_display()}
            )
        before = locked.closes_at
        locked.closes_at = closes_at
        locked.save(update_fields=["closes_at"])
        locked.invitations.filter(expires_at__lt=closes_at).update(expires_at=closes_at)
        RoundEvent.objects.create(
            survey_round=locked,
            kind=RoundEvent.Kind.EXTENDED,
            by=by,
            detail=f"{_stamp(before)} → {_stamp(closes_at)}",
            reason=reason,
        )
    return locked


def round_reopen(
    *, survey_round: Round, experts: Iterable[Expert], closes_at: datetime, reason: str, by=None
) -> Round:
    """Closed → open again for the named experts only; the others' answers stay as they are.

    Only the survey's latest round, and only while no later round has opened: a later
    round's experts saw this one's results, and answers given now would change them.
    Closing it again requests its runs again (the data changed, so new ones).
    """
    experts = list(experts)
    now = timezone.now()
    if not experts:
        raise ValidationError({"experts": _("Choose the experts it reopens for.")})
    if not reason.strip():
        raise ValidationError({"reason": _("Say why it reopens: the reason goes on the record.")})
    if closes_at <= now:
        raise ValidationError({"closes_at": _("Choose a closing time in the future.")})
    _link_expiry_check(expires_at=closes_at, now=now)
    with transaction.atomic():
        locked = Round.objects.select_for_update().select_related("survey").get(id=survey_round.id)
        if locked.status != Round.Status.CLOSED:
            raise ValidationError(
                _("Round %(number)s is not closed; only a closed round can be reopened.")
                % {"number": locked.number}
            )
        later = locked.survey.rounds.filter(number__gt=locked.number).exclude(
            status=Round.Status.DRAFT
        )
        if later.exists():
            raise ValidationError(
                _(
                    "A later round has opened, and its experts saw this round's results: "
                    "round %(number)s can no longer be reopened."
                )
                % {"number": locked.number}
            )
        if locked.survey.rounds.filter(status=Round.Status.OPEN).exists():
            raise ValidationError(_("Another round is open. Close it first."))
        invitations = {i.expert_id: i for i in locked.invitations.all()}
        missing = [e.code for e in experts if e.id not in invitations]
        if missing:
            raise ValidationError(
                {
                    "experts": _(
                        "Not invited to this round: %(codes)s. Reopen it for invited "
                        "experts, then invite the others late."
                    )
                    % {"codes": ", ".join(missing)}
                }
            )
        chosen = {e.id for e in experts}
        locked.status, locked.closed_at, locked.closes_at = Round.Status.OPEN, None, closes_at
        locked.save(update_fields=["status", "closed_at", "closes_at"])
        locked.invitations.exclude(expert_id__in=chosen).filter(
            answers_closed_at__isnull=True
        ).update(answers_closed_at=now)
        reopened = locked.invitations.filter(expert_id__in=chosen)
        reopened.update(answers_closed_at=None, sent_at=None)
        reopened.filter(expires_at__lt=closes_at).update(expires_at=closes_at)
        RoundEvent.objects.create(
            survey_round=locked,
            kind=RoundEvent.Kind.REOPENED,
            by=by,
            detail=", ".join(sorted(e.code for e in experts)),
            reason=reason.strip(),
        )
        ids = list(reopened.values_list("id", flat=True))
        transaction.on_commit(partial(invitations_enqueue, invitation_ids=ids), robust=True)
    logger.info("Round %d reopened for %d experts.", locked.id, len(experts))
    return locked
