"""manage.py import_outcomes_survey on the pooledmaRket data (tests/data/pooledmarket), and
the evaluation run on what the survey's selectors give back (slow)."""

import io
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from aggregation import selectors as aggregation_selectors
from aggregation.engine.data import JudgmentTable
from aggregation.engine.scoring import read_outcomes
from elicitation.models import Expert, Invitation, Judgment, Question, Round, Survey
from resolution import scores, selectors
from resolution.models import ImportedDataset, RecalibrationRun, Resolution, ResolutionEvent, State

POOLED = Path(__file__).resolve().parents[1] / "data" / "pooledmarket"
JUDGMENTS, OUTCOMES = POOLED / "judgments.csv", POOLED / "outcomes.csv"
SOURCE = "pooledmaRket (Gordon et al. 2021, PLOS ONE 16(4):e0248780; CC0)"


def run_import(*args) -> str:
    out = io.StringIO()
    call_command("import_outcomes_survey", str(JUDGMENTS), str(OUTCOMES), *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def imported(db, organizer) -> Survey:
    started = time.perf_counter()
    output = run_import("--title", "pooledmaRket", "--source", SOURCE, "--organizer", "olivia")
    assert time.perf_counter() - started < 60  # bulk writes: seconds, not minutes
    assert "103 questions, 440 experts, 1 closed round(s), 7377 judgments" in output
    return Survey.objects.get(title="pooledmaRket")


def test_the_import_makes_a_survey_with_a_closed_round_and_resolved_questions(imported, organizer):
    survey = imported
    assert list(survey.organizers.all()) == [organizer]
    assert survey.cohort_attribute == "cohort"
    assert sorted(survey.scenarios.values_list("code", flat=True)) == ["EERP", "ML2", "RPP", "SSRP"]
    [survey_round] = survey.rounds.all()
    assert (survey_round.status, survey_round.questions.count()) == (Round.Status.CLOSED, 103)
    assert Judgment.objects.filter(survey_round=survey_round).count() == 7377
    assert (
        Invitation.objects.filter(survey_round=survey_round, submitted_at__isnull=False).count()
        == 440
    )
    expert = Expert.objects.get(survey=survey, code="ttpqb")
    assert (expert.contact.name, expert.attributes) == ("Forecaster ttpqb", {"cohort": "RPP"})
    assert not expert.user.has_usable_password()
    question = Question.objects.get(survey=survey, code="RPP-01")
    assert (question.scenario.code, question.is_binary) == ("RPP", True)
    assert Resolution.objects.filter(question__survey=survey, status=State.RESOLVED).count() == 103
    assert ResolutionEvent.objects.filter(question__survey=survey).count() == 103
    assert SOURCE in Resolution.objects.filter(question__survey=survey).first().source
    # what the selectors give the engine is the data set itself
    table = aggregation_selectors.judgment_table_for_round(
        survey_round=survey_round, cohort_attribute="cohort"
    )
    assert table.data_hash() == JudgmentTable.from_csv(JUDGMENTS).data_hash()
    outcomes = selectors.outcomes_table_for_survey(survey=survey)
    assert outcomes.equals(read_outcomes(OUTCOMES))
    [run] = RecalibrationRun.objects.all()  # requested; a worker fits it
    assert (run.survey_round, run.n_resolved, run.n_events) == (survey_round, 103, 50)


def test_importing_the_same_files_again_changes_nothing(imported):
    counts = (Survey.objects.count(), Judgment.objects.count(), ResolutionEvent.objects.count())
    output = run_import("--title", "another title")
    assert f"Already imported as survey {imported.id}" in output
    assert (
        Survey.objects.count(),
        Judgment.objects.count(),
        ResolutionEvent.objects.count(),
    ) == counts
    assert ImportedDataset.objects.get().survey == imported


def test_the_scores_of_the_import_are_the_published_ones(imported):
    result = scores.round_scores(survey_round=imported.rounds.get())
    methods = {m["key"]: m for m in result.methods}
    # the log-odds mean of the survey: Brier 0.201 (issue 6; tests/data/pooledmarket/SOURCE.md)
    assert methods["logodds_mean"]["brier"] == pytest.approx(0.201, abs=0.005)
    assert (result.n_resolved, result.n_events, methods["logodds_mean"]["n"]) == (103, 50, 103)
    assert {c["name"] for c in result.cohorts} == {"EERP", "ML2", "RPP", "SSRP"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--organizer", "nobody"], "no user named nobody"),
        (["--resolved-on", "yesterday"], "'yesterday' is not a date; use YYYY-MM-DD"),
        (["--resolved-on", "2999-01-01"], "2999-01-01 is in the future"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_imported(db, args, message):
    with pytest.raises(CommandError) as caught:
        run_import(*args)
    assert message in str(caught.value)
    assert Survey.objects.count() == 0


def test_a_bad_file_is_refused_with_its_line(db, tmp_path):
    bad = tmp_path / "outcomes.csv"
    bad.write_text("question,outcome\nRPP-01,maybe\n")
    with pytest.raises(CommandError, match="line 2: outcome 'maybe' is not 1 or 0"):
        call_command("import_outcomes_survey", str(JUDGMENTS), str(bad), stdout=io.StringIO())
    assert Survey.objects.count() == 0


def test_groups_that_would_share_a_scenario_code_are_refused(db, tmp_path):
    judgments, outcomes = tmp_path / "judgments.csv", tmp_path / "outcomes.csv"
    judgments.write_text(
        "expert,cohort,question,probability\nE1,A,Q1,0.4\nE2,A,Q1,0.6\nE1,A,Q2,0.3\n"
    )
    outcomes.write_text("question,outcome,group\nQ1,1,Group A\nQ2,0,group-a\n")
    with pytest.raises(CommandError, match="“Group A” and “group-a”"):
        call_command("import_outcomes_survey", str(judgments), str(outcomes), stdout=io.StringIO())
    assert Survey.objects.count() == 0


@pytest.mark.slow
def test_the_evaluation_on_the_imported_survey_meets_the_issues_target(imported):
    """Issue 6's acceptance line, from the database: the recalibrated aggregate's 10-fold
    cross-validated Brier is at most 0.18 on the 103 findings."""
    from aggregation.engine.evaluation import cross_validate

    survey_round = imported.rounds.get()
    table = aggregation_selectors.judgment_table_for_round(
        survey_round=survey_round, cohort_attribute=imported.cohort_attribute
    )
    outcomes = selectors.outcomes_table_for_survey(survey=imported, questions=table.questions)
    result = cross_validate(table, outcomes, n_folds=10, seed=0, hierarchical=False)
    methods = result["methods"]
    assert all(m["n"] == 103 for m in methods.values())
    assert methods["recalibrated"]["brier"] <= 0.18
    assert methods["recalibrated"]["brier"] < methods["logodds_mean"]["brier"]


def test_meta_prediction_columns_are_imported_with_their_answers(db, tmp_path):
    judgments, outcomes = tmp_path / "judgments.csv", tmp_path / "outcomes.csv"
    judgments.write_text(
        "expert,cohort,question,probability,meta_US,meta_ROK\n"
        "E1,US,Q1,0.4,0.5,0.7\nE2,ROK,Q1,0.6,0.3,\nE1,US,Q2,0.3,,\n"
    )
    outcomes.write_text("question,outcome\nQ1,1\nQ2,0\n")
    call_command("import_outcomes_survey", str(judgments), str(outcomes), stdout=io.StringIO())
    survey = Survey.objects.get()
    assert survey.meta_predictions == Survey.MetaPredictions.OPTIONAL
    stored = {
        (j.expert.code, j.question.code): j.meta_predictions
        for j in Judgment.objects.filter(survey_round__survey=survey).select_related(
            "expert", "question"
        )
    }
    assert stored == {
        ("E1", "Q1"): {"US": 0.5, "ROK": 0.7},
        ("E2", "Q1"): {"US": 0.3},
        ("E1", "Q2"): {},
    }
    # and the aggregation reads them back as the same columns
    table = aggregation_selectors.judgment_table_for_round(
        survey_round=Round.objects.get(survey=survey), cohort_attribute="cohort", with_meta=True
    )
    assert sorted(table.meta_cohorts) == ["ROK", "US"]
    assert len(table.meta_predictions()) == 3
