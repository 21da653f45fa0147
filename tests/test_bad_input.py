"""Hostile and malformed input never reaches a 500.

Every id segment of every URL pattern, the ``?run=`` query string, the expert's answer
sheet, the organizers' number fields, the CSV import and the resolution forms get values
that ``str.isdigit()`` or ``float()`` accept but ``int()`` or the database refuse: a
superscript two, full-width digits, an overflowing float, 5,000 digits (Python refuses
``int()`` of strings over 4,300 digits) and ids beyond 64 bits (SQLite raises
OverflowError, PostgreSQL a DataError). Each is either read as a number or refused with a
clear message, and a refused form saves nothing. Dates and times at the ends of the
calendar, which overflow on the way to UTC, are refused too.

The URL walk goes through ``get_resolver()``, so a new URL is covered without editing this.
"""

import math
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from aggregation.models import AggregationRun
from elicitation import services
from elicitation.models import Invitation, Judgment, Question, Round
from resolution.models import Resolution, ResolutionEvent
from tests.aggregation import conftest as report_fixtures

# The report tests' survey, shared (as tests/resolution/conftest does); the personas are
# tests/conftest.py's.
closed_round = report_fixtures.closed_round
expert = report_fixtures.expert
expert_client = report_fixtures.expert_client
finished_run = report_fixtures.finished_run
open_round = report_fixtures.open_round
panel = report_fixtures.panel
survey = report_fixtures.survey

FIVE_THOUSAND_DIGITS = "9" * 5000
BAD_IDS = {
    "superscript": "²",  # str.isdigit() says yes, int() says no
    "full-width": "５０",  # int() and float() read it as 50; a URL converter must not
    "overflow": "1e400",
    "5000-digits": FIVE_THOUSAND_DIGITS,
    "2**63": str(2**63),  # one past the largest 64-bit id
    "2**64": str(2**64),
}
# Never numbers: each must come back as a form error, and nothing may be saved.
BAD_NUMBERS = {
    "superscript": "²",
    "overflow": "1e400",
    "negative-overflow": "-1e400",
    "nan": "nan",
    "inf": "inf",
    "infinity": "-Infinity",
    "5000-digits": FIVE_THOUSAND_DIGITS,
    "5000-digits-decimal": "1" + "0" * 5000 + ".5",
    "words": "fifty",
}
# The answer sheet reads plain decimal numbers only: not Python's "5_0" either (Django's
# own number fields, on the organizers' forms, read it as 50).
BAD_ANSWERS = BAD_NUMBERS | {"underscore": "5_0", "two-points": "1.2.3", "comma": "12,5"}


def _client(user=None) -> Client:
    client = Client(raise_request_exception=False)  # a 500 is a status here, not a raise
    if user is not None:
        client.force_login(user)
    return client


# --- Every URL id segment ------------------------------------------------------------------

