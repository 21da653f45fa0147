"""Organizer pages that build a survey: the survey itself, its scenarios and questions, and
who organizes it or reads its reports. Every write goes through a service, which validates;
its errors come back on the form, with what was typed kept."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from elicitation import consent, selectors, services
from elicitation.forms import (
    ConsentForm,
    ExpertAddForm,
    PeopleForm,
    QuestionForm,
    ScenarioForm,
    SurveyForm,
)
from elicitation.models import Survey
from elicitation.views.organizer import organizer_required


def _form_page(request, form, *, title: str, back: tuple[str, str], intro: str = "", **extra):
    context = {"form": form, "title": title, "back_url": back[0], "back_text": back[1]}
    context |= {"intro": intro, **extra}
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "elicitation/organizer/form.html", context, status=status)


def _service_errors(form, exc: ValidationError) -> None:
    """A service's errors onto the form: by field where the form has it, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _survey_back(survey: Survey) -> tuple[str, str]:
    return reverse("elicitation:survey-detail", args=[survey.id]), survey.title


@organizer_required
@require_http_methods(["GET", "POST"])
def survey_create(request: HttpRequest) -> HttpResponse:
    form = SurveyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            survey = services.survey_create(organizers=[request.user], **form.cleaned_data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Survey created. Next: add scenarios and questions, then import the panel."),
            )
            return redirect("elicitation:survey-detail", survey_id=survey.id)
    back = (reverse("elicitation:survey-list"), _("Surveys"))
    return _form_page(request, form, title=_("Create a survey"), back=back)


@organizer_required
@require_http_methods(["GET", "POST"])
def survey_edit(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    form = SurveyForm(request.POST or None, instance=survey)
    if request.method == "POST" and form.is_valid():
        try:
            services.survey_update(survey=survey, **form.cleaned_data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("Survey saved."))
            return redirect("elicitation:survey-detail", survey_id=survey.id)
    return _form_page(request, form, title=_("Edit the survey"), back=_survey_back(survey))


@organizer_required
@require_http_methods(["GET", "POST"])
def survey_people(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    initial = {
        "organizers": list(survey.organizers.values_list("id", flat=True)),
        "analysts": list(survey.analysts.values_list("id", flat=True)),
    }
    form = PeopleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.survey_people_set(survey=survey, by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("Organizers and analysts saved."))
            return redirect("elicitation:survey-detail", survey_id=survey.id)
    intro = _(
        "Organizers are staff accounts; analysts may be any account with a login. Expert "
        "accounts are never listed: experts answer on their personal links. To add someone "
        "new, a superuser creates their account first."
    )
    title = _("Organizers and analysts")
    return _form_page(request, form, title=title, back=_survey_back(survey), intro=intro)


@organizer_required
@require_http_methods(["GET", "POST"])
def scenario_create(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    form = ScenarioForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.scenario_create(survey=survey, **form.cleaned_data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("Scenario added."))
            return redirect("elicitation:survey-detail", survey_id=survey.id)
    return _form_page(request, form, title=_("Add a scenario"), back=_survey_back(survey))


@organizer_required
@require_http_methods(["GET", "POST"])
def scenario_edit(request: HttpRequest, scenario_id: int) -> HttpResponse:
    scenario = selectors.scenario_get_for_organizer(user=request.user, scenario_id=scenario_id)
    form = ScenarioForm(request.POST or None, instance=scenario)
    if request.method == "POST" and form.is_valid():
        try:
            services.scenario_update(scenario=scenario, **form.cleaned_data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("Scenario saved."))
            return redirect("elicitation:survey-detail", survey_id=scenario.survey_id)
    title = _("Edit the scenario %(code)s") % {"code": scenario.code}
    return _form_page(request, form, title=title, back=_survey_back(scenario.survey))


@organizer_required
@require_http_methods(["GET", "POST"])
def question_create(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    form = QuestionForm(request.POST or None, survey=survey)
    if request.method == "POST" and form.is_valid():
        try:
            services.question_create(survey=survey, **form.cleaned_data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("Question added."))
            return redirect("elicitation:survey-detail", survey_id=survey.id)
    return _form_page(request, form, title=_("Add a question"), back=_survey_back(survey))


@organizer_required
@require_http_methods(["GET", "POST"])
def question_edit(request: HttpRequest, question_id: int) -> HttpResponse:
    question = selectors.survey_question_get_for_organizer(
        user=request.user, question_id=question_id
    )
    survey = question.survey
    locked = selectors.question_is_answered(question=question)
    form = QuestionForm(request.POST or None, instance=question, survey=survey)
    if request.method == "POST" and form.is_valid():
        try:
            services.question_update(question=question, **form.cleaned_data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("Question %(code)s saved.") % {"code": question.code})
            return redirect("elicitation:survey-detail", survey_id=survey.id)
    intro = (
        _(
            "Experts have already answered this question, so it can no longer change: their "
            "answers are to its present wording. During an open round, use “Clarify the "
            "wording” on the survey page; otherwise add a new question."
        )
        if locked
        else _("You can change anything here until the first expert answers this question.")
    )
    title = _("Edit the question %(code)s") % {"code": question.code}
    return _form_page(
        request, form, title=title, back=_survey_back(survey), intro=intro, locked=locked
    )


@organizer_required
@require_http_methods(["GET", "POST"])
def survey_consent(request: HttpRequest, survey_id: int) -> HttpResponse:
    """The consent and information text; a changed text is saved as a new version."""
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    current = consent.consent_current(survey=survey)
    initial = {"text": current.text, "text_ko": current.text_ko} if current else {}
    form = ConsentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            version = consent.consent_version_save(
                survey=survey, by=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            if version is None:
                messages.info(request, _("The consent text is unchanged: no new version."))
            else:
                messages.success(
                    request,
                    _(
                        "Consent version %(number)s saved. Experts accept it before their "
                        "next answer, including those who accepted an earlier version."
                    )
                    % {"number": version.number},
                )
            return redirect("elicitation:survey-detail", survey_id=survey.id)
    if current:
        intro = _(
            "Version %(number)s is in force. Saving a changed text makes version %(next)s, "
            "and every expert is asked to accept it before answering further."
        ) % {"number": current.number, "next": current.number + 1}
    else:
        intro = _(
            "No consent is asked yet: experts go straight to the questions. Once saved, "
            "every expert accepts this text before the first question."
        )
    return _form_page(
        request, form, title=_("Consent and information"), back=_survey_back(survey),
        intro=intro, consent_history=consent.consent_history(survey=survey),
    )  # fmt: skip


@organizer_required
@require_http_methods(["GET", "POST"])
def expert_add(request: HttpRequest, survey_id: int) -> HttpResponse:
    """One expert added to the panel (e.g. to invite late), without a CSV."""
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    form = ExpertAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {**form.cleaned_data, "time_zone": form.cleaned_data["time_zone"] or None}
        try:
            services.expert_create(survey=survey, **data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            if survey.is_strict:
                message = _(
                    "Expert added. This survey is strictly anonymous: their code was drawn at "
                    "random and is not shown next to the name you typed."
                )
            else:
                message = _(
                    "Expert added to the panel. To ask them into an open round, use "
                    "“Invite experts late” on the round's page."
                )
            messages.success(request, message)
            return redirect("elicitation:survey-detail", survey_id=survey.id)
    return _form_page(request, form, title=_("Add an expert"), back=_survey_back(survey))
