"""Meta-predictions (issue 15): which cohorts and questions ask them, validation, storage,
history and the required mode, called through the services."""

import csv
import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from elicitation import forms, imports, meta, selectors, services
from elicitation.models import Invitation, Judgment, JudgmentRevision, Survey
from privacy.export import expert_export
from tests.elicitation.helpers import answers_post, client_with_link, form_url


@pytest.fixture
def meta_survey(survey):
    return services.survey_update(survey=survey, meta_predictions=Survey.MetaPredictions.OPTIONAL)


def _save(invitation, question, probability=0.4, **meta_predictions):
    return services.judgment_save(
        invitation=invitation,
        question=question,
        probability=probability,
        meta_predictions=meta_predictions,
    )


@pytest.fixture(autouse=True)
def every_cohort_named(settings):
    """The panels here have cohorts of one or two experts; the form's behaviour, not the
    threshold for naming a cohort, is under test (except where a test says so)."""
    settings.REPORT_MIN_COHORT_SIZE = 1


def test_a_cohort_too_small_to_report_is_never_named_to_experts(survey, expert, settings):
    settings.REPORT_MIN_COHORT_SIZE = 3  # the default (config/settings.py)
    for k in range(3):
        services.expert_create(
            survey=survey, name=f"U{k}", email=f"u{k}@example.org",
            attributes={"nationality": "US"},
        )  # fmt: skip
    for k in range(2):
        services.expert_create(
            survey=survey, name=f"R{k}", email=f"r{k}@example.org",
            attributes={"nationality": "ROK"},
        )  # fmt: skip
    services.expert_create(
        survey=survey, name="J", email="j@example.org", attributes={"nationality": "JP"}
    )
    # ROK: the fixture's expert and two more; JP: one; US: three
    assert meta.meta_cohorts(survey) == ["ROK", "US"]
    errors = meta.meta_predictions_errors(values={"JP": 0.5}, cohorts=["ROK", "US"], asked=True)
    assert "JP" in errors  # a prediction of the hidden cohort is refused, not stored


def test_meta_cohorts_are_the_panels_sorted_values_without_the_unattributed(survey, expert):
    services.expert_create(survey=survey, name="U", email="u@example.org", attributes={})
    services.expert_create(
        survey=survey, name="J", email="j@example.org", attributes={"nationality": "JP"}
    )
    services.expert_create(
        survey=survey, name="B", email="b2@example.org", attributes={"nationality": " "}
    )
    services.expert_create(
        survey=survey, name="A", email="a@example.org", attributes={"sector": "ROK"}
    )
    assert meta.meta_cohorts(survey) == ["JP", "ROK"]
    services.survey_update(survey=survey, cohort_attribute="sector")
    assert meta.meta_cohorts(survey) == ["ROK"]


@pytest.mark.parametrize(
    ("setting", "code", "switch", "expected"),
    [
        ("off", "Q01", True, False),
        ("optional", "Q01", True, True),
        ("required", "Q01", True, True),
        ("optional", "Q01", False, False),
        ("optional", "N01", True, False),  # numeric questions never ask them
    ],
)
def test_asks_meta_combines_survey_question_and_kind(
    survey, questions, setting, code, switch, expected
):
    services.survey_update(survey=survey, meta_predictions=setting)
    question = services.question_update(question=questions[code], asks_meta_predictions=switch)
    assert meta.asks_meta(question, survey=survey) is expected
    question.refresh_from_db()
    assert meta.asks_meta(question) is expected


def test_meta_predictions_are_saved_with_the_answer_and_every_revision(
    meta_survey, questions, invitation
):
    judgment = _save(invitation, questions["Q01"], ROK=0.3, US=0.6)
    assert judgment.meta_predictions == {"ROK": 0.3, "US": 0.6}
    _save(invitation, questions["Q01"], ROK=0.35, US=0.6)
    judgment.refresh_from_db()
    assert judgment.meta_predictions == {"ROK": 0.35, "US": 0.6}
    history = [r.meta_predictions for r in JudgmentRevision.objects.filter(judgment=judgment)]
    assert history == [{"ROK": 0.3, "US": 0.6}, {"ROK": 0.35, "US": 0.6}]
    _save(invitation, questions["Q01"], ROK=0.35, US=0.6)  # unchanged: no new revision
    assert judgment.revisions.count() == 2


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"JP": 0.3}, "“JP” is not a group of this panel. The groups are: ROK, US."),
        ({"US": 1.2}, "US: A probability must be between 0 % and 100 %."),
        ({"US": -0.1}, "US: A probability must be between 0 % and 100 %."),
        ({"US": float("nan")}, "US: A probability must be between 0 % and 100 %."),
        ({"US": "0.3"}, "US: Give the probability as a number from 0 to 100."),
        ({"US": True}, "US: Give the probability as a number from 0 to 100."),
    ],
)
def test_bad_meta_predictions_are_refused_and_change_nothing(
    meta_survey, questions, invitation, given, message
):
    with pytest.raises(ValidationError) as error:
        _save(invitation, questions["Q01"], **given)
    assert any(message in text for text in error.value.message_dict["meta_predictions"])
    assert not Judgment.objects.filter(expert=invitation.expert).exists()


