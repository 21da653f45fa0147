"""The round comparison of the report: how a follow-up round moved the panel.

One story, told once. When the run that fits the two rounds together has finished
(``aggregation.engine.rounds``: an expert's answers to a question are linked across
rounds), every model number on the page comes from it: three headlines (the change of
consensus, one ratio of disagreement, the persistence of experts' views), a figure of each
question's consensus in both rounds with an arrow for the paired change, and a table of the
same numbers sorted the same way. Until then the page shows its progress and each round's
own fit, and says so. Which experts (by code) moved, and toward what, is counted from the
answers either way.
"""

import hashlib
import json

import numpy as np
from django.core.cache import cache
from django.utils import translation
from django.utils.translation import gettext

from aggregation import presenters, selectors
from aggregation.engine import plots
from aggregation.engine.data import logit
from aggregation.models import AggregationRun
from elicitation.models import Round
from elicitation.texts import localized

Method = AggregationRun.Method
FIGURE_VERSION = 1  # raise it when the figure's drawing changes: the cache keys change with it


def _scale(question, judgment) -> float:
    """An answer on the scale movements are measured on: log-odds, or the question's."""
    if question.is_binary:
        return _logit(judgment.probability)
    if question.scale == question.Scale.LOG and judgment.q50 > 0:
        return float(np.log(judgment.q50))
    return float(judgment.q50)


def _logit(probability: float) -> float:
    return float(logit(probability))  # clipped as the engine clips (DESIGN.md)


