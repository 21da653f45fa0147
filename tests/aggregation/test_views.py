"""The report pages and downloads through the HTTP client: who may read them, what they show.

Runs are rows made from result dicts (conftest.make_run): no sampler, no broker.
"""

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from aggregation.models import AggregationRun
from tests.aggregation.conftest import (
    FORMULA_RATIONALE,
    PANEL,
    RATIONALE,
    SVG,
    hierarchical_result,
    linked_result,
    make_run,
    second_round_build,
    write_artifacts,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
NAMES_AND_EMAILS = [name for _, name, _, _ in PANEL] + [email for _, _, email, _ in PANEL]
JP = re.compile(r"\bJP\b")


def _urls(run: AggregationRun, question_id: int) -> dict[str, str]:
    round_id = run.survey_round_id
    return {
        "round-report": reverse("aggregation:round-report", args=[round_id]),
        "round-report-run": reverse("aggregation:round-report", args=[round_id]) + f"?run={run.id}",
        "question-report": reverse("aggregation:question-report", args=[run.id, question_id]),
        "experts-report": reverse("aggregation:experts-report", args=[run.id]),
        "run-progress": reverse("aggregation:run-progress", args=[run.id]),
        "run-figure": reverse("aggregation:run-figure", args=[run.id, "consensus"]),
        "run-results-csv": reverse("aggregation:run-results-csv", args=[run.id]),
        "round-judgments-csv": reverse("aggregation:round-judgments-csv", args=[round_id]),
        "run-posterior": reverse("aggregation:run-posterior", args=[run.id]),
        "round-comparison": reverse("aggregation:round-comparison", args=[round_id]),
    }


@pytest.fixture
def urls(finished_run):
    q01 = finished_run.question_results.get(question__code="Q01").question_id
    return _urls(finished_run, q01)


def _client_for(persona: str, request, client):
    if persona == "anonymous":
        return client
    if persona == "expert_link":
        return request.getfixturevalue("expert_client")
    user = request.getfixturevalue("expert").user if persona == "expert_user" else None
    client.force_login(user or request.getfixturevalue(persona))
    return client


PAGES = [
    "round-report",
    "round-report-run",
    "question-report",
    "experts-report",
    "run-progress",
    "run-figure",
    "run-results-csv",
    "round-judgments-csv",
    "run-posterior",
    "round-comparison",
]


# --- Access ------------------------------------------------------------------------------


READABLE = [
    (persona, page)
    for persona in ["organizer", "analyst", "superuser"]
    for page in PAGES
    if (persona, page) != ("analyst", "run-posterior")  # organizers only, tested below
]


@pytest.mark.parametrize(("persona", "page"), READABLE)
def test_readers_get_every_page_and_download(request, client, urls, page, persona):
    response = _client_for(persona, request, client).get(urls[page])
    assert response.status_code == 200


def test_the_posterior_is_for_organizers_only(request, client, urls):
    # It lists every expert's cohort, small cohorts included.
    assert _client_for("analyst", request, client).get(urls["run-posterior"]).status_code == 404


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("persona", ["other_staff", "other_analyst", "expert_user"])
def test_logged_in_users_without_rights_get_404(request, client, urls, page, persona):
    response = _client_for(persona, request, client).get(urls[page])
    assert response.status_code == 404


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("persona", ["anonymous", "expert_link"])
def test_anonymous_and_expert_links_are_sent_to_the_login(request, client, urls, page, persona):
    response = _client_for(persona, request, client).get(urls[page])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("persona", "status"),
    [("anonymous", 302), ("expert_link", 302), ("expert_user", 404), ("other_staff", 404),
     ("other_analyst", 404)],
)  # fmt: skip
def test_refused_personas_cannot_request_runs(request, client, closed_round, persona, status):
    response = _client_for(persona, request, client).post(
        reverse("aggregation:run-request", args=[closed_round.id]), {"method": "median"}
    )
    assert response.status_code == status
    assert not AggregationRun.objects.exists()


def test_index_lists_the_rounds_a_reader_may_read(client, analyst, finished_run):
    client.force_login(analyst)
    page = client.get(reverse("aggregation:report-index")).content.decode()
    assert "Allied contributions" in page
    assert reverse("aggregation:round-report", args=[finished_run.survey_round_id]) in page


@pytest.mark.parametrize("persona", ["other_staff", "other_analyst"])
def test_index_of_staff_and_analysts_without_rights_is_empty(
    request, client, finished_run, persona
):
    response = _client_for(persona, request, client).get(reverse("aggregation:report-index"))
    assert response.status_code == 200
    assert "Allied contributions" not in response.content.decode()


def test_index_is_not_for_experts(client, expert, finished_run):
    client.force_login(expert.user)
    assert client.get(reverse("aggregation:report-index")).status_code == 404


def test_a_run_of_another_round_is_not_shown_through_this_round(client, organizer, finished_run):
    other_round = make_run(finished_run.survey_round, result=hierarchical_result())
    other_round.survey_round = _another_round(finished_run)
    other_round.save(update_fields=["survey_round"])
    client.force_login(organizer)
    url = reverse("aggregation:round-report", args=[finished_run.survey_round_id])
    assert client.get(f"{url}?run={other_round.id}").status_code == 404
    assert client.get(f"{url}?run=abc").status_code == 404


