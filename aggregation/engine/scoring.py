"""Scores of probability forecasts on resolved binary questions, and the outcomes they need.

For forecasts p_j of questions j = 1..n whose outcomes y_j (1 = happened, 0 = did not) are
known:

- Brier score     B = mean_j (p_j - y_j)^2                  (Brier 1950, Monthly Weather
  Review 78(1):1-3). 0 is perfect, 0.25 is what "50 %" always earns, 1 is the worst; lower
  is better.
- log score       S = mean_j log q_j, q_j = p_j if y_j = 1 else 1 - p_j   (natural log; the
  positively oriented logarithmic score of Gneiting & Raftery 2007, JASA 102(477):359-378).
  0 is perfect, log 0.5 = -0.693 is what "50 %" earns; HIGHER (closer to 0) is better.
  Forecasts are clipped to [0.005, 0.995] first, the rule ``data.clip_probabilities``
  applies to every log-odds method, so a confident miss costs log 0.005 = -5.3 rather than
  minus infinity (people do answer 0 % and 100 %).
- AUC             the probability that a question that happened got a higher forecast
  than one that did not, ties counting one half: the Mann-Whitney U statistic divided by
  n_1 n_0 (Hanley & McNeil 1982, Radiology 143:29-36). 0.5 is no discrimination; it is
  undefined (NaN) unless both outcomes occur.

Per expert, the scores cover the questions that expert answered, so they are compared with
the panel on the SAME questions: ``relative_brier`` is the mean over those questions of the
expert's Brier score minus the mean Brier score of the other experts who answered it
(negative: better than the rest of the panel), as in the Good Judgment Project's
standardized scores (Mellers et al. 2014, Psychological Science 25(5):1106-1115).

The reliability (calibration) curve bins the forecasts and gives, per bin, the mean
forecast, the observed frequency and its Jeffreys interval, the central interval of the
Beta(k + 1/2, n - k + 1/2) posterior of the frequency (Brown, Cai & DasGupta 2001,
Statistical Science 16(2):101-133): with few questions per bin the interval is wide, and a
plot that draws it shows how little a few resolved questions say about calibration.

Outcomes are validated like judgments (``data.py``): ``outcomes_from_frame`` /
``read_outcomes`` list every problem, each naming its line.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from aggregation.engine.data import (
    JudgmentDataError,
    JudgmentTable,
    _csv_rows,
    _read_text,
    clip_probabilities,
    logit,
)

OUTCOME_COLUMNS = ("question", "outcome")
OPTIONAL_OUTCOME_COLUMNS = ("group",)
_TRUE = {"1", "1.0", "yes", "true", "y"}
_FALSE = {"0", "0.0", "no", "false", "n"}
MAX_PROBLEMS_LISTED = 20


class OutcomeDataError(ValueError):
    """The outcomes cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_LISTED]
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more problems" if more > 0 else ""))


