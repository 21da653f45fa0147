"""The round report's section "How the cohorts see each other", its figure and its CSV.

A hierarchical run of a round with meta-predictions also fits the perception model
(``aggregation.engine.perception``); its parts are in the run's result: per question
``perception`` rows (by, of, predicted, actual, error) and ``surprisingly_popular``, and at
the top ``perception`` (the shared misperceptions, the model's diagnostics and timings, the
reciprocal scores). What a page, figure or download prints of them is decided here.

Privacy (``aggregation.cohort_privacy``): a pair (by, of) is shown only when both cohorts
are large enough to be shown. The surprisingly popular answer is of the whole panel and is
shown whatever the cohorts.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from aggregation import cohort_privacy
from aggregation.presenters import Estimate, diagnostics_summary, interval_percent, number_text

FIGURE = "perception"
FIGURE_ROWS = 20  # a briefing figure: the most misjudged (question, pair) rows at most


def has_perception(result: dict | None) -> bool:
    return bool((result or {}).get("perception"))


def shown_cohorts(result: dict) -> list[str]:
    return cohort_privacy.cohorts_shown(cohort_privacy.cohort_sizes_of_result(result))


def perception_rows(result: dict, shown: list[str], *, own: bool = False) -> list[dict]:
    """Every (question, by, of) the model estimated between shown cohorts, most misjudged
    (largest |error|) first; ``own`` keeps a cohort's predictions of itself too."""
    rows = []
    for code, entry in (result.get("questions") or {}).items():
        for row in entry.get("perception") or []:
            if row["by"] not in shown or row["of"] not in shown:
                continue
            if row["by"] == row["of"] and not own:
                continue
            rows.append(
                {"code": code, **row, "surprisingly_popular": entry.get("surprisingly_popular")}
            )
    return sorted(rows, key=lambda row: (-abs(row["error"]["mean"]), row["code"], row["by"]))


def points(value: float | None) -> str:
    """A difference of probabilities in percentage points, whole, without sign."""
    return "—" if value is None else f"{abs(value) * 100:.0f}"


def shared_sentence(shared: dict) -> str:
    """The shared misperception of ``of`` by ``by`` in words an analyst can paste."""
    error = shared["mean_error"]
    mean, (lower, upper) = error["mean"], error["interval"]
    names = {"by": shared["by"], "of": shared["of"]}
    if lower > 0 or upper < 0:  # the interval is on one side of zero
        near, far = sorted((abs(lower), abs(upper)))
        numbers = {**names, "points": points(mean), "lower": points(near), "upper": points(far)}
        if mean > 0:
            return (
                _(
                    "%(by)s respondents expect %(of)s respondents to answer %(points)s points "
                    "(%(lower)s to %(upper)s) higher than they do."
                )
                % numbers
            )
        return (
            _(
                "%(by)s respondents expect %(of)s respondents to answer %(points)s points "
                "(%(lower)s to %(upper)s) lower than they do."
            )
            % numbers
        )
    return _(
        "%(by)s respondents' expectations of %(of)s respondents are not clearly off: "
        "%(points)s points (%(lower)s to %(upper)s) from what they answer."
    ) % {**names, "points": _signed_points(mean), "lower": _signed_points(lower),
         "upper": _signed_points(upper)}  # fmt: skip


def _signed_points(value: float) -> str:
    return f"{value * 100:+.0f}"


@dataclass(frozen=True)
class PageRow:
    """One (question, pair) of the section's table."""

    code: str
    question: object  # elicitation Question, or None when the survey lost it
    by: str
    of: str
    actual: Estimate
    predicted: Estimate
    error: Estimate
    p_overestimates: str
    n_predictions: int
    surprisingly_popular: dict | None