def _another_round(run):
    from elicitation import services

    return services.round_create(survey=run.survey_round.survey)


# --- The round overview --------------------------------------------------------------------


def test_overview_shows_the_question_results(client, analyst, finished_run):
    client.force_login(analyst)
    response = client.get(reverse("aggregation:round-report", args=[finished_run.survey_round_id]))
    page = response.content.decode()
    for result in finished_run.question_results.all():
        assert f"{result.consensus:.3f}" in page
        assert f"{result.consensus_lower:.3f} to {result.consensus_upper:.3f}" in page
        assert f"{result.disagreement:.2f}" in page
    for baseline in ("0.621", "0.634", "0.612", "0.741"):
        assert baseline in page
    assert "ROK − US: -0.344" in page
    assert "P(ROK &gt; US) = 0.00" in page
    assert 'id="diagnostics-warning"' not in page
    assert f'src="/reports/runs/{finished_run.id}/figures/consensus.svg"' in page


def test_overview_ranks_questions_by_disagreement_and_cohorts_by_divergence(
    client, analyst, finished_run
):
    client.force_login(analyst)
    page = client.get(
        reverse("aggregation:round-report", args=[finished_run.survey_round_id])
    ).content.decode()
    disagreement = page[page.index('id="disagreement-table"') :]
    disagreement = disagreement[: disagreement.index("</table>")]
    assert _order(disagreement, ["Q01", "Q02", "Q03"]) == ["Q01", "Q02", "Q03"]
    cohorts = page[page.index('id="cohort-table"') :]
    cohorts = cohorts[: cohorts.index("</table>")]
    # |gap| ROK-US: Q01 0.344, Q02 0.091, Q03 0.047
    assert _order(cohorts, ["Q03", "Q01", "Q02"]) == ["Q01", "Q02", "Q03"]


def _order(text: str, codes: list[str]) -> list[str]:
    return sorted(codes, key=lambda code: text.index(f">{code}<"))


def test_small_cohorts_are_not_shown_anywhere(client, analyst, finished_run, urls):
    client.force_login(analyst)
    for page in ["round-report", "question-report", "experts-report"]:
        content = client.get(urls[page]).content.decode()
        assert not JP.search(content), page
    overview = client.get(urls["round-report"]).content.decode()
    assert "1 cohort has fewer than 3 experts" in overview
    results = client.get(urls["run-results-csv"]).content.decode("utf-8-sig")
    assert not JP.search(results)
    judgments = _csv_rows(client.get(urls["round-judgments-csv"]))
    # "other" would be E007 alone, so per-expert listings withhold every expert's cohort
    assert {row["cohort"] for row in judgments} == {"withheld"}


def test_the_cohort_threshold_is_the_setting(client, analyst, finished_run, urls, settings):
    settings.REPORT_MIN_COHORT_SIZE = 1
    client.force_login(analyst)
    overview = client.get(urls["round-report"]).content.decode()
    assert "JP − ROK: +0.409" in overview
    judgments = _csv_rows(client.get(urls["round-judgments-csv"]))
    assert {row["cohort"] for row in judgments if row["expert"] == "E007"} == {"JP"}


def test_no_names_or_emails_on_any_page_or_download(client, analyst, urls):
    client.force_login(analyst)
    for page in PAGES:
        response = client.get(urls[page])
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode("utf-8", errors="replace")
        for secret in NAMES_AND_EMAILS:
            assert secret not in text, (page, secret)


@pytest.mark.parametrize(
    ("diagnostics", "expected"),
    [
        ({"max_rhat": 1.05, "min_ess_bulk": 812, "divergences": 0}, "R-hat up to 1.050"),
        ({"max_rhat": 1.004, "min_ess_bulk": 120, "divergences": 0},
         "Bulk effective sample size down to 120"),
        ({"max_rhat": 1.004, "min_ess_bulk": 812, "divergences": 3}, "3 divergent transitions"),
        ({"max_rhat": None, "min_ess_bulk": 812, "divergences": 0}, "R-hat could not be computed"),
    ],
)  # fmt: skip
def test_bad_diagnostics_show_a_warning_box(client, analyst, closed_round, diagnostics, expected):
    run = make_run(closed_round, result=hierarchical_result(diagnostics=diagnostics))
    client.force_login(analyst)
    page = client.get(
        reverse("aggregation:round-report", args=[closed_round.id]) + f"?run={run.id}"
    ).content.decode()
    box = page[page.index('id="diagnostics-warning"') :]
    assert 'class="warning-box" role="alert"' in page
    assert expected in box[: box.index("</div>")]


