"""The printable report of the demo's round 2: report, comparison with round 1, scores,
the survey's wording in the reader's language and the run's data hash, in one document.

Transactional: the run is executed by the service as a worker would (its heartbeat thread
has a database connection of its own). The model is a closed-form pool, so no sampler runs;
``test_the_printed_hierarchical_report_has_its_diagnostics`` fits the real model (slow).
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from django.utils.html import escape

from aggregation import services
from aggregation.models import AggregationRun
from elicitation import demo

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def loaded():
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        return demo.demo_load()


def _run(survey_round, method: str) -> AggregationRun:
    run, _created = services.aggregation_run_request(survey_round=survey_round, method=method)
    if run.status != AggregationRun.Status.SUCCEEDED:
        services.aggregation_run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == AggregationRun.Status.SUCCEEDED, run.error
    return run


def _print_page(client, run: AggregationRun, **headers) -> str:
    analyst = get_user_model().objects.get(username=demo.DEMO_ANALYST_USERNAME)
    client.force_login(analyst)
    url = reverse("aggregation:round-print", args=[run.survey_round_id]) + f"?run={run.id}"
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_the_printed_round_2_report_holds_every_part(client, loaded):
    second = loaded.second_round
    run = _run(second, AggregationRun.Method.LOGODDS_MEAN)  # one run: figures take a while
    page = _print_page(client, run)
    # The cover: which run, on which data.
    assert f"Run {run.id}" in page
    assert run.data_hash in page and len(run.data_hash) == 64
    assert 'href="/static/print.css"' in page and "data-print" in page
    assert "Print / save as PDF" in page
    # The survey's wording: every question of the round, in full.
    for question in second.questions.all():
        assert escape(question.text) in page, question.code
    # The three parts: report (its consensus table and figures), comparison, scores.
    assert 'id="print-report"' in page and 'id="consensus-table"' in page
    assert 'id="print-comparison"' in page and 'id="print-scores"' in page
    figures = re.findall(r'<img src="(/reports/runs/\d+/figures/[^"]+\.svg)"', page)
    assert figures and 'loading="lazy"' not in page  # paper loads every figure at once

    # In the reader's language: the wording and the headings in Korean, the same run.
    korean_page = _print_page(client, run, HTTP_ACCEPT_LANGUAGE="ko")
    assert '<html lang="ko">' in korean_page
    korean = [q.text_ko for q in second.questions.all() if q.text_ko]
    assert korean and all(escape(text) in korean_page for text in korean)
    assert run.data_hash in korean_page

    # The report and the comparison link to it.
    client.force_login(loaded.organizer)
    report = client.get(reverse("aggregation:round-report", args=[second.id]) + f"?run={run.id}")
    printable = reverse("aggregation:round-print", args=[second.id])
    assert f'href="{printable}?run={run.id}"' in report.content.decode()
    comparison = client.get(reverse("aggregation:round-comparison", args=[second.id]))
    assert f'href="{printable}#print-comparison"' in comparison.content.decode()


@pytest.mark.parametrize("persona", ["member", "anonymous"])
def test_the_print_view_has_the_reports_access_rules(client_as, loaded, persona):
    url = reverse("aggregation:round-print", args=[loaded.second_round.id])
    client = client_as(persona)
    if persona == "member":
        assert client.get(url).status_code == 404
    else:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.slow
def test_the_printed_hierarchical_report_has_its_diagnostics(client, loaded):
    run = _run(loaded.second_round, AggregationRun.Method.HIERARCHICAL)
    page = _print_page(client, run)
    assert 'id="diagnostics-title"' in page and "R-hat" in page
    assert run.data_hash in page
