"""A long round in a real browser: part by part, the summary, Submit; axe-clean at phone
width in English and Korean."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from elicitation import services
from elicitation.links import invitation_magic_link
from elicitation.models import Invitation, Judgment
from tests.e2e.test_accessibility import PHONE, _check
from tests.e2e.test_expert_form_browser import quiet_broker

__all__ = ["quiet_broker"]  # the fixture, found by pytest as a module attribute
pytestmark = pytest.mark.browser

TEXT = {
    "en": {"go": "Go to the questions", "next": "Save and continue", "review": "Save and review",
           "submit": "Submit", "done": "your answers are submitted"},
    "ko": {"go": "문항으로 이동", "next": "저장하고 계속", "review": "저장하고 검토",
           "submit": "제출", "done": "제출되었습니다"},
}  # fmt: skip


def _long_round(language: str) -> Invitation:
    survey = services.survey_create(title="Allied contributions", title_ko="동맹국의 기여")
    for code, n in (("blockade", 8), ("invasion", 7)):
        scenario = services.scenario_create(survey=survey, code=code, title=code.title())
        for k in range(n):
            services.question_create(
                survey=survey, code=f"{code[:2].upper()}{k:02d}", text=f"{code} {k}?",
                text_ko=f"{code} {k}?", scenario=scenario,
            )  # fmt: skip
    expert = services.expert_create(
        survey=survey, name="Eun-ji Park", email="eunji@example.org", language=language
    )
    services.round_open(survey_round=services.round_create(survey=survey))
    return Invitation.objects.get(expert=expert)


@pytest.mark.parametrize("language", ["en", "ko"])
def test_an_expert_answers_a_long_round_in_parts(
    live_server, settings, browser, transactional_db, quiet_broker, language
):
    settings.SITE_URL = live_server.url
    text = TEXT[language]
    invitation = _long_round(language)
    context = browser.new_context(viewport=PHONE, locale="ko-KR" if language == "ko" else "en-US")
    page = context.new_page()
    axe, problems = Axe(), []

    page.goto(invitation_magic_link(invitation=invitation))
    page.get_by_role("link", name=text["go"]).click()
    problems += _check(page, axe, f"{language}-part-1", None)
    for part, button in ((1, text["next"]), (2, text["review"])):
        for field in page.locator("input[type=number][name$=_probability]").all():
            field.fill("35")
        page.get_by_role("button", name=button).click()
        expected = "summary" if part == 2 else "2"
        expect(page).to_have_url(re.compile(rf"\?part={expected}$"))
    problems += _check(page, axe, f"{language}-summary", None)
    expect(page.get_by_text("15")).not_to_have_count(0)
    page.get_by_role("button", name=text["submit"], exact=True).click()
    expect(page.get_by_text(text["done"])).to_be_visible()
    assert problems == []

    invitation.refresh_from_db()
    assert invitation.submitted_at is not None
    assert Judgment.objects.filter(expert=invitation.expert).count() == 15
