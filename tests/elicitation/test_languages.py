"""Korean and English: the expert's language, the switcher, content in both languages with
a fallback note, validation messages, emails, and dates in the expert's time zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse

from elicitation import imports, services
from elicitation.models import Expert, Invitation, Question, Round
from tests.elicitation.helpers import answers_post, client_with_link, expire, form_url, link_path


@pytest.fixture
def korean_expert(expert):
    expert.language, expert.time_zone = Expert.Language.KO, "Asia/Seoul"
    expert.save(update_fields=["language", "time_zone"])
    return expert


@pytest.fixture
def korean_client(korean_expert, invitation):
    return client_with_link(invitation)


def test_the_expert_pages_speak_the_experts_language(korean_client, invitation):
    welcome = korean_client.get(reverse("elicitation:expert-welcome", args=[invitation.id]))
    assert welcome.headers["Content-Language"] == "ko"
    html = welcome.content.decode()
    assert '<html lang="ko">' in html and "문항으로 이동" in html
    form = korean_client.get(form_url(invitation)).content.decode()
    assert "저장하고 나중에 계속하기" in form and "제출" in form


def test_validation_messages_are_in_korean(korean_client, invitation, questions):
    response = korean_client.post(
        form_url(invitation), {f"q{questions['Q01'].id}_probability": "150", "save": "1"}
    )
    assert response.status_code == 400
    assert "0에서 100 사이의 숫자를 입력해 주십시오." in response.content.decode()


def test_the_switcher_works_without_javascript_and_is_remembered(korean_client, invitation):
    response = korean_client.post(
        reverse("elicitation:expert-language", args=[invitation.id]),
        {"language": "en", "next": form_url(invitation)},
    )
    assert response.status_code == 302 and response["Location"] == form_url(invitation)
    invitation.refresh_from_db()
    assert invitation.language == "en"
    html = korean_client.get(form_url(invitation)).content.decode()
    assert '<html lang="en">' in html and "Save and come back later" in html


@pytest.mark.parametrize("target", ["https://evil.example/", "/surveys/", "//evil.example/e/1/"])
def test_the_switcher_only_returns_to_this_invitations_pages(korean_client, invitation, target):
    response = korean_client.post(
        reverse("elicitation:expert-language", args=[invitation.id]),
        {"language": "en", "next": target},
    )
    assert response["Location"] == reverse("elicitation:expert-welcome", args=[invitation.id])


def test_an_unknown_language_changes_nothing(korean_client, invitation):
    korean_client.post(
        reverse("elicitation:expert-language", args=[invitation.id]), {"language": "fr"}
    )
    invitation.refresh_from_db()
    assert invitation.language == ""


def test_another_browser_cannot_switch_an_invitations_language(client, invitation):
    response = client.post(
        reverse("elicitation:expert-language", args=[invitation.id]), {"language": "ko"}
    )
    assert response.status_code == 403
    invitation.refresh_from_db()
    assert invitation.language == ""


def test_survey_content_in_korean_falls_back_to_english_with_a_note(
    korean_client, invitation, survey, questions
):
    Question.objects.filter(id=questions["Q01"].id).update(
        text_ko="일본은 미군의 기지 사용을 허용할 것인가?",
        resolution_criteria="Official statement.",
    )
    survey.title_ko = "동맹국의 기여"
    survey.save(update_fields=["title_ko"])
    html = korean_client.get(form_url(invitation)).content.decode()
    assert "일본은 미군의 기지 사용을 허용할 것인가?" in html
    assert '<h1 lang="ko">동맹국의 기여</h1>' in html
    # Q02 has no Korean text: shown in English, marked as English, with the note.
    assert '<span lang="en">Will Korea send ships?</span>' in html
    assert "이 문항은 아직 한국어로 제공되지 않아 영어로 표시합니다." in html
    # Q01's resolution criteria exist only in English: the note for a part of it.
    assert "이 부분은 아직 한국어로 제공되지 않아 영어로 표시합니다." in html


def test_english_experts_see_the_english_texts(expert_client, invitation, questions):
    Question.objects.filter(id=questions["Q01"].id).update(text_ko="한국어 문항")
    html = expert_client.get(form_url(invitation)).content.decode()
    assert "Will Japan allow US basing?" in html and "한국어 문항" not in html
    assert "not yet available" not in html


def test_dates_are_shown_in_the_experts_time_zone(korean_client, invitation):
    closes = datetime(2030, 3, 1, 0, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 in Seoul
    Round.objects.filter(id=invitation.survey_round_id).update(closes_at=closes)
    html = korean_client.get(reverse("elicitation:expert-welcome", args=[invitation.id]))
    text = html.content.decode()
    assert "2030년 3월 1일" in text and "9:30" in text and "KST" in text


def test_the_refusal_of_an_expired_korean_link_is_in_korean(korean_expert, invitation, client):
    expire(invitation)
    response = client.get(link_path(invitation))
    assert response.status_code == 410
    assert "초대가 만료되었습니다" in response.content.decode()


def test_invitation_and_reminder_emails_go_out_in_the_experts_language(korean_expert, invitation):
    from elicitation import reminders

    services.invitation_send(invitation_id=invitation.id)
    message = mail.outbox[-1]
    assert message.subject.startswith("초대:") and "개인 링크" in message.body
    reminder = reminders.reminder_schedule(survey_round=invitation.survey_round)
    reminders.reminder_dispatch(reminder_id=reminder.id)
    delivery = reminder.deliveries.get(invitation=invitation)
    assert reminders.reminder_delivery_send(delivery_id=delivery.id)
    message = mail.outbox[-1]
    assert message.subject.startswith("안내:") and "아직 응답이 제출되지 않았습니다" in message.body
    assert f"/e/{invitation.id}/?" in message.body


def test_questions_csv_takes_korean_texts_and_experts_csv_a_time_zone(survey):
    text = (
        "code,text,kind,text_ko,guidance_ko,scenario,scenario_title,scenario_title_ko\n"
        "K01,Will it rain?,binary,비가 올 것인가?,기상청 기준,weather,Weather,날씨\n"
    )
    (question,) = imports.questions_import(survey=survey, text=text)
    assert (question.text_ko, question.guidance_ko) == ("비가 올 것인가?", "기상청 기준")
    assert question.scenario.title_ko == "날씨"
    experts = imports.experts_import(
        survey=survey,
        text="name,email,language,time_zone\nPark,park@example.org,ko,Asia/Seoul\n",
    )
    assert (experts[0].language, experts[0].time_zone) == ("ko", "Asia/Seoul")


def test_an_unknown_time_zone_is_reported_on_its_line(survey):
    preview = imports.experts_preview(
        survey=survey, text="name,email,time_zone\nPark,park@example.org,Mars/Olympus\n"
    )
    assert [(e.line, e.column) for e in preview.errors] == [(2, "time_zone")]


def test_an_expert_without_a_time_zone_gets_the_sites(settings, survey):
    expert = services.expert_create(survey=survey, name="A", email="a@example.org")
    assert expert.time_zone == settings.TIME_ZONE
    assert Invitation.objects.count() == 0


def test_the_invitation_states_the_rounds_deadline_in_the_experts_time_zone(
    korean_expert, invitation, other_invitation
):
    closes = datetime(2030, 3, 1, 0, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 in Seoul
    Round.objects.filter(id=invitation.survey_round_id).update(closes_at=closes)
    Expert.objects.filter(id=other_invitation.expert_id).update(time_zone="America/New_York")
    services.invitation_send(invitation_id=invitation.id)
    korean = mail.outbox[-1].body
    assert "2030년 3월 1일" in korean and "9:30" in korean and "(KST)" in korean
    assert "까지 응답해 주십시오" in korean
    services.invitation_send(invitation_id=other_invitation.id)
    english = mail.outbox[-1].body
    assert "Please answer by Feb. 28, 2030, 7:30 p.m. (EST): the round closes then." in english
    assert ".." not in english


def test_english_dates_end_sentences_with_one_full_stop(expert_client, invitation, questions):
    expert_client.post(
        form_url(invitation), {**answers_post(questions), "submit": "1"}, follow=True
    )
    html = expert_client.get(reverse("elicitation:expert-welcome", args=[invitation.id]))
    text = html.content.decode()
    assert "You submitted your answers on" in text and "(UTC)." in text
    assert "m.." not in text


def test_organizer_date_fields_and_dates_say_their_time_zone(organizer_client, survey, invitation):
    page = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    text = page.content.decode()
    assert "Planned opening (optional) (UTC)" in text
    assert "Planned closing (optional) (UTC)" in text
    Round.objects.filter(id=invitation.survey_round_id).update(
        closes_at=datetime(2030, 3, 1, 0, 30, tzinfo=ZoneInfo("UTC"))
    )
    invitation.sent_at = datetime(2030, 2, 1, 9, 56, tzinfo=ZoneInfo("UTC"))
    invitation.save(update_fields=["sent_at"])
    page = organizer_client.get(
        reverse("elicitation:round-detail", args=[invitation.survey_round_id])
    )
    text = page.content.decode()
    assert "03/01/2030 12:30 a.m. (UTC)" in text  # planned closing
    assert "02/01/2030 9:56 a.m. (UTC)" in text  # emailed
    page = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    opened = invitation.survey_round.opened_at
    assert f"{opened:%m/%d/%Y} " in page.content.decode() and "(UTC)</td>" in page.content.decode()
