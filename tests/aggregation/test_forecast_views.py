"""The panel forecast on the report pages and in the results CSV: named beside the typical
expert's belief in both languages, its state said while it is queued, running or failed,
its basis (the prior alone, or k resolved questions), and bad diagnostics shown.

The forecast rows here are marked fitted without a sampler (``succeed``); the fits
themselves are tested in tests/resolution/test_forecast.py."""

import csv
import io

import pytest
from django.urls import reverse

from resolution import recalibration
from resolution.models import RecalibrationRun
from tests.elicitation.helpers import celery_broker, own_celery_queue
from tests.resolution.conftest import resolve, succeed


@pytest.fixture(autouse=True)
def task_queue(broker_url):
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-forecast-view") as q:
        yield q


@pytest.fixture
def forecast(finished_run) -> RecalibrationRun:
    """The finished run's forecast, requested as the worker does when the run succeeds."""
    return recalibration.forecast_request(source_run=finished_run)


def _report(client, run, language="en") -> str:
    url = reverse("aggregation:round-report", args=[run.survey_round_id]) + f"?run={run.id}"
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def _question(client, run, code="Q03", language="en") -> str:
    question = run.question_results.get(question__code=code).question_id
    url = reverse("aggregation:question-report", args=[run.id, question])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def test_a_queued_forecast_is_said_so_on_the_report_and_the_question_page(
    client, analyst, finished_run, forecast
):
    client.force_login(analyst)
    page = _report(client, finished_run)
    assert "The panel forecast is queued for a worker." in page
    assert 'data-forecast-state="queued"' in page and ">queued</td>" in page
    assert "Panel forecast" in page and "Typical expert's belief" in page
    assert ">queued</td>" in _question(client, finished_run)
    RecalibrationRun.objects.filter(id=forecast.id).update(status="running", progress=0.4)
    assert "The panel forecast is being fitted (40 %)." in _report(client, finished_run)
    RecalibrationRun.objects.filter(id=forecast.id).update(status="failed", error="Boom: x\nt")
    assert "The panel forecast failed: Boom: x" in _report(client, finished_run)


def test_the_fitted_forecast_is_the_headline_beside_the_typical_belief_in_both_languages(
    client, analyst, finished_run, forecast
):
    succeed(forecast)
    client.force_login(analyst)
    page = _report(client, finished_run)
    table = page[page.index('id="consensus-table"') :]
    table = table[: table.index("</table>")]
    assert table.index("Panel forecast") < table.index("Typical expert's belief")
    assert "<strong>0.777</strong>" in table and "0.611 to 0.888" in table  # Q03's forecast
    assert "calibration from published evidence only, no resolved question yet" in page
    assert "use it as the panel's prediction" in page
    assert "it describes the panel, not the outcome" in page
    korean = _report(client, finished_run, "ko")
    assert "패널 예측" in korean and "전형적인 전문가의 견해" in korean
    assert "발표된 연구 근거만으로 보정함, 아직 확정된 질문 없음" in korean
    assert "결과가 아니라 패널을 설명합니다" in korean
    question = _question(client, finished_run)
    assert 'id="forecast-row"' in question and "<strong>0.777</strong>" in question
    assert "전형적인 전문가의 견해" in _question(client, finished_run, language="ko")


def test_with_resolved_questions_the_report_says_how_many_it_learned_from(
    client, analyst, finished_run, forecast, survey
):
    questions = {q.code: q for q in survey.questions.all()}
    resolve(questions["Q01"], 1)
    resolve(questions["Q02"], 0)
    learning = recalibration.forecast_current(source_run=finished_run)
    assert learning.id != forecast.id  # asked for again by the resolutions
    succeed(learning)
    client.force_login(analyst)
    page = _report(client, finished_run)
    assert "Panel forecast: learned from 2 resolved questions." in page
    assert "<sup" in page  # Q01 and Q02 were fitted with their own outcome, and marked
    assert "확정된 질문 2개에서 학습함" in _report(client, finished_run, "ko")


