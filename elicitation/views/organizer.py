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
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from elicitation import imports, selectors, services
from elicitation.forms import CsvUploadForm, RoundCreateForm, RoundOpenForm
from elicitation.models import Round, Survey


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
        "background": selectors.markdown_html(survey.background),
        "groups": selectors.questions_by_scenario(questions=questions),
        "n_questions": len(questions),
        "rounds": survey.rounds.all(),
        "experts": survey.experts.all(),
        "round_form": RoundCreateForm(),
    }
    return render(request, "elicitation/organizer/survey_detail.html", context)


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
                "(uniform or log), resolution_criteria, tags, is_seed (yes/no), seed_answer."
            ),
        ),
        "experts": ImportKind(
            _("Import experts"),
            imports.experts_preview,
            imports.experts_import,
            _(
                "Columns: name, email are required; language (en or ko) and code are "
                "optional; every other column (e.g. nationality, sector) becomes a cohort "
                "attribute."
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
    messages.success(
        request,
        ngettext("Imported %(n)d %(what)s row.", "Imported %(n)d %(what)s rows.", len(created))
        % {"n": len(created), "what": what},
    )
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


def _round_page(request, survey_round: Round, open_form=None, status=200) -> HttpResponse:
    survey = survey_round.survey
    if open_form is None and survey_round.status == Round.Status.DRAFT:
        open_form = RoundOpenForm(survey=survey)
    context = {
        "survey": survey,
        "survey_round": survey_round,
        "open_form": open_form,
        "summary": selectors.round_summary(survey_round=survey_round),
        "by_expert": selectors.round_progress_by_expert(survey_round=survey_round),
        "by_question": selectors.round_progress_by_question(survey_round=survey_round),
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
