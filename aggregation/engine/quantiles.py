"""Validated tables of numeric (quantile) judgments and of realized values.

A ``QuantileTable`` holds one row per judgment: expert, question, q05, q50, q95, with
cohort ("all" when absent), round (1), scale ("linear" or "log", per question) and the
question's bounds ``lower`` / ``upper`` (blank: none). It is built only through
``from_frame`` / ``from_csv`` / ``from_rows``, which raise ``JudgmentDataError`` listing
every problem, each naming the file's line: quantiles not numbers, out of order or equal,
outside the question's bounds, not positive on a log scale, an answer given twice, a
question whose rows disagree on its scale or bounds.

Realizations (the known values of seed or resolved questions) come from a CSV with
columns ``question,value`` (``realizations_from_csv``) or an EXCALIBUR ``.rls`` file
(``realizations_from_rls``).
"""

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aggregation.engine.data import (
    LINE,
    JudgmentDataError,
    TableViews,
    _blank,
    _csv_rows,
    _number,
    _read_text,
    _whole_number,
    csv_frame,
)

QUANTILE_COLUMNS = ("q05", "q50", "q95")
REQUIRED_COLUMNS = ("expert", "question", *QUANTILE_COLUMNS)
OPTIONAL_COLUMNS = ("cohort", "round", "scale", "lower", "upper")
SCALES = ("linear", "log")
DEFAULT_COHORT = "all"


def looks_numeric(columns: Iterable[str]) -> bool:
    """Whether a CSV header names quantile judgments (rather than probabilities)."""
    names = {str(c).strip().lower() for c in columns}
    return set(QUANTILE_COLUMNS) <= names


@dataclass(frozen=True)
class QuantileTable(TableViews):
    """A validated table of 5/50/95 % judgments, sorted by round, question, expert."""

    frame: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "QuantileTable":
        frame = frame.rename(columns=lambda c: str(c).strip().lower()).reset_index(drop=True)
        lines = frame.pop(LINE) if LINE in frame.columns else pd.Series(range(2, len(frame) + 2))
        lines = lines.tolist()
        problems = _column_problems(list(frame.columns))
        if problems:
            raise JudgmentDataError(problems)
        if frame.empty:
            raise JudgmentDataError(["the table has no judgments (no data rows)"])
        frame = frame.copy()
        for column, default in (("cohort", DEFAULT_COHORT), ("round", 1), ("scale", "linear")):
            if column not in frame.columns:
                frame[column] = default
        for column in ("lower", "upper"):
            if column not in frame.columns:
                frame[column] = ""
        rows, problems = [], []
        for line, record in zip(lines, frame.to_dict("records"), strict=True):
            row, row_problems = _row(line, record)
            rows.append(row)
            problems += row_problems
        clean = pd.DataFrame(rows)
        problems += _table_problems(clean, lines)  # with the rows' own: one pass fixes all
        if problems:
            raise JudgmentDataError(problems)
        clean = clean.sort_values(["round", "question", "expert"], kind="stable")
        return cls(clean.reset_index(drop=True))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping]) -> "QuantileTable":
        rows = list(rows)
        columns = list(rows[0].keys()) if rows else list(REQUIRED_COLUMNS)
        return cls.from_frame(pd.DataFrame(rows, columns=columns))

    @classmethod
    def from_csv(cls, source: str | Path | io.IOBase) -> "QuantileTable":
        frame = csv_frame(
            source,
            column_problems=_column_problems,
            empty="the file is empty; expected a header line expert,question,q05,q50,q95",
        )
        return cls.from_frame(frame)

    def question_info(self) -> pd.DataFrame:
        """One row per question: scale, lower, upper (NaN where there is no bound)."""
        return self.frame.groupby("question")[["scale", "lower", "upper"]].first().sort_index()


def _column_problems(columns: list[str]) -> list[str]:
    problems = [f"missing column '{c}'" for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(repr(c) for c in unknown)}; expected "
            f"{', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}"
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    problems += [f"column '{c}' appears more than once" for c in duplicated]
    return problems


def _row(line: int, record: dict) -> tuple[dict, list[str]]:
    """One validated row (as far as it could be read) and its problems."""
    problems = []
    row = {}
    for column in ("expert", "question"):
        if _blank(record[column]):
            problems.append(f"line {line}: '{column}' is empty")
        row[column] = str(record[column]).strip()
    cohort = record["cohort"]
    row["cohort"] = DEFAULT_COHORT if _blank(cohort) else str(cohort).strip()
    try:
        row["round"] = _whole_number(record["round"]) if not _blank(record["round"]) else 1
    except ValueError:
        problems.append(f"line {line}: round {record['round']!r} is not a whole number >= 1")
        row["round"] = 1
    scale = "linear" if _blank(record["scale"]) else str(record["scale"]).strip().lower()
    if scale not in SCALES:
        problems.append(f"line {line}: scale {record['scale']!r} is neither 'linear' nor 'log'")
    row["scale"] = scale
    values = {}
    for column in (*QUANTILE_COLUMNS, "lower", "upper"):
        value = record[column]
        if _blank(value):
            if column in QUANTILE_COLUMNS:
                problems.append(f"line {line}: '{column}' is empty")
            values[column] = np.nan
            continue
        try:
            number = _number(value)
        except ValueError:
            problems.append(f"line {line}: {column} {value!r} is not a number")
            number = np.nan
        else:
            if not np.isfinite(number):
                problems.append(f"line {line}: {column} {value!r} is not a finite number")
                number = np.nan
        values[column] = number
    row.update(values)
    problems += _value_problems(line, values, scale)
    return row, problems


