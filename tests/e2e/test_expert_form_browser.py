"""The expert form in a real browser: magic link, slider and number in sync, submit.

Drives Debian's Chromium (``bin/ensure-chromium``) through Playwright's sync API against
pytest-django's live server, then checks the Judgment rows in the database.
"""

import re

import pytest
from playwright.sync_api import expect

from elicitation import services
from elicitation.links import invitation_magic_link
from elicitation.models import Invitation, Judgment, Question
from tests.elicitation.helpers import celery_broker, own_celery_queue

pytestmark = pytest.mark.browser


@pytest.fixture
def quiet_broker(broker_url):
    """Opening a round queues invitation emails: let them wait in a queue nobody reads."""
    with celery_broker(broker_url), own_celery_queue(broker_url, "consilium-browser-test"):
        yield


@pytest.fixture
def invitation(transactional_db, quiet_broker):
    survey = services.survey_create(title="Allied contributions", background="Thank you.")
    blockade = services.scenario_create(survey=survey, code="blockade", title="Blockade")
    services.question_create(
        survey=survey, code="Q01", text="Japan allows basing?", scenario=blockade
    )
    services.question_create(
        survey=survey, code="Q02", text="Korea sends ships?", scenario=blockade
    )
    services.question_create(
        survey=survey,
        code="N01",
        text="Australian ships?",
        kind=Question.Kind.NUMERIC,
        unit="ships",
        lower_bound=0,
        upper_bound=100,
    )
    expert = services.expert_create(survey=survey, name="Eun-ji Park", email="eunji@example.org")
    services.round_open(survey_round=services.round_create(survey=survey))
    return Invitation.objects.get(expert=expert)


def test_expert_fills_in_and_submits_the_form(live_server, settings, browser, invitation):
    settings.SITE_URL = live_server.url
    questions = {q.code: q for q in invitation.survey_round.questions.all()}
    page = browser.new_page()

    page.goto(invitation_magic_link(invitation=invitation))
    expect(page).to_have_url(re.compile(rf"/e/{invitation.id}/welcome/$"))  # token gone
    page.get_by_role("link", name="Go to the questions").click()
    expect(page.get_by_text("0 of 3 questions answered")).to_be_visible()

    q01 = questions["Q01"].id
    slider = page.locator(f'input[type=range][data-sync="id_q{q01}_probability"]')
    number = page.locator(f"#id_q{q01}_probability")
    expect(slider).to_be_visible()  # the script revealed it
    slider.fill("70")
    expect(number).to_have_value("70")
    slider.focus()
    page.keyboard.press("ArrowRight")  # keyboard use of the slider
    expect(number).to_have_value("71")
    number.fill("42")
    expect(slider).to_have_value("42")  # and back

    page.get_by_label("Probability that it happens (%)").nth(1).fill("12.5")
    n01 = questions["N01"].id
    page.locator(f"#id_q{n01}_q05").fill("2")
    page.locator(f"#id_q{n01}_q50").fill("6")
    page.locator(f"#id_q{n01}_q95").fill("15")
    page.locator(f"#id_q{q01}_rationale").fill("US bases are already there.")
    page.locator(f"#id_q{n01}_rationale").fill("Past deployments were small.")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_text("your answers are submitted")).to_be_visible()
    expect(page.get_by_text("3 of 3 questions answered")).to_be_visible()
    invitation.refresh_from_db()
    assert invitation.submitted_at is not None
    judgments = {j.question.code: j for j in Judgment.objects.select_related("question")}
    assert judgments["Q01"].probability == pytest.approx(0.42)
    assert judgments["Q01"].rationale == "US bases are already there."
    assert judgments["Q02"].probability == pytest.approx(0.125)
    n = judgments["N01"]
    assert (n.q05, n.q50, n.q95, n.rationale) == (2.0, 6.0, 15.0, "Past deployments were small.")


def test_errors_are_announced_and_linked_to_their_field(live_server, settings, browser, invitation):
    settings.SITE_URL = live_server.url
    q01 = invitation.survey_round.questions.get(code="Q01").id
    page = browser.new_page()
    page.goto(invitation_magic_link(invitation=invitation))
    page.get_by_role("link", name="Go to the questions").click()
    page.locator(f"#id_q{q01}_probability").fill("150")
    page.get_by_role("button", name="Save and come back later").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Q01: Enter a number between 0 and 100.")
    expect(summary).to_be_focused()
    summary.get_by_role("link").first.click()
    expect(page.locator(f"#id_q{q01}_probability")).to_be_focused()
    assert not Judgment.objects.exists()


