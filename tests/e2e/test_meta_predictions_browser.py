"""Meta-predictions in a real browser, in English and in Korean (issue 15).

A ROK expert of a survey that requires meta-predictions answers a question that asks them:
the group of inputs is reached by the keyboard, a submit without every group is refused
with the error tied to the empty field, nothing of the US expert's answers or predictions
is on the page, and the page passes axe-core before and after the error.

Drives Debian's Chromium through Playwright's sync API against pytest-django's live server.
"""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from elicitation import services
from elicitation.links import invitation_magic_link
from elicitation.models import Invitation, Judgment, Survey
from tests.elicitation.helpers import celery_broker, form_url, own_celery_queue

pytestmark = pytest.mark.browser
BLOCKING = ("serious", "critical")
OTHER_META = {"ROK": 0.1717, "US": 0.8383}  # the US expert's: never on our expert's page

TEXTS = {
    "en": {
        "legend": "What will each group answer on average?",
        "own": "ROK respondents (your group), average (%)",
        "other": "US respondents, average (%)",
        "probability": "Probability that it happens (%)",
        "submit": "Submit",
        "missing": "Say what you expect this group to answer before you submit.",
        "submitted": "your answers are submitted",
    },
    "ko": {
        "legend": "각 집단은 평균적으로 어떻게 답할까요?",
        "own": "ROK 응답자 (본인 집단), 평균 (%)",
        "other": "US 응답자, 평균 (%)",
        "probability": "일어날 확률(%)",
        "submit": "제출",
        "missing": "제출하기 전에 이 집단이 어떻게 답할지 예상을 입력해 주십시오.",
        "submitted": "응답이 제출되었습니다",
    },
}


@pytest.fixture
def quiet_broker(broker_url):
    """Opening a round queues invitation emails: let them wait in a queue nobody reads."""
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-meta-test"):
        yield


def _meta_survey(language: str) -> Invitation:
    survey = services.survey_create(
        title="Allied contributions", title_ko="동맹국의 기여",
        meta_predictions=Survey.MetaPredictions.REQUIRED,
    )  # fmt: skip
    q01 = services.question_create(
        survey=survey, code="Q01", text="Korea sends ships?", text_ko="한국이 함정을 보낼 것인가?"
    )
    services.question_create(
        survey=survey, code="Q02", text="Japan allows basing?", asks_meta_predictions=False
    )
    expert = services.expert_create(
        survey=survey, name="Eun-ji Park", email="eunji@example.org", language=language,
        attributes={"nationality": "ROK"},
    )  # fmt: skip
    other = services.expert_create(
        survey=survey, name="Bob Miller", email="bob@example.org", attributes={"nationality": "US"}
    )
    for k in range(2):  # cohorts of three: large enough to be named (REPORT_MIN_COHORT_SIZE)
        for cohort in ("ROK", "US"):
            services.expert_create(
                survey=survey, name=f"{cohort} {k}", email=f"{cohort.lower()}{k}@example.org",
                attributes={"nationality": cohort},
            )  # fmt: skip
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    services.judgment_save(
        invitation=Invitation.objects.get(expert=other, survey_round=survey_round),
        question=q01, probability=0.9, meta_predictions=OTHER_META,
    )  # fmt: skip
    return Invitation.objects.get(expert=expert, survey_round=survey_round)


def _axe_problems(page, axe: Axe, label: str) -> list[str]:
    page.wait_for_load_state("load")
    return [
        f"{label}: {v['id']} ({v['impact']}): {v['help']}"
        for v in axe.run(page).response["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("language", ["en", "ko"])
def test_an_expert_answers_with_meta_predictions(
    live_server, settings, browser, transactional_db, quiet_broker, language
):
    settings.SITE_URL = live_server.url
    text, axe = TEXTS[language], Axe()
    invitation = _meta_survey(language)
    page = browser.new_page()
    page.goto(invitation_magic_link(invitation=invitation))
    page.goto(live_server.url + form_url(invitation))
    expect(page.locator("html")).to_have_attribute("lang", language)

    group = page.get_by_role("group", name=text["legend"])
    expect(group).to_have_count(1)  # Q01 asks them, Q02 does not
    own, other = group.get_by_label(text["own"]), group.get_by_label(text["other"])
    expect(own).to_have_value("")  # no anchor: empty until the expert answers
    expect(other).to_have_value("")
    html = page.content()
    for leak in ("17.17", "83.83", "0.1717", "0.8383", "Bob Miller"):
        assert leak not in html
    problems = _axe_problems(page, axe, f"{language}-form")

    page.get_by_label(text["probability"]).first.fill("40")
    page.get_by_label(text["probability"]).nth(1).fill("20")
    own.fill("35")
    page.get_by_role("button", name=text["submit"]).click()

    # Refused: the empty group is named on top, marked and described by its error.
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text(text["missing"])
    expect(summary).to_be_focused()
    other = page.get_by_label(text["other"])
    expect(other).to_have_attribute("aria-invalid", "true")
    described = other.get_attribute("aria-describedby").split()
    assert page.locator(f"#{described[-1]}").inner_text() == text["missing"]
    expect(page.get_by_label(text["own"])).to_have_value("35")  # what was typed is kept
    problems += _axe_problems(page, axe, f"{language}-error")
    assert Invitation.objects.get(id=invitation.id).submitted_at is None

    page.get_by_label(text["own"]).focus()
    page.keyboard.press("Tab")  # the keyboard goes from one group to the next
    expect(other).to_be_focused()
    page.keyboard.type("60")
    page.get_by_role("button", name=text["submit"]).click()
    expect(page.get_by_text(text["submitted"])).to_be_visible()

    judgment = Judgment.objects.get(expert=invitation.expert, question__code="Q01")
    assert judgment.probability == pytest.approx(0.4)
    assert judgment.meta_predictions == {"ROK": pytest.approx(0.35), "US": pytest.approx(0.6)}
    assert Invitation.objects.get(id=invitation.id).submitted_at is not None
    assert problems == []
