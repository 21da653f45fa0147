"""Report pages of aggregation runs: readable by superusers, the survey's organizers and
the analysts assigned to it (``aggregation.selectors``); everyone else gets a 404.

Pages, downloads and figures all go through the same selectors. Figures and posteriors
live under MEDIA_ROOT and are only ever served from here, never from a public media URL.
Cohorts smaller than ``settings.REPORT_MIN_COHORT_SIZE`` are merged into "other" wherever
a page or a download would show them (see ``aggregation.cohort_privacy``). What the pages
print is built in ``aggregation.presenters`` (and ``numeric_reports``, ``comparison``).
"""

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from aggregation import (
    cohort_privacy,
    comparison,
    forecast_reports,
    numeric_reports,
    perception_reports,
    presenters,
    reports,
    selectors,
    services,
)
from aggregation.forms import RunRequestForm
from aggregation.models import AggregationRun
from config.csvexport import NO_STORE, csv_response
from elicitation import selectors as elicitation_selectors
from elicitation.models import Round

Status = AggregationRun.Status
Method = AggregationRun.Method

# --- Choosing what to show -----------------------------------------------------------------


def _reader_may_browse(user) -> bool:
    """The reports index is for staff and analysts; experts never see the reports area."""
    return (
        user.is_superuser
        or user.is_staff
        or user.groups.filter(name=selectors.ANALYST_GROUP).exists()
    )


def _may_download_posterior(user, survey) -> bool:
    """Whether ``run_posterior`` serves this user: the same check, so a page offers the
    posterior only to those who may download it (organizers and superusers)."""
    try:
        selectors.survey_get_for_organizer_or_404(user=user, survey=survey)
    except Http404:
        return False
    return True


def _run_of_round(request: HttpRequest, survey_round: Round) -> AggregationRun | None:
    """``?run=<id>`` if it is a run of this round, else the run the report opens on."""
    run_id = request.GET.get("run")
    if run_id is None:
        return selectors.round_report_run(survey_round=survey_round)
    from config.converters import parse_id  # imported here: this fix stays in this function

    run_id = parse_id(run_id)  # not str.isdigit(): it passes "²" and 5,000 digits
    if run_id is None:
        raise Http404("No such run.")
    run = selectors.round_runs(survey_round=survey_round).filter(id=run_id).first()
    if run is None:
        raise Http404("No such run of this round.")
    return run


def _shown_cohorts(run: AggregationRun) -> list[str]:
    return cohort_privacy.cohorts_shown(cohort_privacy.cohort_sizes_of_result(run.result or {}))


def _figures(run: AggregationRun, *names: str) -> dict[str, dict]:
    """The run's figures among ``names``: name -> its URLs (alt texts are in the templates)."""
    return {
        name.replace("-", "_"): {
            "name": name,
            "url": reverse("aggregation:run-figure", args=[run.id, name]),
        }
        for name in names
        if name in (run.figures or {})
    }


# --- Pages -----------------------------------------------------------------------------------


@login_required
def report_index(request: HttpRequest) -> HttpResponse:
    """Every round of every survey whose reports the user may read, with its latest run."""
    if not _reader_may_browse(request.user):
        raise Http404("No reports here.")
    surveys = selectors.survey_list_for_reader(user=request.user).prefetch_related("rounds")
    entries = [
        {
            "survey": survey,
            "rounds": [
                {
                    "round": survey_round,
                    "run": selectors.round_report_run(survey_round=survey_round),
                    "n_runs": survey_round.aggregation_runs.count(),
                }
                for survey_round in survey.rounds.all()
            ],
        }
        for survey in surveys
    ]
    return render(request, "aggregation/report_index.html", {"entries": entries})


