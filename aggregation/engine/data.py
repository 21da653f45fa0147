"""Validated tables of binary judgments, from rows or CSV.

A ``JudgmentTable`` is what every aggregation method takes: one row per judgment with
columns ``expert, cohort, question, probability`` and ``round`` (1 when absent), and
optionally meta-predictions: a column ``meta_<cohort>`` per cohort (``meta_US``,
``meta_ROK``) holding the expert's expected average answer of that cohort's experts to the
question, a probability, blank where the expert gave none (``perception.py`` reads them).
It is built
only through ``JudgmentTable.from_frame`` / ``from_csv`` / ``from_rows``, which check the
input and raise ``JudgmentDataError`` with every problem found, each naming the row, so
that a user can fix the file in one pass.

Probabilities of exactly 0 and 1 are legal answers (people give them), but they have no
log-odds. ``clip_probabilities`` moves them to [CLIP, 1 - CLIP] with CLIP = 0.005: a
0 % answer counts as 0.5 %, i.e. log-odds ±5.3, about as extreme as the most confident
non-degenerate answers people give on a 0-100 scale. The clipping is applied by the
log-odds methods, never to the stored table.
"""

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("expert", "cohort", "question", "probability")
OPTIONAL_COLUMNS = ("round",)
META_PREFIX = "meta_"  # meta_<cohort>: the expert's expected average answer of that cohort
CLIP = 0.005
MAX_ERRORS_LISTED = 20
LINE = "_line"  # internal column: the file line a row came from, for error messages
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|nan)", re.I)


class JudgmentDataError(ValueError):
    """The judgments cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_ERRORS_LISTED]
        more = len(problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more problems" if more > 0 else "")
        super().__init__(text)


def clip_probabilities(p: np.ndarray) -> np.ndarray:
    """Clip probabilities to [CLIP, 1 - CLIP] so that their log-odds are finite."""
    return np.clip(np.asarray(p, dtype=float), CLIP, 1.0 - CLIP)


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of clipped probabilities."""
    p = clip_probabilities(p)
    return np.log(p) - np.log1p(-p)


class TableViews:
    """What every judgment table answers about its ``frame`` (one row per judgment)."""

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def rounds(self) -> list[int]:
        return sorted(self.frame["round"].unique().tolist())

    @property
    def questions(self) -> list[str]:
        return sorted(self.frame["question"].unique().tolist())

    @property
    def experts(self) -> list[str]:
        return sorted(self.frame["expert"].unique().tolist())

    @property
    def cohorts(self) -> list[str]:
        return sorted(self.frame["cohort"].unique().tolist())

    def data_hash(self) -> str:
        """SHA-256 of the table's canonical CSV: same judgments, same hash, any row order."""
        canonical = self.frame.sort_values(["round", "question", "expert"]).to_csv(
            index=False, float_format="%.10g", lineterminator="\n"
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class JudgmentTable(TableViews):
    """A validated table of binary judgments.

    Attributes
    ----------
    frame : DataFrame, one row per judgment, columns expert, cohort, question (str),
        probability (float in [0, 1]) and round (int >= 1), sorted by round, question, expert.
    """

    frame: pd.DataFrame

    # --- construction -------------------------------------------------------------
    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "JudgmentTable":
        """Validate a DataFrame; raise JudgmentDataError listing every problem."""
        frame = frame.rename(columns=_column_name).reset_index(drop=True)
        lines = frame.pop(LINE) if LINE in frame.columns else pd.Series(range(2, len(frame) + 2))
        problems = _column_problems(list(frame.columns))
        if problems:
            raise JudgmentDataError(problems)
        if frame.empty:
            raise JudgmentDataError(["the table has no judgments (no data rows)"])
        frame = frame.copy()
        if "round" not in frame.columns:
            frame["round"] = 1
        problems = _value_problems(frame, lines.tolist())
        if problems:
            raise JudgmentDataError(problems)
        for column in ("expert", "cohort", "question"):
            frame[column] = frame[column].astype(str).str.strip()
        # the same parsers that validated the values convert them
        frame["probability"] = [_number(v) for v in frame["probability"]]
        frame["round"] = [_whole_number(v) for v in frame["round"]]
        problems = _duplicate_problems(frame, lines.tolist())
        meta, meta_problems = _meta_columns(frame, lines.tolist())
        problems += meta_problems
        if problems:
            raise JudgmentDataError(problems)
        frame = frame.rename(columns=meta)
        for column in meta.values():
            frame[column] = [np.nan if _blank(v) else _number(v) for v in frame[column]]
        frame = frame[["expert", "cohort", "question", "probability", "round", *meta.values()]]
        frame = frame.sort_values(["round", "question", "expert"], kind="stable")
        return cls(frame.reset_index(drop=True))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping]) -> "JudgmentTable":
        """Build from dicts with the CSV's keys (e.g. rows from the database)."""
        rows = list(rows)
        columns = list(rows[0].keys()) if rows else list(REQUIRED_COLUMNS)
        return cls.from_frame(pd.DataFrame(rows, columns=columns))

    @classmethod
    def from_csv(cls, source: str | Path | io.IOBase) -> "JudgmentTable":
        """Read a CSV file (UTF-8, with or without BOM) and validate it.

        Read with the csv module rather than pandas so that every error can name the
        file's own line (blank lines included) and a repeated header or a row with too
        many fields is reported as such.
        """
        frame = csv_frame(
            source,
            column_problems=_column_problems,
            empty="the file is empty; expected a header line expert,cohort,question,probability",
        )
        return cls.from_frame(frame)

    # --- views (TableViews) -------------------------------------------------------------
    def for_round(self, round_number: int) -> "JudgmentTable":
        """The judgments of one round (a table of a single round)."""
        selected = self.frame[self.frame["round"] == round_number]
        if selected.empty:
            raise JudgmentDataError([f"there are no judgments for round {round_number}"])
        return JudgmentTable(selected.reset_index(drop=True))

    def latest_round(self) -> "JudgmentTable":
        return self.for_round(self.rounds[-1])

    @property
    def meta_cohorts(self) -> list[str]:
        """The cohorts that meta-predictions were asked about (``meta_<cohort>`` columns)."""
        return [
            c.removeprefix(META_PREFIX) for c in self.frame.columns if c.startswith(META_PREFIX)
        ]

    def meta_predictions(self) -> pd.DataFrame:
        """The meta-predictions given, one row each: expert, cohort (of the expert), question,
        round, of (the cohort predicted) and probability (the expected average answer)."""
        columns = ["expert", "cohort", "question", "round", "of", "probability"]
        if not self.meta_cohorts:
            return pd.DataFrame(columns=columns)
        long = (
            self.frame.drop(columns="probability")
            .melt(
                id_vars=["expert", "cohort", "question", "round"],
                value_vars=[META_PREFIX + c for c in self.meta_cohorts],
                var_name="of",
                value_name="probability",
            )
            .dropna(subset=["probability"])
        )
        long["of"] = long["of"].str.removeprefix(META_PREFIX)
        return (
            long[columns].sort_values(["round", "question", "expert", "of"]).reset_index(drop=True)
        )


