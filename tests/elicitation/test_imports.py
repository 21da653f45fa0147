"""CSV import of questions and experts: preview, confirm, and every kind of bad file."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from elicitation import imports
from elicitation.models import Expert, Question, Scenario

QUESTIONS_CSV = (
    "code,text,kind,scenario,scenario_title,unit,lower_bound,upper_bound,is_seed,seed_answer\n"
    'B01,"Will Japan, under a blockade, allow basing?",binary,invasion,Invasion,,,,no,\n'
    "B02,Will the Philippines allow access?,BINARY,invasion,,,,,yes,1\n"
    "N05,How many troops?,numeric,,,troops,0,50000,,\n"
)
EXPERTS_CSV = (
    "name,email,language,nationality,sector\n"
    "Jane Doe,Jane@Example.org,en,US,think tank\n"
    "Kim Min-jun,minjun@example.org,ko,ROK,government\n"
)


def _upload(client, survey, what: str, content: bytes, name: str = "file.csv"):
    url = reverse(f"elicitation:{what}-import", args=[survey.id])
    return client.post(url, {"file": SimpleUploadedFile(name, content, "text/csv")})


def _confirm(client, survey, what: str, text: str):
    url = reverse(f"elicitation:{what}-import", args=[survey.id])
    return client.post(url, {"confirm": "1", "csv_text": text})


def test_questions_preview_then_import(organizer_client, survey):
    before = survey.questions.count()
    preview = _upload(organizer_client, survey, "question", QUESTIONS_CSV.encode())
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "Preview: 3 rows" in html and "New scenarios will be created: invasion" in html
    assert survey.questions.count() == before  # a preview imports nothing
    response = _confirm(organizer_client, survey, "question", QUESTIONS_CSV)
    assert response.status_code == 302
    detail = organizer_client.get(response["Location"]).content.decode()
    assert "Imported 3 questions." in detail
    b02 = survey.questions.get(code="B02")
    assert b02.kind == Question.Kind.BINARY and b02.is_seed and b02.seed_answer == 1.0
    assert b02.scenario.code == "invasion" and b02.scenario.title == "Invasion"
    n05 = survey.questions.get(code="N05")
    assert (n05.kind, n05.unit, n05.lower_bound, n05.upper_bound) == ("numeric", "troops", 0, 50000)
    assert survey.questions.get(code="B01").text == "Will Japan, under a blockade, allow basing?"


def test_experts_import_makes_cohort_attributes_of_extra_columns(organizer_client, survey):
    data = ("\ufeff" + EXPERTS_CSV).encode()  # Excel's "CSV UTF-8" BOM
    preview = _upload(organizer_client, survey, "expert", data)
    assert preview.status_code == 200 and "Preview: 2 rows" in preview.content.decode()
    response = _confirm(organizer_client, survey, "expert", EXPERTS_CSV)
    assert response.status_code == 302
    assert "Imported 2 experts." in organizer_client.get(response["Location"]).content.decode()
    jane = survey.experts.get(contact__email="jane@example.org")
    assert jane.attributes == {"nationality": "US", "sector": "think tank"}
    assert jane.code == "E001" and jane.language == "en"
    kim = survey.experts.get(contact__email="minjun@example.org")
    assert kim.language == "ko" and kim.user.username.startswith("expert-")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("code,text,kind\nB01,Text?,binary\n".encode("utf-16"), "UTF-16"),
        ("code,text,kind\nB01,Région ?,binary\n".encode("latin-1"), "not UTF-8"),
        (b"PK\x03\x04\x14\x00\x06\x00binary-xlsx", "workbook"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        (b"", "Choose a CSV file"),  # Django refuses an empty upload itself
        (b"   \n\n", "empty"),
        (b'code,text,kind\nB01,"Unclosed quote,binary\n', "not valid CSV"),
        (b"code,text\nB01,Text?\n", "Missing columns: kind"),
        (b"code,text,kind,colour\nB01,Text?,binary,red\n", "Unknown columns: colour"),
        (b"code,text,kind,code\nB01,T,binary,B01\n", "Columns named twice: code"),
        (b"code,text,kind\n", "header but no rows"),
        (b"code,text,kind\nB01,Text?,binary,extra\n", "Line 2: 4 values where the header names 3"),
        (b"code,text,kind\nB01,Text?,triangle\n", "“triangle” is not a kind"),
        (b"code,text,kind\nB01,One?,binary\nB01,Two?,binary\n", "already on line 2"),
        (b"code,text,kind\nQ01,Clash?,binary\n", "Q01 is already on this survey"),
        (b"code,text,kind,lower_bound\nN1,T,numeric,1\xc2\xa0000\n", "is not a number"),
        (
            b"code,text,kind,lower_bound,upper_bound\nN1,T,numeric,9,3\n",
            "The lower bound must be below the upper bound",
        ),
        (b"code,text,kind,unit\nB1,T,binary,km\n", "Only numeric questions have a unit"),
        (b"code,text,kind,is_seed\nB1,T,binary,maybe\n", "“maybe” is not yes or no"),
        (b"code,text,kind,is_seed,seed_answer\nB1,T,binary,yes,0.3\n", "1 (yes) or 0 (no)"),
        (b"code,text,kind\nB1,,binary\n", "column “text”: This field cannot be blank"),
        (b"code,text,kind,scenario\nB1,T,binary,has spaces!\n", "column “scenario”"),
    ],
)
def test_bad_question_files_are_explained_and_import_nothing(
    organizer_client, survey, content, message
):
    before = (Question.objects.count(), Scenario.objects.count())
    response = _upload(organizer_client, survey, "question", content)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was imported" in html and 'role="alert"' in html
    assert message in html
    assert "Import 1 row" not in html  # no confirm button
    assert (Question.objects.count(), Scenario.objects.count()) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"email,language\na@example.org,en\n", "Missing columns: name"),
        (b"name,email\nAda,not-an-email\n", "“not-an-email” is not an email address"),
        (b"name,email\nAda,ada@example.org\nAda B,ADA@example.org\n", "already on line 2"),
        (b"name,email\nDup,eunji@example.org\n", "eunji@example.org is already on this survey"),
        (b"name,email,language\nAda,ada@example.org,fr\n", "“fr” is not a language we offer"),
        (b"name,email\n,ada@example.org\n", "column “name”"),
        (b"name,email,code\nAda,ada@example.org,E001\n", "E001 is already on this survey"),
        (b"name,email,code\nAda,ada@example.org,WAY-TOO-LONG-CODE\n", "column “code”"),
    ],
)
def test_bad_expert_files_are_explained_and_import_nothing(
    organizer_client, survey, expert, content, message
):
    before = Expert.objects.count()
    response = _upload(organizer_client, survey, "expert", content)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Expert.objects.count() == before


def test_one_bad_row_among_good_ones_imports_nothing_even_when_confirmed(organizer_client, survey):
    text = "name,email\nGood One,good@example.org\nBad,broken\n"
    response = _confirm(organizer_client, survey, "expert", text)
    assert response.status_code == 400
    assert "Line 3, column “email”" in response.content.decode()
    assert not survey.experts.exists()


def test_a_confirm_without_the_file_text_is_refused(organizer_client, survey):
    response = _confirm(organizer_client, survey, "question", "")
    assert response.status_code == 400
    assert "The file is empty" in response.content.decode()


def test_all_errors_of_a_file_are_listed_with_their_lines(survey):
    text = "code,text,kind,lower_bound\nA1,T,binary,\nA2,T,numeric,abc\nA3,T,dice,\n"
    preview = imports.questions_preview(survey=survey, text=text)
    assert [(error.line, error.column) for error in preview.errors] == [
        (3, "lower_bound"),
        (4, "kind"),
    ]
    assert not preview.ok


def test_semicolon_separated_files_are_read(survey):
    preview = imports.experts_preview(
        survey=survey, text="name;email;sector\nAda;ada@example.org;academia\n"
    )
    assert preview.ok
    assert imports.expert_attributes(preview.rows[0]) == {"sector": "academia"}


def test_experts_without_codes_get_free_codes_around_given_ones(survey, expert):
    text = "name,email,code\nA,a@example.org,\nB,b@example.org,E002\nC,c@example.org,\n"
    created = imports.experts_import(survey=survey, text=text)
    assert [e.code for e in created] == ["E003", "E002", "E004"]


def test_import_pages_refuse_staff_without_rights(client, other_staff, survey):
    client.force_login(other_staff)
    response = _upload(client, survey, "question", QUESTIONS_CSV.encode())
    assert response.status_code == 404
    response = _confirm(client, survey, "question", QUESTIONS_CSV)
    assert response.status_code == 404
    assert not survey.questions.filter(code="B01").exists()