@login_required
def round_report(request: HttpRequest, round_id: int) -> HttpResponse:
    """The round overview: a run's consensus, disagreement, cohorts, diagnostics, downloads."""
    survey_round = selectors.round_get_for_reader(user=request.user, round_id=round_id)
    run = _run_of_round(request, survey_round)
    runs = list(selectors.round_runs(survey_round=survey_round))
    rows = [presenters.run_row(r) for r in runs]
    context = {
        "survey": survey_round.survey,
        "survey_round": survey_round,
        "run": run,
        "runs": rows,
        "run_row": next((row for row in rows if run and row["run"].id == run.id), None),
        "request_form": _request_form(runs),
        "can_request": selectors.survey_can_request_runs(
            user=request.user, survey=survey_round.survey
        ),
        "can_download_posterior": _may_download_posterior(request.user, survey_round.survey),
        "compare_with": selectors.round_previous_closed(survey_round=survey_round),
        "n_numeric": selectors.round_numeric_question_count(survey_round=survey_round),
        "late_invitations": elicitation_selectors.round_late_invitations(survey_round=survey_round),
        "round_events": elicitation_selectors.round_events(survey_round=survey_round),
    }
    if run is not None and run.status != Status.SUCCEEDED:
        # While a new run is in flight (or failed), the last finished report stays one click away.
        done = [r for r in runs if r.status == Status.SUCCEEDED]
        done.sort(key=lambda r: r.method != Method.HIERARCHICAL)  # stable: newest first
        if done:
            context["last_report"], context["last_report_url"] = (
                done[0],
                presenters.round_report_url(done[0]),
            )
    if run is not None:
        context["state"] = presenters.run_progress_state(run)
        context["error_first_line"], context["error_details"] = presenters.error_parts(run.error)
    if run is not None and run.status == Status.SUCCEEDED:
        context.update(_results_context(run))
    numeric_run = run if run is not None and run.method == Method.NUMERIC_HIERARCHICAL else None
    numeric_run = numeric_run or selectors.round_latest_numeric_run(survey_round=survey_round)
    if numeric_run is not None:
        context["numeric"] = _numeric_context(numeric_run, page_run=run)
    return render(request, "aggregation/round_report.html", context)


def _numeric_context(run: AggregationRun, *, page_run: AggregationRun | None) -> dict:
    """The numeric run's section of a round report: its state, or every numeric question's
    range chart and numbers, the panel's shared error, diagnostics and left-out answers."""
    context = {
        "run": run,
        "is_page_run": page_run is not None and page_run.id == run.id,
        "state": presenters.run_progress_state(run),
        "url": presenters.round_report_url(run),
        "error_first_line": presenters.error_parts(run.error)[0],
    }
    if run.status != Status.SUCCEEDED:
        return context
    result = run.result or {}
    shown = numeric_reports.shown_cohorts(result)
    context.update(
        {
            "rows": numeric_reports.page_rows(run),
            "interval_percent": f"{result.get('interval_mass', 0.9) * 100:g}",
            "shared_error": numeric_reports.Quantity.of(result.get("shared_error"), digits=2),
            "n_seeds": result.get("n_seeds", 0),
            "blend": numeric_reports.blend_text(result.get("forecast_blend")),
            "diagnostics": presenters.diagnostics_summary(
                run.diagnostics or result.get("diagnostics") or {}
            ),
            "left_out": numeric_reports.left_out_rows(result),
            "shown_cohorts": shown,
            "hidden_cohorts": cohort_privacy.hidden_cohort_count(result, shown),
            "min_cohort_size": settings.REPORT_MIN_COHORT_SIZE,
            "model": result.get("model") or {},
        }
    )
    return context


def _request_form(runs: list[AggregationRun]) -> RunRequestForm:
    """The form, its seed one above the largest seed used so far (a new run, not a repeat)."""
    seeds = [r.options.get("random_seed") for r in runs if r.method == Method.HIERARCHICAL]
    seeds = [s for s in seeds if isinstance(s, int)]
    return RunRequestForm(initial={"random_seed": max(seeds) + 1 if seeds else 0})


