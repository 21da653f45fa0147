"""Reads of data-subject requests: the organizer's access to one contact, the audit, and
whether a run was built on answers since erased (read by the reports and the API)."""

from django.db.models import QuerySet
from django.http import Http404

from aggregation.models import AggregationRun
from elicitation import selectors as elicitation_selectors
from elicitation.models import ExpertContact, Survey
from privacy.models import ErasedRunMark, SubjectRequest
from resolution.models import RecalibrationRun


def contact_get_for_organizer(*, user, survey_id: int, contact_id) -> ExpertContact:
    """A contact of a survey the user organizes (the survey's 404 otherwise)."""
    survey = elicitation_selectors.survey_get_for_organizer(user=user, survey_id=survey_id)
    contact = (
        ExpertContact.objects.select_related("expert", "survey")
        .filter(survey=survey, id=contact_id)
        .first()
    )
    if contact is None:
        raise Http404("No such person on this survey's panel.")
    return contact


def survey_subject_requests(*, survey: Survey) -> QuerySet[SubjectRequest]:
    return survey.subject_requests.select_related("by").order_by("-at", "-id")


def expert_erasure(*, expert) -> SubjectRequest | None:
    """The erasure of this expert, if there was one (the latest)."""
    return (
        SubjectRequest.objects.filter(expert=expert)
        .exclude(kind=SubjectRequest.Kind.EXPORT)
        .order_by("-at", "-id")
        .first()
    )


def aggregation_run_erasures(*, run: AggregationRun) -> list[SubjectRequest]:
    """The erasures that took answers this run used (its results are unchanged)."""
    marks = ErasedRunMark.objects.filter(aggregation_run=run).select_related("request")
    return [mark.request for mark in marks]


def aggregation_run_is_marked(*, run: AggregationRun) -> bool:
    return ErasedRunMark.objects.filter(aggregation_run=run).exists()


def recalibration_run_erasures(*, run: RecalibrationRun) -> list[SubjectRequest]:
    marks = ErasedRunMark.objects.filter(recalibration_run=run).select_related("request")
    return [mark.request for mark in marks]


def request_marked_runs(*, subject_request: SubjectRequest) -> dict[str, list]:
    marks = subject_request.marks.select_related(
        "aggregation_run__survey_round", "recalibration_run__survey_round"
    )
    return {
        "aggregation": [m.aggregation_run for m in marks if m.aggregation_run_id],
        "recalibration": [m.recalibration_run for m in marks if m.recalibration_run_id],
    }


def runs_using_answers(*, expert) -> tuple[list[AggregationRun], list[RecalibrationRun]]:
    """The runs whose data held this expert's answers: runs of a round they answered, runs
    whose result lists their code, and runs that read earlier rounds too (linked rounds,
    numeric seeds asked earlier); then the recalibrations of those rounds and runs."""
    rounds = set(expert.judgments.values_list("survey_round_id", flat=True))
    if not rounds:
        return [], []
    numbers = expert.judgments.values_list("survey_round__number", flat=True)
    first = min(numbers)
    reads_earlier = (
        AggregationRun.Method.LINKED_ROUNDS,
        AggregationRun.Method.NUMERIC_HIERARCHICAL,
    )
    runs = [
        run
        for run in AggregationRun.objects.filter(
            survey_round__survey_id=expert.survey_id
        ).select_related("survey_round")
        if run.survey_round_id in rounds
        or expert.code in ((run.result or {}).get("experts") or {})
        or (run.method in reads_earlier and run.survey_round.number > first)
    ]
    run_ids = {run.id for run in runs}
    recalibrations = [
        run
        for run in RecalibrationRun.objects.filter(survey_round__survey_id=expert.survey_id)
        if run.survey_round_id in rounds or run.source_run_id in run_ids
    ]
    return runs, recalibrations
