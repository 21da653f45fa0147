"""Expert pages, opened by a personal link: no account, no password.

The link's token is checked once (``expert_entry``); the session then remembers the
invitation and every later page has a token-free URL, so the token does not linger in the
browser history or leak through a Referer header.
"""

from contextlib import suppress
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.converters import parse_id
from elicitation import clarifications, consent, meta, selectors, services, texts, throttle
from elicitation.feedback import invitation_feedback
from elicitation.forms import ExpertAnswersForm
from elicitation.models import Expert, Invitation, Question
from elicitation.selectors import SESSION_INVITATIONS, LinkRefused


def _refused(request: HttpRequest, refusal: LinkRefused) -> HttpResponse:
    """The refusal page: in the expert's language when we know whose link it was (expired),
    else in the browser's (LocaleMiddleware)."""
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

    def build() -> HttpResponse:
        return render(request, "elicitation/expert/refused.html", context, status=refusal.status)

    response = _in_expert_language(invitation, build) if invitation else build()
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _in_expert_language(invitation: Invitation, build) -> HttpResponse:
    """Render in the language picked for this invitation and in the expert's time zone."""
    language = invitation.effective_language
    with translation.override(language), timezone.override(invitation.expert.time_zone):
        response = build()
    response.headers["Content-Language"] = language
    return response


def expert_urls(invitation: Invitation) -> dict[str, str]:
    """Where an expert's pages link to (an organizer's preview links to its own pages)."""
    return {
        name: reverse(f"elicitation:expert-{name}", args=[invitation.id])
        for name in ("welcome", "form", "consent")
    }


def _page_context(request: HttpRequest, invitation: Invitation, urls: dict | None = None) -> dict:
    """What every expert page shows: the survey in the page's language, the switcher."""
    survey_round = invitation.survey_round
    survey = survey_round.survey
    language = invitation.effective_language
    title = texts.localized(survey, "title", language)
    urls = urls or expert_urls(invitation)
    return {
        "welcome_url": urls["welcome"],
        "form_url": urls["form"],
        "consent_url": urls["consent"],
        # An organizer's preview: the page as an expert sees it, saving nothing.
        "preview": urls.get("preview", False),
        "invitation": invitation,
        "survey": survey,
        "survey_round": survey_round,
        "survey_title": title,
        "language": language,
        # A preview switches language with its own links (the banner), not the expert's form.
        "languages": None if urls.get("preview") else Expert.Language.choices,
        "language_next": request.get_full_path(),
        "contact_email": selectors.survey_contact_email(survey=survey),
    }


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
        # The expert's survey is the round's, read with the invitation: not read again
        # (consent_state and the meta-predictions ask the expert for it).
        if invitation.expert.survey_id == invitation.survey_round.survey_id:
            invitation.expert.survey = invitation.survey_round.survey
        return _in_expert_language(invitation, lambda: view(request, invitation))

    return wrapper


@never_cache
@require_GET
def expert_entry(request: HttpRequest, invitation_id: int) -> HttpResponse:
    """Check the magic link, bind this browser to it, continue on a token-free URL.

    A valid link always opens, whatever anyone else guessed; invalid ones are counted per
    client address, and past the limit they get a 429 page (elicitation.throttle).
    """
    opened = selectors.session_invitations(session=request.session)
    if settings.SESAME_TOKEN_NAME not in request.GET and invitation_id in opened:
        return redirect("elicitation:expert-welcome", invitation_id=invitation_id)
    try:
        invitation = selectors.invitation_get_by_link(request=request, invitation_id=invitation_id)
    except LinkRefused as refusal:
        if refusal.reason in ("invalid", "not_yours"):
            throttle.link_failure_record(request=request, invitation_id=invitation_id)
            if throttle.link_failures_exceeded(request=request):
                refusal = LinkRefused("throttled")
        return _refused(request, refusal)
    if request.user.is_authenticated:
        # One browser session is one expert's: a staff login does not ride along.
        logout(request)
    _session_remember(request, invitation)
    services.invitation_mark_opened(invitation=invitation)
    response = redirect("elicitation:expert-welcome", invitation_id=invitation.id)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _session_remember(request: HttpRequest, invitation: Invitation) -> None:
    """Keep this expert's invitations only: a shared computer must not mix two experts."""
    remembered = selectors.session_invitations(session=request.session)
    same_expert = Invitation.objects.filter(id__in=remembered, expert_id=invitation.expert_id)
    bound = {str(i): remembered[i] for i in same_expert.values_list("id", flat=True)}
    bound[str(invitation.id)] = invitation.link_version
    request.session.cycle_key()  # a new session id once the link has been proven
    request.session[SESSION_INVITATIONS] = bound