def test_a_question_that_asks_none_refuses_them(survey, questions, invitation):
    with pytest.raises(ValidationError) as error:
        _save(invitation, questions["Q01"], US=0.5)  # the survey asks none
    assert "does not ask" in str(error.value)
    with pytest.raises(ValidationError):
        services.judgment_save(
            invitation=invitation, question=questions["N01"], q05=1, q50=2, q95=3,
            meta_predictions={"US": 0.5},
        )  # fmt: skip


def _answer_all(invitation, questions, **meta_predictions):
    answers = [
        services.Answer(questions["Q01"], probability=0.4, meta_predictions=meta_predictions),
        services.Answer(questions["Q02"], probability=0.2, meta_predictions=meta_predictions),
        services.Answer(questions["N01"], q05=1, q50=2, q95=3),
    ]
    services.invitation_answers_save(invitation=invitation, answers=answers)


def test_optional_mode_submits_without_them(meta_survey, questions, invitation):
    _answer_all(invitation, questions, US=0.5)
    services.invitation_submit(invitation=invitation)
    assert Invitation.objects.get(id=invitation.id).submitted_at is not None


def test_required_mode_refuses_a_submit_without_all_of_them_in_the_experts_language(
    survey, questions, invitation
):
    services.survey_update(survey=survey, meta_predictions=Survey.MetaPredictions.REQUIRED)
    _answer_all(invitation, questions, US=0.5)  # a save may leave some out
    assert [
        q.code for q in selectors.invitation_missing_meta_predictions(invitation=invitation)
    ] == [
        "Q01",
        "Q02",
    ]
    with pytest.raises(ValidationError) as error:
        services.invitation_submit(invitation=invitation)
    assert error.value.code == "missing_meta"
    assert "Not given yet for: Q01, Q02." in error.value.messages[0]
    with translation.override("ko"), pytest.raises(ValidationError) as error:
        services.invitation_submit(invitation=invitation)
    assert "Q01, Q02" in error.value.messages[0]
    assert "Say what" not in error.value.messages[0]
    _answer_all(invitation, questions, US=0.5, ROK=0.3)
    services.invitation_submit(invitation=invitation)
    assert Invitation.objects.get(id=invitation.id).submitted_at is not None


# --- The expert form ------------------------------------------------------------------------


def _meta(questions, code="Q01", **values) -> dict:
    return {f"q{questions[code].id}_meta_{cohort}": value for cohort, value in values.items()}


@pytest.fixture
def korean(expert):
    expert.language = "ko"
    expert.save(update_fields=["language"])
    return expert


def test_the_form_asks_each_group_with_labels_help_and_no_preset_value(
    meta_survey, questions, expert_client, invitation
):
    html = expert_client.get(form_url(invitation)).content.decode()
    q01, n01 = questions["Q01"].id, questions["N01"].id
    assert "<legend>What will each group answer on average?</legend>" in html
    assert f'for="id_q{q01}_meta_ROK">ROK respondents (your group), average (%)</label>' in html
    assert f'for="id_q{q01}_meta_US">US respondents, average (%)</label>' in html
    assert f'name="q{q01}_meta_US" id="id_q{q01}_meta_US" value=""' in html
    assert f'aria-describedby="q{q01}-meta-help"' in html and f'id="q{q01}-meta-help"' in html
    assert "Optional: leave a group empty" in html
    assert f"q{n01}_meta" not in html  # numeric questions ask none


