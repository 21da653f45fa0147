"""Reads of the resolution domain: where each question stands, the outcomes table that the
engine scores against, recalibration runs, and the access checks of the pages.

Who may do what: organizers of a survey (and superusers) resolve and annul its questions
(``elicitation.selectors.survey_get_for_organizer``); whoever may read the survey's
reports (``aggregation.selectors.survey_get_for_reader``: organizers, assigned analysts,
superusers) reads its scores. Everyone else gets a 404.
"""

import math
from dataclasses import dataclass
from datetime import date

import pandas as pd
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from aggregation import selectors as aggregation_selectors
from aggregation.engine.scoring import outcomes_from_rows
from elicitation import selectors as elicitation_selectors
from elicitation.models import Question, Round, Survey
from resolution.models import RecalibrationRun, Resolution, ResolutionEvent, State

# The group of a question without a scenario when other questions have one (not a slug,
# so it cannot collide with a scenario's code).
NO_SCENARIO_GROUP = "(no scenario)"


# --- Access ------------------------------------------------------------------------------


def question_get_for_organizer(*, user, survey_id: int, question_id: int) -> Question:
    survey = elicitation_selectors.survey_get_for_organizer(user=user, survey_id=survey_id)
    question = (
        Question.objects.select_related("scenario", "survey").filter(id=question_id, survey=survey)
    ).first()
    if question is None:
        raise Http404("No such question in this survey.")
    return question


def recalibration_run_get_for_reader(*, user, run_id: int) -> RecalibrationRun:
    run = (
        RecalibrationRun.objects.select_related("survey_round__survey", "source_run")
        .filter(id=run_id)
        .first()
    )
    if run is None:
        raise Http404("No such recalibration.")
    aggregation_selectors.survey_get_for_reader(user=user, survey_id=run.survey_round.survey_id)
    return run


# --- Where questions stand ----------------------------------------------------------------


@dataclass(frozen=True)
class QuestionState:
    """A question, what is known of its answer, and where that comes from."""

    question: Question
    state: str  # a State value
    outcome: float | None
    resolved_on: date | None
    source: str

    @property
    def is_known(self) -> bool:
        return self.state in (State.SEED, State.RESOLVED)

    @property
    def state_label(self) -> str:
        return str(State(self.state).label)

    @property
    def outcome_text(self) -> str:
        return outcome_text(self.question, self.outcome)


def outcome_text(question: Question, outcome: float | None) -> str:
    """An outcome as a page prints it: yes / no, or the value with the question's unit."""
    if outcome is None:
        return "—"
    if question.is_binary:
        return _("yes") if outcome == 1.0 else _("no")
    return f"{outcome:g} {question.unit}".strip()


def question_state(*, question: Question) -> QuestionState:
    resolution = _resolution_of(question)
    if resolution is not None:
        return QuestionState(
            question=question,
            state=resolution.status,
            outcome=resolution.outcome,
            resolved_on=resolution.resolved_on,
            source=resolution.source,
        )
    if question.is_seed:
        return QuestionState(
            question=question,
            state=State.SEED,
            outcome=question.seed_answer,
            resolved_on=None,
            source=_("Seed question: its answer was given when it was written."),
        )
    return QuestionState(
        question=question, state=State.OPEN, outcome=None, resolved_on=None, source=""
    )


def _resolution_of(question: Question) -> Resolution | None:
    try:
        return question.resolution
    except Resolution.DoesNotExist:
        return None


def survey_question_states(*, survey: Survey) -> list[QuestionState]:
    """Every question of the survey, in survey order, with its state."""
    questions = survey.questions.select_related("scenario", "resolution").order_by("position", "id")
    return [question_state(question=question) for question in questions]


def survey_known_outcomes(*, survey: Survey, kind: str | None = None) -> list[QuestionState]:
    """Questions whose answer is known: resolved ones and seeds; annulled ones never."""
    states = [s for s in survey_question_states(survey=survey) if s.is_known]
    return [s for s in states if kind is None or s.question.kind == kind]


def question_group(question: Question) -> str:
    """The recalibration group of a question: its scenario's code."""
    return question.scenario.code if question.scenario_id else NO_SCENARIO_GROUP