def csv_frame(source, *, column_problems, empty: str) -> pd.DataFrame:
    """A CSV file as a frame of strings with each row's file line (column ``LINE``).

    Read with the csv module rather than pandas so that every error can name the file's own
    line (blank lines included) and a row with too many fields is reported as such;
    ``column_problems(header)`` lists what is wrong with the header.
    """
    rows = [(n, r) for n, r in _csv_rows(_read_text(source)) if any(f.strip() for f in r)]
    if not rows:
        raise JudgmentDataError([empty])
    (_, header), body = rows[0], rows[1:]
    header = [_column_name(name) for name in header]
    problems = column_problems(header)
    problems += [
        f"line {line}: {len(row)} fields, but the header has {len(header)}"
        for line, row in body
        if len(row) != len(header)
    ]
    if problems:
        raise JudgmentDataError(problems)
    frame = pd.DataFrame([row for _, row in body], columns=header, dtype=str)
    frame[LINE] = [line for line, _ in body]
    return frame


def _column_name(name) -> str:
    """Header names are read case-blind, except a meta column's cohort, kept as written."""
    name = str(name).strip()
    if name.lower().startswith(META_PREFIX) and len(name) > len(META_PREFIX):
        return META_PREFIX + name[len(META_PREFIX) :].strip()
    return name.lower()


def _column_problems(columns: Iterable[str]) -> list[str]:
    columns = [_column_name(c) for c in columns]
    problems = [f"missing column '{c}'" for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [
        c
        for c in columns
        if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and not c.startswith(META_PREFIX)
    ]
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(repr(c) for c in unknown)}; expected "
            f"{', '.join(REQUIRED_COLUMNS)} and optionally round and meta_<cohort> columns"
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    problems += [f"column '{c}' appears more than once" for c in duplicated]
    return problems


