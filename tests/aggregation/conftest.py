"""A survey, a closed round with answers, and runs built without sampling, for the report tests.

The personas are tests/conftest.py's:

organizer       organizes ``survey``
analyst         assigned to ``survey`` (in the "analyst" group, not staff)
other_analyst   in the "analyst" group, not assigned to ``survey``
other_staff     staff, organizes nothing
expert          on ``survey``'s panel (E004, ROK); ``expert_client`` has opened their
                round-2 magic link

``closed_round`` (round 1) has answers from seven experts: three US, three ROK and one JP.
JP is a cohort of one: below REPORT_MIN_COHORT_SIZE, it must never be shown on its own.
Runs are rows made directly from a result dict (``make_run``), so these tests need no sampler.
"""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from aggregation.models import AggregationRun, QuestionResult
from aggregation.numeric_reports import figure_name
from elicitation import services
from elicitation.models import Invitation, Judgment, Question, Round
from tests.elicitation.helpers import client_with_link

PANEL = [  # code, name, email, nationality
    ("E001", "Alice Walker", "alice.walker@example.org", "US"),
    ("E002", "Brian Moss", "brian.moss@example.org", "US"),
    ("E003", "Carol Diaz", "carol.diaz@example.org", "US"),
    ("E004", "Kim Min-jun", "minjun.kim@example.org", "ROK"),
    ("E005", "Lee Seo-yeon", "seoyeon.lee@example.org", "ROK"),
    ("E006", "Park Ji-ho", "jiho.park@example.org", "ROK"),
    ("E007", "Kenji Tanaka", "kenji.tanaka@example.org", "JP"),
]
# Answers of round 1, by question and expert code (probabilities).
ANSWERS = {
    "Q01": [0.70, 0.80, 0.75, 0.40, 0.45, 0.35, 0.90],
    "Q02": [0.20, 0.10, 0.15, 0.20, 0.25, 0.30, 0.05],
    "Q03": [0.50, 0.55, 0.60, 0.50, 0.45, 0.55, 0.50],
}
RATIONALE = "US basing in Japan settles it."
FORMULA_RATIONALE = '=HYPERLINK("http://evil")'


def survey_build(*, organizer, analyst):
    """The survey (three binary questions and a numeric one), organized and analysed."""
    survey = services.survey_create(title="Allied contributions", organizers=[organizer])
    survey.analysts.add(analyst)
    for code, text in [
        ("Q01", "Will Japan allow US combat operations from its bases?"),
        ("Q02", "Will Korea send ships?"),
        ("Q03", "Will Australia send aircraft?"),
    ]:
        services.question_create(survey=survey, code=code, text=text)
    services.question_create(
        survey=survey, code="N01", text="How many ships?", kind=Question.Kind.NUMERIC,
        unit="ships", lower_bound=0, upper_bound=100,
    )  # fmt: skip
    return survey


def panel_build(*, survey) -> dict:
    return {
        code: services.expert_create(
            survey=survey, name=name, email=email, code=code,
            attributes={"nationality": nationality},
        )
        for code, name, email, nationality in PANEL
    }  # fmt: skip


def closed_round_build(*, survey, panel: dict) -> Round:
    """Round 1, closed, every expert submitted; no run requested (tests make their own).

    Rows are written directly: opening the round through ``round_open`` would queue
    invitation emails on commit, and transactional tests would try to reach a broker.
    """
    now = timezone.now()
    survey_round = services.round_create(survey=survey)
    questions = {q.code: q for q in survey.questions.all()}
    survey_round.questions.set(questions.values())
    Round.objects.filter(id=survey_round.id).update(
        status=Round.Status.CLOSED, opened_at=now - timedelta(days=7), closed_at=now
    )
    Invitation.objects.bulk_create(
        Invitation(expert=expert, survey_round=survey_round, sent_at=now,
                   expires_at=now + timedelta(days=30), submitted_at=now)
        for expert in panel.values()
    )  # fmt: skip
    judgments = [
        Judgment(
            expert=panel[code], question=questions[question], survey_round=survey_round,
            probability=probability, rationale=RATIONALE if code == "E001" else "",
        )
        for question, values in ANSWERS.items()
        for (code, *_), probability in zip(PANEL, values, strict=True)
    ]  # fmt: skip
    judgments.append(
        Judgment(
            expert=panel["E002"], question=questions["N01"], survey_round=survey_round,
            q05=2, q50=5, q95=12, rationale=FORMULA_RATIONALE,
        )
    )  # fmt: skip
    Judgment.objects.bulk_create(judgments)
    survey_round.refresh_from_db()
    return survey_round


