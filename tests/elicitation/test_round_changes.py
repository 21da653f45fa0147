"""Plans that change (issue 13, point 2): an expert invited late to an open round, a link
sent again or copied, a new closing time, a closed round reopened for named experts with
its audit line, a follow-up round for a subset of the panel, late joiners in the analysis."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from elicitation import round_changes, services
from elicitation.models import Invitation, Judgment, Round, RoundEvent, Survey
from tests.elicitation.helpers import answers_post, client_with_link, form_url


@pytest.fixture
def late_expert(survey, open_round):
    """Joins the panel after round 1 opened (imported late)."""
    return services.expert_create(
        survey=survey,
        name="Dae-ho Kim",
        email="daeho@example.org",
        attributes={"nationality": "ROK"},
    )


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_an_expert_is_invited_late_to_an_open_round(
    organizer_client, organizer, open_round, late_expert, django_capture_on_commit_callbacks
):
    page = organizer_client.get(reverse("elicitation:round-detail", args=[open_round.id]))
    assert "Invite experts late" in page.content.decode()
    url = reverse("elicitation:round-invite", args=[open_round.id])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = organizer_client.post(url, {"late-experts": [late_expert.id]})
    assert response.status_code == 302
    invitation = Invitation.objects.get(survey_round=open_round, expert=late_expert)
    assert invitation.joined_late and len(callbacks) == 1  # the email, after commit
    event = RoundEvent.objects.get(survey_round=open_round)
    assert (event.kind, event.detail, event.by) == ("invited_late", late_expert.code, organizer)
    html = organizer_client.get(reverse("elicitation:round-detail", args=[open_round.id]))
    assert "joined late" in html.content.decode()
    # The late expert answers like anyone else.
    client = client_with_link(invitation)
    assert client.get(form_url(invitation)).status_code == 200


def test_inviting_nobody_or_twice_is_explained(organizer_client, open_round, expert, late_expert):
    url = reverse("elicitation:round-invite", args=[open_round.id])
    response = organizer_client.post(url, {})
    assert (
        response.status_code == 400 and "Choose at least one expert." in response.content.decode()
    )
    response = organizer_client.post(url, {"late-experts": [expert.id]})  # already invited
    assert response.status_code == 400
    with pytest.raises(Exception, match="Already invited"):
        round_changes.round_invite_late(survey_round=open_round, experts=[expert])


def test_a_late_expert_in_a_follow_up_answers_before_seeing_the_panel(survey, round2, questions):
    """Independence: someone who skipped round 1 sees its feedback only after submitting."""
    from elicitation import feedback

    newcomer = services.expert_create(survey=survey, name="New", email="new@example.org")
    (invitation,) = round_changes.round_invite_late(survey_round=round2, experts=[newcomer])
    client = client_with_link(invitation)
    html = client.get(form_url(invitation)).content.decode()
    assert "OTHER-R1-RATIONALE" not in html and 'class="feedback"' not in html
    assert not feedback._answered_independently(
        invitation=invitation, previous=round2.feedback_round
    )
    # After submitting on their own, the feedback shows, as for anyone who skipped round 1.
    client.post(form_url(invitation), {**answers_post(questions), "submit": "1"})
    html = client.get(form_url(invitation)).content.decode()
    assert 'class="feedback"' in html


def test_send_again_and_copy_a_link(organizer_client, invitation, mailoutbox, settings):
    Invitation.objects.filter(id=invitation.id).update(sent_at=timezone.now())
    url = reverse("elicitation:invitation-resend", args=[invitation.id])
    assert organizer_client.post(url).status_code == 302
    invitation.refresh_from_db()
    assert invitation.sent_at is None and invitation.link_version == 1  # same link, re-queued
    page = organizer_client.post(reverse("elicitation:invitation-link", args=[invitation.id]))
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert f"/e/{invitation.id}/?" in html and "readonly" in html
    assert (
        organizer_client.get(
            reverse("elicitation:invitation-link", args=[invitation.id])
        ).status_code
        == 405
    )


def test_no_link_is_shown_at_the_strict_level(organizer_client, survey, invitation):
    """The link opens a welcome page with the expert's name: next to the code, a pair."""
    Survey.objects.filter(id=survey.id).update(anonymity=Survey.Anonymity.STRICT)
    page = organizer_client.get(
        reverse("elicitation:round-detail", args=[invitation.survey_round_id])
    )
    html = page.content.decode()
    assert "Send again" in html and "Copy link" not in html
    url = reverse("elicitation:invitation-link", args=[invitation.id])
    response = organizer_client.post(url, follow=True)
    html = response.content.decode()
    assert f"/e/{invitation.id}/?" not in html and "links are not shown" in html


