"""The API reads exactly what the pages let the same person read.

For each persona and each pair of a page and the API endpoint that serves the same data,
the endpoint answers 200 where the page answers 200, and 401, 403 or 404 where the page
refuses (a redirect to the login, a 403 or a 404).
"""

import json

import pytest
from django.urls import reverse

from aggregation.models import AggregationRun

PERSONAS = ["organizer", "analyst", "other_analyst", "other_staff", "expert", "anonymous"]


def _pairs(run: AggregationRun) -> list[tuple[str, str, str]]:
    """(name, page URL, API URL) of the same data."""
    round_id, survey_id = run.survey_round_id, run.survey_round.survey_id
    report = reverse("aggregation:round-report", args=[round_id])
    return [
        ("survey", reverse("resolution:survey-scores", args=[survey_id]),
         f"/api/v1/surveys/{survey_id}"),
        ("survey-rounds", reverse("resolution:survey-scores", args=[survey_id]),
         f"/api/v1/surveys/{survey_id}/rounds"),
        ("round", report, f"/api/v1/rounds/{round_id}"),
        ("questions", report, f"/api/v1/rounds/{round_id}/questions"),
        ("runs", report, f"/api/v1/rounds/{round_id}/runs"),
        ("run", reverse("aggregation:experts-report", args=[run.id]), f"/api/v1/runs/{run.id}"),
        ("results", reverse("aggregation:run-results-csv", args=[run.id]),
         f"/api/v1/runs/{run.id}/results"),
        ("results-csv", reverse("aggregation:run-results-csv", args=[run.id]),
         f"/api/v1/runs/{run.id}/results.csv"),
        ("judgments-csv", reverse("aggregation:round-judgments-csv", args=[round_id]),
         f"/api/v1/rounds/{round_id}/judgments.csv"),
        ("posterior", reverse("aggregation:run-posterior", args=[run.id]),
         f"/api/v1/runs/{run.id}/posterior.nc"),
    ]  # fmt: skip


def _page_client(persona: str, request, client):
    if persona == "anonymous":
        return client
    user = request.getfixturevalue("expert").user if persona == "expert" else None
    client.force_login(user or request.getfixturevalue(persona))
    return client


def _page_allows(response) -> bool:
    """200, or a redirect to another page of the reports (the survey's scores page sends
    readers on to its latest round); a redirect to the login is a refusal."""
    if response.status_code == 200:
        return True
    if response.status_code == 302:
        return not response["Location"].startswith(reverse("login"))
    assert response.status_code in (403, 404), response.status_code
    return False


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_api_answers_where_the_pages_answer(request, client, token_for, finished_run, persona):
    headers = token_for(persona)
    page_client = _page_client(persona, request, client)
    page_verdicts = {
        name: _page_allows(page_client.get(page)) for name, page, _api in _pairs(finished_run)
    }
    client.logout()  # the API sees the token only, never the session
    for name, _page, api_url in _pairs(finished_run):
        response = client.get(api_url, **headers)
        if page_verdicts[name]:
            assert response.status_code == 200, (persona, name, response.content[:300])
        else:
            assert response.status_code in (401, 403, 404), (persona, name, response.status_code)
    # Sanity: the matrix is not trivially all-refused or all-allowed.
    expected_any = persona in ("organizer", "analyst")
    assert any(page_verdicts.values()) is expected_any
    if persona == "analyst":
        assert not page_verdicts["posterior"]  # organizers only, on the page and the API


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_survey_list_is_the_report_index(request, client, token_for, finished_run, persona):
    headers = token_for(persona)
    response = client.get("/api/v1/surveys", **headers)
    if persona in ("expert", "anonymous"):
        assert response.status_code == 401
        return
    listed = {item["id"] for item in response.json()["items"]}
    readable = persona in ("organizer", "analyst")
    assert listed == ({finished_run.survey_round.survey_id} if readable else set())
    index = _page_client(persona, request, client).get(reverse("aggregation:report-index"))
    survey_title = finished_run.survey_round.survey.title
    assert (index.status_code == 200 and survey_title in index.content.decode()) is readable


@pytest.mark.parametrize(
    ("persona", "page_status", "api_status"),
    [("organizer", 302, 201), ("analyst", 302, 201), ("other_analyst", 404, 404),
     ("other_staff", 404, 404), ("expert", 404, 401), ("anonymous", 302, 401)],
)  # fmt: skip
def test_requesting_a_run_follows_the_page_button(
    request, client, token_for, closed_round, persona, page_status, api_status
):
    headers = token_for(persona)
    url = f"/api/v1/rounds/{closed_round.id}/runs"
    response = client.post(url, {"method": "median"}, content_type="application/json", **headers)
    assert response.status_code == api_status, response.content[:300]
    made = AggregationRun.objects.filter(method="median").count()
    assert made == (1 if api_status == 201 else 0)
    page = _page_client(persona, request, client).post(
        reverse("aggregation:run-request", args=[closed_round.id]), {"method": "linear_pool"}
    )
    assert page.status_code == page_status
    if page_status == 302 and api_status == 201:
        assert AggregationRun.objects.filter(method="linear_pool").count() == 1


