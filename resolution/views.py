"""Pages of the resolution app.

Organizer pages (staff who organize the survey, via ``organizer_required`` and
``elicitation.selectors.survey_get_for_organizer``): the survey's questions with where each
stands, a page per question to resolve or annul it, and the audit history.

Reader pages (whoever may read the survey's reports, via ``aggregation.selectors``): the
scores of a round on its resolved questions, their figures (drawn on request, served only
from here, never from public media), the recalibrated aggregate and its posterior.
"""

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from aggregation import selectors as aggregation_selectors
from config.csvexport import NO_STORE
from elicitation import selectors as elicitation_selectors
from elicitation.models import Round
from elicitation.views.organizer import organizer_required
from resolution import recalibration, scores, selectors, services
from resolution.forms import AnnulForm, RecalibrationRequestForm, ResolveForm
from resolution.models import RecalibrationRun, State

Input = RecalibrationRun.Input


# --- Organizers: resolving ----------------------------------------------------------------


@organizer_required
@require_GET
def survey_resolutions(request: HttpRequest, survey_id: int) -> HttpResponse:
    """Every question of the survey with its state, and links to resolve or annul it."""
    survey = elicitation_selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    states = selectors.survey_question_states(survey=survey)
    counts = {state: sum(s.state == state for s in states) for state in State.values}
    context = {"survey": survey, "states": states, "counts": counts}
    return render(request, "resolution/survey_resolutions.html", context)


def _question_page(request, question, *, resolve_form=None, annul_form=None, status=200):
    state = selectors.question_state(question=question)
    initial = {}
    if state.state in (State.RESOLVED, State.SEED):  # start from what is recorded
        outcome = state.outcome
        initial = {"outcome": str(int(outcome)) if question.is_binary else outcome}
    if state.state == State.RESOLVED:
        initial.update({"resolved_on": state.resolved_on, "source": state.source})
    context = {
        "survey": question.survey,
        "question": question,
        "state": state,
        "resolve_form": resolve_form or ResolveForm(question=question, initial=initial),
        "annul_form": annul_form or AnnulForm(),
        "events": selectors.resolution_event_rows(
            selectors.question_resolution_events(question=question)
        ),
        "open_round": question.rounds.filter(status=Round.Status.OPEN).first(),
    }
    return render(request, "resolution/question_resolution.html", context, status=status)


@organizer_required
@require_GET
def question_resolution(request: HttpRequest, survey_id: int, question_id: int) -> HttpResponse:
    question = selectors.question_get_for_organizer(
        user=request.user, survey_id=survey_id, question_id=question_id
    )
    return _question_page(request, question)


