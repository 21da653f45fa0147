"""Follow-up rounds: what an expert sees of the previous round, keeping or revising an
answer, the moderation of rationales, and what stays hidden.

Round 1 (fixtures ``round1``/``round2``) has three experts who submitted: E001 (``expert``,
ROK), E002 (``other_expert``, US) and E003 (``third_expert``, US); ROUND1 in helpers lists
their answers. Model results are QuestionResult rows made directly (no sampler).
"""

import re

import pytest
from django.urls import reverse

from elicitation import services
from elicitation.models import Invitation, Judgment, JudgmentRevision, Round
from tests.elicitation.helpers import ROUND1, client_with_link, form_url, succeeded_run


def _page(client, invitation) -> str:
    response = client.get(form_url(invitation))
    assert response.status_code == 200
    return response.content.decode()


def test_a_follow_up_round_feeds_back_the_latest_closed_round(round1, round2, survey):
    assert round2.feedback_round == round1
    assert round1.feedback_round is None  # a first round shows nothing of anyone


def test_the_organizer_picks_the_feedback_when_opening(round1, organizer_client, survey):
    draft = services.round_create(survey=survey)
    response = organizer_client.post(
        reverse("elicitation:round-open", args=[draft.id]),
        {
            "questions": list(survey.questions.values_list("id", flat=True)),
            "link_days": "14",
            "show_consensus": "on",
            "show_cohorts": "on",
        },
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.feedback_round_id) == (Round.Status.OPEN, round1.id)
    assert (draft.show_consensus, draft.show_spread, draft.show_cohorts) == (True, False, True)
    assert draft.show_rationales is False


def test_round_two_shows_own_answer_consensus_spread_and_others_rationales(
    expert_client2, invitation2, round1
):
    succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.18, 0.1, 0.3, 0.6)})
    html = _page(expert_client2, invitation2)
    q01 = re.search(r'id="question-Q01".*?</fieldset>', html, flags=re.S).group(0)
    assert "Round 1: your answer and the panel" in q01
    assert "<strong>30 %</strong>" in q01  # own round-1 answer
    assert "<strong>55 %</strong>" in q01 and "90 % credible interval: 45 % to 65 %" in q01
    assert 'role="img"' in q01 and "3 answers: lowest 30 %, median 60 %, highest 70 %" in q01
    dots = re.search(r'<path d="([^"]*)" class="dots"', q01).group(1)
    assert dots.count("h0") == 3  # one dot an answer
    assert "OTHER-R1-RATIONALE" in q01 and "60 %" in q01
    assert "Own round-1 reason." not in re.search(
        r"<details class=\"rationales\">.*?</details>", q01, flags=re.S
    ).group(0)
    assert 'name="keep" value="' in q01
    # Nothing names or codes another expert.
    for name in ("Bob Miller", "Chen Wei", "E002", "E003"):
        assert name not in html


def test_numeric_questions_show_the_panel_medians(expert_client2, invitation2, round1):
    html = _page(expert_client2, invitation2)
    n01 = re.search(r'id="question-N01".*?</fieldset>', html, flags=re.S).group(0)
    assert "Panel median of the best estimates" in n01
    assert "<strong>6</strong>" in n01  # median of 5, 6, 8
    assert "median of the 5 % values: 3; of the 95 % values: 12" in n01


def test_without_a_model_run_the_median_is_shown_and_the_page_says_so(
    expert_client2, invitation2, round1
):
    html = _page(expert_client2, invitation2)
    assert "not available yet, so the median of the answers is shown instead" in html
    q01 = re.search(r'id="question-Q01".*?</fieldset>', html, flags=re.S).group(0)
    assert "Panel median" in q01 and "<strong>60 %</strong>" in q01


def test_a_hidden_rationale_never_reaches_the_experts(
    organizer_client, expert_client2, invitation2, round1
):
    judgment = Judgment.objects.get(survey_round=round1, rationale="OTHER-R1-RATIONALE")
    url = reverse("elicitation:rationale-visibility", args=[round1.id, judgment.id])
    response = organizer_client.post(url, {"hidden": "1"})
    assert response.status_code == 302
    judgment.refresh_from_db()
    assert judgment.rationale_hidden
    assert "OTHER-R1-RATIONALE" not in _page(expert_client2, invitation2)
    moderation = organizer_client.get(reverse("elicitation:round-rationales", args=[round1.id]))
    assert "OTHER-R1-RATIONALE" in moderation.content.decode()
    assert "Show it again" in moderation.content.decode()
    organizer_client.post(url, {"hidden": "0"})
    judgment.refresh_from_db()
    assert not judgment.rationale_hidden


def test_a_hidden_rationale_stays_hidden_when_its_author_keeps_the_answer(
    organizer_client, survey, questions, round1, round2, other_expert, third_expert
):
    judgment = Judgment.objects.get(survey_round=round1, rationale="OTHER-R1-RATIONALE")
    organizer_client.post(
        reverse("elicitation:rationale-visibility", args=[round1.id, judgment.id]),
        {"hidden": "1"},
    )
    author_invitation = Invitation.objects.get(survey_round=round2, expert=other_expert)
    client_with_link(author_invitation).post(form_url(author_invitation), {"keep": "all"})
    kept = Judgment.objects.get(
        survey_round=round2, expert=other_expert, rationale="OTHER-R1-RATIONALE"
    )
    assert kept.rationale_hidden
    # round 2 closes, round 3 feeds it back: the text does not come back through the copy
    services.invitation_submit(invitation=author_invitation)
    services.round_close(survey_round=round2)
    round3 = services.round_open(survey_round=services.round_create(survey=survey))
    reader = Invitation.objects.get(survey_round=round3, expert=third_expert)
    assert "OTHER-R1-RATIONALE" not in _page(client_with_link(reader), reader)


