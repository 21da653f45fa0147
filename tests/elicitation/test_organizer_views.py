"""Organizer pages through the HTTP client: rights, rounds, progress."""

import pytest
from django.urls import reverse

from elicitation import services
from elicitation.models import Invitation, Round
from tests.elicitation.helpers import celery_broker


def _pages(survey, survey_round):
    return [
        ("get", reverse("elicitation:survey-detail", args=[survey.id])),
        ("get", reverse("elicitation:question-import", args=[survey.id])),
        ("get", reverse("elicitation:expert-import", args=[survey.id])),
        ("post", reverse("elicitation:round-create", args=[survey.id])),
        ("get", reverse("elicitation:round-detail", args=[survey_round.id])),
        ("post", reverse("elicitation:round-open", args=[survey_round.id])),
        ("post", reverse("elicitation:round-close", args=[survey_round.id])),
        ("post", reverse("elicitation:round-send-pending", args=[survey_round.id])),
    ]


def test_anonymous_users_are_sent_to_the_login_page(client, survey):
    survey_round = services.round_create(survey=survey)
    for method, url in _pages(survey, survey_round):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login"))


def test_non_staff_users_are_refused(client, member, survey):
    client.force_login(member)
    survey_round = services.round_create(survey=survey)
    assert client.get(reverse("elicitation:survey-list")).status_code == 403
    for method, url in _pages(survey, survey_round):
        assert getattr(client, method)(url).status_code == 403, url


def test_staff_without_rights_to_the_survey_get_404_and_change_nothing(
    client, other_staff, survey, expert
):
    client.force_login(other_staff)
    survey_round = services.round_create(survey=survey)
    listing = client.get(reverse("elicitation:survey-list"))
    assert survey.title not in listing.content.decode()
    for method, url in _pages(survey, survey_round):
        assert getattr(client, method)(url).status_code == 404, url
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.DRAFT
    assert survey.rounds.count() == 1
    assert not Invitation.objects.exists()


def test_a_superuser_sees_every_survey(client, survey, other_survey, superuser):
    client.force_login(superuser)
    html = client.get(reverse("elicitation:survey-list")).content.decode()
    assert survey.title in html and other_survey.title in html


def test_survey_list_and_detail(organizer_client, survey, expert, other_survey):
    listing = organizer_client.get(reverse("elicitation:survey-list")).content.decode()
    assert survey.title in listing and other_survey.title not in listing
    detail = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    html = detail.content.decode()
    assert detail.status_code == 200
    assert "Blockade" in html and "Q01" in html and "N01" in html
    assert "eunji@example.org" in html and "nationality=ROK" in html


