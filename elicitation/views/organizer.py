"""Organizer pages: surveys, CSV import of the questions and the panel, rounds and progress.

Staff only, and only for surveys the user organizes (superusers see all); the selectors
answer 404 for any other survey.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from elicitation import (
    clarifications,
    consent,
    imports,
    pilot,
    reminders,
    selectors,
    services,
    texts,
)
from elicitation.forms import (
    CsvUploadForm,
    PilotWipeForm,
    ReminderScheduleForm,
    RoundCreateForm,
    RoundOpenForm,
    SurveyAnonymityForm,
)
from elicitation.models import Judgment, Reminder, Round, Survey
from elicitation.templatetags import consilium_time


def organizer_required(view):
    """Anonymous users go to the login page; logged-in users who are not staff get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied(_("Organizer pages are for staff accounts."))
        return view(request, *args, **kwargs)

    return wrapper


@organizer_required
def survey_list(request: HttpRequest) -> HttpResponse:
    surveys = selectors.survey_list_for_organizer(user=request.user)
    return render(request, "elicitation/organizer/survey_list.html", {"surveys": surveys})


@organizer_required
def survey_detail(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    questions = list(survey.questions.select_related("scenario"))
    context = {
        "survey": survey,
        "background": texts.markdown_html(survey.background),
        "groups": selectors.survey_scenarios_with_questions(survey=survey, questions=questions),
        "n_questions": len(questions),
        "rounds": survey.rounds.all(),
        **selectors.survey_panel(survey=survey),
        "round_form": RoundCreateForm(),
        "anonymity_form": SurveyAnonymityForm(initial={"anonymity": survey.anonymity}),
        "n_translated": sum(1 for question in questions if question.text_ko.strip()),
        "consent_version": consent.consent_current(survey=survey),
        "consent_declined": consent.consent_declined_count(survey=survey),
        "pilot": pilot.survey_pilot_counts(survey=survey),
        "pilot_form": PilotWipeForm(),
        "clarifiable": selectors.survey_questions_in_open_rounds(survey=survey),
    }
    return render(request, "elicitation/organizer/survey_detail.html", context)


@organizer_required
@require_POST
def survey_anonymity(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    form = SurveyAnonymityForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the anonymity levels."))
        return redirect("elicitation:survey-detail", survey_id=survey.id)
    try:
        services.survey_anonymity_set(survey=survey, anonymity=form.cleaned_data["anonymity"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Anonymity: %(level)s.") % {"level": survey.get_anonymity_display()},
        )
        if survey.is_strict and survey.rounds.exclude(status=Round.Status.DRAFT).exists():
            messages.warning(
                request,
                _(
                    "Rounds were opened before this change, so the experts keep their codes, "
                    "and whoever saw the codes beside the names then can still pair them. "
                    "For a panel nobody can pair, start a new survey at the strict level."
                ),
            )
    return redirect("elicitation:survey-detail", survey_id=survey.id)


# --- CSV import -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportKind:
    title: str
    preview: Callable
    apply: Callable
    columns_help: str


def _import_kinds() -> dict[str, ImportKind]:
    return {
        "questions": ImportKind(
            _("Import questions"),
            imports.questions_preview,
            imports.questions_import,
            _(
                "Columns: code, text, kind (binary or numeric) are required; optional: "
                "scenario, scenario_title, guidance, unit, lower_bound, upper_bound, scale "
                "(uniform or log), resolution_criteria, tags, is_seed (yes/no), seed_answer, "
                "and the Korean texts text_ko, guidance_ko, unit_ko, resolution_criteria_ko, "
                "scenario_title_ko."
            ),
        ),
        "experts": ImportKind(
            _("Import experts"),
            imports.experts_preview,
            imports.experts_import,
            _(
                "Columns: name, email are required; language (en or ko), code and time_zone "
                "(e.g. Asia/Seoul) are optional; every other column (e.g. nationality, "
                "sector) becomes a cohort attribute."
            ),
        ),
    }


def _import_page(request, survey: Survey, kind: ImportKind, **extra) -> HttpResponse:
    context = {"survey": survey, "kind": kind, "form": CsvUploadForm(), **extra}
    status = 400 if extra.get("errors") or extra.get("form_errors") else 200
    return render(request, "elicitation/organizer/import.html", context, status=status)


@organizer_required
@require_http_methods(["GET", "POST"])
def survey_import(request: HttpRequest, survey_id: int, what: str) -> HttpResponse:
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    kind = _import_kinds()[what]
    if request.method == "GET":
        return _import_page(request, survey, kind)
    if "confirm" in request.POST:
        return _import_apply(request, survey, kind, what)
    form = CsvUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _import_page(request, survey, kind, form_errors=form.errors["file"])
    try:
        text = imports.csv_decode(form.cleaned_data["file"].read())
        preview = kind.preview(survey=survey, text=text)
    except imports.CsvFileError as exc:
        return _import_page(request, survey, kind, errors=[str(exc)])
    errors = [str(error) for error in preview.errors]
    return _import_page(request, survey, kind, preview=preview, errors=errors)


def _import_apply(request, survey: Survey, kind: ImportKind, what: str) -> HttpResponse:
    try:
        created = kind.apply(survey=survey, text=request.POST.get("csv_text", ""))
    except imports.CsvFileError as exc:
        return _import_page(request, survey, kind, errors=[str(exc)])
    except imports.ImportRefused as exc:
        errors = [str(error) for error in exc.preview.errors]
        errors = errors or [_("The file has no rows to import.")]
        return _import_page(request, survey, kind, preview=exc.preview, errors=errors)
    done = {
        "questions": ngettext(
            "Imported %(n)d question.", "Imported %(n)d questions.", len(created)
        ),
        "experts": ngettext("Imported %(n)d expert.", "Imported %(n)d experts.", len(created)),
    }[what]
    messages.success(request, done % {"n": len(created)})
    return redirect("elicitation:survey-detail", survey_id=survey.id)


# --- Rounds -----------------------------------------------------------------------------


@organizer_required
@require_POST
def round_create(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    form = RoundCreateForm(request.POST)
    if form.is_valid():
        try:
            survey_round = services.round_create(survey=survey, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Round %(n)s created.") % {"n": survey_round.number})
            return redirect("elicitation:round-detail", round_id=survey_round.id)
    else:
        messages.error(request, _("The round was not created: check the dates."))
    return redirect("elicitation:survey-detail", survey_id=survey.id)


def _round_page(
    request, survey_round: Round, open_form=None, remind_form=None, status=200, **forms
) -> HttpResponse:
    survey = survey_round.survey
    if open_form is None and survey_round.status == Round.Status.DRAFT:
        open_form = RoundOpenForm(survey=survey)
    from elicitation.views.round_changes import round_change_forms  # it imports this module

    by_expert = selectors.round_progress_by_expert(survey_round=survey_round)
    consent_states = consent.consent_states_for_round(survey_round=survey_round)
    for progress in by_expert:
        progress.invitation.consent = consent_states.get(progress.expert.id)
    context = {
        "consent_version": consent.consent_current(survey=survey),
        "n_declined": sum(1 for state in consent_states.values() if state.status == "declined"),
        "wording_versions": clarifications.round_wording_versions(survey_round=survey_round),
        "survey": survey,
        "survey_round": survey_round,
        "open_form": open_form,
        "summary": selectors.round_summary(survey_round=survey_round),
        "by_expert": by_expert,
        "by_question": selectors.round_progress_by_question(survey_round=survey_round),
        # At the strict level nothing on this page may name an expert: codes only.
        "strict": survey.is_strict,
        "n_to_remind": selectors.round_invitations_to_remind(survey_round=survey_round).count(),
        "reminders": selectors.round_reminders(survey_round=survey_round),
        "remind_form": remind_form or ReminderScheduleForm(),
        "previous_round": survey.rounds.filter(status=Round.Status.CLOSED, is_pilot=False)
        .order_by("-closed_at", "-id")
        .first()
        if survey_round.status == Round.Status.DRAFT
        else survey_round.feedback_round,
        "n_rationales": survey_round.judgments.exclude(rationale="").count(),
        "events": selectors.round_events(survey_round=survey_round),
        **round_change_forms(survey_round=survey_round, **forms),
        # The language switch returns here from the error page of a POST-only URL.
        "language_next": reverse("elicitation:round-detail", args=[survey_round.id]),
    }
    return render(request, "elicitation/organizer/round_detail.html", context, status=status)


@organizer_required
def round_detail(request: HttpRequest, round_id: int) -> HttpResponse:
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    return _round_page(request, survey_round)


@organizer_required
@require_POST
def round_open(request: HttpRequest, round_id: int) -> HttpResponse:
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    form = RoundOpenForm(request.POST, survey=survey_round.survey)
    if not form.is_valid():
        return _round_page(request, survey_round, open_form=form, status=400)
    try:
        services.round_open(
            survey_round=survey_round,
            questions=form.cleaned_data["questions"],
            expires_at=form.expires_at(),
            feedback=form.feedback(),
            experts=form.cleaned_data["experts"],
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _round_page(request, survey_round, open_form=form, status=400)
    messages.success(request, _("Round opened. Invitations are being emailed to the panel."))
    return redirect("elicitation:round-detail", round_id=survey_round.id)


@organizer_required
@require_POST
def round_close(request: HttpRequest, round_id: int) -> HttpResponse:
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    summary = selectors.round_summary(survey_round=survey_round)
    if summary["submitted"] < summary["invited"] and request.POST.get("confirm") != "1":
        messages.error(
            request,
            _(
                "The round is still open: only %(submitted)s of %(invited)s experts have "
                "submitted. Tick the box that confirms closing all the same."
            )
            % summary,
        )
        return redirect("elicitation:round-detail", round_id=survey_round.id)
    try:
        services.round_close(survey_round=survey_round, closed_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Round closed. Experts can no longer change answers."))
    return redirect("elicitation:round-detail", round_id=survey_round.id)


@organizer_required
@require_POST
def round_send_pending(request: HttpRequest, round_id: int) -> HttpResponse:
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    pending = selectors.invitations_unsent(survey_round=survey_round).count()
    queued = services.invitation_send_pending(survey_round=survey_round)
    if queued < pending:
        messages.warning(
            request,
            _(
                "Some invitations could not be queued: the message broker is unreachable. "
                "They will go out when it is back; try again later or check /healthz."
            ),
        )
        return redirect("elicitation:round-detail", round_id=survey_round.id)
    messages.info(
        request,
        ngettext(
            "%(n)d unsent invitation queued for email.",
            "%(n)d unsent invitations queued for email.",
            queued,
        )
        % {"n": queued},
    )
    return redirect("elicitation:round-detail", round_id=survey_round.id)


@organizer_required
@require_POST
def invitation_new_link(request: HttpRequest, invitation_id: int) -> HttpResponse:
    """Revoke one expert's link (lost, forwarded, leaked) and email them a new one."""
    invitation = get_object_or_404(
        selectors.invitations_for_organizer(user=request.user), id=invitation_id
    )
    try:
        renewed = services.invitation_link_renew(invitation=invitation)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _(
                "The old link of %(code)s no longer works, and any browser that opened it "
                "is signed out of the form; a new link is on its way by email. Answers "
                "already saved are kept."
            )
            % {"code": renewed.expert.code},
        )
    return redirect("elicitation:round-detail", round_id=invitation.survey_round_id)


# --- Rationale moderation ---------------------------------------------------------------


@organizer_required
def round_rationales(request: HttpRequest, round_id: int) -> HttpResponse:
    """The round's rationales with a hide toggle: hidden ones never reach the experts."""
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    judgments = selectors.round_rationales_for_moderation(survey_round=survey_round)
    context = {
        "survey": survey_round.survey,
        "survey_round": survey_round,
        "groups": [
            (question, [j for j in judgments if j.question_id == question.id])
            for question in {j.question_id: j.question for j in judgments}.values()
        ],
        "n_hidden": sum(1 for j in judgments if j.rationale_hidden),
        "n_total": len(judgments),
        "strict": survey_round.survey.is_strict,
    }
    return render(request, "elicitation/organizer/round_rationales.html", context)


@organizer_required
@require_POST
def rationale_visibility(request: HttpRequest, round_id: int, judgment_id: int) -> HttpResponse:
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    judgment = get_object_or_404(Judgment, id=judgment_id, survey_round=survey_round)
    hidden = request.POST.get("hidden") == "1"
    services.judgment_rationale_hide(judgment=judgment, hidden=hidden)
    url = reverse("elicitation:round-rationales", args=[survey_round.id])
    return redirect(f"{url}#rationale-{judgment.id}")


# --- Reminders --------------------------------------------------------------------------


@organizer_required
@require_POST
def round_remind(request: HttpRequest, round_id: int) -> HttpResponse:
    """Remind the experts who have not submitted: now (one click), or at a chosen time."""
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    send_at = None
    if "schedule" in request.POST:
        form = ReminderScheduleForm(request.POST)
        if not form.is_valid():
            return _round_page(request, survey_round, remind_form=form, status=400)
        send_at = form.cleaned_data["send_at"]
    try:
        reminder = reminders.reminder_schedule(
            survey_round=survey_round, send_at=send_at, created_by=request.user
        )
    except ValidationError as exc:
        if send_at is None:
            messages.error(request, " ".join(exc.messages))
            return redirect("elicitation:round-detail", round_id=survey_round.id)
        form.add_error(None, exc)  # a dict of errors lands on its fields
        return _round_page(request, survey_round, remind_form=form, status=400)
    if send_at is None:
        n = selectors.round_invitations_to_remind(survey_round=survey_round).count()
        messages.success(
            request,
            ngettext(
                "A reminder is on its way to %(n)d expert who has not submitted.",
                "A reminder is on its way to the %(n)d experts who have not submitted.",
                n,
            )
            % {"n": n},
        )
    else:
        messages.success(
            request,
            _("Reminder scheduled for %(when)s.") % {"when": consilium_time.when(reminder.send_at)},
        )
    return redirect("elicitation:round-detail", round_id=survey_round.id)


@organizer_required
@require_POST
def reminder_cancel(request: HttpRequest, reminder_id: int) -> HttpResponse:
    reminder = get_object_or_404(Reminder.objects.select_related("survey_round"), id=reminder_id)
    survey_round = selectors.round_get_for_organizer(
        user=request.user, round_id=reminder.survey_round_id
    )
    try:
        reminders.reminder_cancel(reminder=reminder)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The scheduled reminder is cancelled."))
    return redirect("elicitation:round-detail", round_id=survey_round.id)