def test_an_expert_saves_meta_predictions_and_sees_them_again(
    meta_survey, questions, expert_client, invitation
):
    data = answers_post(questions, **_meta(questions, ROK="30", US="62.5"), save="1")
    assert expert_client.post(form_url(invitation), data).status_code == 302
    judgment = Judgment.objects.get(expert=invitation.expert, question=questions["Q01"])
    assert judgment.meta_predictions == {"ROK": 0.3, "US": 0.625}
    assert judgment.revisions.get().meta_predictions == {"ROK": 0.3, "US": 0.625}
    html = expert_client.get(form_url(invitation)).content.decode()
    assert 'value="62.5"' in html
    # Saved again untouched: no revision the expert never made.
    assert expert_client.post(form_url(invitation), data).status_code == 302
    assert judgment.revisions.count() == 1
    # Emptied: the prediction is withdrawn, the history keeps it.
    expert_client.post(form_url(invitation), {**data, **_meta(questions, US="")})
    judgment.refresh_from_db()
    assert judgment.meta_predictions == {"ROK": 0.3}
    assert judgment.revisions.count() == 2


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("130", "Enter a number between 0 and 100."),
        ("abc", "Enter a probability as a number from 0 to 100."),
    ],
)
def test_a_bad_meta_prediction_is_tied_to_its_field_and_keeps_what_was_typed(
    meta_survey, questions, expert_client, invitation, typed, message
):
    data = answers_post(questions, **_meta(questions, ROK="33", US=typed), save="1")
    response = expert_client.post(form_url(invitation), data)
    assert response.status_code == 400
    html = response.content.decode()
    field = f"id_q{questions['Q01'].id}_meta_US"
    assert f'id="{field}-error">{message}' in html
    assert f'aria-describedby="q{questions["Q01"].id}-meta-help {field}-error"' in html
    assert f'href="#{field}"' in html and "Q01, what US respondents will answer" in html
    assert 'value="33"' in html and f'value="{typed}"' in html
    assert not Judgment.objects.filter(expert=invitation.expert).exists()


def test_meta_predictions_without_an_own_answer_are_refused(
    meta_survey, questions, expert_client, invitation
):
    data = {**_meta(questions, US="50"), "save": "1"}
    response = expert_client.post(form_url(invitation), data)
    assert response.status_code == 400
    assert "Give your own answer too" in response.content.decode()


def test_required_mode_marks_each_missing_group_on_submit(
    survey, questions, expert_client, invitation
):
    services.survey_update(survey=survey, meta_predictions=Survey.MetaPredictions.REQUIRED)
    data = answers_post(questions, **_meta(questions, ROK="30"), submit="1")
    response = expert_client.post(form_url(invitation), data)
    assert response.status_code == 400
    html = response.content.decode()
    # Each missing group is marked by its field and listed in the summary on top.
    assert html.count("Say what you expect this group to answer before you submit.") == 6
    assert "Needed for every group before you submit." in html
    assert Invitation.objects.get(id=invitation.id).submitted_at is None
    full = {**data, **_meta(questions, US="60"), **_meta(questions, "Q02", ROK="5", US="9")}
    assert expert_client.post(form_url(invitation), full).status_code == 302
    assert Invitation.objects.get(id=invitation.id).submitted_at is not None


def test_the_form_and_its_errors_speak_korean(
    meta_survey, questions, korean, expert_client, invitation
):
    html = expert_client.get(form_url(invitation)).content.decode()
    assert "각 집단은 평균적으로 어떻게 답할까요?" in html
    assert "ROK 응답자 (본인 집단), 평균 (%)" in html and "US 응답자, 평균 (%)" in html
    data = answers_post(questions, **_meta(questions, US="130"), save="1")
    response = expert_client.post(form_url(invitation), data)
    assert response.status_code == 400
    assert "0에서 100 사이의 숫자를 입력해 주십시오." in response.content.decode()


def test_a_closed_round_shows_the_expert_their_own_meta_predictions(
    meta_survey, questions, expert_client, invitation
):
    _save(invitation, questions["Q01"], ROK=0.3, US=0.625)
    services.round_close(survey_round=invitation.survey_round)
    html = expert_client.get(form_url(invitation)).content.decode()
    assert "What you expected each group to answer on average:" in html
    assert "ROK respondents: 30 %, US respondents: 62.5 %" in html


def test_the_organizer_turns_them_on_per_survey_and_off_per_question(
    organizer_client, survey, questions, expert
):
    url = reverse("elicitation:survey-edit", args=[survey.id])
    page = organizer_client.get(url).content.decode()
    assert "Ask what each cohort will answer" in page and "The panel's cohorts now: ROK." in page
    data = {"title": survey.title, "cohort_attribute": "nationality"}
    assert organizer_client.post(url, {**data, "meta_predictions": "required"}).status_code == 302
    survey.refresh_from_db()
    assert survey.meta_predictions == "required"
    assert organizer_client.post(url, data).status_code == 302  # not sent: kept
    survey.refresh_from_db()
    assert survey.meta_predictions == "required"
    bad = organizer_client.post(url, {**data, "meta_predictions": "always"})
    assert bad.status_code == 400 and "Select a valid choice." in bad.content.decode()

    q01 = questions["Q01"]
    edit = reverse("elicitation:question-edit", args=[q01.id])
    assert 'name="asks_meta_predictions"' in organizer_client.get(edit).content.decode()
    question = {"code": "Q01", "kind": "binary", "text": q01.text, "scale": "uniform"}
    assert organizer_client.post(edit, question).status_code == 302  # unticked
    q01.refresh_from_db()
    assert q01.asks_meta_predictions is False