SEGMENT = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _routes(patterns=None, prefix=""):
    """(route, URL name) of every path() pattern, includes flattened."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.name


def _is_id(converter: str | None, name: str) -> bool:
    return converter in ("int", "id") or name == "id" or name.endswith("_id")


def _id_routes() -> list[str]:
    routes = []
    for route, _name in _routes():
        if "(?P<" in route or "^" in route:
            continue  # regex patterns (admin's catch-all) take no ids
        if any(_is_id(m["converter"], m["name"]) for m in SEGMENT.finditer(route)):
            routes.append(route)
    return routes


def _urls_with_one_bad_segment(route: str, bad: str, valid: dict[str, int]) -> list[str]:
    """The route once per id segment: that segment ``bad``, the others valid ids."""
    segments = list(SEGMENT.finditer(route))
    urls = []
    for index, target in enumerate(segments):
        if not _is_id(target["converter"], target["name"]):
            continue
        parts, end = [], 0
        for k, match in enumerate(segments):
            parts.append(route[end : match.start()])
            if k == index:
                parts.append(bad)
            elif _is_id(match["converter"], match["name"]):
                parts.append(str(valid.get(match["name"], 1)))
            else:
                parts.append("panel")  # a slug, a token, a figure's name
            end = match.end()
        parts.append(route[end:])
        urls.append("/" + "".join(parts))
    return urls


@pytest.fixture
def valid_ids(survey, closed_round, open_round, finished_run, expert, expert_client) -> dict:
    invitation = Invitation.objects.get(survey_round=open_round, expert=expert)
    return {
        "survey_id": survey.id,
        "round_id": closed_round.id,
        "run_id": finished_run.id,
        "question_id": survey.questions.get(code="N01").id,
        "invitation_id": invitation.id,
        "judgment_id": closed_round.judgments.first().id,
    }


def test_the_walk_finds_the_sites_id_urls():
    routes = _id_routes()
    for route in ["rounds/<", "reports/runs/<", "e/<", "surveys/<", "/resolutions/<", "api/v1/"]:
        assert any(route in r for r in routes), route
    assert len(routes) > 30


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_no_id_in_any_url_gives_a_500(bad, superuser, expert_client, valid_ids):
    """Superuser (gets furthest into every view, admin included) and an expert's session."""
    from api.services import api_token_create

    expert_client.raise_request_exception = False
    staff = _client(superuser)
    # The API authenticates a personal token, not the session: the walk sends the
    # superuser's, so a request gets as far into the API as into the pages.
    _row, token = api_token_create(user=superuser, name="bad input")
    failures = []
    for route in _id_routes():
        ours = not route.startswith(("admin/", "accounts/"))
        api = route.startswith("api/v1/")
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if api else {}
        for url in _urls_with_one_bad_segment(route, bad, valid_ids):
            clients = [staff, expert_client] if route.startswith("e/") else [staff]
            for client in clients:
                for method in (client.get, client.post):
                    status = method(url, **headers).status_code
                    if status >= 500 or (ours and status != 404):
                        failures.append(f"{method.__name__.upper()} {url[:80]} -> {status}")
    assert not failures, "\n".join(failures)


def test_the_id_converter_reads_ids_and_reverses_them(closed_round):
    url = reverse("aggregation:round-report", args=[closed_round.id])
    assert url == f"/reports/rounds/{closed_round.id}/"
    assert reverse("aggregation:round-report", args=[10**18 - 1]).endswith("/999999999999999999/")


# --- The ?run= query string ----------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [*BAD_IDS.values(), "", "-1", " 1", "0x1"],
    ids=[*BAD_IDS, "empty", "negative", "space", "hex"],
)
def test_a_bad_run_in_the_query_string_is_a_404(bad, analyst, closed_round, finished_run):
    client = _client(analyst)
    url = reverse("aggregation:round-report", args=[closed_round.id])
    response = client.get(url, {"run": bad})
    assert response.status_code == 404
    assert client.get(url, {"run": str(finished_run.id)}).status_code == 200


# --- The expert's answer sheet -------------------------------------------------------------


@pytest.fixture
def expert_invitation(open_round, expert) -> Invitation:
    return Invitation.objects.get(survey_round=open_round, expert=expert)


def _answers_url(invitation: Invitation) -> str:
    return reverse("elicitation:expert-form", args=[invitation.id])


@pytest.mark.parametrize(
    "bad", [*BAD_IDS.values(), "all1", "-1", ""], ids=[*BAD_IDS, "all1", "negative", "empty"]
)
def test_a_bad_keep_button_value_saves_nothing_and_is_no_500(bad, expert_client, expert_invitation):
    expert_client.raise_request_exception = False
    response = expert_client.post(_answers_url(expert_invitation), {"keep": bad})
    assert response.status_code < 500
    assert not Judgment.objects.filter(survey_round=expert_invitation.survey_round).exists()


def test_keep_still_keeps_a_previous_answer(expert_client, expert_invitation):
    q01 = expert_invitation.survey_round.questions.get(code="Q01")
    response = expert_client.post(_answers_url(expert_invitation), {"keep": str(q01.id)})
    assert response.status_code == 302
    kept = Judgment.objects.get(survey_round=expert_invitation.survey_round, question=q01)
    assert kept.probability == 0.40  # E004's round-1 answer


def _numeric_fields(invitation: Invitation) -> dict[str, str]:
    n01 = invitation.survey_round.questions.get(code="N01")
    return {f"q{n01.id}_q05": "2", f"q{n01.id}_q50": "6", f"q{n01.id}_q95": "15"}


