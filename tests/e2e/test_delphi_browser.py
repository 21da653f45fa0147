"""Two Delphi rounds in a real browser, in English and in Korean.

An expert answers round 1 and sees nothing of the others; the round closes (its model
result is made directly as QuestionResult rows, no sampler); in round 2 the expert sees
their own answer, the panel's consensus with its interval, the spread and the other
experts' rationales, keeps one answer with one click and revises another with a reason.

Drives Debian's Chromium through Playwright's sync API against pytest-django's live server.
"""

import re

import pytest
from playwright.sync_api import expect

from elicitation import services
from elicitation.links import invitation_magic_link
from elicitation.models import Expert, Invitation, Judgment, Question
from tests.elicitation.helpers import celery_broker, own_celery_queue, succeeded_run

OTHER_R1 = "Japan will not want to be seen as a co-belligerent."

pytestmark = pytest.mark.browser


@pytest.fixture
def quiet_broker(broker_url):
    """Opening a round queues emails, closing it a model run: a queue nobody reads."""
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-delphi-test"):
        yield


def delphi_survey(language: str):
    """A survey in both languages (N01 has no Korean text), our expert and two others, who
    have already answered round 1 (open). Returns our expert's round-1 invitation."""
    survey = services.survey_create(
        title="Allied contributions",
        title_ko="동맹국의 기여",
        background="Thank you for taking part.",
        background_ko="참여해 주셔서 감사합니다.",
    )
    blockade = services.scenario_create(
        survey=survey, code="blockade", title="Blockade", title_ko="봉쇄"
    )
    services.question_create(
        survey=survey, code="Q01", text="Japan allows basing?", scenario=blockade,
        text_ko="일본이 기지 사용을 허용할 것인가?",
    )  # fmt: skip
    services.question_create(
        survey=survey, code="Q02", text="Korea sends ships?", scenario=blockade,
        text_ko="한국이 함정을 보낼 것인가?",
    )  # fmt: skip
    services.question_create(
        survey=survey, code="N01", text="Australian ships?", kind=Question.Kind.NUMERIC,
        unit="ships", lower_bound=0, upper_bound=100,
    )  # fmt: skip
    expert = services.expert_create(
        survey=survey, name="Eun-ji Park", email="eunji@example.org", language=language,
        time_zone="Asia/Seoul", attributes={"nationality": "ROK"},
    )  # fmt: skip
    others = [
        services.expert_create(survey=survey, name=name, email=email)
        for name, email in (("Bob Miller", "bob@example.org"), ("Chen Wei", "chen@example.org"))
    ]
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    questions = {q.code: q for q in survey.questions.all()}
    for other, (q01, q02, rationale) in zip(
        others, ((0.6, 0.2, OTHER_R1), (0.7, 0.3, "")), strict=True
    ):
        invitation = Invitation.objects.get(expert=other, survey_round=survey_round)
        services.invitation_answers_save(
            invitation=invitation,
            answers=[
                services.Answer(question=questions["Q01"], probability=q01, rationale=rationale),
                services.Answer(question=questions["Q02"], probability=q02),
                services.Answer(question=questions["N01"], q05=3, q50=6, q95=12),
            ],
            submit=True,
        )
    return Invitation.objects.get(expert=expert, survey_round=survey_round)


def round_two(invitation: Invitation) -> Invitation:
    """Close round 1, give it a model result, open round 2: the expert's new invitation."""
    round1 = services.round_close(survey_round=invitation.survey_round)
    succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.2, 0.12, 0.31, 0.6)})
    survey = round1.survey
    round2 = services.round_open(survey_round=services.round_create(survey=survey))
    return Invitation.objects.get(expert=invitation.expert, survey_round=round2)


TEXTS = {
    "en": {
        "go": "Go to the questions",
        "submit": "Submit",
        "submitted": "your answers are submitted",
        "own": "42 %",
        "consensus": "55 %",
        "interval": "90 % credible interval: 45 % to 65 %",
        "spread": "3 answers: lowest 42 %, median 60 %, highest 70 %",
        "reasons": "Read 1 reason given by another expert",
        "keep": "Keep my previous answer",
        "kept": "Your previous answer is kept for Q02",
        "fallback": None,
    },
    "ko": {
        "go": "문항으로 이동",
        "submit": "제출",
        "submitted": "응답이 제출되었습니다",
        "own": "42%",
        "consensus": "55%",
        "interval": "90% 신용구간: 45%~65%",
        "spread": "응답 3개: 최저 42%, 중앙값 60%, 최고 70%",
        "reasons": "다른 전문가들이 제시한 근거 1개 읽기",
        "keep": "이전 응답 유지",
        "kept": "Q02 문항은 이전 응답을 유지했습니다",
        "fallback": "이 문항은 아직 한국어로 제공되지 않아 영어로 표시합니다.",
    },
}