def section_context(run, questions: dict) -> dict | None:
    """The section's context for a run (None without perception results); ``questions``
    maps codes to the survey's Question rows (their text)."""
    result = run.result or {}
    if not has_perception(result):
        return None
    block = result["perception"]
    shown = shown_cohorts(result)
    rows = [
        PageRow(
            code=row["code"],
            question=questions.get(row["code"]),
            by=row["by"],
            of=row["of"],
            actual=Estimate.of(row["actual"]),
            predicted=Estimate.of(row["predicted"]),
            error=Estimate.of(row["error"], signed=True),
            p_overestimates=number_text(row.get("p_overestimates"), 2),
            n_predictions=row.get("n_predictions", 0),
            surprisingly_popular=_popular(row.get("surprisingly_popular")),
        )
        for row in perception_rows(result, shown)
    ]
    shared = [
        {
            "by": s["by"],
            "of": s["of"],
            "sentence": shared_sentence(s),
            "logodds": Estimate.of(s["logodds"], signed=True, digits=2),
            "mean_error": Estimate.of(s["mean_error"], signed=True),
            "p_overestimates": number_text(s.get("p_overestimates"), 2),
        }
        for s in block.get("shared") or []
        if s["by"] != s["of"] and s["by"] in shown and s["of"] in shown
    ]
    popular = [
        {"code": code, "question": questions.get(code), **_popular(entry["surprisingly_popular"])}
        for code, entry in (result.get("questions") or {}).items()
        if entry.get("surprisingly_popular")
    ]
    survey_round = run.survey_round
    return {
        "fitted": "shared" in block,
        "not_fitted": block.get("not_fitted", ""),
        # experts who saw each cohort's previous answers in their feedback predicted with
        # them in view: their predictions say less about what they assumed
        "anchored": bool(survey_round.feedback_round_id and survey_round.show_cohorts),
        "rows": rows,
        "shared": shared,
        "popular": popular,
        "diagnostics": diagnostics_summary(block.get("diagnostics") or {}),
        "model": block.get("model") or {},
        "timings": block.get("timings") or {},
        "interval_percent": interval_percent(result),
        "hidden_cohorts": cohort_privacy.hidden_cohort_count(result, shown),
        "min_cohort_size": settings.REPORT_MIN_COHORT_SIZE,
        "n_shown": len(shown),
        "has_posterior": bool(block.get("posterior")),
        "figure_rows": min(len(rows), FIGURE_ROWS),
    }


def _popular(entry: dict | None) -> dict | None:
    if not entry:
        return None
    return {
        "answer": _("yes") if entry["answer"] == "yes" else _("no"),
        "mean_answer": number_text(entry.get("mean_answer")),
        "predicted_answer": number_text(entry.get("predicted_answer")),
        "pivot": number_text(entry.get("pivot")),
    }


# --- The figure ----------------------------------------------------------------------------


def figure_rows(result: dict, texts: dict[str, str]) -> list[dict]:
    """The figure's rows: the most misjudged (question, pair)s between shown cohorts, each
    labelled by its question's text (``texts``: code -> text in the drawing's language)."""
    rows = perception_rows(result, shown_cohorts(result))[:FIGURE_ROWS]
    return [
        {
            "label": f"{texts.get(row['code']) or row['code']} ({row['code']})",
            "by": row["by"],
            "of": row["of"],
            "actual": row["actual"],
            "predicted": row["predicted"],
        }
        for row in rows
    ]


# --- The CSV ------------------------------------------------------------------------------


CSV_HEADER = [
    "question", "text", "by", "of", "actual_mean", "actual_lower", "actual_upper",
    "predicted_mean", "predicted_lower", "predicted_upper", "error_mean", "error_lower",
    "error_upper", "p_overestimates", "n_predictions", "surprisingly_popular",
    "mean_answer", "predicted_answer", "pivot",
]  # fmt: skip


def csv_rows(result: dict, questions: dict) -> list[list]:
    """The perception rows of shown cohorts (a cohort's predictions of itself included),
    most misjudged first; probabilities; error = predicted - actual belief."""
    rows = [CSV_HEADER]
    for row in perception_rows(result, shown_cohorts(result), own=True):
        question = questions.get(row["code"])
        popular = row.get("surprisingly_popular") or {}
        values = [row["code"], question.text if question else "", row["by"], row["of"]]
        for key in ("actual", "predicted", "error"):
            lower, upper = row[key].get("interval") or (None, None)
            values += [row[key]["mean"], lower, upper]
        values += [row.get("p_overestimates"), row.get("n_predictions")]
        values += [popular.get(k) for k in ("answer", "mean_answer", "predicted_answer", "pivot")]
        rows.append(["" if v is None else v for v in values])
    return rows
