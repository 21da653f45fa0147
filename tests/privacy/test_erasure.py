"""Erasure: no name or email left on any page, download, admin list or mail log; finished
runs unchanged but marked; the audit line names nobody."""

import json
from email import message_from_bytes, policy

import pytest
from django.contrib import admin
from django.core import mail
from django.urls import reverse

from aggregation.models import AggregationRun, QuestionResult
from api.services import api_token_create
from elicitation import reminders
from elicitation.models import Invitation, Judgment, Reminder, ReminderDelivery
from privacy.models import ErasedRunMark, SubjectRequest
from tests.privacy.conftest import EMAIL, NAME

IDENTITY = [NAME.lower(), EMAIL.lower()]


def _mail_texts(folder) -> list[str]:
    texts = []
    for path in folder.glob("*.log"):
        for chunk in path.read_bytes().split(b"-" * 79 + b"\n"):
            if chunk.strip():
                message = message_from_bytes(chunk.strip(), policy=policy.default)
                body = message.get_body(("plain",))
                texts.append(str(dict(message.items())) + (body.get_content() if body else ""))
    return texts


def _erase(client, organizer, person, **data):
    client.force_login(organizer)
    url = reverse("privacy:person-erase", args=[person.survey_id, person.id])
    return client.post(url, {"confirm": "yes", **data})


def _urls(person, run) -> list[str]:
    survey, rounds = person.survey, list(person.survey.rounds.order_by("number"))
    urls = [
        reverse("elicitation:survey-list"),
        reverse("elicitation:survey-detail", args=[survey.id]),
        reverse("elicitation:survey-people", args=[survey.id]),
        reverse("privacy:survey-requests", args=[survey.id]),
        reverse("privacy:person-detail", args=[survey.id, person.id]),
        reverse("privacy:person-export-json", args=[survey.id, person.id]),
        reverse("privacy:person-export-html", args=[survey.id, person.id]),
        reverse("aggregation:report-index"),
        reverse("aggregation:experts-report", args=[run.id]),
        reverse("aggregation:run-results-csv", args=[run.id]),
    ]
    for survey_round in rounds:
        urls += [
            reverse("elicitation:round-detail", args=[survey_round.id]),
            reverse("elicitation:round-rationales", args=[survey_round.id]),
            reverse("aggregation:round-report", args=[survey_round.id]),
            reverse("aggregation:round-judgments-csv", args=[survey_round.id]),
        ]
    q01 = run.question_results.get(question__code="Q01").question_id
    urls.append(reverse("aggregation:question-report", args=[run.id, q01]))
    return urls


def _admin_changelists() -> list[str]:
    return [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]


def _assert_nowhere(texts: dict[str, str]) -> None:
    for where, text in texts.items():
        for value in IDENTITY:
            assert value not in text.lower(), f"{value!r} is still on {where}"


def test_the_trail_names_the_person_before_erasure(client, organizer, person, mail_dir):
    # Otherwise the test below would prove nothing.
    assert any(EMAIL in text for text in _mail_texts(mail_dir))
    assert any(NAME in text for text in _mail_texts(mail_dir))
    client.force_login(organizer)
    page = client.get(reverse("elicitation:survey-detail", args=[person.survey_id]))
    assert NAME in page.content.decode()


@pytest.mark.parametrize("erase_answers", [True, False])
def test_erasure_leaves_the_name_and_email_nowhere(
    client, organizer, superuser, person, finished_run, mail_dir, erase_answers
):
    response = _erase(client, organizer, person, answers="yes" if erase_answers else "")
    assert response.status_code == 302
    texts = {}
    for url in _urls(person, finished_run):
        page = client.get(url)
        assert page.status_code == 200, url
        texts[url] = page.content.decode()
    token = api_token_create(user=organizer, name="check")[1]
    client.logout()
    for url in (
        f"/api/v1/runs/{finished_run.id}",
        f"/api/v1/rounds/{finished_run.survey_round_id}/judgments.csv",
    ):
        texts[url] = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").content.decode()
    client.force_login(superuser)
    for url in [reverse("admin:index"), *_admin_changelists()]:
        page = client.get(url)
        assert page.status_code == 200, url
        texts[url] = page.content.decode()
    for k, text in enumerate(_mail_texts(mail_dir)):
        texts[f"mail log message {k}"] = text
    _assert_nowhere(texts)
    # Nothing goes out to the person again: their links are revoked and expired.
    invitation = Invitation.objects.get(expert=person.expert, survey_round__number=2)
    reminder = Reminder.objects.create(
        survey_round=invitation.survey_round, send_at=invitation.created_at
    )
    delivery = ReminderDelivery.objects.create(reminder=reminder, invitation=invitation)
    mail.outbox = []
    assert not reminders.reminder_delivery_send(delivery_id=delivery.id)
    assert mail.outbox == []


def test_erasing_answers_marks_the_runs_without_changing_them(
    client, organizer, person, finished_run
):
    result_before = json.dumps(finished_run.result, sort_keys=True)
    rows_before = list(QuestionResult.objects.values_list("consensus", flat=True))
    _erase(client, organizer, person, answers="yes", reason=f"Request from {NAME} by email")
    finished_run.refresh_from_db()
    assert json.dumps(finished_run.result, sort_keys=True) == result_before
    assert list(QuestionResult.objects.values_list("consensus", flat=True)) == rows_before
    assert finished_run.status == AggregationRun.Status.SUCCEEDED
    assert not Judgment.objects.filter(expert=person.expert).exists()
    assert ErasedRunMark.objects.filter(aggregation_run=finished_run).exists()
    report = client.get(reverse("aggregation:round-report", args=[finished_run.survey_round_id]))
    assert "Built on data since erased" in report.content.decode()
    audit = SubjectRequest.objects.get(kind=SubjectRequest.Kind.ERASE_ALL)
    assert audit.by == organizer and audit.at is not None
    assert audit.detail["answers_erased"] == 3
    assert audit.detail["runs_marked"] == [finished_run.id]
    line = json.dumps(audit.detail) + audit.reason
    assert NAME not in line and EMAIL not in line and "[erased]" in audit.reason


def test_erasing_the_identity_only_keeps_the_answers_and_the_runs_as_they_are(
    client, organizer, person, finished_run
):
    n_answers = Judgment.objects.filter(expert=person.expert).count()
    _erase(client, organizer, person)
    assert Judgment.objects.filter(expert=person.expert).count() == n_answers
    assert not ErasedRunMark.objects.exists()
    person.refresh_from_db()
    assert person.name == "[erased]" and person.email.endswith("@erased.invalid")
    user = person.expert.user
    user.refresh_from_db()
    assert not user.is_active and not user.has_usable_password() and user.email == ""
    # Erasing again says what happened instead of doing it twice.
    again = _erase(client, organizer, person)
    assert again.status_code == 302
    assert SubjectRequest.objects.filter(kind="erase_identity").count() == 1
    # The answers can still go later, at a second request.
    _erase(client, organizer, person, answers="yes")
    assert not Judgment.objects.filter(expert=person.expert).exists()
    assert ErasedRunMark.objects.filter(aggregation_run=finished_run).exists()


def test_nothing_is_erased_without_the_confirmation(client, organizer, person):
    client.force_login(organizer)
    url = reverse("privacy:person-erase", args=[person.survey_id, person.id])
    response = client.post(url, {"answers": "yes"}, follow=True)
    assert "I confirm" in response.content.decode()
    person.refresh_from_db()
    assert person.name == NAME
    assert Judgment.objects.filter(expert=person.expert).exists()