def test_other_staff_cannot_resend_copy_or_change_the_round(
    client, other_staff, invitation, open_round
):
    client.force_login(other_staff)
    for url in (
        reverse("elicitation:invitation-resend", args=[invitation.id]),
        reverse("elicitation:invitation-link", args=[invitation.id]),
        reverse("elicitation:round-extend", args=[open_round.id]),
        reverse("elicitation:round-invite", args=[open_round.id]),
        reverse("elicitation:round-reopen", args=[open_round.id]),
    ):
        assert client.post(url).status_code == 404, url


def test_the_closing_time_is_extended_and_links_follow(
    organizer_client, organizer, open_round, invitation
):
    new_close = timezone.now() + timedelta(days=45)
    url = reverse("elicitation:round-extend", args=[open_round.id])
    data = {"extend-closes_at": _local(new_close), "extend-reason": "Holidays"}
    assert organizer_client.post(url, data).status_code == 302
    open_round.refresh_from_db()
    invitation.refresh_from_db()
    assert abs(open_round.closes_at - new_close) < timedelta(minutes=1)
    assert invitation.expires_at >= open_round.closes_at
    event = RoundEvent.objects.get(survey_round=open_round, kind="extended")
    assert event.reason == "Holidays" and event.by == organizer

    past = organizer_client.post(url, {"extend-closes_at": "2020-01-01T10:00"})
    assert past.status_code == 400 and "in the future" in past.content.decode()
    far = organizer_client.post(
        url, {"extend-closes_at": _local(timezone.now() + timedelta(days=400))}
    )
    assert far.status_code == 400 and "INVITATION_MAX_AGE_DAYS" in far.content.decode()


@pytest.mark.parametrize("url_name", ["elicitation:round-invite", "elicitation:round-extend"])
def test_a_post_from_a_page_shown_while_the_round_was_open_is_explained(
    organizer_client, open_round, late_expert, url_name
):
    page = organizer_client.get(reverse("elicitation:round-detail", args=[open_round.id]))
    assert "Invite experts late" in page.content.decode()
    services.round_close(survey_round=open_round)  # in another tab, meanwhile
    data = {
        "late-experts": [late_expert.id],
        "extend-closes_at": _local(timezone.now() + timedelta(days=3)),
    }
    response = organizer_client.post(reverse(url_name, args=[open_round.id]), data)
    assert response.status_code == 302
    assert response["Location"] == reverse("elicitation:round-detail", args=[open_round.id])
    html = organizer_client.get(response["Location"]).content.decode()
    assert "the round is no longer open" in html
    assert not Invitation.objects.filter(expert=late_expert).exists()


def test_a_closed_round_reopens_for_named_experts_with_an_audit_line(
    organizer_client,
    organizer,
    survey,
    questions,
    invitation,
    other_invitation,
    expert,
    other_expert,
):
    services.round_close(survey_round=invitation.survey_round)
    survey_round = invitation.survey_round
    url = reverse("elicitation:round-reopen", args=[survey_round.id])
    page = organizer_client.get(reverse("elicitation:round-detail", args=[survey_round.id]))
    assert "Reopen for named experts" in page.content.decode()
    close = _local(timezone.now() + timedelta(days=3))
    missing_reason = organizer_client.post(
        url, {"reopen-experts": [expert.id], "reopen-closes_at": close}
    )
    assert (
        missing_reason.status_code == 400
        and "Say why it reopens." in missing_reason.content.decode()
    )
    data = {
        "reopen-experts": [expert.id],
        "reopen-closes_at": close,
        "reopen-reason": "Missed the email",
    }
    assert organizer_client.post(url, data).status_code == 302
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.OPEN
    event = RoundEvent.objects.get(survey_round=survey_round, kind="reopened")
    assert (event.detail, event.reason, event.by) == (expert.code, "Missed the email", organizer)

    # The named expert answers; the other cannot change anything.
    named = client_with_link(invitation)
    response = named.post(form_url(invitation), {**answers_post(questions), "save": "1"})
    assert response.status_code == 302
    assert Judgment.objects.filter(expert=expert).exists()
    other = client_with_link(other_invitation)
    welcome = other.get(reverse("elicitation:expert-welcome", args=[other_invitation.id]))
    assert "See your answers" in welcome.content.decode()
    assert "This round is closed to you" in welcome.content.decode()
    assert "planned to close" not in welcome.content.decode()
    welcome = named.get(reverse("elicitation:expert-welcome", args=[invitation.id]))
    assert "planned to close" in welcome.content.decode()
    response = other.post(form_url(other_invitation), {**answers_post(questions), "save": "1"})
    assert response.status_code == 409
    assert not Judgment.objects.filter(expert=other_expert).exists()


