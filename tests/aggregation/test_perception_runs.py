"""Issue 15, the run: a hierarchical run of a round with meta-predictions also fits the
perception model and stores its parts, its diagnostics, its posterior and its figure.

One real fit (slow): 8 experts (4 US, 4 ROK), 5 questions, every expert predicting both
cohorts with a planted misperception (US of ROK +1.0 log-odds), 2 chains of 150 draws.
The report, CSV and scores tests use a literal result taken from a fit like this one
(tests/aggregation/perception_result.py), so they need no sampler.
"""

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from aggregation import selectors, services
from aggregation.engine.perception import MODEL_VERSION, PerceptionFit
from aggregation.engine.synthetic import simulate_perception_panel
from aggregation.models import AggregationRun
from elicitation import services as elicitation_services
from elicitation.models import Invitation, Round, Survey
from tests.aggregation import test_services

run_queue = test_services.run_queue  # each test's own queue on the real broker
Status = AggregationRun.Status
SAMPLER = {"draws": 150, "tune": 150, "chains": 2}


def meta_round(*, organizer, n_experts: int = 8, n_questions: int = 5, seed: int = 3) -> Round:
    """A closed round whose experts answered and predicted both cohorts' answers."""
    sim = simulate_perception_panel(
        n_experts=n_experts, n_questions=n_questions, stereotype={("US", "ROK"): 1.0}, seed=seed
    )
    frame = sim.judgments
    survey = elicitation_services.survey_create(title="Perceptions", organizers=[organizer])
    Survey.objects.filter(id=survey.id).update(meta_predictions=Survey.MetaPredictions.OPTIONAL)
    questions = {
        code: elicitation_services.question_create(
            survey=survey, code=code, text=f"Will event {code} happen?",
            asks_meta_predictions=True,
        )
        for code in sorted(frame["question"].unique())
    }  # fmt: skip
    cohort_of = dict(zip(frame["expert"], frame["cohort"], strict=False))
    experts = {
        code: elicitation_services.expert_create(
            survey=survey, name=f"Panelist {code}", email=f"{code.lower()}@example.org",
            attributes={"nationality": cohort_of[code]}, code=code,
        )
        for code in sorted(cohort_of)
    }  # fmt: skip
    survey_round = elicitation_services.round_open(
        survey_round=elicitation_services.round_create(survey=survey)
    )
    cohorts = sorted(frame["cohort"].unique())
    for code, rows in frame.groupby("expert", sort=True):
        invitation = Invitation.objects.get(survey_round=survey_round, expert=experts[code])
        answers = [
            elicitation_services.Answer(
                question=questions[row["question"]],
                probability=float(row["probability"]),
                meta_predictions={c: float(row[f"meta_{c}"]) for c in cohorts},
            )
            for row in rows.to_dict("records")
        ]
        elicitation_services.invitation_answers_save(
            invitation=invitation, answers=answers, submit=True
        )
    elicitation_services.round_close(survey_round=survey_round, closed_by=organizer)
    return survey_round


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_with_meta_predictions_stores_the_perception_model(organizer, run_queue):
    survey_round = meta_round(organizer=organizer)
    assert selectors.round_has_meta_predictions(survey_round=survey_round)
    table = selectors.judgment_table_for_round(
        survey_round=survey_round, cohort_attribute="nationality", with_meta=True
    )
    assert table.meta_cohorts == ["ROK", "US"]
    run, _ = services.aggregation_run_request(survey_round=survey_round, options=SAMPLER)
    # a new version of the perception model is a new run
    assert run.options["perception_model_version"] == MODEL_VERSION

    services.aggregation_run_execute(run_id=run.id, worker="w1@host")
    run.refresh_from_db()
    assert run.status == Status.SUCCEEDED, run.error
    assert run.data_hash == table.data_hash()  # the meta-predictions are part of the data

    block = run.result["perception"]
    assert {(s["by"], s["of"]) for s in block["shared"]} == {
        ("US", "US"), ("US", "ROK"), ("ROK", "US"), ("ROK", "ROK"),
    }  # fmt: skip
    us_of_rok = next(s for s in block["shared"] if (s["by"], s["of"]) == ("US", "ROK"))
    assert us_of_rok["logodds"]["mean"] > 0  # the planted misperception, its sign
    # diagnostics stored, with every quantity the report flags
    assert {"max_rhat", "min_ess_bulk", "divergences", "warnings"} <= set(block["diagnostics"])
    assert set(block["diagnostics"]["per_quantity"]) >= {"perceived", "stereotype", "omega", "tau"}
    assert block["model"]["version"] == MODEL_VERSION
    assert set(block["reciprocal_scores"]["experts"]) == {e for e in table.experts}
    rows = run.result["questions"]["Q01"]["perception"]
    assert len(rows) == 4 and all(r["n_predictions"] == 4 for r in rows)
    assert run.result["questions"]["Q01"]["surprisingly_popular"]["answer"] in ("yes", "no")
    # the binary model's diagnostics are the run's, as before
    assert run.diagnostics == run.result["diagnostics"]

    # the posterior is a second artifact; the figure is drawn in both languages
    assert block["posterior"] == f"runs/{run.id}/attempt-1/perception.nc"
    fit = PerceptionFit.load(Path(django_settings.MEDIA_ROOT) / block["posterior"])
    assert fit.posterior.attrs["data_hash"] == run.data_hash
    assert {"perception", "perception__ko"} <= set(run.figures)
    english = (Path(django_settings.MEDIA_ROOT) / run.figures["perception"]).read_text()
    korean = (Path(django_settings.MEDIA_ROOT) / run.figures["perception__ko"]).read_text()
    assert "Will event Q01 happen?" in english and "What the cohort believes" in english
    assert "What the cohort believes" not in korean

    # asking again is the same run (idempotent on data and spec)
    again, created = services.aggregation_run_request(survey_round=survey_round, options=SAMPLER)
    assert (again.id, created) == (run.id, False)


