"""Organizer pages for plans that change: invite an expert late, send or copy a link,
move a round's closing time, reopen a closed round for named experts."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from elicitation import round_changes, selectors
from elicitation.forms import LateInviteForm, RoundExtendForm, RoundReopenForm
from elicitation.links import invitation_magic_link
from elicitation.models import Round
from elicitation.views.organizer import _round_page, organizer_required


def round_change_forms(
    *, survey_round: Round, late_form=None, extend_form=None, reopen_form=None
) -> dict:
    """The round page's forms for changes of plan, those that apply to the round's state."""
    survey = survey_round.survey
    forms = {}
    if survey_round.is_open:
        not_invited = selectors.round_experts_not_invited(survey_round=survey_round)
        if late_form is not None or not_invited.exists():
            forms["late_form"] = late_form or LateInviteForm(survey=survey, experts=not_invited)
        initial = {"closes_at": survey_round.closes_at}
        forms["extend_form"] = extend_form or RoundExtendForm(initial=initial)
    if selectors.round_can_reopen(survey_round=survey_round):
        invited = selectors.round_experts_invited(survey_round=survey_round)
        forms["reopen_form"] = reopen_form or RoundReopenForm(survey=survey, experts=invited)
    return forms


def _errors_to_form(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _closed_meanwhile(request: HttpRequest, survey_round: Round) -> HttpResponse | None:
    """A post from a page shown while the round was open: say so on the round page."""
    survey_round.refresh_from_db(fields=["status"])
    if survey_round.is_open:
        return None
    messages.error(
        request,
        _(
            "Nothing was changed: the round is no longer open (the page was out of date). "
            "To let experts answer again, reopen the round for them."
        ),
    )
    return redirect("elicitation:round-detail", round_id=survey_round.id)


@organizer_required
@require_POST
def round_invite_late(request: HttpRequest, round_id: int) -> HttpResponse:
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    not_invited = selectors.round_experts_not_invited(survey_round=survey_round)
    form = LateInviteForm(request.POST, survey=survey_round.survey, experts=not_invited)
    if form.is_valid():
        try:
            invitations = round_changes.round_invite_late(
                survey_round=survey_round, experts=form.cleaned_data["experts"], by=request.user
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            n = len(invitations)
            messages.success(
                request,
                ngettext(
                    "%(n)d expert invited late; the invitation is on its way by email.",
                    "%(n)d experts invited late; the invitations are on their way by email.",
                    n,
                )
                % {"n": n},
            )
            return redirect("elicitation:round-detail", round_id=survey_round.id)
    return _closed_meanwhile(request, survey_round) or _round_page(
        request, survey_round, late_form=form, status=400
    )


@organizer_required
@require_POST
def round_extend(request: HttpRequest, round_id: int) -> HttpResponse:
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    form = RoundExtendForm(request.POST)
    if form.is_valid():
        try:
            round_changes.round_extend(
                survey_round=survey_round, by=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("The round's closing time is changed."))
            return redirect("elicitation:round-detail", round_id=survey_round.id)
    return _closed_meanwhile(request, survey_round) or _round_page(
        request, survey_round, extend_form=form, status=400
    )


@organizer_required
@require_POST
def round_reopen(request: HttpRequest, round_id: int) -> HttpResponse:
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    invited = selectors.round_experts_invited(survey_round=survey_round)
    form = RoundReopenForm(request.POST, survey=survey_round.survey, experts=invited)
    if form.is_valid():
        try:
            round_changes.round_reopen(
                survey_round=survey_round, by=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(
                request,
                _("Round reopened for the chosen experts; they get their link again by email."),
            )
            return redirect("elicitation:round-detail", round_id=survey_round.id)
    if not selectors.round_can_reopen(survey_round=survey_round):
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("elicitation:round-detail", round_id=survey_round.id)
    return _round_page(request, survey_round, reopen_form=form, status=400)


def _invitation(request, invitation_id: int):
    return get_object_or_404(
        selectors.invitations_for_organizer(user=request.user).select_related(
            "survey_round__survey"
        ),
        id=invitation_id,
    )


@organizer_required
@require_POST
def invitation_resend(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = _invitation(request, invitation_id)
    try:
        round_changes.invitation_resend(invitation=invitation)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("The link of %(code)s is on its way again by email; it still works as before.")
            % {"code": invitation.expert.code},
        )
    return redirect("elicitation:round-detail", round_id=invitation.survey_round_id)


@organizer_required
@require_POST
def invitation_copy_link(request: HttpRequest, invitation_id: int) -> HttpResponse:
    """Show one expert's link, to send it another way (a POST: it is not kept in history)."""
    invitation = _invitation(request, invitation_id)
    if invitation.survey_round.survey.is_strict:
        # The link opens a welcome page with the expert's name: shown to an organizer next
        # to the code, it would pair the two. At the strict level links go by email only.
        messages.error(
            request,
            _(
                "At the strict anonymity level links are not shown, since a link opens a page "
                "with the expert's name: use “Send again” to email it."
            ),
        )
        return redirect("elicitation:round-detail", round_id=invitation.survey_round_id)
    if not invitation.takes_answers or invitation.is_expired():
        messages.error(
            request,
            _("The link of %(code)s does not open the form now: use “New link” or extend.")
            % {"code": invitation.expert.code},
        )
        return redirect("elicitation:round-detail", round_id=invitation.survey_round_id)
    context = {
        "invitation": invitation,
        "survey_round": invitation.survey_round,
        "link": invitation_magic_link(invitation=invitation),
    }
    response = render(request, "elicitation/organizer/invitation_link.html", context)
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
