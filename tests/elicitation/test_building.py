"""Building a survey on the organizer pages, from nothing: the survey, its scenarios and
questions, and who organizes or reads it; no admin needed (issue 13, point 1)."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from elicitation.models import Judgment, Question, Scenario, Survey
from tests.elicitation.helpers import answers_post, form_url


@pytest.fixture
def reader(db):
    """Not staff: someone who will be made an analyst."""
    return get_user_model().objects.create_user("rhea", "rhea@example.org", "pw-rhea-12345")


def test_the_survey_list_offers_creation_on_the_organizer_pages(organizer_client):
    html = organizer_client.get(reverse("elicitation:survey-list")).content.decode()
    assert reverse("elicitation:survey-create") in html
    assert "/admin/" not in html  # neither the list nor the menu sends an organizer there


def test_an_organizer_creates_a_survey_from_nothing(organizer_client, organizer):
    url = reverse("elicitation:survey-create")
    assert organizer_client.get(url).status_code == 200
    data = {
        "title": "Allied basing",
        "title_ko": "동맹 기지",
        "background": "Read *this*.",
        "background_ko": "읽어 주십시오.",
        "contact_email": "panel@example.org",
        "cohort_attribute": "sector",
    }
    response = organizer_client.post(url, data)
    survey = Survey.objects.get(title="Allied basing")
    assert response.status_code == 302 and response.url.endswith(f"/surveys/{survey.id}/")
    assert (survey.title_ko, survey.cohort_attribute) == ("동맹 기지", "sector")
    assert list(survey.organizers.all()) == [organizer]


def test_a_bad_survey_is_explained_and_keeps_what_was_typed(organizer_client):
    url = reverse("elicitation:survey-create")
    data = {"title": "", "background": "Kept.", "contact_email": "nobody", "cohort_attribute": "x"}
    response = organizer_client.post(url, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "Kept." in html and 'value="nobody"' in html
    assert "Enter a valid email address." in html and 'href="#id_title"' in html
    assert not Survey.objects.exists()


def test_an_organizer_edits_the_survey(organizer_client, survey):
    url = reverse("elicitation:survey-edit", args=[survey.id])
    page = organizer_client.get(url).content.decode()
    assert "Allied contributions" in page
    data = {
        "title": "Allied contributions, 2027",
        "title_ko": "동맹 기여",
        "background": "New background.",
        "background_ko": "",
        "contact_email": "desk@example.org",
        "cohort_attribute": "sector",
    }
    assert organizer_client.post(url, data).status_code == 302
    survey.refresh_from_db()
    assert (survey.title, survey.title_ko, survey.contact_email, survey.cohort_attribute) == (
        "Allied contributions, 2027",
        "동맹 기여",
        "desk@example.org",
        "sector",
    )


def test_scenarios_get_descriptions_in_both_languages(organizer_client, survey):
    url = reverse("elicitation:scenario-create", args=[survey.id])
    data = {
        "code": "quarantine",
        "title": "Quarantine",
        "title_ko": "격리",
        "description": "A *customs* quarantine of Taiwan.",
        "description_ko": "대만 세관 격리.",
    }
    assert organizer_client.post(url, data).status_code == 302
    scenario = survey.scenarios.get(code="quarantine")
    assert (scenario.title_ko, scenario.description_ko) == ("격리", "대만 세관 격리.")
    page = organizer_client.get(reverse("elicitation:survey-detail", args=[survey.id]))
    assert "Quarantine" in page.content.decode()  # listed although it has no question yet

    edit = reverse("elicitation:scenario-edit", args=[scenario.id])
    clash = organizer_client.post(edit, {**data, "code": "blockade"})  # the fixture's
    assert clash.status_code == 400 and "already exists" in clash.content.decode()
    assert organizer_client.post(edit, {**data, "description": "Now clearer."}).status_code == 302
    scenario.refresh_from_db()
    assert (scenario.code, scenario.description) == ("quarantine", "Now clearer.")


def test_questions_are_added_with_bounds_and_seeds(organizer_client, survey):
    blockade = survey.scenarios.get(code="blockade")
    url = reverse("elicitation:question-create", args=[survey.id])
    data = {
        "code": "N09",
        "scenario": str(blockade.id),
        "kind": "numeric",
        "text": "How many ships?",
        "text_ko": "몇 척?",
        "unit": "ships",
        "lower_bound": "0",
        "upper_bound": "200",
        "scale": "uniform",
        "is_seed": "on",
        "seed_answer": "12",
    }
    assert organizer_client.post(url, data).status_code == 302
    question = survey.questions.get(code="N09")
    assert (question.scenario, question.lower_bound, question.upper_bound) == (blockade, 0, 200)
    assert question.is_seed and question.seed_answer == 12

    bad = organizer_client.post(url, {**data, "code": "N10", "seed_answer": "500"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "The known answer must lie inside the bounds." in html and 'value="N10"' in html
    assert not survey.questions.filter(code="N10").exists()


@pytest.mark.parametrize("bad", ["1e400", "nan", "²", "9" * 5000])
def test_a_bad_bound_is_a_form_error(organizer_client, survey, bad):
    url = reverse("elicitation:question-create", args=[survey.id])
    data = {"code": "N10", "kind": "numeric", "text": "?", "scale": "uniform"}
    response = organizer_client.post(url, {**data, "lower_bound": bad})
    assert response.status_code == 400
    assert not survey.questions.filter(code="N10").exists()


@pytest.mark.parametrize("bad", ["²", str(2**64), "abc"])
def test_a_bad_scenario_id_is_a_form_error(organizer_client, survey, bad):
    url = reverse("elicitation:question-create", args=[survey.id])
    data = {"code": "Q10", "kind": "binary", "text": "?", "scale": "uniform", "scenario": bad}
    assert organizer_client.post(url, data).status_code == 400
    assert not survey.questions.filter(code="Q10").exists()


def test_a_question_is_edited_until_someone_answers_it(
    organizer_client, survey, questions, expert_client, invitation
):
    q01 = questions["Q01"]
    url = reverse("elicitation:question-edit", args=[q01.id])
    data = {"code": "Q01", "kind": "binary", "text": "Will Japan allow US basing by 2030?"}
    data |= {"scale": "uniform", "scenario": str(q01.scenario_id)}
    assert organizer_client.post(url, data).status_code == 302
    q01.refresh_from_db()
    assert q01.text == "Will Japan allow US basing by 2030?"

    expert_client.post(form_url(invitation), {**answers_post(questions), "save": "1"})
    assert Judgment.objects.filter(question=q01).exists()
    page = organizer_client.get(url).content.decode()
    assert "can no longer change" in page
    response = organizer_client.post(url, {**data, "text": "Reworded"})
    assert response.status_code == 400
    assert "Experts have already answered Q01" in response.content.decode()
    q01.refresh_from_db()
    assert q01.text == "Will Japan allow US basing by 2030?"


def test_people_are_chosen_among_staff_and_readers_never_experts(
    organizer_client, organizer, other_staff, reader, survey, expert
):
    url = reverse("elicitation:survey-people", args=[survey.id])
    html = organizer_client.get(url).content.decode()
    assert "oscar" in html and "rhea" in html
    assert expert.user.username not in html  # expert accounts are never listed
    data = {"organizers": [organizer.id, other_staff.id], "analysts": [reader.id]}
    assert organizer_client.post(url, data).status_code == 302
    assert set(survey.organizers.all()) == {organizer, other_staff}
    assert list(survey.analysts.all()) == [reader]
    assert reader.groups.filter(name="analyst").exists()  # so the reports open for them

    sneaky = organizer_client.post(url, {"organizers": [organizer.id, expert.user_id]})
    assert sneaky.status_code == 400  # not among the choices
    alone = organizer_client.post(url, {"organizers": [other_staff.id]})
    assert alone.status_code == 400 and "Keep yourself" in alone.content.decode()
    assert set(survey.organizers.all()) == {organizer, other_staff}


def test_the_new_analyst_reads_the_reports(organizer_client, organizer, reader, survey, client):
    url = reverse("elicitation:survey-people", args=[survey.id])
    organizer_client.post(url, {"organizers": [organizer.id], "analysts": [reader.id]})
    client.force_login(reader)
    index = client.get(reverse("aggregation:report-index")).content.decode()
    assert "Allied contributions" in index


@pytest.mark.parametrize(
    "name", ["survey-edit", "survey-people", "scenario-create", "question-create"]
)
def test_other_staff_cannot_build_someone_elses_survey(other_staff, client, survey, name):
    client.force_login(other_staff)
    assert client.get(reverse(f"elicitation:{name}", args=[survey.id])).status_code == 404
    assert client.post(reverse(f"elicitation:{name}", args=[survey.id]), {}).status_code == 404


def test_other_staff_cannot_edit_its_scenarios_or_questions(other_staff, client, survey):
    client.force_login(other_staff)
    scenario = Scenario.objects.get(survey=survey, code="blockade")
    question = Question.objects.get(survey=survey, code="Q01")
    for url in (
        reverse("elicitation:scenario-edit", args=[scenario.id]),
        reverse("elicitation:question-edit", args=[question.id]),
    ):
        assert client.post(url, {"code": "x", "title": "x", "text": "x"}).status_code == 404
    question.refresh_from_db()
    assert question.code == "Q01"


def test_members_who_are_not_staff_cannot_create_surveys(member, client):
    client.force_login(member)
    response = client.post(reverse("elicitation:survey-create"), {"title": "Mine"})
    assert response.status_code == 403
    assert not Survey.objects.exists()


def test_experts_see_the_scenario_description_written_here(
    organizer_client, survey, expert_client, invitation
):
    blockade = survey.scenarios.get(code="blockade")
    url = reverse("elicitation:scenario-edit", args=[blockade.id])
    data = {"code": "blockade", "title": "Blockade", "description": "Ships are **stopped**."}
    assert organizer_client.post(url, data).status_code == 302
    html = expert_client.get(form_url(invitation)).content.decode()
    assert "Ships are <strong>stopped</strong>." in html


def test_one_expert_is_added_by_hand(organizer_client, survey, expert):
    url = reverse("elicitation:expert-add", args=[survey.id])
    assert organizer_client.get(url).status_code == 200
    data = {
        "name": "Dae-ho Kim",
        "email": "daeho@example.org",
        "language": "ko",
        "time_zone": "Asia/Seoul",
        "attributes": "nationality=ROK\nsector=academia",
    }
    assert organizer_client.post(url, data).status_code == 302
    added = survey.experts.get(contact__email="daeho@example.org")
    assert (added.language, added.time_zone) == ("ko", "Asia/Seoul")
    assert added.attributes == {"nationality": "ROK", "sector": "academia"}

    again = organizer_client.post(url, {**data, "email": "eunji@example.org"})  # the fixture's
    assert again.status_code == 400 and "already on this survey" in again.content.decode()
    zone = organizer_client.post(url, {**data, "email": "x@example.org", "time_zone": "Mars/Base"})
    assert zone.status_code == 400 and "is not a time zone" in zone.content.decode()
    bad = organizer_client.post(url, {**data, "email": "y@example.org", "attributes": "ROK"})
    assert bad.status_code == 400 and "name=value" in bad.content.decode()
    assert survey.experts.count() == 2