def test_create_open_and_close_a_round(organizer_client, survey, questions, expert, other_expert):
    response = organizer_client.post(reverse("elicitation:round-create", args=[survey.id]), {})
    survey_round = survey.rounds.get()
    assert response.url == reverse("elicitation:round-detail", args=[survey_round.id])
    page = organizer_client.get(response.url).content.decode()
    assert "Open this round" in page
    chosen = [questions["Q01"].id, questions["N01"].id]
    response = organizer_client.post(
        reverse("elicitation:round-open", args=[survey_round.id]),
        {"questions": chosen, "link_days": "14"},
    )
    assert response.status_code == 302
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.OPEN
    assert set(survey_round.questions.values_list("id", flat=True)) == set(chosen)
    assert survey_round.invitations.count() == 2
    close = reverse("elicitation:round-close", args=[survey_round.id])
    detail = organizer_client.get(reverse("elicitation:round-detail", args=[survey_round.id]))
    assert "Only 0 of 2 experts have submitted" in detail.content.decode()
    # nobody submitted: closing needs the organizer's explicit confirmation
    response = organizer_client.post(close, follow=True)
    assert "The round is still open: only 0 of 2 experts have submitted" in (
        response.content.decode()
    )
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.OPEN
    organizer_client.post(close, {"confirm": "1"})
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.CLOSED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"questions": [], "link_days": "14"}, "Choose at least one question."),
        ({"questions": ["999999"], "link_days": "14"}, "Select a valid choice"),
        ({"link_days": "0"}, "greater than or equal to 1"),
        ({"link_days": "400"}, "at most 60 days"),
        ({"link_days": "soon"}, "Enter a whole number"),
    ],
)
def test_open_round_form_errors_change_nothing(
    organizer_client, survey, questions, expert, data, message
):
    survey_round = services.round_create(survey=survey)
    data = {"questions": [questions["Q01"].id], **data}
    response = organizer_client.post(
        reverse("elicitation:round-open", args=[survey_round.id]), data
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.DRAFT
    assert not Invitation.objects.exists()


def test_opening_without_a_panel_says_to_import_it(organizer_client, survey, questions):
    survey_round = services.round_create(survey=survey)
    response = organizer_client.post(
        reverse("elicitation:round-open", args=[survey_round.id]),
        {"questions": [questions["Q01"].id], "link_days": "14"},
    )
    assert response.status_code == 400
    assert "Import the panel first" in response.content.decode()


def test_closing_a_draft_round_is_refused_with_a_message(organizer_client, survey):
    survey_round = services.round_create(survey=survey)
    response = organizer_client.post(
        reverse("elicitation:round-close", args=[survey_round.id]), follow=True
    )
    assert "only an open round can be closed" in response.content.decode()
    survey_round.refresh_from_db()
    assert survey_round.status == Round.Status.DRAFT


def test_round_create_refuses_dates_in_the_wrong_order(organizer_client, survey):
    response = organizer_client.post(
        reverse("elicitation:round-create", args=[survey.id]),
        {"opens_at": "2030-05-02T10:00", "closes_at": "2030-05-01T10:00"},
        follow=True,
    )
    assert "must close after it opens" in response.content.decode()
    assert not survey.rounds.exists()


def test_progress_per_expert_and_per_question(
    organizer_client, open_round, invitation, other_invitation, questions
):
    services.judgment_save(invitation=invitation, question=questions["Q01"], probability=0.2)
    services.judgment_save(invitation=invitation, question=questions["Q02"], probability=0.4)
    services.judgment_save(invitation=other_invitation, question=questions["Q01"], probability=0.9)
    html = organizer_client.get(
        reverse("elicitation:round-detail", args=[open_round.id])
    ).content.decode()
    assert "2 invited, 0 emailed, 0 opened their link, 0 submitted." in html
    assert '<progress max="3" value="2"' in html  # E001: 2 of 3 questions
    assert '<progress max="3" value="1"' in html  # E002: 1 of 3
    assert '<progress max="2" value="2"' in html  # Q01: both experts
    assert '<progress max="2" value="0"' in html  # N01: nobody yet
    assert "Send unsent invitations" in html


def test_send_pending_button_reports_an_unreachable_broker(
    organizer_client, open_round, invitation
):
    with celery_broker("redis://127.0.0.1:1/0"):  # nothing listens on port 1
        response = organizer_client.post(
            reverse("elicitation:round-send-pending", args=[open_round.id]), follow=True
        )
    assert response.status_code == 200
    assert "message broker is unreachable" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.sent_at is None


@pytest.mark.parametrize(
    "url_name",
    [
        "admin:elicitation_survey_changelist",
        "admin:elicitation_question_changelist",
        "admin:elicitation_expert_changelist",
        "admin:elicitation_round_changelist",
        "admin:elicitation_invitation_changelist",
        "admin:elicitation_judgment_changelist",
        "admin:elicitation_judgmentrevision_changelist",
        "admin:elicitation_scenario_changelist",
        "admin:elicitation_expert_add",
        "admin:elicitation_question_add",
    ],
)
def test_admin_pages_render(client, superuser, invitation, url_name):
    client.force_login(superuser)
    assert client.get(reverse(url_name)).status_code == 200


def test_admin_creates_an_expert_through_the_service(client, superuser, survey):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:elicitation_expert_add"),
        {
            "survey": survey.id,
            "code": "E050",
            "name": "Ada",
            "email": "ada@example.org",
            "language": "en",
            "time_zone": "Asia/Seoul",
            "attributes": '{"sector": "academia"}',
        },
    )
    assert response.status_code == 302
    expert = survey.experts.get(code="E050")
    assert expert.time_zone == "Asia/Seoul"
    assert expert.user.username.startswith("expert-")
    assert not expert.user.has_usable_password()
    assert expert.attributes == {"sector": "academia"}


def test_admin_question_form_applies_the_kind_rules(client, superuser, survey):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:elicitation_question_add"),
        {
            "survey": survey.id,
            "code": "QX",
            "text": "?",
            "kind": "binary",
            "unit": "ships",
            "scale": "uniform",
            "position": "9",
        },
    )
    assert response.status_code == 200
    assert "Only numeric questions have a unit" in response.content.decode()
    assert not survey.questions.filter(code="QX").exists()
