"""CSV downloads that a spreadsheet opens as data, never as formulas.

Every CSV export of Consilium goes through ``csv_response``: its writer passes each cell
through ``cell``, so that a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return (which Excel, LibreOffice and Google Sheets would run as a formula: CSV
injection) gets a leading single quote. That holds for every text cell, not only free
text: expert codes, cohort values and question codes come from organizers' imports and can
hold anything. Numbers (int, float, Decimal) are left as they are: a negative number is a
number, written as such. ``None`` is written as an empty cell.

The response is an attachment with ``Cache-Control: no-store``: exports hold answers and
must not linger in a browser's or a proxy's cache.
"""

import csv
from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from django.utils.functional import Promise

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NO_STORE = "private, no-store"


def cell(value: Any) -> Any:
    """The value as a CSV cell: text a spreadsheet would run is quoted; anything else as is."""
    if isinstance(value, Promise):  # a lazy translation
        value = str(value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``cell``."""

    def __init__(self, stream, **options):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow(["" if value is None else cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_response(filename: str) -> tuple[HttpResponse, SafeWriter]:
    """An attachment named ``filename``, UTF-8 with a BOM, not stored, and its safe writer."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = NO_STORE
    response.write("\ufeff")  # a BOM, so that spreadsheets read UTF-8 (Korean rationales)
    return response, SafeWriter(response)