def test_an_expert_left_out_of_a_reopened_round_gets_no_invitation_email(
    organizer_client, invitation, other_invitation, other_expert, monkeypatch, mailoutbox
):
    """Their email never went out (broker down) before the round closed: neither the beat
    sweep nor the "Send unsent invitations" button may send it now."""
    from elicitation.tasks import invitation_send_task

    monkeypatch.setattr(
        invitation_send_task, "delay", lambda i: services.invitation_send(invitation_id=i)
    )
    Invitation.objects.filter(id=invitation.id).update(sent_at=None)
    survey_round = invitation.survey_round
    services.round_close(survey_round=survey_round)
    round_changes.round_reopen(
        survey_round=survey_round,
        experts=[other_expert],
        closes_at=timezone.now() + timedelta(days=3),
        reason="Missed the email",
    )
    assert services.invitation_send(invitation_id=invitation.id) is False
    services.invitation_send_pending()  # the beat sweep's service
    url = reverse("elicitation:round-send-pending", args=[survey_round.id])
    assert organizer_client.post(url).status_code == 302
    assert [message.to for message in mailoutbox] == [[other_invitation.expert.contact.email]]
    invitation.refresh_from_db()
    assert invitation.sent_at is None


def test_a_round_cannot_reopen_once_a_later_round_opened(round2, survey):
    round1 = survey.rounds.get(number=1)
    expert = survey.experts.first()
    with pytest.raises(Exception, match="later round has opened"):
        round_changes.round_reopen(
            survey_round=round1,
            experts=[expert],
            closes_at=timezone.now() + timedelta(days=2),
            reason="x",
        )


def test_a_follow_up_round_goes_to_a_chosen_subset(
    organizer_client, round1, survey, expert, other_expert
):
    draft = services.round_create(survey=survey)
    url = reverse("elicitation:round-open", args=[draft.id])
    data = {
        "questions": list(survey.questions.values_list("id", flat=True)),
        "link_days": "10",
        "experts_listed": "1",
        "experts": [expert.id, other_expert.id],
    }
    none = organizer_client.post(url, {**data, "experts": []})
    assert (
        none.status_code == 400 and "Choose at least one expert to invite." in none.content.decode()
    )
    assert organizer_client.post(url, data).status_code == 302
    draft.refresh_from_db()
    assert draft.status == Round.Status.OPEN
    assert set(draft.invitations.values_list("expert_id", flat=True)) == {
        expert.id,
        other_expert.id,
    }
    assert survey.experts.count() == 3  # the third was left out


def test_the_report_shows_who_joined_late(organizer_client, open_round, late_expert):
    round_changes.round_invite_late(survey_round=open_round, experts=[late_expert])
    html = organizer_client.get(
        reverse("aggregation:round-report", args=[open_round.id])
    ).content.decode()
    assert "Joined late" in html and late_expert.code in html


def test_the_closing_time_field_shows_the_current_one_in_the_browsers_format(
    organizer_client, open_round
):
    open_round.closes_at = timezone.now().replace(2030, 3, 1, 9, 30, 0, 0)
    open_round.save(update_fields=["closes_at"])
    html = organizer_client.get(reverse("elicitation:round-detail", args=[open_round.id]))
    assert 'value="2030-03-01T09:30"' in html.content.decode()
    assert "New closing time (UTC)" in html.content.decode()