@organizer_required
@require_POST
def question_resolve(request: HttpRequest, survey_id: int, question_id: int) -> HttpResponse:
    question = selectors.question_get_for_organizer(
        user=request.user, survey_id=survey_id, question_id=question_id
    )
    form = ResolveForm(request.POST, question=question)
    if form.is_valid():
        data = form.cleaned_data
        try:
            _resolution, changed = services.question_resolve(
                question=question,
                outcome=data["outcome"],
                resolved_on=data["resolved_on"],
                source=data["source"],
                reason=data["reason"],
                by=request.user,
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            _done(request, question, changed, _("%(code)s is resolved: %(outcome)s."))
            return redirect("resolution:survey-resolutions", survey_id=survey_id)
    return _question_page(request, question, resolve_form=form, status=400)


@organizer_required
@require_POST
def question_annul(request: HttpRequest, survey_id: int, question_id: int) -> HttpResponse:
    question = selectors.question_get_for_organizer(
        user=request.user, survey_id=survey_id, question_id=question_id
    )
    form = AnnulForm(request.POST)
    if form.is_valid():
        try:
            _resolution, changed = services.question_annul(
                question=question,
                reason=form.cleaned_data["reason"],
                annulled_on=form.cleaned_data["annulled_on"],
                by=request.user,
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            _done(request, question, changed, _("%(code)s is annulled: it counts in no score."))
            return redirect("resolution:survey-resolutions", survey_id=survey_id)
    return _question_page(request, question, annul_form=form, status=400)


def _errors_to_form(form, exc: ValidationError) -> None:
    for field, messages_ in exc.message_dict.items():
        for message in messages_:
            form.add_error(field if field in form.fields else None, message)


def _done(request, question, changed: bool, message: str) -> None:
    if not changed:
        messages.info(
            request, _("Nothing changed: %(code)s was already so.") % {"code": question.code}
        )
        return
    state = selectors.question_state(question=question)
    messages.success(request, message % {"code": question.code, "outcome": state.outcome_text})


@organizer_required
@require_GET
def survey_resolution_history(request: HttpRequest, survey_id: int) -> HttpResponse:
    """Every change to the survey's resolutions, newest first: who, when, what, why."""
    survey = elicitation_selectors.survey_get_for_organizer(user=request.user, survey_id=survey_id)
    events = selectors.resolution_event_rows(selectors.survey_resolution_events(survey=survey))
    return render(
        request, "resolution/resolution_history.html", {"survey": survey, "events": events}
    )


# --- Readers: scores ---------------------------------------------------------------------


@login_required
@require_GET
def survey_scores(request: HttpRequest, survey_id: int) -> HttpResponse:
    """The scores of the survey's latest closed round (or why there are none)."""
    survey = aggregation_selectors.survey_get_for_reader(user=request.user, survey_id=survey_id)
    rounds = selectors.survey_rounds_scored(survey=survey)
    if rounds:
        return redirect("resolution:round-scores", round_id=rounds[0].id)
    return render(request, "resolution/round_scores.html", {"survey": survey, "rounds": []})


def _round_for_scores(request, round_id: int) -> Round:
    survey_round = aggregation_selectors.round_get_for_reader(user=request.user, round_id=round_id)
    if survey_round.status != Round.Status.CLOSED:
        raise Http404("Scores are for closed rounds.")
    return survey_round


def _input_of(request) -> str:
    value = request.GET.get("input", Input.LOGODDS_MEAN)
    if value not in Input.values:
        raise Http404("No such aggregate.")
    return value


def _recalibration_context(survey_round: Round, source: str, table) -> dict:
    """The recalibration fitted on today's data for this input, or why there is none."""
    if table is None and source == Input.LOGODDS_MEAN:
        return {
            "recalibration_unavailable": _(
                "Round %(number)s has no answers to probability questions to recalibrate."
            )
            % {"number": survey_round.number}
        }
    try:
        run, inputs = recalibration.recalibration_current(
            survey_round=survey_round, options={"input": source}, table=table
        )
    except recalibration.RecalibrationUnavailable as exc:
        return {"recalibration_unavailable": str(exc)}
    outdated = None
    if run is None:
        outdated = (
            selectors.round_recalibration_runs(survey_round=survey_round)
            .filter(options__input=source)
            .first()
        )
    return {
        "recalibration": run,
        "recalibration_outdated": outdated,
        "recalibration_n_resolved": len(inputs.outcomes),
        "recalibration_view": _recalibration_view(run) if run else None,
    }


def _recalibration_view(run: RecalibrationRun) -> dict | None:
    if run.status != RecalibrationRun.Status.SUCCEEDED:
        return None
    result = run.result
    summary = result["summary"]
    questions = {q.code: q for q in run.survey_round.survey.questions.all()}
    rows = [
        {
            "question": questions.get(code),
            "code": code,
            **entry,
        }
        for code, entry in result["questions"].items()
    ]
    open_rows = [row for row in rows if not row["resolved"]]
    open_rows.sort(
        key=lambda row: (
            (row["question"].position, row["code"]) if row["question"] else (0, row["code"])
        )
    )
    return {
        "summary": summary,
        "prior": summary["prior"],
        "open_rows": open_rows,
        "n_resolved": summary["n_resolved"],
        "n_events": summary["n_events"],
        "groups": sorted((summary.get("groups") or {}).items()),
        "interval_percent": f"{result['interval_mass'] * 100:g}",
        "diagnostics_bad": summary["diagnostics"]["max_rhat"] > 1.01
        or summary["diagnostics"]["divergences"] > 0
        or summary["diagnostics"]["min_ess_bulk"] < 400,
        "cv": result.get("cross_validation") or {},
    }


@login_required
@require_GET
def round_scores(request: HttpRequest, round_id: int) -> HttpResponse:
    """Scores of a closed round's answers on its resolved questions, and the recalibration."""
    survey_round = _round_for_scores(request, round_id)
    survey = survey_round.survey
    source = _input_of(request)
    table = scores.round_table(survey_round=survey_round)
    context = {
        "survey": survey,
        "survey_round": survey_round,
        "rounds": selectors.survey_rounds_scored(survey=survey),
        "input": source,
        "inputs": Input.choices,
        "has_hierarchical": selectors.round_latest_hierarchical_run(survey_round=survey_round)
        is not None,
        "can_request": aggregation_selectors.survey_can_request_runs(
            user=request.user, survey=survey
        ),
        "is_organizer": elicitation_selectors.survey_list_for_organizer(user=request.user)
        .filter(id=survey.id)
        .exists(),
        "request_form": RecalibrationRequestForm(initial={"input": source}),
        **_recalibration_context(survey_round, source, table),
    }
    run = context.get("recalibration")
    current = run if run is not None and run.status == RecalibrationRun.Status.SUCCEEDED else None
    page_scores = scores.round_scores(survey_round=survey_round, recalibration=current, table=table)
    context.update(
        {
            "scores": page_scores,
            "outcomes": [
                s
                for s in selectors.survey_known_outcomes(survey=survey)
                if s.question.is_binary and s.question.code in page_scores.outcomes.index
            ],
            "annulled": [
                s
                for s in selectors.survey_question_states(survey=survey)
                if s.state == State.ANNULLED
            ],
            "cooke": scores.round_cooke(survey_round=survey_round),
            "reciprocal": scores.round_reciprocal(survey_round=survey_round),
            "figures": {
                name: {"name": name, "url": _figure_url(survey_round, name, source)}
                for name in scores.FIGURES
                if page_scores.series.get(name)
            },
            "min_cohort_size": settings.REPORT_MIN_COHORT_SIZE,
        }
    )
    return render(request, "resolution/round_scores.html", context)


def _figure_url(survey_round: Round, name: str, source: str) -> str:
    url = reverse("resolution:scores-figure", args=[survey_round.id, name])
    return url + (f"?input={source}" if source != Input.LOGODDS_MEAN else "")


@login_required
@require_GET
def scores_figure(request: HttpRequest, round_id: int, name: str) -> HttpResponse:
    """A reliability diagram of the round's scores, drawn now from today's outcomes."""
    survey_round = _round_for_scores(request, round_id)
    if name not in scores.FIGURES:
        raise Http404("No figure of that name.")
    source = _input_of(request)
    table = scores.round_table(survey_round=survey_round)
    run = _recalibration_context(survey_round, source, table).get("recalibration")
    current = run if run is not None and run.status == RecalibrationRun.Status.SUCCEEDED else None
    page_scores = scores.round_scores(survey_round=survey_round, recalibration=current, table=table)
    series = page_scores.series.get(name)
    if not series:
        raise Http404("Nothing to draw: no resolved question has answers in this round.")
    titles = {
        "panel": _("Calibration of the panel's answers"),
        "cohorts": _("Calibration of each cohort's answers"),
        "methods": _("Calibration of each aggregation method"),
    }
    svg = scores.reliability_figure_svg(series, title=titles[name])
    response = HttpResponse(svg, content_type="image/svg+xml")
    download = request.GET.get("download") == "1"
    if download:
        response["Content-Disposition"] = (
            f'attachment; filename="round-{survey_round.id}-calibration-{name}.svg"'
        )
    # An SVG opened on its own is a document: no scripts, no outside requests. The site's
    # policy (ContentSecurityPolicyMiddleware) leaves a header set here as it is.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    # Drawn from today's outcomes: a resolution changes it, so no caching; a download is an
    # export, and not stored at all.
    response["Cache-Control"] = NO_STORE if download else "private, no-cache"
    return response


# --- Readers: recalibration ---------------------------------------------------------------


@login_required
@require_POST
def recalibration_request(request: HttpRequest, round_id: int) -> HttpResponse:
    """Ask for the recalibration of this round's aggregate on today's outcomes."""
    survey_round = _round_for_scores(request, round_id)
    if not aggregation_selectors.survey_can_request_runs(
        user=request.user, survey=survey_round.survey
    ):
        raise Http404("No such round.")
    form = RecalibrationRequestForm(request.POST)
    url = reverse("resolution:round-scores", args=[survey_round.id])
    if not form.is_valid():
        messages.error(request, _("No recalibration was requested: choose an aggregate."))
        return redirect(url)
    source = form.cleaned_data["input"]
    back = (
        url + (f"?input={source}" if source != Input.LOGODDS_MEAN else "") + "#recalibration-title"
    )
    try:
        run, created = recalibration.recalibration_request(
            survey_round=survey_round, options={"input": source}, requested_by=request.user
        )
    except recalibration.RecalibrationUnavailable as exc:
        messages.error(request, _("No recalibration was requested: %(error)s") % {"error": exc})
        return redirect(back)
    if created:
        messages.success(request, _("Recalibration requested: a worker will fit it."))
    else:
        messages.info(
            request, _("This recalibration exists already (same aggregate and outcomes).")
        )
    return redirect(back)


@never_cache
@login_required
@require_GET
def recalibration_progress(request: HttpRequest, run_id: int) -> JsonResponse:
    run = selectors.recalibration_run_get_for_reader(user=request.user, run_id=run_id)
    return JsonResponse(
        {
            "id": run.id,
            "status": run.status,
            "status_label": run.get_status_display(),
            "phase": run.progress_phase,
            "progress": round(run.progress, 4),
            "finished": run.is_finished,
            "error": run.error.splitlines()[0] if run.error else "",
        }
    )


def _media_file(relative: str) -> Path:
    """A file under MEDIA_ROOT named by a run; 404 if it is missing or outside MEDIA_ROOT."""
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / relative).resolve()
    if not relative or not path.is_relative_to(root) or not path.is_file():
        raise Http404("The file is not there (it may have been cleaned up).")
    return path


@login_required
@require_GET
def recalibration_posterior(request: HttpRequest, run_id: int) -> FileResponse:
    """The recalibration's posterior (NetCDF, with its data, config and hash): questions'
    aggregates and outcomes only, nothing about any expert."""
    run = selectors.recalibration_run_get_for_reader(user=request.user, run_id=run_id)
    path = _media_file(run.posterior)
    response = FileResponse(
        path.open("rb"),
        content_type="application/x-netcdf",
        as_attachment=True,
        filename=f"recalibration-{run.id}-posterior.nc",
    )
    response["Cache-Control"] = NO_STORE
    return response
