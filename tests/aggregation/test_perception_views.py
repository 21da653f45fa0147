"""The round report's section "How the cohorts see each other", its figure and its CSV
(issue 15), through the HTTP client. The run holds the perception parts of a real fit
(perception_result.py: US of ROK +17 points, ROK of US -12); no sampler runs here."""

import csv
import io
import re

import pytest
from django.urls import reverse

from aggregation.models import AggregationRun
from tests.aggregation.conftest import PANEL, make_run
from tests.aggregation.perception_result import META, PERCEPTION, perception_result

JP = re.compile(r"\bJP\b")
US_OF_ROK = (
    "US respondents expect ROK respondents to answer 17 points (12 to 22) higher than they do."
)
ROK_OF_US = (
    "ROK respondents expect US respondents to answer 12 points (7 to 16) lower than they do."
)


def report(client, run, **headers) -> str:
    url = reverse("aggregation:round-report", args=[run.survey_round_id]) + f"?run={run.id}"
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def section(html: str) -> str:
    start = html.index('<section aria-labelledby="perception-title"')
    return html[start : html.index('<section aria-labelledby="downloads-title"')]


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_section_shows_each_cohorts_view_of_the_other_most_misjudged_first(
    client, analyst, perception_run
):
    client.force_login(analyst)
    html = report(client, perception_run)
    assert '<a href="#perception-title">How the cohorts see each other</a>' in html
    part = section(html)
    assert US_OF_ROK in part and ROK_OF_US in part
    assert '+0.73 <span class="interval">(+0.49 to +0.97)</span>' in part  # log-odds
    rows = re.findall(r'<tr><th scope="row"><a href="[^"]+">(Q0\d)</a></th>', part)
    assert rows == ["Q01", "Q03", "Q02", "Q01", "Q03", "Q02"]  # by |error|: 0.176 ... 0.062
    first = part[part.index("<tbody>", part.index('id="perception-table"')) :]
    first = first[: first.index("</tr>")]
    assert "Will Japan allow US combat operations from its bases?" in first
    assert '0.399 <span class="interval">(0.347 to 0.447)</span>' in first  # ROK believes
    assert '0.575 <span class="interval">(0.515 to 0.638)</span>' in first  # US expected
    assert "<strong>+0.176</strong>" in first and 'no <span class="interval">(pivot 0.619)' in first
    assert 'data-figure="perception"' in part and "most misjudged" in part
    assert 'id="perception-diagnostics-table"' in part and "Shared misperceptions" in part
    assert "Warning: the perception model's diagnostics are bad" not in html  # they are good
    assert reverse("aggregation:run-perception-csv", args=[perception_run.id]) in html
    # the analyst may not download a posterior (every expert's cohort is in it)
    assert reverse("aggregation:run-perception-posterior", args=[perception_run.id]) not in html


def test_the_section_is_in_korean_for_a_korean_reader(client, analyst, perception_run):
    client.force_login(analyst)
    part = section(report(client, perception_run, HTTP_ACCEPT_LANGUAGE="ko"))
    assert "집단들이 서로를 어떻게 보는가" in part
    assert (
        "US 응답자들은 ROK 응답자들이 실제보다 17%p (12~22%p) 높게 답할 것으로 예상합니다." in part
    )
    assert (
        "ROK 응답자들은 US 응답자들이 실제보다 12%p (7~16%p) 낮게 답할 것으로 예상합니다." in part
    )
    assert "인식 모형의 진단" in part and "의외로 많은 답" in part
    # (the diagnostics table's quantity names are English, as the binary model's are)
    assert '<h3 id="perception-shared-title">공유된 오인식</h3>' in part
    for english in ("How the cohorts see each other", "Expected by", "respondents expect"):
        assert english not in part, english


def test_the_figure_comes_in_the_readers_language(client, analyst, perception_run):
    client.force_login(analyst)
    url = reverse("aggregation:run-figure", args=[perception_run.id, "perception"])
    english = b"".join(client.get(url).streaming_content).decode()
    korean = b"".join(client.get(url, HTTP_ACCEPT_LANGUAGE="ko").streaming_content).decode()
    assert "What the cohort believes" in english and "US expected of ROK" in english
    assert "Will Japan allow US combat operations from its" in english
    assert "집단이 실제로 믿는 값" in korean and "What the cohort believes" not in korean
    assert not JP.search(english) and not JP.search(korean)


def test_small_cohorts_are_not_shown_on_the_page_the_figure_or_the_csv(
    client, analyst, perception_run
):
    client.force_login(analyst)
    part = section(report(client, perception_run))
    assert not JP.search(part)  # JP is one expert: no row by it or of it
    assert "1 cohort has fewer than 3 experts: its predictions, and the predictions of it" in part
    rows = csv_rows(client.get(reverse("aggregation:run-perception-csv", args=[perception_run.id])))
    assert {(r["by"], r["of"]) for r in rows} == {
        ("US", "ROK"), ("ROK", "US"), ("US", "US"), ("ROK", "ROK"),
    }  # fmt: skip


def test_the_cohort_threshold_is_the_setting(client, analyst, perception_run, settings):
    settings.REPORT_MIN_COHORT_SIZE = 1
    client.force_login(analyst)
    part = section(report(client, perception_run))
    assert "JP respondents" in part
    rows = csv_rows(client.get(reverse("aggregation:run-perception-csv", args=[perception_run.id])))
    assert len(rows) == 3 * 9