# --- outcomes ---------------------------------------------------------------------------
def outcomes_from_frame(frame: pd.DataFrame, *, lines: Iterable[int] | None = None) -> pd.DataFrame:
    """Validate resolved outcomes; raise OutcomeDataError listing every problem.

    Parameters
    ----------
    frame : DataFrame with columns question and outcome (1/0, yes/no, true/false), and
        optionally group (e.g. the scenario or project a question belongs to; the
        recalibration can learn a calibration per group).
    lines : file line of each row, for the messages (default: header = line 1).

    Returns
    -------
    DataFrame indexed by question (str, sorted) with columns outcome (int 0/1) and group
    (str; "" when the file has no groups).
    """
    frame = frame.rename(columns=lambda c: str(c).strip().lower()).reset_index(drop=True)
    lines = list(lines) if lines is not None else list(range(2, len(frame) + 2))
    columns = list(frame.columns)
    problems = [f"missing column '{c}'" for c in OUTCOME_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in OUTCOME_COLUMNS + OPTIONAL_OUTCOME_COLUMNS]
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(repr(c) for c in unknown)}; expected question, "
            "outcome and optionally group"
        )
    if problems:
        raise OutcomeDataError(problems)
    if frame.empty:
        raise OutcomeDataError(["there are no outcomes (no data rows)"])
    if "group" not in frame.columns:
        frame["group"] = ""
    values = []
    for line, question, outcome, group in zip(
        lines, frame["question"], frame["outcome"], frame["group"], strict=True
    ):
        if _blank(question):
            problems.append(f"line {line}: 'question' is empty")
        if "group" in columns and _blank(group):
            problems.append(f"line {line}: 'group' is empty")
        text = "" if _blank(outcome) else str(outcome).strip().lower()
        if text in _TRUE:
            values.append(1)
        elif text in _FALSE:
            values.append(0)
        else:
            values.append(-1)
            problems.append(
                f"line {line}: outcome {outcome!r} is not 1 or 0 (yes/no); leave open or "
                "annulled questions out of the file"
                if text
                else f"line {line}: 'outcome' is empty; leave open or annulled questions out"
            )
    questions = frame["question"].astype(str).str.strip()
    for question in sorted(questions[questions.duplicated(keep=False)].unique()):
        where = ", ".join(str(lines[i]) for i in np.flatnonzero(questions == question))
        problems.append(f"question {question} has more than one outcome (lines {where})")
    if problems:
        raise OutcomeDataError(problems)
    result = pd.DataFrame(
        {
            "outcome": np.array(values, dtype=np.int64),
            "group": frame["group"].fillna("").astype(str).str.strip().to_numpy(),
        },
        index=pd.Index(questions.to_numpy(), name="question"),
    )
    return result.sort_index()


def outcomes_from_rows(rows: Iterable[Mapping]) -> pd.DataFrame:
    """Validated outcomes from dicts with keys question, outcome[, group] (e.g. DB rows)."""
    rows = list(rows)
    columns = list(rows[0].keys()) if rows else list(OUTCOME_COLUMNS)
    return outcomes_from_frame(pd.DataFrame(rows, columns=columns))


def as_outcome_frame(outcomes) -> pd.DataFrame:
    """Outcomes in any accepted form as the frame ``outcomes_from_frame`` returns.

    Parameters
    ----------
    outcomes : that frame (outcome and optional group columns, indexed by question), a
        Series question -> 0/1, or a mapping question -> 0/1.
    """
    if isinstance(outcomes, pd.DataFrame):
        frame = outcomes.copy()
        if "group" not in frame:
            frame["group"] = ""
        frame["group"] = frame["group"].fillna("").astype(str)
        values = frame["outcome"]
    else:
        values = pd.Series(dict(outcomes) if isinstance(outcomes, Mapping) else outcomes)
        frame = pd.DataFrame({"outcome": values, "group": ""}, index=values.index)
    if not values.isin([0, 1]).all():
        raise OutcomeDataError(["outcomes must be 0 or 1"])
    frame["outcome"] = frame["outcome"].astype(np.int64)
    frame.index = frame.index.astype(str).rename("question")
    return frame[["outcome", "group"]].sort_index()


def read_outcomes(source) -> pd.DataFrame:
    """Read and validate an outcomes CSV (``question,outcome[,group]``); see outcomes_from_frame."""
    try:
        rows = _csv_rows(_read_text(source))
    except JudgmentDataError as exc:  # file-level problems: missing, folder, not UTF-8, CSV
        raise OutcomeDataError(exc.problems) from None
    rows = [(line, row) for line, row in rows if any(field.strip() for field in row)]
    if not rows:
        raise OutcomeDataError(["the file is empty; expected a header line question,outcome"])
    (_, header), body = rows[0], rows[1:]
    bad = [
        f"line {line}: {len(row)} fields, but the header has {len(header)}"
        for line, row in body
        if len(row) != len(header)
    ]
    if bad:
        raise OutcomeDataError(bad)
    frame = pd.DataFrame([row for _, row in body], columns=header, dtype=str)
    return outcomes_from_frame(frame, lines=[line for line, _ in body])


def _blank(value) -> bool:
    return (
        value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""
    )


# --- scores -----------------------------------------------------------------------------
def _arrays(p, outcome) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(outcome, dtype=float).ravel()
    if p.shape != y.shape:
        raise ValueError(f"{p.size} forecasts but {y.size} outcomes")
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise ValueError("outcomes must be 0 or 1")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("forecasts must be probabilities in [0, 1]")
    return p, y


