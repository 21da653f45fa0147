"""The Content-Security-Policy: every HTML page carries the site's policy (no inline script
or style allowed), the standalone SVG figures keep their own, and no template holds what
that policy would block (a style= attribute, a <style> block, an inline script or event
handler). The browser tests (tests/e2e) fail on any violation a page reports.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template
from django.templatetags.static import static
from django.test import Client
from django.urls import reverse

from elicitation.models import Invitation
from tests.aggregation import conftest as report_fixtures

# The report tests' survey and runs; the personas are tests/conftest.py's.
closed_round = report_fixtures.closed_round
expert = report_fixtures.expert
expert_client = report_fixtures.expert_client
finished_run = report_fixtures.finished_run
finished_numeric_run = report_fixtures.finished_numeric_run
open_round = report_fixtures.open_round
panel = report_fixtures.panel
survey = report_fixtures.survey

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}


def parse_policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def _assert_site_policy(response, what: str) -> None:
    assert response["Content-Type"].startswith("text/html"), what
    header = response.get("Content-Security-Policy")
    assert header, f"{what}: no Content-Security-Policy"
    policy = parse_policy(header)
    assert policy == POLICY, what
    for directive in ("script-src", "style-src", "default-src"):
        assert "'unsafe-inline'" not in policy[directive], what
        assert "'unsafe-eval'" not in policy[directive], what


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_every_page_of_a_walk_through_the_site_carries_the_policy(
    organizer, analyst, superuser, finished_run, expert_client, open_round, expert
):
    round_id = finished_run.survey_round_id
    survey_id = finished_run.survey_round.survey_id
    q01 = finished_run.question_results.get(question__code="Q01").question_id
    invitation = Invitation.objects.get(survey_round=open_round, expert=expert)
    walk = [
        (_client(), reverse("home"), 200),
        (_client(), reverse("login"), 200),
        (_client(), "/no-such-page/", 404),
        (_client(organizer), reverse("elicitation:survey-list"), 200),
        (_client(organizer), reverse("elicitation:survey-detail", args=[survey_id]), 200),
        (_client(organizer), reverse("elicitation:round-detail", args=[round_id]), 200),
        (_client(organizer), reverse("elicitation:survey-create"), 200),
        (_client(organizer), reverse("elicitation:survey-edit", args=[survey_id]), 200),
        (_client(organizer), reverse("elicitation:survey-people", args=[survey_id]), 200),
        (_client(organizer), reverse("elicitation:scenario-create", args=[survey_id]), 200),
        (_client(organizer), reverse("elicitation:question-create", args=[survey_id]), 200),
        (_client(organizer), reverse("elicitation:question-edit", args=[q01]), 200),
        (_client(organizer), reverse("elicitation:expert-add", args=[survey_id]), 200),
        (_client(organizer), reverse("elicitation:round-detail", args=[open_round.id]), 200),
        (_client(analyst), reverse("aggregation:report-index"), 200),
        (_client(analyst), reverse("aggregation:round-report", args=[round_id]), 200),
        (_client(analyst), reverse("aggregation:question-report", args=[finished_run.id, q01]),
         200),
        (_client(analyst), reverse("aggregation:experts-report", args=[finished_run.id]), 200),
        (_client(analyst), reverse("resolution:round-scores", args=[round_id]), 200),
        (expert_client, reverse("elicitation:expert-welcome", args=[invitation.id]), 200),
        (expert_client, reverse("elicitation:expert-form", args=[invitation.id]), 200),
        (_client(), reverse("admin:login"), 200),
        (_client(superuser), reverse("admin:index"), 200),
        (_client(superuser), reverse("admin:elicitation_survey_changelist"), 200),
        (_client(superuser), reverse("admin:elicitation_survey_change", args=[survey_id]), 200),
    ]  # fmt: skip
    for client, url, status in walk:
        response = client.get(url)
        assert response.status_code == status, url
        _assert_site_policy(response, url)


def test_the_numeric_report_pages_carry_the_policy(analyst, finished_run, finished_numeric_run):
    run = finished_numeric_run
    n01 = run.survey_round.questions.get(code="N01").id
    round_report = reverse("aggregation:round-report", args=[run.survey_round_id])
    for url in [
        round_report,
        f"{round_report}?run={run.id}",
        reverse("aggregation:question-report", args=[run.id, n01]),
        reverse("aggregation:experts-report", args=[run.id]),
    ]:
        response = _client(analyst).get(url)
        assert response.status_code == 200, url
        _assert_site_policy(response, url)
        assert not template_violations(response.content.decode()), url


def test_the_figures_keep_their_own_policy(analyst, organizer, finished_run):
    """A standalone SVG is a document of its own: no scripts, no outside requests, and the
    inline styles matplotlib writes; the middleware does not replace that header."""
    from tests.resolution.conftest import resolve

    questions = {q.code: q for q in finished_run.survey_round.survey.questions.all()}
    resolve(questions["Q01"], 1, by=organizer)  # the scores' figures need resolved questions
    resolve(questions["Q02"], 0, by=organizer)
    client = _client(analyst)
    figures = [
        reverse("aggregation:run-figure", args=[finished_run.id, "consensus"]),
        reverse("resolution:scores-figure", args=[finished_run.survey_round_id, "panel"]),
    ]
    for url in figures:
        for query in ("", "?download=1"):
            response = client.get(url + query)
            assert response.status_code == 200, url
            assert response["Content-Type"] == "image/svg+xml", url
            assert parse_policy(response["Content-Security-Policy"]) == {
                "default-src": ["'none'"],
                "style-src": ["'unsafe-inline'"],
            }, url


def test_the_server_error_page_needs_no_inline_style():
    """500.html renders without context processors: its look comes from the stylesheet."""
    html = get_template("500.html").render()
    assert f'<link rel="stylesheet" href="{static("consilium.css")}">' in html
    assert 'class="error-page"' in html
    assert not template_violations(html)
    css = (Path(settings.BASE_DIR) / "static" / "consilium.css").read_text()
    assert ".error-page main" in css


# --- No template holds what the policy blocks -----------------------------------------------

STYLE_ATTRIBUTE = re.compile(r"""<[a-zA-Z][^>]*\sstyle\s*=""", re.DOTALL)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE | re.DOTALL)
EVENT_HANDLER = re.compile(
    r"<[a-zA-Z][^>]*\son(?:click|load|change|submit|input|focus|blur|error|key\w+|mouse\w+)"
    r"\s*=",
    re.IGNORECASE | re.DOTALL,
)
JAVASCRIPT_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def template_violations(text: str) -> list[str]:
    """What the policy would block in this HTML: inline styles, scripts and handlers."""
    found = [f"style= attribute: {m.group(0)[:80]!r}" for m in STYLE_ATTRIBUTE.finditer(text)]
    found += [f"<style> element at {m.start()}" for m in STYLE_ELEMENT.finditer(text)]
    found += [
        f"inline <script{m.group(1)}>"
        for m in SCRIPT_TAG.finditer(text)
        if not re.search(r"\ssrc\s*=", m.group(1))
    ]
    found += [f"event handler: {m.group(0)[-40:]!r}" for m in EVENT_HANDLER.finditer(text)]
    found += [f"javascript: URL: {m.group(0)!r}" for m in JAVASCRIPT_URL.finditer(text)]
    return found


def template_files() -> list[Path]:
    """The project's templates: templates/ and every app's templates/ folder."""
    base = Path(settings.BASE_DIR)
    folders = [Path(folder) for engine in settings.TEMPLATES for folder in engine["DIRS"]]
    folders += [base / app / "templates" for app in ("elicitation", "aggregation", "resolution")]
    files = sorted({path for folder in folders for path in folder.rglob("*.html")})
    assert len(files) > 30, files  # the folders were found
    return files


def test_no_template_holds_an_inline_style_or_script():
    problems = [
        f"{path.relative_to(settings.BASE_DIR)}: {problem}"
        for path in template_files()
        for problem in template_violations(path.read_text(encoding="utf-8"))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "html",
    [
        '<body style="margin: 0">',
        "<p class=x\n   style='color: red'>",
        "<style>p { color: red }</style>",
        "<STYLE media=print>",
        "<script>alert(1)</script>",
        '<script type="module">import "x"</script>',
        '<button onclick="go()">',
        '<img src="x.png" onerror="go()">',
        '<a href="javascript:go()">',
        '<circle cx="1" style="fill: red"/>',
    ],
)
def test_the_template_check_finds_what_the_policy_blocks(html):
    assert template_violations(html)


@pytest.mark.parametrize(
    "html",
    [
        "<script src=\"{% static 'x.js' %}\" defer></script>",
        '<link rel="stylesheet" href="{% static \'consilium.css\' %}">',
        '<circle cx="1" r="4.5" class="dot" fill="red"/>',
        "{% blocktranslate with one=n %}One{% endblocktranslate %}",
        '<p class="stylesheet-note">styles: none</p>',
    ],
)
def test_the_template_check_lets_static_files_and_presentation_attributes_through(html):
    assert not template_violations(html)