def second_round_build(*, closed_round: Round, survey, panel: dict) -> Round:
    """Round 2, closed: E001 and E004 moved toward the round-1 consensus of Q01 (0.623),
    E007 away from it, with a reason; everyone else kept their round-1 answers."""
    now = timezone.now()
    survey_round = services.round_create(survey=survey)
    survey_round.questions.set(closed_round.questions.all())
    Round.objects.filter(id=survey_round.id).update(
        status=Round.Status.CLOSED, opened_at=now, closed_at=now, feedback_round=closed_round
    )
    Invitation.objects.bulk_create(
        Invitation(expert=e, survey_round=survey_round, expires_at=now + timedelta(days=9),
                   submitted_at=now)
        for e in panel.values()
    )  # fmt: skip
    moved = {("E001", "Q01"): 0.65, ("E004", "Q01"): 0.55, ("E007", "Q01"): 0.95}
    reasons = {"E004": "The basing argument convinced me.", "E007": "Even surer now."}
    Judgment.objects.bulk_create(
        Judgment(
            expert=j.expert, question=j.question, survey_round=survey_round,
            probability=moved.get((j.expert.code, j.question.code), j.probability),
            q05=j.q05, q50=j.q50, q95=j.q95,
            change_reason=reasons.get(j.expert.code, "")
            if (j.expert.code, j.question.code) in moved else "",
        )
        for j in Judgment.objects.filter(survey_round=closed_round).select_related("expert", "question")
    )  # fmt: skip
    survey_round.refresh_from_db()
    return survey_round


def linked_result(shifts: dict[str, float] | None = None) -> dict:
    """A linked run's result for rounds 1 and 2: Q01-Q03 rose by 0.031 unless ``shifts``
    says otherwise (question -> change of consensus, interval +- 0.027)."""
    shifts = shifts or {}
    questions = {}
    for code in ("Q01", "Q02", "Q03"):
        change = shifts.get(code, 0.031)
        moved = change if code in shifts else 0.0  # the default keeps 0.6 in both rounds
        shift = {
            "mean": change,
            "interval": [round(change - 0.027, 3), round(change + 0.027, 3)],
            "p_increase": 0.97 if code not in shifts else (0.99 if change > 0 else 0.02),
        }
        questions[code] = {
            "rounds": {
                str(r): {
                    "n_judgments": 7,
                    "consensus": {"mean": round(0.6 + moved * (r - 1), 3),
                                  "interval": [round(0.5 + moved * (r - 1), 3),
                                               round(0.7 + moved * (r - 1), 3)]},
                    "disagreement": {"mean": 1.0, "interval": [0.8, 1.2]},
                }
                for r in (1, 2)
            },
            "consensus_shift": shift,
            "disagreement_ratio": {"mean": 0.9, "interval": [0.7, 1.1]},
        }  # fmt: skip
    return {
        "method": "linked_rounds",
        "interval_mass": 0.9,
        "rounds": [1, 2],
        "n_linked_pairs": 21,
        "persistence": {"mean": 0.62, "interval": [0.48, 0.75]},
        "panel": {"median_disagreement_ratio": {"mean": 0.81, "interval": [0.7, 0.93]}},
        "questions": questions,
    }


@pytest.fixture
def survey(organizer, analyst):
    return survey_build(organizer=organizer, analyst=analyst)


@pytest.fixture
def panel(survey):
    return panel_build(survey=survey)


@pytest.fixture
def closed_round(survey, panel):
    return closed_round_build(survey=survey, panel=panel)


@pytest.fixture
def open_round(closed_round, survey):
    return services.round_open(survey_round=services.round_create(survey=survey))


@pytest.fixture
def expert(panel):
    return panel["E004"]


