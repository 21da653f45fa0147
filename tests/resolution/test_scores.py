"""The scores page on hand-made data: numbers computed by hand, and what resolving and
annulling change (scores, the recalibration's data) and do not change (any aggregation run).

The round (tests/aggregation/conftest.py) has seven experts' answers:

    Q01: 0.70 0.80 0.75 | 0.40 0.45 0.35 | 0.90     (E001-E003 US | E004-E006 ROK | E007 JP)
    Q02: 0.20 0.10 0.15 | 0.20 0.25 0.30 | 0.05

``resolved``: Q01 happened (1), Q02 did not (0).
"""

import math

import numpy as np
import pytest
from django.forms.models import model_to_dict
from django.urls import reverse
from numpy.testing import assert_allclose
from scipy import stats
from scipy.special import expit, logit

from aggregation.models import AggregationRun, QuestionResult
from resolution import recalibration, scores, services
from resolution.models import RecalibrationRun
from tests.resolution.conftest import resolve, succeed

Q01 = [0.70, 0.80, 0.75, 0.40, 0.45, 0.35, 0.90]
Q02 = [0.20, 0.10, 0.15, 0.20, 0.25, 0.30, 0.05]


def brier(p, y):
    return (p - y) ** 2


@pytest.fixture
def reader(client, analyst):
    client.force_login(analyst)
    return client


def scores_page(client, survey_round, **params):
    response = client.get(reverse("resolution:round-scores", args=[survey_round.id]), params)
    assert response.status_code == 200
    return response


def test_with_nothing_resolved_the_page_says_so_instead_of_empty_tables(reader, closed_round):
    response = scores_page(reader, closed_round)
    text = response.content.decode()
    assert "0 of the round's 3 probability questions have resolved" in text
    assert "No probability question of this round has resolved yet" in text
    assert 'id="methods-table"' not in text and 'id="experts-table"' not in text
    assert response.context["figures"] == {}


def test_expert_scores_by_hand(reader, closed_round, resolved):
    page = scores_page(reader, closed_round)
    experts = {row["code"]: row for row in page.context["scores"].experts}
    # E001: (0.70 - 1)^2 = 0.09 and (0.20 - 0)^2 = 0.04
    assert experts["E001"]["brier"] == pytest.approx((0.09 + 0.04) / 2)
    assert experts["E001"]["log_score"] == pytest.approx((math.log(0.7) + math.log(0.8)) / 2)
    assert experts["E001"]["n_questions"] == 2
    # relative: minus the mean of the six others on each question
    others_q01 = np.mean([brier(p, 1) for p in Q01[1:]])  # 0.199583...
    others_q02 = np.mean([brier(p, 0) for p in Q02[1:]])  # 0.037917...
    expected = ((0.09 - others_q01) + (0.04 - others_q02)) / 2
    assert experts["E001"]["relative_brier"] == pytest.approx(expected)
    assert expected == pytest.approx(-0.05375)
    assert experts["E007"]["brier"] == pytest.approx((0.01 + 0.0025) / 2)
    # JP is a cohort of one and "other" would be JP alone: no cohort next to any code
    assert {row["cohort"] for row in experts.values()} == {"withheld"}
    text = page.content.decode()
    assert "0.065" in text and "-0.054" in text and "2 of the round's 3 probability" in text


def test_cohort_scores_by_hand_and_the_lone_cohort_withheld(reader, closed_round, resolved):
    page = scores_page(reader, closed_round)
    cohorts = {row["name"]: row for row in page.context["scores"].cohorts}
    assert set(cohorts) == {"ROK", "US"}  # JP (one expert) is not scored on its own
    us_q01 = expit(np.mean(logit([0.70, 0.80, 0.75])))
    us_q02 = expit(np.mean(logit([0.20, 0.10, 0.15])))
    assert cohorts["US"]["brier"] == pytest.approx((brier(us_q01, 1) + brier(us_q02, 0)) / 2)
    assert (cohorts["US"]["n_experts"], cohorts["US"]["n_questions"]) == (3, 2)
    member_briers = [brier(p, 1) for p in Q01[3:6]] + [brier(p, 0) for p in Q02[3:6]]
    assert cohorts["ROK"]["mean_expert_brier"] == pytest.approx(np.mean(member_briers))
    assert page.context["scores"].other_withheld
    assert "merged into “other”, which is itself too small to show" in page.content.decode()