def test_the_organizer_pages_speak_korean(organizer_client, survey, questions):
    url = reverse("elicitation:survey-edit", args=[survey.id])
    page = organizer_client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "각 집단의 답 예측 묻기" in page


# --- Exports and imports ------------------------------------------------------------------------


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_round_answers_csv_has_a_meta_column_per_cohort(
    meta_survey, questions, organizer_client, invitation, other_invitation
):
    _save(invitation, questions["Q01"], ROK=0.3, US=0.625)
    _save(other_invitation, questions["Q01"], US=0.5)
    url = reverse("elicitation:round-wording-csv", args=[invitation.survey_round_id])
    rows = _csv(organizer_client.get(url))
    assert list(rows[0])[-2:] == ["meta_ROK", "meta_US"]
    by_expert = {row["expert"]: (row["meta_ROK"], row["meta_US"]) for row in rows}
    assert by_expert == {"E001": ("0.3", "0.625"), "E002": ("", "0.5")}


def test_a_survey_that_never_asked_keeps_its_csv_columns(
    survey, questions, organizer_client, invitation
):
    _save(invitation, questions["Q01"])
    url = reverse("elicitation:round-wording-csv", args=[invitation.survey_round_id])
    assert not any(name.startswith("meta_") for name in _csv(organizer_client.get(url))[0])


@pytest.mark.parametrize(("cell", "expected"), [("", True), ("no", False), ("yes", True)])
def test_the_questions_import_reads_whether_a_question_asks_them(survey, cell, expected):
    text = f"code,text,kind,asks_meta_predictions\nB09,Basing?,binary,{cell}\n"
    imports.questions_import(survey=survey, text=text)
    assert survey.questions.get(code="B09").asks_meta_predictions is expected


def test_the_data_subject_export_holds_the_meta_predictions_and_their_history(
    meta_survey, questions, invitation
):
    _save(invitation, questions["Q01"], ROK=0.3)
    _save(invitation, questions["Q01"], ROK=0.35, US=0.6)
    rows = expert_export(expert=invitation.expert)["sections"]["answers"]["rows"]
    assert rows[0]["meta_predictions"] == {"ROK": 0.35, "US": 0.6}
    assert [r["meta_predictions"] for r in rows[0]["revisions"]] == [
        {"ROK": 0.3},
        {"ROK": 0.35, "US": 0.6},
    ]


def test_the_survey_page_says_whether_they_are_asked(organizer_client, meta_survey):
    url = reverse("elicitation:survey-detail", args=[meta_survey.id])
    page = organizer_client.get(url).content.decode()
    assert "What each cohort will answer (meta-predictions): Asked, optional." in page
    page = organizer_client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "각 집단의 응답 예측(메타 예측): 묻기(선택)." in page


# --- Follow-up rounds, parts, previews ---------------------------------------------------------


def test_keeping_the_previous_answer_keeps_its_meta_predictions(
    survey, questions, round1, invitation2, expert_client2
):
    services.survey_update(survey=survey, meta_predictions=Survey.MetaPredictions.OPTIONAL)
    Judgment.objects.filter(
        survey_round=round1, expert=invitation2.expert, question=questions["Q01"]
    ).update(meta_predictions={"ROK": 0.25, "US": 0.45, "JP": 0.5})  # JP: no longer asked
    response = expert_client2.post(form_url(invitation2), {"keep": str(questions["Q01"].id)})
    assert response.status_code == 302
    kept = Judgment.objects.get(survey_round=invitation2.survey_round, question=questions["Q01"])
    assert kept.meta_predictions == {"ROK": 0.25, "US": 0.45}
    assert kept.revisions.get().meta_predictions == {"ROK": 0.25, "US": 0.45}