def _results_context(run: AggregationRun) -> dict:
    if run.method == Method.LINKED_ROUNDS:
        return _linked_results_context(run)
    if run.method == Method.NUMERIC_HIERARCHICAL:
        return {"numeric_only": True}  # the numeric section (_numeric_context) is the report
    results = selectors.run_question_results(run=run)
    shown = _shown_cohorts(run)
    result = run.result or {}
    hierarchical = run.method == Method.HIERARCHICAL
    forecast = forecast_reports.panel_forecast(run)
    return {
        "hierarchical": hierarchical,
        "interval_percent": f"{result.get('interval_mass', 0.9) * 100:g}",
        "forecast": forecast,
        "consensus_rows": [presenters.consensus_row(r, forecast) for r in results],
        "disagreement_rows": presenters.disagreement_rows(results),
        "cohort_table": presenters.cohort_table(results, shown) if len(shown) >= 2 else None,
        "shown_cohorts": shown,
        "min_cohort_size": settings.REPORT_MIN_COHORT_SIZE,
        "baseline_labels": list(presenters.BASELINE_LABELS.values()),
        "hidden_cohorts": cohort_privacy.hidden_cohort_count(result, shown),
        "diagnostics": presenters.diagnostics_summary(
            run.diagnostics or result.get("diagnostics") or {}
        )
        if hierarchical
        else None,
        "model": result.get("model") or {},
        "figures": _figures(
            run, "consensus", "pooled", "disagreement", "cohorts", perception_reports.FIGURE
        ),
        "perception": perception_reports.section_context(
            run, selectors.survey_questions_by_code(survey=run.survey_round.survey)
        )
        if hierarchical
        else None,
    }


def _linked_results_context(run: AggregationRun) -> dict:
    """A fit of two rounds together: per question, each round's consensus from the one fit,
    the change with its interval and chance of a rise, the ratio of disagreements."""
    result = run.result or {}
    first, last = (str(r) for r in (result["rounds"][0], result["rounds"][-1]))
    rows = presenters.linked_rows(run)
    return {
        "linked": True,
        "linked_rounds": (first, last),
        "linked_rows": rows,
        "persistence": presenters.Estimate.of(result["persistence"], digits=2),
        "interval_percent": f"{result.get('interval_mass', 0.9) * 100:g}",
        "diagnostics": presenters.diagnostics_summary(
            run.diagnostics or result.get("diagnostics") or {}
        ),
        "model": result.get("model") or {},
        "figures": _figures(run, "consensus-shift"),
    }


@login_required
def question_report(request: HttpRequest, run_id: int, question_id: int) -> HttpResponse:
    """One question of a run: its answers as dots, its numbers, the anonymised rationales."""
    run = selectors.run_get_for_reader(user=request.user, run_id=run_id)
    if run.method == Method.LINKED_ROUNDS:
        # a fit of two rounds has no one-round question page: its numbers are compared
        comparison = reverse("aggregation:round-comparison", args=[run.survey_round_id])
        question = get_object_or_404(run.survey_round.questions, id=question_id)
        return redirect(f"{comparison}#moves-{question.code}")
    if run.method == Method.NUMERIC_HIERARCHICAL:
        return _numeric_question_report(request, run, question_id)
    results = selectors.run_question_results(run=run)
    index = next((k for k, r in enumerate(results) if r.question_id == question_id), None)
    if index is None:
        raise Http404("This run has no result for that question.")
    result = results[index]
    question = result.question
    shown = _shown_cohorts(run)
    answers = presenters.run_answers(run, question)
    forecast = forecast_reports.panel_forecast(run)
    context = {
        "run": run,
        "survey_round": run.survey_round,
        "survey": run.survey_round.survey,
        "question": question,
        "result": result,
        "consensus": presenters.Estimate(
            result.consensus, result.consensus_lower, result.consensus_upper
        ),
        "forecast": forecast,
        "forecast_estimate": forecast.estimate(question.code) if forecast else None,
        "disagreement": presenters.Estimate(
            result.disagreement, result.disagreement_lower, result.disagreement_upper, digits=2
        ),
        "cohorts": [
            {
                "name": c,
                "estimate": presenters.Estimate.of(result.cohorts[c]),
                "n": result.cohorts[c].get("n_judgments"),
            }
            for c in shown
            if c in result.cohorts
        ],
        "gaps": presenters.gap_rows(result, shown),
        "baselines": [
            (label, presenters.number_text(result.baselines.get(method)))
            for method, label in presenters.BASELINE_LABELS.items()
        ],
        "answers": answers,
        "n_rationales": sum(1 for a in answers if a["rationale"]),
        "figure": next(
            iter(_figures(run, reports.question_figure_name(question.code)).values()), None
        ),
        "previous": results[index - 1] if index > 0 else None,
        "next": results[index + 1] if index + 1 < len(results) else None,
        "interval_percent": f"{(run.result or {}).get('interval_mass', 0.9) * 100:g}",
    }
    return render(request, "aggregation/question_report.html", context)


