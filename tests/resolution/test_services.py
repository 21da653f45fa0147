"""Resolving and annulling: validation, the audit history, seeds, and what it re-requests."""

import math
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from elicitation import services as elicitation_services
from elicitation.models import Question
from resolution import selectors, services
from resolution.models import RecalibrationRun, Resolution, ResolutionEvent, State
from tests.resolution.conftest import SOURCE, YESTERDAY, resolve

Action = ResolutionEvent.Action
TODAY = timezone.localdate()


def assert_nothing_recorded():
    assert Resolution.objects.count() == 0
    assert ResolutionEvent.objects.count() == 0
    assert RecalibrationRun.objects.count() == 0


def test_resolving_records_the_state_and_one_event(closed_round, questions, organizer):
    resolution, changed = services.question_resolve(
        question=questions["Q01"], outcome=1, resolved_on=YESTERDAY, source=f"  {SOURCE} ",
        by=organizer,
    )  # fmt: skip
    assert changed
    resolution.refresh_from_db()
    assert (resolution.status, resolution.outcome, resolution.resolved_on) == (
        State.RESOLVED, 1.0, YESTERDAY,
    )  # fmt: skip
    assert (resolution.source, resolution.changed_by, resolution.version) == (SOURCE, organizer, 1)
    [event] = ResolutionEvent.objects.all()
    assert (event.action, event.previous_state, event.state, event.outcome, event.by) == (
        Action.RESOLVED, State.OPEN, State.RESOLVED, 1.0, organizer,
    )  # fmt: skip
    state = selectors.question_state(question=questions["Q01"])
    assert (state.state, state.outcome_text, state.is_known) == (State.RESOLVED, "yes", True)


@pytest.mark.parametrize(
    ("code", "changes", "field", "message"),
    [
        ("Q01", {"outcome": 0.5}, "outcome", "resolves yes (1) or no (0)"),
        ("Q01", {"outcome": 2}, "outcome", "resolves yes (1) or no (0)"),
        ("Q01", {"outcome": None}, "outcome", "Give the outcome"),
        ("Q01", {"outcome": "yes"}, "outcome", "must be a number"),
        ("N01", {"outcome": 150.0}, "outcome", "between 0 and 100"),
        ("N01", {"outcome": -1.0}, "outcome", "between 0 and 100"),
        ("N01", {"outcome": math.nan}, "outcome", "finite number"),
        ("N01", {"outcome": math.inf}, "outcome", "finite number"),
        ("Q01", {"resolved_on": TODAY + timedelta(days=1)}, "resolved_on", "is in the future"),
        ("Q01", {"resolved_on": None}, "resolved_on", "Give the date"),
        ("Q01", {"source": "   "}, "source", "a source note is required"),
        ("Q01", {"source": "x" * 2001}, "source", "under 2000 characters"),
    ],
)
def test_bad_resolutions_are_refused_with_a_clear_error_and_change_nothing(
    closed_round, questions, organizer, code, changes, field, message
):
    kwargs = {"outcome": 1.0 if code == "Q01" else 7.0, "resolved_on": YESTERDAY, "source": SOURCE}
    kwargs.update(changes)
    with pytest.raises(ValidationError) as caught:
        services.question_resolve(question=questions[code], by=organizer, **kwargs)
    assert message in " ".join(caught.value.message_dict[field])
    assert_nothing_recorded()


def test_a_numeric_question_resolves_to_a_value_inside_its_bounds(closed_round, questions):
    resolution = resolve(questions["N01"], 7.0)
    assert (resolution.status, resolution.outcome) == (State.RESOLVED, 7.0)
    assert selectors.question_state(question=questions["N01"]).outcome_text == "7 ships"
    assert RecalibrationRun.objects.count() == 0  # numeric outcomes teach the LLO nothing


def test_a_log_scale_question_needs_a_positive_value(closed_round, survey):
    question = elicitation_services.question_create(
        survey=survey, code="L01", text="GDP?", kind=Question.Kind.NUMERIC,
        scale=Question.Scale.LOG, lower_bound=0.001,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="at least 0.001"):
        resolve(question, 0.0)


