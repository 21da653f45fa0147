"""The report in a real browser: an analyst logs in, opens the report of a run the worker's
service computed, and finds the figures rendered and the QuestionResult numbers on the page;
a page open on a run in flight turns into the report by itself when the run ends.

Drives Debian's Chromium through Playwright's sync API against pytest-django's live server.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from aggregation.models import AggregationRun, QuestionResult
from tests.aggregation.conftest import (
    RATIONALE,
    closed_round_build,
    hierarchical_result,
    make_run,
    panel_build,
    survey_build,
)
from tests.e2e.conftest import wait_until
from tests.elicitation.helpers import celery_broker, own_celery_queue

pytestmark = pytest.mark.browser


@pytest.fixture
def quiet_broker(broker_url):
    """Requesting a run queues its task: let it wait in a queue nobody reads (the test
    computes the run itself, as a worker would)."""
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-report-test"):
        yield


@pytest.fixture
def closed_round(transactional_db, analyst, organizer):
    survey = survey_build(organizer=organizer, analyst=analyst)
    return closed_round_build(survey=survey, panel=panel_build(survey=survey))


def _log_in(page, live_server, next_url: str) -> None:
    page.goto(f"{live_server.url}{reverse('login')}?next={next_url}")
    page.get_by_label("Username").fill("anna")
    page.get_by_label("Password").fill("pw-anna-123")
    page.locator("main").get_by_role("button").click()
    page.wait_for_url(re.compile(re.escape(next_url) + "$"))


def _figures_loaded(page) -> list[dict]:
    """Every <img> of the page scrolled into view (they load lazily) and its state."""
    images = page.locator("img")
    for k in range(images.count()):
        images.nth(k).scroll_into_view_if_needed()
    # Chromium may report a lazy image "complete" before it has loaded, so wait for its
    # pixels; an image that never decodes fails the test here, by timeout.
    wait_until(page, "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    return page.evaluate(
        "Array.from(document.images).map(i => ({src: i.src, width: i.naturalWidth, alt: i.alt}))"
    )


@pytest.mark.slow  # samples: a tiny fit, 2 chains x 100 draws
def test_the_report_of_a_run_shows_its_figures_and_numbers(
    live_server, browser, closed_round, quiet_broker
):
    from aggregation.services import aggregation_run_execute, aggregation_run_request

    run, _ = aggregation_run_request(
        survey_round=closed_round, options={"draws": 100, "tune": 100, "chains": 2}
    )
    run = aggregation_run_execute(run_id=run.id)
    assert run.status == AggregationRun.Status.SUCCEEDED, run.error

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    svg_responses = []
    page.on(
        "response",
        lambda r: (
            svg_responses.append((r.url, r.status, r.headers["content-type"], r.body()))
            if "/figures/" in r.url
            else None
        ),
    )
    report = reverse("aggregation:round-report", args=[closed_round.id])
    _log_in(page, live_server, report)

    expect(page.get_by_role("heading", name="Consensus")).to_be_visible()
    images = _figures_loaded(page)
    assert {re.search(r"figures/([\w-]+)\.svg", i["src"]).group(1) for i in images} == {
        "consensus",
        "disagreement",
        "cohorts",
    }
    assert all(image["width"] > 0 for image in images), images
    assert all(image["alt"] for image in images)
    assert len(svg_responses) == len(images)
    for url, status, content_type, body in svg_responses:
        assert (status, content_type) == (200, "image/svg+xml"), url
        assert b"<svg" in body and len(body) > 5000, url

    table = page.locator("#consensus-table")
    for result in QuestionResult.objects.filter(run=run).select_related("question"):
        row = table.locator("tr", has=page.get_by_role("link", name=result.question.code))
        expect(row).to_contain_text(f"{result.consensus:.3f}")
        expect(row).to_contain_text(f"{result.consensus_lower:.3f} to {result.consensus_upper:.3f}")
        expect(page.locator("#disagreement-table")).to_contain_text(f"{result.disagreement:.2f}")
    expect(page.locator("#diagnostics-title")).to_be_visible()

    page.locator("#consensus-table").get_by_role("link", name="Q01").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Will Japan allow US combat")
    expect(page.get_by_text(RATIONALE)).to_be_visible()
    [strip] = _figures_loaded(page)
    assert strip["width"] > 0 and "question-Q01.svg" in strip["src"]

    page.go_back()
    page.get_by_role("navigation", name="On this page").get_by_role("link", name="Experts").click()
    expect(page.get_by_role("heading", name="Experts", level=1)).to_be_visible()
    images = _figures_loaded(page)
    names = {re.search(r"figures/([\w-]+)\.svg", image["src"]).group(1) for image in images}
    assert names == {"expert-bias", "expert-noise", "expert-slope"}
    assert all(image["width"] > 0 for image in images)


def test_a_page_on_a_run_in_flight_becomes_the_report(live_server, browser, closed_round):
    """The progress bar follows the run (JSON polling) and the page reloads when it ends."""
    run = make_run(
        closed_round, status=AggregationRun.Status.RUNNING, progress_phase="tuning", progress=0.2
    )
    page = browser.new_page()
    report = reverse("aggregation:round-report", args=[closed_round.id])
    _log_in(page, live_server, report)
    expect(page.get_by_role("heading", name="The model is being fitted")).to_be_visible()
    expect(page.get_by_text("Tuning the sampler")).to_be_visible()

    AggregationRun.objects.filter(id=run.id).update(progress_phase="sampling", progress=0.5)
    expect(page.get_by_text("Drawing posterior samples")).to_be_visible(timeout=10_000)
    expect(page.locator("progress")).to_have_attribute("value", "0.675")

    # The worker stores the results: the page notices and shows the report.
    finished = make_run(closed_round, result=hierarchical_result())
    QuestionResult.objects.filter(run=finished).update(run=run)
    finished.delete()
    AggregationRun.objects.filter(id=run.id).update(
        status=AggregationRun.Status.SUCCEEDED, result=finished.result,
        diagnostics=finished.diagnostics, progress_phase="done", progress=1.0,
    )  # fmt: skip
    expect(page.locator("#consensus-table")).to_contain_text("0.551 to 0.694", timeout=10_000)
    expect(page.get_by_role("heading", name="The model is being fitted")).to_have_count(0)
    page.close()
