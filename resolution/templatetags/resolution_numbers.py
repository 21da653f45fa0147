"""Numbers as the scores page prints them: fixed decimals, a dash for what does not exist."""

import math

from django import template

register = template.Library()


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


@register.filter
def num(value, digits: int = 3) -> str:
    """0.1234 -> "0.123"; None or NaN -> "—"."""
    return "—" if _missing(value) else f"{float(value):.{int(digits)}f}"


@register.filter
def signed(value, digits: int = 3) -> str:
    """Differences with their sign: "+0.012", "-0.030"."""
    if _missing(value):
        return "—"
    return f"{float(value):+.{int(digits)}f}"


@register.filter
def percent(value) -> str:
    return "—" if _missing(value) else f"{100 * float(value):.0f} %"


@register.filter
def interval(pair, digits: int = 3) -> str:
    if not pair or any(_missing(v) for v in pair):
        return "—"
    return f"{num(pair[0], digits)} to {num(pair[1], digits)}"