@expert_page
@require_POST
def expert_language(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    """The language switcher (a plain form): remembered for this invitation."""
    # An unknown language changes nothing; the page offers the ones there are.
    with suppress(ValidationError):
        services.invitation_language_set(
            invitation=invitation, language=request.POST.get("language", "")
        )
    target = request.POST.get("next", "")
    own_pages = reverse("elicitation:expert-entry", args=[invitation.id])
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    if not (safe and target.startswith(own_pages)):
        target = reverse("elicitation:expert-welcome", args=[invitation.id])
    return redirect(target)


@expert_page
@require_GET
def expert_welcome(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    return welcome_render(request, invitation)


def welcome_render(
    request: HttpRequest, invitation: Invitation, urls=None, n_questions: int | None = None
) -> HttpResponse:
    survey_round = invitation.survey_round
    context = _page_context(request, invitation, urls)
    state = consent.consent_state(expert=invitation.expert)
    background = texts.localized(survey_round.survey, "background", context["language"])
    context.update(
        {
            "background": texts.markdown_html(background.text),
            "background_language": background.language,
            "background_note": texts.fallback_note(context["language"])
            if background.fallback
            else "",
            "n_questions": survey_round.questions.count() if n_questions is None else n_questions,
            "follow_up": survey_round.feedback_round_id is not None,
            "consent_first": invitation.takes_answers and not state.allows_answers,
        }
    )
    return render(request, "elicitation/expert/welcome.html", context)


def _form(
    invitation: Invitation, questions, judgments, data=None, keep=(), *, previous=True
) -> ExpertAnswersForm:
    """The answer sheet; ``previous=False``: without the expert's previous answers (a save
    that keeps none needs them only if the page is shown again: ``_Page.render`` reads them)."""
    form = ExpertAnswersForm(
        data,
        questions=questions,
        judgments=judgments,
        previous=selectors.invitation_previous_judgments(invitation=invitation) if previous else {},
        follow_up=invitation.survey_round.feedback_round_id is not None,
        keep=keep,
        meta_ask=meta.meta_ask_for_expert(
            survey=invitation.survey_round.survey, expert=invitation.expert
        ),
    )
    form.previous_unread = not previous
    return form


def _kept_questions(post, questions, judgments) -> list[int]:
    """The "keep my previous answer" buttons: one question's id, or "all" (unanswered).

    Anything else keeps nothing, like the id of a question with no previous answer: not
    ``str.isdigit()``, which passes "²" and 5,000 digits, both refused by ``int()``.
    """
    value = post.get("keep", "")
    if value == "all":
        return [question.id for question in questions if question.id not in judgments]
    question_id = parse_id(value)
    # only a question of this page: keeping an answer the page does not show (another
    # part's, or a question of the earlier round left out of this one) keeps nothing
    return [question_id] if question_id in {question.id for question in questions} else []


SUMMARY = "summary"  # ?part=summary: the last page of a form in parts, where Submit is


def _part_chosen(value: str, parts: list[selectors.FormPart]) -> selectors.FormPart | None:
    """The part a request names (?part=, or the form's hidden field): None for the summary
    of a form in parts; the first part for anything else it cannot read."""
    if value == SUMMARY and len(parts) > 1:
        return None
    number = parse_id(value)
    return parts[number - 1] if number and number <= len(parts) else parts[0]


def _part_url(invitation: Invitation, parts, part: selectors.FormPart | None, base=None) -> str:
    url = base or reverse("elicitation:expert-form", args=[invitation.id])
    if len(parts) == 1:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}part={part.number if part else SUMMARY}"


@expert_page
@require_http_methods(["GET", "POST"])
def expert_form(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    """The answers, on one page, or in parts (one scenario a page) for a long round."""
    if (
        invitation.takes_answers
        and not consent.consent_state(expert=invitation.expert).allows_answers
    ):
        # Consent (or consent to a changed text) comes before any question.
        if request.method == "POST":
            messages.error(
                request,
                _(
                    "Nothing was saved: the consent text is new or has changed. Please read "
                    "it and agree below, then answer again."
                ),
            )
        return redirect("elicitation:expert-consent", invitation_id=invitation.id)
    questions = selectors.round_questions(survey_round=invitation.survey_round)
    judgments = selectors.invitation_judgments(invitation=invitation)
    parts = selectors.form_parts(questions=questions)
    source = request.POST if request.method == "POST" else request.GET
    part = _part_chosen(source.get("part", ""), parts)
    page = _Page(request, invitation, questions, judgments, parts, part)
    if not invitation.takes_answers:
        return page.render(None, 409 if request.method == "POST" else 200)
    if part is None:
        return _summary(page)
    if request.method == "GET":
        return page.render(_form(invitation, part.questions, judgments))
    keep = _kept_questions(request.POST, part.questions, judgments)
    form = _form(invitation, part.questions, judgments, request.POST, keep, previous=bool(keep))
    submit = len(parts) == 1 and "submit" in request.POST and not keep
    valid = form.is_valid()
    if submit:  # list every missing answer at once, alongside any other error
        valid = form.require_all_answered() and valid
    if not valid:
        return page.render(form, 400)
    try:
        services.invitation_answers_save(
            invitation=invitation, answers=form.answers(), submit=submit
        )
    except ValidationError as exc:
        if exc.code == "round_closed":  # closed between loading this page and saving it
            return page.render(None, 409)
        # a service error may be keyed by an answer's field ("q05"), which is not a field
        # of this form: every message goes to the top of the form
        form.add_error(None, exc.messages)
        return page.render(form, 400)
    url = _part_url(invitation, parts, part)
    confirmed = _wording_confirm(request, invitation, questions)
    if confirmed is not None:
        return redirect(f"{url}#question-{confirmed.code}")
    if form.kept:
        messages.success(request, _kept_message(form, questions))
        if len(form.kept) == 1:
            code = next(q.code for q in questions if q.id in form.kept)
            return redirect(f"{url}#question-{code}")
        return redirect(url)
    messages.success(request, _saved_message(submit))
    if "next" in request.POST and len(parts) > 1:
        following = parts[part.number] if part.number < len(parts) else None
        return redirect(_part_url(invitation, parts, following))
    return redirect(url)


def _wording_confirm(request, invitation: Invitation, questions) -> Question | None:
    """The "confirm my answer under the new wording" button of one question (its id)."""
    question_id = parse_id(request.POST.get("confirm", ""))
    question = next((q for q in questions if q.id == question_id), None)
    if question is None:
        return None
    try:
        clarifications.judgment_wording_confirm(invitation=invitation, question_id=question.id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Your answer to %(code)s is confirmed under the present wording.")
            % {"code": question.code},
        )
    return question


def _summary(page: "_Page") -> HttpResponse:
    """Every part's progress, the questions still unanswered, and Submit."""
    if page.request.method == "POST" and "submit" in page.request.POST:
        try:
            services.invitation_answers_save(invitation=page.invitation, answers=[], submit=True)
        except ValidationError as exc:
            if exc.code == "round_closed":
                return page.render(None, 409)
            return page.render_summary(" ".join(exc.messages), 400)
        messages.success(page.request, _saved_message(True))
        return redirect(_part_url(page.invitation, page.parts, None))
    return page.render_summary()


def _kept_message(form: ExpertAnswersForm, questions) -> str:
    codes = ", ".join(q.code for q in questions if q.id in form.kept)
    return _(
        "Your previous answer is kept for %(codes)s. You can still change it, and the rest "
        "of the page is saved too."
    ) % {"codes": codes}


def _saved_message(submit: bool) -> str:
    if submit:
        return _(
            "Thank you: your answers are submitted. You can still revise them until the "
            "round closes."
        )
    return _("Your answers are saved. Come back with your personal link at any time.")


class _Page:
    """The answers page of one part (or the summary) of one expert's form."""

    def __init__(self, request, invitation, questions, judgments, parts, part, urls=None):
        self.request, self.invitation = request, invitation
        self.questions, self.judgments = questions, judgments
        self.parts, self.part = parts, part
        self.urls = urls or expert_urls(invitation)
        self._meta_ask = None

    @property
    def meta_ask(self) -> meta.MetaAsk:
        if self._meta_ask is None:
            self._meta_ask = meta.meta_ask_for_expert(
                survey=self.invitation.survey_round.survey, expert=self.invitation.expert
            )
        return self._meta_ask

    def _missing(self, questions) -> list[Question]:
        """Not answered yet, or (a survey that requires them) without every meta-prediction."""
        return [
            q
            for q in questions
            if q.id not in self.judgments or self.meta_ask.missing(q, self.judgments.get(q.id))
        ]

    def _url(self, part) -> str:
        return _part_url(self.invitation, self.parts, part, base=self.urls["form"])

    def _context(self) -> dict:
        context = _page_context(self.request, self.invitation, self.urls)
        language = context["language"]
        answered = sum(1 for question in self.questions if question.id in self.judgments)
        context.update(
            {
                "answered": answered,
                "total": len(self.questions),
                "in_parts": len(self.parts) > 1,
                "parts": [self._part_nav(part, language) for part in self.parts],
                "part": self.part,
                "summary_url": self._url(None),
                "read_only": not self.invitation.takes_answers,
            }
        )
        return context

    def _part_nav(self, part, language: str) -> dict:
        title = texts.localized(part.scenario, "title", language).text if part.scenario else ""
        return {
            "number": part.number,
            "title": title,
            "piece": part.piece,
            "pieces": part.pieces,
            "url": self._url(part),
            "answered": sum(1 for q in part.questions if q.id in self.judgments),
            "total": len(part.questions),
            "missing": self._missing(part.questions),
            "current": part == self.part,
        }

    def render(self, form, status: int = 200) -> HttpResponse:
        survey_round = self.invitation.survey_round
        questions = self.part.questions if self.part else self.questions
        if form is None:  # the round is closed (read-only), or it closed while saving
            form = _form(self.invitation, questions, self.judgments)
        if form.previous_unread:  # a save's form, shown again (an error)
            form.previous = selectors.invitation_previous_judgments(invitation=self.invitation)
        self._meta_ask = form.meta_ask  # read once (the panel's cohorts) for form and nav
        context = self._context()
        language = context["language"]
        # Feedback only while the round is open: a closed round's page shows the answers.
        feedback = invitation_feedback(
            invitation=self.invitation, language=language, questions=questions, own=form.previous
        )
        index = self.parts.index(self.part) if self.part in self.parts else 0
        context.update(
            {
                "form": form,
                "refused_write": status == 409,
                "groups": _grouped_rows(
                    form,
                    language,
                    feedback if survey_round.is_open else None,
                    self.judgments,
                ),
                "feedback": feedback,
                "follow_up": form.follow_up,
                "can_keep_all": bool(form.previous)
                and any(q.id in form.previous and q.id not in self.judgments for q in questions),
                "is_last_part": index == len(self.parts) - 1,
            }
        )
        return render(self.request, "elicitation/expert/form.html", context, status=status)

    def render_summary(self, error: str = "", status: int = 200) -> HttpResponse:
        context = self._context()
        context["submit_error"] = error
        context["meta_required"] = self.meta_ask.required
        return render(self.request, "elicitation/expert/form_summary.html", context, status=status)


def _grouped_rows(form: ExpertAnswersForm, language: str, feedback, judgments=None):
    rows = {row.question.id: row for row in form.rows()}
    clarified = clarifications.latest_versions(questions=form.questions)
    for row in rows.values():
        row.content = texts.question_content(row.question, language)
        judgment = (judgments or {}).get(row.question.id)
        version = clarified.get(row.question.id)
        # Answered before the wording changed: say what changed, ask to confirm or revise.
        if judgment is not None and version and judgment.question_version < version.number:
            row.clarification = texts.localized(version, "note", language)
        if feedback is not None and feedback.visible:
            row.feedback = feedback.questions.get(row.question.id)
    groups = []
    for scenario, questions in selectors.questions_by_scenario(questions=form.questions):
        title = texts.localized(scenario, "title", language) if scenario else None
        description = texts.localized(scenario, "description", language) if scenario else None
        fell_back = scenario and (title.fallback or description.fallback)
        groups.append(
            {
                "scenario": scenario,
                "title": title,
                "description": texts.markdown_html(description.text) if scenario else "",
                "description_language": description.language if scenario else language,
                "note": texts.fallback_note(language) if fell_back else "",
                "rows": [rows[question.id] for question in questions],
            }
        )
    return groups
