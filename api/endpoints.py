"""The read API (django-ninja): surveys, rounds, questions, runs, results and downloads.

Every endpoint authenticates a personal token (``Authorization: Bearer csm_...``) and then
asks the same selectors as the pages (``aggregation.selectors``), so a token reads exactly
what its user reads on the report pages; downloads call the pages' own views. Cohorts
below ``REPORT_MIN_COHORT_SIZE`` are left out as on the pages and in the CSV downloads.
Ids in paths use the site's ``<id:...>`` converter (``config/converters.py``): an id that
cannot be a row (not ASCII digits, over 18 of them) is a 404 before anything else, as on
the pages, whatever the method or token.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.pagination import PageNumberPagination, paginate
from ninja.responses import Status
from ninja.security import HttpBearer

import config.converters  # noqa: F401 (registers <id:...>, used in the paths below)
from aggregation import cohort_privacy, numeric_reports, presenters, services
from aggregation import selectors as aggregation_selectors
from aggregation import views as aggregation_views
from aggregation.forms import RunRequestForm
from aggregation.models import AggregationRun
from api import schemas
from api import selectors as api_selectors
from api import services as api_services
from elicitation import selectors as elicitation_selectors
from privacy import selectors as privacy_selectors

PAGE_SIZE = 50


class TokenAuth(HttpBearer):
    """A personal token; the request then runs as its user (``request.user``)."""

    def authenticate(self, request: HttpRequest, token: str):
        row = api_selectors.api_token_authenticate(token=token)
        if row is None:
            return None
        api_services.api_token_used(token=row)
        request.user = row.user
        return row.user


api = NinjaAPI(
    title="Consilium API",
    version="1",
    description=(
        "Read access to the surveys, rounds, questions, aggregation runs and results that "
        "the token's user may read on the report pages, and requesting a run. Make a token "
        "on /api/tokens/ and send it as `Authorization: Bearer <token>`."
    ),
    auth=TokenAuth(),
    urls_namespace="api",
    docs_url=None,  # Swagger UI needs inline scripts that the site's CSP refuses
)


# --- Errors: say what was wrong and what to do, in the user's language ------------------------


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    return api.create_response(
        request,
        {
            "detail": _(
                "No valid API token. Send “Authorization: Bearer <token>” with a token made "
                "on the API tokens page; a revoked token no longer works."
            )
        },
        status=401,
    )


@api.exception_handler(Http404)
def _not_found(request, exc):
    return api.create_response(
        request,
        {
            "detail": _(
                "Not found, or not readable with this token: check the id, and ask an "
                "organizer of the survey to add you as an analyst."
            )
        },
        status=404,
    )


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return api.create_response(request, {"detail": str(exc) or _("Not allowed.")}, status=403)


@api.exception_handler(ValidationError)
def _invalid(request, exc):
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error.get('loc', [])[1:]) or 'body'}: {error.get('msg')}"
        for error in exc.errors
    )
    return api.create_response(
        request,
        {"detail": _("The request was not understood: %(problems)s") % {"problems": problems}},
        status=422,
    )


# --- Shapes -------------------------------------------------------------------------------


def _run_out(run: AggregationRun) -> dict:
    return {
        "id": run.id,
        "round_id": run.survey_round_id,
        "method": run.method,
        "status": run.status,
        "progress_phase": run.progress_phase,
        "progress": run.progress,
        "options": run.options,
        "data_hash": run.data_hash,
        "n_judgments": run.n_judgments,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "diagnostics": run.diagnostics or {},
        "error": run.error.splitlines()[0] if run.error else "",
        "built_on_erased_data": privacy_selectors.aggregation_run_is_marked(run=run),
        "report_url": presenters.round_report_url(run),
    }


def _shown_cohorts(run: AggregationRun) -> list[str]:
    result = run.result or {}
    if run.method == AggregationRun.Method.NUMERIC_HIERARCHICAL:
        return numeric_reports.shown_cohorts(result)
    return cohort_privacy.cohorts_shown(cohort_privacy.cohort_sizes_of_result(result))


def _public_result(run: AggregationRun) -> dict | None:
    """The run's result as the pages and CSVs show it: no per-expert rows, small cohorts
    left out wherever cohorts appear (a cohort of one next to its numbers would point at a
    person; a linked run nests them per round)."""
    if run.result is None:
        return None
    shown = _shown_cohorts(run)

    def hidden_pair(item) -> bool:  # a perception row or score of a cohort by another
        return (
            isinstance(item, dict)
            and "by" in item
            and "of" in item
            and not (item["by"] in shown and item["of"] in shown)
        )

    def public(value):
        if isinstance(value, list):
            return [public(item) for item in value if not hidden_pair(item)]
        if not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            if key in ("experts", "posterior"):  # per-expert rows; a file path of the worker
                continue
            if key == "cohorts" and isinstance(item, dict):
                item = {c: v for c, v in item.items() if c in shown}
            elif key == "cohort_gaps" and isinstance(item, list):
                item = [g for g in item if g.get("a") in shown and g.get("b") in shown]
            elif key == "cohort_lean" and isinstance(item, dict):
                item = {c: v for c, v in item.items() if c in shown}
            elif key == "cohorts_pooled" and isinstance(item, dict):
                groups = [[c for c in group if c in shown] for group in item.get("groups", [])]
                item = {**item, "groups": [group for group in groups if group]}
            out[key] = public(item)
        return out

    result = public(run.result)
    result["shown_cohorts"] = shown
    return result


def _downloads(request, run: AggregationRun) -> dict[str, str]:
    links = {
        "results_csv": reverse("api:run_results_csv", args=[run.id]),
        "judgments_csv": reverse("api:round_judgments_csv", args=[run.survey_round_id]),
    }
    try:  # the posterior is for organizers only (it lists every expert's cohort)
        aggregation_selectors.survey_get_for_organizer_or_404(
            user=request.user, survey=run.survey_round.survey
        )
    except Http404:
        return links
    if run.posterior:
        links["posterior_nc"] = reverse("api:run_posterior", args=[run.id])
    return links


# --- Surveys, rounds, questions -----------------------------------------------------------


@api.get("/surveys", response=list[schemas.SurveyOut], tags=["surveys"])
@paginate(PageNumberPagination, page_size=PAGE_SIZE)
def survey_list(request):
    """The surveys whose reports you may read."""
    return aggregation_selectors.survey_list_for_reader(user=request.user).order_by("id")


@api.get("/surveys/{id:survey_id}", response=schemas.SurveyOut, tags=["surveys"])
def survey_detail(request, survey_id: int):
    return aggregation_selectors.survey_get_for_reader(user=request.user, survey_id=survey_id)


@api.get("/surveys/{id:survey_id}/rounds", response=list[schemas.RoundOut], tags=["rounds"])
@paginate(PageNumberPagination, page_size=PAGE_SIZE)
def survey_rounds(request, survey_id: int):
    survey = aggregation_selectors.survey_get_for_reader(user=request.user, survey_id=survey_id)
    return survey.rounds.order_by("number")


@api.get("/rounds/{id:round_id}", response=schemas.RoundOut, tags=["rounds"])
def round_detail(request, round_id: int):
    return aggregation_selectors.round_get_for_reader(user=request.user, round_id=round_id)


def _question_out(question) -> dict:
    return {
        **{
            field: getattr(question, field)
            for field in schemas.QuestionOut.model_fields
            if field != "scenario"
        },
        "scenario": question.scenario.code if question.scenario else None,
    }


@api.get("/rounds/{id:round_id}/questions", response=list[schemas.QuestionOut], tags=["questions"])
@paginate(PageNumberPagination, page_size=PAGE_SIZE)
def round_questions(request, round_id: int):
    """The round's questions with their wording in both languages."""
    survey_round = aggregation_selectors.round_get_for_reader(user=request.user, round_id=round_id)
    return [
        _question_out(q) for q in elicitation_selectors.round_questions(survey_round=survey_round)
    ]