@pytest.fixture
def expert_client(open_round, expert):
    """A browser that opened E004's round-2 magic link (no Django login: a link session)."""
    return client_with_link(Invitation.objects.get(survey_round=open_round, expert=expert))


# --- Runs without sampling ----------------------------------------------------------------


def point(mean, lower, upper, **extra):
    return {"mean": mean, "interval": [lower, upper], **extra}


def hierarchical_result(**overrides) -> dict:
    """A result contract for ``closed_round``, numbers chosen to be easy to find on a page."""
    cohorts = {
        "Q01": {"JP": point(0.811, 0.702, 0.905, n_judgments=1),
                "ROK": point(0.402, 0.331, 0.474, n_judgments=3),
                "US": point(0.746, 0.671, 0.812, n_judgments=3)},
        "Q02": {"JP": point(0.123, 0.061, 0.222, n_judgments=1),
                "ROK": point(0.243, 0.181, 0.312, n_judgments=3),
                "US": point(0.152, 0.101, 0.214, n_judgments=3)},
        "Q03": {"JP": point(0.505, 0.401, 0.612, n_judgments=1),
                "ROK": point(0.501, 0.432, 0.571, n_judgments=3),
                "US": point(0.548, 0.478, 0.617, n_judgments=3)},
    }  # fmt: skip
    gaps = {
        "Q01": [("JP", "ROK", 0.409, 0.99), ("JP", "US", 0.065, 0.8), ("ROK", "US", -0.344, 0.001)],
        "Q02": [("JP", "ROK", -0.12, 0.05), ("JP", "US", -0.029, 0.3), ("ROK", "US", 0.091, 0.962)],
        "Q03": [("JP", "ROK", 0.004, 0.5), ("JP", "US", -0.043, 0.3), ("ROK", "US", -0.047, 0.188)],
    }
    consensus = {"Q01": (0.623, 0.551, 0.694), "Q02": (0.181, 0.142, 0.227),
                 "Q03": (0.517, 0.466, 0.569)}  # fmt: skip
    disagreement = {"Q01": (1.37, 1.02, 1.81), "Q02": (0.58, 0.41, 0.79),
                    "Q03": (0.29, 0.18, 0.44)}  # fmt: skip
    questions = {
        code: {
            "n_judgments": 7,
            "consensus": point(*consensus[code]),
            "disagreement": point(*disagreement[code]),
            "cohorts": cohorts[code],
            "cohort_gaps": [
                {"a": a, "b": b, **point(m, m - 0.1, m + 0.1), "p_a_higher": p}
                for a, b, m, p in gaps[code]
            ],
            "baselines": {
                "linear_pool": 0.621,
                "median": 0.634,
                "logodds_mean": 0.612,
                "extremized_logodds": 0.741,
            },
        }  # fmt: skip
        for code in ANSWERS
    }
    experts = {
        code: {
            "cohort": nationality,
            "n_judgments": 3,
            "bias": None if nationality == "JP" else point(0.1 * k - 0.3, -0.9, 0.9),
            "noise": point(0.9 + 0.05 * k, 0.6, 1.4),
            "slope": None if nationality == "JP" else point(1.23 + 0.1 * k, 0.5, 2.5),
        }
        for k, (code, _name, _email, nationality) in enumerate(PANEL)
    }
    per_quantity = {
        name: {"max_rhat": 1.004, "min_ess_bulk": 812}
        for name in (
            "consensus",
            "disagreement",
            "bias",
            "noise",
            "slope",
            "cohort_belief",
            "cohort_gap",
        )  # fmt: skip
    }
    result = {
        "method": "hierarchical",
        "interval_mass": 0.9,
        "round": 1,
        "n_judgments": 21,
        "model": {
            "name": "binary_hierarchical",
            "version": "1",
            "parametrization": "noncentered",
            "random_seed": 7,
        },  # fmt: skip
        "timings": {"compile_seconds": 3.2, "sampling_seconds": 1.5, "total_seconds": 6.25},
        "diagnostics": {
            "max_rhat": 1.004,
            "min_ess_bulk": 812,
            "divergences": 0,
            "per_quantity": per_quantity,
            "warnings": [],
        },  # fmt: skip
        "questions": questions,
        "experts": experts,
    }
    result.update(overrides)
    return result


