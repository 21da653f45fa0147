"""A follow-up round's feedback on numeric questions: the previous closed round's numeric run
(its forecast, 5/50/95 %) beside the spread of the answers, under the same independence rules
and caching as the binary feedback.

Round 1 (fixtures ``round1``/``round2``, helpers.ROUND1) has three experts who submitted;
their N01 answers are (2, 5, 10), (3, 6, 12) and (4, 8, 20). Numeric runs are rows made
directly from a result dict (no sampler).
"""

import re

import pytest
from django.core.cache import cache

from aggregation.models import AggregationRun
from elicitation import services
from elicitation.models import Invitation, Question, Round
from tests.elicitation.helpers import client_with_link, form_url, succeeded_run


def numeric_run(survey_round, forecast=(2.5, 6.4, 17.5), *, seed=False, status="succeeded"):
    """A numeric run of ``survey_round`` whose N01 forecast is ``forecast``."""
    q05, q50, q95 = forecast
    entry = {
        "kind": "numeric",
        "n_judgments": 3,
        "seed": seed,
        "scale": "linear",
        "forecast": {"q05": q05, "q50": q50, "q95": q95},
        "median": {"mean": 6.0, "interval": [5.0, 7.0]},
        "cohorts": {"US": {"mean": 7.3, "interval": [5.9, 9.1]},
                    "ROK": {"mean": 4.8, "interval": [3.2, 6.6]}},
        "cohort_gaps": [],
        "baselines": {},
    }  # fmt: skip
    return AggregationRun.objects.create(
        survey_round=survey_round,
        method=AggregationRun.Method.NUMERIC_HIERARCHICAL,
        options={"interval_mass": 0.9, "random_seed": 0, "cohort_attribute": "nationality"},
        options_hash=f"numeric-{AggregationRun.objects.count()}",
        data_hash="numeric",
        status=status,
        result={
            "kind": "numeric",
            "interval_mass": 0.9,
            "questions": {"N01": entry},
            "experts": {
                "E001": {"cohort": "ROK"},
                "E002": {"cohort": "US"},
                "E003": {"cohort": "US"},
            },
        },  # fmt: skip
    )


def _n01(client, invitation) -> str:
    response = client.get(form_url(invitation))
    assert response.status_code == 200
    html = response.content.decode()
    return re.search(r'id="question-N01".*?</fieldset>', html, flags=re.S).group(0)


def test_a_follow_up_shows_the_previous_rounds_forecast_beside_the_spread(
    expert_client2, invitation2, round1
):
    succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.18, 0.1, 0.3, 0.6)})
    numeric_run(round1)
    n01 = _n01(expert_client2, invitation2)
    assert "Panel forecast" in n01 and "<strong>6.4</strong>" in n01
    assert "(5 % value: 2.5; 95 % value: 17.5)" in n01
    assert "Panel median of the best estimates" not in n01
    assert 'class="band"' in n01 and 'class="consensus-line"' in n01  # drawn over the dots
    assert re.search(r'<path d="([^"]*)" class="dots"', n01).group(1).count("h0") == 3
    assert "bar: the panel forecast from its 5 % to its 95 % value" in n01
    assert "3 best estimates (50 %): lowest 5, median 6, highest 8" in n01
    page = expert_client2.get(form_url(invitation2)).content.decode()
    assert "not available yet" not in page  # every question has its model's result


def test_without_a_numeric_run_the_medians_are_shown_and_the_page_says_so(
    expert_client2, invitation2, round1
):
    succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.18, 0.1, 0.3, 0.6)})
    numeric_run(round1, status="running")  # not finished: nothing of it
    page = expert_client2.get(form_url(invitation2)).content.decode()
    assert "not available yet, so the median of the answers is shown instead" in page
    n01 = _n01(expert_client2, invitation2)
    assert "Panel median of the best estimates" in n01 and 'class="band"' not in n01


