"""The numeric run on the report pages and downloads, through the HTTP client: who may read
them and what they show. Runs are rows made from result dicts (conftest.numeric_result):
no sampler, no broker."""

import csv
import io
import re

import pytest
from django.urls import reverse

from aggregation.models import AggregationRun
from aggregation.numeric_reports import figure_name
from tests.aggregation.conftest import make_run, numeric_result

N01_FIGURE = figure_name("N01")

JP = re.compile(r"\bJP\b")


def _report(client, run) -> str:
    response = client.get(reverse("aggregation:round-report", args=[run.survey_round_id]))
    assert response.status_code == 200
    return response.content.decode()


def _section(html: str) -> str:
    return re.search(r'<section aria-labelledby="numeric-title".*', html, flags=re.S).group(0)


@pytest.mark.parametrize("persona", ["organizer", "analyst"])
def test_the_round_report_shows_the_numeric_forecast_table_and_figure(
    client_as, persona, finished_run, finished_numeric_run
):
    client = client_as(persona)
    html = _report(client, finished_run)
    assert 'href="#numeric-title"' in html
    assert 'id="consensus-table"' in html  # the binary report is still the page's run
    section = _section(html)
    summary = re.search(r'<table id="numeric-summary".*?</table>', section, flags=re.S).group(0)
    assert all(v in summary for v in ("3.21", "7.84", "19.6", "1.52 / 6.03 / 16.5"))
    table = re.search(r'<table id="numeric-table-N01".*?</table>', section, flags=re.S).group(0)
    assert re.search(r"Model forecast</th>\s*<td[^>]*><strong>3.21</strong></td>", table)
    assert "Cooke, equal weights" in table and "16.5" in table
    assert "Needs seed questions with known values." in table  # global and item weights
    assert "Average of the quantiles" in table and "14.1" in table
    estimates = re.search(r'id="numeric-estimates-N01".*?</table>', section, flags=re.S).group(0)
    assert "6.12" in estimates and "4.95 to 7.40" in estimates  # typical median, interval
    assert "1.37" in estimates and "1.02 to 1.81" in estimates  # disagreement
    assert "Median of cohort ROK" in estimates and "5.31" in estimates
    gaps = re.search(r'id="numeric-gaps-N01".*?</table>', section, flags=re.S).group(0)
    assert "ROK − US" in gaps and "−1.74".replace("−", "-") in gaps and "0.07" in gaps
    assert not JP.search(section)  # a cohort of one: never shown on its own
    figure = reverse("aggregation:run-figure", args=[finished_numeric_run.id, N01_FIGURE])
    assert f'src="{figure}"' in section
    img = re.search(rf'<img src="{re.escape(figure)}" alt="([^"]+)"', section).group(1)
    assert "5 % to 95 % range" in img and "table below" in img
    assert "come with 90 % credible intervals" in section
    assert "not in this table" not in html
    assert 'id="numeric-note"' in html and "a model of its own" in html


def test_a_numeric_run_opened_on_its_own_shows_only_the_numeric_report(
    client, analyst, finished_run, finished_numeric_run
):
    client.force_login(analyst)
    url = reverse("aggregation:round-report", args=[finished_run.survey_round_id])
    html = client.get(f"{url}?run={finished_numeric_run.id}").content.decode()
    assert 'id="numeric-summary"' in html and "7.84" in html
    assert 'id="consensus-table"' not in html and 'id="diagnostics-title"' not in html
    assert 'id="numeric-diagnostics-title"' in html
    csv_url = reverse("aggregation:run-results-csv", args=[finished_numeric_run.id])
    assert csv_url in html


def test_a_round_with_only_a_numeric_run_opens_on_it(client, analyst, finished_numeric_run):
    client.force_login(analyst)
    html = _report(client, finished_numeric_run)
    assert f"run {finished_numeric_run.id} (succeeded)" in html
    assert html.count('id="numeric-title"') == 1 and "7.84" in html


