"""Links that can be revoked, sessions bound to one expert, throttled guessing, and strict
anonymity that holds in the admin and in the data (random codes, contacts kept apart)."""

import csv
import io
import logging
import re

import pytest
from django.test import Client
from django.urls import reverse

from elicitation import imports, services
from elicitation.models import Expert, ExpertContact, Invitation, Survey
from tests.elicitation.helpers import client_with_link, form_url, link_path

# --- Links -----------------------------------------------------------------------------------


def test_a_revoked_link_and_the_sessions_it_opened_stop_working(
    organizer_client, invitation2, expert_client2
):
    old_link = link_path(invitation2)
    assert expert_client2.get(form_url(invitation2)).status_code == 200

    url = reverse("elicitation:invitation-new-link", args=[invitation2.id])
    response = organizer_client.post(url, follow=True)
    assert "no longer works" in response.content.decode()

    invitation2.refresh_from_db()
    assert invitation2.link_version == 2 and invitation2.link_revoked_at is not None
    assert invitation2.sent_at is None  # the new link is (re)sent by email
    assert expert_client2.get(form_url(invitation2)).status_code == 403
    assert Client().get(old_link).status_code == 403
    fresh = client_with_link(invitation2)  # the new link opens
    assert fresh.get(form_url(invitation2)).status_code == 200


def test_only_an_organizer_of_the_survey_can_revoke_a_link(client, other_staff, invitation2):
    client.force_login(other_staff)
    url = reverse("elicitation:invitation-new-link", args=[invitation2.id])
    assert client.post(url).status_code == 404
    invitation2.refresh_from_db()
    assert invitation2.link_version == 1


def test_a_link_of_a_closed_round_is_not_renewed(organizer_client, round1, expert):
    invitation = Invitation.objects.get(survey_round=round1, expert=expert)
    url = reverse("elicitation:invitation-new-link", args=[invitation.id])
    page = organizer_client.post(url, follow=True).content.decode()
    assert "is not open" in page
    invitation.refresh_from_db()
    assert invitation.link_version == 1


def test_a_staff_login_in_the_same_browser_ends_the_expert_pages(
    expert_client2, invitation2, organizer
):
    assert expert_client2.get(form_url(invitation2)).status_code == 200
    login = expert_client2.post(
        reverse("login"), {"username": organizer.username, "password": "pw-olivia-123"}
    )
    assert login.status_code == 302
    assert expert_client2.get(form_url(invitation2)).status_code == 403


def test_opening_a_link_signs_a_staff_user_out(organizer_client, invitation2):
    assert organizer_client.get(reverse("elicitation:survey-list")).status_code == 200
    assert organizer_client.get(link_path(invitation2)).status_code == 302
    assert organizer_client.get(form_url(invitation2)).status_code == 200
    assert organizer_client.get(reverse("elicitation:survey-list")).status_code == 302  # login


# --- Throttling --------------------------------------------------------------------------


def test_guessed_links_are_throttled_but_a_valid_link_still_opens(
    settings, invitation2, round2, other_expert, caplog
):
    settings.LINK_FAILURE_LIMIT = 10
    guesser = Client()
    statuses = [
        guesser.get(f"/e/{invitation2.id}/?t=guess{n}AAAAAAAAAAAAAAAAAAAA").status_code
        for n in range(20)
    ]
    assert statuses[:10] == [403] * 10
    assert statuses[10:] == [429] * 10
    throttled = guesser.get(f"/e/{invitation2.id}/?t=again")
    assert "Too many" in throttled.content.decode()
    assert [r for r in caplog.records if "throttled" in r.getMessage()]  # one log line
    assert len([r for r in caplog.records if "Magic links throttled" in r.getMessage()]) == 1

    # Another expert behind the same address opens their valid link during it.
    other = Invitation.objects.get(survey_round=round2, expert=other_expert)
    same_address = Client()
    assert same_address.get(link_path(other)).status_code == 302
    assert same_address.get(form_url(other)).status_code == 200
    # A guesser from elsewhere is not throttled by these guesses.
    elsewhere = Client(REMOTE_ADDR="127.0.0.2")
    assert elsewhere.get(f"/e/{invitation2.id}/?t=guess").status_code == 403


