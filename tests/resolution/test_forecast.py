"""The panel forecast: the LLO recalibration of a hierarchical run's consensus, requested
when the run succeeds (the prior alone while nothing is resolved), refreshed by a
resolution, and fitted for real (about a second a fit, so marked slow)."""

import numpy as np
import pandas as pd
import pytest

from aggregation import services as aggregation_services
from aggregation.engine.recalibration import LLORecalibration
from aggregation.models import AggregationRun
from resolution import recalibration
from resolution.models import RecalibrationRun
from tests.aggregation.conftest import hierarchical_result, make_run
from tests.elicitation.helpers import celery_broker, own_celery_queue
from tests.resolution.conftest import resolve

Status = RecalibrationRun.Status


@pytest.fixture(autouse=True)
def task_queue(broker_url):
    """Every task these tests publish goes to a queue of the test's own on the real broker."""
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-forecast-test") as q:
        yield q


def _store_hierarchical_run(survey_round) -> AggregationRun:
    """A claimed hierarchical run whose worker stores its results (the fit itself is the
    report fixtures' contract: the forecast reads only the stored consensus)."""
    run = make_run(survey_round, status=AggregationRun.Status.RUNNING, attempts=1)
    outcome = {"result": hierarchical_result(), "posterior": "", "figures": {}}
    aggregation_services._run_store(run=run, attempt=1, outcome=outcome)
    run.refresh_from_db()
    return run


def test_a_succeeded_hierarchical_run_requests_its_forecast_once_after_commit(
    closed_round, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        run = _store_hierarchical_run(closed_round)
    forecast = RecalibrationRun.objects.get()
    assert forecast.source_run == run and forecast.input == "hierarchical"
    assert forecast.options["source_run"] == run.id and forecast.status == Status.QUEUED
    assert (forecast.n_questions, forecast.n_resolved) == (3, 0)  # the prior alone
    # its task and the next round's feedback warm-up, each sent once the results commit
    assert len(callbacks) == 2
    assert sum("feedback_warm_soon" in c.__qualname__ for c in callbacks) == 1
    # idempotent: asking again (a redelivered store, the report page) gives the same run
    assert recalibration.forecast_request(source_run=run) == forecast
    assert recalibration.forecast_current(source_run=run) == forecast
    assert RecalibrationRun.objects.count() == 1


def test_a_pool_run_requests_no_forecast(closed_round):
    run = make_run(
        closed_round, status=AggregationRun.Status.RUNNING, attempts=1, method="linear_pool"
    )
    outcome = {"result": hierarchical_result(method="linear_pool"), "posterior": "", "figures": {}}
    aggregation_services._run_store(run=run, attempt=1, outcome=outcome)
    assert not RecalibrationRun.objects.exists()
    assert recalibration.forecast_request(source_run=run) is None


def test_a_resolution_asks_for_the_forecast_again_with_its_outcome(closed_round, questions):
    run = _store_hierarchical_run(closed_round)
    prior_only = recalibration.forecast_current(source_run=run)
    resolve(questions["Q01"], 1)
    learning = recalibration.forecast_current(source_run=run)
    assert learning is not None and learning.id != prior_only.id
    assert (learning.source_run, learning.n_resolved, learning.n_events) == (run, 1, 1)


@pytest.mark.slow
def test_with_nothing_resolved_the_forecast_is_the_prior_with_its_uncertainty(closed_round):
    run = _store_hierarchical_run(closed_round)
    forecast = recalibration.forecast_current(source_run=run)
    done = recalibration.recalibration_run_execute(run_id=forecast.id, worker="test")
    assert done.status == Status.SUCCEEDED, done.error
    summary = done.result["summary"]
    assert (summary["n_resolved"], summary["n_events"]) == (0, 0)
    # nothing learned: the posterior is the prior (sd ratio 1 up to Monte Carlo error of a
    # few thousand draws, about 2 %), gamma's median near the prior's 2
    assert summary["posterior_to_prior_sd"]["log_gamma"] == pytest.approx(1, abs=0.08)
    assert summary["gamma"]["interval"][0] < 2 < summary["gamma"]["interval"][1]
    q01 = done.result["questions"]["Q01"]  # consensus 0.623: extremized by gamma near 2
    assert q01["mean"] > 0.623 and q01["interval"][1] - q01["interval"][0] > 0.1


@pytest.mark.slow
def test_with_resolved_questions_the_forecast_learns_from_them(closed_round, questions):
    run = _store_hierarchical_run(closed_round)
    resolve(questions["Q01"], 0)  # the panel leaned yes (0.623) and was wrong
    resolve(questions["Q02"], 0)
    forecast = recalibration.forecast_current(source_run=run)
    done = recalibration.recalibration_run_execute(run_id=forecast.id, worker="test")
    assert done.status == Status.SUCCEEDED, done.error
    summary = done.result["summary"]
    assert (summary["n_resolved"], summary["n_events"]) == (2, 0)
    assert summary["posterior_to_prior_sd"]["tau"] < 1  # the lean was learned a little
    assert summary["tau"]["mean"] < 0  # towards "no"
    assert done.result["questions"]["Q01"]["resolved"]
    assert not done.result["questions"]["Q03"]["resolved"]


@pytest.mark.slow
def test_a_cross_validated_forecast_never_sees_its_own_outcome():
    """The app's cross-validation path (``recalibration._cross_validate``): flipping one
    question's outcome leaves its own out-of-fold forecast exactly as it was (every fit
    that forecasts it was trained without it) and moves others' (it is in their training
    folds), so the outcome is read, just never by its own forecast."""
    codes = [f"Q{k:02d}" for k in range(12)]
    rng = np.random.default_rng(3)
    logodds = pd.Series(rng.normal(0, 1.2, len(codes)), index=pd.Index(codes, name="question"))
    outcome = (rng.random(len(codes)) < 1 / (1 + np.exp(-2 * logodds.to_numpy()))).astype(int)
    outcome[:2] = [0, 1]  # both outcomes among them

    def cross_validated(outcomes: np.ndarray) -> dict:
        inputs = recalibration.RecalibrationInputs(
            logodds=logodds,
            outcomes=pd.DataFrame(
                {"outcome": outcomes, "group": [""] * len(codes)},
                index=pd.Index(codes, name="question"),
            ),
            groups=dict.fromkeys(codes, ""),
            source_run=None,
        )
        options = {**recalibration.DEFAULT_OPTIONS, "max_folds": 4}
        model = LLORecalibration(sampler_config={"chains": 2, "tune": 300, "draws": 300})
        return recalibration._cross_validate(inputs, model, options, lambda *_: None)

    before = cross_validated(outcome)
    flipped = outcome.copy()
    flipped[5] = 1 - flipped[5]
    after = cross_validated(flipped)
    assert before["n_folds"] == 4
    assert after["forecasts"]["Q05"] == before["forecasts"]["Q05"]
    assert after["intervals"]["Q05"] == before["intervals"]["Q05"]
    moved = [q for q in codes if q != "Q05" and after["forecasts"][q] != before["forecasts"][q]]
    assert moved  # the flipped outcome trains the other folds' fits