def _numeric_question_report(request: HttpRequest, run: AggregationRun, question_id: int):
    """One numeric question of a numeric run: its range chart, numbers and the answers."""
    question = run.survey_round.survey.questions.filter(id=question_id).first()
    if question is None or run.status != Status.SUCCEEDED:
        raise Http404("This run has no result for that question.")
    rows = numeric_reports.page_rows(run)
    index = next((k for k, row in enumerate(rows) if row["code"] == question.code), None)
    if index is None:
        raise Http404("This run has no result for that question.")
    answers = presenters.run_answers(run, question)
    context = {
        "run": run,
        "survey_round": run.survey_round,
        "survey": run.survey_round.survey,
        "question": question,
        "row": rows[index],
        "answers": answers,
        "n_rationales": sum(1 for a in answers if a["rationale"]),
        "left_out": [
            item
            for item in numeric_reports.left_out_rows(run.result or {})
            if item["question"] == question.code
        ],
        "previous": rows[index - 1] if index > 0 else None,
        "next": rows[index + 1] if index + 1 < len(rows) else None,
        "interval_percent": f"{(run.result or {}).get('interval_mass', 0.9) * 100:g}",
    }
    return render(request, "aggregation/numeric_question_report.html", context)


@login_required
def experts_report(request: HttpRequest, run_id: int) -> HttpResponse:
    """Experts by anonymised code: cohort, bias, noise and slope with their intervals."""
    run = selectors.run_get_for_reader(user=request.user, run_id=run_id)
    if run.method == Method.NUMERIC_HIERARCHICAL:
        return _numeric_experts_report(request, run)
    rows = presenters.expert_rows(run, _shown_cohorts(run))
    context = {
        "run": run,
        "survey_round": run.survey_round,
        "survey": run.survey_round.survey,
        "rows": rows,
        # results of binary model version 5 on have slopes (even if all are withheld)
        "has_slope": any("slope" in e for e in ((run.result or {}).get("experts") or {}).values()),
        "min_cohort": settings.REPORT_MIN_COHORT_SIZE,
        "interval_percent": f"{(run.result or {}).get('interval_mass', 0.9) * 100:g}",
        "figures": _figures(run, "expert-bias", "expert-noise", "expert-slope"),
        "numeric_run": selectors.round_latest_succeeded_run(
            survey_round=run.survey_round, method=Method.NUMERIC_HIERARCHICAL
        ),
    }
    return render(request, "aggregation/experts_report.html", context)


def _numeric_experts_report(request: HttpRequest, run: AggregationRun) -> HttpResponse:
    """Experts of a numeric run by code: bias of their medians and confidence ratio."""
    result = run.result or {}
    context = {
        "run": run,
        "survey_round": run.survey_round,
        "survey": run.survey_round.survey,
        "rows": numeric_reports.expert_rows(result),
        "n_seeds": result.get("n_seeds", 0),
        "min_cohort": settings.REPORT_MIN_COHORT_SIZE,
        "interval_percent": f"{result.get('interval_mass', 0.9) * 100:g}",
        "figures": _figures(run, "expert-confidence", "expert-bias"),
    }
    return render(request, "aggregation/numeric_experts_report.html", context)


# --- JSON, figures and downloads -----------------------------------------------------------