def test_wrong_passwords_are_throttled_per_account_and_address(
    settings, organizer, invitation2, caplog
):
    settings.AXES_FAILURE_LIMIT = 5
    client = Client()
    statuses = [
        client.post(
            reverse("login"), {"username": organizer.username, "password": f"wrong-{n}"}
        ).status_code
        for n in range(20)
    ]
    assert statuses[:4] == [200] * 4  # the form again, with its error
    assert set(statuses[5:]) == {429}
    locked = client.post(
        reverse("login"), {"username": organizer.username, "password": "pw-olivia-123"}
    )
    assert locked.status_code == 429  # even the right password, until the cool-off ends
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert any("Locking out" in r.getMessage() for r in caplog.records)
    # The organizer signs in from another address, and experts' links still open.
    elsewhere = Client(REMOTE_ADDR="127.0.0.2")
    ok = elsewhere.post(
        reverse("login"), {"username": organizer.username, "password": "pw-olivia-123"}
    )
    assert ok.status_code == 302
    assert client.get(link_path(invitation2)).status_code == 302


# --- Strict anonymity in the data ----------------------------------------------------------


@pytest.fixture
def strict_panel(organizer):
    survey = services.survey_create(
        title="Strict", anonymity=Survey.Anonymity.STRICT, organizers=[organizer]
    )
    people = [
        ("Zoe Young", "zoe@example.org", "US"),
        ("Adam Baker", "adam@example.org", "ROK"),
        ("Mina Cho", "mina@example.org", "ROK"),
        ("Carl Diaz", "carl@example.org", "US"),
        ("Hana Lee", "hana@example.org", "ROK"),
    ]
    services.question_create(survey=survey, code="Q01", text="Will Japan allow US basing?")
    experts = [
        services.expert_create(
            survey=survey, name=name, email=email, attributes={"nationality": cohort}, code="E001"
        )
        for name, email, cohort in people
    ]
    return survey, experts


def test_strict_codes_are_drawn_at_random_whatever_the_organizer_gives(strict_panel):
    _survey, experts = strict_panel
    codes = [expert.code for expert in experts]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"E\d{5}", code) for code in codes)
    assert "E001" not in codes
    assert all(expert.user.email == "" for expert in experts)  # the user carries no address


def test_a_strict_import_ignores_the_code_column_and_says_so(organizer):
    survey = services.survey_create(title="S", anonymity=Survey.Anonymity.STRICT)
    text = "name,email,code\nAda,ada@example.org,E001\nBo,bo@example.org,E002\n"
    preview = imports.experts_preview(survey=survey, text=text)
    assert preview.ok
    assert any("drawn at random" in notice for notice in preview.notices)
    created = imports.experts_import(survey=survey, text=text)
    assert {expert.code for expert in created}.isdisjoint({"E001", "E002"})


def test_an_import_flags_values_a_spreadsheet_would_run(survey):
    text = "name,email,code,nationality\nAda,ada@example.org,=1+2,@SUM(A1)\n"
    preview = imports.experts_preview(survey=survey, text=text)
    assert preview.ok  # imported as text ...
    assert any("code, nationality" in notice for notice in preview.notices)  # ... and flagged


def test_switching_to_strict_before_any_round_draws_new_codes(survey, expert, other_expert):
    before = {expert.code, other_expert.code}
    services.survey_anonymity_set(survey=survey, anonymity=Survey.Anonymity.STRICT)
    after = set(survey.experts.values_list("code", flat=True))
    assert after.isdisjoint(before)


