"""The report's section "How the cohorts see each other" in a real browser (issue 15): an
analyst logs in, follows the report's link to the section and finds its figure loaded, the
shared misperceptions in words and the most misjudged question first; axe finds nothing
serious. The run is a row holding the perception parts of a real fit
(tests/aggregation/perception_result.py) with its figure drawn for real, so no sampler runs.

Drives Debian's Chromium through Playwright's sync API against pytest-django's live server.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import expect

from tests.aggregation import conftest as report_fixtures
from tests.e2e.conftest import wait_until

# The report tests' survey and run (with the perception parts of a real fit); the personas
# are tests/conftest.py's.
closed_round = report_fixtures.closed_round
panel = report_fixtures.panel
perception_run = report_fixtures.perception_run
survey = report_fixtures.survey

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, next_url: str) -> None:
    page.goto(f"{live_server.url}{reverse('login')}?next={next_url}")
    page.get_by_label("Username").fill("anna")
    page.get_by_label("Password").fill("pw-anna-123")
    page.locator("main").get_by_role("button").click()
    page.wait_for_url(re.compile(re.escape(next_url) + "$"))


def test_the_analyst_finds_how_the_cohorts_see_each_other(
    live_server, browser, perception_run, tmp_path
):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    # The report's other figures are not this test's. Loaded at once, their requests can
    # fail under the default in-memory SQLite test database, whose one connection Django's
    # live server shares between its threads ("bad parameter or other API misuse"; seen
    # here on 1 page load in 4, never on PostgreSQL).
    page.route(re.compile(r"/figures/(?!perception\.svg)"), lambda route: route.abort())
    report = reverse("aggregation:round-report", args=[perception_run.survey_round_id])
    _log_in(page, live_server, report)
    page.get_by_role("link", name="How the cohorts see each other").first.click()
    section = page.locator("#perception")
    expect(
        page.get_by_role("heading", name="How the cohorts see each other", level=2)
    ).to_be_visible()

    image = section.locator('img[data-figure="perception"]')
    image.scroll_into_view_if_needed()
    wait_until(page, "(img) => img.complete && img.naturalWidth > 0", image.element_handle())
    assert "most misjudged" in image.get_attribute("alt")

    shared = section.locator("#perception-shared")
    expect(shared).to_contain_text(
        "US respondents expect ROK respondents to answer 17 points (12 to 22) higher than they do."
    )
    expect(shared).to_contain_text(
        "ROK respondents expect US respondents to answer 12 points (7 to 16) lower than they do."
    )
    first = section.locator("#perception-table tbody tr").first
    expect(first).to_contain_text("Q01")
    expect(first).to_contain_text("Will Japan allow US combat operations from its bases?")
    expect(first).to_contain_text("+0.176")
    expect(section.locator("#perception-diagnostics-title")).to_be_attached()
    expect(section).not_to_contain_text("JP")  # a cohort of one is never shown

    section.screenshot(path=tmp_path / "perception.png")  # to look at
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert violations == []
