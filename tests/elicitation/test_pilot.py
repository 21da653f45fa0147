"""Pilot mode: previews that save nothing, pilot rounds whose answers reach no reader
(runs, scores, feedback, exports, reports), the one-step wipe, and who may do these."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from aggregation import selectors as aggregation_selectors
from aggregation.models import AggregationRun
from elicitation import consent, pilot, services
from elicitation.feedback import invitation_feedback, previous_round_panel
from elicitation.models import (
    ConsentResponse,
    Expert,
    ExpertContact,
    Invitation,
    Judgment,
    JudgmentRevision,
    Round,
)
from resolution import scores
from resolution import selectors as resolution_selectors
from tests.elicitation.helpers import ROUND1, answers_post, answers_submit, client_with_link

PILOT_RATIONALE = "PILOT-ONLY-RATIONALE"
PILOT_ANSWER = {"Q01": 0.987, "Q02": 0.654, "N01": (77, 88, 99), "rationale": PILOT_RATIONALE}


@pytest.fixture
def pilot_round(survey, questions, expert, other_expert):
    """A closed pilot round: the expert answered and submitted."""
    survey_round = services.round_create(survey=survey, is_pilot=True)
    services.round_open(survey_round=survey_round, experts=[expert])
    invitation = Invitation.objects.get(survey_round=survey_round, expert=expert)
    answers_submit(invitation, questions, PILOT_ANSWER)
    return services.round_close(survey_round=survey_round)


@pytest.fixture
def real_round(pilot_round, survey, questions, expert, other_expert, third_expert):
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    for panelist in (expert, other_expert, third_expert):
        invitation = Invitation.objects.get(survey_round=survey_round, expert=panelist)
        answers_submit(invitation, questions, ROUND1[panelist.code])
    return services.round_close(survey_round=survey_round)


def test_a_pilot_round_requests_no_run_and_reads_as_empty(pilot_round):
    assert not AggregationRun.objects.filter(survey_round=pilot_round).exists()
    assert not aggregation_selectors.round_judgments_submitted(survey_round=pilot_round).exists()
    assert not aggregation_selectors.round_binary_judgments(survey_round=pilot_round).exists()
    assert not aggregation_selectors.round_numeric_judgments(survey_round=pilot_round).exists()
    assert Judgment.objects.filter(survey_round=pilot_round).count() == 3  # kept, not counted


def test_pilot_answers_reach_no_later_round(real_round, pilot_round, survey, questions, expert):
    # the real round's runs read its own answers, none of the pilot's
    table = aggregation_selectors.judgment_table_for_round(
        survey_round=real_round, cohort_attribute="nationality"
    )
    assert 0.987 not in set(table.frame["probability"])
    numeric = aggregation_selectors.numeric_data_for_round(
        survey_round=real_round, cohort_attribute="nationality"
    )
    assert 88 not in set(numeric.table.frame["q50"])
    assert aggregation_selectors.round_previous_closed(survey_round=real_round) is None
    # the next round's feedback is the real round's, never the pilot's
    follow_up = services.round_open(survey_round=services.round_create(survey=survey))
    assert follow_up.feedback_round == real_round
    panel = previous_round_panel(real_round)
    rationales = [a.rationale for answers in panel.answers.values() for a in answers]
    assert PILOT_RATIONALE not in rationales
    invitation = Invitation.objects.get(survey_round=follow_up, expert=expert)
    feedback = invitation_feedback(invitation=invitation, language="en")
    assert all(item.own is None or item.own.survey_round_id == real_round.id
               for item in feedback.questions.values())  # fmt: skip
    page = client_with_link(invitation).get(
        reverse("elicitation:expert-form", args=[invitation.id])
    )
    assert PILOT_RATIONALE not in page.content.decode()


def test_a_round_after_only_a_pilot_shows_no_feedback(pilot_round, survey, expert):
    next_round = services.round_open(survey_round=services.round_create(survey=survey))
    assert next_round.feedback_round is None
    invitation = Invitation.objects.get(survey_round=next_round, expert=expert)
    assert invitation_feedback(invitation=invitation, language="en").visible is False


def test_pilot_answers_are_not_scored(real_round, pilot_round, survey):
    assert resolution_selectors.survey_rounds_scored(survey=survey) == [real_round]
    assert scores.round_table(survey_round=pilot_round) is None


def test_pilot_answers_appear_in_no_export_or_report(
    real_round, pilot_round, organizer_client, survey
):
    for survey_round in (pilot_round, real_round):
        for name in ("aggregation:round-judgments-csv", "aggregation:round-report"):
            response = organizer_client.get(reverse(name, args=[survey_round.id]))
            assert response.status_code == 200
            body = response.content.decode("utf-8-sig")
            assert PILOT_RATIONALE not in body
            assert "98.7" not in body and "0.987" not in body
    wording_csv = organizer_client.get(
        reverse("elicitation:round-wording-csv", args=[pilot_round.id])
    ).content.decode("utf-8-sig")
    assert wording_csv.strip().count("\n") == 0  # the header alone
    scores_page = organizer_client.get(reverse("resolution:survey-scores", args=[survey.id]))
    assert scores_page["Location"].endswith(
        reverse("resolution:round-scores", args=[real_round.id])
    )


def test_wipe_deletes_the_pilot_and_nothing_else(real_round, pilot_round, survey, organizer_client):
    real_answers = Judgment.objects.filter(survey_round=real_round).count()
    response = organizer_client.post(
        reverse("elicitation:pilot-wipe", args=[survey.id]), {"confirm": "on"}, follow=True
    )
    assert response.status_code == 200
    assert (
        "Pilot data wiped: 1 pilot round(s), 3 answer(s) and 0 test expert(s) invited to pilot "
        "rounds only deleted." in response.content.decode()
    )  # the pilot's one expert also answered the real round: they stay
    assert not Round.objects.filter(is_pilot=True).exists()
    assert not Judgment.objects.filter(survey_round_id=pilot_round.id).exists()
    assert not JudgmentRevision.objects.filter(judgment__survey_round_id=pilot_round.id).exists()
    assert Judgment.objects.filter(survey_round=real_round).count() == real_answers


def test_wipe_removes_the_experts_invited_to_pilot_rounds_only(
    real_round, pilot_round, survey, questions, expert, organizer_client
):
    tester = services.expert_create(survey=survey, name="Test Person", email="test@example.org")
    not_yet_invited = services.expert_create(survey=survey, name="Later", email="l@example.org")
    second_pilot = services.round_create(survey=survey, is_pilot=True)
    services.round_open(survey_round=second_pilot, experts=[tester, expert])
    answers_submit(
        Invitation.objects.get(survey_round=second_pilot, expert=tester), questions, PILOT_ANSWER
    )
    survey_page = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    assert "1 expert was invited to pilot rounds only" in survey_page.content.decode()
    assert pilot.survey_pilot_counts(survey=survey)["experts"] == 1
    tester_user_id, tester_code = tester.user_id, tester.code
    response = organizer_client.post(
        reverse("elicitation:pilot-wipe", args=[survey.id]),
        {"confirm": "on", "remove_testers": "on"},
        follow=True,
    )
    assert "and 1 test expert(s) invited to pilot rounds only deleted" in (
        response.content.decode()
    )
    assert not Expert.objects.filter(id=tester.id).exists()
    assert not ExpertContact.objects.filter(email="test@example.org").exists()
    assert not get_user_model().objects.filter(id=tester_user_id).exists()
    assert not Invitation.objects.filter(expert_id=tester.id).exists()
    assert not Judgment.objects.filter(expert_id=tester.id).exists()
    # on the panel: an expert of the real round (also in the pilots), one not invited yet
    remaining = set(survey.experts.values_list("id", flat=True))
    assert {expert.id, not_yet_invited.id} <= remaining and tester.id not in remaining
    assert Invitation.objects.filter(expert=expert, survey_round=real_round).exists()
    assert get_user_model().objects.filter(id=expert.user_id).exists()
    assert (
        tester_code
        not in organizer_client.get(
            reverse("elicitation:survey-detail", args=[survey.id])
        ).content.decode()
    )


def test_the_wipe_confirmation_names_the_test_experts(pilot_round, survey, organizer_client):
    page = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    html = page.content.decode()
    assert "1 expert was invited to pilot rounds only" in html
    # removing them is its own checkbox, unticked
    assert 'name="remove_testers"' in html and "Also delete the experts invited" in html
    assert 'name="remove_testers" checked' not in html


def test_wipe_needs_the_confirmation(pilot_round, survey, organizer_client):
    response = organizer_client.post(reverse("elicitation:pilot-wipe", args=[survey.id]), {},
                                     follow=True)  # fmt: skip
    assert "tick the box" in response.content.decode()
    assert Round.objects.filter(id=pilot_round.id).exists()


def test_wipe_without_pilot_says_so(survey, organizer_client):
    response = organizer_client.post(
        reverse("elicitation:pilot-wipe", args=[survey.id]), {"confirm": "on"}, follow=True
    )
    assert "no pilot round" in response.content.decode()


def test_wipe_removes_consent_given_in_the_pilot(survey, questions, expert, organizer_client):
    version = consent.consent_version_save(survey=survey, text="Terms.")
    survey_round = services.round_create(survey=survey, is_pilot=True)
    services.round_open(survey_round=survey_round, experts=[expert])
    invitation = Invitation.objects.get(survey_round=survey_round)
    consent.consent_respond(invitation=invitation, version_id=version.id, accepted=True)
    pilot.pilot_wipe(survey=survey)
    assert not ConsentResponse.objects.exists()


def test_only_the_surveys_organizers_wipe(pilot_round, survey, client, other_staff, member):
    url = reverse("elicitation:pilot-wipe", args=[survey.id])
    client.force_login(other_staff)
    assert client.post(url, {"confirm": "on"}).status_code == 404
    client.force_login(member)
    assert client.post(url, {"confirm": "on"}).status_code == 403
    assert Round.objects.filter(id=pilot_round.id).exists()


def test_organizer_creates_a_pilot_round(survey, organizer_client):
    response = organizer_client.post(
        reverse("elicitation:round-create", args=[survey.id]), {"is_pilot": "on"}
    )
    assert response.status_code == 302
    assert survey.rounds.get().is_pilot


# --- Preview ----------------------------------------------------------------------------------


def preview(survey_round, language="en", page="welcome") -> str:
    return reverse("elicitation:round-preview", args=[survey_round.id, language, page])


@pytest.fixture
def draft_round(survey, questions):
    return services.round_create(survey=survey)


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("page", ["welcome", "consent", "declined", "form"])
def test_preview_of_every_page_in_both_languages(
    organizer_client, draft_round, survey, language, page
):
    consent.consent_version_save(survey=survey, text="Terms.", text_ko="약관.")
    response = organizer_client.get(preview(draft_round, language, page))
    assert response.status_code == 200
    assert response["Content-Language"] == language
    html = response.content.decode()
    assert f'<html lang="{language}">' in html
    assert "preview-banner" in html
    if page == "form":
        assert "Will Japan allow US basing?" in html  # a draft shows the askable questions
    if (page, language) == ("welcome", "en"):
        assert "There are 3 questions." in html
        assert "Welcome, (name)." in html
    assert not Invitation.objects.exists()


def test_preview_posts_save_nothing(organizer_client, open_round, questions, survey):
    consent.consent_version_save(survey=survey, text="Terms.")
    before = (Judgment.objects.count(), Invitation.objects.count())
    response = organizer_client.post(preview(open_round, "en", "form"), answers_post(questions))
    assert response.status_code == 200
    assert "Nothing was saved" in response.content.decode()
    bad = organizer_client.post(
        preview(open_round, "en", "form"), answers_post(questions, **{
            f"q{questions['Q01'].id}_probability": "150"})
    )  # fmt: skip
    assert bad.status_code == 400
    version = survey.consent_versions.get()
    organizer_client.post(preview(open_round, "ko", "consent"),
                          {"decision": "accept", "version": version.id})  # fmt: skip
    assert (Judgment.objects.count(), Invitation.objects.count()) == before
    assert not ConsentResponse.objects.exists()


@pytest.mark.parametrize("language,page", [("fr", "welcome"), ("en", "admin"), ("ko", "x" * 300)])
def test_preview_of_an_unknown_page_is_404(organizer_client, draft_round, language, page):
    assert organizer_client.get(preview(draft_round, language, page)).status_code == 404


def test_only_the_surveys_organizers_preview(client, other_staff, member, draft_round, invitation):
    client.force_login(other_staff)
    assert client.get(preview(draft_round)).status_code == 404
    client.force_login(member)
    assert client.get(preview(draft_round)).status_code == 403
    expert_browser = client_with_link(invitation)
    assert expert_browser.get(preview(draft_round)).status_code == 302  # to the login page


def test_asking_for_a_run_of_a_pilot_round_is_refused_without_a_500(pilot_round, organizer_client):
    response = organizer_client.post(
        reverse("aggregation:run-request", args=[pilot_round.id]),
        {"method": "hierarchical", "random_seed": "1"},
        follow=True,
    )
    assert response.status_code in (200, 400)
    assert not AggregationRun.objects.filter(survey_round=pilot_round).exists()


def test_the_wipe_keeps_pilot_only_experts_unless_asked(
    pilot_round, survey, questions, expert, organizer_client
):
    """A pilot run with the real panel before round 1 leaves experts invited to pilot
    rounds only: removing them is a second, explicit choice."""
    assert pilot.survey_pilot_counts(survey=survey)["experts"] >= 1
    panel = set(survey.experts.values_list("id", flat=True))
    response = organizer_client.post(
        reverse("elicitation:pilot-wipe", args=[survey.id]), {"confirm": "on"}, follow=True
    )
    assert "and 0 test expert(s) invited to pilot rounds only deleted" in (
        response.content.decode()
    )
    assert not Round.objects.filter(is_pilot=True).exists()
    assert set(survey.experts.values_list("id", flat=True)) == panel
