"""The panel forecast end to end in a real browser: a hierarchical run computed by the
worker's service requests its forecast, the forecast is fitted, and the analyst's report
shows it as the headline beside the typical expert's belief, in English and Korean.

Drives Debian's Chromium through Playwright (the fixture of tests/e2e). With
CONSILIUM_SCREENSHOT_DIR set, the report table is saved there as a PNG for a reviewer."""

import os
import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from aggregation.models import AggregationRun
from resolution import recalibration
from tests.aggregation.conftest import closed_round_build, panel_build, survey_build
from tests.elicitation.helpers import celery_broker, own_celery_queue

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def closed_round(transactional_db, broker_url, analyst, organizer):
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-forecast-browser"):
        survey = survey_build(organizer=organizer, analyst=analyst)
        yield closed_round_build(survey=survey, panel=panel_build(survey=survey))


def test_the_report_headline_is_the_panel_forecast(live_server, browser, closed_round):  # noqa: F811
    from aggregation.services import aggregation_run_execute, aggregation_run_request

    run, _ = aggregation_run_request(
        survey_round=closed_round, options={"draws": 100, "tune": 100, "chains": 2}
    )
    run = aggregation_run_execute(run_id=run.id)
    assert run.status == AggregationRun.Status.SUCCEEDED, run.error
    forecast = recalibration.forecast_current(source_run=run)  # requested by the run's store
    assert forecast is not None and forecast.n_resolved == 0
    forecast = recalibration.recalibration_run_execute(run_id=forecast.id, worker="test")
    assert forecast.status == forecast.Status.SUCCEEDED, forecast.error

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    report = reverse("aggregation:round-report", args=[closed_round.id])
    page.goto(f"{live_server.url}{reverse('login')}?next={report}")
    page.get_by_label("Username").fill("anna")
    page.get_by_label("Password").fill("pw-anna-123")
    page.locator("main").get_by_role("button").click()
    page.wait_for_url(re.compile(re.escape(report) + "$"))

    table = page.locator("#consensus-table")
    headers = table.locator("thead th").all_inner_texts()
    assert headers.index("Panel forecast") < headers.index("Typical expert's belief")
    q01 = forecast.result["questions"]["Q01"]
    row = table.locator("tr", has=page.get_by_role("link", name="Q01"))
    expect(row).to_contain_text(f"{q01['mean']:.3f}")
    expect(row).to_contain_text(f"{q01['interval'][0]:.3f} to {q01['interval'][1]:.3f}")
    expect(page.locator("#forecast-basis")).to_contain_text(
        "calibration from published evidence only, no resolved question yet"
    )
    korean = page.context.browser.new_page(
        viewport={"width": 1280, "height": 900}, extra_http_headers={"Accept-Language": "ko"}
    )
    korean.context.add_cookies(page.context.cookies())
    korean.goto(f"{live_server.url}{report}")
    korean_headers = korean.locator("#consensus-table thead th").all_inner_texts()
    assert korean_headers.index("패널 예측") < korean_headers.index("전형적인 전문가의 견해")
    folder = os.environ.get("CONSILIUM_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for shown, language in ((page, "en"), (korean, "ko")):
            table = shown.locator("#consensus-table")
            table.screenshot(path=f"{folder}/forecast-table-{language}.png")
            shown.locator("#forecast-note").screenshot(
                path=f"{folder}/forecast-note-{language}.png"
            )
