"""The Content-Security-Policy in a real browser: the organizer's pages, the reports, a
figure opened on its own and the Django admin (log in, a changelist, change forms) run
with no violation. The ``browser`` fixture (conftest) fails a test whose pages reported
one; the first test shows that it does see them.
"""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.aggregation.conftest import (
    closed_round_build,
    hierarchical_result,
    make_run,
    panel_build,
    survey_build,
    write_artifacts,
)
from tests.conftest import user_create
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def report(transactional_db, settings):
    """A closed round with a finished run (figures and posterior on disk)."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123")
    survey = survey_build(
        organizer=user_create("olivia", is_staff=True), analyst=user_create("anna")
    )
    survey_round = closed_round_build(survey=survey, panel=panel_build(survey=survey))
    run = make_run(survey_round, result=hierarchical_result())
    write_artifacts(run, Path(settings.MEDIA_ROOT), ["consensus", "disagreement", "cohorts"])
    return run


def _log_in(page, live_server, username: str, password: str, next_url: str) -> None:
    page.goto(f"{live_server.url}{reverse('login')}?next={next_url}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("main").get_by_role("button").click()
    page.wait_for_url(re.compile(re.escape(next_url) + "$"))


def test_the_browser_fixture_sees_a_violation(live_server, browser):
    """A page with an inline style and an inline script under a policy that forbids both."""
    page = browser.new_page()
    url = f"{live_server.url}/csp-probe"
    page.route(
        url,
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            headers={"Content-Security-Policy": "script-src 'self'; style-src 'self'"},
            body='<p style="color: red">inline</p><script>document.title = "ran"</script>',
        ),
    )
    page.goto(url)
    page.wait_for_timeout(200)
    assert page.title() != "ran"
    seen = list(browser.violations)
    browser.violations.clear()  # seen on purpose: the teardown must not fail this test
    assert any("style-src" in v for v in seen), seen
    assert any("script-src" in v for v in seen), seen


def test_the_organizers_pages_and_reports_run_under_the_policy(live_server, browser, report):
    survey_round = report.survey_round
    page = browser.new_page()
    _log_in(page, live_server, "olivia", "pw-olivia-123", reverse("elicitation:survey-list"))
    for url in (
        reverse("home"),
        reverse("elicitation:survey-detail", args=[survey_round.survey_id]),
        reverse("elicitation:round-detail", args=[survey_round.id]),
        reverse("aggregation:report-index"),
        reverse("aggregation:round-report", args=[survey_round.id]),
        reverse("aggregation:experts-report", args=[report.id]),
        reverse("resolution:round-scores", args=[survey_round.id]),
        reverse("resolution:survey-resolutions", args=[survey_round.survey_id]),
    ):
        response = page.goto(live_server.url + url)
        assert response.status == 200, url
        assert "script-src 'self'" in response.headers["content-security-policy"], url
        page.wait_for_load_state("load")
    # the round report's figures, in the page and on their own (their own policy)
    page.goto(live_server.url + reverse("aggregation:round-report", args=[survey_round.id]))
    images = page.locator("img")  # they load lazily: bring each into view
    for k in range(images.count()):
        images.nth(k).scroll_into_view_if_needed()
    wait_until(page, "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    figure = page.goto(
        live_server.url + reverse("aggregation:run-figure", args=[report.id, "consensus"])
    )
    assert figure.headers["content-security-policy"].startswith("default-src 'none'")


def test_the_admin_runs_under_the_policy(live_server, browser, report):
    survey = report.survey_round.survey
    page = browser.new_page()
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw-root-123")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    for url in (
        reverse("admin:elicitation_survey_changelist"),
        reverse("admin:elicitation_survey_change", args=[survey.id]),
        reverse("admin:elicitation_survey_add"),
        reverse("admin:elicitation_question_changelist") + "?q=Q0",
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_user_change", args=[survey.organizers.get().id]),
        reverse("admin:aggregation_aggregationrun_changelist"),
        reverse("admin:aggregation_aggregationrun_change", args=[report.id]),
    ):
        response = page.goto(live_server.url + url)
        assert response.status == 200, url
        assert "script-src 'self'" in response.headers["content-security-policy"], url
        page.wait_for_load_state("load")
    # the admin's own scripts ran (the changelist's select-all box is theirs)
    page.goto(live_server.url + reverse("admin:elicitation_survey_changelist"))
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