def test_pooled_cohorts_are_explained_instead_of_compared(client, analyst, closed_round):
    """A fit whose cohorts answered different questions reports no cohort beliefs
    (engine: hierarchical.cohort_components); the page says why, in both languages."""
    result = hierarchical_result(
        cohorts_pooled={"groups": [["JP"], ["ROK"], ["US"]], "why": "no question ..."}
    )
    for entry in result["questions"].values():
        entry["cohorts"], entry["cohort_gaps"] = {}, []
    run = make_run(closed_round, result=result)
    client.force_login(analyst)
    url = reverse("aggregation:round-report", args=[closed_round.id]) + f"?run={run.id}"
    page = client.get(url).content.decode()
    assert 'id="cohort-table"' not in page
    note = page[page.index('id="cohorts-pooled"') :]
    assert "no question was answered by experts of different cohorts" in note[: note.index("</p>")]
    korean = client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "서로 다른 집단의 전문가가 함께 답한 문항이 없어" in korean
    plain = client.get(
        reverse("aggregation:round-report", args=[closed_round.id])
        + f"?run={make_run(closed_round, result=hierarchical_result()).id}"
    ).content.decode()
    assert 'id="cohorts-pooled"' not in plain


def test_per_quantity_diagnostics_are_flagged(client, analyst, closed_round):
    diagnostics = hierarchical_result()["diagnostics"]
    diagnostics["per_quantity"]["noise"] = {"max_rhat": 1.031, "min_ess_bulk": 151}
    diagnostics.update(max_rhat=1.031, min_ess_bulk=151)
    run = make_run(closed_round, result=hierarchical_result(diagnostics=diagnostics))
    client.force_login(analyst)
    page = client.get(
        reverse("aggregation:round-report", args=[closed_round.id]) + f"?run={run.id}"
    ).content.decode()
    assert "(expert noise)" in page
    assert re.search(r'class="num bad">1\.031', page)
    assert re.search(r'class="num bad">151', page)


def test_a_failed_run_shows_its_error(client, organizer, closed_round):
    error = (
        "ValueError: the hierarchical model needs answers from at least 2 experts\n\n"
        'Traceback (most recent call last):\n  File "engine.py", line 1\n'
    )
    make_run(closed_round, status=AggregationRun.Status.FAILED, error=error)
    client.force_login(organizer)
    page = client.get(reverse("aggregation:round-report", args=[closed_round.id])).content.decode()
    assert (
        '<p class="first-line">ValueError: the hierarchical model needs answers from at least '
        "2 experts</p>"
    ) in page
    details = page[page.index("<details>") :]
    assert "Traceback (most recent call last)" in details[: details.index("</details>")]


def test_a_run_in_flight_shows_its_progress(client, analyst, closed_round):
    run = make_run(
        closed_round, status=AggregationRun.Status.RUNNING, progress_phase="sampling",
        progress=0.5, heartbeat_at=timezone.now(),
    )  # fmt: skip
    client.force_login(analyst)
    page = client.get(reverse("aggregation:round-report", args=[closed_round.id])).content.decode()
    assert f'data-progress-url="/reports/runs/{run.id}/progress.json"' in page
    assert '<progress max="1" value="0.675"' in page  # sampling spans 0.45..0.9 of the bar
    assert "Drawing posterior samples" in page
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page
    assert "aggregation/run-progress.js" in page


