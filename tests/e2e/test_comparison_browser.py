"""The round comparison in a real browser, as an analyst reads it once the two rounds have
been fitted together: the figure of each question's consensus in both rounds (an SVG with
a title and a description, the table as its fallback), the three headlines each with what
it means, question texts instead of codes; in English and in Korean, axe-clean.

The linked run is a row made from a result dict (no sampler, no worker). With
``COMPARISON_SCREENSHOTS=<folder>`` the pages are saved there as full-page PNGs.
"""

import os
import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import expect

from elicitation.models import Question
from tests.aggregation.conftest import (
    closed_round_build,
    hierarchical_result,
    linked_result,
    make_run,
    panel_build,
    second_round_build,
    survey_build,
)
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.browser
KOREAN = {
    "Q01": "일본은 자국 기지에서 미군의 전투 작전을 허용할 것인가?",
    "Q02": "한국은 함정을 보낼 것인가?",
    "Q03": "호주는 항공기를 보낼 것인가?",
}
WORDS = {
    "en": {
        "headlines": ["Change of consensus", "Ratio of disagreement (later ÷ earlier)",
                      "Persistence of experts' views"],
        "meaning": "carries over from one round to the next",
        "figure": "Each question's consensus in round 1 and round 2",
        "alt": "For each of the 3 probability questions",
        "texts": ["Will Korea send ships?", "Will Japan allow US combat operations"],
    },
    "ko": {
        "headlines": ["합의의 변화", "의견 차이의 비 (나중 ÷ 이전)", "전문가 견해의 지속성"],
        "meaning": "다음 라운드로 얼마나 이어지는지",
        "figure": "1라운드와 2라운드의 문항별 합의",
        "alt": "확률 문항 3개",
        "texts": [KOREAN["Q02"], KOREAN["Q01"]],
    },
}  # fmt: skip


@pytest.fixture
def linked_comparison(transactional_db, analyst, organizer):
    survey = survey_build(organizer=organizer, analyst=analyst)
    panel = panel_build(survey=survey)
    first = closed_round_build(survey=survey, panel=panel)
    second = second_round_build(closed_round=first, survey=survey, panel=panel)
    for code, text in KOREAN.items():
        Question.objects.filter(survey=survey, code=code).update(text_ko=text)
    make_run(first, result=hierarchical_result())
    make_run(second, result=linked_result({"Q01": -0.08, "Q02": 0.15, "Q03": 0.01}))
    return second


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_comparison_of_a_linked_run_tells_one_story(
    live_server, browser, linked_comparison, language
):
    words = WORDS[language]
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="ko-KR" if language == "ko" else "en-US"
    )
    page = context.new_page()
    url = reverse("aggregation:round-comparison", args=[linked_comparison.id])
    page.goto(f"{live_server.url}{reverse('login')}?next={url}")
    page.locator("input[name=username]").fill("anna")
    page.locator("input[name=password]").fill("pw-anna-123")
    page.locator("main").get_by_role("button").click()
    page.wait_for_url(re.compile(re.escape(url) + "$"))

    headlines = page.locator("#headlines")
    for name in words["headlines"]:
        expect(headlines.locator("dt", has_text=name)).to_have_count(1)
    assert headlines.locator("dd.meaning").count() == 3
    expect(page.locator("#headline-persistence")).to_contain_text(words["meaning"])
    expect(page.locator("#headline-persistence")).to_contain_text("0.62")
    expect(page.locator("#headline-ratio")).to_contain_text("0.81")

    figure = page.locator("#consensus-figure img")
    figure.scroll_into_view_if_needed()
    wait_until(page, "(i => i.complete && i.naturalWidth > 0)(document.querySelector("
               "'#consensus-figure img'))")  # fmt: skip
    assert words["alt"] in figure.get_attribute("alt")
    svg = page.request.get(
        live_server.url + figure.get_attribute("src"), headers={"Accept-Language": language}
    ).text()
    assert f'<title id="figure-title">{words["figure"]}</title>' in svg
    for text in words["texts"]:
        assert text in svg
        expect(page.locator("#comparison-table")).to_contain_text(text)
    # the table, the figure's fallback, in its order: Q02 rose most, Q01 fell
    rows = page.locator("#comparison-table tbody tr")
    assert rows.first.get_attribute("id") == "row-Q02"
    assert rows.last.get_attribute("id") == "row-Q01"

    results = Axe().run(page)
    blocking = [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert blocking == []
    shots = os.environ.get("COMPARISON_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(shots) / f"comparison-{language}.png"), full_page=True)


def test_the_comparison_follows_the_joint_fit_and_shows_it_when_done(
    live_server, browser, analyst, organizer
):
    """While the fit of both rounds runs, the run page's progress bar follows it; when it
    ends, the page reloads itself into the comparison with the figure."""
    from aggregation.models import AggregationRun

    survey = survey_build(organizer=organizer, analyst=analyst)
    panel = panel_build(survey=survey)
    first = closed_round_build(survey=survey, panel=panel)
    second = second_round_build(closed_round=first, survey=survey, panel=panel)
    run = make_run(second, method="linked_rounds", rounds=[1, 2], status="running")
    AggregationRun.objects.filter(id=run.id).update(progress_phase="sampling", progress=0.5)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    url = reverse("aggregation:round-comparison", args=[second.id])
    page.goto(f"{live_server.url}{reverse('login')}?next={url}")
    page.locator("input[name=username]").fill("anna")
    page.locator("input[name=password]").fill("pw-anna-123")
    page.locator("main").get_by_role("button").click()
    page.wait_for_url(re.compile(re.escape(url) + "$"))
    expect(page.locator(".run-progress progress")).to_have_attribute("value", "0.675")
    expect(page.locator("#headline-persistence")).to_contain_text("not yet")
    assert page.locator("#consensus-figure").count() == 0

    AggregationRun.objects.filter(id=run.id).update(progress=1.0)
    wait_until(page, "document.querySelector('[data-percent]').textContent === '90 %'")
    AggregationRun.objects.filter(id=run.id).update(status="succeeded", result=linked_result())
    expect(page.locator("#consensus-figure img")).to_be_visible(timeout=15_000)
    expect(page.locator(".run-progress")).to_have_count(0)
    expect(page.locator("#headline-persistence")).to_contain_text("0.62 (0.48 to 0.75)")
