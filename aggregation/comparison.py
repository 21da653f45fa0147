"""The round comparison of the report: how a follow-up round moved the panel.

Each question's consensus and disagreement in the two rounds side by side, which experts
(by code) moved and toward what, and how much the spread shrank. When the run that fits the
two rounds together has finished (``aggregation.engine.rounds``: an expert's answers to a
question are linked across rounds), its change of consensus with an interval and P(rise),
its ratio of disagreements and the persistence of experts' views are shown as well; the
counts of moved answers are descriptive either way.
"""

import numpy as np

from aggregation import reports, selectors
from aggregation.engine.data import logit
from aggregation.models import AggregationRun
from elicitation.models import Round

Method = AggregationRun.Method


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
            "consensus": reports.Estimate(
                result.consensus, result.consensus_lower, result.consensus_upper
            ),
            "disagreement": reports.Estimate(
                result.disagreement, result.disagreement_lower, result.disagreement_upper, digits=2
            ),
        }
    values = [j.probability if question.is_binary else j.q50 for j in answers.values()]
    middle = float(np.median(values)) if values else None
    return {
        "from_model": False,
        "consensus": reports.Estimate(middle, digits=3 if question.is_binary else 1),
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


def round_comparison_context(earlier: Round, later: Round) -> dict:
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
    linked_run, linked_state = _linked(earlier, later)
    if linked_state == "succeeded":
        for row in rows:
            row["linked"] = _linked_row(linked_run.result["questions"].get(row["question"].code))
    return {
        "earlier": earlier,
        "later": later,
        "round_runs": list(zip((earlier, later), runs, strict=True)),
        "linked_run": linked_run,
        "linked_state": linked_state,
        "linked": _linked_panel(linked_run) if linked_state == "succeeded" else None,
        "binary_rows": [r for r in rows if r["question"].is_binary],
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
    if entry is None:
        return None
    shift = entry["consensus_shift"]
    return {
        "shift": reports.Estimate.of(shift, signed=True),
        "p_increase": shift["p_increase"],
    }


def _linked_panel(run: AggregationRun) -> dict:
    result = run.result
    ratio = result["panel"]["median_disagreement_ratio"]
    return {
        "persistence": reports.Estimate.of(result["persistence"], digits=2),
        "median_disagreement_ratio": reports.Estimate.of(ratio, digits=2),
        "n_linked_pairs": result["n_linked_pairs"],
        "interval_percent": f"{result['interval_mass'] * 100:g}",
    }