def test_progress_json(client, analyst, closed_round):
    run = make_run(
        closed_round, status=AggregationRun.Status.RUNNING, progress_phase="tuning",
        progress=0.5, heartbeat_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    client.force_login(analyst)
    response = client.get(reverse("aggregation:run-progress", args=[run.id]))
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    state = response.json()
    assert state["status"] == "running"
    assert state["phase"] == "tuning"
    assert state["progress"] == 0.5
    assert state["overall"] == pytest.approx(0.3)
    assert state["finished"] is False
    assert state["stalled"] is True  # no heartbeat for an hour


def test_progress_json_of_finished_and_queued_runs(client, analyst, finished_run, closed_round):
    client.force_login(analyst)
    done = client.get(reverse("aggregation:run-progress", args=[finished_run.id])).json()
    assert (done["finished"], done["overall"], done["status"]) == (True, 1.0, "succeeded")
    queued = make_run(closed_round, status=AggregationRun.Status.QUEUED)
    state = client.get(reverse("aggregation:run-progress", args=[queued.id])).json()
    assert state["phase_label"].startswith("Queued")
    assert state["finished"] is False


def test_a_round_without_runs_says_so(client, organizer, closed_round):
    client.force_login(organizer)
    page = client.get(reverse("aggregation:round-report", args=[closed_round.id])).content.decode()
    assert "No aggregation has been requested for this round yet" in page
    assert reverse("aggregation:run-request", args=[closed_round.id]) in page


def test_a_pool_run_shows_its_pooled_values(client, analyst, closed_round, settings):
    result = {
        "method": "median",
        "interval_mass": 0.9,
        "questions": {
            code: {"n_judgments": 7, "consensus": {"mean": 0.45 + 0.1 * k, "interval": None},
                   "baselines": {"linear_pool": 0.5, "median": 0.45 + 0.1 * k,
                                 "logodds_mean": 0.49, "extremized_logodds": 0.47}}
            for k, code in enumerate(["Q01", "Q02", "Q03"])
        },
    }  # fmt: skip
    run = make_run(closed_round, result=result)
    write_artifacts(run, Path(settings.MEDIA_ROOT), ["pooled"])
    client.force_login(analyst)
    page = client.get(
        reverse("aggregation:round-report", args=[closed_round.id]) + f"?run={run.id}"
    ).content.decode()
    assert "0.650" in page and "0.550" in page
    assert f"/reports/runs/{run.id}/figures/pooled.svg" in page
    assert 'id="diagnostics-title"' not in page
    experts = client.get(reverse("aggregation:experts-report", args=[run.id])).content.decode()
    assert "estimates nothing per expert" in experts


def test_latest_hierarchical_run_is_the_default(client, analyst, closed_round):
    old = make_run(closed_round, result=hierarchical_result())
    make_run(closed_round, result={**hierarchical_result(), "method": "median"})
    client.force_login(analyst)
    response = client.get(reverse("aggregation:round-report", args=[closed_round.id]))
    assert response.context["run"] == old


# --- Question and experts pages ------------------------------------------------------------


def test_question_page_shows_numbers_answers_and_rationales(client, analyst, finished_run, urls):
    client.force_login(analyst)
    page = client.get(urls["question-report"]).content.decode()
    assert "Will Japan allow US combat operations from its bases?" in page
    assert "0.623" in page and "0.551 to 0.694" in page
    assert "0.746" in page and "0.671 to 0.812" in page  # US
    assert "-0.344" in page
    assert RATIONALE in page
    rows = re.findall(r'<th scope="row">(E\d+)</th><td>(\w+)</td>', page)
    assert rows == [(code, "withheld") for code, *_ in PANEL]  # "other" would be E007 alone
    assert f'src="/reports/runs/{finished_run.id}/figures/question-Q01.svg"' in page
    assert 'alt="Dot plot of the 7 answers to Q01' in page


def test_question_page_of_a_question_without_result_is_404(client, analyst, finished_run, survey):
    n01 = survey.questions.get(code="N01")
    client.force_login(analyst)
    url = reverse("aggregation:question-report", args=[finished_run.id, n01.id])
    assert client.get(url).status_code == 404


def test_experts_page_shows_codes_bias_noise_and_slope(client, analyst, urls):
    client.force_login(analyst)
    page = client.get(urls["experts-report"]).content.decode()
    assert re.findall(r'<th scope="row">(E\d+)</th>', page) == [code for code, *_ in PANEL]
    assert "-0.30" in page and "0.90" in page  # E001's bias and noise
    e001 = page[page.index('<th scope="row">E001</th>') :].split("</tr>")[0]
    assert "1.23" in e001 and "0.50 to 2.50" in e001  # and slope
    assert '<th scope="col" class="num">Slope</th>' in page
    # the lone JP expert: cohort, bias and slope withheld (all are measured within it)
    e007 = page[page.index('<th scope="row">E007</th>') :].split("</tr>")[0]
    assert "<td>withheld</td>" in e007 and e007.count("not shown") == 2


def test_experts_page_shows_the_slope_figure_when_the_run_drew_one(
    client, analyst, closed_round, settings
):
    run = make_run(closed_round, result=hierarchical_result())
    write_artifacts(run, Path(settings.MEDIA_ROOT), ["expert-bias", "expert-noise"])
    client.force_login(analyst)
    url = reverse("aggregation:experts-report", args=[run.id])
    page = client.get(url).content.decode()
    assert 'data-figure="expert-noise"' in page and 'id="slope-title"' not in page
    write_artifacts(run, Path(settings.MEDIA_ROOT), ["expert-bias", "expert-noise", "expert-slope"])
    page = client.get(url).content.decode()
    assert 'id="slope-title"' in page and 'data-figure="expert-slope"' in page
    korean = client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "기울기를 보여 주는 포레스트 그림" in korean


def test_experts_page_of_a_result_without_slopes_has_no_slope_column(client, analyst, closed_round):
    """Results of binary model versions before 5 have no slope: no empty column."""
    result = hierarchical_result()
    for expert in result["experts"].values():
        del expert["slope"]
    run = make_run(closed_round, result=result)
    client.force_login(analyst)
    page = client.get(reverse("aggregation:experts-report", args=[run.id])).content.decode()
    assert "-0.30" in page and ">Slope<" not in page and "slope" not in page.lower()


# --- Figures and downloads -----------------------------------------------------------------


def test_figures_are_svg_with_a_strict_policy(client, analyst, urls, finished_run):
    client.force_login(analyst)
    response = client.get(urls["run-figure"])
    assert response["Content-Type"] == "image/svg+xml"
    assert b"".join(response.streaming_content) == SVG
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert "attachment" not in response.get("Content-Disposition", "")
    download = client.get(urls["run-figure"] + "?download=1")
    assert download["Content-Disposition"].startswith("attachment")
    missing = reverse("aggregation:run-figure", args=[finished_run.id, "nothing"])
    assert client.get(missing).status_code == 404


def test_a_figure_path_outside_media_root_is_refused(client, analyst, finished_run, urls):
    finished_run.figures["consensus"] = "../../../../etc/passwd"
    finished_run.save(update_fields=["figures"])
    client.force_login(analyst)
    assert client.get(urls["run-figure"]).status_code == 404


def test_figures_are_not_published_under_media_url(client, analyst, finished_run):
    client.force_login(analyst)
    path = finished_run.figures["consensus"]
    assert client.get(f"/media/{path}").status_code == 404


def test_posterior_download(client, organizer, urls, finished_run):
    client.force_login(organizer)
    response = client.get(urls["run-posterior"])
    assert response["Content-Type"] == "application/x-netcdf"
    assert f'filename="run-{finished_run.id}-posterior.nc"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content).startswith(b"CDF")


def _csv_rows(response) -> list[dict]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_results_csv_has_one_row_per_question(client, analyst, urls):
    client.force_login(analyst)
    rows = {row["question"]: row for row in _csv_rows(client.get(urls["run-results-csv"]))}
    assert list(rows) == ["Q01", "Q02", "Q03"]
    q01 = rows["Q01"]
    assert q01["text"] == "Will Japan allow US combat operations from its bases?"
    assert float(q01["consensus_mean"]) == 0.623
    assert (float(q01["consensus_lower"]), float(q01["consensus_upper"])) == (0.551, 0.694)
    assert float(q01["disagreement_mean"]) == 1.37
    assert float(q01["baseline_extremized_logodds"]) == 0.741
    assert float(q01["cohort_ROK_mean"]) == 0.402
    assert float(q01["gap_ROK_minus_US_mean"]) == -0.344
    assert float(q01["p_ROK_higher_than_US"]) == 0.001
    assert int(q01["n_judgments"]) == 7


def test_judgments_csv_is_anonymised(client, analyst, urls):
    client.force_login(analyst)
    rows = _csv_rows(client.get(urls["round-judgments-csv"]))
    assert list(rows[0]) == [
        "expert", "cohort", "question", "round", "wording_version",
        "probability", "q05", "q50", "q95", "rationale",
    ]  # fmt: skip
    assert len(rows) == 3 * 7 + 1
    first = next(r for r in rows if r["expert"] == "E001" and r["question"] == "Q01")
    assert (first["cohort"], float(first["probability"]), first["rationale"]) == (
        "withheld", 0.7, RATIONALE  # E007 is alone in JP: see test_small_cohorts_...
    )  # fmt: skip
    assert {row["wording_version"] for row in rows} == {"1"}  # nothing was clarified
    numeric = next(r for r in rows if r["question"] == "N01")
    assert (numeric["q05"], numeric["q50"], numeric["q95"]) == ("2.0", "5.0", "12.0")
    assert numeric["rationale"] == "'" + FORMULA_RATIONALE  # not run as a spreadsheet formula


def test_judgments_csv_leaves_out_experts_who_did_not_submit(client, analyst, closed_round, urls):
    closed_round.invitations.filter(expert__code="E003").update(submitted_at=None)
    client.force_login(analyst)
    rows = _csv_rows(client.get(urls["round-judgments-csv"]))
    assert "E003" not in {row["expert"] for row in rows}


# --- Requesting runs -----------------------------------------------------------------------


def test_an_organizer_requests_another_method(client, organizer, closed_round):
    client.force_login(organizer)
    url = reverse("aggregation:run-request", args=[closed_round.id])
    response = client.post(url, {"method": "linear_pool", "random_seed": "3"})
    run = AggregationRun.objects.get()
    assert (run.method, run.status, run.requested_by) == ("linear_pool", "queued", organizer)
    assert "random_seed" not in run.options  # a pool needs no seed: no run per seed
    assert response.status_code == 302
    assert response["Location"].endswith(f"?run={run.id}")
    page = client.get(response["Location"]).content.decode()
    assert "Linear pool (mean) requested" in page


def test_a_double_submit_returns_the_same_run(client, analyst, closed_round):
    client.force_login(analyst)
    url = reverse("aggregation:run-request", args=[closed_round.id])
    first = client.post(url, {"method": "hierarchical", "random_seed": "5"})
    second = client.post(url, {"method": "hierarchical", "random_seed": "5"}, follow=True)
    run = AggregationRun.objects.get()
    assert run.options["random_seed"] == 5
    assert first["Location"] == second.redirect_chain[0][0]
    assert "is queued: here it is" in second.content.decode()
    client.post(url, {"method": "hierarchical", "random_seed": "6"})
    assert AggregationRun.objects.count() == 2


@pytest.mark.parametrize(
    "data", [{"method": "magic"}, {"method": "hierarchical", "random_seed": "-1"}]
)
def test_a_bad_request_makes_no_run(client, organizer, closed_round, data):
    client.force_login(organizer)
    url = reverse("aggregation:run-request", args=[closed_round.id])
    response = client.post(url, data, follow=True)
    assert "No run was requested" in response.content.decode()
    assert not AggregationRun.objects.exists()


def test_requesting_needs_post(client, organizer, closed_round):
    client.force_login(organizer)
    assert client.get(reverse("aggregation:run-request", args=[closed_round.id])).status_code == 405


def test_a_round_without_judgments_gets_a_clear_message(client, organizer, survey):
    from elicitation import services

    empty = services.round_create(survey=survey)
    client.force_login(organizer)
    response = client.post(
        reverse("aggregation:run-request", args=[empty.id]), {"method": "median"}, follow=True
    )
    assert "No run was requested" in response.content.decode()
    assert not AggregationRun.objects.exists()


def test_the_request_form_is_keyboard_usable(client, organizer, finished_run):
    client.force_login(organizer)
    page = client.get(
        reverse("aggregation:round-report", args=[finished_run.survey_round_id])
    ).content.decode()
    form = page[page.index('<form method="post" action="/reports/rounds/') :]
    form = form[: form.index("</form>")]
    assert '<label for="id_method">' in form and 'id="id_method"' in form
    assert '<label for="id_random_seed">' in form and 'id="id_random_seed"' in form
    assert 'value="8"' in form  # one above the seed used so far (7)
    assert '<button type="submit">' in form


# --- Admin and links -------------------------------------------------------------------------


def test_admin_shows_runs_read_only(client, superuser, finished_run):
    failed = make_run(finished_run.survey_round, status="failed", error="RuntimeError: boom")
    client.force_login(superuser)
    listing = client.get(reverse("admin:aggregation_aggregationrun_changelist") + "?status=failed")
    assert listing.status_code == 200
    page = client.get(reverse("admin:aggregation_aggregationrun_change", args=[failed.id]))
    assert "RuntimeError: boom" in page.content.decode()
    detail = client.get(reverse("admin:aggregation_aggregationrun_change", args=[finished_run.id]))
    assert "max_rhat" in detail.content.decode()
    assert client.get(reverse("admin:aggregation_aggregationrun_add")).status_code == 403


def test_the_organizer_round_page_links_to_the_report(client, organizer, closed_round):
    client.force_login(organizer)
    page = client.get(reverse("elicitation:round-detail", args=[closed_round.id])).content.decode()
    assert reverse("aggregation:round-report", args=[closed_round.id]) in page


def test_a_run_in_flight_links_to_the_last_finished_report(client, analyst, finished_run):
    make_run(finished_run.survey_round, status=AggregationRun.Status.QUEUED)
    client.force_login(analyst)
    page = client.get(
        reverse("aggregation:round-report", args=[finished_run.survey_round_id])
    ).content.decode()
    assert "The aggregation is queued" in page
    assert (
        f'<a href="/reports/rounds/{finished_run.survey_round_id}/?run={finished_run.id}">' in page
    )


# --- Round comparison --------------------------------------------------------------------


@pytest.fixture
def second_round(closed_round, survey, panel):
    """Round 2, closed (``second_round_build``)."""
    return second_round_build(closed_round=closed_round, survey=survey, panel=panel)


def test_the_comparison_sets_the_rounds_side_by_side(client, analyst, finished_run, second_round):
    result = hierarchical_result()
    result["questions"]["Q01"]["disagreement"] = {"mean": 0.685, "interval": [0.5, 0.9]}
    result["questions"]["Q01"]["consensus"] = {"mean": 0.641, "interval": [0.58, 0.70]}
    make_run(second_round, result=result)
    client.force_login(analyst)
    report = client.get(reverse("aggregation:round-report", args=[second_round.id]))
    url = reverse("aggregation:round-comparison", args=[second_round.id])
    assert url in report.content.decode()
    page = client.get(url).content.decode()
    assert "round 1 and round 2 compared" in page
    row = re.search(r'<tr id="row-Q01">.*?</tr>', page, flags=re.S).group(0)
    assert "Will Japan allow US combat" in row  # the question's text, its code beside
    assert "0.623 (0.551 to 0.694)" in row and "0.641 (0.580 to 0.700)" in row
    assert ">0.50<" in row  # the ratio of disagreement, 0.685 / 1.37
    assert "2 / 1" in row  # E001 and E004 toward, E007 away
    movers = re.search(r'id="moves-Q01".*?</details>', page, flags=re.S).group(0)
    assert "The basing argument convinced me." in movers and "E007" in movers
    assert "E002" not in movers  # kept their answer
    panel = re.search(r'id="panel-movement".*?</dl>', page, flags=re.S).group(0)
    assert "3 of 7" in panel
    # Q02, Q03 unchanged: disagreement ratios 1, 1; Q01 0.5: the median ratio is 1.00
    ratio = re.search(r'id="headline-ratio".*?</div>', page, flags=re.S).group(0)
    assert "<strong>1.00</strong>" in ratio and "own fit" in ratio
    assert page.count("Ratio of disagreement (later ÷ earlier)") == 1  # one ratio only
    persistence = re.search(r'id="headline-persistence".*?</div>', page, flags=re.S).group(0)
    assert "not estimated" in persistence and "18 of 21 answers kept unchanged" in persistence
    assert "consensus.svg" not in page  # the figure needs the fit of both rounds
    note = re.search(r'id="method-note".*?</section>', page, flags=re.S).group(0)
    assert "No fit of rounds 1 and 2 together has been requested" in note
    for _code, name, email, _n in PANEL:
        assert name not in page and email not in page


def test_with_the_linked_run_the_comparison_shows_the_change_and_the_persistence(
    client, analyst, finished_run, second_round
):
    linked = linked_result()
    make_run(second_round, result=linked)
    # a newer linked run of other rounds (1 and 3, say) is not this comparison's
    make_run(second_round, method="linked_rounds", rounds=[2, 3])
    client.force_login(analyst)
    page = client.get(reverse("aggregation:round-comparison", args=[second_round.id]))
    html = page.content.decode()
    row = re.search(r'<tr id="row-Q01">.*?</tr>', html, flags=re.S).group(0)
    assert "+0.031" in row and "(+0.004 to +0.058)" in row and ">0.97<" in row
    assert "0.600 (0.500 to 0.700)" in row and "0.90 (0.70 to 1.10)" in row  # the joint fit's
    assert "Chance it rose" in html
    note = re.search(r'id="method-note".*?</section>', html, flags=re.S).group(0)
    assert "fitted together" in note and "21 such pairs" in note
    assert "Numeric questions are not part of that fit" in note
    persistence = re.search(r'id="headline-persistence".*?</div>', html, flags=re.S).group(0)
    assert "0.62 (0.48 to 0.75)" in persistence
    assert "carries over from one round to the next" in persistence
    ratio = re.search(r'id="headline-ratio".*?</div>', html, flags=re.S).group(0)
    assert "0.81 (0.70 to 0.93)" in ratio and "fit of both rounds together" in ratio
    assert html.count("Ratio of disagreement (later ÷ earlier)") == 1  # one ratio only
    change = re.search(r'id="headline-change".*?</div>', html, flags=re.S).group(0)
    assert "rose on 3 questions" in change and "fell on 0" in change
    assert reverse("aggregation:round-comparison-figure", args=[second_round.id]) in html


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (AggregationRun.Status.QUEUED, "is being fitted; this page follows its progress"),
        (AggregationRun.Status.RUNNING, "is being fitted; this page follows its progress"),
        (AggregationRun.Status.FAILED, "together failed"),
    ],
)
def test_the_comparison_says_where_the_linked_run_stands(
    client, analyst, finished_run, second_round, status, says
):
    run = make_run(second_round, method="linked_rounds", rounds=[1, 2], status=status)
    client.force_login(analyst)
    html = client.get(reverse("aggregation:round-comparison", args=[second_round.id]))
    note = re.search(r'id="method-note".*?</section>', html.content.decode(), flags=re.S)
    assert says in note.group(0)
    assert (f"?run={run.id}" in note.group(0)) == (status == AggregationRun.Status.FAILED)
    assert "Chance it rose" not in html.content.decode()
    # while it runs, the run page's progress bar follows it
    progress = reverse("aggregation:run-progress", args=[run.id])
    pending = status != AggregationRun.Status.FAILED
    assert (f'data-progress-url="{progress}"' in html.content.decode()) == pending
    assert ("run-progress.js" in html.content.decode()) == pending