def test_unanswered_sliders_show_no_position_until_set(live_server, settings, browser, invitation):
    """No anchor at 50 %: no thumb, "not answered" for screen readers, kept after an error."""
    settings.SITE_URL = live_server.url
    questions = {q.code: q.id for q in invitation.survey_round.questions.all()}
    page = browser.new_page()
    page.goto(invitation_magic_link(invitation=invitation))
    page.get_by_role("link", name="Go to the questions").click()

    sliders = {
        code: page.locator(f'input[type=range][data-sync="id_q{questions[code]}_probability"]')
        for code in ("Q01", "Q02")
    }
    for slider in sliders.values():
        expect(slider).to_be_visible()
        expect(slider).to_have_class(re.compile(r"\bunset\b"))
        expect(slider).to_have_attribute("aria-valuetext", "not answered")
    # No thumb drawn: the same slider looks different once the class that hides it goes.
    unset_look = sliders["Q02"].screenshot()
    sliders["Q02"].evaluate("s => s.classList.remove('unset')")
    assert sliders["Q02"].screenshot() != unset_look
    sliders["Q02"].evaluate("s => s.classList.add('unset')")
    expect(page.locator(f"#id_q{questions['Q01']}_probability")).to_have_value("")

    sliders["Q01"].focus()
    page.keyboard.press("ArrowRight")  # the keyboard sets it, and then it shows
    expect(sliders["Q01"]).not_to_have_class(re.compile(r"\bunset\b"))
    value = page.locator(f"#id_q{questions['Q01']}_probability").input_value()
    expect(sliders["Q01"]).to_have_attribute("aria-valuetext", f"{value} %")
    page.locator(f"#id_q{questions['Q01']}_probability").fill("")
    expect(sliders["Q01"]).to_have_class(re.compile(r"\bunset\b"))  # cleared: unset again

    # The hidden thumb sits at 50, but no first interaction starts from there: the first
    # key starts from the end it moves away from, not 50 + 1 ...
    number = page.locator(f"#id_q{questions['Q01']}_probability")
    for key, expected in (("ArrowRight", "1"), ("ArrowLeft", "99"), ("End", "100")):
        number.fill("")
        sliders["Q01"].focus()
        page.keyboard.press(key)
        expect(number).to_have_value(expected)
        expect(sliders["Q01"]).to_have_attribute("aria-valuetext", f"{expected} %")
    page.keyboard.press("ArrowLeft")  # ... and later keys step as usual
    expect(number).to_have_value("99")
    # ... and a click exactly at the middle (no input event: the value stays 50) sets 50.
    number.fill("")
    sliders["Q01"].click()  # at the centre of the slider
    expect(number).to_have_value("50")
    expect(sliders["Q01"]).not_to_have_class(re.compile(r"\bunset\b"))
    box = sliders["Q01"].bounding_box()
    number.fill("")
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    assert 70 <= int(number.input_value()) <= 90  # where it was clicked, give or take the thumb
    number.fill("")

    # A failed save keeps what was typed; the unanswered one stays unset.
    page.locator(f"#id_q{questions['Q01']}_probability").fill("30")
    page.locator(f"#id_q{questions['Q01']}_rationale").fill("Bases matter.")
    page.locator(f"#id_q{questions['N01']}_q05").fill("9")
    page.locator(f"#id_q{questions['N01']}_q50").fill("6")
    page.locator(f"#id_q{questions['N01']}_q95").fill("15")
    page.get_by_role("button", name="Save and come back later").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator(f"#id_q{questions['Q01']}_probability")).to_have_value("30")
    expect(page.locator(f"#id_q{questions['Q01']}_rationale")).to_have_value("Bases matter.")
    expect(page.locator(f"#id_q{questions['N01']}_q05")).to_have_value("9")
    expect(sliders["Q01"]).to_have_value("30")
    expect(sliders["Q02"]).to_have_class(re.compile(r"\bunset\b"))
    assert not Judgment.objects.exists()
