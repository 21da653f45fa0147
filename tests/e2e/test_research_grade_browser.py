"""Issue 17 in a real browser: consent accepted and declined (English and Korean, axe
clean), a pilot round whose answers appear nowhere afterwards (report, scores, exports,
feedback) and its wipe, and a clarification that prompts an earlier answerer to confirm.

Drives Debian's Chromium through Playwright's sync API against pytest-django's live server.
"""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import expect

from elicitation import clarifications, consent, services
from elicitation.links import invitation_magic_link
from elicitation.models import ConsentResponse, Invitation, Judgment, Question, Round
from tests.conftest import user_create
from tests.e2e import test_delphi_browser as delphi
from tests.elicitation.helpers import ROUND1, answers_submit

quiet_broker = delphi.quiet_broker  # opening and closing queue tasks: nobody reads them

pytestmark = pytest.mark.browser
BLOCKING = ("serious", "critical")
PILOT_RATIONALE = "PILOT-RATIONALE-NEVER-SHOWN"

TEXT = {
    "en": {
        "start": "Read the consent and information, then start",
        "agree": "I agree and want to take part",
        "decline": "I do not agree",
        "declined": "You have declined to take part",
        "consent": "You may stop at any time.",
        "progress": "0 of 3 questions answered",
    },
    "ko": {
        "start": "동의 및 안내를 읽고 시작하기",
        "agree": "동의하며 참여하겠습니다",
        "decline": "동의하지 않습니다",
        "declined": "참여를 거절하셨습니다",
        "consent": "언제든지 그만둘 수 있습니다.",
        "progress": "3개 문항 중 0개 응답",
    },
}


