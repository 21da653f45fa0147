"""The report's figures and tables (aggregation.reports, engine.plots, presenters,
cohort_privacy).

Rules and tables are checked on hand-made numbers (instant); the figures on a tiny real
fit (2 chains x 100 draws of a 10-expert, 5-question synthetic panel, marked slow) and
once through a worker's ``aggregation_run_execute`` on a small round.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse

from aggregation import cohort_privacy, presenters, reports
from aggregation.engine import plots
from aggregation.engine.data import JudgmentTable
from aggregation.engine.synthetic import own_questions, simulate_binary_panel
from aggregation.models import AggregationRun
from tests.aggregation.conftest import point

SVG_NS = "{http://www.w3.org/2000/svg}"


# --- Cohorts that may be shown -------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "shown"),
    [(3, ["ROK", "US"]), (2, ["JP", "ROK", "US"]), (4, ["US"]), (1, ["JP", "ROK", "UK", "US"])],
)
def test_cohorts_below_the_threshold_are_not_shown(settings, threshold, shown):
    settings.REPORT_MIN_COHORT_SIZE = threshold
    sizes = {"US": 4, "ROK": 3, "JP": 2, "UK": 1}
    assert cohort_privacy.cohorts_shown(sizes) == shown
    assert cohort_privacy.cohort_label("UK", shown) == ("UK" if "UK" in shown else "other")


def test_gaps_between_hidden_cohorts_are_dropped():
    entry = {
        "cohort_gaps": [
            {"a": "JP", "b": "ROK", "mean": 0.5},
            {"a": "ROK", "b": "US", "mean": -0.2},
            {"a": "JP", "b": "US", "mean": 0.3},
        ]
    }
    assert [(g["a"], g["b"]) for g in cohort_privacy.gaps_shown(entry, ["ROK", "US"])] == [
        ("ROK", "US")
    ]
    assert cohort_privacy.largest_gap(entry, ["ROK", "US"]) == pytest.approx(0.2)
    assert cohort_privacy.largest_gap(entry, ["US"]) == 0.0


def test_cohort_sizes_count_experts_not_answers():
    frame = simulate_binary_panel(
        n_experts=6, n_questions=4, cohorts={"US": 0.5, "ROK": 0.5}, seed=1
    ).judgments
    assert cohort_privacy.cohort_sizes_of_table(JudgmentTable.from_frame(frame)) == {
        "ROK": 3,
        "US": 3,
    }
    result = {"experts": {"E1": {"cohort": "US"}, "E2": {"cohort": "US"}, "E3": {"cohort": "JP"}}}
    assert cohort_privacy.cohort_sizes_of_result(result) == {"US": 2, "JP": 1}
    assert cohort_privacy.cohort_sizes_of_result({"method": "median"}) == {}


@pytest.mark.parametrize(
    ("code", "name"),
    [("Q07", "question-Q07"), ("BL-01_a", "question-BL-01_a"), ("Q/7 x", "question-Q_7_x"),
     ("../etc", "question-___etc")],
)  # fmt: skip
def test_question_figure_names_are_safe_in_urls_and_paths(code, name):
    assert reports.question_figure_name(code) == name


# --- Tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("estimate", "text"),
    [
        (presenters.Estimate(0.6234, 0.5511, 0.6949), "0.623 (0.551 to 0.695)"),
        (presenters.Estimate.of(point(-0.344, -0.44, -0.244), signed=True),
         "-0.344 (-0.440 to -0.244)"),
        (presenters.Estimate.of(point(0.2, 0.1, 0.3), signed=True, digits=2),
         "+0.20 (+0.10 to +0.30)"),
        (presenters.Estimate.of({"mean": 0.45, "interval": None}), "0.450"),
        (presenters.Estimate.of(None), "—"),
    ],
)  # fmt: skip
def test_estimates_print_mean_and_interval(estimate, text):
    assert str(estimate) == text


@pytest.mark.parametrize(
    ("diagnostics", "warnings"),
    [
        ({"max_rhat": 1.004, "min_ess_bulk": 812, "divergences": 0}, []),
        ({"max_rhat": 1.0101, "min_ess_bulk": 812, "divergences": 0}, ["R-hat up to 1.010"]),
        ({"max_rhat": 1.01, "min_ess_bulk": 400, "divergences": 0}, []),  # limits included
        ({"max_rhat": 1.004, "min_ess_bulk": 399, "divergences": 0}, ["down to 399"]),
        ({"max_rhat": 1.004, "min_ess_bulk": 812, "divergences": 1}, ["1 divergent"]),
        ({"max_rhat": None, "min_ess_bulk": 812, "divergences": 0}, ["could not be computed"]),
        ({"max_rhat": 1.2, "min_ess_bulk": 50, "divergences": 9},
         ["R-hat up to 1.200", "down to 50", "9 divergent"]),
    ],
)  # fmt: skip
def test_diagnostics_warn_beyond_the_thresholds(diagnostics, warnings):
    summary = presenters.diagnostics_summary(diagnostics)
    assert len(summary["warnings"]) == len(warnings)
    for warning, expected in zip(summary["warnings"], warnings, strict=True):
        assert expected in warning


def test_diagnostics_name_the_quantities_that_failed():
    summary = presenters.diagnostics_summary(
        {
            "divergences": 0,
            "per_quantity": {
                "consensus": {"max_rhat": 1.002, "min_ess_bulk": 900},
                "noise": {"max_rhat": 1.03, "min_ess_bulk": 150},
            },
        }
    )
    assert [(row["label"], row["rhat_bad"], row["ess_bad"]) for row in summary["rows"]] == [
        ("Consensus", False, False),
        ("Expert noise", True, True),
    ]
    assert summary["max_rhat"] == "1.030" and summary["min_ess"] == "150"
    assert all("(expert noise)" in warning for warning in summary["warnings"])
    assert presenters.diagnostics_summary({}) is None


# --- Figures of a real (tiny) fit ----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_fit():
    """A 10-expert, 5-question panel: US 5, ROK 3, JP 2 (JP below the threshold of 3)."""
    from aggregation.engine.hierarchical import BinaryHierarchicalModel
    from aggregation.engine.summary import summarize_hierarchical

    panel = simulate_binary_panel(
        n_experts=10, n_questions=5, cohorts={"US": 0.5, "ROK": 0.3, "JP": 0.2}, seed=3
    )
    table = JudgmentTable.from_frame(panel.judgments)
    model = BinaryHierarchicalModel(sampler_config={"chains": 2, "draws": 100, "tune": 100})
    fit = model.fit(table, random_seed=1)
    return fit, table, summarize_hierarchical(fit, table)


def _svg_text(path: Path) -> list[str]:
    root = ET.parse(path).getroot()  # also proves the file is well-formed SVG
    assert root.tag == f"{SVG_NS}svg"
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG_NS}text")]


@pytest.mark.slow
def test_hierarchical_figures(tiny_fit, settings, tmp_path):
    fit, table, result = tiny_fit
    assert cohort_privacy.cohort_sizes_of_table(table) == {"JP": 2, "ROK": 3, "US": 5}
    figures = reports.figures_render(result=result, fit=fit, table=table, folder=Path("run"))
    questions = [f"question-{q}" for q in table.questions]
    expected = [
        "consensus", "disagreement", "cohorts", "expert-bias", "expert-slope", "expert-noise",
        *questions,
    ]  # fmt: skip
    assert list(figures) == expected + [f"{name}__ko" for name in expected]  # each language
    media = Path(settings.MEDIA_ROOT)
    texts = {name: _svg_text(media / path) for name, path in figures.items()}
    assert any(t.startswith("합의 확률") for t in texts["consensus__ko"])  # Korean labels
    assert {"선형 풀", "극단화 로그 오즈"} <= set(texts["consensus__ko"])
    assert figures["consensus"] == "run/consensus.svg"
    for code in table.questions:
        assert code in texts["consensus"] and code in texts["disagreement"]
        assert code in texts["cohorts"]
    assert {"Linear pool", "Median", "Log-odds mean", "Extremized log-odds"} <= set(
        texts["consensus"]
    )
    texts = {name: text for name, text in texts.items() if "__" not in name}
    # The cohort of two is never drawn on its own: no label, no legend entry, no row.
    for name, text in texts.items():
        assert not any("JP" in t for t in text), name
    assert {"ROK", "US"} <= set(texts["cohorts"])
    strip = texts["question-Q01"]
    assert "Consensus" in strip and any(t.startswith("other (") for t in strip)
    jp_experts = {e for e, x in result["experts"].items() if x["cohort"] == "JP"}
    assert not jp_experts & set(texts["expert-bias"])  # bias is within-cohort: hidden
    assert not jp_experts & set(texts["expert-slope"])  # and so is the slope
    assert jp_experts <= set(texts["expert-noise"])
    shown = {e for e, x in result["experts"].items() if x["cohort"] != "JP"}
    assert shown <= set(texts["expert-slope"])
    assert any(
        t.startswith("Slope (1 = a typical expert of the cohort)") for t in texts["expert-slope"]
    )


@pytest.mark.slow
def test_a_fit_with_pooled_cohorts_draws_every_figure_but_the_cohorts(settings):
    """Cohorts that share no question are pooled by the model (no cohort beliefs): the
    figures the page shows are still drawn, and no cohort forest is attempted."""
    from aggregation.engine.hierarchical import BinaryHierarchicalModel
    from aggregation.engine.summary import summarize_hierarchical

    frame = simulate_binary_panel(n_experts=12, n_questions=6, seed=4).judgments
    table = JudgmentTable.from_frame(own_questions(frame))
    model = BinaryHierarchicalModel(sampler_config={"chains": 2, "draws": 100, "tune": 100})
    fit = model.fit(table, random_seed=1)
    result = summarize_hierarchical(fit, table)
    assert result["cohorts_pooled"] is not None
    assert len(cohort_privacy.cohorts_shown(cohort_privacy.cohort_sizes_of_table(table))) == 2
    figures = reports.figures_render(result=result, fit=fit, table=table, folder=Path("pooled"))
    assert {"consensus", "disagreement", "expert-bias", "expert-slope", "expert-noise"} <= set(
        figures
    )
    assert "cohorts" not in figures


@pytest.mark.slow
def test_figures_are_drawn_the_same_twice(tiny_fit, settings):
    fit, table, result = tiny_fit
    first = reports.figures_render(result=result, fit=fit, table=table, folder=Path("a"))
    second = reports.figures_render(result=result, fit=fit, table=table, folder=Path("b"))
    media = Path(settings.MEDIA_ROOT)
    for name in first:
        assert (media / first[name]).read_bytes() == (media / second[name]).read_bytes(), name


def _labels_top_down(figure) -> list[str]:
    """The forest's row labels from the top row down (the first axes holds the labels)."""
    texts = figure.axes[0].texts
    return [t.get_text() for t in sorted(texts, key=lambda t: -t.get_position()[1])]


