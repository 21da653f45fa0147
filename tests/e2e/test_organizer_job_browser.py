"""An organizer's whole job in a real browser, from an empty database to a closed round and
its report, without ever opening the admin, in English and in Korean (issue 13, acceptance):
create a survey and a scenario, import and edit questions, import experts, add an analyst,
open round 1 without one expert, invite that expert late, remind, close, open round 2 for a
subset of the panel and extend it. axe-core finds no serious or critical violation on any
organizer page on the way; the browser fixture fails the test on any CSP violation.
"""

import re
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import expect

from elicitation.models import Invitation, Reminder, Round, RoundEvent, Survey
from tests.conftest import user_create
from tests.e2e import test_delphi_browser as delphi

quiet_broker = delphi.quiet_broker  # opening, reminding and closing queue tasks: nobody reads

pytestmark = pytest.mark.browser
BLOCKING = ("serious", "critical")

QUESTIONS_CSV = (
    "code,text,kind,scenario,unit,lower_bound,upper_bound,text_ko\n"
    "Q01,Will Japan allow US basing?,binary,blockade,,,,일본이 미군 기지 사용을 허용할까?\n"
    "Q02,Will Korea send ships?,binary,blockade,,,,한국이 함정을 보낼까?\n"
    "N01,How many Australian ships?,numeric,,ships,0,100,호주 함정은 몇 척?\n"
)
EXPERTS_CSV = (
    "name,email,language,nationality\n"
    "Eun-ji Park,eunji@example.org,ko,ROK\n"
    "Bob Miller,bob@example.org,en,US\n"
    "Chen Wei,chen@example.org,en,US\n"
    "Dae-ho Kim,daeho@example.org,ko,ROK\n"
)
TEXT = {  # one string per language, to see the pages speak it
    "en": {"create": "Create a survey", "close": "Close the round"},
    "ko": {"create": "설문 만들기", "close": "라운드 마감"},
}


class Walk:
    """The page, axe on every organizer page it reaches, and every URL it requested."""

    def __init__(self, page, live_server):
        self.page, self.base, self.axe = page, live_server.url, Axe()
        self.problems: list[str] = []
        self.rules_run = 0  # axe's passes and violations, summed: proof it ran
        self.requested: list[str] = []
        page.on("request", lambda request: self.requested.append(request.url))

    def check(self, label: str) -> None:
        self.page.wait_for_load_state("load")
        results = self.axe.run(self.page)
        self.rules_run += len(results.response["passes"]) + len(results.response["violations"])
        self.problems += [
            f"{label}: {v['id']} ({v['impact']}): {v['help']} — "
            + "; ".join(node["target"][0] for node in v["nodes"][:3])
            for v in results.response["violations"]
            if v["impact"] in BLOCKING
        ]

    def submit(self, form: str) -> None:
        self.page.locator(f"{form} button[type=submit]").first.click()
        self.page.wait_for_load_state("load")

    def upload(self, name: str, text: str) -> None:
        self.page.locator("input[type=file]").set_input_files(
            {"name": name, "mimeType": "text/csv", "buffer": text.encode()}
        )
        self.page.locator("form.card button[type=submit]").click()
        self.page.locator("button[name=confirm]").click()  # the preview, confirmed
        self.page.wait_for_load_state("load")