def test_method_scores_by_hand(reader, closed_round, resolved, finished_run):
    page = scores_page(reader, closed_round)
    methods = {row["key"]: row for row in page.context["scores"].methods}
    mean_q01, mean_q02 = sum(Q01) / 7, sum(Q02) / 7  # 0.6214, 0.1786
    assert methods["linear_pool"]["brier"] == pytest.approx(
        (brier(mean_q01, 1) + brier(mean_q02, 0)) / 2
    )
    assert methods["median"]["brier"] == pytest.approx((0.09 + 0.04) / 2)  # medians 0.70, 0.20
    assert methods["median"]["log_score"] == pytest.approx((math.log(0.7) + math.log(0.8)) / 2)
    # the hierarchical run's stored consensus: 0.623 and 0.181
    assert methods["hierarchical"]["brier"] == pytest.approx((0.377**2 + 0.181**2) / 2)
    assert methods["hierarchical"]["auc"] == 1.0  # the yes got the higher forecast
    assert {row["n"] for row in methods.values()} == {2}
    assert f"consensus of run {finished_run.id}" in page.content.decode()


def test_calibration_bins_carry_jeffreys_intervals(reader, closed_round, resolved):
    page = scores_page(reader, closed_round)
    [panel] = page.context["scores"].series["panel"]
    assert panel.n == 14  # seven experts, two resolved questions
    rows = {row["range"]: row for row in panel.bin_rows()}
    # five bins (few forecasts); 0.8-1.0 holds Q01's 0.80, 0.90: both happened
    top = rows["0.8–1.0"]
    assert (top["count"], top["events"]) == (2, 2)
    assert top["lower"] == pytest.approx(stats.beta.ppf(0.05, 2.5, 0.5))
    assert top["upper"] == 1.0  # Brown, Cai & DasGupta: 1 when every one happened
    assert set(page.context["figures"]) == {"panel", "cohorts", "methods"}


def test_cooke_scores_numeric_questions_with_a_known_answer(reader, closed_round, questions):
    page = scores_page(reader, closed_round)
    assert page.context["cooke"] == {"n_seeds": 0, "n_items": 1}
    assert (
        "None of the round's" in page.content.decode()
        or "has no known answer" in page.content.decode()
    )
    resolve(questions["N01"], 6.0)  # E002 said 2 / 5 / 12: the value fell in (5, 12], p = 0.45
    cooke = scores_page(reader, closed_round).context["cooke"]
    [e002] = cooke["experts"]
    # one seed: 2 N I(s, p) = 2 ln(1 / 0.45), chi-square with 3 degrees of freedom
    assert e002["calibration"] == pytest.approx(stats.chi2.sf(2 * math.log(1 / 0.45), 3))
    assert (e002["code"], e002["n_seed_answered"], cooke["n_seeds"]) == ("E002", 1, 1)


def test_the_recalibration_shows_how_much_it_learned_and_its_prior(reader, closed_round, resolved):
    run = succeed(recalibration.recalibration_current(survey_round=closed_round)[0])
    text = scores_page(reader, closed_round).content.decode()
    assert "Learned from 2 resolved questions (1 of them yes)." in text
    assert "That is very little: the recalibration leans on its prior" in text
    assert "LogNormal(0.6931, 0.5)" in text and "Turner et al. 2014" in text
    assert "Satopaa et al. 2014" in text  # the prior's source
    assert f"Recalibration {run.id}" in text
    assert "0.777" in text and "0.611 to 0.888" in text  # Q03, the open question