@pytest.mark.parametrize("bad", list(BAD_ANSWERS.values()), ids=list(BAD_ANSWERS))
def test_a_bad_probability_is_a_form_error_and_saves_nothing(bad, expert_client, expert_invitation):
    expert_client.raise_request_exception = False
    q01 = expert_invitation.survey_round.questions.get(code="Q01")
    data = {f"q{q01.id}_probability": bad, **_numeric_fields(expert_invitation)}
    response = expert_client.post(_answers_url(expert_invitation), data)
    assert response.status_code == 400
    assert "Enter a probability as a number from 0 to 100." in response.content.decode()
    assert not Judgment.objects.filter(survey_round=expert_invitation.survey_round).exists()


@pytest.mark.parametrize("field", ["q05", "q50", "q95"])
@pytest.mark.parametrize("bad", list(BAD_ANSWERS.values()), ids=list(BAD_ANSWERS))
def test_a_bad_quantile_is_a_form_error_and_saves_nothing(
    bad, field, expert_client, expert_invitation
):
    expert_client.raise_request_exception = False
    n01 = expert_invitation.survey_round.questions.get(code="N01")
    data = {**_numeric_fields(expert_invitation), f"q{n01.id}_{field}": bad}
    response = expert_client.post(_answers_url(expert_invitation), data)
    assert response.status_code == 400
    assert "Enter a number, such as 35 or 12.5." in response.content.decode()
    assert not Judgment.objects.filter(survey_round=expert_invitation.survey_round).exists()


def test_the_bad_number_message_is_in_the_experts_language(expert, expert_client, open_round):
    expert.language = "ko"
    expert.save(update_fields=["language"])
    invitation = Invitation.objects.get(survey_round=open_round, expert=expert)
    q01 = open_round.questions.get(code="Q01")
    expert_client.raise_request_exception = False
    response = expert_client.post(_answers_url(invitation), {f"q{q01.id}_probability": "1e400"})
    assert response.status_code == 400
    assert "확률을 0에서 100 사이의 숫자로 입력해 주십시오." in response.content.decode()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("５０", 0.5),  # full-width digits, as a Korean input method may type them
        ("１２．５", 0.125),  # with a full-width full stop
        ("\u3000４０\u3000", 0.4),  # and full-width spaces
        ("٥٠", 0.5),  # Arabic-Indic digits, which float() reads too
        ("\u22120", 0.0),  # U+2212, the minus sign
        ("－０", 0.0),  # full-width minus zero
        ("-0", 0.0),
        ("1e1", 0.1),
        (" 35 ", 0.35),
    ],
)
def test_a_probability_in_full_width_digits_or_signed_zero_is_read(
    typed, stored, expert_client, expert_invitation
):
    q01 = expert_invitation.survey_round.questions.get(code="Q01")
    response = expert_client.post(
        _answers_url(expert_invitation), {f"q{q01.id}_probability": typed}
    )
    assert response.status_code == 302
    judgment = Judgment.objects.get(survey_round=expert_invitation.survey_round, question=q01)
    assert judgment.probability == stored
    assert math.copysign(1, judgment.probability) == 1  # never a stored -0
    page = expert_client.get(_answers_url(expert_invitation)).content.decode()
    assert f'value="{stored * 100:g}"' in page


def test_quantiles_in_full_width_digits_are_read(expert_client, expert_invitation):
    n01 = expert_invitation.survey_round.questions.get(code="N01")
    data = {f"q{n01.id}_q05": "２", f"q{n01.id}_q50": "６", f"q{n01.id}_q95": "１５"}
    assert expert_client.post(_answers_url(expert_invitation), data).status_code == 302
    judgment = Judgment.objects.get(survey_round=expert_invitation.survey_round, question=n01)
    assert (judgment.q05, judgment.q50, judgment.q95) == (2, 6, 15)


# --- Organizers' number fields -------------------------------------------------------------


@pytest.fixture
def draft_round(survey, closed_round) -> Round:
    return services.round_create(survey=survey)