def _numeric_urls(run, round_id: int, question_id: int) -> list[str]:
    return [
        reverse("aggregation:round-report", args=[round_id]) + f"?run={run.id}",
        reverse("aggregation:question-report", args=[run.id, question_id]),
        reverse("aggregation:experts-report", args=[run.id]),
        reverse("aggregation:run-results-csv", args=[run.id]),
        reverse("aggregation:run-figure", args=[run.id, N01_FIGURE]),
    ]


@pytest.mark.parametrize("persona", ["expert_user", "other_analyst", "other_staff"])
def test_numeric_pages_and_downloads_are_404_for_who_may_not_read_them(
    client, request, persona, finished_numeric_run, closed_round
):
    user = request.getfixturevalue("expert").user if persona == "expert_user" else None
    client.force_login(user or request.getfixturevalue(persona))
    n01 = closed_round.questions.get(code="N01")
    for url in _numeric_urls(finished_numeric_run, closed_round.id, n01.id):
        assert client.get(url).status_code == 404, url


def test_an_expert_link_is_sent_to_the_login(expert_client, finished_numeric_run, closed_round):
    n01 = closed_round.questions.get(code="N01")
    for url in _numeric_urls(finished_numeric_run, closed_round.id, n01.id):
        response = expert_client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_numeric_section_follows_a_run_in_flight_or_failed(
    client, analyst, finished_run, closed_round
):
    client.force_login(analyst)
    queued = make_run(
        closed_round, status=AggregationRun.Status.QUEUED, method="numeric_hierarchical"
    )
    section = _section(_report(client, finished_run))
    assert f"(run {queued.id}) has not finished: Queued" in section
    assert f"?run={queued.id}" in section
    AggregationRun.objects.filter(id=queued.id).update(
        status=AggregationRun.Status.FAILED, error="ValueError: the sampler broke\n\nTraceback..."
    )
    section = _section(_report(client, finished_run))
    assert f"(run {queued.id}) failed:" in section and "ValueError: the sampler broke" in section
    assert "Traceback" not in section


def test_bad_diagnostics_and_left_out_answers_are_shown_never_hidden(client, analyst, closed_round):
    result = numeric_result(
        left_out=[{"expert": "E003", "question": "N01", "reason": "not_increasing"}]
    )
    result["diagnostics"].update(max_rhat=1.08, divergences=3)
    result["diagnostics"]["per_quantity"]["confidence_ratio"]["max_rhat"] = 1.08
    run = make_run(closed_round, result=result)
    client.force_login(analyst)
    section = _section(_report(client, run))
    banner = re.search(r'id="numeric-diagnostics-warning".*?</div>', section, flags=re.S).group(0)
    assert "R-hat up to 1.080" in banner and "confidence ratios" in banner
    assert "3 divergent transitions" in banner
    assert 'href="#numeric-diagnostics-title"' in banner
    left_out = re.search(r'id="numeric-left-out".*?</div>', section, flags=re.S).group(0)
    assert "N01, E003: its 5 %, 50 % and 95 % values are not strictly increasing" in left_out


def test_a_seed_shows_its_known_value_instead_of_a_forecast(client, analyst, closed_round):
    result = numeric_result(realizations={"N01": 8.0}, n_seeds=1)
    entry = result["questions"]["N01"]
    entry.update(seed=True, forecast={"q05": 8.0, "q50": 8.0, "q95": 8.0})
    entry["baselines"]["cooke_global"] = {"q05": 4.1, "q50": 7.7, "q95": 12.9}
    run = make_run(closed_round, result=result)
    client.force_login(analyst)
    section = _section(_report(client, run))
    table = re.search(r'<table id="numeric-table-N01".*?</table>', section, flags=re.S).group(0)
    assert "Known value" in table and "<strong>8.00</strong>" in table
    assert "The known value: the model learns from it" in table
    assert 'Cooke, global weights</th><td class="num">4.10</td>' in table


