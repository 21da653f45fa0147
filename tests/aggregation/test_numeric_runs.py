"""Numeric runs at the service level: requested when a round closes, idempotent on the
quantiles and the known values, the table the engine reads, and (slow) a real fit.

Real database and broker (tasks go to a queue of the test's own); the real sampler where a
run is executed, with tiny draws.
"""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from aggregation import selectors, services
from aggregation.engine.numeric import MODEL_VERSION
from aggregation.models import AggregationRun, QuestionResult
from aggregation.numeric_reports import figure_name
from elicitation import services as elicitation_services
from elicitation.models import Invitation, Question, Round
from tests.elicitation.helpers import celery_broker, own_celery_queue
from tests.resolution.conftest import resolve

Method = AggregationRun.Method
Status = AggregationRun.Status
TINY = {"draws": 100, "tune": 100, "chains": 2}
# expert code -> nationality, and their answers: Q01 probability, N01 (ships, 0-100),
# N02 (days, log scale), S01 (a seed whose value is 40)
PANEL = {
    "E001": ("US", 0.7, (4, 8, 15), (3, 10, 40), (30, 38, 45)),
    "E002": ("US", 0.6, (5, 9, 20), (5, 12, 30), (20, 35, 50)),
    "E003": ("US", 0.8, (3, 6, 12), (2, 7, 25), (36, 41, 44)),
    "E004": ("ROK", 0.4, (1, 3, 6), (10, 30, 90), (25, 42, 60)),
    "E005": ("ROK", 0.3, (2, 4, 9), (8, 20, 60), (38, 40, 43)),
    "E006": ("ROK", 0.5, (1, 2, 5), (15, 40, 120), (10, 30, 45)),
}


@pytest.fixture(autouse=True)
def run_queue(broker_url):
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-numeric") as name:
        yield name


def numeric_survey(organizer):
    survey = elicitation_services.survey_create(title="Allied numbers", organizers=[organizer])
    create = elicitation_services.question_create
    questions = {
        "Q01": create(survey=survey, code="Q01", text="Will Japan allow US basing?"),
        "N01": create(survey=survey, code="N01", text="How many ships?", kind="numeric",
                      unit="ships", lower_bound=0, upper_bound=100),
        "N02": create(survey=survey, code="N02", text="How many days?", kind="numeric",
                      unit="days", lower_bound=1, scale=Question.Scale.LOG),
        "S01": create(survey=survey, code="S01", text="A known count?", kind="numeric",
                      unit="units", lower_bound=0, upper_bound=100, is_seed=True,
                      seed_answer=40),
    }  # fmt: skip
    experts = {
        code: elicitation_services.expert_create(
            survey=survey, name=f"Panelist {code}", email=f"{code.lower()}@example.org",
            code=code, attributes={"nationality": values[0]},
        )
        for code, values in PANEL.items()
    }  # fmt: skip
    return survey, questions, experts


def open_round_answered(survey, questions, experts, *, codes=("Q01", "N01", "N02", "S01"),
                        submitted=None) -> Round:  # fmt: skip
    """A round asking ``codes``, every expert answered; those in ``submitted`` (default:
    everyone) submitted, the others left drafts."""
    survey_round = elicitation_services.round_create(survey=survey)
    survey_round = elicitation_services.round_open(
        survey_round=survey_round, questions=[questions[c] for c in codes]
    )
    for code, (_cohort, p, n01, n02, s01) in PANEL.items():
        values = {"Q01": p, "N01": n01, "N02": n02, "S01": s01}
        answers = [
            elicitation_services.Answer(question=questions[c], probability=values[c])
            if c == "Q01"
            else elicitation_services.Answer(
                question=questions[c], q05=values[c][0], q50=values[c][1], q95=values[c][2]
            )
            for c in codes
        ]
        invitation = Invitation.objects.get(survey_round=survey_round, expert=experts[code])
        elicitation_services.invitation_answers_save(
            invitation=invitation, answers=answers, submit=submitted is None or code in submitted
        )
    return survey_round


@pytest.fixture
def panel(organizer):
    return numeric_survey(organizer)


@pytest.fixture
def answered_round(panel):
    return open_round_answered(*panel)


# --- Requests ------------------------------------------------------------------------------


