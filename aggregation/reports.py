"""A run's figures as files: drawn by ``aggregation.engine.plots`` (no Django), once per
site language, saved as SVG under MEDIA_ROOT.

``figures_render`` is called by the worker after a fit; the files are served through the
report views, which check who may read them. Figure names are stable (the views and the
downloads refer to them):

- hierarchical runs: ``consensus`` (forest of every question's consensus, baselines beside
  it), ``disagreement`` (forest, most contested first), ``cohorts`` (each question's cohort
  beliefs side by side, most divergent first; only with two cohorts large enough to show),
  ``expert-bias`` and ``expert-noise`` (forests by anonymised code);
- pool runs: ``pooled`` (a dot chart of the pooled value and every baseline);
- both: ``question-<code>`` for every question (each answer as a dot by cohort, jittered,
  with the consensus and the cohort posteriors over them);
- linked runs: ``consensus-shift``;
- hierarchical runs of a round with meta-predictions: ``perception`` (how each cohort
  expected another to answer against what it believes, most misjudged first, labelled by
  the questions' texts in the drawing's language; ``aggregation.perception_reports``).

Which cohorts are drawn on their own is ``aggregation.cohort_privacy``'s decision; the page
tables are ``aggregation.presenters``'.
"""

import re
from pathlib import Path

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from aggregation import cohort_privacy, perception_reports
from aggregation.engine import plots
from aggregation.engine.data import JudgmentTable
from aggregation.engine.hierarchical import HierarchicalFit
from aggregation.engine.summary import answered_cells, derived_draws
from elicitation.texts import localized


def question_figure_name(code: str) -> str:
    """The figure name of a question's dot strip (safe in a URL and a file name)."""
    return "question-" + re.sub(r"[^A-Za-z0-9_-]", "_", code)


def localized_figure_name(name: str, language: str) -> str:
    """The name of a figure's drawing in ``language`` (the site's language: the name)."""
    return name if language == settings.LANGUAGE_CODE else f"{name}__{language}"


def figures_render(
    *,
    result: dict,
    fit: HierarchicalFit | None,
    table: JudgmentTable,
    folder: Path,
    questions: list | None = None,
) -> dict[str, str]:
    """Draw the run's figures into MEDIA_ROOT/folder; returns name -> path under MEDIA_ROOT.

    ``questions``: the survey's Question rows, whose texts label the perception figure."""
    shown = cohort_privacy.cohorts_shown(cohort_privacy.cohort_sizes_of_table(table))
    drawings = {}
    if result["method"] == "linked_rounds":
        posterior = fit.posterior["posterior"].to_dataset()
        shift = {"consensus-shift": lambda: plots.consensus_shift_forest(posterior, result)}
        return draw_in_every_language(shift, folder)
    if fit is not None:
        posterior = fit.posterior["posterior"].to_dataset()
        cohorts = [str(c) for c in posterior["cohort"].values]
        draws = derived_draws(posterior, cohorts, answered_cells(fit.posterior))
        drawings["consensus"] = lambda: plots.consensus_forest(draws, result)
        drawings["disagreement"] = lambda: plots.disagreement_forest(draws, result)
        if len(shown) >= 2 and "cohort_belief" in draws:  # none when the fit pooled them
            drawings["cohorts"] = lambda: plots.cohort_forest(draws, result, shown)
        experts = cohort_privacy.experts_with_bias(result, shown)
        if experts:
            drawings["expert-bias"] = lambda: plots.expert_forest(draws, "bias", experts, result)
        if experts and "slope" in draws:  # measured within the cohort, as the bias is
            drawings["expert-slope"] = lambda: plots.expert_forest(draws, "slope", experts, result)
        everyone = list(result["experts"])
        drawings["expert-noise"] = lambda: plots.expert_forest(draws, "noise", everyone, result)
        perception = perception_drawing(result, questions or [])
        if perception is not None:
            drawings[perception_reports.FIGURE] = perception
    else:
        drawings["pooled"] = lambda: plots.pooled_dots(result)
    frame = table.frame
    for code in table.questions:
        answers = frame[frame["question"] == code]
        entry = result["questions"][code]
        drawings[question_figure_name(code)] = lambda answers=answers, entry=entry, code=code: (
            plots.question_strip(code, answers, entry, shown, result)
        )
    return draw_in_every_language(drawings, folder)


def perception_drawing(result: dict, questions: list):
    """The perception figure's drawing, in whatever language it is called under; None when
    the run has no perception rows between cohorts large enough to show."""
    if not perception_reports.figure_rows(result, {}):
        return None

    def draw():
        language = translation.get_language()
        texts = {q.code: localized(q, "text", language).text for q in questions}
        rows = perception_reports.figure_rows(result, texts)
        return plots.perception_chart(rows, mass=result.get("interval_mass", 0.9))

    return draw


def draw_in_every_language(drawings: dict, folder: Path) -> dict[str, str]:
    """Each figure once per site language, its labels translated (``name__ko``); returns
    name -> path under MEDIA_ROOT."""
    (Path(settings.MEDIA_ROOT) / folder).mkdir(parents=True, exist_ok=True)
    figures = {}
    for language, _label in settings.LANGUAGES:
        with translation.override(language), plots.translating(gettext):
            for name, draw in drawings.items():
                localized = localized_figure_name(name, language)
                relative = folder / f"{localized}.svg"
                path = Path(settings.MEDIA_ROOT) / relative
                path.write_text(plots.svg_text(draw), encoding="utf-8")
                figures[localized] = str(relative)
    return figures
