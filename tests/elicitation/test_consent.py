"""Consent and information: versions, acceptance before the first question, declining,
asking again after a change, the organizer's editing page and its access rules."""

import pytest
from django.urls import reverse

from elicitation import consent
from elicitation.models import ConsentResponse, ConsentVersion, Judgment
from tests.elicitation.helpers import answers_post, client_with_link, form_url


@pytest.fixture
def consent_v1(survey, organizer):
    return consent.consent_version_save(
        survey=survey,
        text="# Information\n\nYou may stop at any time.",
        text_ko="# 안내\n\n언제든지 그만둘 수 있습니다.",
        by=organizer,
    )


def consent_url(invitation) -> str:
    return reverse("elicitation:expert-consent", args=[invitation.id])


def test_a_survey_without_consent_text_opens_the_form_directly(expert_client, invitation):
    assert expert_client.get(form_url(invitation)).status_code == 200


def test_the_form_waits_for_consent(consent_v1, expert_client, invitation, questions):
    response = expert_client.get(form_url(invitation))
    assert response.status_code == 302 and response["Location"] == consent_url(invitation)
    response = expert_client.post(form_url(invitation), answers_post(questions))
    assert response.status_code == 302 and response["Location"] == consent_url(invitation)
    assert not Judgment.objects.exists()


def test_consent_page_shows_text_version_and_anonymity(consent_v1, expert_client, invitation):
    page = expert_client.get(consent_url(invitation)).content.decode()
    assert "You may stop at any time." in page
    assert "Version 1" in page
    assert str(consent.ANONYMITY_MEANING["identified"]) in page


def test_consent_page_in_korean(consent_v1, invitation):
    invitation.language = "ko"
    invitation.save(update_fields=["language"])
    client = client_with_link(invitation)
    response = client.get(consent_url(invitation))
    page = response.content.decode()
    assert response["Content-Language"] == "ko"
    assert "언제든지 그만둘 수 있습니다." in page
    assert "동의" in page  # the buttons are translated


def test_strict_survey_says_what_strict_means(consent_v1, survey, expert_client, invitation):
    survey.anonymity = "strict"
    survey.save(update_fields=["anonymity"])
    page = expert_client.get(consent_url(invitation)).content.decode()
    assert str(consent.ANONYMITY_MEANING["strict"]).replace("'", "&#x27;") in page


def test_accepting_records_version_and_time_then_opens_form(consent_v1, expert_client, invitation):
    response = expert_client.post(
        consent_url(invitation), {"decision": "accept", "version": consent_v1.id}
    )
    assert response.status_code == 302 and response["Location"] == form_url(invitation)
    record = ConsentResponse.objects.get()
    assert (record.expert, record.version, record.accepted) == (invitation.expert, consent_v1, True)
    assert record.at is not None and record.invitation == invitation
    assert expert_client.get(form_url(invitation)).status_code == 200


def test_declining_ends_politely_and_the_organizer_sees_it(
    consent_v1, expert_client, invitation, organizer_client, open_round, survey
):
    response = expert_client.post(
        consent_url(invitation), {"decision": "decline", "version": consent_v1.id}, follow=True
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "You have declined to take part" in page
    assert ConsentResponse.objects.get().accepted is False
    assert expert_client.get(form_url(invitation))["Location"] == consent_url(invitation)
    round_page = organizer_client.get(reverse("elicitation:round-detail", args=[open_round.id]))
    assert "declined" in round_page.content.decode()
    survey_page = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    assert "1 expert declined." in survey_page.content.decode()


def test_a_declined_expert_can_change_their_mind(consent_v1, expert_client, invitation):
    expert_client.post(consent_url(invitation), {"decision": "decline", "version": consent_v1.id})
    review = expert_client.get(consent_url(invitation) + "?review=1").content.decode()
    assert "You declined on" in review
    expert_client.post(consent_url(invitation), {"decision": "accept", "version": consent_v1.id})
    assert expert_client.get(form_url(invitation)).status_code == 200


def test_a_new_version_asks_again_before_answering_further(
    consent_v1, expert_client, invitation, survey, questions
):
    expert_client.post(consent_url(invitation), {"decision": "accept", "version": consent_v1.id})
    v2 = consent.consent_version_save(survey=survey, text="New terms: data kept 5 years.")
    assert v2.number == 2
    response = expert_client.post(form_url(invitation), answers_post(questions))
    assert response["Location"] == consent_url(invitation)
    page = expert_client.get(consent_url(invitation)).content.decode()
    assert "changed since you agreed to version 1" in page
    assert "Nothing was saved: the consent text is new or has changed." in page
    # an answer to the page of version 1, shown before the change, is refused
    stale = expert_client.post(
        consent_url(invitation), {"decision": "accept", "version": consent_v1.id}
    )
    assert stale.status_code == 409
    assert "changed while the page was open" in stale.content.decode()
    expert_client.post(consent_url(invitation), {"decision": "accept", "version": v2.id})
    assert consent.consent_state(expert=invitation.expert).status == "accepted"


def test_an_unchanged_text_makes_no_new_version(consent_v1, survey):
    again = consent.consent_version_save(
        survey=survey, text=consent_v1.text, text_ko=consent_v1.text_ko
    )
    assert again is None and ConsentVersion.objects.count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"decision": "maybe", "version": "1"},
        {"decision": "accept", "version": "x" * 5000},
        {"decision": "accept", "version": "99999999"},
        {"decision": "accept"},
    ],
)
def test_bad_consent_posts_are_4xx_with_a_message(consent_v1, expert_client, invitation, data):
    response = expert_client.post(consent_url(invitation), data)
    assert 400 <= response.status_code < 500
    assert not ConsentResponse.objects.exists()
    assert 'role="alert"' in response.content.decode()