@never_cache
@login_required
def run_progress(request: HttpRequest, run_id: int) -> JsonResponse:
    run = selectors.run_get_for_reader(user=request.user, run_id=run_id)
    return JsonResponse(presenters.run_progress_state(run))


def _media_file(relative: str) -> Path:
    """A file under MEDIA_ROOT named by a run; 404 if it is missing or outside MEDIA_ROOT."""
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / relative).resolve()
    if not relative or not path.is_relative_to(root) or not path.is_file():
        raise Http404("The file is not there (the run may have been cleaned up).")
    return path


@login_required
def run_figure(request: HttpRequest, run_id: int, name: str) -> FileResponse:
    run = selectors.run_get_for_reader(user=request.user, run_id=run_id)
    figures = run.figures or {}
    if name not in figures:
        raise Http404("This run has no figure of that name.")
    # The drawing whose labels are in the page's language, where the run drew one.
    localized = reports.localized_figure_name(name, translation.get_language())
    path = _media_file(figures.get(localized, figures[name]))
    download = request.GET.get("download") == "1"
    response = FileResponse(
        path.open("rb"),
        content_type="image/svg+xml",
        as_attachment=download,
        filename=f"run-{run.id}-{name}.svg",
    )
    return _figure_headers(response, download=download)


@login_required
def run_posterior(request: HttpRequest, run_id: int) -> FileResponse:
    """The posterior NetCDF: organizers only, since it lists every expert's cohort."""
    run = selectors.run_get_for_reader(user=request.user, run_id=run_id)
    selectors.survey_get_for_organizer_or_404(user=request.user, survey=run.survey_round.survey)
    path = _media_file(run.posterior)
    response = FileResponse(
        path.open("rb"),
        content_type="application/x-netcdf",
        as_attachment=True,
        filename=f"run-{run.id}-posterior.nc",
    )
    response["Cache-Control"] = NO_STORE
    return response


@login_required
def run_results_csv(request: HttpRequest, run_id: int) -> HttpResponse:
    """One row per question: consensus, disagreement, baselines, shown cohorts and gaps."""
    run = selectors.run_get_for_reader(user=request.user, run_id=run_id)
    if run.method == Method.NUMERIC_HIERARCHICAL:
        filename = f"{slugify(run.survey_round.survey.title)[:40]}-round-{run.survey_round.number}"
        response, writer = csv_response(f"{filename}-run-{run.id}-numeric-results.csv")
        writer.writerows(numeric_reports.results_csv_rows(run))
        return response
    rows = presenters.results_csv_rows(
        selectors.run_question_results(run=run),
        _shown_cohorts(run),
        forecast_reports.panel_forecast(run),
    )
    filename = f"{slugify(run.survey_round.survey.title)[:40]}-round-{run.survey_round.number}"
    response, writer = csv_response(f"{filename}-run-{run.id}-results.csv")
    writer.writerows(rows)
    return response


@login_required
def run_perception_csv(request: HttpRequest, run_id: int) -> HttpResponse:
    """How the cohorts see each other, one row per question and pair of shown cohorts."""
    run = selectors.run_get_for_reader(user=request.user, run_id=run_id)
    if not perception_reports.has_perception(run.result):
        raise Http404("This run has no meta-predictions.")
    questions = selectors.survey_questions_by_code(survey=run.survey_round.survey)
    filename = f"{slugify(run.survey_round.survey.title)[:40]}-round-{run.survey_round.number}"
    response, writer = csv_response(f"{filename}-run-{run.id}-perception.csv")
    writer.writerows(perception_reports.csv_rows(run.result, questions))
    return response


@login_required
def run_perception_posterior(request: HttpRequest, run_id: int) -> FileResponse:
    """The perception model's posterior NetCDF: organizers only, as the run's posterior."""
    run = selectors.run_get_for_reader(user=request.user, run_id=run_id)
    selectors.survey_get_for_organizer_or_404(user=request.user, survey=run.survey_round.survey)
    path = _media_file(((run.result or {}).get("perception") or {}).get("posterior") or "")
    response = FileResponse(
        path.open("rb"),
        content_type="application/x-netcdf",
        as_attachment=True,
        filename=f"run-{run.id}-perception.nc",
    )
    response["Cache-Control"] = NO_STORE
    return response


