"""Reads of the aggregation domain: the only bridge from the database to the engine, and
the access checks of the report pages.

Who may read a survey's reports: a superuser, the survey's organizers, and the members of
the "analyst" group assigned to the survey (``Survey.analysts``). Everyone else, experts
included, gets a 404: the pages do not confirm that a survey or run exists.
"""

from django.db.models import QuerySet
from django.http import Http404

from aggregation.engine.data import JudgmentTable
from aggregation.models import AggregationRun, QuestionResult
from elicitation.models import Judgment, Question, Round, Survey

ANALYST_GROUP = "analyst"
UNSPECIFIED_COHORT = "unspecified"


# --- Access ----------------------------------------------------------------------------


def survey_list_for_reader(*, user) -> QuerySet[Survey]:
    if not user.is_authenticated:
        return Survey.objects.none()
    if user.is_superuser:
        return Survey.objects.all()
    organized = Survey.objects.filter(organizers=user)
    if not user.groups.filter(name=ANALYST_GROUP).exists():
        return organized
    return (organized | Survey.objects.filter(analysts=user)).distinct()


def survey_get_for_reader(*, user, survey_id: int) -> Survey:
    survey = survey_list_for_reader(user=user).filter(id=survey_id).first()
    if survey is None:
        raise Http404("No survey whose reports you may read has this id.")
    return survey


def round_get_for_reader(*, user, round_id: int) -> Round:
    survey_round = Round.objects.select_related("survey").filter(id=round_id).first()
    if survey_round is None:
        raise Http404("No such round.")
    survey_get_for_reader(user=user, survey_id=survey_round.survey_id)
    return survey_round


def run_get_for_reader(*, user, run_id: int) -> AggregationRun:
    run = AggregationRun.objects.select_related("survey_round__survey").filter(id=run_id).first()
    if run is None:
        raise Http404("No such aggregation run.")
    survey_get_for_reader(user=user, survey_id=run.survey_round.survey_id)
    return run


def survey_get_for_organizer_or_404(*, user, survey: Survey) -> Survey:
    """The survey if the user organizes it (or is a superuser): for what analysts may not get."""
    if user.is_superuser or survey.organizers.filter(id=user.id).exists():
        return survey
    raise Http404("Only the survey's organizers may download this.")


def survey_can_request_runs(*, user, survey: Survey) -> bool:
    """Organizers and assigned analysts may ask for another method or seed."""
    return survey_list_for_reader(user=user).filter(id=survey.id).exists()


# --- Runs ------------------------------------------------------------------------------


def round_runs(*, survey_round: Round) -> QuerySet[AggregationRun]:
    return survey_round.aggregation_runs.select_related("requested_by").order_by("-created_at")


def round_latest_run(*, survey_round: Round, method: str | None = None) -> AggregationRun | None:
    """The newest run of the round (of one method), finished or not."""
    runs = survey_round.aggregation_runs.all()
    if method:
        runs = runs.filter(method=method)
    return runs.order_by("-created_at", "-id").first()


def run_question_results(*, run: AggregationRun) -> list[QuestionResult]:
    return list(run.question_results.select_related("question", "question__scenario"))


# --- Judgments for the engine ------------------------------------------------------------


def round_judgments_submitted(
    *, survey_round: Round, question: Question | None = None
) -> QuerySet[Judgment]:
    """Every judgment (binary and numeric) of the experts who submitted the round."""
    judgments = (
        Judgment.objects.filter(
            survey_round=survey_round,
            expert__invitations__survey_round=survey_round,
            expert__invitations__submitted_at__isnull=False,
        )
        .select_related("expert", "question")
        .order_by("question__position", "question__code", "expert__code")
    )
    return judgments if question is None else judgments.filter(question=question)


def round_numeric_question_count(*, survey_round: Round) -> int:
    """How many of the round's questions are numeric (outside the probability models)."""
    return survey_round.questions.filter(kind=Question.Kind.NUMERIC).count()


def round_binary_judgments(*, survey_round: Round) -> QuerySet[Judgment]:
    """The binary judgments that count: those of experts who submitted the round."""
    return round_judgments_submitted(survey_round=survey_round).filter(
        question__kind=Question.Kind.BINARY, probability__isnull=False
    )


def round_previous_closed(*, survey_round: Round) -> Round | None:
    """The round a follow-up showed as feedback, else the latest closed round before it."""
    feedback = survey_round.feedback_round if survey_round.feedback_round_id else None
    if feedback is not None and feedback.number < survey_round.number:
        return feedback
    return (
        Round.objects.filter(
            survey=survey_round.survey_id,
            number__lt=survey_round.number,
            status=Round.Status.CLOSED,
        )
        .order_by("-number")
        .first()
    )


def round_linkable_previous(*, survey_round: Round) -> Round | None:
    """The earlier closed round a linked fit of this round would pair it with: the one
    ``round_previous_closed`` names, when its submitted experts gave probability answers
    to questions this round asks too; else None (there is nothing to link)."""
    previous = round_previous_closed(survey_round=survey_round)
    if previous is None:
        return None
    shared = round_binary_judgments(survey_round=previous).filter(
        question__in=survey_round.questions.all()
    )
    return previous if shared.exists() else None


def round_linked_run(*, earlier: Round, later: Round) -> AggregationRun | None:
    """The latest run, whatever its state, that fits exactly these two rounds together."""
    runs = later.aggregation_runs.filter(method=AggregationRun.Method.LINKED_ROUNDS).order_by(
        "-created_at", "-id"
    )
    wanted = [earlier.number, later.number]
    return next((run for run in runs if run.options.get("rounds") == wanted), None)


def round_latest_succeeded_run(
    *, survey_round: Round, method: str = AggregationRun.Method.HIERARCHICAL
) -> AggregationRun | None:
    return (
        survey_round.aggregation_runs.filter(method=method, status=AggregationRun.Status.SUCCEEDED)
        .order_by("-created_at", "-id")
        .first()
    )


def judgment_table_for_rounds(
    *, survey_round: Round, round_numbers: list[int], cohort_attribute: str
) -> JudgmentTable:
    """Several rounds' judgments in one table, on the questions of ``survey_round`` (the
    latest of them), for the model that links rounds."""
    rounds = Round.objects.filter(survey=survey_round.survey_id, number__in=round_numbers)
    codes = set(survey_round.questions.values_list("code", flat=True))
    frames = [
        judgment_table_for_round(survey_round=r, cohort_attribute=cohort_attribute).frame
        for r in rounds
    ]
    rows = [row for frame in frames for row in frame.to_dict("records") if row["question"] in codes]
    return JudgmentTable.from_rows(rows)


def judgment_table_for_round(*, survey_round: Round, cohort_attribute: str) -> JudgmentTable:
    """The round's binary judgments as the engine's table, experts by anonymised code.

    The cohort of an expert is their ``attributes[cohort_attribute]``; experts without it
    form the cohort "unspecified".
    """
    rows = [
        {
            "expert": judgment.expert.code,
            "cohort": str(judgment.expert.attributes.get(cohort_attribute) or UNSPECIFIED_COHORT),
            "question": judgment.question.code,
            "probability": judgment.probability,
            "round": survey_round.number,
        }
        for judgment in round_binary_judgments(survey_round=survey_round)
    ]
    return JudgmentTable.from_rows(rows)