@pytest.mark.parametrize("bad", [*BAD_NUMBERS.values(), str(2**63)], ids=[*BAD_NUMBERS, "2**63"])
def test_bad_link_days_leave_the_round_a_draft(bad, organizer, draft_round):
    response = _client(organizer).post(
        reverse("elicitation:round-open", args=[draft_round.id]),
        {"questions": list(draft_round.survey.questions.values_list("id", flat=True)),
         "link_days": bad},
    )  # fmt: skip
    assert response.status_code == 400
    draft_round.refresh_from_db()
    assert draft_round.status == Round.Status.DRAFT
    assert not draft_round.invitations.exists()


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_bad_question_ids_leave_the_round_a_draft(bad, organizer, draft_round):
    response = _client(organizer).post(
        reverse("elicitation:round-open", args=[draft_round.id]),
        {"questions": [bad], "link_days": "14"},
    )
    assert response.status_code == 400
    draft_round.refresh_from_db()
    assert draft_round.status == Round.Status.DRAFT


@pytest.mark.parametrize("bad", [*BAD_NUMBERS.values(), str(2**63)], ids=[*BAD_NUMBERS, "2**63"])
def test_a_bad_random_seed_requests_no_run(bad, organizer, closed_round):
    before = AggregationRun.objects.count()
    response = _client(organizer).post(
        reverse("aggregation:run-request", args=[closed_round.id]),
        {"method": "hierarchical", "random_seed": bad},
        follow=True,
    )
    assert response.status_code == 200
    assert "No run was requested" in response.content.decode()
    assert AggregationRun.objects.count() == before


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_other_organizer_posts_take_bad_values_without_a_500(bad, organizer, open_round):
    client = _client(organizer)
    rounds = Round.objects.count()
    judgment = open_round.survey.rounds.get(status=Round.Status.CLOSED).judgments.first()
    urls = [
        reverse("elicitation:rationale-visibility", args=[judgment.survey_round_id, judgment.id]),
        reverse("elicitation:round-close", args=[open_round.id]),
        reverse("elicitation:round-remind", args=[open_round.id]),
        reverse("elicitation:survey-anonymity", args=[open_round.survey_id]),
        reverse("elicitation:round-create", args=[open_round.survey_id]),
    ]
    for url in urls:
        fields = ["hidden", "confirm", "send_at", "anonymity", "opens_at", "closes_at"]
        response = client.post(url, {"schedule": "1"} | dict.fromkeys(fields, bad))
        assert response.status_code < 500, url
    open_round.refresh_from_db()
    assert open_round.status == Round.Status.OPEN
    assert not open_round.reminders.exists()
    assert Round.objects.count() == rounds


@pytest.mark.parametrize("time_zone", ["Asia/Seoul", "America/New_York", "UTC"])
@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00", "9999-12-31T23:59", "²", FIVE_THOUSAND_DIGITS]
)
def test_dates_at_the_ends_of_the_calendar_are_no_500(
    when, time_zone, organizer, open_round, settings
):
    """9999-12-31 23:59 in New York is past the last datetime in UTC."""
    settings.TIME_ZONE = time_zone
    client = _client(organizer)
    rounds = Round.objects.count()
    remind = client.post(
        reverse("elicitation:round-remind", args=[open_round.id]),
        {"schedule": "1", "send_at": when},
    )
    assert remind.status_code == 400
    for data in [{"opens_at": when}, {"closes_at": when}, {"opens_at": when, "closes_at": when}]:
        create = client.post(reverse("elicitation:round-create", args=[open_round.survey_id]), data)
        assert create.status_code == 302  # back to the survey, with "check the dates"
    assert not open_round.reminders.exists()
    assert Round.objects.count() == rounds


QUESTION_HEADER = "code,text,kind,unit,lower_bound,upper_bound,is_seed,seed_answer\n"