# --- Resolving refits nothing; annulling removes the question everywhere ----------------------


def snapshot() -> tuple[list, list]:
    runs = [model_to_dict(run) for run in AggregationRun.objects.order_by("id")]
    results = [model_to_dict(r) for r in QuestionResult.objects.order_by("id")]
    return runs, results


def test_resolving_updates_the_scores_and_refits_nothing_but_the_recalibration(
    client,
    organizer,
    survey,
    questions,
    closed_round,
    finished_run,
    django_capture_on_commit_callbacks,
):
    client.force_login(organizer)
    before = snapshot()
    assert scores_page(client, closed_round).context["scores"].n_resolved == 0
    url = reverse("resolution:question-resolve", args=[survey.id, questions["Q01"].id])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            url,
            {"resolve-outcome": "1", "resolve-resolved_on": "2025-03-03", "resolve-source": "x"},
        )
    assert response.status_code == 302
    assert snapshot() == before  # no aggregation run created, changed or re-queued
    [requested] = RecalibrationRun.objects.all()  # the only thing that depends on outcomes
    assert (requested.status, requested.n_resolved) == (RecalibrationRun.Status.QUEUED, 1)
    assert len(callbacks) == 1  # one task to send: the recalibration's
    after = scores_page(client, closed_round).context["scores"]
    assert after.n_resolved == 1
    assert {m["key"]: m["n"] for m in after.methods}["hierarchical"] == 1


def test_annulling_removes_the_question_from_every_score_and_the_recalibration(
    reader, organizer, closed_round, resolved, finished_run
):
    old = succeed(
        recalibration.recalibration_current(survey_round=closed_round)[0],
        cv={"n_folds": 2, "seed": 0, "forecasts": {"Q01": 0.9, "Q02": 0.2}, "intervals": {}},
    )
    page = scores_page(reader, closed_round).context["scores"]
    assert {m["key"]: m["n"] for m in page.methods}["recalibrated"] == 2
    before = snapshot()

    services.question_annul(question=resolved["Q02"], reason="Two readings.", by=organizer)

    response = scores_page(reader, closed_round)
    after = response.context["scores"]
    assert after.n_resolved == 1 and list(after.outcomes.index) == ["Q01"]
    assert {row["n_questions"] for row in after.experts} == {1}
    assert {row["n_questions"] for row in after.cohorts} == {1}
    # every method is scored on Q01 alone, and the recalibration that learned Q02 is gone
    assert {m["key"]: m["n"] for m in after.methods} == {
        "linear_pool": 1, "median": 1, "logodds_mean": 1, "extremized_logodds": 1,
        "hierarchical": 1,
    }  # fmt: skip
    assert after.series["panel"][0].n == 7
    current, inputs = recalibration.recalibration_current(survey_round=closed_round)
    assert current.id != old.id and current.n_resolved == 1
    assert list(inputs.outcomes.index) == ["Q01"]
    assert response.context["recalibration"] == current
    assert "Q02" in response.content.decode()  # listed as annulled, in no score
    assert snapshot() == before


def test_a_figure_is_drawn_from_todays_outcomes(reader, closed_round, resolved):
    url = reverse("resolution:scores-figure", args=[closed_round.id, "panel"])
    first = reader.get(url).content
    services.question_annul(question=resolved["Q02"], reason="Ambiguous.")
    second = reader.get(url).content
    assert first != second and b"n = 7" in second and b"n = 14" in first


def test_round_scores_match_the_engine_on_the_selectors_output(closed_round, resolved):
    from aggregation.engine.scoring import score_experts

    result = scores.round_scores(survey_round=closed_round)
    engine = score_experts(result.table, result.outcomes["outcome"])
    assert_allclose(
        [row["brier"] for row in result.experts], engine.sort_index()["brier"].to_numpy()
    )