def _iqr(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


def _ratio(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None or earlier <= 0:
        return None
    return later / earlier


def _answers_by_question(survey_round: Round) -> dict[int, dict[str, object]]:
    """question id -> expert code -> judgment, of the experts who submitted the round."""
    answers: dict[int, dict[str, object]] = {}
    for judgment in selectors.round_judgments_submitted(survey_round=survey_round):
        answers.setdefault(judgment.question_id, {})[judgment.expert.code] = judgment
    return answers


def _question_comparison(question, before: dict, after: dict, results: tuple) -> dict:
    first, second = results
    scaled_before = {code: _scale(question, j) for code, j in before.items()}
    scaled_after = {code: _scale(question, j) for code, j in after.items()}
    if question.is_binary and first is not None:
        anchor = _logit(first.consensus)  # the round-1 consensus, on the log-odds scale
    else:
        anchor = float(np.median(list(scaled_before.values()))) if scaled_before else None
    movers, stayed = [], 0
    for code in sorted(set(before) & set(after)):
        delta = scaled_after[code] - scaled_before[code]
        if abs(delta) < 1e-9:
            stayed += 1
            continue
        toward = anchor is not None and abs(scaled_after[code] - anchor) < abs(
            scaled_before[code] - anchor
        )
        movers.append(
            {
                "code": code,
                "before": _answer_text(question, before[code]),
                "after": _answer_text(question, after[code]),
                "delta": delta,
                "toward": toward,
                "reason": after[code].change_reason.strip(),
            }
        )
    iqr_before = _iqr(list(scaled_before.values()))
    iqr_after = _iqr(list(scaled_after.values()))
    return {
        "question": question,
        "first": _estimates(question, first, before),
        "second": _estimates(question, second, after),
        "disagreement_ratio": _ratio(
            second.disagreement if second else None, first.disagreement if first else None
        ),
        "iqr_before": iqr_before,
        "iqr_after": iqr_after,
        "iqr_ratio": _ratio(iqr_after, iqr_before),
        "movers": movers,
        "n_both": stayed + len(movers),
        "n_toward": sum(1 for m in movers if m["toward"]),
        "n_away": sum(1 for m in movers if not m["toward"]),
    }


def _estimates(question, result, answers: dict) -> dict:
    """Consensus and disagreement of one round: the model's, else the median answer."""
    if result is not None:
        return {
            "from_model": True,
            "consensus": presenters.Estimate(
                result.consensus, result.consensus_lower, result.consensus_upper
            ),
            "disagreement": presenters.Estimate(
                result.disagreement, result.disagreement_lower, result.disagreement_upper, digits=2
            ),
        }
    values = [j.probability if question.is_binary else j.q50 for j in answers.values()]
    middle = float(np.median(values)) if values else None
    return {
        "from_model": False,
        "consensus": presenters.Estimate(middle, digits=3 if question.is_binary else 1),
        "disagreement": None,
    }


def _answer_text(question, judgment) -> str:
    if question.is_binary:
        return f"{judgment.probability:.2f}"
    return f"{judgment.q05:g} / {judgment.q50:g} / {judgment.q95:g}"


def _expert_rows(rows: list[dict]) -> list[dict]:
    experts: dict[str, dict] = {}
    for row in rows:
        for mover in row["movers"]:
            entry = experts.setdefault(
                mover["code"], {"code": mover["code"], "moved": 0, "toward": 0, "away": 0,
                                "binary_moves": []}
            )  # fmt: skip
            entry["moved"] += 1
            entry["toward" if mover["toward"] else "away"] += 1
            if row["question"].is_binary:
                entry["binary_moves"].append(abs(mover["delta"]))
    for entry in experts.values():
        moves = entry.pop("binary_moves")
        entry["median_logodds"] = float(np.median(moves)) if moves else None
    return sorted(experts.values(), key=lambda e: (-e["moved"], e["code"]))


def round_comparison_context(earlier: Round, later: Round, *, language: str = "en") -> dict:
    runs = tuple(
        selectors.round_latest_succeeded_run(survey_round=r, method=Method.HIERARCHICAL)
        for r in (earlier, later)
    )
    results = [
        {r.question_id: r for r in selectors.run_question_results(run=run)} if run else {}
        for run in runs
    ]
    before, after = _answers_by_question(earlier), _answers_by_question(later)
    common = later.questions.filter(id__in=earlier.questions.values("id")).order_by(
        "position", "id"
    )
    rows = [
        _question_comparison(
            q, before.get(q.id, {}), after.get(q.id, {}),
            (results[0].get(q.id), results[1].get(q.id)),
        )
        for q in common
    ]  # fmt: skip
    disagreement_ratios = [r["disagreement_ratio"] for r in rows if r["disagreement_ratio"]]
    iqr_ratios = [r["iqr_ratio"] for r in rows if r["iqr_ratio"] is not None]
    experts = _expert_rows(rows)
    in_both = {
        code for q in common for code in set(before.get(q.id, {})) & set(after.get(q.id, {}))
    }
    for row in rows:
        row["text"] = localized(row["question"], "text", language).text
    linked_run, linked_state = _linked(earlier, later)
    binary_rows = [r for r in rows if r["question"].is_binary]
    if linked_state == "succeeded":
        for row in binary_rows:
            row["linked"] = _linked_row(linked_run.result["questions"].get(row["question"].code))
        # the figure's order: largest rise first, questions outside the fit last
        binary_rows.sort(key=lambda r: -r["linked"]["shift"].mean if r["linked"] else np.inf)
    kept = sum(r["n_both"] - len(r["movers"]) for r in binary_rows)
    paired = sum(r["n_both"] for r in binary_rows)
    return {
        "earlier": earlier,
        "later": later,
        "round_runs": list(zip((earlier, later), runs, strict=True)),
        "linked_run": linked_run,
        "linked_state": linked_state,
        "linked": _linked_panel(linked_run) if linked_state == "succeeded" else None,
        "linked_progress": presenters.run_progress_state(linked_run)
        if linked_state == "pending"
        else None,
        "headlines": _headlines(binary_rows, linked_run if linked_state == "succeeded" else None),
        **(_figure_texts(linked_run, len(binary_rows)) if linked_state == "succeeded" else {}),
        "answers_kept": {"kept": kept, "paired": paired},
        "binary_rows": binary_rows,
        "numeric_rows": [r for r in rows if not r["question"].is_binary],
        "expert_rows": experts,
        "panel": {
            "median_disagreement_ratio": float(np.median(disagreement_ratios))
            if disagreement_ratios
            else None,
            "n_disagreement": len(disagreement_ratios),
            "median_iqr_ratio": float(np.median(iqr_ratios)) if iqr_ratios else None,
            "n_iqr": len(iqr_ratios),
            "n_experts": len(in_both),
            "n_moved": len(experts),
            "n_toward": sum(r["n_toward"] for r in rows),
            "n_away": sum(r["n_away"] for r in rows),
        },
    }


def _linked(earlier: Round, later: Round) -> tuple[AggregationRun | None, str]:
    """The run fitting these two rounds together and its state for the page: "none" (no
    probability answers to link, so no such run is ever asked for), "missing" (none asked
    for yet), "pending", "failed" or "succeeded"."""
    if selectors.round_linkable_previous(survey_round=later) != earlier:
        return None, "none"
    run = selectors.round_linked_run(earlier=earlier, later=later)
    if run is None:
        return None, "missing"
    if run.status in (AggregationRun.Status.QUEUED, AggregationRun.Status.RUNNING):
        return run, "pending"
    return run, run.status


def _linked_row(entry: dict | None) -> dict | None:
    """A question's numbers from the fit of both rounds together."""
    if entry is None:
        return None
    shift = entry["consensus_shift"]
    rounds = entry["rounds"]
    first, last = rounds[min(rounds, key=int)], rounds[max(rounds, key=int)]
    return {
        "first": presenters.Estimate.of(first["consensus"]),
        "last": presenters.Estimate.of(last["consensus"]),
        "first_point": first["consensus"],
        "last_point": last["consensus"],
        "shift": presenters.Estimate.of(shift, signed=True),
        "shift_point": shift,
        "p_increase": shift["p_increase"],
        "ratio": presenters.Estimate.of(entry.get("disagreement_ratio"), digits=2),
    }


def _linked_panel(run: AggregationRun) -> dict:
    result = run.result
    ratio = result["panel"]["median_disagreement_ratio"]
    return {
        "persistence": presenters.Estimate.of(result["persistence"], digits=2),
        "median_disagreement_ratio": presenters.Estimate.of(ratio, digits=2),
        "n_linked_pairs": result["n_linked_pairs"],
        "interval_percent": f"{result['interval_mass'] * 100:g}",
        "rounds": (result["rounds"][0], result["rounds"][-1]),
    }


def _headlines(rows: list[dict], linked_run: AggregationRun | None) -> dict:
    """The page's three numbers: the change of consensus, one ratio of disagreement (the
    joint fit's when there is one, else the median of the two rounds' own fits), and the
    persistence (the joint fit's only)."""
    if linked_run is not None:
        shifts = [r for r in rows if r.get("linked")]
        rose = [r for r in shifts if _direction(r["linked"]["shift"]) > 0]
        fell = [r for r in shifts if _direction(r["linked"]["shift"]) < 0]
        largest = max(shifts, key=lambda r: abs(r["linked"]["shift"].mean), default=None)
        ratio = linked_run.result["panel"]["median_disagreement_ratio"]
        return {
            "source": "linked",
            "change": {
                "n": len(shifts),
                "rose": len(rose),
                "fell": len(fell),
                "unclear": len(shifts) - len(rose) - len(fell),
                "largest": largest,
                "largest_shift": largest["linked"]["shift"] if largest else None,
            },
            "ratio": presenters.Estimate.of(ratio, digits=2),
            "n_ratio": len(shifts),
            "persistence": presenters.Estimate.of(linked_run.result["persistence"], digits=2),
        }
    moved = [
        (r, r["second"]["consensus"].mean - r["first"]["consensus"].mean)
        for r in rows
        if r["first"]["from_model"] and r["second"]["from_model"]
    ]
    ratios = [r["disagreement_ratio"] for r in rows if r["disagreement_ratio"]]
    largest = max(moved, key=lambda pair: abs(pair[1]), default=None)
    return {
        "source": "separate",
        "change": {
            "n": len(moved),
            "median": presenters.Estimate(
                float(np.median([d for _r, d in moved])) if moved else None, signed=True
            ),
            "largest": largest[0] if largest else None,
            "largest_shift": presenters.Estimate(largest[1], signed=True) if largest else None,
        },
        "ratio": presenters.Estimate(float(np.median(ratios)) if ratios else None, digits=2),
        "n_ratio": len(ratios),
        "persistence": None,
    }


def _direction(shift: presenters.Estimate) -> int:
    """+1 or -1 when the change's interval leaves out zero on that side, else 0."""
    if shift.lower is None or shift.upper is None:
        return 0
    return 1 if shift.lower > 0 else -1 if shift.upper < 0 else 0


# --- The figure ----------------------------------------------------------------------------


def figure_svg(earlier: Round, later: Round, *, language: str) -> str | None:
    """The figure of each question's consensus in both rounds, from the joint fit, with its
    labels and question texts in ``language``; None until that fit has finished. Drawn on
    first request and kept in the cache, keyed by what it shows (a question's wording can
    change after the fit)."""
    run, state = _linked(earlier, later)
    if state != "succeeded":
        return None
    common = later.questions.filter(id__in=earlier.questions.values("id")).order_by("id")
    texts = "\n".join(f"{q.code}\t{localized(q, 'text', language).text}" for q in common)
    numbers = json.dumps(run.result, sort_keys=True)  # ids can repeat (a restored database)
    digest = hashlib.sha256(f"{texts}\n{numbers}".encode()).hexdigest()[:16]
    key = f"comparison-figure:v{FIGURE_VERSION}:{run.id}:{language}:{digest}"
    svg = cache.get(key)
    if svg is None:
        context = round_comparison_context(earlier, later, language=language)
        rows = [r for r in context["binary_rows"] if r.get("linked")]
        svg = _draw(rows, context["linked"], language)
        cache.set(key, svg, timeout=7 * 24 * 3600)
    return svg


def _draw(rows: list[dict], linked: dict, language: str) -> str:
    first, last = linked["rounds"]
    with translation.override(language), plots.translating(gettext):
        points = [
            {
                "label": f"{r['text']} ({r['question'].code})",
                "first": r["linked"]["first_point"],
                "last": r["linked"]["last_point"],
                "shift": r["linked"]["shift_point"],
            }
            for r in rows
        ]
        mass = float(linked["interval_percent"]) / 100
        return plots.svg_text(
            lambda: plots.rounds_chart(points, first=str(first), last=str(last), mass=mass),
            title=figure_title(first, last),
            desc=figure_description(len(rows), first, last, linked["interval_percent"]),
        )


def _figure_texts(run: AggregationRun, n: int) -> dict:
    result = run.result
    first, last = result["rounds"][0], result["rounds"][-1]
    percent = f"{result['interval_mass'] * 100:g}"
    return {
        "figure_title": figure_title(first, last),
        "figure_alt": figure_description(n, first, last, percent),
    }


def figure_title(first, last) -> str:
    return gettext("Each question's consensus in round %(first)s and round %(last)s") % {
        "first": first,
        "last": last,
    }


def figure_description(n: int, first, last, percent: str) -> str:
    return gettext(
        "For each of the %(n)s probability questions, labelled by its text: a hollow grey dot "
        "for the consensus of round %(first)s and a blue dot for round %(last)s, each with "
        "its %(percent)s %% interval, and an arrow from one to the other. Questions are "
        "sorted by the change, largest rise first. The table below lists the same numbers."
    ) % {"n": n, "first": first, "last": last, "percent": percent}
