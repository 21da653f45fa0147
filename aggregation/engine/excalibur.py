"""Read EXCALIBUR's ``.dtt`` (assessments) and ``.rls`` (realizations) files.

EXCALIBUR (TU Delft, 1989-2012) is the reference program for Cooke's classical model; the
TU Delft expert-judgment database (Cooke & Goossens 2008, RESS 93:657-674) is distributed
in its two fixed-width text formats:

``.dtt``: a header ``* CLASS ASCII OUTPUT FILE. NQ=   3   QU=   5  50  95`` (the number of
quantiles and their levels in percent), then one line per expert and item::

    cols  1-5   expert number      cols  6-14  expert name
    cols 15-19  item number        cols 20-34  item name (may hold spaces)
    then        the scale (UNI or LOG, any case) and NQ numbers; anything after is a comment

``.rls``: one line per item::

    cols  1-5   item number        cols  6-20  item name
    then        the realization, the scale, and an optional description

The codes -9.995E+002 and -9.996E+002 (exactly those two values) mean "no value": a missing
answer in ``.dtt`` (all its quantiles must then be coded), a target item (unknown
realization) in ``.rls``. Every expert needs a line for every item: EXCALIBUR writes the
code for a missing answer, so an absent line means a damaged file. Items are matched
between the files by number, and their names and scales must agree. Files are read as
Latin-1, the code page EXCALIBUR wrote them in.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from aggregation.engine.cooke import SCALES, CookeInputError, CookeStudy

MISSING_CODES = (-999.5, -999.6)
_HEADER = re.compile(r"NQ=\s*(\d+)\s+QU=\s*([\d.\s]+)$", re.IGNORECASE)


def read_excalibur(dtt_path: str | Path, rls_path: str | Path) -> CookeStudy:
    """Read a study from an EXCALIBUR ``.dtt`` and ``.rls`` pair.

    Raises
    ------
    CookeInputError
        with one line naming the file, the line number and what was wrong.
    """
    levels, assessments = _read_dtt(Path(dtt_path))
    realizations = _read_rls(Path(rls_path))
    return _study(levels, assessments, realizations, Path(dtt_path), Path(rls_path))


def read_realizations(rls_path: str | Path) -> dict[str, float]:
    """The known values of an ``.rls`` file by item name (by number when unnamed); target
    items (coded as missing) are left out."""
    path = Path(rls_path)
    return {
        name or str(number): value
        for number, (_, name, value, _) in sorted(_read_rls(path).items())
        if not np.isnan(value)
    }


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as error:
        raise CookeInputError(f"{path}: cannot read ({error.strerror})") from None
    return [(n, line.rstrip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _fail(path: Path, line_no: int, message: str):
    raise CookeInputError(f"{path.name}, line {line_no}: {message}")


def _number(path: Path, line_no: int, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        _fail(path, line_no, f"{what} {text!r} is not a number")
    return np.nan if any(abs(value - code) < 1e-6 for code in MISSING_CODES) else value


def _integer(path: Path, line_no: int, text: str, what: str) -> int:
    if not text.strip().isdigit():
        _fail(path, line_no, f"{what} {text.strip()!r} is not a positive whole number")
    return int(text)


def _scale(path: Path, line_no: int, text: str) -> str:
    if text.lower() not in SCALES:
        _fail(path, line_no, f"unknown scale {text!r} (expected UNI or LOG)")
    return text.lower()


def _read_header(path: Path, lines: list[tuple[int, str]]) -> tuple[float, ...]:
    if not lines:
        raise CookeInputError(f"{path.name}: the file is empty")
    line_no, header = lines[0]
    match = _HEADER.search(header)
    if not match:
        _fail(path, line_no, "expected the header '* CLASS ASCII OUTPUT FILE. NQ= n QU= ...'")
    percents = [float(p) for p in match.group(2).split()]
    if len(percents) != int(match.group(1)):
        _fail(path, line_no, f"NQ={match.group(1)} but {len(percents)} quantile levels")
    if any(not 0 < p < 100 for p in percents) or any(np.diff(percents) <= 0):
        _fail(path, line_no, f"quantile levels {percents} must increase strictly within (0, 100)")
    return tuple(p / 100 for p in percents)


def _read_dtt(path: Path) -> tuple[tuple[float, ...], dict]:
    """Return the quantile levels and {(expert no, name), (item no, name, scale): values}."""
    lines = _lines(path)
    levels = _read_header(path, lines)
    rows: dict = {}
    pairs: set[tuple[int, int]] = set()
    for line_no, line in lines[1:]:
        fields = line[34:].split()
        if len(line) < 35 or len(fields) < len(levels) + 1:
            _fail(path, line_no, f"expected expert, item, scale and {len(levels)} quantiles")
        expert = (_integer(path, line_no, line[0:5], "expert number"), line[5:14].strip())
        item = (
            _integer(path, line_no, line[14:19], "item number"),
            line[19:34].strip(),
            _scale(path, line_no, fields[0]),
        )
        values = [_number(path, line_no, v, "quantile") for v in fields[1 : len(levels) + 1]]
        if not np.isnan(values).all() and np.isnan(values).any():
            _fail(path, line_no, "some quantiles are missing and others are not")
        if np.any(np.diff(values) <= 0):
            _fail(path, line_no, f"quantiles {values} are not strictly increasing")
        if item[2] == "log" and np.any(np.array(values) <= 0):
            _fail(path, line_no, f"quantiles {values} of a LOG item must be > 0")
        if (expert[0], item[0]) in pairs:
            _fail(path, line_no, f"expert {expert[0]} answers item {item[0]} a second time")
        pairs.add((expert[0], item[0]))
        rows[expert, item] = (line_no, values)
    if not rows:
        raise CookeInputError(f"{path.name}: no assessments after the header")
    return levels, rows


def _read_rls(path: Path) -> dict:
    """Return {item number: (line no, name, realization, scale)}."""
    items: dict = {}
    for line_no, line in _lines(path):
        fields = line[20:].split()
        if len(fields) < 2:
            _fail(path, line_no, "expected item number, item name, realization and scale")
        number = _integer(path, line_no, line[0:5], "item number")
        if number in items:
            _fail(path, line_no, f"item {number} appears a second time")
        value = _number(path, line_no, fields[0], "realization")
        items[number] = (line_no, line[5:20].strip(), value, _scale(path, line_no, fields[1]))
    if not items:
        raise CookeInputError(f"{path.name}: the file is empty")
    return items


def _study(levels, rows: dict, realizations: dict, dtt: Path, rls: Path) -> CookeStudy:
    experts = _consistent(dtt, rows, lambda key: key[0], "expert")
    items = _consistent(dtt, rows, lambda key: key[1], "item")
    values = np.full((len(experts), len(items), len(levels)), np.nan)
    given = np.zeros(values.shape[:2], dtype=bool)
    expert_pos = {number: k for k, (number, _) in enumerate(experts)}
    item_pos = {key[0]: k for k, key in enumerate(items)}
    for (expert, item), (_, answer) in rows.items():
        values[expert_pos[expert[0]], item_pos[item[0]]] = answer
        given[expert_pos[expert[0]], item_pos[item[0]]] = True
    if not given.all():
        e, i = np.argwhere(~given)[0]
        raise CookeInputError(
            f"{dtt.name}: expert {experts[e][1]!r} has no line for item {items[i][1]!r}"
        )
    r = []
    for number, name, scale in items:
        if number not in realizations:
            raise CookeInputError(f"{rls.name}: no line for item {number} ({name!r}) of {dtt.name}")
        line_no, rls_name, value, rls_scale = realizations[number]
        if scale == "log" and value <= 0:
            _fail(rls, line_no, f"realization {value} of a LOG item must be > 0")
        if (rls_name, rls_scale) != (name, scale):
            _fail(
                rls,
                line_no,
                f"item {number} is {rls_name!r} {rls_scale}, but {name!r} {scale} in {dtt.name}",
            )
        r.append(value)
    extra = sorted(set(realizations) - set(item_pos))
    if extra:
        _fail(rls, realizations[extra[0]][0], f"item {extra[0]} is not in {dtt.name}")
    try:
        return CookeStudy(
            experts=tuple(name or str(number) for number, name in experts),
            items=tuple(name or str(number) for number, name, _ in items),
            scales=tuple(scale for _, _, scale in items),
            quantile_levels=levels,
            assessments=values,
            realizations=np.array(r, dtype=float),
        )
    except CookeInputError as error:
        raise CookeInputError(f"{dtt.name}: {error}") from None


def _consistent(path: Path, rows: dict, part, kind: str) -> list[tuple]:
    """The distinct experts or items by number, checking that each number has one name."""
    seen: dict = {}
    for key, (line_no, _) in rows.items():
        value = part(key)
        if seen.setdefault(value[0], value) != value:
            _fail(
                path,
                line_no,
                f"{kind} {value[0]} is {value[1:]} here but {seen[value[0]][1:]} before",
            )
    return [seen[number] for number in sorted(seen)]
