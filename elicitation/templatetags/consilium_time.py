"""Date-times that say their time zone: ``{{ value|when }}``, ``{{ value|when_short }}``.

Both render in the active time zone (the expert's on expert pages and emails, the site's
on staff pages) and end with the zone in brackets, e.g. "Dec. 6, 2026, 9:56 a.m. (KST)",
so a sentence's full stop never follows "a.m." directly ("a.m..").
"""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format

register = template.Library()


def _with_zone(value: datetime | None, format_name: str) -> str:
    if not isinstance(value, datetime):
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{date_format(local, format_name)} ({local.strftime('%Z') or local.tzname()})"


@register.filter
def when(value: datetime | None) -> str:
    return _with_zone(value, "DATETIME_FORMAT")


@register.filter
def when_short(value: datetime | None) -> str:
    return _with_zone(value, "SHORT_DATETIME_FORMAT")


@register.simple_tag
def current_time_zone() -> str:
    return timezone.get_current_timezone_name()
