"""Where questions stand and the outcomes table the engine scores against."""

import pytest

from elicitation import services as elicitation_services
from elicitation.models import Question
from resolution import selectors, services
from resolution.models import State
from tests.resolution.conftest import resolve


@pytest.fixture
def seeds(survey):
    return {
        "S01": elicitation_services.question_create(
            survey=survey, code="S01", text="Was the 2019 drill held?", is_seed=True,
            seed_answer=0.0,
        ),
        "S02": elicitation_services.question_create(
            survey=survey, code="S02", text="Fuel stocks in 2019 (days)?",
            kind=Question.Kind.NUMERIC, lower_bound=0, upper_bound=365, is_seed=True,
            seed_answer=90.0,
        ),
    }  # fmt: skip


def test_the_outcomes_are_resolved_binary_questions_and_binary_seeds(survey, resolved, seeds):
    resolve(resolved["N01"], 12.0)
    services.question_annul(question=resolved["Q02"], reason="Ambiguous.")
    outcomes = selectors.outcomes_table_for_survey(survey=survey)
    assert outcomes["outcome"].to_dict() == {"Q01": 1, "S01": 0}  # Q02 annulled, numerics apart
    assert set(outcomes["group"]) == {""}  # no scenarios: no groups
    assert selectors.numeric_realizations_for_survey(survey=survey) == {"N01": 12.0, "S02": 90.0}
    only = selectors.outcomes_table_for_survey(survey=survey, questions=["Q01", "Q03"])
    assert list(only.index) == ["Q01"]


def test_groups_are_scenarios_and_the_rest_is_one_group(survey, resolved):
    blockade = elicitation_services.scenario_create(survey=survey, code="blockade", title="B")
    Question.objects.filter(id=resolved["Q01"].id).update(scenario=blockade)
    outcomes = selectors.outcomes_table_for_survey(survey=survey)
    assert outcomes["group"].to_dict() == {"Q01": "blockade", "Q02": selectors.NO_SCENARIO_GROUP}


def test_no_outcome_yet_is_an_empty_table_with_the_engines_columns(survey, closed_round):
    outcomes = selectors.outcomes_table_for_survey(survey=survey)
    assert outcomes.empty and list(outcomes.columns) == ["outcome", "group"]


def test_every_question_has_a_state(survey, resolved, seeds):
    services.question_annul(question=resolved["Q02"], reason="Ambiguous.")
    states = {s.question.code: s for s in selectors.survey_question_states(survey=survey)}
    assert {code: s.state for code, s in states.items()} == {
        "Q01": State.RESOLVED, "Q02": State.ANNULLED, "Q03": State.OPEN, "N01": State.OPEN,
        "S01": State.SEED, "S02": State.SEED,
    }  # fmt: skip
    assert (states["S01"].outcome_text, states["S02"].outcome_text) == ("no", "90")
