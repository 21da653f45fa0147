"""Ids from user input: URL paths, query strings, form fields.

An id is ASCII digits only, at most 18 of them. ``str.isdigit()`` is no test: it accepts
"²", which ``int()`` refuses, and ``int()`` itself accepts full-width digits ("５０") and
refuses strings over 4,300 digits. And an id beyond 64 bits makes SQLite raise
OverflowError and PostgreSQL a DataError. Eighteen digits always fit a signed 64-bit
column (10**18 - 1 < 2**63 - 1), so anything longer is no id of ours.

``<id:name>`` in a URL pattern matches such an id only (anything else is a 404) and hands
the view an ``int``; ``parse_id`` reads one from a query string or a form field.
"""

import re

from django.urls import register_converter

MAX_ID_DIGITS = 18
ID_PATTERN = f"[0-9]{{1,{MAX_ID_DIGITS}}}"
_ID = re.compile(ID_PATTERN)


def parse_id(value) -> int | None:
    """The id ``value`` spells, or None when it is not an id (never an exception)."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        return None
    return int(value)


class IdConverter:
    """``<id:name>``: like ``<int:name>``, but ASCII digits only and at most 18 of them."""

    regex = ID_PATTERN

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(IdConverter, "id")
