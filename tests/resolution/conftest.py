"""Personas, a closed round with answers, and resolutions, for the resolution tests.

The personas are tests/conftest.py's, the survey that of the report tests
(``tests/aggregation/conftest``):

organizer       staff, organizes ``survey``
analyst         in the "analyst" group, assigned to ``survey`` (not staff)
other_analyst   in the "analyst" group, not assigned to ``survey``
other_staff     staff, organizes nothing
superuser       may do everything
expert          on ``survey``'s panel (E004); ``expert_client`` has opened their round-2 link

``closed_round`` (round 1) has the answers of seven experts (three US, three ROK, one JP) to
Q01-Q03 and one numeric answer (E002) to N01. JP is a cohort of one: it must never be shown
on its own, and "other" (JP alone) is too small to show either.
"""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from aggregation.engine.recalibration import DEFAULT_MODEL_CONFIG, prior_summary
from resolution import recalibration, services
from resolution.models import RecalibrationRun
from tests.aggregation import conftest as report_fixtures

# The report tests' fixtures, shared: the same survey (the personas are tests/conftest.py's).
closed_round = report_fixtures.closed_round
expert = report_fixtures.expert
expert_client = report_fixtures.expert_client
finished_run = report_fixtures.finished_run
open_round = report_fixtures.open_round
panel = report_fixtures.panel
survey = report_fixtures.survey

YESTERDAY = timezone.localdate() - timedelta(days=1)
SOURCE = "Reuters, 3 March: the cabinet announced it."


@pytest.fixture
def questions(survey):
    return {q.code: q for q in survey.questions.all()}


def resolve(question, outcome, *, by=None, on: date = YESTERDAY, source: str = SOURCE, **kw):
    return services.question_resolve(
        question=question, outcome=outcome, resolved_on=on, source=source, by=by, **kw
    )[0]


@pytest.fixture
def resolved(closed_round, questions, organizer):
    """Q01 happened, Q02 did not; Q03 and N01 open."""
    resolve(questions["Q01"], 1, by=organizer)
    resolve(questions["Q02"], 0, by=organizer)
    return questions


def fake_recalibration_result(run: RecalibrationRun, *, cv: dict | None = None) -> dict:
    """A result as ``recalibration._fit`` writes it, numbers chosen to be easy to find."""
    inputs = recalibration.recalibration_inputs(survey_round=run.survey_round, options=run.options)
    mass = 0.9
    return {
        "input": run.input,
        "source_run": None,
        "grouped_by": None,
        "interval_mass": mass,
        "summary": {
            "model": "linear-in-log-odds (Turner et al. 2014)",
            "n_resolved": len(inputs.outcomes),
            "n_events": int(inputs.outcomes["outcome"].sum()),
            "interval_mass": mass,
            "gamma": {"mean": 1.87, "interval": [1.11, 2.93]},
            "tau": {"mean": -0.31, "interval": [-1.2, 0.5]},
            "prior": prior_summary(DEFAULT_MODEL_CONFIG, mass),
            "posterior_to_prior_sd": {"log_gamma": 0.93, "tau": 0.95},
            "diagnostics": {"max_rhat": 1.002, "min_ess_bulk": 1500, "divergences": 0},
        },
        "questions": {
            code: {
                "aggregate": 0.5,
                "mean": 0.777 if code == "Q03" else 0.5,
                "interval": [0.611, 0.888],
                "resolved": code in inputs.outcomes.index,
                "group": "",
            }
            for code in inputs.logodds.index
        },
        "cross_validation": cv or {"skipped": "Not cross-validated: too few questions."},
        "timings": {"total_seconds": 1.0},
    }


def succeed(run: RecalibrationRun, **kwargs) -> RecalibrationRun:
    """Mark a requested run as fitted, without a sampler."""
    run.status, run.finished_at = RecalibrationRun.Status.SUCCEEDED, timezone.now()
    run.result = fake_recalibration_result(run, **kwargs)
    run.save(update_fields=["status", "finished_at", "result"])
    return run