def test_nothing_of_an_open_round_is_ever_shown(expert_client2, invitation2, round1, round2):
    numeric_run(round1)
    numeric_run(round2, forecast=(700.5, 777.7, 790.5))  # a run of the open round itself
    n01 = _n01(expert_client2, invitation2)
    assert "6.4" in n01 and "777" not in n01 and "700" not in n01


def test_an_expert_who_skipped_round_one_sees_no_forecast_before_submitting(
    survey, questions, round1, round2
):
    numeric_run(round1)
    newcomer = services.expert_create(survey=survey, name="Dana Late", email="dana@example.org")
    invitation = Invitation.objects.create(
        expert=newcomer, survey_round=round2, expires_at=round2.invitations.first().expires_at
    )
    client = client_with_link(invitation)
    page = client.get(form_url(invitation)).content.decode()
    assert "Panel forecast" not in page and "6.4" not in page


def test_a_seeds_forecast_is_its_known_value_and_never_shown(
    survey, expert_client2, invitation2, round1
):
    Question.objects.filter(survey=survey, code="N01").update(is_seed=True, seed_answer=7)
    succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.18, 0.1, 0.3, 0.6)})
    numeric_run(round1, forecast=(7.0, 7.0, 7.0), seed=True)
    n01 = _n01(expert_client2, invitation2)
    assert "Panel forecast" not in n01 and 'class="band"' not in n01
    assert "Panel median of the best estimates" in n01
    page = expert_client2.get(form_url(invitation2)).content.decode()
    assert "not available yet" not in page  # a seed misses nothing


def test_a_question_resolved_before_the_fit_misses_nothing(expert_client2, invitation2, round1):
    """Not a seed, but its value was known when the run fitted: the run read it as one."""
    succeeded_run(round1, {"Q01": (0.55, 0.45, 0.65, 1.2), "Q02": (0.18, 0.1, 0.3, 0.6)})
    numeric_run(round1, forecast=(7.0, 7.0, 7.0), seed=True)
    n01 = _n01(expert_client2, invitation2)
    assert "Panel forecast" not in n01 and "Panel median of the best estimates" in n01
    page = expert_client2.get(form_url(invitation2)).content.decode()
    assert "not available yet" not in page


def test_a_finished_numeric_run_shows_at_once_despite_the_cache(
    expert_client2, invitation2, round1
):
    cache.clear()
    assert "Panel forecast" not in _n01(expert_client2, invitation2)  # cached without it
    numeric_run(round1)
    assert "Panel forecast" in _n01(expert_client2, invitation2)


def test_cohort_medians_of_the_model_for_cohorts_large_enough(
    settings, expert_client2, invitation2, round1, round2
):
    settings.REPORT_MIN_COHORT_SIZE = 2  # US has 2 experts, ROK 1
    Round.objects.filter(id=round2.id).update(show_cohorts=True)
    numeric_run(round1)
    n01 = _n01(expert_client2, invitation2)
    assert ">US<" in n01 and "7.3" in n01 and "(5.9 – 9.1)" in n01
    assert ">ROK<" not in n01


def test_the_forecast_stays_hidden_when_the_organizer_hides_the_consensus(
    expert_client2, invitation2, round1, round2
):
    Round.objects.filter(id=round2.id).update(show_consensus=False)
    numeric_run(round1)
    n01 = _n01(expert_client2, invitation2)
    assert "Panel forecast" not in n01 and "6.4" not in n01
    assert 'class="dots"' in n01 and 'class="band"' not in n01


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("en", ["Panel forecast", "(5 % value: 2.5; 95 % value: 17.5)"]),
        ("ko", ["패널 예측", "(5% 값: 2.5, 95% 값: 17.5)", "막대: 패널 예측의 5% 값부터"]),
    ],
)
def test_the_forecast_is_worded_in_the_experts_language(
    expert, expert_client2, invitation2, round1, language, texts
):
    expert.language = language
    expert.save(update_fields=["language"])
    numeric_run(round1)
    n01 = _n01(expert_client2, invitation2)
    for text in texts:
        assert text in n01
