"""``{% print_link %}``: "Print / save as PDF" on the pages the printable report gathers."""

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

register = template.Library()

# The pages of one round that the printable document holds, and its part of each.
PRINTED_PAGES = {
    "aggregation:round-report": "",
    "aggregation:round-comparison": "#print-comparison",
    "resolution:round-scores": "#print-scores",
}


@register.simple_tag(takes_context=True)
def print_link(context) -> str:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    if match is None or match.view_name not in PRINTED_PAGES or "round_id" not in match.kwargs:
        return ""
    url = reverse("aggregation:round-print", args=[match.kwargs["round_id"]])
    run = request.GET.get("run", "")
    if run.isdecimal() and len(run) <= 18:
        url += f"?run={run}"
    return format_html(
        '<p class="print-link"><a href="{}">{}</a></p>',
        url + PRINTED_PAGES[match.view_name],
        _("Print / save as PDF"),
    )