@pytest.mark.slow
def test_forests_rank_questions(tiny_fit, settings):
    import matplotlib.pyplot as plt

    from aggregation.engine.summary import derived_draws

    fit, table, result = tiny_fit
    posterior = fit.posterior["posterior"].to_dataset()
    draws = derived_draws(posterior, [str(c) for c in posterior["cohort"].values])
    questions = result["questions"]
    contested = sorted(questions, key=lambda q: -questions[q]["disagreement"]["mean"])
    figure = plots.disagreement_forest(draws, result)
    assert _labels_top_down(figure) == contested
    shown = ["ROK", "US"]
    divergent = sorted(questions, key=lambda q: -cohort_privacy.largest_gap(questions[q], shown))
    figure_cohorts = plots.cohort_forest(draws, result, shown)
    assert _labels_top_down(figure_cohorts) == divergent
    consensus = plots.consensus_forest(draws, result)
    assert _labels_top_down(consensus) == list(questions)
    # 40 to 60 questions stay readable: the height grows with the rows
    assert figure.get_size_inches()[1] == pytest.approx(1.0 + plots.ROW * 5)
    plt.close("all")


@pytest.mark.slow
def test_pool_figures(tiny_fit, settings):
    from aggregation.engine.summary import summarize_pool

    _, table, _ = tiny_fit
    result = summarize_pool(table, "median", extremize_factor=2.5)
    figures = reports.figures_render(result=result, fit=None, table=table, folder=Path("pool"))
    names = ["pooled", *[f"question-{q}" for q in table.questions]]
    assert list(figures) == names + [f"{name}__ko" for name in names]
    texts = _svg_text(Path(settings.MEDIA_ROOT) / figures["pooled"])
    assert "Median (this run)" in texts and set(table.questions) <= set(texts)
    assert "중앙값 (이 실행)" in _svg_text(Path(settings.MEDIA_ROOT) / figures["pooled__ko"])


