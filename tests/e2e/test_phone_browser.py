"""Organizer and report pages on a 390 px phone (issue 13, point 6): nothing makes the page
wider than the screen; wide tables scroll inside their own box, figures scale or scroll
inside theirs. A page wider than the viewport would scroll as a whole, sideways."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from elicitation.models import Invitation, Round
from tests.aggregation.conftest import (
    closed_round_build,
    hierarchical_result,
    make_run,
    panel_build,
    survey_build,
    write_artifacts,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def site(transactional_db, settings, tmp_path, organizer, analyst):
    settings.MEDIA_ROOT = tmp_path
    survey = survey_build(organizer=organizer, analyst=analyst)
    panel = panel_build(survey=survey)
    closed = closed_round_build(survey=survey, panel=panel)
    run = make_run(closed, result=hierarchical_result())
    write_artifacts(
        run, tmp_path, ["consensus", "disagreement", "cohorts", "expert-bias", "expert-noise"]
    )
    # An open round with its progress table (rows written directly: no broker needed).
    open_round = Round.objects.create(
        survey=survey,
        number=2,
        status=Round.Status.OPEN,
        opened_at=timezone.now(),
        feedback_round=closed,
    )
    open_round.questions.set(survey.questions.all())
    for expert in panel.values():
        Invitation.objects.create(
            expert=expert,
            survey_round=open_round,
            expires_at=timezone.now() + timezone.timedelta(days=9),
        )
    return {
        "organizer": organizer,
        "survey": survey,
        "closed": closed,
        "open": open_round,
        "run": run,
    }


def _session_cookie(live_server, user) -> dict:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    return {"name": "sessionid", "value": cookie.value, "url": live_server.url}


def _overflow(page) -> list[str]:
    """Elements that stick out of the viewport, outside any box that scrolls sideways."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
              const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; }
            return false; };
          const out = [];
          for (const el of document.querySelectorAll('main *')) {
            const r = el.getBoundingClientRect();
            if (r.width && r.right > width + 1 && !scrolls(el)) out.push(el.tagName + '.' + el.className + '#' + el.id + ' ' + Math.round(r.right));
          }
          if (document.documentElement.scrollWidth > width + 1) out.push('page ' + document.documentElement.scrollWidth);
          return out.slice(0, 10);
        }"""
    )


def test_organizer_and_report_pages_fit_a_phone(live_server, browser, site):
    context = browser.new_context(viewport=PHONE)
    context.add_cookies([_session_cookie(live_server, site["organizer"])])
    page = context.new_page()
    survey, run = site["survey"], site["run"]
    urls = [
        reverse("elicitation:survey-list"),
        reverse("elicitation:survey-detail", args=[survey.id]),
        reverse("elicitation:survey-edit", args=[survey.id]),
        reverse("elicitation:question-create", args=[survey.id]),
        reverse("elicitation:round-detail", args=[site["open"].id]),
        reverse("elicitation:round-detail", args=[site["closed"].id]),
        reverse("elicitation:round-rationales", args=[site["closed"].id]),
        reverse("elicitation:question-import", args=[survey.id]),
        reverse("aggregation:report-index"),
        reverse("aggregation:round-report", args=[site["closed"].id]),
        reverse("aggregation:experts-report", args=[run.id]),
        reverse("resolution:survey-resolutions", args=[survey.id]),
        reverse("resolution:round-scores", args=[site["closed"].id]),
    ]
    problems = {}
    for url in urls:
        response = page.goto(live_server.url + url)
        assert response.status == 200, url
        if overflow := _overflow(page):
            problems[url] = overflow
    assert not problems, problems