def _admin_urls(survey: Survey, experts: list[Expert]) -> list[str]:
    """Every admin changelist of the elicitation app with each ordering it offers, the
    filters an attacker would try, and every change page of the panel's rows."""
    from django.contrib import admin

    urls = []
    for model, model_admin in admin.site._registry.items():
        base = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        urls.append(base)
        for index in range(1, len(model_admin.list_display) + 1):
            urls += [f"{base}?o={index}", f"{base}?o=-{index}"]
    contacts = ReverseContacts(survey)
    for expert in experts:
        urls += [
            f"/admin/elicitation/judgment/?expert__id__exact={expert.pk}",
            f"/admin/elicitation/expertcontact/?expert={expert.pk}",
            f"/admin/elicitation/expertcontact/?expert__id__exact={expert.pk}",
            f"/admin/elicitation/expertcontact/?expert__code={expert.code}",
            f"/admin/elicitation/expert/?contact__name={expert.contact.name}",
            f"/admin/elicitation/expert/?q={expert.contact.name}",
            f"/admin/elicitation/expertcontact/?q={expert.code}",
            reverse("admin:elicitation_expert_change", args=[expert.pk]),
            reverse("admin:elicitation_expert_history", args=[expert.pk]),
            reverse("admin:auth_user_change", args=[expert.user_id]),
            reverse("admin:auth_user_delete", args=[expert.user_id]),
        ]
    urls += [reverse("admin:elicitation_expertcontact_change", args=[c]) for c in contacts]
    urls.append(reverse("admin:elicitation_survey_delete", args=[survey.pk]))
    return urls


def ReverseContacts(survey: Survey) -> list[str]:  # noqa: N802 (reads like a list)
    return [
        str(pk) for pk in ExpertContact.objects.filter(survey=survey).values_list("pk", flat=True)
    ]


def test_no_admin_screen_pairs_a_name_with_a_code_at_the_strict_level(
    client, superuser, strict_panel
):
    survey, experts = strict_panel
    client.force_login(superuser)
    seen = 0
    for url in _admin_urls(survey, experts):
        response = client.get(url)
        assert response.status_code < 500, url
        body = response.content.decode()
        for expert in experts:
            contact = expert.contact
            paired = expert.code in body and (contact.name in body or contact.email in body)
            assert not paired, (url, expert.code)
        seen += response.status_code == 200
    assert seen > 40  # the walk read real pages, not a wall of refusals


def test_the_admin_refuses_filters_that_cross_from_contacts_to_experts(
    client, superuser, strict_panel
):
    _survey, experts = strict_panel
    client.force_login(superuser)
    expert = experts[0]
    for url in (
        f"/admin/elicitation/expertcontact/?expert={expert.pk}",
        f"/admin/elicitation/expertcontact/?expert__code={expert.code}",
        f"/admin/elicitation/expert/?contact__name={expert.contact.name}",
        f"/admin/elicitation/expert/?contact={expert.contact.pk}",
    ):
        response = client.get(url)
        assert response.status_code == 400 or expert.contact.name not in response.content.decode()


def test_consent_and_wording_records_are_read_only_and_pair_nobody(client, superuser, strict_panel):
    """The admin of issue 17's records: consent texts and responses, question wordings and
    confirmations are viewed, never edited, and name no expert next to a contact."""
    from elicitation import clarifications, consent
    from elicitation.models import ConsentResponse, ConsentVersion, QuestionVersion

    survey, experts = strict_panel
    version = consent.consent_version_save(survey=survey, text="Terms.")
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    question = survey.questions.get()
    for expert in experts:
        invitation = Invitation.objects.get(expert=expert, survey_round=survey_round)
        consent.consent_respond(invitation=invitation, version_id=version.id, accepted=True)
        services.judgment_save(invitation=invitation, question=question, probability=0.4)
    clarifications.question_clarify(question=question, text="Reworded?", note="Clearer.")
    first = Invitation.objects.get(expert=experts[0], survey_round=survey_round)
    clarifications.judgment_wording_confirm(invitation=first, question_id=question.id)
    client.force_login(superuser)
    records = [
        *(("consentresponse", response.pk) for response in ConsentResponse.objects.all()),
        *(("consentversion", row.pk) for row in ConsentVersion.objects.all()),
        *(("questionversion", row.pk) for row in QuestionVersion.objects.all()),
    ]
    urls = _admin_urls(survey, experts)
    for model, pk in records:
        urls += [
            reverse(f"admin:elicitation_{model}_change", args=[pk]),
            reverse(f"admin:elicitation_{model}_history", args=[pk]),
        ]
    for expert in experts:
        urls += [
            f"/admin/elicitation/consentresponse/?expert={expert.pk}",
            f"/admin/elicitation/consentresponse/?expert__contact__name={expert.contact.name}",
            f"/admin/elicitation/consentresponse/?q={expert.contact.name}",
        ]
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        body = response.content.decode()
        for expert in experts:
            contact = expert.contact
            paired = expert.code in body and (contact.name in body or contact.email in body)
            assert not paired, (url, expert.code)
    # records: no add, no change, no delete
    for model, pk in records:
        change = reverse(f"admin:elicitation_{model}_change", args=[pk])
        page = client.get(change).content.decode()
        assert 'name="_save"' not in page
        assert client.post(change, {}).status_code == 403
        assert client.get(reverse(f"admin:elicitation_{model}_add")).status_code == 403
        assert (
            client.get(reverse(f"admin:elicitation_{model}_delete", args=[pk])).status_code == 403
        )
    assert ConsentResponse.objects.count() == len(experts)
    listing = client.get("/admin/elicitation/consentresponse/").content.decode()
    assert all(expert.code in listing for expert in experts)  # a real list, codes only
    confirmations = client.get("/admin/elicitation/judgmentrevision/?confirmed__exact=1")
    assert "1 judgment revision" in confirmations.content.decode()