# --- What a run reads: quick, no sampler --------------------------------------------------


@pytest.fixture
def predicted(closed_round):
    """The report tests' round 1 with every expert's meta-predictions of US, ROK and JP."""
    from elicitation.models import Judgment
    from tests.aggregation.perception_result import META

    for judgment in Judgment.objects.filter(survey_round=closed_round, probability__isnull=False):
        judgment.meta_predictions = META[judgment.question.code][judgment.expert.code]
        judgment.save(update_fields=["meta_predictions"])
    return closed_round


def _table(survey_round, **options):
    return selectors.judgment_table_for_round(
        survey_round=survey_round, cohort_attribute="nationality", **options
    )


def test_without_meta_predictions_the_table_and_the_run_options_are_as_before(closed_round):
    assert _table(closed_round, with_meta=True).frame.equals(_table(closed_round).frame)
    assert not selectors.round_has_meta_predictions(survey_round=closed_round)
    options = services.aggregation_options_default(survey_round=closed_round, method="hierarchical")
    assert "perception_model_version" not in options


def test_the_table_carries_the_predictions_of_the_cohorts_in_it(predicted):
    from elicitation.models import Judgment

    judgment = Judgment.objects.get(
        survey_round=predicted, expert__code="E001", question__code="Q01"
    )
    # a cohort nobody in the round belongs to, and values that are no probability
    judgment.meta_predictions = {"US": 0.7, "CN": 0.4, "ROK": "high", "JP": 1.5}
    judgment.save(update_fields=["meta_predictions"])
    table = _table(predicted, with_meta=True)
    assert table.meta_cohorts == ["JP", "ROK", "US"]
    row = table.frame.set_index(["expert", "question"]).loc[("E001", "Q01")]
    assert row["meta_US"] == 0.7 and row[["meta_ROK", "meta_JP"]].isna().all()
    assert len(table.meta_predictions()) == 7 * 3 * 3 - 2
    assert _table(predicted).meta_cohorts == []  # other methods read no meta-predictions
    for method, expected in [("hierarchical", True), ("median", False)]:
        options = services.aggregation_options_default(survey_round=predicted, method=method)
        assert ("perception_model_version" in options) is expected, method
