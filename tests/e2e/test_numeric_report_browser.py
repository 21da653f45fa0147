"""The numeric questions' report in a real browser: an organizer logs in, opens the report of
a round whose numeric run the worker's service computed with the real sampler, and finds
each question's range chart rendered and the forecast's numbers in its tables.

Drives Debian's Chromium through Playwright's sync API against pytest-django's live server.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import expect

from aggregation.models import AggregationRun
from aggregation.numeric_reports import figure_name, value_text
from tests.aggregation.test_numeric_runs import TINY, numeric_survey, open_round_answered
from tests.e2e.conftest import wait_until
from tests.elicitation.helpers import celery_broker, own_celery_queue

pytestmark = pytest.mark.browser


@pytest.fixture
def quiet_broker(broker_url):
    """Requesting a run queues its task in a queue nobody reads: the test computes it."""
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-numeric-browser"):
        yield


def _log_in(page, live_server, next_url: str) -> None:
    page.goto(f"{live_server.url}{reverse('login')}?next={next_url}")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill("pw-olivia-123")
    page.locator("main").get_by_role("button").click()
    page.wait_for_url(re.compile(re.escape(next_url) + "$"))


@pytest.mark.slow  # samples: a tiny fit, 2 chains x 100 draws
def test_the_report_shows_each_numeric_questions_figure_and_forecast(
    live_server, browser, organizer, quiet_broker, tmp_path
):
    from aggregation.services import aggregation_run_execute, aggregation_run_request

    survey_round = open_round_answered(*numeric_survey(organizer))
    run, _ = aggregation_run_request(
        survey_round=survey_round,
        method=AggregationRun.Method.NUMERIC_HIERARCHICAL,
        options=TINY,
    )
    run = aggregation_run_execute(run_id=run.id)
    assert run.status == AggregationRun.Status.SUCCEEDED, run.error

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    report = reverse("aggregation:round-report", args=[survey_round.id])
    _log_in(page, live_server, report)
    page.get_by_role("link", name="Numeric questions").first.click()
    expect(page.get_by_role("heading", name="Numeric questions", level=2)).to_be_visible()

    for code in ("N01", "N02", "S01"):
        image = page.locator(f'img[data-figure="{figure_name(code)}"]')
        image.scroll_into_view_if_needed()
        wait_until(page, "(img) => img.complete && img.naturalWidth > 0", image.element_handle())
        assert "range" in image.get_attribute("alt")

    forecast = run.result["questions"]["N01"]["forecast"]
    numbers = [value_text(forecast[k]) for k in ("q05", "q50", "q95")]
    summary = page.locator("#numeric-summary").locator(
        "tr", has=page.get_by_role("link", name="N01")
    )
    for number in numbers:
        expect(summary).to_contain_text(number)
    forecast_row = page.locator("#numeric-table-N01 tr.forecast")
    for number in numbers:
        expect(forecast_row).to_contain_text(number)
    expect(page.locator("#numeric-table-S01")).to_contain_text("Known value")
    expect(page.locator("#numeric-diagnostics-title")).to_be_visible()

    page.locator("#numeric-N01").screenshot(path=tmp_path / "numeric-N01.png")  # to look at
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert violations == []
    page.locator("#numeric-N01-title").get_by_role("link", name="N01").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("How many ships?")
    expect(page.locator("#answers")).to_contain_text("E004")