@pytest.mark.parametrize("language", ["en", "ko"])
def test_an_organizers_whole_job_without_the_admin(
    live_server, settings, browser, transactional_db, quiet_broker, language
):
    settings.SITE_URL = live_server.url
    user_create("olivia", is_staff=True)
    analyst = user_create("anna")
    context = browser.new_context(locale="ko-KR" if language == "ko" else "en-US")
    page = context.new_page()
    walk = Walk(page, live_server)

    # Log in; the survey list speaks the browser's language and offers to create a survey.
    page.goto(f"{walk.base}/accounts/login/?next=/surveys/")
    page.locator("#id_username").fill("olivia")
    page.locator("#id_password").fill("pw-olivia-123")
    page.locator("main button[type=submit]").click()
    page.wait_for_url(re.compile(r"/surveys/$"))
    walk.check("survey list")
    page.get_by_role("link", name=TEXT[language]["create"]).click()

    # The survey, from nothing.
    walk.check("create survey")
    page.locator("#id_title").fill("Allied contributions")
    page.locator("#id_title_ko").fill("동맹의 기여")
    page.locator("#id_background").fill("Thank you for *your* time.")
    page.locator("#id_background_ko").fill("시간을 내 주셔서 감사합니다.")
    page.locator("#id_contact_email").fill("panel@example.org")
    page.locator("#id_cohort_attribute").fill("nationality")
    walk.submit("form.building-form")
    page.wait_for_url(re.compile(r"/surveys/\d+/$"))
    survey = Survey.objects.get()
    survey_url = f"{walk.base}/surveys/{survey.id}/"
    walk.check("survey page")

    # A scenario with its descriptions.
    page.locator(f'a[href="/surveys/{survey.id}/scenarios/new/"]').click()
    walk.check("add scenario")
    page.locator("#id_code").fill("blockade")
    page.locator("#id_title").fill("Blockade")
    page.locator("#id_title_ko").fill("봉쇄")
    page.locator("#id_description").fill("A blockade of Taiwan.")
    page.locator("#id_description_ko").fill("대만 봉쇄.")
    walk.submit("form.building-form")

    # Questions by CSV, then one edited.
    page.locator(f'a[href="/surveys/{survey.id}/import/questions/"]').click()
    walk.check("import questions")
    walk.upload("questions.csv", QUESTIONS_CSV)
    assert survey.questions.count() == 3
    q01 = survey.questions.get(code="Q01")
    page.locator(f'a[href="/questions/{q01.id}/edit/"]').click()
    walk.check("edit question")
    page.locator("#id_text").fill("Will Japan allow US combat operations from its bases?")
    walk.submit("form.building-form")
    q01.refresh_from_db()
    assert q01.text == "Will Japan allow US combat operations from its bases?"

    # The panel by CSV, and an analyst.
    page.goto(survey_url)
    page.locator(f'a[href="/surveys/{survey.id}/import/experts/"]').click()
    walk.upload("experts.csv", EXPERTS_CSV)
    assert survey.experts.count() == 4
    page.locator(f'a[href="/surveys/{survey.id}/people/"]').click()
    walk.check("people")
    page.locator("#id_analysts").get_by_label(re.compile("anna")).check()
    walk.submit("form.building-form")
    assert list(survey.analysts.all()) == [analyst]

    # Round 1, opened without Dae-ho, who is invited late.
    page.locator(f'form[action="/surveys/{survey.id}/rounds/new/"] button').click()
    page.wait_for_url(re.compile(r"/rounds/\d+/$"))
    round1 = Round.objects.get(survey=survey, number=1)
    walk.check("draft round")
    page.locator("#id_experts").get_by_label(re.compile("Dae-ho")).uncheck()
    walk.submit(f'form[action="/rounds/{round1.id}/open/"]')
    round1.refresh_from_db()
    assert round1.status == Round.Status.OPEN and round1.invitations.count() == 3
    walk.check("open round")
    page.locator("#id_late-experts").get_by_label(re.compile("Dae-ho")).check()
    walk.submit(f'form[action="/rounds/{round1.id}/invite/"]')
    assert Invitation.objects.get(
        survey_round=round1, expert__contact__name="Dae-ho Kim"
    ).joined_late

    # Remind, then close (nobody submitted: the box confirms it).
    page.locator(f'form[action="/rounds/{round1.id}/remind/"] button[name=now]').click()
    page.wait_for_load_state("load")
    assert Reminder.objects.filter(survey_round=round1).exists()
    page.locator("#confirm-close").check()
    page.get_by_role("button", name=TEXT[language]["close"]).click()
    page.wait_for_load_state("load")
    round1.refresh_from_db()
    assert round1.status == Round.Status.CLOSED
    walk.check("closed round")

    # Its report.
    page.locator(f'a[href="/reports/rounds/{round1.id}/"]').first.click()
    page.wait_for_url(re.compile(rf"/reports/rounds/{round1.id}/"))
    expect(page.locator("h1")).to_contain_text("Allied contributions")
    expect(page.locator(".plan-changes")).to_contain_text("E004")  # Dae-ho joined late

    # Round 2, for a subset of the panel, then extended.
    page.goto(survey_url)
    page.locator(f'form[action="/surveys/{survey.id}/rounds/new/"] button').click()
    page.wait_for_url(re.compile(r"/rounds/\d+/$"))
    round2 = Round.objects.get(survey=survey, number=2)
    page.locator("#id_experts").get_by_label(re.compile("Chen Wei")).uncheck()
    walk.submit(f'form[action="/rounds/{round2.id}/open/"]')
    round2.refresh_from_db()
    assert round2.status == Round.Status.OPEN and round2.invitations.count() == 3
    closes = timezone.localtime(timezone.now() + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
    page.locator("#id_extend-closes_at").fill(closes)
    walk.submit(f'form[action="/rounds/{round2.id}/extend/"]')
    round2.refresh_from_db()
    assert round2.closes_at is not None
    assert RoundEvent.objects.filter(survey_round=round2, kind="extended").exists()
    walk.check("round 2")

    html_lang = page.locator("html").get_attribute("lang")
    assert html_lang == language
    assert not [url for url in walk.requested if "/admin/" in url], "the admin was opened"
    assert walk.rules_run > 100
    assert not walk.problems, "\n".join(walk.problems)
