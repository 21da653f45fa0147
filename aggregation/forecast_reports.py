"""The panel forecast of a hierarchical run, as the report pages and the CSV show it.

The forecast is the LLO recalibration of the run's consensus (``resolution.recalibration``,
``forecast_request``): learned from the survey's resolved and seed questions, or the
published prior alone while there are none. It is a worker's run of its own, so a page
says when it is still queued or running, and why there is none, instead of leaving a blank.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from aggregation import presenters
from aggregation.models import AggregationRun


@dataclass
class PanelForecast:
    """The state of a run's forecast and, once fitted, its numbers by question code."""

    state: str  # "none", "queued", "running", "failed", "succeeded"
    note: str  # what a reader is told about it (its basis, or why there are no numbers)
    by_code: dict[str, presenters.Estimate] = field(default_factory=dict)
    resolved: set[str] = field(default_factory=set)  # codes fitted with their own outcome
    # resolved codes shown by their cross-validated forecast (a fit without their outcome)
    cross_validated: set[str] = field(default_factory=set)
    n_resolved: int = 0
    warnings: list[str] = field(default_factory=list)  # bad diagnostics of the fit
    recalibration_id: int | None = None

    @property
    def ready(self) -> bool:
        return self.state == "succeeded"

    def estimate(self, code: str) -> presenters.Estimate | None:
        return self.by_code.get(code)


def basis_text(n_resolved: int) -> str:
    """Where the calibration comes from, in one phrase."""
    if not n_resolved:
        return _("calibration from published evidence only, no resolved question yet")
    return ngettext(
        "learned from %(n)d resolved question",
        "learned from %(n)d resolved questions",
        n_resolved,
    ) % {"n": n_resolved}


def panel_forecast(run: AggregationRun) -> PanelForecast | None:
    """The forecast of a hierarchical run (None for any other method)."""
    from resolution.recalibration import forecast_current  # resolution builds on us
    from resolution.selectors import run_has_forecast

    if run.method != AggregationRun.Method.HIERARCHICAL or run.status != run.Status.SUCCEEDED:
        return None
    recalibration = forecast_current(source_run=run)
    if recalibration is None and run_has_forecast(source_run=run):
        return PanelForecast(
            "none",
            _(
                "The outcomes changed since this run's panel forecast was fitted, and it was "
                "not asked for again (a resolution asks for the newest hierarchical run's)."
            ),
        )
    if recalibration is None:
        return PanelForecast(
            "none",
            _(
                "No panel forecast was requested for this run (it is requested when a "
                "hierarchical run finishes; ask for one on the scores page)."
            ),
        )
    status = recalibration.Status
    base = {"recalibration_id": recalibration.id, "n_resolved": recalibration.n_resolved}
    if recalibration.status == status.QUEUED:
        return PanelForecast("queued", _("The panel forecast is queued for a worker."), **base)
    if recalibration.status == status.RUNNING:
        return PanelForecast(
            "running",
            _("The panel forecast is being fitted (%(percent)d %%).")
            % {"percent": round(100 * recalibration.progress)},
            **base,
        )
    if recalibration.status != status.SUCCEEDED:
        first_line = presenters.error_parts(recalibration.error)[0]
        return PanelForecast(
            "failed", _("The panel forecast failed: %(error)s") % {"error": first_line}, **base
        )
    result = recalibration.result or {}
    summary = result.get("summary") or {}
    n_resolved = int(summary.get("n_resolved", recalibration.n_resolved))
    diagnostics = presenters.diagnostics_summary(summary.get("diagnostics") or {})
    questions = result.get("questions") or {}
    by_code = {
        code: presenters.Estimate.of({"mean": q["mean"], "interval": q.get("interval")})
        for code, q in questions.items()
    }
    # A resolved question's own forecast was learned from its outcome; where the run
    # cross-validated (enough resolved questions), the forecast of a fit on the other
    # folds is shown instead (``resolution.recalibration._cross_validate``).
    cv = result.get("cross_validation") or {}
    cv_means, cv_intervals = cv.get("forecasts") or {}, cv.get("intervals") or {}
    cross_validated = {code for code in cv_means if code in by_code}
    for code in cross_validated:
        by_code[code] = presenters.Estimate.of(
            {"mean": cv_means[code], "interval": cv_intervals.get(code)}
        )
    return PanelForecast(
        "succeeded",
        basis_text(n_resolved),
        by_code=by_code,
        resolved={code for code, q in questions.items() if q.get("resolved")} - cross_validated,
        cross_validated=cross_validated,
        warnings=diagnostics["warnings"] if diagnostics else [],
        recalibration_id=recalibration.id,
        n_resolved=n_resolved,
    )


def csv_values(forecast: PanelForecast | None, code: str) -> list:
    """The forecast, forecast_lower and forecast_upper cells of a question's CSV row."""
    estimate = forecast.estimate(code) if forecast is not None else None
    if estimate is None:
        return ["", "", ""]
    return [estimate.mean, estimate.lower, estimate.upper]