def test_bad_diagnostics_of_the_forecast_fit_are_shown(client, analyst, finished_run, forecast):
    succeed(forecast)
    result = forecast.result
    result["summary"]["diagnostics"] = {"max_rhat": 1.08, "min_ess_bulk": 90, "divergences": 3}
    RecalibrationRun.objects.filter(id=forecast.id).update(result=result)
    client.force_login(analyst)
    page = _report(client, finished_run)
    assert "Panel forecast fit: R-hat up to 1.080" in page
    assert "Bulk effective sample size down to 90" in page


def test_a_run_without_a_forecast_says_so(client, analyst, finished_run):
    client.force_login(analyst)
    page = _report(client, finished_run)
    assert "No panel forecast was requested for this run" in page
    assert ">none</td>" in page


def _csv(client, run) -> dict[str, dict]:
    response = client.get(reverse("aggregation:run-results-csv", args=[run.id]))
    assert response.status_code == 200
    rows = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    return {row["question"]: row for row in rows}


def test_the_results_csv_has_the_forecast_columns(client, analyst, finished_run, forecast):
    client.force_login(analyst)
    queued = _csv(client, finished_run)
    assert (queued["Q03"]["forecast"], queued["Q03"]["forecast_upper"]) == ("", "")
    succeed(forecast)
    rows = _csv(client, finished_run)
    assert [rows["Q03"][c] for c in ("forecast", "forecast_lower", "forecast_upper")] == [
        "0.777",
        "0.611",
        "0.888",
    ]
    assert rows["Q03"]["consensus_mean"] != ""  # the typical belief stays beside it


def test_an_older_runs_forecast_on_outdated_outcomes_says_so(
    client, analyst, finished_run, forecast, survey
):
    from tests.aggregation.conftest import hierarchical_result, make_run

    newer = make_run(finished_run.survey_round, result=hierarchical_result())
    resolve(survey.questions.get(code="Q01"), 1)  # asks for the newest run's forecast only
    assert recalibration.forecast_current(source_run=newer) is not None
    client.force_login(analyst)
    page = _report(client, finished_run)
    assert "The outcomes changed since this run&#x27;s panel forecast was fitted" in page or (
        "The outcomes changed since this run's panel forecast was fitted" in page
    )


def test_a_cross_validated_resolved_question_shows_the_forecast_that_never_saw_it(
    client, analyst, finished_run, forecast, survey
):
    resolve(survey.questions.get(code="Q01"), 1)
    resolve(survey.questions.get(code="Q02"), 0)
    learning = recalibration.forecast_current(source_run=finished_run)
    cv = {"n_folds": 2, "forecasts": {"Q01": 0.321, "Q02": 0.432},
          "intervals": {"Q01": [0.211, 0.455], "Q02": [0.3, 0.6]}}  # fmt: skip
    succeed(learning, cv=cv)
    client.force_login(analyst)
    page = _report(client, finished_run)
    q01 = page[page.index(">Q01</a>") :]
    q01 = q01[: q01.index("</tr>")]
    assert "<strong>0.321</strong>" in q01 and "0.211 to 0.455" in q01 and ">cv</sup>" in q01
    assert "0.500" not in q01  # the in-sample forecast (fake_recalibration_result's 0.5)
    assert "from a fit on the other resolved questions only" in page
    assert _csv(client, finished_run)["Q01"]["forecast"] == "0.321"


def test_the_question_page_marks_a_forecast_fitted_with_its_own_outcome(
    client, analyst, finished_run, forecast, survey
):
    resolve(survey.questions.get(code="Q01"), 1)
    succeed(recalibration.forecast_current(source_run=finished_run))
    client.force_login(analyst)
    assert ">r</sup>" in _question(client, finished_run, code="Q01")
    assert ">r</sup>" not in _question(client, finished_run, code="Q03")
