"""The demo's answer generator: plain rows from plain descriptions, with no Django."""

from pathlib import Path

import numpy as np
import pytest

from elicitation.demo import content, generator
from elicitation.demo.content import BINARY, NUMERIC, QuestionSpec
from elicitation.demo.generator import demo_round1_answers, demo_rounds
from elicitation.demo.panel import ExpertSpec, demo_panel
from tests.aggregation.engine.test_import_boundary import django_imports, django_loaded_by

ROOT = Path(__file__).resolve().parents[2]
PURE = ["content", "panel", "rationales", "generator"]


def test_importing_the_generator_loads_no_django():
    assert django_loaded_by([f"elicitation.demo.{module}" for module in PURE]) == []


def test_no_pure_demo_file_imports_django():
    folder = ROOT / "elicitation" / "demo"
    offenders = {
        name: imports
        for name in [*PURE, "__init__"]
        if (imports := django_imports((folder / f"{name}.py").read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_plain_kinds_and_scales_are_the_models():
    from elicitation.models import Question

    assert (content.BINARY, content.NUMERIC) == (Question.Kind.BINARY, Question.Kind.NUMERIC)
    assert (content.LOG, content.UNIFORM) == (Question.Scale.LOG, Question.Scale.UNIFORM)


def _rounds(seed: int, **kwargs) -> generator.DemoRounds:
    rng = np.random.default_rng
    return demo_rounds(panel=demo_panel(), rng=rng(seed), meta_rng=rng([seed, 15]), **kwargs)


def test_the_same_seed_gives_the_same_answers():
    rng = np.random.default_rng
    first = demo_round1_answers(demo_panel(), rng(11))
    second = demo_round1_answers(demo_panel(), rng(11))
    other = demo_round1_answers(demo_panel(), rng(12))
    assert first == second
    assert first != other


def test_the_same_seed_gives_the_same_three_rounds():
    assert _rounds(5) == _rounds(5)
    assert _rounds(5) != _rounds(6)


@pytest.fixture(scope="module")
def rounds():
    return _rounds(content.DEMO_SEED, featured=("E001",))


def test_answers_are_probabilities_or_ordered_quantiles_inside_the_bounds(rounds):
    specs = {spec.code: spec for spec in content.QUESTIONS}
    for answer in [*rounds.round1, *rounds.round2, *rounds.round3]:
        spec = specs[answer.question]
        if spec.kind == BINARY:
            # 0 % and 100 % are answers people give; the model clips them, not the form.
            assert 0.0 <= answer.probability <= 1.0 and answer.q50 is None
        else:
            assert answer.probability is None
            assert spec.lower <= answer.q05 < answer.q50 < answer.q95 <= spec.upper


def test_meta_predictions_are_strict_probabilities_on_the_meta_questions(rounds):
    assert all(answer.meta_predictions for answer in rounds.round2 if answer.question
               in content.META_QUESTION_CODES)  # fmt: skip
    for answer in [*rounds.round1, *rounds.round2, *rounds.round3]:
        if answer.meta_predictions:
            assert answer.question in content.META_QUESTION_CODES
            assert set(answer.meta_predictions) == set(content.COHORTS)
            assert all(0 < p < 1 for p in answer.meta_predictions.values())
    assert not any(answer.meta_predictions for answer in rounds.round1)


def test_rounds_are_complete_and_the_open_round_is_partial(rounds):
    panel = demo_panel()
    asked_later = [spec for spec in content.QUESTIONS if spec.seed_answer is None]
    assert len(rounds.round1) == len(panel) * len(content.QUESTIONS)
    assert len(rounds.round2) == len(panel) * len(asked_later)
    assert {answer.expert for answer in rounds.round3} <= set(rounds.savers)
    assert "E001" not in {*rounds.savers, *rounds.openers}
    assert not set(rounds.savers) & set(rounds.openers)


def test_a_small_panel_of_plain_descriptions():
    panel = [
        ExpertSpec("E1", "A", "a@example.org", "US", "academia", "en", sim_index=0),
        ExpertSpec("E2", "B", "b@example.org", "US", "government", "en", sim_index=1),
        ExpertSpec("E3", "C", "c@example.org", "ROK", "academia", "ko", sim_index=2),
        ExpertSpec("E4", "D", "d@example.org", "ROK", "think tank", "en", sim_index=3),
    ]
    questions = [
        QuestionSpec("B1", "s", BINARY, "?", "", "ROK", "logistics", mu=0.5, gap=1.0),
        QuestionSpec("B2", "s", BINARY, "?", "", "Japan", "access", mu=-0.5),
        QuestionSpec("N1", "s", NUMERIC, "?", "", "US", "force-posture", lower=0, upper=50,
                     centre=20, spread=5),
    ]  # fmt: skip
    rng = np.random.default_rng
    answers = generator.demo_round1_answers(panel, rng(3), questions)
    pairs = sorted((a.expert, a.question) for a in answers)
    assert pairs == [(e, q) for e in ("E1", "E2", "E3", "E4") for q in ("B1", "B2", "N1")]
    assert answers == generator.demo_round1_answers(panel, rng(3), questions)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((10.0, 20.0, 30.0), (10.0, 20.0, 30.0)),
        ((-5.0, 50.0, 150.0), (0.0, 50.0, 100.0)),  # clipped to the bounds
        ((20.0, 20.2, 20.4), (19.0, 20.0, 21.0)),  # collapsed by rounding: pulled apart
        ((-3.0, -2.0, -1.0), (0.0, 1.0, 2.0)),  # all below the bounds
        ((101.0, 102.0, 103.0), (98.0, 99.0, 100.0)),  # all above
    ],
)
def test_tidy_quantiles_keeps_them_strictly_ordered_inside_the_bounds(values, expected):
    spec = QuestionSpec("X", None, NUMERIC, "", "", "US", "test", lower=0, upper=100, step=1)
    assert generator._tidy_quantiles(spec, values) == expected
