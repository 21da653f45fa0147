"""Expert pages, opened by a personal link: no account, no password.

The link's token is checked once (``expert_entry``); the session then remembers the
invitation and every later page has a token-free URL, so the token does not linger in the
browser history or leak through a Referer header.
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from elicitation import selectors, services
from elicitation.forms import ExpertAnswersForm
from elicitation.models import Invitation
from elicitation.selectors import SESSION_INVITATIONS, LinkRefused


def _refused(request: HttpRequest, refusal: LinkRefused) -> HttpResponse:
    invitation = refusal.invitation
    context = {
        "reason": refusal.reason,
        "invitation": invitation,
        "contact_email": (
            selectors.survey_contact_email(survey=invitation.survey_round.survey)
            if invitation
            else ""
        ),
    }
    response = render(request, "elicitation/expert/refused.html", context, status=refusal.status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _in_expert_language(invitation: Invitation, build) -> HttpResponse:
    with translation.override(invitation.expert.language):
        response = build()
    response.headers["Content-Language"] = invitation.expert.language
    return response


def expert_page(view):
    """Resolve the invitation this browser opened, refuse clearly otherwise."""

    @wraps(view)
    @never_cache
    def wrapper(request: HttpRequest, invitation_id: int) -> HttpResponse:
        try:
            invitation = selectors.invitation_get_for_session(
                session=request.session, invitation_id=invitation_id
            )
        except LinkRefused as refusal:
            return _refused(request, refusal)
        return _in_expert_language(invitation, lambda: view(request, invitation))

    return wrapper


@never_cache
@require_GET
def expert_entry(request: HttpRequest, invitation_id: int) -> HttpResponse:
    """Check the magic link, remember the invitation, continue on a token-free URL."""
    opened_before = invitation_id in request.session.get(SESSION_INVITATIONS, [])
    if settings.SESAME_TOKEN_NAME not in request.GET and opened_before:
        return redirect("elicitation:expert-welcome", invitation_id=invitation_id)
    try:
        invitation = selectors.invitation_get_by_link(request=request, invitation_id=invitation_id)
    except LinkRefused as refusal:
        return _refused(request, refusal)
    _session_remember(request, invitation)
    services.invitation_mark_opened(invitation=invitation)
    response = redirect("elicitation:expert-welcome", invitation_id=invitation.id)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _session_remember(request: HttpRequest, invitation: Invitation) -> None:
    """Keep this expert's invitations only: a shared computer must not mix two experts."""
    remembered = request.session.get(SESSION_INVITATIONS, [])
    same_expert = Invitation.objects.filter(id__in=remembered, expert_id=invitation.expert_id)
    ids = sorted({*same_expert.values_list("id", flat=True), invitation.id})
    request.session.cycle_key()  # a new session id once the link has been proven
    request.session[SESSION_INVITATIONS] = ids


@expert_page
@require_GET
def expert_welcome(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    survey_round = invitation.survey_round
    survey = survey_round.survey
    context = {
        "invitation": invitation,
        "survey": survey,
        "survey_round": survey_round,
        "background": selectors.markdown_html(survey.background),
        "n_questions": survey_round.questions.count(),
        "contact_email": selectors.survey_contact_email(survey=survey),
    }
    return render(request, "elicitation/expert/welcome.html", context)


@expert_page
@require_http_methods(["GET", "POST"])
def expert_form(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    questions = selectors.round_questions(survey_round=invitation.survey_round)
    judgments = selectors.invitation_judgments(invitation=invitation)
    if not invitation.survey_round.is_open:
        status = 409 if request.method == "POST" else 200
        return _answers_page(request, invitation, questions, judgments, None, status)
    if request.method == "GET":
        form = ExpertAnswersForm(questions=questions, judgments=judgments)
        return _answers_page(request, invitation, questions, judgments, form)
    form = ExpertAnswersForm(request.POST, questions=questions, judgments=judgments)
    submit = "submit" in request.POST
    valid = form.is_valid()
    if submit:  # list every missing answer at once, alongside any other error
        valid = form.require_all_answered() and valid
    if not valid:
        return _answers_page(request, invitation, questions, judgments, form, 400)
    try:
        services.invitation_answers_save(
            invitation=invitation, answers=form.answers(), submit=submit
        )
    except ValidationError as exc:
        if exc.code == "round_closed":  # closed between loading this page and saving it
            return _answers_page(request, invitation, questions, judgments, None, 409)
        form.add_error(None, exc)
        return _answers_page(request, invitation, questions, judgments, form, 400)
    messages.success(request, _saved_message(submit))
    return redirect("elicitation:expert-form", invitation_id=invitation.id)


def _saved_message(submit: bool) -> str:
    if submit:
        return _(
            "Thank you: your answers are submitted. You can still revise them until the "
            "round closes."
        )
    return _("Your answers are saved. Come back with your personal link at any time.")


def _answers_page(request, invitation, questions, judgments, form, status=200) -> HttpResponse:
    survey_round = invitation.survey_round
    if form is None:  # the round is closed: read-only
        form = ExpertAnswersForm(questions=questions, judgments=judgments)
    answered = sum(1 for question in questions if question.id in judgments)
    context = {
        "invitation": invitation,
        "survey": survey_round.survey,
        "survey_round": survey_round,
        "form": form,
        "read_only": not survey_round.is_open,
        "refused_write": status == 409,
        "groups": _grouped_rows(form),
        "answered": answered,
        "total": len(questions),
        "contact_email": selectors.survey_contact_email(survey=survey_round.survey),
    }
    return render(request, "elicitation/expert/form.html", context, status=status)


def _grouped_rows(form: ExpertAnswersForm):
    rows = {row.question.id: row for row in form.rows()}
    return [
        {
            "scenario": scenario,
            "description": selectors.markdown_html(scenario.description) if scenario else "",
            "rows": [rows[question.id] for question in questions],
        }
        for scenario, questions in selectors.questions_by_scenario(questions=form.questions)
    ]