def test_pooled_dots_scale_with_the_number_of_questions():
    import matplotlib.pyplot as plt

    questions = {
        f"Q{k:02d}": {"consensus": {"mean": 0.5}, "baselines": dict.fromkeys(
            plots.BASELINE_LABELS, float(np.clip(k / 60, 0, 1)))}
        for k in range(60)
    }  # fmt: skip
    figure = plots.pooled_dots({"method": "median", "questions": questions})
    assert figure.get_size_inches()[1] == pytest.approx(1.0 + plots.ROW * 60)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == list(questions)
    plt.close(figure)


# --- Through the worker's service -------------------------------------------------------------


@pytest.mark.slow
def test_an_executed_run_is_reported_with_its_figures(
    client, analyst, organizer, closed_round, settings
):
    """aggregation_run_execute on a small round, then the pages serve its real figures."""
    from aggregation.services import aggregation_run_execute, aggregation_run_request

    # The heartbeat thread has its own connection, which cannot see this test's
    # uncommitted rows; a long beat keeps it from writing during this short fit.
    settings.AGGREGATION_HEARTBEAT_SECONDS = 3600
    run, _ = aggregation_run_request(
        survey_round=closed_round, options={"draws": 100, "tune": 100, "chains": 2}
    )
    run = aggregation_run_execute(run_id=run.id)
    assert run.status == AggregationRun.Status.SUCCEEDED, run.error
    assert {"consensus", "disagreement", "cohorts", "question-Q01"} <= set(run.figures)
    assert "expert-bias" in run.figures  # US and ROK have 3 experts each

    client.force_login(analyst)
    page = client.get(reverse("aggregation:round-report", args=[closed_round.id]))
    html = page.content.decode()
    for result in run.question_results.all():
        assert f"{result.consensus:.3f}" in html
        assert f"{result.consensus_lower:.3f} to {result.consensus_upper:.3f}" in html
    for name in run.figures:
        response = client.get(reverse("aggregation:run-figure", args=[run.id, name]))
        assert response["Content-Type"] == "image/svg+xml"
        body = b"".join(response.streaming_content)
        assert body.startswith(b"<?xml") and b"<svg" in body and len(body) > 5000
    client.force_login(organizer)  # the posterior is for organizers only
    posterior = client.get(reverse("aggregation:run-posterior", args=[run.id]))
    assert b"".join(posterior.streaming_content)[:4] == b"\x89HDF"  # NetCDF-4 is HDF5


@pytest.mark.parametrize(
    ("sizes", "labels"),
    [
        ({"US": 20, "ROK": 20}, {"US": "US", "ROK": "ROK"}),
        (
            {"US": 20, "ROK": 20, "JP": 2, "AU": 1},
            {"US": "US", "ROK": "ROK", "JP": "other", "AU": "other"},
        ),
        ({"US": 20, "ROK": 20, "JP": 1}, {"US": "withheld", "ROK": "withheld", "JP": "withheld"}),
        ({"US": 20, "ROK": 2}, {"US": "withheld", "ROK": "withheld"}),
    ],
    ids=["no small cohort", "other has 3", "other would be one person", "other would be two"],
)
def test_per_expert_cohort_labels_never_point_at_fewer_than_the_threshold(sizes, labels, settings):
    settings.REPORT_MIN_COHORT_SIZE = 3
    assert cohort_privacy.expert_cohort_labels(sizes) == labels