@pytest.mark.parametrize("column", ["lower_bound", "upper_bound", "seed_answer"])
@pytest.mark.parametrize(
    "bad",
    ["²", "1e400", "nan", FIVE_THOUSAND_DIGITS],
    ids=["superscript", "overflow", "nan", "5000-digits"],
)
def test_a_bad_number_in_a_csv_cell_imports_nothing(bad, column, organizer, survey):
    row = {"lower_bound": "0", "upper_bound": "100", "seed_answer": "7"} | {column: bad}
    text = QUESTION_HEADER + (
        f"N09,How many?,numeric,ships,{row['lower_bound']},{row['upper_bound']},yes,"
        f"{row['seed_answer']}\n"
    )
    client = _client(organizer)
    url = reverse("elicitation:question-import", args=[survey.id])
    before = Question.objects.count()
    preview = client.post(url, {"file": SimpleUploadedFile("q.csv", text.encode(), "text/csv")})
    assert preview.status_code == 400
    confirm = client.post(url, {"confirm": "1", "csv_text": text})
    assert confirm.status_code == 400
    assert Question.objects.count() == before


# --- The resolution pages' forms -----------------------------------------------------------


def _resolve(client, survey, question, outcome, on="2025-01-02"):
    return client.post(
        reverse("resolution:question-resolve", args=[survey.id, question.id]),
        {"resolve-outcome": outcome, "resolve-resolved_on": on, "resolve-source": "Reuters."},
    )


@pytest.mark.parametrize("code", ["Q01", "N01"])
@pytest.mark.parametrize("bad", list(BAD_NUMBERS.values()), ids=list(BAD_NUMBERS))
def test_a_bad_outcome_resolves_nothing(bad, code, organizer, survey, closed_round):
    question = survey.questions.get(code=code)
    response = _resolve(_client(organizer), survey, question, bad)
    assert response.status_code == 400
    assert Resolution.objects.count() == ResolutionEvent.objects.count() == 0


def test_a_realized_value_in_full_width_digits_is_read(organizer, survey, closed_round):
    question = survey.questions.get(code="N01")
    assert _resolve(_client(organizer), survey, question, "５０").status_code == 302
    assert Resolution.objects.get(question=question).outcome == 50


@pytest.mark.parametrize(
    "bad",
    ["²", FIVE_THOUSAND_DIGITS, FIVE_THOUSAND_DIGITS + "-01-01", "0000-01-01", "2025-13-45",
     "9999-12-31"],
)  # fmt: skip
def test_a_bad_date_resolves_or_annuls_nothing(bad, organizer, survey, closed_round):
    client = _client(organizer)
    question = survey.questions.get(code="N01")
    assert _resolve(client, survey, question, "7", on=bad).status_code == 400
    annul = client.post(
        reverse("resolution:question-annul", args=[survey.id, question.id]),
        {"annul-annulled_on": bad, "annul-reason": "Ambiguous."},
    )
    assert annul.status_code == 400
    assert Resolution.objects.count() == ResolutionEvent.objects.count() == 0


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_bad_query_strings_on_the_scores_pages_are_no_500(bad, analyst, closed_round):
    client = _client(analyst)
    for url in [
        reverse("resolution:round-scores", args=[closed_round.id]),
        reverse("resolution:scores-figure", args=[closed_round.id, "panel"]),
        reverse("aggregation:round-report", args=[closed_round.id]),
        reverse("aggregation:round-comparison", args=[closed_round.id]),
    ]:
        response = client.get(url, {"input": bad, "download": bad, "run": bad})
        assert response.status_code < 500, url


def test_a_resolution_dated_long_ago_is_kept_and_every_page_still_shows(
    organizer, analyst, survey, closed_round
):
    question = survey.questions.get(code="N01")
    assert _resolve(_client(organizer), survey, question, "7", on="0001-01-01").status_code == 302
    urls = [
        reverse("resolution:survey-resolutions", args=[survey.id]),
        reverse("resolution:resolution-history", args=[survey.id]),
        reverse("resolution:question-resolution", args=[survey.id, question.id]),
    ]
    for url in urls:
        assert _client(organizer).get(url).status_code == 200, url
    scores = reverse("resolution:round-scores", args=[closed_round.id])
    assert _client(analyst).get(scores).status_code == 200


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_a_bad_magic_link_token_is_refused_not_a_500(bad, expert, open_round, settings):
    invitation = Invitation.objects.get(survey_round=open_round, expert=expert)
    url = reverse("elicitation:expert-entry", args=[invitation.id])
    response = _client().get(url, {settings.SESAME_TOKEN_NAME: bad})
    assert 400 <= response.status_code < 500