@pytest.mark.parametrize("language", ["en", "ko"])
def test_two_rounds_independence_then_feedback_and_revision(
    live_server, settings, browser, transactional_db, quiet_broker, language
):
    settings.SITE_URL = live_server.url
    text = TEXTS[language]
    invitation = delphi_survey(language)
    questions = {q.code: q.id for q in invitation.survey_round.questions.all()}
    page = browser.new_page()

    # Round 1: the expert answers on their own; nothing of the others is on the page.
    page.goto(invitation_magic_link(invitation=invitation))
    expect(page.locator("html")).to_have_attribute("lang", language)
    page.get_by_role("link", name=text["go"]).click()
    html = page.content()
    for leak in (OTHER_R1, "Bob Miller", "60 %", "60%", 'class="dot"', "feedback"):
        assert leak not in html
    if text["fallback"]:
        expect(page.get_by_text(text["fallback"])).to_be_visible()
    page.locator(f"#id_q{questions['Q01']}_probability").fill("42")
    page.locator(f"#id_q{questions['Q01']}_rationale").fill("Basing is already agreed.")
    page.locator(f"#id_q{questions['Q02']}_probability").fill("15")
    for name, value in (("q05", "2"), ("q50", "5"), ("q95", "9")):
        page.locator(f"#id_q{questions['N01']}_{name}").fill(value)
    page.get_by_role("button", name=text["submit"], exact=True).click()
    expect(page.get_by_text(text["submitted"])).to_be_visible()

    # Round 2: the panel's round-1 feedback beside each question.
    invitation2 = round_two(invitation)
    page.goto(invitation_magic_link(invitation=invitation2))
    page.get_by_role("link", name=text["go"]).click()
    q01 = page.locator("#question-Q01")
    expect(q01.locator(".facts")).to_contain_text(text["own"])
    expect(q01.locator(".facts")).to_contain_text(text["consensus"])
    expect(q01).to_contain_text(text["interval"])
    figure = q01.locator("figure.spread")
    expect(figure.get_by_role("img")).to_be_visible()
    expect(figure.locator("figcaption")).to_contain_text(text["spread"])
    assert figure.locator("path.dots").get_attribute("d").count("h0") == 3  # one dot an answer
    q01.get_by_text(text["reasons"]).click()
    expect(q01.get_by_text(OTHER_R1)).to_be_visible()
    assert "Bob Miller" not in page.content()

    # Keep Q02 with one click; revise Q01 with a reason; keep N01; submit.
    page.locator("#question-Q02").get_by_role("button", name=text["keep"]).click()
    expect(page).to_have_url(re.compile(r"#question-Q02$"))
    expect(page.get_by_text(text["kept"])).to_be_visible()
    expect(page.locator(f"#id_q{questions['Q02']}_probability")).to_have_value("15")
    page.locator(f"#id_q{questions['Q01']}_probability").fill("50")
    page.locator(f"#id_q{questions['Q01']}_change_reason").fill("The panel's basing point.")
    page.locator("#question-N01").get_by_role("button", name=text["keep"]).click()
    page.get_by_role("button", name=text["submit"], exact=True).click()
    expect(page.get_by_text(text["submitted"])).to_be_visible()

    invitation2.refresh_from_db()
    assert invitation2.submitted_at is not None
    answers = {
        j.question.code: j
        for j in Judgment.objects.filter(survey_round=invitation2.survey_round).select_related(
            "question"
        )
    }
    assert answers["Q01"].probability == pytest.approx(0.5)
    assert answers["Q01"].change_reason == "The panel's basing point."
    assert answers["Q01"].revisions.get().change_reason == "The panel's basing point."
    assert answers["Q02"].probability == pytest.approx(0.15) and answers["Q02"].change_reason == ""
    assert (answers["N01"].q05, answers["N01"].q50, answers["N01"].q95) == (2, 5, 9)
    assert Expert.objects.get(id=invitation.expert_id).language == language