def test_asking_again_returns_the_same_run(client, token_for, closed_round):
    headers = token_for("analyst")
    url = f"/api/v1/rounds/{closed_round.id}/runs"
    first = client.post(url, {"method": "median"}, content_type="application/json", **headers)
    again = client.post(url, {"method": "median"}, content_type="application/json", **headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["run"]["id"] == again.json()["run"]["id"]
    assert again.json()["created"] is False


def test_a_bad_run_request_says_what_was_wrong(client, token_for, closed_round):
    headers = token_for("organizer")
    url = f"/api/v1/rounds/{closed_round.id}/runs"
    response = client.post(
        url, {"method": "tea-leaves"}, content_type="application/json", **headers
    )
    assert response.status_code == 400
    assert "method" in response.json()["detail"]
    assert not AggregationRun.objects.exists()
    response = client.post(url, "not json", content_type="application/json", **headers)
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


def test_results_and_run_show_no_small_cohort_and_no_expert(client, token_for, finished_run):
    headers = token_for("analyst")
    run = client.get(f"/api/v1/runs/{finished_run.id}", **headers).json()
    assert run["data_hash"] == finished_run.data_hash
    assert "experts" not in run["result"]
    assert run["result"]["shown_cohorts"] == ["ROK", "US"]
    assert "JP" not in json.dumps(run["result"]["questions"])
    assert "posterior_nc" not in run["downloads"]  # analysts do not get the posterior
    results = client.get(f"/api/v1/runs/{finished_run.id}/results", **headers).json()
    assert results["count"] == 3
    assert {row["code"] for row in results["items"]} == {"Q01", "Q02", "Q03"}
    assert "JP" not in json.dumps(results["items"])


def test_cohort_leans_and_pooled_cohorts_name_no_small_cohort(client, token_for, closed_round):
    from tests.aggregation.conftest import hierarchical_result, make_run, point

    result = hierarchical_result(
        cohort_lean={c: point(0.1, -0.2, 0.4) for c in ("JP", "ROK", "US")},
        cohorts_pooled={"groups": [["JP"], ["ROK"], ["US"]], "why": "no question ..."},
    )
    run = make_run(closed_round, result=result)
    public = client.get(f"/api/v1/runs/{run.id}", **token_for("analyst")).json()["result"]
    assert "JP" not in json.dumps(public)
    assert set(public["cohort_lean"]) == {"ROK", "US"}
    assert public["cohorts_pooled"]["groups"] == [["ROK"], ["US"]]


def test_lists_are_paged(client, token_for, finished_run):
    headers = token_for("organizer")
    url = f"/api/v1/rounds/{finished_run.survey_round_id}/questions"
    first = client.get(url, **headers).json()
    assert first["count"] == 4 and len(first["items"]) == 4
    assert client.get(url + "?page=2", **headers).json()["items"] == []


def test_downloads_are_the_pages_files(client, token_for, finished_run):
    headers = token_for("organizer")
    api = client.get(f"/api/v1/runs/{finished_run.id}/results.csv", **headers)
    client.force_login(finished_run.survey_round.survey.organizers.get())
    page = client.get(reverse("aggregation:run-results-csv", args=[finished_run.id]))
    assert api.status_code == 200 and api.content == page.content
    assert api["Cache-Control"] == page["Cache-Control"]


def test_the_openapi_description_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in ("/api/v1/surveys", "/api/v1/rounds/{round_id}/runs", "/api/v1/runs/{run_id}"):
        assert path in paths
    assert "post" in paths["/api/v1/rounds/{round_id}/runs"]


def test_errors_are_in_the_users_language(client, token_for, finished_run):
    headers = token_for("other_analyst")
    english = client.get(f"/api/v1/runs/{finished_run.id}", **headers)
    korean = client.get(f"/api/v1/runs/{finished_run.id}", HTTP_ACCEPT_LANGUAGE="ko", **headers)
    assert english.status_code == korean.status_code == 404
    assert "analyst" in english.json()["detail"]
    assert english.json()["detail"] != korean.json()["detail"]
    anonymous = client.get("/api/v1/surveys")
    assert anonymous.status_code == 401 and "Bearer" in anonymous.json()["detail"]


@pytest.mark.parametrize(
    "url",
    ["/api/v1/runs/99999999999999999999999", "/api/v1/rounds/99999999999999999999/runs",
     "/api/v1/surveys/-1", "/api/v1/runs/1/results?page=0", "/api/v1/runs/1/results?page=x"],
)  # fmt: skip
def test_odd_ids_and_pages_are_refused_not_crashed(client, token_for, finished_run, url):
    response = client.get(url, **token_for("organizer"))
    assert response.status_code in (404, 422)


def test_the_perception_parts_show_no_small_cohort_and_no_expert(client, token_for, perception_run):
    """Issue 15: a run of a round with meta-predictions; JP is a cohort of one."""
    url = f"/api/v1/runs/{perception_run.id}"
    result = client.get(url, **token_for("analyst")).json()["result"]
    text = json.dumps(result)
    assert "JP" not in text and "perception.nc" not in text
    shared = {(s["by"], s["of"]) for s in result["perception"]["shared"]}
    assert shared == {("US", "US"), ("US", "ROK"), ("ROK", "US"), ("ROK", "ROK")}
    assert "experts" not in result["perception"]["reciprocal_scores"]
    assert len(result["questions"]["Q01"]["perception"]) == 4
