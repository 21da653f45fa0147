"""The export of one expert's data: every table that refers to an expert is in it."""

import json

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import reverse
from django.utils.html import escape

from elicitation.models import Expert
from privacy import export
from privacy.models import SubjectRequest
from tests.privacy.conftest import EMAIL, NAME


def _label(model) -> str:
    return model._meta.label


def models_holding_expert_data() -> set[str]:
    """Every model whose rows belong to an expert: those with a relation to Expert, then
    (transitively) those whose rows hang from such rows (a judgment's revisions), and the
    expert's own account (a one-to-one from Expert)."""
    found: set[str] = {_label(Expert)}
    todo = [Expert]
    while todo:
        model = todo.pop()
        for relation in model._meta.related_objects:
            child = relation.related_model
            if _label(child) not in found:
                found.add(_label(child))
                todo.append(child)
    for field in Expert._meta.concrete_fields:
        if field.one_to_one:
            found.add(_label(field.related_model))
    return found


def test_every_model_that_refers_to_an_expert_is_exported():
    missing = models_holding_expert_data() - export.covered_models()
    assert not missing, (
        f"{sorted(missing)} refer to experts but no section of privacy/export.py covers them: "
        "add an @export_section provider (or list the model in an existing one's covers)"
    )


def test_every_model_a_section_names_exists():
    for label in export.covered_models():
        assert apps.get_model(label)
    assert settings.AUTH_USER_MODEL in export.covered_models()


def test_the_export_holds_every_row_about_the_person(client, organizer, person):
    client.force_login(organizer)
    url = reverse("privacy:person-export-json", args=[person.survey_id, person.id])
    response = client.get(url)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "attachment" in response["Content-Disposition"]
    document = json.loads(response.content)
    sections = document["sections"]
    assert set(sections) == {section.key for section in export.SECTIONS}
    assert sections["contact"]["rows"] == [{"id": str(person.id), "name": NAME, "email": EMAIL}]
    assert sections["expert"]["rows"][0]["code"] == "E001"
    answers = sections["answers"]["rows"]
    assert len(answers) == 3  # Q01-Q03 of round 1
    q01 = next(a for a in answers if a["question_code"] == "Q01")
    assert q01["revisions"][0]["rationale"] == "first go"
    invitations = sections["invitations"]["rows"]
    assert [i["round"] for i in invitations] == [1, 2]
    assert invitations[1]["emails"] and invitations[1]["reminders"][0]["sent_at"]
    assert sections["consent"]["rows"][0]["accepted"] is True
    assert sections["round_events"]["rows"][0]["detail"] == "E001"
    # Every row in a section is the person's own: nobody else's code, answers or invitations.
    others = {code for code in person.survey.experts.values_list("code", flat=True)} - {"E001"}
    text = json.dumps(document)
    assert not any(f'"{code}"' in text for code in others)
    assert SubjectRequest.objects.get().kind == "export"


def test_the_readable_export_names_every_section(client, organizer, person):
    client.force_login(organizer)
    url = reverse("privacy:person-export-html", args=[person.survey_id, person.id])
    page = client.get(url).content.decode()
    for section in export.SECTIONS:
        assert escape(str(section.title)) in page
    assert NAME in page and "first go" in page


def test_a_strict_survey_export_withholds_the_code(client, organizer, person):
    person.survey.anonymity = "strict"
    person.survey.save(update_fields=["anonymity"])
    client.force_login(organizer)
    url = reverse("privacy:person-export-json", args=[person.survey_id, person.id])
    rows = json.loads(client.get(url).content)["sections"]["expert"]["rows"]
    assert rows[0]["code"] != "E001"


@pytest.mark.parametrize(
    ("persona", "status"),
    [("other_staff", 404), ("analyst", 403), ("anonymous", 302)],
)
def test_only_the_surveys_organizers_handle_requests(client_as, person, persona, status):
    client = client_as(persona)
    args = [person.survey_id, person.id]
    for name in ("person-detail", "person-export-json", "person-export-html"):
        assert client.get(reverse(f"privacy:{name}", args=args)).status_code == status
    erase = client.post(reverse("privacy:person-erase", args=args), {"confirm": "yes"})
    assert erase.status_code == status
    person.refresh_from_db()
    assert person.name == NAME
    assert not SubjectRequest.objects.exists()