def test_closing_a_round_requests_the_numeric_run_beside_the_binary_one(organizer, answered_round):
    elicitation_services.round_close(survey_round=answered_round, closed_by=organizer)
    runs = {run.method: run for run in AggregationRun.objects.filter(survey_round=answered_round)}
    assert set(runs) == {Method.HIERARCHICAL, Method.NUMERIC_HIERARCHICAL}
    numeric = runs[Method.NUMERIC_HIERARCHICAL]
    assert (numeric.status, numeric.requested_by, numeric.n_judgments) == (
        Status.QUEUED, organizer, 3 * len(PANEL),
    )  # fmt: skip
    assert numeric.options == {"interval_mass": 0.9, "cohort_attribute": "nationality",
                               "random_seed": 0, "model_version": MODEL_VERSION}  # fmt: skip
    again = services.aggregation_runs_request_for_closed_round(survey_round=answered_round)
    assert {run.id for run in again} == {run.id for run in runs.values()}
    assert AggregationRun.objects.count() == 2


def test_a_round_of_probabilities_only_gets_no_numeric_run(organizer, panel):
    survey_round = open_round_answered(*panel, codes=("Q01",))
    elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
    methods = list(AggregationRun.objects.values_list("method", flat=True))
    assert methods == [Method.HIERARCHICAL]


def test_a_round_of_numeric_questions_only_gets_only_the_numeric_run(organizer, panel):
    survey_round = open_round_answered(*panel, codes=("N01", "N02"))
    elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
    methods = list(AggregationRun.objects.values_list("method", flat=True))
    assert methods == [Method.NUMERIC_HIERARCHICAL]


def test_the_table_holds_the_submitted_quantiles_with_cohorts_scales_and_known_values(panel):
    survey_round = open_round_answered(*panel, submitted={"E001", "E002", "E004", "E005"})
    data = selectors.numeric_data_for_round(
        survey_round=survey_round, cohort_attribute="nationality"
    )
    frame = data.table.frame
    assert len(data) == 3 * 4  # drafts of E003 and E006 do not count
    assert sorted(frame["expert"].unique()) == ["E001", "E002", "E004", "E005"]
    info = data.table.question_info()
    assert info.loc["N02", "scale"] == "log" and info.loc["N01", "scale"] == "linear"
    assert (info.loc["N01", "lower"], info.loc["N01", "upper"]) == (0, 100)
    row = frame[(frame["expert"] == "E004") & (frame["question"] == "N02")].iloc[0]
    assert (row["cohort"], row["q05"], row["q50"], row["q95"]) == ("ROK", 10, 30, 90)
    assert data.realizations == {"S01": 40.0}
    assert data.left_out == []


def test_the_numeric_run_is_idempotent_on_answers_and_known_values(organizer, answered_round):
    run, created = services.aggregation_run_request(
        survey_round=answered_round, method=Method.NUMERIC_HIERARCHICAL
    )
    same, created_again = services.aggregation_run_request(
        survey_round=answered_round, method=Method.NUMERIC_HIERARCHICAL, options={"random_seed": 0}
    )
    assert created and not created_again and same.id == run.id

    invitation = Invitation.objects.get(survey_round=answered_round, expert__code="E001")
    n01 = answered_round.questions.get(code="N01")
    elicitation_services.judgment_save(invitation=invitation, question=n01, q05=4, q50=9, q95=15)
    revised, created = services.aggregation_run_request(
        survey_round=answered_round, method=Method.NUMERIC_HIERARCHICAL
    )
    assert created and revised.data_hash != run.data_hash
    elicitation_services.round_close(survey_round=answered_round, closed_by=organizer)
    numeric_runs = AggregationRun.objects.filter(method=Method.NUMERIC_HIERARCHICAL)
    assert set(numeric_runs.values_list("id", flat=True)) == {run.id, revised.id}

    # A resolution changes what the model learns from: new data, a new run.
    resolve(answered_round.questions.get(code="N02"), 21, by=organizer)
    resolved, created = services.aggregation_run_request(
        survey_round=answered_round, method=Method.NUMERIC_HIERARCHICAL
    )
    assert created and resolved.data_hash != revised.data_hash
    assert numeric_runs.count() == 3