def test_the_contact_list_is_in_name_order_under_every_ordering(client, superuser, strict_panel):
    """Row order must not follow the codes: that alone would pair them."""
    survey, experts = strict_panel
    client.force_login(superuser)
    contacts = [expert.contact for expert in experts]
    by_name = [c.name for c in sorted(contacts, key=lambda c: c.name)]
    by_email = [c.name for c in sorted(contacts, key=lambda c: c.email)]
    allowed = [by_name, by_name[::-1], by_email, by_email[::-1]]
    base = reverse("admin:elicitation_expertcontact_changelist")
    for query in ("", "?o=1", "?o=-1", "?o=2", "?o=-2", "?o=3", "?o=-3"):
        body = client.get(base + query).content.decode()
        order = sorted(by_name, key=body.find)
        assert order in allowed, query
    # Contacts have their own random ids, so no id carries over to an expert's.
    assert all(not str(pk).isdigit() for pk in ExpertContact.objects.values_list("pk", flat=True))


def test_the_survey_page_lists_a_strict_panel_without_codes_or_cohorts(
    organizer_client, strict_panel
):
    survey, experts = strict_panel
    body = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    text = body.content.decode()
    assert all(expert.contact.name in text for expert in experts)
    assert not any(expert.code in text for expert in experts)
    assert "ROK (3)" in text and "US (2)" in text  # cohort sizes, not anyone's cohort


def test_exports_name_nobody(organizer_client, strict_panel):
    survey, experts = strict_panel
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    response = organizer_client.get(
        reverse("aggregation:round-judgments-csv", args=[survey_round.id])
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    text = str(rows)
    assert not any(e.contact.name in text or e.contact.email in text for e in experts)


def test_logging_of_revocation_names_the_code_only(organizer_client, invitation2, caplog):
    caplog.set_level(logging.INFO, logger="elicitation.services")
    organizer_client.post(reverse("elicitation:invitation-new-link", args=[invitation2.id]))
    lines = [r.getMessage() for r in caplog.records if "revoked" in r.getMessage()]
    assert lines and invitation2.expert.code in lines[0]
    assert invitation2.expert.contact.name not in lines[0]


def test_the_throttled_page_speaks_the_browsers_language(settings, invitation2):
    settings.LINK_FAILURE_LIMIT = 1
    guesser = Client(HTTP_ACCEPT_LANGUAGE="ko")
    for n in range(2):
        guesser.get(f"/e/{invitation2.id}/?t=guess{n}")
    page = guesser.get(f"/e/{invitation2.id}/?t=guess-again")
    assert page.status_code == 429
    assert "작동하지 않는 링크가 너무 많이 열렸습니다" in page.content.decode()