def make_run(survey_round, *, result=None, status=AggregationRun.Status.SUCCEEDED, **fields):
    """An AggregationRun row (and its QuestionResult rows when it succeeded), no worker."""
    method = (result or {}).get("method", fields.pop("method", "hierarchical"))
    if (result or {}).get("kind") == "numeric":  # the engine's numeric contract says
        method = AggregationRun.Method.NUMERIC_HIERARCHICAL  # "hierarchical"
    options = {"random_seed": 7, "interval_mass": 0.9, "cohort_attribute": "nationality"}
    if method == AggregationRun.Method.LINKED_ROUNDS:  # the rounds it fits, as the service
        options["rounds"] = fields.pop("rounds", None) or (result or {}).get("rounds")
    now = timezone.now()
    run = AggregationRun.objects.create(
        survey_round=survey_round,
        method=method,
        options=options,
        options_hash=f"options-{AggregationRun.objects.count()}",
        data_hash="data",
        n_judgments=21,
        status=status,
        result=result,
        diagnostics=(result or {}).get("diagnostics", {}),
        timings=(result or {}).get("timings", {}),
        started_at=now - timedelta(seconds=10),
        finished_at=now if status in ("succeeded", "failed") else None,
        **fields,
    )
    if status == AggregationRun.Status.SUCCEEDED and result and result.get("kind") != "numeric":
        questions = {q.code: q for q in survey_round.survey.questions.all()}
        for code, entry in result["questions"].items():
            if "rounds" in entry:  # a linked run's row holds the last round (as the service)
                entry = entry["rounds"][max(entry["rounds"], key=int)]
            lower, upper = entry["consensus"]["interval"] or (None, None)
            spread = entry.get("disagreement") or {}
            d_lower, d_upper = spread.get("interval") or (None, None)
            QuestionResult.objects.create(
                run=run, question=questions[code], n_judgments=entry["n_judgments"],
                consensus=entry["consensus"]["mean"], consensus_lower=lower,
                consensus_upper=upper, disagreement=spread.get("mean"),
                disagreement_lower=d_lower, disagreement_upper=d_upper,
                cohorts=entry.get("cohorts", {}), cohort_gaps=entry.get("cohort_gaps", []),
                baselines=entry.get("baselines", {}),
            )  # fmt: skip
    return run


def numeric_result(**overrides) -> dict:
    """A numeric run's result contract for ``closed_round`` (its one numeric question N01),
    with the keys the service adds (realizations, left_out); numbers easy to find."""
    cohort_of = {code: nationality for code, _n, _e, nationality in PANEL}
    result = {
        "method": "hierarchical",
        "kind": "numeric",
        "interval_mass": 0.9,
        "n_judgments": 7,
        "n_seeds": 0,
        "shared_error": point(0.42, 0.03, 1.17),
        "model": {"name": "numeric_hierarchical", "version": "1", "random_seed": 7},
        "timings": {"compile_seconds": 9.5, "sample_seconds": 1.25, "total_seconds": 12.5},
        "diagnostics": {
            "max_rhat": 1.003,
            "min_ess_bulk": 905,
            "divergences": 0,
            "per_quantity": {
                name: {"max_rhat": 1.003, "min_ess_bulk": 905}
                for name in (
                    "forecast",
                    "median",
                    "disagreement",
                    "bias",
                    "confidence_ratio",
                    "shared_error",
                    "cohort_median",
                )
            },
            "warnings": [],
        },  # fmt: skip
        "questions": {
            "N01": {
                "kind": "numeric",
                "n_judgments": 7,
                "seed": False,
                "scale": "linear",
                "forecast": {"q05": 3.21, "q50": 7.84, "q95": 19.6},
                "median": point(6.12, 4.95, 7.4),
                "disagreement": point(1.37, 1.02, 1.81),
                "cohorts": {
                    "JP": point(9.91, 6.1, 14.3),
                    "ROK": point(5.31, 4.1, 6.6),
                    "US": point(7.05, 5.5, 8.9),
                },
                "cohort_gaps": [
                    {"a": "JP", "b": "ROK", **point(4.6, 0.8, 9.1), "p_a_higher": 0.98},
                    {"a": "JP", "b": "US", **point(2.86, -1.1, 7.2), "p_a_higher": 0.87},
                    {"a": "ROK", "b": "US", **point(-1.74, -3.6, 0.2), "p_a_higher": 0.07},
                ],
                "baselines": {
                    "equal_weight": {"q05": 1.52, "q50": 6.03, "q95": 16.5},
                    "cooke_global": None,
                    "cooke_item": None,
                    "quantile_average": {"q05": 2.83, "q50": 6.14, "q95": 14.1},
                },
            }
        },  # fmt: skip
        "experts": {
            code: {
                "cohort": cohort_of[code],
                "bias": point(0.05 * k - 0.2, -0.7, 0.6),
                "confidence_ratio": point(0.41 + 0.1 * k, 0.22 + 0.1 * k, 0.77 + 0.2 * k),
            }
            for k, code in enumerate(sorted(cohort_of))
        },
        "realizations": {},
        "left_out": [],
    }
    result.update(overrides)
    return result


