"""``{% erased_data_notice run %}``: the line a report shows on a run built on data since erased."""

from django import template

from aggregation.models import AggregationRun
from privacy import selectors

register = template.Library()


@register.inclusion_tag("privacy/includes/erased_notice.html")
def erased_data_notice(run) -> dict:
    if run is None or getattr(run, "pk", None) is None:
        return {"erasures": []}
    if isinstance(run, AggregationRun):
        return {"erasures": selectors.aggregation_run_erasures(run=run)}
    return {"erasures": selectors.recalibration_run_erasures(run=run)}