def test_resolving_again_with_the_same_values_changes_nothing(closed_round, questions, organizer):
    first = resolve(questions["Q01"], 1, by=organizer)
    again, changed = services.question_resolve(
        question=questions["Q01"], outcome=1.0, resolved_on=YESTERDAY, source=SOURCE
    )
    assert (again.id, changed) == (first.id, False)
    assert ResolutionEvent.objects.count() == 1


def test_changing_a_resolution_needs_a_reason_and_keeps_the_old_values(
    closed_round, questions, organizer, other_staff
):
    resolve(questions["Q01"], 1, by=organizer)
    with pytest.raises(ValidationError) as caught:
        resolve(questions["Q01"], 0, by=other_staff, source="Correction in the paper.")
    assert "Q01 was already resolved; say why" in caught.value.message_dict["reason"][0]
    assert Resolution.objects.get().outcome == 1.0  # nothing changed
    assert ResolutionEvent.objects.count() == 1

    resolve(
        questions["Q01"], 0, by=other_staff, source="Correction in the paper.",
        reason="The first report was wrong.",
    )  # fmt: skip
    resolution = Resolution.objects.get()
    assert (resolution.outcome, resolution.version, resolution.changed_by) == (0.0, 2, other_staff)
    latest = ResolutionEvent.objects.first()  # newest first
    assert (latest.action, latest.previous_state, latest.previous_outcome) == (
        Action.CHANGED, State.RESOLVED, 1.0,
    )  # fmt: skip
    assert (latest.previous_source, latest.source, latest.reason) == (
        SOURCE, "Correction in the paper.", "The first report was wrong.",
    )  # fmt: skip
    assert (latest.by, ResolutionEvent.objects.count()) == (other_staff, 2)


def test_annulling_needs_a_reason_and_is_recorded(closed_round, questions, organizer):
    resolve(questions["Q01"], 1, by=organizer)
    with pytest.raises(ValidationError) as caught:
        services.question_annul(question=questions["Q01"], reason=" ", by=organizer)
    assert "a reason is required" in caught.value.message_dict["reason"][0]
    with pytest.raises(ValidationError) as caught:
        services.question_annul(
            question=questions["Q01"], reason="Ambiguous.", annulled_on=TODAY + timedelta(days=2)
        )
    assert "in the future" in caught.value.message_dict["annulled_on"][0]
    assert Resolution.objects.get().status == State.RESOLVED

    resolution, changed = services.question_annul(
        question=questions["Q01"], reason="The question was ambiguous.", by=organizer
    )
    assert changed and (resolution.status, resolution.outcome) == (State.ANNULLED, None)
    event = ResolutionEvent.objects.first()
    assert (event.action, event.previous_state, event.previous_outcome, event.source) == (
        Action.ANNULLED, State.RESOLVED, 1.0, "The question was ambiguous.",
    )  # fmt: skip
    _again, changed = services.question_annul(question=questions["Q01"], reason="Twice.")
    assert not changed and ResolutionEvent.objects.count() == 2


def test_resolving_an_annulled_question_needs_a_reason(closed_round, questions):
    services.question_annul(question=questions["Q02"], reason="Ambiguous.")
    with pytest.raises(ValidationError, match="was already annulled"):
        resolve(questions["Q02"], 0)
    resolve(questions["Q02"], 0, reason="Clarified by the organizers.")
    assert selectors.question_state(question=questions["Q02"]).state == State.RESOLVED
    assert ResolutionEvent.objects.first().action == Action.RESOLVED


def test_a_seed_carries_its_answer_and_a_resolution_must_agree(closed_round, survey):
    seed = elicitation_services.question_create(
        survey=survey, code="S01", text="Did the 2020 exercise happen?", is_seed=True,
        seed_answer=1.0,
    )  # fmt: skip
    state = selectors.question_state(question=seed)
    assert (state.state, state.outcome, state.is_known) == (State.SEED, 1.0, True)
    with pytest.raises(ValidationError, match="seed question whose known answer is yes"):
        resolve(seed, 0)
    resolve(seed, 1, source="Ministry of Defense white paper.")
    event = ResolutionEvent.objects.get()
    assert (event.previous_state, event.previous_outcome, event.previous_source) == (
        State.SEED, 1.0, "",
    )  # fmt: skip
    services.question_annul(question=seed, reason="A flawed seed: two readings.")
    assert "S01" not in selectors.outcomes_table_for_survey(survey=survey).index