def test_a_long_round_in_parts_keeps_them_and_its_summary_lists_the_missing(organizer):
    survey = services.survey_create(
        title="Long", organizers=[organizer], meta_predictions=Survey.MetaPredictions.REQUIRED
    )
    for k in range(14):
        services.question_create(survey=survey, code=f"Q{k:02d}", text=f"Question {k}?")
    for name, nationality in (("Ada", "US"), ("Bo", "ROK")):
        services.expert_create(
            survey=survey, name=name, email=f"{name}@example.org",
            attributes={"nationality": nationality},
        )  # fmt: skip
    survey_round = services.round_open(survey_round=services.round_create(survey=survey))
    invitation = Invitation.objects.get(survey_round=survey_round, expert__contact__name="Ada")
    client = client_with_link(invitation)
    parts = selectors.form_parts(questions=selectors.round_questions(survey_round=survey_round))
    assert len(parts) == 2
    for part in parts:
        data = {"part": str(part.number), "save": "1"}
        for question in part.questions:
            data[f"q{question.id}_probability"] = "50"
            data[f"q{question.id}_meta_US"] = "55"
            if question.code != "Q13":
                data[f"q{question.id}_meta_ROK"] = "45"
        assert client.post(form_url(invitation), data).status_code == 302
    page = client.get(form_url(invitation), {"part": "2"}).content.decode()
    last = parts[1].questions[-1]
    assert f'name="q{last.id}_meta_US" id="id_q{last.id}_meta_US" value="55"' in page

    summary = client.get(form_url(invitation), {"part": "summary"}).content.decode()
    assert "#question-Q13" in summary and "#question-Q00" not in summary
    assert "what each group will answer on average" in summary
    refused = client.post(form_url(invitation), {"part": "summary", "submit": "1"})
    assert refused.status_code == 400
    assert "Not given yet for: Q13." in refused.content.decode()
    services.judgment_save(
        invitation=invitation, question=survey.questions.get(code="Q13"), probability=0.5,
        meta_predictions={"US": 0.55, "ROK": 0.45},
    )  # fmt: skip
    assert client.post(form_url(invitation), {"part": "summary", "submit": "1"}).status_code == 302
    assert Invitation.objects.get(id=invitation.id).submitted_at is not None


@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_organizers_preview_shows_the_group_and_checks_it(
    organizer_client, meta_survey, questions, open_round, language
):
    url = reverse("elicitation:round-preview", args=[open_round.id, language, "form"])
    page = organizer_client.get(url).content.decode()
    legend = {"en": "What will each group answer on average?", "ko": "각 집단은 평균적으로"}
    assert legend[language] in page
    q01 = questions["Q01"].id
    bad = organizer_client.post(url, {f"q{q01}_probability": "40", f"q{q01}_meta_US": "-3"})
    assert bad.status_code == 400
    assert not Judgment.objects.exists()


def test_a_cohort_label_with_spaces_and_quotes_gets_a_safe_field_name(
    meta_survey, questions, expert, expert_client, invitation
):
    services.expert_create(
        survey=meta_survey, name="Q", email="q@example.org",
        attributes={"nationality": 'South "K" <b>'},
    )  # fmt: skip
    html = expert_client.get(form_url(invitation)).content.decode()
    key = forms.meta_field_key('South "K" <b>')
    assert key.startswith("meta_x") and f'name="q{questions["Q01"].id}_{key}"' in html
    assert "South &quot;K&quot; &lt;b&gt; respondents, average (%)" in html
    data = answers_post(questions, **{f"q{questions['Q01'].id}_{key}": "20"}, save="1")
    assert expert_client.post(form_url(invitation), data).status_code == 302
    judgment = Judgment.objects.get(expert=expert, question=questions["Q01"])
    assert judgment.meta_predictions == {'South "K" <b>': 0.2}


def test_required_groups_say_so_to_screen_readers_and_the_help_is_read_once(
    meta_survey, questions, expert_client, invitation
):
    """The fieldset no longer points at the help its inputs point at; in a survey that
    requires the predictions every input says it is required."""
    html = expert_client.get(form_url(invitation)).content.decode()
    fieldset = re.search(r'<fieldset class="meta-predictions"[^>]*>', html).group(0)
    assert "aria-describedby" not in fieldset
    assert "aria-required" not in html  # optional here
    services.survey_update(survey=meta_survey, meta_predictions=Survey.MetaPredictions.REQUIRED)
    html = expert_client.get(form_url(invitation)).content.decode()
    inputs = re.findall(r'<input type="number" name="q\d+_meta_[^>]*>', html)
    assert inputs and all('aria-required="true"' in tag for tag in inputs)
    own = re.findall(r'<input type="number" name="q\d+_probability"[^>]*>', html)
    assert own and not any("aria-required" in tag for tag in own)