def _value_problems(line: int, v: dict, scale: str) -> list[str]:
    q05, q50, q95, lower, upper = (v[c] for c in (*QUANTILE_COLUMNS, "lower", "upper"))
    problems = []
    if not np.isnan(lower) and not np.isnan(upper) and lower >= upper:
        problems.append(f"line {line}: lower bound {lower:g} is not below upper bound {upper:g}")
    if any(np.isnan(x) for x in (q05, q50, q95)):
        return problems
    if not q05 < q50 < q95:
        problems.append(
            f"line {line}: quantiles must increase strictly (q05 < q50 < q95), got "
            f"{q05:g}, {q50:g}, {q95:g}"
        )
    if not np.isnan(lower) and q05 < lower:
        problems.append(f"line {line}: q05 {q05:g} is below the question's lower bound {lower:g}")
    if not np.isnan(upper) and q95 > upper:
        problems.append(f"line {line}: q95 {q95:g} is above the question's upper bound {upper:g}")
    if scale == "log" and q05 <= 0:
        problems.append(
            f"line {line}: on a log scale every quantile must be positive, got q05 {q05:g}"
        )
    return problems


def _table_problems(frame: pd.DataFrame, lines: list[int]) -> list[str]:
    problems = []
    keys = ["expert", "question", "round"]
    duplicated = frame[frame.duplicated(keys, keep=False)]
    for (expert, question, round_number), group in duplicated.groupby(keys, sort=True):
        where = ", ".join(str(lines[i]) for i in group.index)
        problems.append(
            f"expert {expert} answered question {question} more than once in round "
            f"{round_number} (lines {where}); keep one answer per expert, question and round"
        )
    for question, group in frame.groupby("question", sort=True):
        for column in ("scale", "lower", "upper"):
            values = {("" if pd.isna(x) else x) for x in group[column]}
            if len(values) > 1:
                problems.append(
                    f"question {question}: its rows give different values of '{column}' "
                    f"({', '.join(sorted(map(str, values)))}); give one per question"
                )
    cohorts = frame.groupby("expert")["cohort"].nunique()
    for expert in cohorts[cohorts > 1].index:
        problems.append(
            f"expert {expert} is listed in more than one cohort; give each expert one cohort"
        )
    return problems


# --- Realizations ------------------------------------------------------------------------


def realizations_from_csv(source: str | Path | io.IOBase) -> dict[str, float]:
    """Realized values from a CSV ``question,value``; every problem names its line."""
    text = _read_text(source)
    rows = [(n, r) for n, r in _csv_rows(text) if any(f.strip() for f in r)]
    if not rows:
        raise JudgmentDataError(["the realizations file is empty; expected question,value"])
    (_, header), body = rows[0], rows[1:]
    header = [h.strip().lower() for h in header]
    if header != ["question", "value"]:
        raise JudgmentDataError(
            [f"the realizations file's header is {','.join(header)}; expected question,value"]
        )
    values, problems = {}, []
    for line, row in body:
        if len(row) != 2:
            problems.append(f"line {line}: {len(row)} fields, but the header has 2")
            continue
        question, value = row[0].strip(), row[1].strip()
        if not question:
            problems.append(f"line {line}: 'question' is empty")
            continue
        try:
            number = _number(value)
        except ValueError:
            problems.append(f"line {line}: value {value!r} is not a number")
            continue
        if not np.isfinite(number):
            problems.append(f"line {line}: value {value!r} is not a finite number")
        elif question in values:
            problems.append(f"line {line}: question {question} is given twice")
        else:
            values[question] = number
    if problems:
        raise JudgmentDataError(problems)
    return values


def realizations_from_rls(path: str | Path) -> dict[str, float]:
    """Realized values of an EXCALIBUR ``.rls`` file, by item name (targets left out)."""
    from aggregation.engine.excalibur import read_realizations

    return read_realizations(path)


def realization_problems(table: QuantileTable, realizations: Mapping[str, float]) -> list[str]:
    """Realizations that cannot be used with this table: unknown questions, values
    outside a question's bounds or not positive on a log scale."""
    info = table.question_info()
    problems = []
    for question, value in sorted(realizations.items()):
        if question not in info.index:
            problems.append(f"realization for question {question}, which nobody answered")
            continue
        scale, lower, upper = info.loc[question, ["scale", "lower", "upper"]]
        if scale == "log" and value <= 0:
            problems.append(
                f"question {question}: realization {value:g} is not positive (log scale)"
            )
        if not pd.isna(lower) and value < lower:
            problems.append(f"question {question}: realization {value:g} is below {lower:g}")
        if not pd.isna(upper) and value > upper:
            problems.append(f"question {question}: realization {value:g} is above {upper:g}")
    return problems