def test_consent_page_needs_the_link(consent_v1, client, invitation):
    response = client.get(consent_url(invitation))
    assert response.status_code == 403


def test_another_expert_cannot_answer_for_someone(consent_v1, invitation, other_invitation):
    other_client = client_with_link(other_invitation)
    response = other_client.post(
        consent_url(invitation), {"decision": "decline", "version": consent_v1.id}
    )
    assert response.status_code == 403
    assert not ConsentResponse.objects.exists()


# --- Organizer editing ------------------------------------------------------------------------


def edit_url(survey) -> str:
    return reverse("elicitation:survey-consent", args=[survey.id])


def test_organizer_writes_and_changes_the_consent(organizer_client, survey):
    response = organizer_client.post(edit_url(survey), {"text": "Terms.", "text_ko": "약관."})
    assert response.status_code == 302
    organizer_client.post(edit_url(survey), {"text": "Terms.", "text_ko": "약관."})
    assert ConsentVersion.objects.count() == 1
    organizer_client.post(edit_url(survey), {"text": "Terms, amended.", "text_ko": "약관."})
    assert list(survey.consent_versions.values_list("number", flat=True)) == [1, 2]
    assert "Terms, amended." in organizer_client.get(edit_url(survey)).content.decode()


def test_an_empty_consent_text_is_refused_with_a_message(organizer_client, survey):
    response = organizer_client.post(edit_url(survey), {"text": "   ", "text_ko": ""})
    assert response.status_code == 400
    assert "Write the consent text in English" in response.content.decode()
    assert not ConsentVersion.objects.exists()


def test_only_the_surveys_organizers_edit_consent(client, other_staff, member, survey):
    client.force_login(other_staff)
    assert client.post(edit_url(survey), {"text": "Mine."}).status_code == 404
    client.force_login(member)
    assert client.get(edit_url(survey)).status_code == 403
    assert not ConsentVersion.objects.exists()


# --- The demo ---------------------------------------------------------------------------------


def test_demo_links_lead_to_consent_first_then_the_form(db, settings):
    from elicitation import demo

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    loaded = demo.demo_load()
    for invitation, changed in (
        (loaded.featured_invitation, "The consent text has changed since you agreed to version 1"),
        (loaded.korean_invitation, "버전 1에 동의한 뒤 동의서 내용이 바뀌었습니다"),
    ):
        client = client_with_link(invitation)
        welcome = client.get(reverse("elicitation:expert-welcome", args=[invitation.id]))
        assert consent_url(invitation) in welcome.content.decode()
        assert client.get(form_url(invitation))["Location"] == consent_url(invitation)
        page = client.get(consent_url(invitation)).content.decode()
        assert changed in page
        version = loaded.survey.consent_versions.get(number=2)
        client.post(consent_url(invitation), {"decision": "accept", "version": version.id})
        assert client.get(form_url(invitation)).status_code == 200


def test_an_expert_who_declined_gets_no_reminder(consent_v1, invitation, other_invitation):
    from elicitation import selectors

    consent.consent_respond(invitation=invitation, version_id=consent_v1.id, accepted=False)
    reminded = selectors.round_invitations_to_remind(survey_round=invitation.survey_round)
    assert list(reminded) == [other_invitation]


def test_the_consent_page_lists_versions_with_their_answers(
    consent_v1, organizer_client, survey, invitation, other_invitation
):
    consent.consent_respond(invitation=invitation, version_id=consent_v1.id, accepted=False)
    consent.consent_respond(invitation=invitation, version_id=consent_v1.id, accepted=True)
    consent.consent_respond(invitation=other_invitation, version_id=consent_v1.id, accepted=False)
    consent.consent_version_save(survey=survey, text="Amended.")
    history = consent.consent_history(survey=survey)
    assert [(v.number, v.n_accepted, v.n_declined) for v in history] == [(2, 0, 0), (1, 1, 1)]
    page = organizer_client.get(edit_url(survey)).content.decode()
    assert "v2 (in force)" in page