@pytest.fixture
def finished_numeric_run(closed_round, settings):
    """A succeeded numeric run of ``closed_round``, with stand-in figures."""
    run = make_run(closed_round, result=numeric_result())
    write_artifacts(
        run, Path(settings.MEDIA_ROOT), [figure_name("N01"), "expert-confidence", "expert-bias"]
    )
    return run


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'


def write_artifacts(run: AggregationRun, media_root: Path, names: list[str]) -> None:
    """Small stand-ins for a run's figures and posterior under MEDIA_ROOT."""
    folder = Path("runs") / str(run.id)
    (media_root / folder).mkdir(parents=True, exist_ok=True)
    figures = {}
    for name in names:
        (media_root / folder / f"{name}.svg").write_bytes(SVG)
        figures[name] = str(folder / f"{name}.svg")
    (media_root / folder / "posterior.nc").write_bytes(b"CDF\x01 not a real posterior")
    run.figures, run.posterior = figures, str(folder / "posterior.nc")
    run.save(update_fields=["figures", "posterior"])


@pytest.fixture
def finished_run(closed_round, settings):
    run = make_run(closed_round, result=hierarchical_result())
    names = ["consensus", "disagreement", "cohorts", "expert-bias", "expert-noise"]
    write_artifacts(run, Path(settings.MEDIA_ROOT), names + ["question-Q01"])
    return run


@pytest.fixture
def perception_run(closed_round, settings):
    """A succeeded hierarchical run of ``closed_round`` whose experts gave meta-predictions,
    with the perception parts of a real fit (perception_result.py) and its figure drawn for
    real, in both languages."""
    from aggregation import reports
    from tests.aggregation.perception_result import META, perception_result

    for judgment in Judgment.objects.filter(survey_round=closed_round, probability__isnull=False):
        judgment.meta_predictions = META[judgment.question.code][judgment.expert.code]
        judgment.save(update_fields=["meta_predictions"])
    result = perception_result()
    run = make_run(closed_round, result=result)
    names = ["consensus", "disagreement", "cohorts", "expert-bias", "expert-noise"]
    write_artifacts(run, Path(settings.MEDIA_ROOT), names + ["question-Q01"])
    (Path(settings.MEDIA_ROOT) / f"runs/{run.id}/perception.nc").write_bytes(b"CDF\x01 stand-in")
    run.result["perception"]["posterior"] = f"runs/{run.id}/perception.nc"
    folder = Path("runs") / str(run.id)
    if not _PERCEPTION_SVG:  # drawn once per test process: the same result every time
        questions = list(closed_round.survey.questions.all())
        drawing = {"perception": reports.perception_drawing(result, questions)}
        for name, relative in reports.draw_in_every_language(drawing, folder).items():
            _PERCEPTION_SVG[name] = (Path(settings.MEDIA_ROOT) / relative).read_text()
    for name, svg in _PERCEPTION_SVG.items():
        (Path(settings.MEDIA_ROOT) / folder / f"{name}.svg").write_text(svg)
        run.figures[name] = str(folder / f"{name}.svg")
    run.save(update_fields=["figures", "result"])
    return run


_PERCEPTION_SVG: dict[str, str] = {}