# --- Runs and results ---------------------------------------------------------------------


@api.get("/rounds/{id:round_id}/runs", response=list[schemas.RunOut], tags=["runs"])
@paginate(PageNumberPagination, page_size=PAGE_SIZE)
def round_runs(request, round_id: int):
    survey_round = aggregation_selectors.round_get_for_reader(user=request.user, round_id=round_id)
    return [_run_out(run) for run in aggregation_selectors.round_runs(survey_round=survey_round)]


@api.post(
    "/rounds/{id:round_id}/runs",
    response={200: schemas.RunRequestOut, 201: schemas.RunRequestOut, 400: schemas.ErrorOut},
    tags=["runs"],
)
def run_request(request, round_id: int, payload: schemas.RunRequestIn):
    """Ask for a run (the report page's “Request” button): the same permission and service;
    asking again for the same method, seed and answers returns the existing run (200)."""
    survey_round = aggregation_selectors.round_get_for_reader(user=request.user, round_id=round_id)
    if not aggregation_selectors.survey_can_request_runs(
        user=request.user, survey=survey_round.survey
    ):
        raise Http404("No such round.")
    form = RunRequestForm(payload.dict())
    if not form.is_valid():
        problems = "; ".join(f"{field}: {' '.join(e)}" for field, e in form.errors.items())
        return Status(
            400, {"detail": _("No run was requested: %(problems)s") % {"problems": problems}}
        )
    try:
        run, created = services.aggregation_run_request(
            survey_round=survey_round,
            method=form.cleaned_data["method"],
            options=form.options(),
            requested_by=request.user,
        )
    except ValueError as exc:  # e.g. a round with no judgments yet
        return Status(400, {"detail": _("No run was requested: %(error)s") % {"error": exc}})
    return Status(201 if created else 200, {"created": created, "run": _run_out(run)})