def axe_problems(page, label: str) -> list[str]:
    page.wait_for_load_state("load")
    results = Axe().run(page)
    return [
        f"{label}: {v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


def survey_with_panel(language: str = "en", *, consent_text: bool = True):
    survey = services.survey_create(
        title="Allied contributions", title_ko="동맹국의 기여", background="Thank you.",
        background_ko="감사합니다.", contact_email="panel@example.org",
    )  # fmt: skip
    blockade = services.scenario_create(
        survey=survey, code="blockade", title="Blockade", title_ko="봉쇄"
    )
    services.question_create(
        survey=survey, code="Q01", text="Will Japan allow US basing?", scenario=blockade,
        text_ko="일본이 미군 기지 사용을 허용할 것인가?",
    )  # fmt: skip
    services.question_create(
        survey=survey, code="Q02", text="Will Korea send ships?", scenario=blockade,
        text_ko="한국이 함정을 보낼 것인가?",
    )  # fmt: skip
    services.question_create(
        survey=survey, code="N01", text="How many Australian ships?",
        kind=Question.Kind.NUMERIC, unit="ships", lower_bound=0, upper_bound=100,
    )  # fmt: skip
    for name, email, nationality in (
        ("Eun-ji Park", "eunji@example.org", "ROK"),
        ("Bob Miller", "bob@example.org", "US"),
        ("Chen Wei", "chen@example.org", "US"),
    ):
        services.expert_create(
            survey=survey, name=name, email=email, language=language,
            attributes={"nationality": nationality},
        )  # fmt: skip
    if consent_text:
        consent.consent_version_save(
            survey=survey,
            text="## Information\n\nYou may stop at any time.",
            text_ko="## 안내\n\n언제든지 그만둘 수 있습니다.",
        )
    return survey


@pytest.mark.parametrize("language", ["en", "ko"])
def test_consent_accepted_and_declined(
    live_server, settings, browser, transactional_db, quiet_broker, language
):
    settings.SITE_URL = live_server.url
    survey = survey_with_panel(language)
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    accepting, declining = Invitation.objects.filter(survey_round=survey_round)[:2]
    text = TEXT[language]
    problems = []
    page = browser.new_page()

    page.goto(invitation_magic_link(invitation=accepting))
    page.get_by_role("link", name=text["start"]).click()
    expect(page).to_have_url(re.compile(rf"/e/{accepting.id}/consent/$"))
    expect(page.get_by_text(text["consent"])).to_be_visible()
    assert page.locator("html").get_attribute("lang") == language
    problems += axe_problems(page, f"{language} consent")
    page.get_by_role("button", name=text["agree"]).click()
    expect(page).to_have_url(re.compile(rf"/e/{accepting.id}/answers/$"))
    expect(page.get_by_text(text["progress"])).to_be_visible()
    record = ConsentResponse.objects.get(expert=accepting.expert)
    assert record.accepted and record.version.number == 1

    other = browser.new_page()  # another expert's browser
    other.goto(invitation_magic_link(invitation=declining))
    other.goto(live_server.url + reverse("elicitation:expert-form", args=[declining.id]))
    expect(other).to_have_url(re.compile(rf"/e/{declining.id}/consent/$"))
    other.get_by_role("button", name=text["decline"]).click()
    expect(other.get_by_text(text["declined"])).to_be_visible()
    problems += axe_problems(other, f"{language} declined")
    assert ConsentResponse.objects.get(expert=declining.expert).accepted is False
    assert not Judgment.objects.filter(expert=declining.expert).exists()
    assert problems == []


def organizer_page(browser, live_server, survey):
    user = user_create("olivia", is_staff=True)
    survey.organizers.add(user)
    page = browser.new_page()
    page.goto(f"{live_server.url}/accounts/login/?next=/surveys/")
    page.locator("#id_username").fill("olivia")
    page.locator("#id_password").fill("pw-olivia-123")
    page.locator("main button[type=submit]").click()
    page.wait_for_url(re.compile(r"/surveys/$"))
    return page


PILOT_TEXT = {
    "en": {"go": "Go to the questions", "submit": "Submit", "done": "your answers are submitted"},
    "ko": {"go": "문항으로 이동", "submit": "제출", "done": "응답이 제출되었습니다"},
}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_pilot_round_appears_nowhere_and_is_wiped(
    live_server, settings, browser, transactional_db, quiet_broker, language
):
    """The test expert answers the pilot in their language (the organizer's pages are in
    English; their preview of the expert pages is in Korean)."""
    settings.SITE_URL = live_server.url
    text = PILOT_TEXT[language]
    survey = survey_with_panel(language, consent_text=False)
    base = live_server.url
    organizer = organizer_page(browser, live_server, survey)
    problems = []

    # The organizer creates a pilot round, previews it in Korean, opens it for one expert.
    organizer.goto(f"{base}/surveys/{survey.id}/")
    organizer.get_by_label("Pilot round").check()
    organizer.get_by_role("button", name="Create a draft round").click()
    pilot_round = Round.objects.get(survey=survey)
    assert pilot_round.is_pilot
    organizer.get_by_role("link", name="in Korean").click()
    expect(organizer.locator(".preview-banner")).to_be_visible()
    organizer.get_by_role("link", name="Questions (KO)").click()
    expect(organizer.get_by_text("일본이 미군 기지 사용을 허용할 것인가?")).to_be_visible()
    problems += axe_problems(organizer, "preview ko form")
    assert not Invitation.objects.exists()
    tester = survey.experts.get(code="E001")
    services.round_open(survey_round=pilot_round, experts=[tester])

    # The test expert answers the pilot in the browser, with a rationale to look for.
    invitation = Invitation.objects.get(survey_round=pilot_round)
    expert = browser.new_page()
    expert.goto(invitation_magic_link(invitation=invitation))
    expert.get_by_role("link", name=text["go"]).click()
    assert expert.locator("html").get_attribute("lang") == language
    problems += axe_problems(expert, f"{language} pilot form")
    questions = {q.code: q for q in survey.questions.all()}
    expert.locator(f"#id_q{questions['Q01'].id}_probability").fill("99")
    expert.locator(f"#id_q{questions['Q01'].id}_rationale").fill(PILOT_RATIONALE)
    expert.locator(f"#id_q{questions['Q02'].id}_probability").fill("98")
    for name, value in (("q05", "70"), ("q50", "80"), ("q95", "90")):
        expert.locator(f"#id_q{questions['N01'].id}_{name}").fill(value)
    expert.get_by_role("button", name=text["submit"], exact=True).click()
    expect(expert.get_by_text(text["done"])).to_be_visible()
    services.round_close(survey_round=pilot_round)

    # A real round, answered and closed, then a follow-up with its feedback.
    real = services.round_open(survey_round=services.round_create(survey=survey))
    for panelist in survey.experts.all():
        answers_submit(Invitation.objects.get(survey_round=real, expert=panelist), questions,
                       ROUND1[panelist.code])  # fmt: skip
    services.round_close(survey_round=real)
    follow_up = services.round_open(survey_round=services.round_create(survey=survey))
    assert follow_up.feedback_round_id == real.id

    def nowhere(url: str) -> None:
        response = organizer.request.get(url)
        assert response.ok, url
        assert PILOT_RATIONALE not in response.text(), url

    for survey_round in (pilot_round, real):
        nowhere(f"{base}/reports/rounds/{survey_round.id}/")
        nowhere(f"{base}/reports/rounds/{survey_round.id}/judgments.csv")
    csv_text = organizer.request.get(f"{base}/reports/rounds/{real.id}/judgments.csv").text()
    assert ",0.99," not in csv_text and ",0.98," not in csv_text
    organizer.goto(f"{base}/reports/surveys/{survey.id}/scores/")
    expect(organizer).to_have_url(re.compile(rf"/reports/rounds/{real.id}/scores/"))
    assert PILOT_RATIONALE not in organizer.content()
    follow_invitation = Invitation.objects.get(survey_round=follow_up, expert=tester)
    expert.goto(invitation_magic_link(invitation=follow_invitation))
    expert.goto(base + reverse("elicitation:expert-form", args=[follow_invitation.id]))
    expect(expert.locator("#answers-form")).to_be_visible()
    assert PILOT_RATIONALE not in expert.content()

    # One step, with a confirmation, wipes the pilot.
    organizer.goto(f"{base}/surveys/{survey.id}/")
    problems += axe_problems(organizer, "survey page with pilot data")
    organizer.get_by_role("button", name="Wipe the pilot data").click()
    expect(organizer.get_by_text("tick the box")).to_be_visible()
    assert Round.objects.filter(id=pilot_round.id).exists()
    organizer.get_by_label("Yes, delete the pilot rounds").check()
    organizer.get_by_role("button", name="Wipe the pilot data").click()
    expect(organizer.get_by_text("Pilot data wiped")).to_be_visible()
    assert not Round.objects.filter(id=pilot_round.id).exists()
    assert not Judgment.objects.filter(rationale=PILOT_RATIONALE).exists()
    assert problems == []


CLARIFY = {
    "en": {
        "go": "Go to the questions",
        "save": "Save and come back later",
        "saved": "Your answers are saved",
        "notice": "clarified after you answered",
        "new_text": "Will Japan allow US forces to fly combat missions?",
        "confirm": "Confirm my answer to Q01",
        "confirmed": "confirmed under the present wording",
    },
    "ko": {
        "go": "문항으로 이동",
        "save": "저장하고 나중에 계속하기",
        "saved": "응답이 저장되었습니다",
        "notice": "귀하가 답한 뒤 이 질문의 문구가 명확하게 수정되었습니다",
        "new_text": "일본이 미군의 전투 임무 비행을 허용할 것인가?",
        "confirm": "Q01에 대한 내 답변 확인",
        "confirmed": "Q01에 대한 답변을 현재 문구로 확인했습니다",
    },
}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_clarification_prompts_an_earlier_answerer_to_confirm(
    live_server, settings, browser, transactional_db, quiet_broker, language
):
    settings.SITE_URL = live_server.url
    text = CLARIFY[language]
    survey = survey_with_panel(language, consent_text=False)
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    invitation = Invitation.objects.filter(survey_round=survey_round).first()
    q01 = survey.questions.get(code="Q01")
    page = browser.new_page()
    page.goto(invitation_magic_link(invitation=invitation))
    page.get_by_role("link", name=text["go"]).click()
    page.locator(f"#id_q{q01.id}_probability").fill("40")
    page.get_by_role("button", name=text["save"]).click()
    expect(page.get_by_text(text["saved"])).to_be_visible()

    organizer = organizer_page(browser, live_server, survey)
    organizer.goto(f"{live_server.url}/surveys/{survey.id}/")
    organizer.get_by_role("link", name="Clarify the wording of Q01").click()
    organizer.locator("#id_text").fill(CLARIFY["en"]["new_text"])
    organizer.locator("#id_text_ko").fill(CLARIFY["ko"]["new_text"])
    organizer.locator("#id_note").fill("Combat missions, not logistics only.")
    problems = axe_problems(organizer, "clarify page")
    organizer.locator("form.building-form button[type=submit]").click()
    expect(organizer.get_by_text("now reads as version 2")).to_be_visible()

    page.reload()
    assert page.locator("html").get_attribute("lang") == language
    notice = page.locator("#question-Q01 .clarification")
    expect(notice).to_contain_text(text["notice"])
    expect(notice).to_contain_text("Combat missions, not logistics only.")
    expect(page.get_by_text(text["new_text"])).to_be_visible()
    problems += axe_problems(page, f"{language} form with a clarification")
    notice.get_by_role("button", name=text["confirm"]).click()
    expect(page.get_by_text(text["confirmed"])).to_be_visible()
    expect(page.locator("#question-Q01 .clarification")).to_have_count(0)
    judgment = Judgment.objects.get(question=q01, expert=invitation.expert)
    assert (judgment.question_version, judgment.probability) == (2, 0.4)
    assert judgment.confirmed_at is not None
    rows = list(clarifications.round_answers_with_versions(survey_round=survey_round))
    assert [(j.question.code, j.question_version) for j in rows] == [("Q01", 2)]
    assert problems == []