@login_required
def round_judgments_csv(request: HttpRequest, round_id: int) -> HttpResponse:
    """The round's answers, anonymised: expert code, cohort (small ones merged), no names."""
    survey_round = selectors.round_get_for_reader(user=request.user, round_id=round_id)
    filename = f"{slugify(survey_round.survey.title)[:40]}-round-{survey_round.number}"
    response, writer = csv_response(f"{filename}-judgments.csv")
    writer.writerows(presenters.judgments_csv_rows(survey_round))
    return response


# --- Requesting runs -------------------------------------------------------------------------


@login_required
@require_POST
def run_request(request: HttpRequest, round_id: int) -> HttpResponse:
    """Ask for another method or seed; asking twice for the same thing shows the same run."""
    survey_round = selectors.round_get_for_reader(user=request.user, round_id=round_id)
    if not selectors.survey_can_request_runs(user=request.user, survey=survey_round.survey):
        raise Http404("No such round.")
    back = reverse("aggregation:round-report", args=[survey_round.id])
    form = RunRequestForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[f].label}: {' '.join(e)}" for f, e in form.errors.items()
        )
        messages.error(request, _("No run was requested: %(problems)s") % {"problems": problems})
        return redirect(back)
    try:
        run, created = services.aggregation_run_request(
            survey_round=survey_round,
            method=form.cleaned_data["method"],
            options=form.options(),
            requested_by=request.user,
        )
    except ValueError as exc:  # e.g. a round with no judgments yet
        messages.error(request, _("No run was requested: %(error)s") % {"error": exc})
        return redirect(back)
    label = run.get_method_display()
    if created:
        messages.success(
            request,
            _("%(method)s requested. A worker will fit it; this page follows its progress.")
            % {"method": label},
        )
    else:
        messages.info(
            request,
            _("This run already exists (same method, settings and answers): here it is.")
            if run.status != Status.QUEUED
            else _("%(method)s with these settings is queued: here it is.") % {"method": label},
        )
    return redirect(presenters.round_report_url(run))


@login_required
def round_comparison(request: HttpRequest, round_id: int) -> HttpResponse:
    """A follow-up round beside the round it followed: consensus, spread, who moved."""
    later = selectors.round_get_for_reader(user=request.user, round_id=round_id)
    earlier = selectors.round_previous_closed(survey_round=later)
    context = {"survey": later.survey, "survey_round": later, "earlier": earlier}
    if earlier is not None:
        language = translation.get_language()
        context.update(comparison.round_comparison_context(earlier, later, language=language))
    return render(request, "aggregation/round_comparison.html", context)


@login_required
def round_comparison_figure(request: HttpRequest, round_id: int) -> HttpResponse:
    """The comparison's figure (SVG) in the page's language, once the joint fit is done."""
    later = selectors.round_get_for_reader(user=request.user, round_id=round_id)
    earlier = selectors.round_previous_closed(survey_round=later)
    svg = None
    if earlier is not None:
        svg = comparison.figure_svg(earlier, later, language=translation.get_language())
    if svg is None:
        raise Http404("No fit of these rounds together has finished.")
    response = HttpResponse(svg, content_type="image/svg+xml")
    return _figure_headers(response, download=request.GET.get("download") == "1")


def _figure_headers(response: HttpResponse, *, download: bool) -> HttpResponse:
    # An SVG opened on its own is a document: no scripts, no outside requests. The site's
    # policy (ContentSecurityPolicyMiddleware) leaves a header set here as it is.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    # A run's figures never change; a download is an export, and not stored.
    response["Cache-Control"] = NO_STORE if download else "private, max-age=3600"
    patch_vary_headers(response, ["Accept-Language", "Cookie"])  # one URL, two languages
    return response