def test_the_numeric_question_page_shows_its_chart_numbers_and_answers(
    client, analyst, finished_numeric_run, closed_round
):
    client.force_login(analyst)
    n01 = closed_round.questions.get(code="N01")
    response = client.get(
        reverse("aggregation:question-report", args=[finished_numeric_run.id, n01.id])
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "How many ships?" in html and "7.84" in html and 'id="numeric-table-N01"' in html
    answers = re.search(r'<table id="answers">.*?</table>', html, flags=re.S).group(0)
    assert "E002" in answers and "12.0" in answers
    q01 = closed_round.questions.get(code="Q01")
    assert (
        client.get(
            reverse("aggregation:question-report", args=[finished_numeric_run.id, q01.id])
        ).status_code
        == 404
    )


def test_the_experts_page_of_a_numeric_run_shows_confidence_ratios(
    client, organizer, finished_run, finished_numeric_run
):
    client.force_login(organizer)
    html = client.get(
        reverse("aggregation:experts-report", args=[finished_numeric_run.id])
    ).content.decode()
    table = re.search(r'<table id="experts".*?</table>', html, flags=re.S).group(0)
    assert "E001" in table and "0.41" in table and "0.22 to 0.77" in table
    assert "ranges too narrow" in table  # E001's interval lies below 1
    assert not JP.search(table)  # the lone JP expert's cohort is withheld from every row
    for name in ("Alice Walker", "alice.walker@example.org"):
        assert name not in html
    binary = client.get(
        reverse("aggregation:experts-report", args=[finished_run.id])
    ).content.decode()
    assert reverse("aggregation:experts-report", args=[finished_numeric_run.id]) in binary


def test_the_numeric_results_csv_has_every_number_and_no_small_cohort(
    client, analyst, finished_numeric_run
):
    client.force_login(analyst)
    response = client.get(reverse("aggregation:run-results-csv", args=[finished_numeric_run.id]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 1
    row = rows[0]
    assert (row["question"], row["unit"], row["scale"], row["known_value"]) == (
        "N01", "ships", "linear", "",
    )  # fmt: skip
    assert (row["forecast_q05"], row["forecast_q50"], row["forecast_q95"]) == (
        "3.21", "7.84", "19.6",
    )  # fmt: skip
    assert (row["median_mean"], row["median_lower"], row["median_upper"]) == ("6.12", "4.95", "7.4")
    assert row["equal_weight_q95"] == "16.5" and row["cooke_global_q50"] == ""
    assert row["cohort_US_median_mean"] == "7.05"
    assert (row["gap_ROK_minus_US_mean"], row["p_ROK_higher_than_US"]) == ("-1.74", "0.07")
    assert not any("JP" in column for column in row)


def test_a_numeric_figure_is_served_with_its_own_policy(client, analyst, finished_numeric_run):
    client.force_login(analyst)
    for name in (N01_FIGURE, "expert-confidence"):
        response = client.get(
            reverse("aggregation:run-figure", args=[finished_numeric_run.id, name])
        )
        assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
        assert response["Content-Security-Policy"].startswith("default-src 'none'")


def test_an_organizer_requests_the_numeric_model_by_hand(client, organizer, closed_round):
    client.force_login(organizer)
    url = reverse("aggregation:run-request", args=[closed_round.id])
    response = client.post(url, {"method": "numeric_hierarchical", "random_seed": "4"})
    run = AggregationRun.objects.get()
    assert (run.method, run.status, run.requested_by) == (
        "numeric_hierarchical",
        "queued",
        organizer,
    )
    assert run.options["random_seed"] == 4 and "extremize_factor" not in run.options
    assert run.n_judgments == 1  # E002's answer to N01, the round's one numeric answer
    assert response["Location"].endswith(f"?run={run.id}")
    page = client.get(response["Location"]).content.decode()
    assert "Hierarchical Bayesian model of quantiles (numeric questions) requested" in page
    again = client.post(url, {"method": "numeric_hierarchical", "random_seed": "4"})
    assert again["Location"] == response["Location"] and AggregationRun.objects.count() == 1


def test_a_numeric_request_without_numeric_answers_is_refused_with_a_message(
    client, organizer, closed_round
):
    closed_round.judgments.filter(question__code="N01").delete()
    client.force_login(organizer)
    url = reverse("aggregation:run-request", args=[closed_round.id])
    response = client.post(url, {"method": "numeric_hierarchical"}, follow=True)
    assert response.status_code == 200
    assert "No run was requested" in response.content.decode()
    assert not AggregationRun.objects.exists()


def test_value_text_keeps_three_significant_digits_and_groups_thousands():
    from aggregation.numeric_reports import value_text

    cases = {28500: "28,500", 54.63: "54.6", 0.3456: "0.346", 9: "9.00", -1.744: "-1.74",
             0: "0", 1234567.8: "1,234,568", 0.00012: "0.00012", None: "—"}  # fmt: skip
    assert {value: value_text(value) for value in cases} == cases
    assert value_text(-1.744, signed=True) == "-1.74" and value_text(2, signed=True) == "+2.00"


def test_bad_ids_and_names_on_numeric_pages_are_404s(client, analyst, finished_numeric_run):
    client.force_login(analyst)
    run = finished_numeric_run
    other_round = run.survey_round.survey.rounds.create(number=9)
    bad = [
        reverse("aggregation:question-report", args=[run.id, 999999]),
        reverse("aggregation:run-figure", args=[run.id, "numeric-N99"]),
        reverse("aggregation:round-report", args=[other_round.id]) + f"?run={run.id}",
    ]
    for url in bad:
        assert client.get(url).status_code == 404, url


def test_a_numeric_run_without_a_result_shows_no_numbers_and_no_500(client, analyst, closed_round):
    run = make_run(
        closed_round, status=AggregationRun.Status.RUNNING, method="numeric_hierarchical"
    )
    client.force_login(analyst)
    n01 = closed_round.questions.get(code="N01")
    urls = [
        reverse("aggregation:round-report", args=[closed_round.id]) + f"?run={run.id}",
        reverse("aggregation:experts-report", args=[run.id]),
        reverse("aggregation:run-results-csv", args=[run.id]),
    ]
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert (
        client.get(reverse("aggregation:question-report", args=[run.id, n01.id])).status_code == 404
    )
    page = client.get(urls[0]).content.decode()
    assert "The model is being fitted" in page and 'id="numeric-summary"' not in page


@pytest.mark.parametrize(
    ("language", "learned", "expected"),
    [
        ("en", True, "the model carries 70 % of it"),
        ("ko", True, "모델의 비중은 70 %입니다"),
        ("en", False, "With fewer than three seed questions the forecast is the model's alone"),
    ],
)
def test_the_report_says_how_the_forecast_blends_the_model_with_equal_weights(
    client, analyst, closed_round, language, learned, expected
):
    blend = {"method": "stacking", "model_weight": 0.7 if learned else 1.0,
             "n_seeds": 9 if learned else 2, "scores": {"0.7": 0.9} if learned else {},
             "max_pareto_k": 0.3}  # fmt: skip
    run = make_run(closed_round, result=numeric_result(forecast_blend=blend))
    client.force_login(analyst)
    url = reverse("aggregation:round-report", args=[run.survey_round_id])
    html = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    paragraph = re.search(r'<p id="numeric-blend">.*?</p>', html, flags=re.S).group(0)
    assert expected in paragraph


def test_a_run_from_before_the_blend_says_nothing_of_it(client, analyst, finished_numeric_run):
    client.force_login(analyst)
    assert 'id="numeric-blend"' not in _report(client, finished_numeric_run)


def test_a_blended_forecast_shows_the_models_own_beside_it(client, analyst, closed_round):
    result = numeric_result()
    entry = result["questions"]["N01"]
    entry["model_forecast"] = {"q05": 4.02, "q50": 6.55, "q95": 11.3}  # the blend moved it
    run = make_run(closed_round, result=result)
    client.force_login(analyst)
    section = _section(_report(client, run))
    table = re.search(r'<table id="numeric-table-N01".*?</table>', section, flags=re.S).group(0)
    row = re.search(r'<tr class="model-alone">.*?</tr>', table, flags=re.S).group(0)
    assert "The model alone" in row and all(v in row for v in ("4.02", "6.55", "11.3"))
    # without a difference (a run before the blend, or a weight of 1) there is no such row
    html = _report(client, make_run(closed_round, result=numeric_result()))
    assert 'class="model-alone"' not in html
