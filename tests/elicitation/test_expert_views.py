"""The expert's pages through the HTTP client: the magic link, the form, refusals."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from elicitation import services
from elicitation.models import Judgment, JudgmentRevision
from tests.elicitation.helpers import answers_post, client_with_link, expire, form_url, link_path


def test_magic_link_opens_a_token_free_welcome_page(client, invitation):
    response = client.get(link_path(invitation))
    assert response.status_code == 302
    welcome = reverse("elicitation:expert-welcome", args=[invitation.id])
    assert response.url == welcome  # no token in the URL the browser keeps
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = client.get(welcome)
    assert page.status_code == 200
    assert b"<strong>this</strong>" in page.content  # background rendered from Markdown
    assert b"<script>alert" not in page.content  # and sanitised
    assert b"panel@example.org" in page.content  # whom to ask
    invitation.refresh_from_db()
    assert invitation.first_opened_at is not None


def test_form_lists_every_question_grouped_by_scenario(expert_client, invitation, questions):
    response = expert_client.get(form_url(invitation))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Scenario: Blockade" in html and "General questions" in html
    for question in questions.values():
        assert question.text in html
    assert f'<label for="id_q{questions["Q01"].id}_probability">' in html
    assert 'type="range"' in html and "hidden" in html  # the slider waits for JS
    assert "ships" in html  # the unit of the numeric question
    assert "0 of 3 questions answered" in html


def test_no_probability_is_preset_on_unanswered_questions(expert_client, invitation, questions):
    """No anchor: an unanswered probability has no value and its slider no position."""
    q01, q02 = questions["Q01"], questions["Q02"]
    expert_client.post(form_url(invitation), {f"q{q01.id}_probability": "35", "save": "1"})
    html = expert_client.get(form_url(invitation)).content.decode()
    numbers = {
        code: re.search(rf'<input type="number" name="q{q.id}_probability"[^>]*>', html).group(0)
        for code, q in (("Q01", q01), ("Q02", q02))
    }
    assert 'value="35"' in numbers["Q01"]
    assert 'value=""' in numbers["Q02"]  # unanswered: empty
    sliders = re.findall(r'<input type="range"[^>]*>', html)
    assert len(sliders) == 2
    for slider in sliders:
        assert "value=" not in slider  # the script sets it from the number, if any
        assert 'data-unset-text="not answered"' in slider


def test_a_failed_save_keeps_everything_typed(expert_client, invitation, questions):
    q01, q02 = questions["Q01"], questions["Q02"]
    overrides = {f"q{q01.id}_probability": "150", f"q{q02.id}_rationale": "Ships are few."}
    response = _post_bad(expert_client, invitation, questions, overrides)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="150"' in html and 'value="12.5"' in html
    assert 'value="2"' in html and 'value="6"' in html and 'value="15"' in html
    assert "Bases matter." in html and "Ships are few." in html and "Past deployments." in html


def test_save_partial_answers_then_come_back(expert_client, invitation, questions):
    q01, n01 = questions["Q01"], questions["N01"]
    data = {f"q{q01.id}_probability": "35", f"q{q01.id}_rationale": "Bases matter.", "save": "1"}
    response = expert_client.post(form_url(invitation), data)
    assert response.status_code == 302
    judgment = Judgment.objects.get(expert=invitation.expert, question=q01)
    assert judgment.probability == pytest.approx(0.35)
    assert judgment.rationale == "Bases matter."
    assert not Judgment.objects.filter(question=n01).exists()
    invitation.refresh_from_db()
    assert invitation.submitted_at is None
    page = expert_client.get(form_url(invitation)).content.decode()
    assert 'value="35"' in page and "1 of 3 questions answered" in page


def test_submit_saves_everything_and_marks_the_invitation(expert_client, invitation, questions):
    response = expert_client.post(form_url(invitation), {**answers_post(questions), "submit": "1"})
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.submitted_at is not None
    numeric = Judgment.objects.get(expert=invitation.expert, question=questions["N01"])
    assert (numeric.q05, numeric.q50, numeric.q95) == (2.0, 6.0, 15.0)
    assert numeric.probability is None
    assert Judgment.objects.get(question=questions["Q02"]).probability == pytest.approx(0.125)


def test_revising_after_submit_keeps_the_history(expert_client, invitation, questions):
    expert_client.post(form_url(invitation), {**answers_post(questions), "submit": "1"})
    q01 = questions["Q01"]
    revised = answers_post(questions, **{f"q{q01.id}_probability": "60"})
    response = expert_client.post(form_url(invitation), {**revised, "save": "1"})
    assert response.status_code == 302
    judgment = Judgment.objects.get(expert=invitation.expert, question=q01)
    assert judgment.probability == pytest.approx(0.6)
    assert [r.probability for r in judgment.revisions.all()] == [0.35, 0.6]
    # Unchanged answers got no new revision.
    assert JudgmentRevision.objects.filter(judgment__question=questions["Q02"]).count() == 1


def _post_bad(client, invitation, questions, overrides, action="save"):
    data = {**answers_post(questions), **overrides, action: "1"}
    return client.post(form_url(invitation), data)


@pytest.mark.parametrize(
    ("code", "field", "value", "message"),
    [
        ("Q01", "probability", "150", "between 0 and 100"),
        ("Q01", "probability", "-3", "between 0 and 100"),
        ("Q01", "probability", "abc", "from 0 to 100"),
        ("Q01", "probability", "nan", "from 0 to 100"),
        ("Q01", "probability", "1e400", "from 0 to 100"),
        ("N01", "q05", "10", "cannot be above the median"),
        ("N01", "q95", "5", "cannot be below the median"),
        ("N01", "q95", "250", "between 0 and 100"),
        ("N01", "q05", "-1", "between 0 and 100"),
        ("N01", "q50", "six", "Enter a number"),
        ("N01", "q50", "", "all three values"),
        ("Q01", "rationale", "x" * 5001, "under 5000 characters"),
    ],
)
def test_bad_input_is_explained_and_changes_nothing(
    expert_client, invitation, questions, code, field, value, message
):
    name = f"q{questions[code].id}_{field}"
    response = _post_bad(expert_client, invitation, questions, {name: value})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    assert message in html
    assert f'href="#id_{name}"' in html  # the summary links to the field
    help_id = f"q{questions[code].id}-help " if code == "N01" and field != "rationale" else ""
    assert f'aria-describedby="{help_id}id_{name}-error"' in html
    assert 'aria-invalid="true"' in html
    assert not Judgment.objects.exists()


def test_submit_with_missing_answers_lists_them_and_saves_nothing(
    expert_client, invitation, questions
):
    q02, n01 = questions["Q02"], questions["N01"]
    data = answers_post(
        questions,
        **{
            f"q{q02.id}_probability": "",
            f"q{n01.id}_q05": "",
            f"q{n01.id}_q50": "",
            f"q{n01.id}_q95": "",
            f"q{n01.id}_rationale": "",
        },
    )
    response = expert_client.post(form_url(invitation), {**data, "submit": "1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Q02: Answer this question before you submit." in html
    assert "N01: Answer this question before you submit." in html
    assert not Judgment.objects.exists()
    invitation.refresh_from_db()
    assert invitation.submitted_at is None


def test_a_saved_answer_cannot_be_emptied(expert_client, invitation, questions):
    expert_client.post(form_url(invitation), {**answers_post(questions), "save": "1"})
    q01 = questions["Q01"]
    response = _post_bad(expert_client, invitation, questions, {f"q{q01.id}_probability": ""})
    assert response.status_code == 400
    assert "cannot be left empty" in response.content.decode()
    assert Judgment.objects.get(question=q01).probability == pytest.approx(0.35)


def test_rationale_without_an_answer_asks_for_the_answer(expert_client, invitation, questions):
    q02 = questions["Q02"]
    data = {f"q{q02.id}_probability": "", f"q{q02.id}_rationale": "Thoughts", "save": "1"}
    response = expert_client.post(form_url(invitation), data)
    assert response.status_code == 400
    assert "so that your rationale can be saved" in response.content.decode()
    assert not Judgment.objects.exists()


def test_closed_round_is_read_only_and_refuses_writes(expert_client, invitation, questions):
    expert_client.post(form_url(invitation), {**answers_post(questions), "submit": "1"})
    services.round_close(survey_round=invitation.survey_round)
    page = expert_client.get(form_url(invitation))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Thank you." in html and '<form method="post" novalidate' not in html
    assert "Your answer: 35 %" in html
    changed = answers_post(questions, **{f"q{questions['Q01'].id}_probability": "90"})
    response = expert_client.post(form_url(invitation), {**changed, "save": "1"})
    assert response.status_code == 409
    assert "not saved: this round is closed" in response.content.decode()
    judgment = Judgment.objects.get(question=questions["Q01"])
    judgment.refresh_from_db()
    assert judgment.probability == pytest.approx(0.35)
    assert judgment.revisions.count() == 1


def test_a_link_cannot_open_another_experts_invitation(client, invitation, other_invitation):
    # Expert A's token, expert B's invitation id in the URL.
    token_query = link_path(invitation).split("?", 1)[1]
    response = client.get(f"/e/{other_invitation.id}/?{token_query}")
    assert response.status_code == 403
    assert "This link is not valid" in response.content.decode()
    assert client.get(form_url(other_invitation)).status_code == 403


def test_expert_a_cannot_read_or_write_expert_bs_answers(
    expert_client, invitation, other_invitation, questions
):
    services.judgment_save(
        invitation=other_invitation,
        question=questions["Q01"],
        probability=0.77,
        rationale="Bob's secret reasoning",
    )
    page = expert_client.get(form_url(other_invitation))
    assert page.status_code == 403
    assert b"Bob's secret" not in page.content and b"77" not in page.content
    own = expert_client.get(form_url(invitation)).content.decode()
    assert "Bob&#x27;s secret" not in own and "Bob's secret" not in own
    data = answers_post(questions, **{f"q{questions['Q01'].id}_probability": "5"})
    response = expert_client.post(form_url(other_invitation), {**data, "save": "1"})
    assert response.status_code == 403
    bob = Judgment.objects.get(expert=other_invitation.expert)
    assert bob.probability == pytest.approx(0.77)
    assert not Judgment.objects.filter(expert=invitation.expert).exists()


def test_another_surveys_link_is_refused(client, invitation, foreign_invitation):
    token_query = link_path(foreign_invitation).split("?", 1)[1]
    response = client.get(f"/e/{invitation.id}/?{token_query}")
    assert response.status_code == 403
    foreign_client = client_with_link(foreign_invitation)
    assert foreign_client.get(form_url(invitation)).status_code == 403


def test_an_expired_invitation_is_refused_with_410(client, invitation):
    expire(invitation)
    response = client.get(link_path(invitation))
    assert response.status_code == 410
    html = response.content.decode()
    assert "This invitation has expired" in html and "panel@example.org" in html


def test_an_invitation_that_expires_after_opening_is_refused(expert_client, invitation, questions):
    expire(invitation)
    response = expert_client.post(form_url(invitation), {**answers_post(questions), "save": "1"})
    assert response.status_code == 410
    assert not Judgment.objects.exists()


@pytest.mark.parametrize("token", ["", "garbage", "A" * 40])
def test_a_bad_token_is_refused(client, invitation, token):
    response = client.get(f"/e/{invitation.id}/?t={token}")
    assert response.status_code == 403
    assert "ask the organizer who invited you" in response.content.decode()


def test_a_token_older_than_its_max_age_is_refused(client, invitation, settings):
    path = link_path(invitation)
    settings.SESAME_MAX_AGE = -1  # every token is now too old
    assert client.get(path).status_code == 403


def test_pages_without_having_opened_the_link_are_refused(invitation):
    client = Client()
    for url in (form_url(invitation), reverse("elicitation:expert-welcome", args=[invitation.id])):
        response = client.get(url)
        assert response.status_code == 403
        assert "Open the personal link from your own invitation email" in response.content.decode()


def test_opening_another_experts_link_forgets_the_first(
    expert_client, invitation, other_invitation
):
    """A shared computer: once B's link is opened, A's answers are no longer reachable."""
    assert expert_client.get(link_path(other_invitation)).status_code == 302
    assert expert_client.get(form_url(invitation)).status_code == 403
    assert expert_client.get(form_url(other_invitation)).status_code == 200


def test_expert_pages_use_the_experts_language(survey, open_round, questions):
    expert = services.expert_create(
        survey=survey, name="Kim", email="kim@example.org", language="ko"
    )
    survey_round = services.round_create(survey=survey)
    services.round_close(survey_round=open_round)
    services.round_open(survey_round=survey_round)
    invitation = expert.invitations.get(survey_round=survey_round)
    response = client_with_link(invitation).get(form_url(invitation))
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "ko"
    assert '<html lang="ko">' in response.content.decode()


def test_a_bookmarked_entry_url_without_token_continues_in_the_same_browser(
    expert_client, invitation
):
    response = expert_client.get(reverse("elicitation:expert-entry", args=[invitation.id]))
    assert response.status_code == 302
    assert response.url.endswith("/welcome/")
