"""The expert pages pass axe-core (bundled with axe-playwright-python: no network) with no
serious or critical violation, in English and Korean, at desktop and phone width (390 px).

Pages: welcome, the round-1 form, the round-2 form with feedback, the closed round's
thank-you page, and the refusal of an invalid link. With ``A11Y_SCREENSHOTS=<folder>`` the
phone-width pages are also saved as full-page PNGs there, to look at.
"""

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse

from elicitation import services
from elicitation.links import invitation_magic_link
from tests.e2e import test_delphi_browser as delphi
from tests.e2e.test_delphi_browser import delphi_survey, round_two

# The Delphi browser tests' broker fixture, shared (pytest finds fixtures by module attribute).
quiet_broker = delphi.quiet_broker

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
BLOCKING = ("serious", "critical")


def _check(page, axe: Axe, label: str, shots: Path | None) -> list[str]:
    page.wait_for_load_state("load")
    results = axe.run(page)
    problems = [
        f"{label}: {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]
    # Phone width: nothing may need sideways scrolling.
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    if overflow:
        problems.append(f"{label}: the page scrolls sideways")
    if shots is not None:
        page.screenshot(path=str(shots / f"{label}.png"), full_page=True)
    return problems


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_expert_pages_have_no_serious_accessibility_violations(
    live_server,
    settings,
    browser,
    transactional_db,
    quiet_broker,
    language,
    viewport,
):
    settings.SITE_URL = live_server.url
    shots = os.environ.get("A11Y_SCREENSHOTS")
    shots = Path(shots) if shots and viewport == "phone" else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    axe = Axe()
    context = browser.new_context(
        viewport=PHONE if viewport == "phone" else DESKTOP,
        locale="ko-KR" if language == "ko" else "en-US",
    )
    page = context.new_page()
    problems = []

    invitation = delphi_survey(language)
    page.goto(invitation_magic_link(invitation=invitation))
    problems += _check(page, axe, f"{language}-1-welcome", shots)
    page.goto(live_server.url + reverse("elicitation:expert-form", args=[invitation.id]))
    problems += _check(page, axe, f"{language}-2-form-round1", shots)

    questions = {q.code: q for q in invitation.survey_round.questions.all()}
    services.invitation_answers_save(
        invitation=invitation,
        answers=[
            services.Answer(question=questions["Q01"], probability=0.42, rationale="Agreed."),
            services.Answer(question=questions["Q02"], probability=0.15),
            services.Answer(question=questions["N01"], q05=2, q50=5, q95=9),
        ],
        submit=True,
    )
    invitation2 = round_two(invitation)
    page.goto(invitation_magic_link(invitation=invitation2))
    page.goto(live_server.url + reverse("elicitation:expert-form", args=[invitation2.id]))
    page.locator("details.rationales summary").first.click()
    problems += _check(page, axe, f"{language}-3-form-round2-feedback", shots)
    page.locator("#question-Q02").locator("button.keep").click()  # a kept answer, a message
    problems += _check(page, axe, f"{language}-4-kept", shots)

    services.round_close(survey_round=invitation2.survey_round)
    page.goto(live_server.url + reverse("elicitation:expert-form", args=[invitation2.id]))
    problems += _check(page, axe, f"{language}-5-closed-thank-you", shots)

    page.goto(live_server.url + reverse("elicitation:expert-entry", args=[invitation2.id]) + "?t=x")
    problems += _check(page, axe, f"{language}-6-refused", shots)
    assert page.locator("html").get_attribute("lang") == language
    context.close()
    assert problems == []
