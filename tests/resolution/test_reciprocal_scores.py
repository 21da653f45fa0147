"""Reciprocal scores of the meta-predictions on the scores page (issue 15): per pair of
shown cohorts and per expert (codes only), beside the outcome-based scores, with the rule.

The round is the report tests' ``closed_round`` with the meta-predictions of
tests/aggregation/perception_result.py; the pair scores are checked against what the engine
wrote for the same data in that real fit (``PERCEPTION["reciprocal_scores"]``).
"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from elicitation.models import Judgment, Survey
from tests.aggregation.conftest import PANEL
from tests.aggregation.perception_result import META, PERCEPTION

JP = re.compile(r"\bJP\b")
RULE = "Reciprocal score (Karger et al. 2021)"


@pytest.fixture
def predicted(closed_round):
    for judgment in Judgment.objects.filter(survey_round=closed_round, probability__isnull=False):
        judgment.meta_predictions = META[judgment.question.code][judgment.expert.code]
        judgment.save(update_fields=["meta_predictions"])
    return closed_round


def scores_page(persona_user, survey_round, **headers) -> str:
    client = Client()
    client.force_login(persona_user)
    response = client.get(reverse("resolution:round-scores", args=[survey_round.id]), **headers)
    assert response.status_code == 200
    return response.content.decode()


def reciprocal_section(html: str) -> str:
    start = html.index('<section aria-labelledby="reciprocal-title">')
    return html[start : html.index("</section>", start)]


def test_the_scores_page_scores_each_pair_and_expert_with_the_rule(analyst, predicted):
    # nothing has resolved: reciprocal scores need no outcome
    part = reciprocal_section(scores_page(analyst, predicted))
    assert RULE in part and "lower is better" in part and "own answer left out" in part
    engine = {(p["by"], p["of"]): p for p in PERCEPTION["reciprocal_scores"]["pairs"]}
    pairs = re.findall(
        r'<tr><th scope="row">(\w+)</th><td>(\w+)</td><td class="num">(\d+)</td>'
        r'<td class="num">([0-9.]+)</td></tr>',
        part[: part.index('id="reciprocal-experts-table"')],
    )
    assert {(by, of) for by, of, _n, _s in pairs} == {
        ("ROK", "ROK"), ("ROK", "US"), ("US", "ROK"), ("US", "US"),
    }  # fmt: skip
    for by, of, n, score in pairs:
        assert int(n) == engine[(by, of)]["n"]
        assert float(score) == pytest.approx(engine[(by, of)]["score"], abs=5e-5)
    experts = re.findall(r'<tr><th scope="row">(E\d+)</th><td>(\w+)</td>', part)
    assert [code for code, _cohort in experts] == [code for code, *_ in PANEL]
    # "other" would be E007 alone: every expert's cohort is withheld, as on the other rows
    assert {cohort for _code, cohort in experts} == {"withheld"}


def test_small_cohorts_are_neither_shown_nor_scored_against(analyst, predicted):
    part = reciprocal_section(scores_page(analyst, predicted))
    assert not JP.search(part)
    assert "1 cohort has fewer than 3 experts: predictions of it are not scored here" in part
    # E001 (US) predicted US, ROK and JP on 3 questions: the 3 JP predictions are left out
    assert re.search(r'<th scope="row">E001</th><td>\w+</td><td class="num">6</td>', part)


def test_at_strict_anonymity_the_rows_show_codes_only(analyst, predicted):
    Survey.objects.filter(id=predicted.survey_id).update(anonymity=Survey.Anonymity.STRICT)
    html = scores_page(analyst, predicted)
    for _code, name, email, _cohort in PANEL:
        assert name not in html and email not in html


def test_the_section_is_in_korean_for_a_korean_reader(analyst, predicted):
    part = reciprocal_section(scores_page(analyst, predicted, HTTP_ACCEPT_LANGUAGE="ko"))
    assert "상호 점수" in part and "낮을수록 좋습니다" in part
    assert RULE not in part


def test_a_round_without_meta_predictions_has_no_reciprocal_scores(analyst, closed_round):
    assert 'id="reciprocal-title"' not in scores_page(analyst, closed_round)


@pytest.mark.parametrize("persona", ["other_analyst", "other_staff"])
def test_readers_without_rights_get_no_scores_page(client_as, persona, predicted):
    response = client_as(persona).get(reverse("resolution:round-scores", args=[predicted.id]))
    assert response.status_code == 404
