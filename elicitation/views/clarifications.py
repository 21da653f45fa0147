"""Organizer pages of clarifications: a question's wording corrected during an open
round (elicitation.clarifications), and the round's answers with their wording version."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from config.csvexport import csv_response
from elicitation import clarifications, meta, selectors
from elicitation.forms import QuestionClarifyForm
from elicitation.views.building import _form_page, _service_errors, _survey_back
from elicitation.views.organizer import organizer_required


@organizer_required
@require_http_methods(["GET", "POST"])
def question_clarify(request: HttpRequest, question_id: int) -> HttpResponse:
    question = selectors.survey_question_get_for_organizer(
        user=request.user, question_id=question_id
    )
    initial = {name: getattr(question, name) for name in clarifications.WORDING_FIELDS}
    form = QuestionClarifyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            version = clarifications.question_clarify(
                question=question, by=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(
                request,
                _(
                    "%(code)s now reads as version %(number)s. Experts who answered before "
                    "are asked to confirm or revise their answer."
                )
                % {"code": question.code, "number": version.number},
            )
            return redirect("elicitation:survey-detail", survey_id=question.survey_id)
    title = _("Clarify the wording of %(code)s") % {"code": question.code}
    intro = _(
        "Correct or clarify the wording while the round is open. The earlier wording is kept "
        "in the question's history, every answer records the wording it was given under, and "
        "experts who answered before see your note and confirm or revise their answer."
    )
    history = clarifications.question_versions(question=question)
    return _form_page(
        request, form, title=title, back=_survey_back(question.survey), intro=intro,
        history=history,
    )  # fmt: skip


@organizer_required
@require_GET
def round_wording_csv(request: HttpRequest, round_id: int) -> HttpResponse:
    """The round's answers (codes only) with the wording version each was given under."""
    survey_round = selectors.round_get_for_organizer(user=request.user, round_id=round_id)
    filename = f"{slugify(survey_round.survey.title)[:40]}-round-{survey_round.number}"
    response, writer = csv_response(f"{filename}-answers-wording.csv")
    answers = list(clarifications.round_answers_with_versions(survey_round=survey_round))
    cohorts = meta.meta_csv_cohorts(
        survey=survey_round.survey, meta_predictions=(j.meta_predictions for j in answers)
    )
    writer.writerow(
        ["expert", "question", "round", "wording_version", "current_wording_version",
         "confirmed_at", "probability", "q05", "q50", "q95", "updated_at"]
        + meta.meta_csv_header(cohorts)
    )  # fmt: skip
    for j in answers:
        writer.writerow(
            [j.expert.code, j.question.code, survey_round.number, j.question_version,
             j.question.version, j.confirmed_at.isoformat() if j.confirmed_at else ""]
            + ["" if getattr(j, k) is None else getattr(j, k) for k in ("probability", "q05", "q50", "q95")]
            + [j.updated_at.isoformat()]
            + meta.meta_csv_values(j.meta_predictions, cohorts)
        )  # fmt: skip
    return response
