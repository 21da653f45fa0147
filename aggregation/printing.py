"""The printable report of a round: its report, the comparison with the round before and
the scores on resolved questions as one document, with the survey's wording, the run's data
hash, and a print stylesheet (``static/print.css``), to print or save as PDF.

The three parts are the pages themselves: the view renders each through its own view
(same access checks, same context, same language) and takes its ``<main>``, so the printed
document cannot drift from what the pages show. The stylesheet hides what paper cannot use
(forms, navigation, progress bars) and keeps figures and table rows whole.
"""

import re

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.http import require_GET

from aggregation import selectors
from aggregation import views as report_views
from elicitation import selectors as elicitation_selectors
from elicitation import texts as elicitation_texts
from elicitation.models import Round
from privacy import selectors as privacy_selectors

MAIN = re.compile(r'<main id="main"[^>]*>(.*)</main>', re.DOTALL)
LAZY = re.compile(r'\sloading="lazy"')  # paper has no scrolling: every figure loads at once


def _main_of(response: HttpResponse) -> str | None:
    """The page's ``<main>`` contents, or None if the page did not answer 200."""
    if response.status_code != 200:
        return None
    match = MAIN.search(response.content.decode())
    return LAZY.sub("", match.group(1)) if match else None


def _part(view, request: HttpRequest, round_id: int) -> str | None:
    """A page that cannot be shown (scores asked for an aggregate that is not there) is
    left out of the document rather than refusing the whole of it."""
    try:
        return _main_of(view(request, round_id))
    except Http404:
        return None


def _wording(survey_round: Round, language: str) -> list[dict]:
    """The round's questions as the experts read them, under their scenarios (title and
    description), in the reader's language; questions without a scenario come last."""
    questions = elicitation_selectors.round_questions(survey_round=survey_round)
    groups = elicitation_selectors.questions_by_scenario(questions=questions)
    return [
        {
            "title": elicitation_texts.localized(scenario, "title", language).text
            if scenario
            else "",
            "description": elicitation_texts.markdown_html(
                elicitation_texts.localized(scenario, "description", language).text
            )
            if scenario
            else "",
            "questions": [
                {
                    "question": question,
                    "content": elicitation_texts.question_content(question, language),
                }
                for question in group
            ],
        }
        for scenario, group in groups
    ]


@login_required
@require_GET
def round_print(request: HttpRequest, round_id: int) -> HttpResponse:
    survey_round = selectors.round_get_for_reader(user=request.user, round_id=round_id)
    language = translation.get_language()
    report = _main_of(report_views.round_report(request, round_id))
    run = report_views._run_of_round(request, survey_round)
    earlier = selectors.round_previous_closed(survey_round=survey_round)
    comparison = _part(report_views.round_comparison, request, round_id) if earlier else None
    scores = None
    if survey_round.status == Round.Status.CLOSED:
        from resolution import views as resolution_views  # the scores page's own view

        scores = _part(resolution_views.round_scores, request, round_id)
    context = {
        "survey": survey_round.survey,
        "survey_round": survey_round,
        "survey_title": elicitation_texts.localized(survey_round.survey, "title", language).text,
        "run": run,
        "run_erased": privacy_selectors.aggregation_run_is_marked(run=run) if run else False,
        "earlier": earlier,
        "parts": [
            (key, html)
            for key, html in (("report", report), ("comparison", comparison), ("scores", scores))
            if html
        ],
        "background": elicitation_texts.markdown_html(
            elicitation_texts.localized(survey_round.survey, "background", language).text
        ),
        "wording": _wording(survey_round, language),
        "printed_at": timezone.now(),
    }
    return render(request, "aggregation/print_round.html", context)