def test_a_comparison_of_later_rounds_names_them_by_their_numbers(
    client, organizer, survey, second_round
):
    from elicitation.models import Round

    third = Round.objects.create(
        survey=survey, number=3, status=Round.Status.CLOSED, feedback_round=second_round
    )
    third.questions.set(second_round.questions.all())
    client.force_login(organizer)
    html = client.get(reverse("aggregation:round-comparison", args=[third.id])).content.decode()
    summary = re.search(r'class="run-summary">.*?</p>', html, flags=re.S).group(0)
    assert "round 2: no finished" in summary and "round 3: no finished" in summary
    assert "round 1" not in summary
    # round 2 has probability answers to link with; no linked run was asked for yet
    note = re.search(r'id="method-note".*?</section>', html, flags=re.S).group(0)
    assert "No fit of rounds 2 and 3 together has been requested" in note


def test_a_linked_runs_report_shows_the_change_between_the_rounds(
    client, analyst, finished_run, second_round
):
    run = make_run(second_round, result=linked_result())
    client.force_login(analyst)
    url = reverse("aggregation:round-report", args=[second_round.id])
    html = client.get(f"{url}?run={run.id}").content.decode()
    assert "Rounds 1 and 2 fitted together" in html and "closed-form pool" not in html
    row = re.search(r"<th scope=\"row\">Q01</th>.*?</tr>", html, flags=re.S).group(0)
    assert "+0.031" in row and "(+0.004 to +0.058)" in row and ">0.97<" in row
    assert "0.600 (0.500 to 0.700)" in row and "0.90 (0.70 to 1.10)" in row
    assert "0.62 (0.48 to 0.75)" in html  # the persistence
    # its question links lead to the comparison, where that question's moves are
    question = second_round.questions.get(code="Q01")
    page = client.get(reverse("aggregation:question-report", args=[run.id, question.id]))
    assert page.status_code == 302
    assert page["Location"].endswith(
        reverse("aggregation:round-comparison", args=[second_round.id]) + "#moves-Q01"
    )