def _read_text(source: str | Path | io.IOBase) -> str:
    """The whole file as text; decoding it at once makes error offsets file offsets."""
    try:
        if isinstance(source, io.TextIOBase):
            return source.read()
        data = source.read() if isinstance(source, io.IOBase) else Path(source).read_bytes()
    except FileNotFoundError:
        raise JudgmentDataError([f"no such file: {source}"]) from None
    except IsADirectoryError:
        raise JudgmentDataError([f"{source} is a folder, not a CSV file"]) from None
    except OSError as exc:
        raise JudgmentDataError([f"cannot read {source}: {exc.strerror}"]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JudgmentDataError(
            [f"the file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"]
        ) from None


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every row; an unclosed quote is an error, not a long field."""
    if text.count('"') % 2:
        raise JudgmentDataError(
            [
                f"the file is not valid CSV: line {_unclosed_quote_line(text)}: a quote is never closed"
            ]
        )
    reader = csv.reader(io.StringIO(text), strict=True)
    rows = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise JudgmentDataError(
            [f"the file is not valid CSV: line {reader.line_num}: {exc}"]
        ) from None
    return rows


def _unclosed_quote_line(text: str) -> int:
    """The line where the quote left open at the end of the file was opened."""
    opened_at, count = 1, 0
    for number, line in enumerate(text.splitlines(), start=1):
        if count % 2 == 0 and line.count('"') % 2:
            opened_at = number
        count += line.count('"')
    return opened_at


def _number(value) -> float:
    """A plain decimal number ('0.65', '1e-2'); ValueError for anything else."""
    text = str(value).strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError(text)
    return float(text)


def _whole_number(value) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        number = int(value)
    else:
        text = str(value).strip()
        if not text.isascii() or not text.isdigit():
            raise ValueError(text)
        number = int(text)
    if number < 1:
        raise ValueError(value)
    return number


def _value_problems(frame: pd.DataFrame, lines: list[int]) -> list[str]:
    """Row-level problems, each naming its line in the file (header = line 1)."""
    problems = []
    for line, row in zip(lines, frame.itertuples(index=False), strict=True):
        record = row._asdict()
        for column in ("expert", "cohort", "question"):
            if _blank(record[column]):
                problems.append(f"line {line}: '{column}' is empty")
        problems += _probability_problems(line, record["probability"])
        problems += _round_problems(line, record["round"])
    return problems


def _probability_problems(line: int, value) -> list[str]:
    if _blank(value):
        return [f"line {line}: 'probability' is empty"]
    try:
        number = _number(value)
    except ValueError:
        return [f"line {line}: probability {value!r} is not a number"]
    if not np.isfinite(number):
        return [f"line {line}: probability {value!r} is not a finite number"]
    if not 0.0 <= number <= 1.0:
        hint = (
            " (give probabilities on the 0-1 scale, e.g. 0.65 for 65 %)"
            if 1 < number <= 100
            else ""
        )
        return [f"line {line}: probability {number:g} is outside [0, 1]{hint}"]
    return []


def _round_problems(line: int, value) -> list[str]:
    try:
        _whole_number(value)
    except ValueError:
        return [f"line {line}: round {value!r} is not a whole number >= 1"]
    return []


def _duplicate_problems(frame: pd.DataFrame, lines: list[int]) -> list[str]:
    keys = ["expert", "question", "round"]
    duplicated = frame[frame.duplicated(keys, keep=False)]
    problems = []
    for (expert, question, round_number), group in duplicated.groupby(keys, sort=True):
        where = ", ".join(str(lines[i]) for i in group.index)
        problems.append(
            f"expert {expert} answered question {question} more than once in round "
            f"{round_number} (lines {where}); keep one answer per expert, question and round"
        )
    cohorts = frame.groupby("expert")["cohort"].nunique()
    for expert in cohorts[cohorts > 1].index:
        problems.append(
            f"expert {expert} is listed in more than one cohort; give each expert one cohort"
        )
    return problems


def _meta_columns(frame: pd.DataFrame, lines: list[int]) -> tuple[dict[str, str], list[str]]:
    """The meta columns renamed to the cohorts' own spelling, and their problems.

    ``meta_us`` names cohort ``US`` when the table has a cohort spelt so in any case; a
    column naming no cohort of the table is refused (its "actual" answer is unknown).
    """
    cohorts = sorted(frame["cohort"].unique().tolist())
    renamed, problems = {}, []
    for column in (c for c in frame.columns if c.startswith(META_PREFIX)):
        label = column.removeprefix(META_PREFIX)
        matches = [c for c in cohorts if c == label] or [
            c for c in cohorts if c.casefold() == label.casefold()
        ]
        if len(matches) != 1:
            problems.append(
                f"column '{column}' names cohort {label!r}, but the cohorts in the table are "
                f"{', '.join(cohorts)}; name each meta column meta_<cohort> after one of them"
            )
            continue
        renamed[column] = META_PREFIX + matches[0]
        for line, value in zip(lines, frame[column], strict=True):
            if _blank(value):
                continue
            found = _probability_problems(line, value)
            problems += [p.replace("probability", column, 1) for p in found]
    if len(set(renamed.values())) < len(renamed):
        problems.append("two meta columns name the same cohort; keep one per cohort")
    return renamed, problems


def _blank(value) -> bool:
    return (
        value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""
    )