def test_the_csv_has_one_row_per_question_and_pair_most_misjudged_first(
    client, analyst, perception_run
):
    client.force_login(analyst)
    response = client.get(reverse("aggregation:run-perception-csv", args=[perception_run.id]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Disposition"].endswith(f'-run-{perception_run.id}-perception.csv"')
    rows = csv_rows(response)
    assert len(rows) == 3 * 4  # 3 questions x (US, ROK) x (US, ROK)
    first = rows[0]
    assert (first["question"], first["by"], first["of"]) == ("Q01", "US", "ROK")
    assert first["text"] == "Will Japan allow US combat operations from its bases?"
    assert float(first["error_mean"]) == pytest.approx(
        float(first["predicted_mean"]) - float(first["actual_mean"]), abs=1e-5
    )
    assert (first["surprisingly_popular"], first["pivot"]) == ("no", "0.618571")
    errors = [abs(float(r["error_mean"])) for r in rows]
    assert errors == sorted(errors, reverse=True)
    body = response.content.decode("utf-8-sig")
    for _code, name, email, _cohort in PANEL:
        assert name not in body and email not in body


def test_a_run_without_meta_predictions_has_no_section_and_no_csv(client, analyst, finished_run):
    client.force_login(analyst)
    html = report(client, finished_run)
    assert "How the cohorts see each other" not in html
    url = reverse("aggregation:run-perception-csv", args=[finished_run.id])
    assert client.get(url).status_code == 404
    posterior = reverse("aggregation:run-perception-posterior", args=[finished_run.id])
    client.force_login(finished_run.survey_round.survey.organizers.get())
    assert client.get(posterior).status_code == 404


def test_bad_perception_diagnostics_are_shown_never_hidden(client, analyst, closed_round):
    result = perception_result()
    result["perception"]["diagnostics"] = {
        **PERCEPTION["diagnostics"], "max_rhat": 1.08, "divergences": 4,
    }  # fmt: skip
    run = make_run(closed_round, result=result)
    client.force_login(analyst)
    html = report(client, run)
    assert "The perception model's diagnostics are bad" in html  # at the top of the report
    part = section(html)
    assert 'id="perception-diagnostics-warning"' in part
    assert "4 divergent transitions" in part and "R-hat up to 1.080" in part


def test_without_a_fit_the_section_says_why_and_keeps_the_surprisingly_popular_answers(
    client, analyst, closed_round
):
    result = perception_result()
    for entry in result["questions"].values():
        entry.pop("perception")
    block = result["perception"]
    result["perception"] = {
        "reciprocal_scores": block["reciprocal_scores"],
        "not_fitted": "meta-predictions need at least 2 cohorts to compare",
    }
    run = make_run(closed_round, result=result)
    client.force_login(analyst)
    part = section(report(client, run))
    assert "The perception model was not fitted for this run:" in part
    assert "meta-predictions need at least 2 cohorts to compare" in part
    assert 'id="perception-popular-table"' in part and "0.619" in part


def test_the_perception_posterior_is_for_organizers(client, organizer, analyst, perception_run):
    url = reverse("aggregation:run-perception-posterior", args=[perception_run.id])
    client.force_login(analyst)
    assert client.get(url).status_code == 404
    client.force_login(organizer)
    response = client.get(url)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = report(client, perception_run)
    assert url in html


def test_a_run_in_flight_names_the_perception_phase(client, analyst, closed_round):
    run = make_run(
        closed_round, status=AggregationRun.Status.RUNNING, progress_phase="perception",
        progress=0.5,
    )  # fmt: skip
    client.force_login(analyst)
    state = client.get(reverse("aggregation:run-progress", args=[run.id])).json()
    assert state["phase_label"] == "Fitting the perception model (how the cohorts see each other)"
    assert state["overall"] == pytest.approx(0.94)


def test_the_judgments_csv_carries_the_meta_predictions_of_the_cohorts_shown(
    client, analyst, perception_run
):
    client.force_login(analyst)
    url = reverse("aggregation:round-judgments-csv", args=[perception_run.survey_round_id])
    response = client.get(url)
    header = response.content.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[-2:] == ["meta_ROK", "meta_US"]  # JP, a cohort of one, is not named
    rows = {(r["expert"], r["question"]): r for r in csv_rows(response)}
    assert float(rows[("E004", "Q01")]["meta_US"]) == META["Q01"]["E004"]["US"]
    assert float(rows[("E001", "Q02")]["meta_ROK"]) == META["Q02"]["E001"]["ROK"]
    assert not any(JP.search(line) for line in response.content.decode().splitlines())


def test_predictions_made_with_each_cohorts_answers_in_view_are_flagged(
    client, analyst, perception_run
):
    """A round whose feedback showed each cohort's previous answers: the experts predicted
    with them in view, and the section says so (in the reader's language)."""
    from elicitation.models import Round

    client.force_login(analyst)
    assert 'id="perception-anchored"' not in section(report(client, perception_run))
    survey_round = perception_run.survey_round
    earlier = Round.objects.create(survey=survey_round.survey, number=0, status="closed")
    Round.objects.filter(id=survey_round.id).update(feedback_round=earlier, show_cohorts=True)
    part = section(report(client, perception_run))
    assert 'id="perception-anchored"' in part and "with those answers in view" in part
    korean = section(report(client, perception_run, HTTP_ACCEPT_LANGUAGE="ko"))
    assert "응답을 본 상태에서 예측했습니다" in korean
