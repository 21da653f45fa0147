"""Report pages of aggregation runs (staff with rights to the survey, assigned analysts)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aggregation import selectors


@login_required
def round_report(request: HttpRequest, round_id: int) -> HttpResponse:
    """The round's latest hierarchical run: its progress while it runs, its results after."""
    survey_round = selectors.round_get_for_reader(user=request.user, round_id=round_id)
    run = selectors.round_latest_run(survey_round=survey_round, method="hierarchical")
    results = selectors.run_question_results(run=run) if run and run.is_finished else []
    context = {"survey_round": survey_round, "run": run, "results": results}
    return render(request, "aggregation/round_report.html", context)