def test_without_model_runs_the_comparison_uses_medians(client, organizer, second_round):
    client.force_login(organizer)
    page = client.get(reverse("aggregation:round-comparison", args=[second_round.id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "no finished hierarchical run (medians shown)" in html
    assert "(median)" in html


def test_a_first_round_has_nothing_to_compare(client, organizer, closed_round):
    client.force_login(organizer)
    html = client.get(reverse("aggregation:round-comparison", args=[closed_round.id]))
    assert "has no earlier closed round to compare with" in html.content.decode()


def test_the_report_says_numeric_questions_are_elsewhere(client, analyst, finished_run):
    client.force_login(analyst)
    html = client.get(
        reverse("aggregation:round-report", args=[finished_run.survey_round_id])
    ).content.decode()
    note = re.search(r'id="numeric-note">.*?</p>', html, flags=re.S).group(0)
    assert "1 numeric question has a model of its own" in note
    assert 'href="#numeric-title"' in note


def test_the_comparison_figure_draws_each_question_in_both_rounds_in_the_readers_language(
    client, analyst, finished_run, second_round
):
    from elicitation.models import Question

    Question.objects.filter(code="Q02").update(text_ko="한국은 함정을 보낼 것인가?")
    make_run(second_round, result=linked_result({"Q01": -0.08, "Q02": 0.15, "Q03": 0.01}))
    client.force_login(analyst)
    url = reverse("aggregation:round-comparison-figure", args=[second_round.id])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    svg = response.content.decode()
    root = ET.fromstring(svg)
    title, desc = root.find(f"{SVG_NS}title"), root.find(f"{SVG_NS}desc")
    assert root.get("role") == "img" and root.get("aria-labelledby") == "figure-title figure-desc"
    assert title.text == "Each question's consensus in round 1 and round 2"
    assert "For each of the 3 probability questions" in desc.text
    texts = [t.text or "" for t in root.iter(f"{SVG_NS}text")]
    labels = [t for t in texts if t.startswith("Will ")]
    # sorted by the change, largest rise first: Q02 (+0.15), Q03 (+0.01), Q01 (-0.08)
    assert [label.split()[1] for label in labels] == ["Korea", "Australia", "Japan"]
    page = client.get(reverse("aggregation:round-comparison", args=[second_round.id]))
    html = page.content.decode()
    order = [html.index(f'<tr id="row-{code}">') for code in ("Q02", "Q03", "Q01")]
    assert order == sorted(order)  # the table, the figure's fallback, in the figure's order
    change = re.search(r'id="headline-change".*?</div>', html, flags=re.S).group(0)
    assert "rose on 1 question," in change and "fell on 1" in change
    assert "no clear change on 1 of 3" in change and "+0.150" in change

    korean = client.get(url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "한국은 함정을 보낼 것인가?" in korean and "Will Korea send ships" not in korean
    assert "Will Japan allow" in korean  # no Korean text: the English one
    assert "Each question's consensus" not in korean  # the title is translated


def test_the_comparison_figure_waits_for_the_joint_fit_and_for_permission(
    client, analyst, other_analyst, finished_run, second_round
):
    url = reverse("aggregation:round-comparison-figure", args=[second_round.id])
    client.force_login(analyst)
    assert client.get(url).status_code == 404  # no fit of both rounds yet
    make_run(second_round, method="linked_rounds", rounds=[1, 2], status="running")
    assert client.get(url).status_code == 404
    make_run(second_round, result=linked_result())
    assert client.get(url).status_code == 200
    client.force_login(other_analyst)
    assert client.get(url).status_code == 404


# --- Issue 15: the perception section's downloads, for every persona ------------------------

PERCEPTION_EXPECTED = {  # persona: (report, perception CSV, perception posterior, figure)
    "organizer": (200, 200, 200, 200),
    "superuser": (200, 200, 200, 200),
    "analyst": (200, 200, 404, 200),  # the posterior lists every expert's cohort
    "other_staff": (404, 404, 404, 404),
    "other_analyst": (404, 404, 404, 404),
    "expert_user": (404, 404, 404, 404),
    "anonymous": (302, 302, 302, 302),
    "expert_link": (302, 302, 302, 302),
}


@pytest.mark.parametrize("persona", list(PERCEPTION_EXPECTED))
def test_the_perception_pages_answer_each_persona_as_they_must(
    request, client, perception_run, persona
):
    urls = [
        reverse("aggregation:round-report", args=[perception_run.survey_round_id]),
        reverse("aggregation:run-perception-csv", args=[perception_run.id]),
        reverse("aggregation:run-perception-posterior", args=[perception_run.id]),
        reverse("aggregation:run-figure", args=[perception_run.id, "perception"]),
    ]
    client = _client_for(persona, request, client)
    for url, expected in zip(urls, PERCEPTION_EXPECTED[persona], strict=True):
        response = client.get(url)
        assert response.status_code == expected, url
        if expected == 302:
            assert response["Location"].startswith(reverse("login"))


def test_no_names_or_emails_in_the_perception_section_or_its_downloads(
    client, organizer, perception_run
):
    client.force_login(organizer)
    for url in [
        reverse("aggregation:round-report", args=[perception_run.survey_round_id]),
        reverse("aggregation:run-perception-csv", args=[perception_run.id]),
        reverse("aggregation:run-figure", args=[perception_run.id, "perception"]),
    ]:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode("utf-8", errors="replace")
        for secret in NAMES_AND_EMAILS:
            assert secret not in text, (url, secret)
