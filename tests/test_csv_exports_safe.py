"""Every CSV export neutralises every text cell a spreadsheet would run as a formula (CSV
injection), numbers stay numbers, and no export or download is stored by a cache.

The survey's expert codes, cohort values and question texts start with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return, as an organizer's import may make them.
"""

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aggregation.models import AggregationRun
from config.csvexport import FORMULA_PREFIXES, SafeWriter, cell, csv_response
from elicitation import services
from elicitation.models import Invitation, Judgment, Question, Round, Survey
from tests.aggregation import conftest as report_fixtures
from tests.aggregation.conftest import hierarchical_result, make_run, write_artifacts

# The report tests' survey (for the download headers); the personas are tests/conftest.py's.
closed_round = report_fixtures.closed_round
finished_run = report_fixtures.finished_run
panel = report_fixtures.panel
survey = report_fixtures.survey

# Cohorts of three experts each (so that every cohort is shown, not merged or withheld).
COHORTS = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-2+3", "@SUM(A1:A9)"]
CODES = {
    COHORTS[0]: ["=1+2", "=SUM(9)", "=E3"],
    COHORTS[1]: ["+E1", "+E2", "\tE3"],
    COHORTS[2]: ["-E1", "-5", "\rE3"],
    COHORTS[3]: ["@E1", "@E2", "E0"],
}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rows(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def _assert_no_formula(rows: list[list[str]]) -> None:
    """Every cell: empty, a number, or text that does not start a formula."""
    for row in rows:
        for value in row:
            assert not value.startswith(FORMULA_PREFIXES) or _is_number(value), (value, row)


@pytest.fixture
def formula_round(db, organizer):
    """A closed round of an identified survey whose codes and cohorts start formulas."""
    survey = services.survey_create(
        title="Formulas", organizers=[organizer], anonymity=Survey.Anonymity.IDENTIFIED
    )
    binary = services.question_create(survey=survey, code="Q01", text="=1+1 is the question?")
    numeric = services.question_create(
        survey=survey, code="N01", text="-How far below zero?", kind=Question.Kind.NUMERIC,
        unit="degrees", lower_bound=-100, upper_bound=100,
    )  # fmt: skip
    experts = [
        services.expert_create(
            survey=survey, name=f"Expert {k}", email=f"expert{k}@example.org", code=code,
            attributes={"nationality": cohort},
        )
        for k, (cohort, code) in enumerate(
            (cohort, code) for cohort in COHORTS for code in CODES[cohort]
        )
    ]  # fmt: skip
    assert sorted(e.code for e in experts) == sorted(c for cs in CODES.values() for c in cs)
    now = timezone.now()
    survey_round = services.round_create(survey=survey)
    survey_round.questions.set([binary, numeric])
    Round.objects.filter(id=survey_round.id).update(
        status=Round.Status.CLOSED, opened_at=now - timedelta(days=7), closed_at=now
    )
    Invitation.objects.bulk_create(
        Invitation(expert=expert, survey_round=survey_round, sent_at=now,
                   expires_at=now + timedelta(days=30), submitted_at=now)
        for expert in experts
    )  # fmt: skip
    Judgment.objects.bulk_create(
        [
            Judgment(expert=e, question=binary, survey_round=survey_round,
                     probability=0.1 + 0.05 * k, rationale="+ it is likely")
            for k, e in enumerate(experts)
        ]
        + [
            Judgment(expert=e, question=numeric, survey_round=survey_round,
                     q05=-12.5, q50=-3.25, q95=4.0, rationale="@everyone knows")
            for e in experts
        ]
    )  # fmt: skip
    survey_round.refresh_from_db()
    return survey_round


def test_the_cell_rule():
    assert [cell(v) for v in ("=1+2", "+1", "-1", "@A1", "\tx", "\rx")] == [
        "'=1+2", "'+1", "'-1", "'@A1", "'\tx", "'\rx",
    ]  # fmt: skip
    assert [cell(v) for v in ("E001", "", "a=b", " =x")] == ["E001", "", "a=b", " =x"]
    assert [cell(v) for v in (-1, -2.5, 0, 3.0, None)] == [-1, -2.5, 0, 3.0, None]
    assert isinstance(cell(-2.5), float)


def test_the_writer_neutralises_every_text_cell_and_keeps_numbers():
    stream = io.StringIO()
    SafeWriter(stream).writerow(["=A1", -0.5, "-0.5", None, 7, "@x"])
    assert stream.getvalue() == "'=A1,-0.5,'-0.5,,7,'@x\r\n"


def test_the_response_is_an_attachment_that_is_not_stored():
    response, writer = csv_response("x.csv")
    writer.writerow(["=1"])
    assert response["Content-Disposition"] == 'attachment; filename="x.csv"'
    assert "no-store" in response["Cache-Control"]
    assert response.content.decode("utf-8-sig") == "'=1\r\n"


def test_the_judgments_export_neutralises_codes_cohorts_and_rationales(
    client, organizer, formula_round
):
    client.force_login(organizer)
    response = client.get(reverse("aggregation:round-judgments-csv", args=[formula_round.id]))
    assert response.status_code == 200
    header, *rows = _rows(response)
    assert header[:2] == ["expert", "cohort"]
    assert len(rows) == 2 * 12
    _assert_no_formula(rows)
    codes = {row[0] for row in rows}
    assert codes == {"'" + c for cs in CODES.values() for c in cs if c != "E0"} | {"E0"}
    assert {row[1] for row in rows} == {"'" + c for c in COHORTS}
    assert {row[-1] for row in rows} == {"'+ it is likely", "'@everyone knows"}
    numeric = [row for row in rows if row[2] == "N01"]
    # numbers stay numbers: a negative answer is written as a number, not quoted
    q05, q50, q95 = (header.index(name) for name in ("q05", "q50", "q95"))
    assert {(row[q05], row[q50], row[q95]) for row in numeric} == {("-12.5", "-3.25", "4.0")}


def test_the_results_export_neutralises_question_texts_and_keeps_negative_numbers(
    client, organizer, closed_round
):
    Question.objects.filter(survey=closed_round.survey, code="Q01").update(text="=1+1")
    Question.objects.filter(survey=closed_round.survey, code="Q02").update(text="-minus")
    run = make_run(closed_round, result=hierarchical_result())
    client.force_login(organizer)
    rows = _rows(client.get(reverse("aggregation:run-results-csv", args=[run.id])))
    header, *body = rows
    _assert_no_formula(body)
    texts = {row[0]: row[1] for row in body}
    assert (texts["Q01"], texts["Q02"]) == ("'=1+1", "'-minus")
    gap = header.index("gap_ROK_minus_US_mean")
    assert {row[0]: row[gap] for row in body}["Q01"] == "-0.344"


# --- Downloads are not stored ------------------------------------------------------------


@pytest.fixture
def scores_run(finished_run, organizer):
    """Q01/Q02 resolved and a fitted recalibration with a posterior file on disk."""
    from django.conf import settings

    from resolution import recalibration
    from tests.resolution.conftest import resolve, succeed

    questions = {q.code: q for q in finished_run.survey_round.survey.questions.all()}
    resolve(questions["Q01"], 1, by=organizer)
    resolve(questions["Q02"], 0, by=organizer)
    run = succeed(recalibration.recalibration_current(survey_round=finished_run.survey_round)[0])
    folder = Path(settings.MEDIA_ROOT) / "recalibrations" / str(run.id)
    folder.mkdir(parents=True)
    (folder / "posterior.nc").write_bytes(b"CDF\x01 not a real posterior")
    run.posterior = f"recalibrations/{run.id}/posterior.nc"
    run.save(update_fields=["posterior"])
    return run


def test_every_export_and_download_is_not_stored(client, organizer, finished_run, scores_run):
    round_id = finished_run.survey_round_id
    client.force_login(organizer)
    downloads = [
        reverse("aggregation:run-results-csv", args=[finished_run.id]),
        reverse("aggregation:round-judgments-csv", args=[round_id]),
        reverse("aggregation:run-posterior", args=[finished_run.id]),
        reverse("aggregation:run-figure", args=[finished_run.id, "consensus"]) + "?download=1",
        reverse("resolution:scores-figure", args=[round_id, "panel"]) + "?download=1",
        reverse("resolution:recalibration-posterior", args=[scores_run.id]),
    ]
    for url in downloads:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "attachment" in response["Content-Disposition"], url
        assert "no-store" in response["Cache-Control"], url
    # a figure shown in a page may be cached: it is not a download
    shown = client.get(reverse("aggregation:run-figure", args=[finished_run.id, "consensus"]))
    assert "no-store" not in shown["Cache-Control"]


# --- The posterior is offered to whoever may download it -------------------------------------


def test_the_posterior_link_is_only_for_those_who_may_download_it(
    client, organizer, analyst, finished_run
):
    report = reverse("aggregation:round-report", args=[finished_run.survey_round_id])
    posterior = reverse("aggregation:run-posterior", args=[finished_run.id])
    as_analyst = Client()
    as_analyst.force_login(analyst)
    page = as_analyst.get(report).content.decode()
    assert "Question results (CSV)" in page  # the downloads list is there
    assert posterior not in page
    assert as_analyst.get(posterior).status_code == 404  # and the view still refuses
    client.force_login(organizer)
    assert posterior in client.get(report).content.decode()
    assert client.get(posterior).status_code == 200


def test_a_superuser_is_offered_the_posterior(client, superuser, finished_run):
    client.force_login(superuser)
    report = reverse("aggregation:round-report", args=[finished_run.survey_round_id])
    assert reverse("aggregation:run-posterior", args=[finished_run.id]) in (
        client.get(report).content.decode()
    )


def test_the_recalibration_posterior_is_offered_to_the_readers_it_serves(
    client, analyst, scores_run
):
    """Unlike the run's posterior (every expert's cohort), the recalibration's holds only
    the questions' aggregates and outcomes: every reader of the scores may download it,
    and the scores page offers it to them."""
    client.force_login(analyst)
    page = client.get(reverse("resolution:round-scores", args=[scores_run.survey_round_id]))
    posterior = reverse("resolution:recalibration-posterior", args=[scores_run.id])
    assert posterior in page.content.decode()
    assert client.get(posterior).status_code == 200


def test_a_run_without_a_posterior_offers_none(client, organizer, closed_round, settings):
    run = make_run(closed_round, result=hierarchical_result())
    write_artifacts(run, Path(settings.MEDIA_ROOT), ["consensus"])
    AggregationRun.objects.filter(id=run.id).update(posterior="")
    client.force_login(organizer)
    page = client.get(reverse("aggregation:round-report", args=[closed_round.id]))
    assert reverse("aggregation:run-posterior", args=[run.id]) not in page.content.decode()