def test_seeds_asked_in_an_earlier_round_calibrate_the_next_one(organizer, panel):
    survey, questions, experts = panel
    first = open_round_answered(survey, questions, experts)
    elicitation_services.round_close(survey_round=first, closed_by=organizer)
    second = open_round_answered(
        survey, questions, experts, codes=("Q01", "N01"), submitted=set(PANEL) - {"E006"}
    )
    data = selectors.numeric_data_for_round(survey_round=second, cohort_attribute="nationality")
    frame = data.table.frame
    seeds = frame[frame["question"] == "S01"]
    assert sorted(seeds["expert"]) == ["E001", "E002", "E003", "E004", "E005"]  # not E006
    assert set(seeds["round"]) == {second.number}  # the round the engine fits
    assert data.realizations == {"S01": 40.0}
    assert "N02" not in set(frame["question"])  # a target of round 1 only


def test_answers_the_model_cannot_read_are_left_out_and_the_round_still_closes(
    organizer, answered_round
):
    certain = answered_round.judgments.get(expert__code="E002", question__code="N01")
    certain.q05 = certain.q50 = certain.q95 = 9  # the form allows "I am certain"
    certain.save(update_fields=["q05", "q50", "q95"])
    Question.objects.filter(code="N01", survey=answered_round.survey).update(upper_bound=14)
    elicitation_services.round_close(survey_round=answered_round, closed_by=organizer)
    run = AggregationRun.objects.get(method=Method.NUMERIC_HIERARCHICAL)
    assert run.n_judgments == 3 * len(PANEL) - 2
    data = selectors.numeric_data_for_round(
        survey_round=answered_round, cohort_attribute="nationality"
    )
    assert sorted((x["expert"], x["question"], x["reason"]) for x in data.left_out) == [
        ("E001", "N01", "out_of_bounds"),  # its 95 % value, 15, is above the new bound
        ("E002", "N01", "not_increasing"),
    ]
    assert data.data_hash() == run.data_hash


# --- Executing (the real sampler) ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_executed_numeric_run_stores_the_contract_posterior_and_figures(
    organizer, answered_round, client
):
    from aggregation.engine.numeric import NumericHierarchicalModel

    run, _ = services.aggregation_run_request(
        survey_round=answered_round, method=Method.NUMERIC_HIERARCHICAL, options=TINY
    )
    run = services.aggregation_run_execute(run_id=run.id, worker="w1@host")
    assert run.status == Status.SUCCEEDED, run.error
    assert (run.progress_phase, run.progress, run.attempts) == ("done", 1.0, 1)
    result = run.result
    assert (result["kind"], result["n_judgments"], result["n_seeds"]) == ("numeric", 18, 1)
    assert sorted(result["questions"]) == ["N01", "N02", "S01"]
    assert result["realizations"] == {"S01": 40.0} and result["left_out"] == []
    n01 = result["questions"]["N01"]
    assert n01["kind"] == "numeric" and not n01["seed"] and n01["scale"] == "linear"
    forecast = n01["forecast"]
    assert 0 < forecast["q05"] < forecast["q50"] < forecast["q95"]
    assert result["questions"]["N02"]["scale"] == "log"
    assert result["questions"]["S01"]["seed"]
    assert sorted(n01["cohorts"]) == ["ROK", "US"]
    assert n01["baselines"]["cooke_global"] is not None  # the seed allows Cooke's weights
    expert = result["experts"]["E001"]
    assert expert["cohort"] == "US" and len(expert["confidence_ratio"]["interval"]) == 2
    assert run.diagnostics == result["diagnostics"]
    assert {"max_rhat", "min_ess_bulk", "divergences", "per_quantity"} <= set(run.diagnostics)
    assert not QuestionResult.objects.filter(run=run).exists()  # numeric stays in the JSON

    assert run.posterior == f"runs/{run.id}/attempt-1/posterior.nc"
    tree = NumericHierarchicalModel.load(Path(django_settings.MEDIA_ROOT) / run.posterior)
    assert (tree.posterior.sizes["chain"], tree.posterior.sizes["draw"]) == (2, 100)
    names = {figure_name(code) for code in ("N01", "N02", "S01")} | {"expert-confidence"}
    assert names | {f"{name}__ko" for name in names} <= set(run.figures)
    for relative in run.figures.values():
        assert (Path(django_settings.MEDIA_ROOT) / relative).read_bytes().startswith(b"<?xml")

    client.force_login(organizer)
    html = client.get(
        reverse("aggregation:round-report", args=[answered_round.id])
    ).content.decode()
    from aggregation.numeric_reports import value_text

    assert value_text(forecast["q50"]) in html and 'id="numeric-table-N01"' in html
