"""Pilot mode for organizers: every expert page previewed in either language, saving
nothing, and the one-step wipe of pilot rounds (elicitation.pilot)."""

import copy

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from elicitation import pilot, selectors
from elicitation.forms import PilotWipeForm
from elicitation.models import Expert, Round
from elicitation.views.consent import consent_render, declined_render
from elicitation.views.expert import _form, _Page, _part_chosen, welcome_render
from elicitation.views.organizer import organizer_required

PREVIEW_PAGES = ("welcome", "consent", "declined", "form")


def _preview_url(survey_round: Round, language: str, page: str) -> str:
    return reverse("elicitation:round-preview", args=[survey_round.id, language, page])


def _preview_urls(survey_round: Round, language: str, page: str) -> dict:
    labels = {
        "welcome": _("Welcome"),
        "consent": _("Consent"),
        "form": _("Questions"),
    }
    links = [
        {
            "label": f"{labels[name]} ({code.upper()})",
            "url": _preview_url(survey_round, code, name),
            "current": (name, code) == (page, language),
        }
        for code in Expert.Language.values
        for name in labels
    ]
    links.append(
        {
            "label": _("Back to the round"),
            "url": reverse("elicitation:round-detail", args=[survey_round.id]),
            "current": False,
        }
    )
    urls = {name: _preview_url(survey_round, language, name) for name in PREVIEW_PAGES}
    return {**urls, "preview": {"links": links}}


@organizer_required
@require_http_methods(["GET", "POST"])
def round_preview(request: HttpRequest, round_id: int, language: str, page: str) -> HttpResponse:
    """An expert page of this round as a new expert sees it; a POST checks, saves nothing."""
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    if language not in Expert.Language.values or page not in PREVIEW_PAGES:
        raise Http404("No such preview page.")
    questions = pilot.preview_questions(survey_round=survey_round)
    # A draft round is previewed as it will be once open (in memory only).
    shown_round = copy.copy(survey_round)
    shown_round.status = Round.Status.OPEN
    invitation = pilot.preview_invitation(survey_round=shown_round, language=language)
    urls = _preview_urls(survey_round, language, page)
    with translation.override(language):
        if page == "form" and not questions:
            messages.warning(request, _("This round has no question to show yet."))
            page = "welcome"
        response = _preview_page(request, invitation, page, questions, urls)
    response.headers["Content-Language"] = language
    return response


def _preview_page(request, invitation, page: str, questions, urls) -> HttpResponse:
    posted = request.method == "POST"
    if page == "welcome":
        return welcome_render(request, invitation, urls, n_questions=len(questions))
    if page == "declined":
        return declined_render(request, invitation, urls=urls)
    if page == "consent":
        if posted:
            messages.info(request, _("Preview: nothing was recorded."))
            if request.POST.get("decision") == "decline":
                return declined_render(request, invitation, urls=urls)
        return consent_render(request, invitation, urls=urls)
    parts = selectors.form_parts(questions=questions)
    source = request.POST if posted else request.GET
    part = _part_chosen(source.get("part", ""), parts)
    view = _Page(request, invitation, questions, {}, parts, part, urls)
    if part is None:
        if posted:
            messages.info(request, _("Preview: nothing was submitted."))
        return view.render_summary()
    if not posted:
        return view.render(_form(invitation, part.questions, {}))
    form = _form(invitation, part.questions, {}, request.POST)
    if not form.is_valid():
        return view.render(form, 400)
    messages.info(request, _("Preview: these answers are valid. Nothing was saved."))
    return view.render(form)


@organizer_required
@require_POST
def survey_pilot_wipe(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    form = PilotWipeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["confirm"]))
        return redirect("elicitation:survey-detail", survey_id=survey.id)
    try:
        counts = pilot.pilot_wipe(survey=survey, remove_testers=form.cleaned_data["remove_testers"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _(
                "Pilot data wiped: %(rounds)s pilot round(s), %(answers)s answer(s) and "
                "%(experts)s test expert(s) invited to pilot rounds only deleted."
            )
            % counts,
        )
    return redirect("elicitation:survey-detail", survey_id=survey.id)