def test_a_question_still_being_answered_cannot_be_resolved(open_round, questions):
    with pytest.raises(ValidationError, match="still being answered in round 2, which is open"):
        resolve(questions["Q01"], 1)
    assert_nothing_recorded()
    services.question_annul(question=questions["Q01"], reason="Withdrawn.")  # annulling may


def test_the_history_is_append_only(closed_round, questions):
    resolve(questions["Q01"], 1)
    event = ResolutionEvent.objects.get()
    event.source = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert ResolutionEvent.objects.get().source == SOURCE


def test_resolving_requests_the_recalibration_of_the_rounds_that_answered_it(
    closed_round, questions, organizer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        resolve(questions["Q01"], 1, by=organizer)
    [run] = RecalibrationRun.objects.all()
    assert (run.survey_round, run.status, run.n_resolved, run.n_events) == (
        closed_round, RecalibrationRun.Status.QUEUED, 1, 1,
    )  # fmt: skip
    assert (run.requested_by, run.input) == (organizer, "logodds_mean")
    assert len(callbacks) == 1  # its task, sent after commit; nothing else
    services.question_annul(question=questions["Q01"], reason="Ambiguous.")
    newest = RecalibrationRun.objects.first()
    assert newest.id != run.id and newest.n_resolved == 0


@pytest.mark.django_db(transaction=True)
def test_two_resolutions_at_once_end_in_a_recalibration_that_knows_both(
    closed_round, questions, monkeypatch
):
    """Two organizers resolve two questions of one round at the same moment: each request
    for the round's recalibration waits for the other's commit, so the newest knows both."""
    import threading

    from django.db import connection, connections

    from resolution import recalibration

    if connection.vendor != "postgresql":
        # SQLite lets one transaction write at a time: the second waits at its first write,
        # so both can never have written before either commits (the race needs that)
        pytest.skip("two transactions writing at once need PostgreSQL (as in CI)")
    both_written = threading.Barrier(2, timeout=30)
    refresh = recalibration.recalibrations_refresh

    def refresh_once_both_wrote(**kwargs):
        both_written.wait()  # both resolutions are written, neither is committed
        return refresh(**kwargs)

    monkeypatch.setattr(services, "recalibrations_refresh", refresh_once_both_wrote)
    errors = []

    def resolve_in_own_connection(code, outcome):
        try:
            resolve(questions[code], outcome)
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=resolve_in_own_connection, args=args)
        for args in (("Q01", 1), ("Q02", 0))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    newest = RecalibrationRun.objects.filter(survey_round=closed_round).first()
    assert newest.n_resolved == 2


def test_a_new_round_does_not_ask_a_question_whose_outcome_is_settled(
    closed_round, survey, questions
):
    from elicitation.forms import RoundOpenForm

    resolve(questions["Q01"], 1)
    services.question_annul(question=questions["Q02"], reason="The event was redefined.")
    draft = elicitation_services.round_create(survey=survey)
    with pytest.raises(ValidationError, match="already resolved or annulled.*Q01, Q02"):
        elicitation_services.round_open(
            survey_round=draft, questions=[questions["Q01"], questions["Q02"], questions["Q03"]]
        )
    draft.refresh_from_db()
    assert draft.status == draft.Status.DRAFT
    offered = set(RoundOpenForm(survey=survey).fields["questions"].queryset)
    assert questions["Q01"] not in offered and questions["Q02"] not in offered
    assert questions["Q03"] in offered
    opened = elicitation_services.round_open(survey_round=draft)  # all askable questions
    assert set(opened.questions.values_list("code", flat=True)) == set(questions) - {"Q01", "Q02"}