def brier_scores(p, outcome) -> np.ndarray:
    """(n,) Brier score of each forecast: (p - y)^2."""
    p, y = _arrays(p, outcome)
    return (p - y) ** 2


def log_scores(p, outcome) -> np.ndarray:
    """(n,) log score of each forecast: log of the clipped probability given to what happened."""
    p, y = _arrays(p, outcome)
    p = clip_probabilities(p)
    return np.where(y == 1.0, np.log(p), np.log1p(-p))


def brier_score(p, outcome) -> float:
    """Mean Brier score of forecasts p (n,) against outcomes (n,) in {0, 1}; lower is better."""
    return float(np.mean(brier_scores(p, outcome))) if np.size(p) else float("nan")


def log_score(p, outcome) -> float:
    """Mean log score (natural log, clipped at 0.005); <= 0, higher is better."""
    return float(np.mean(log_scores(p, outcome))) if np.size(p) else float("nan")


def paired_difference(scores, reference, *, mass: float | None = 0.9) -> dict:
    """How much one method's scores differ from a reference's on the same items, and how
    sure that is: the mean of ``scores - reference``, the paired Student-t interval
    (mean +- t_{n-1} sd / sqrt(n)) of the given mass, and how many items each side won.

    Why. A cross-validation scores a hundred questions, or ten seeds: a difference of a
    few percent between two methods is often inside the noise of which items happened to
    be asked (issues 10 and 11 measured their targets inside it: bench/README.md). The
    items' differences are paired, so their spread is the noise.

    When the interval is honest: on simulated Brier-score differences of two forecasters
    (30 and 100 questions) and on Student-t(3) differences (10 and 100 items) it holds the
    true mean 85-95 % of the time (tests/aggregation/engine/test_scoring.py). On scores
    that are small but now and then huge (interval scores, where one item far outside a
    range costs 20 times its distance) it does not: 57 % with 10 items, 84 % with 100,
    because most samples of ten hold no big miss. Pass ``mass=None`` there: the mean
    difference and the counts are still right, and no interval is claimed.

    Returns {"difference", "interval" [low, high] or None, "n", "lower", "higher"}
    ("lower": items where ``scores`` was below the reference); no interval below 2 items.
    """
    a = np.asarray(scores, dtype=float).ravel()
    b = np.asarray(reference, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"{a.size} scores but {b.size} reference scores")
    d = a - b
    n = d.size
    out = {
        "difference": float(d.mean()) if n else None,
        "interval": None,
        "n": n,
        "lower": int((d < 0).sum()),
        "higher": int((d > 0).sum()),
    }
    if mass is not None and n >= 2:
        half = stats.t.ppf(0.5 + mass / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
        out["interval"] = [float(d.mean() - half), float(d.mean() + half)]
    return out


def auc(p, outcome) -> float:
    """Area under the ROC curve of forecasts p (n,) for outcomes (n,): Mann-Whitney U / (n1 n0).

    Ties count one half (average ranks). NaN unless both outcomes occur.
    """
    p, y = _arrays(p, outcome)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(p)  # average ranks: a tie between classes counts 1/2
    u = ranks[y == 1.0].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


def score_forecasts(p, outcome) -> dict:
    """{"brier", "log_score", "auc", "n"} of forecasts p (n,) against outcomes (n,)."""
    p, y = _arrays(p, outcome)
    return {
        "brier": brier_score(p, y),
        "log_score": log_score(p, y),
        "auc": auc(p, y) if p.size else float("nan"),
        "n": int(p.size),
    }


def score_methods(forecasts: pd.DataFrame, outcomes: pd.Series) -> dict[str, dict]:
    """Scores of each method on the questions it forecast.

    Parameters
    ----------
    forecasts : (n_questions, n_methods) probabilities indexed by question, one column per
        method; NaN where a method gave no forecast.
    outcomes : (n_questions,) 0/1 indexed by question; questions missing here are not scored.

    Returns
    -------
    method -> {"brier", "log_score", "auc", "n"}.
    """
    result = {}
    for method in forecasts.columns:
        column = forecasts[method].dropna()
        column = column[column.index.isin(outcomes.index)]
        result[str(method)] = score_forecasts(column.to_numpy(), outcomes[column.index].to_numpy())
    return result


def score_experts(table: JudgmentTable, outcomes: pd.Series) -> pd.DataFrame:
    """Each expert's scores on the resolved questions they answered, and relative to the panel.

    Parameters
    ----------
    table : judgments of one round.
    outcomes : (n_resolved,) 0/1 indexed by question.

    Returns
    -------
    DataFrame indexed by expert with columns cohort, n_questions, brier, log_score,
    relative_brier and relative_log_score (expert minus the mean of the OTHER experts on
    the same questions; averaged over the n_compared questions that someone else answered
    too; NaN when there is none).
    """
    frame = _resolved_judgments(table, outcomes)
    if frame.empty:
        return pd.DataFrame(
            columns=[
                "cohort",
                "n_questions",
                "brier",
                "log_score",
                "relative_brier",
                "relative_log_score",
                "n_compared",
            ]
        ).rename_axis("expert")
    frame["brier"] = brier_scores(frame["probability"], frame["outcome"])
    frame["log_score"] = log_scores(frame["probability"], frame["outcome"])
    per_question = frame.groupby("question")[["brier", "log_score"]].agg(["sum", "count"])
    for score in ("brier", "log_score"):
        total = frame["question"].map(per_question[(score, "sum")])
        others = frame["question"].map(per_question[(score, "count")]) - 1
        # the mean of the others on this question: (sum - own) / (count - 1)
        frame[f"relative_{score}"] = np.where(
            others > 0, frame[score] - (total - frame[score]) / others.clip(lower=1), np.nan
        )
    grouped = frame.groupby("expert")
    result = pd.DataFrame(
        {
            "cohort": grouped["cohort"].first(),
            "n_questions": grouped.size().astype(int),
            "brier": grouped["brier"].mean(),
            "log_score": grouped["log_score"].mean(),
            "relative_brier": grouped["relative_brier"].mean(),
            "relative_log_score": grouped["relative_log_score"].mean(),
            "n_compared": grouped["relative_brier"].count().astype(int),
        }
    )
    return result.rename_axis("expert")


def score_cohorts(table: JudgmentTable, outcomes: pd.Series) -> pd.DataFrame:
    """Each cohort scored as one forecaster, and as the mean of its members.

    The cohort's forecast on a question is the log-odds mean of its members' answers
    (``pooling.logodds_mean``), scored on the resolved questions the cohort answered.

    Returns
    -------
    DataFrame indexed by cohort with columns n_experts, n_questions, brier, log_score, auc
    (of the cohort's pooled forecasts) and mean_expert_brier (the mean of its members'
    Brier scores over all their resolved answers).
    """
    frame = _resolved_judgments(table, outcomes)
    rows = {}
    for cohort, members in frame.groupby("cohort", sort=True):
        pooled = members.groupby("question")["probability"].agg(
            lambda p: float(expit(np.mean(logit(p.to_numpy()))))
        )
        scores = score_forecasts(pooled.to_numpy(), outcomes[pooled.index].to_numpy())
        rows[cohort] = {
            "n_experts": int(members["expert"].nunique()),
            "n_questions": scores["n"],
            "brier": scores["brier"],
            "log_score": scores["log_score"],
            "auc": scores["auc"],
            "mean_expert_brier": float(
                np.mean(brier_scores(members["probability"], members["outcome"]))
            ),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("cohort")


def _resolved_judgments(table: JudgmentTable, outcomes: pd.Series) -> pd.DataFrame:
    if len(table.rounds) != 1:
        raise ValueError("score one round at a time (use table.for_round(n))")
    frame = table.frame[table.frame["question"].isin(outcomes.index)].copy()
    frame["outcome"] = outcomes[frame["question"]].to_numpy()
    return frame


# --- calibration curve ------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationCurve:
    """Reliability-diagram data: per bin of forecasts, what was forecast and what happened.

    Attributes (every array has shape (n_bins,); NaN in bins with no forecast)
    ----------
    bin_lower, bin_upper : edges of each bin (the last bin includes 1)
    count : number of forecasts in the bin
    events : how many of them happened
    mean_forecast : mean forecast in the bin (the x of the point)
    observed : events / count (the y of the point)
    lower, upper : central Jeffreys interval of mass ``interval_mass`` of the frequency
    interval_mass : the mass of that interval
    """

    bin_lower: np.ndarray
    bin_upper: np.ndarray
    count: np.ndarray
    events: np.ndarray
    mean_forecast: np.ndarray
    observed: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    interval_mass: float

    def to_dict(self) -> dict:
        """Plain lists for JSON; NaN becomes None."""
        out = {"interval_mass": self.interval_mass}
        for name in (
            "bin_lower",
            "bin_upper",
            "count",
            "events",
            "mean_forecast",
            "observed",
            "lower",
            "upper",
        ):
            values = getattr(self, name)
            if name in ("count", "events"):
                out[name] = [int(v) for v in values]
            else:
                out[name] = [None if not np.isfinite(v) else round(float(v), 6) for v in values]
        return out


def calibration_curve(
    p, outcome, *, n_bins: int = 10, interval_mass: float = 0.9, strategy: str = "uniform"
) -> CalibrationCurve:
    """Bin forecasts p (n,) and give each bin's frequency of events with a Jeffreys interval.

    Parameters
    ----------
    p, outcome : (n,) forecasts in [0, 1] and outcomes in {0, 1}.
    n_bins : number of bins.
    strategy : "uniform" (equal-width bins on [0, 1]) or "quantile" (about equally many
        forecasts per bin; edges at the forecasts' quantiles, so ties may merge bins).
    interval_mass : mass of the central interval of each bin's frequency.
    """
    p, y = _arrays(p, outcome)
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    if not 0.0 < interval_mass < 1.0:
        raise ValueError(f"interval mass must be between 0 and 1, got {interval_mass}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))) if p.size else []
        edges = np.asarray(edges, dtype=float)
        if edges.size < 2:
            edges = np.array([0.0, 1.0])
        edges[0], edges[-1] = 0.0, 1.0
    else:
        raise ValueError("strategy must be 'uniform' or 'quantile'")
    # bin b holds edges[b] <= p < edges[b+1]; p = 1 goes to the last bin
    if strategy == "uniform":
        # by arithmetic, not by comparing with linspace's edges: 0.3 must land in [0.3, 0.4)
        # although linspace(0, 1, 11)[3] is 0.30000000000000004
        which = np.floor(p * n_bins + 1e-9).astype(np.int64)
    else:
        which = np.searchsorted(edges, p, side="right") - 1
    which = np.clip(which, 0, edges.size - 2)
    k = edges.size - 1
    count = np.bincount(which, minlength=k).astype(float)
    events = np.bincount(which, weights=y, minlength=k)
    total = np.bincount(which, weights=p, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_forecast = np.where(count > 0, total / count, np.nan)
        observed = np.where(count > 0, events / count, np.nan)
    lower, upper = jeffreys_interval(events, count, interval_mass)
    return CalibrationCurve(
        bin_lower=edges[:-1],
        bin_upper=edges[1:],
        count=count.astype(np.int64),
        events=events.astype(np.int64),
        mean_forecast=mean_forecast,
        observed=observed,
        lower=lower,
        upper=upper,
        interval_mass=interval_mass,
    )


def jeffreys_interval(events, count, mass: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Central interval of mass ``mass`` of Beta(events + 1/2, count - events + 1/2).

    Arrays of any (same) shape; NaN where count is 0. As Brown, Cai & DasGupta (2001)
    recommend, the lower bound is 0 when events = 0 and the upper is 1 when events = count.
    """
    events = np.asarray(events, dtype=float)
    count = np.asarray(count, dtype=float)
    tail = (1.0 - mass) / 2.0
    a, b = events + 0.5, count - events + 0.5
    with np.errstate(invalid="ignore"):
        lower = np.where(events > 0, stats.beta.ppf(tail, a, b), 0.0)
        upper = np.where(events < count, stats.beta.ppf(1.0 - tail, a, b), 1.0)
    empty = count <= 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


def json_safe(value):
    """Recursively turn NaN/inf into None and numpy scalars into Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if not np.isfinite(value) else value
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value
