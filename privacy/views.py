"""Data-subject requests on the organizer pages: one person's data, exported or erased.

Organizers of the survey only (``elicitation.selectors.survey_get_for_organizer``), at
either anonymity level: the organizer acts on the expert's own request. People are named by
their contact's random id, never by their expert's id or code.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from config.csvexport import NO_STORE
from elicitation import selectors as elicitation_selectors
from elicitation.views.organizer import organizer_required
from privacy import export, selectors, services


@organizer_required
@require_GET
def survey_requests(request: HttpRequest, survey_id: int) -> HttpResponse:
    """The panel (to pick a person) and the audit of the survey's requests."""
    survey = elicitation_selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    context = {
        "survey": survey,
        "contacts": survey.contacts.order_by("name", "email"),
        "requests": selectors.survey_subject_requests(survey=survey),
    }
    return render(request, "privacy/survey_requests.html", context)


@organizer_required
@require_GET
def person_detail(request: HttpRequest, survey_id: int, contact_id) -> HttpResponse:
    contact = selectors.contact_get_for_organizer(
        user=request.user, survey_id=survey_id, contact_id=contact_id
    )
    runs, recalibrations = selectors.runs_using_answers(expert=contact.expert)
    context = {
        "survey": contact.survey,
        "contact": contact,
        "erased": services.contact_is_erased(contact),
        "erasure": selectors.expert_erasure(expert=contact.expert),
        "n_answers": contact.expert.judgments.count(),
        "n_invitations": contact.expert.invitations.count(),
        "runs": runs,
        "recalibrations": recalibrations,
    }
    return render(request, "privacy/person_detail.html", context)


@organizer_required
@require_GET
def person_export_json(request: HttpRequest, survey_id: int, contact_id) -> HttpResponse:
    contact = selectors.contact_get_for_organizer(
        user=request.user, survey_id=survey_id, contact_id=contact_id
    )
    services.subject_export_record(contact=contact, by=request.user, what="json")
    body = export.expert_export_json(expert=contact.expert)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="survey-{contact.survey_id}-personal-data.json"'
    )
    response["Cache-Control"] = NO_STORE
    return response


@organizer_required
@require_GET
def person_export_html(request: HttpRequest, survey_id: int, contact_id) -> HttpResponse:
    contact = selectors.contact_get_for_organizer(
        user=request.user, survey_id=survey_id, contact_id=contact_id
    )
    services.subject_export_record(contact=contact, by=request.user, what="html")
    document = export.expert_export(expert=contact.expert)
    document["sections"] = {
        key: {**section, "rows": export.readable(section["rows"]) or []}
        for key, section in document["sections"].items()
    }
    response = render(
        request,
        "privacy/person_export.html",
        {"survey": contact.survey, "contact": contact, "document": document},
    )
    response["Cache-Control"] = NO_STORE
    return response


@organizer_required
@require_POST
def person_erase(request: HttpRequest, survey_id: int, contact_id) -> HttpResponse:
    contact = selectors.contact_get_for_organizer(
        user=request.user, survey_id=survey_id, contact_id=contact_id
    )
    back = redirect("privacy:person-detail", survey_id=survey_id, contact_id=contact.id)
    if request.POST.get("confirm") != "yes":
        messages.error(
            request,
            _("Nothing was erased: tick “I confirm” to erase; it cannot be undone."),
        )
        return back
    try:
        done = services.expert_erase(
            contact=contact,
            by=request.user,
            erase_answers=request.POST.get("answers") == "yes",
            reason=request.POST.get("reason", "")[:2000],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return back
    n_runs = len(done.detail.get("runs_marked", [])) + len(
        done.detail.get("recalibrations_marked", [])
    )
    messages.success(
        request,
        _(
            "Erased. %(n)s finished or queued runs used the answers: they are kept unchanged and "
            "marked “built on data since erased”."
        )
        % {"n": n_runs}
        if n_runs
        else _("Erased."),
    )
    return redirect("privacy:survey-requests", survey_id=survey_id)