def outcomes_table_for_survey(
    *, survey: Survey, questions: list[str] | None = None
) -> pd.DataFrame:
    """The survey's binary outcomes as the engine's outcomes table (indexed by question code).

    Resolved binary questions and binary seeds; annulled questions are left out. Columns
    outcome (0/1) and group (the scenario's code, "" when no question has a scenario), as
    ``aggregation.engine.scoring.outcomes_from_frame`` returns. ``questions`` keeps only
    those codes (e.g. the questions a round's table has).
    """
    known = survey_known_outcomes(survey=survey, kind=Question.Kind.BINARY)
    if questions is not None:
        wanted = set(questions)
        known = [s for s in known if s.question.code in wanted]
    if not known:
        return pd.DataFrame(
            {"outcome": pd.Series(dtype="int64"), "group": pd.Series(dtype=str)},
            index=pd.Index([], name="question", dtype=str),
        )
    grouped = any(s.question.scenario_id for s in known)
    rows = [
        {
            "question": s.question.code,
            "outcome": int(s.outcome),
            **({"group": question_group(s.question)} if grouped else {}),
        }
        for s in known
    ]
    return outcomes_from_rows(rows)


def outcomes_hash_input(outcomes: pd.DataFrame) -> list[list]:
    """The outcomes as plain sorted rows (question, outcome, group), for hashing."""
    return [
        [str(q), int(row.outcome), str(row.group)] for q, row in outcomes.sort_index().iterrows()
    ]


def numeric_realizations_for_survey(*, survey: Survey) -> dict[str, float]:
    """Code -> realized value of the numeric questions known (resolved or seed)."""
    return {
        s.question.code: float(s.outcome)
        for s in survey_known_outcomes(survey=survey, kind=Question.Kind.NUMERIC)
        if s.outcome is not None and math.isfinite(s.outcome)
    }


def survey_resolution_events(*, survey: Survey) -> QuerySet[ResolutionEvent]:
    return ResolutionEvent.objects.filter(question__survey=survey).select_related("question", "by")


def question_resolution_events(*, question: Question) -> QuerySet[ResolutionEvent]:
    return question.resolution_events.select_related("by")


# --- Rounds and recalibrations -------------------------------------------------------------


def survey_rounds_scored(*, survey: Survey) -> list[Round]:
    """The survey's closed rounds, newest first: the rounds whose answers are scored."""
    return list(
        survey.rounds.filter(status=Round.Status.CLOSED, is_pilot=False).order_by("-number")
    )


def round_latest_hierarchical_run(*, survey_round: Round):
    """The newest succeeded hierarchical run of the round, or None."""
    from aggregation.selectors import round_latest_succeeded_run

    return round_latest_succeeded_run(survey_round=survey_round)


def round_recalibration_runs(*, survey_round: Round) -> QuerySet[RecalibrationRun]:
    return survey_round.recalibration_runs.select_related("requested_by", "source_run")


def run_has_forecast(*, source_run) -> bool:
    """Whether a panel forecast of this hierarchical run was ever requested (on any
    outcomes): the report then says that the outcomes changed since, not "never asked"."""
    return RecalibrationRun.objects.filter(
        source_run=source_run, options__input=RecalibrationRun.Input.HIERARCHICAL
    ).exists()


def round_recalibration_inputs_used(*, survey_round: Round) -> list[str]:
    """The aggregate inputs that recalibrations of this round have been asked for."""
    used = {run.input for run in survey_round.recalibration_runs.only("options")}
    return sorted(used)


def state_text(question: Question, state: str, outcome: float | None) -> str:
    """A state as the history prints it: "open", "resolved: yes", "seed: 12 ships"."""
    label = str(State(state).label)
    if state in (State.RESOLVED, State.SEED):
        return f"{label}: {outcome_text(question, outcome)}"
    return label


def resolution_event_rows(events) -> list[dict]:
    """Events with their before and after as text, for the history tables."""
    return [
        {
            "event": event,
            "before": state_text(event.question, event.previous_state, event.previous_outcome),
            "after": state_text(event.question, event.state, event.outcome),
        }
        for event in events
    ]