@api.get("/runs/{id:run_id}", response=schemas.RunDetailOut, tags=["runs"])
def run_detail(request, run_id: int):
    """A run: its state, options, data hash, diagnostics and result (shown cohorts only)."""
    run = aggregation_selectors.run_get_for_reader(user=request.user, run_id=run_id)
    return {**_run_out(run), "result": _public_result(run), "downloads": _downloads(request, run)}


@api.get("/runs/{id:run_id}/results", response=list[schemas.QuestionResultOut], tags=["results"])
@paginate(PageNumberPagination, page_size=PAGE_SIZE)
def run_results(request, run_id: int):
    """One row per probability question of the run (numeric runs: see the run's result)."""
    run = aggregation_selectors.run_get_for_reader(user=request.user, run_id=run_id)
    shown = _shown_cohorts(run)
    return [
        {
            "question_id": r.question_id,
            "code": r.question.code,
            "n_judgments": r.n_judgments,
            "consensus": r.consensus,
            "consensus_lower": r.consensus_lower,
            "consensus_upper": r.consensus_upper,
            "disagreement": r.disagreement,
            "disagreement_lower": r.disagreement_lower,
            "disagreement_upper": r.disagreement_upper,
            "cohorts": {c: v for c, v in r.cohorts.items() if c in shown},
            "cohort_gaps": [g for g in r.cohort_gaps if g["a"] in shown and g["b"] in shown],
            "baselines": r.baselines,
        }
        for r in aggregation_selectors.run_question_results(run=run)
    ]


# --- Downloads: the pages' own views, so the files and their checks are the same -----------


@api.get("/runs/{id:run_id}/results.csv", tags=["downloads"], url_name="run_results_csv")
def run_results_csv(request, run_id: int):
    return aggregation_views.run_results_csv(request, run_id)


@api.get("/runs/{id:run_id}/posterior.nc", tags=["downloads"], url_name="run_posterior")
def run_posterior(request, run_id: int):
    """The posterior (NetCDF): organizers of the survey only, as on the page."""
    return aggregation_views.run_posterior(request, run_id)


@api.get("/rounds/{id:round_id}/judgments.csv", tags=["downloads"], url_name="round_judgments_csv")
def round_judgments_csv(request, round_id: int):
    """The round's anonymised answers (codes, shown cohorts; no names or emails)."""
    return aggregation_views.round_judgments_csv(request, round_id)