def test_moderation_is_for_the_survey_organizers_only(client, other_staff, round1):
    judgment = Judgment.objects.get(survey_round=round1, rationale="OTHER-R1-RATIONALE")
    client.force_login(other_staff)
    url = reverse("elicitation:rationale-visibility", args=[round1.id, judgment.id])
    assert client.post(url, {"hidden": "1"}).status_code == 404
    assert client.get(reverse("elicitation:round-rationales", args=[round1.id])).status_code == 404
    judgment.refresh_from_db()
    assert not judgment.rationale_hidden


def test_an_expert_who_did_not_submit_round_one_answers_alone_first(
    survey, questions, round1, round2
):
    newcomer = services.expert_create(survey=survey, name="Dana Late", email="dana@example.org")
    invitation = Invitation.objects.create(
        expert=newcomer, survey_round=round2, expires_at=round2.invitations.first().expires_at
    )
    client = client_with_link(invitation)
    html = _page(client, invitation)
    assert "so you first answer this round on your own" in html
    assert "OTHER-R1-RATIONALE" not in html and 'class="dots"' not in html
    data = {
        f"q{questions['Q01'].id}_probability": "40",
        f"q{questions['Q02'].id}_probability": "20",
        f"q{questions['N01'].id}_q05": "1",
        f"q{questions['N01'].id}_q50": "4",
        f"q{questions['N01'].id}_q95": "9",
        "submit": "1",
    }
    assert client.post(form_url(invitation), data).status_code == 302
    assert "OTHER-R1-RATIONALE" in _page(client, invitation)  # now it may revise


def test_keep_my_previous_answer_copies_it_exactly_on_the_server(
    expert_client2, invitation2, round1, questions
):
    q01 = questions["Q01"]
    response = expert_client2.post(form_url(invitation2), {"keep": str(q01.id)})
    assert response.status_code == 302
    assert response["Location"].endswith("#question-Q01")
    judgment = Judgment.objects.get(survey_round=invitation2.survey_round, question=q01)
    assert judgment.probability == ROUND1["E001"]["Q01"]
    assert judgment.rationale == "Own round-1 reason."
    assert judgment.change_reason == ""
    assert "Your previous answer is kept for Q01" in _page(expert_client2, invitation2)


def test_keep_all_fills_every_unanswered_question(expert_client2, invitation2, questions):
    response = expert_client2.post(form_url(invitation2), {"keep": "all"})
    assert response.status_code == 302
    kept = Judgment.objects.filter(survey_round=invitation2.survey_round, expert=invitation2.expert)
    assert kept.count() == 3
    n01 = kept.get(question=questions["N01"])
    assert (n01.q05, n01.q50, n01.q95) == (2, 5, 10)


def test_a_revision_stores_why_the_expert_changed(expert_client2, invitation2, questions):
    q01, q02, n01 = (questions[c].id for c in ("Q01", "Q02", "N01"))
    data = {
        f"q{q01}_probability": "45",
        f"q{q01}_change_reason": "The panel's point about basing rights convinced me.",
        f"q{q02}_probability": "10",
        f"q{n01}_q05": "2",
        f"q{n01}_q50": "5",
        f"q{n01}_q95": "10",
        "submit": "1",
    }
    assert expert_client2.post(form_url(invitation2), data).status_code == 302
    judgment = Judgment.objects.get(survey_round=invitation2.survey_round, question_id=q01)
    assert judgment.probability == pytest.approx(0.45)
    assert judgment.change_reason.startswith("The panel's point")
    revision = JudgmentRevision.objects.get(judgment=judgment)
    assert revision.change_reason == judgment.change_reason
    invitation2.refresh_from_db()
    assert invitation2.submitted_at is not None


def test_cohort_results_are_shown_only_for_cohorts_large_enough(
    settings, expert_client2, invitation2, round2
):
    settings.REPORT_MIN_COHORT_SIZE = 2  # US has 2 experts, ROK 1
    Round.objects.filter(id=round2.id).update(show_cohorts=True)
    html = _page(expert_client2, invitation2)
    n01 = re.search(r'id="question-N01".*?</fieldset>', html, flags=re.S).group(0)
    assert "Each group&#x27;s result" in n01 or "Each group's result" in n01
    assert ">US<" in n01 and ">ROK<" not in n01


def test_feedback_switched_off_shows_no_spread_nor_rationales(expert_client2, invitation2, round2):
    Round.objects.filter(id=round2.id).update(show_spread=False, show_rationales=False)
    html = _page(expert_client2, invitation2)
    assert 'class="dots"' not in html and "OTHER-R1-RATIONALE" not in html
    assert "<strong>30 %</strong>" in html  # the own answer is always there


def test_a_closed_round_page_shows_no_feedback(invitation2, expert_client2, round2):
    services.round_close(survey_round=round2)
    html = _page(expert_client2, invitation2)
    assert "This round is closed" in html and "OTHER-R1-RATIONALE" not in html
