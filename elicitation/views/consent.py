"""The expert's consent page: read the version in force, agree or decline (elicitation.consent)."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from config.converters import parse_id
from elicitation import consent, texts
from elicitation.models import Invitation
from elicitation.views.expert import _page_context, expert_page


def consent_render(
    request: HttpRequest, invitation: Invitation, *, urls=None, error: str = "", status: int = 200
) -> HttpResponse:
    context = _page_context(request, invitation, urls)
    version = consent.consent_current(survey=invitation.survey_round.survey)
    state = consent.consent_state(expert=invitation.expert) if version else None
    context.update(
        {
            "consent_version": version,
            "state": state,
            "anonymity_meaning": consent.anonymity_meaning(invitation.survey_round.survey),
            "error": error,
        }
    )
    if version is not None:
        text = texts.localized(version, "text", context["language"])
        context.update(
            {
                "consent_html": texts.markdown_html(text.text),
                "consent_language": text.language,
                "consent_note": texts.fallback_note(context["language"]) if text.fallback else "",
            }
        )
    return render(request, "elicitation/expert/consent.html", context, status=status)


def declined_render(request: HttpRequest, invitation: Invitation, *, urls=None) -> HttpResponse:
    context = _page_context(request, invitation, urls)
    return render(request, "elicitation/expert/consent_declined.html", context)


@expert_page
@require_http_methods(["GET", "POST"])
def expert_consent(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    if request.method == "GET":
        state = consent.consent_state(expert=invitation.expert)
        if state.status == "declined" and "review" not in request.GET:
            return declined_render(request, invitation)
        return consent_render(request, invitation)
    if not invitation.takes_answers:
        return consent_render(
            request,
            invitation,
            error=consent.round_closed_message(survey_round=invitation.survey_round),
            status=409,
        )
    decision = request.POST.get("decision", "")
    version_id = parse_id(request.POST.get("version", ""))
    if decision not in ("accept", "decline") or version_id is None:
        return consent_render(
            request,
            invitation,
            error=consent.decision_missing_message(),
            status=400,
        )
    try:
        consent.consent_respond(
            invitation=invitation, version_id=version_id, accepted=decision == "accept"
        )
    except ValidationError as exc:
        return consent_render(request, invitation, error=" ".join(exc.messages), status=409)
    target = "elicitation:expert-form" if decision == "accept" else "elicitation:expert-consent"
    return redirect(target, invitation_id=invitation.id)
