"""Django admin for aggregation runs: read-mostly, for looking into a run that went wrong.

Runs are created by ``services.aggregation_run_request`` and written by workers; the admin
never adds or edits one (a hand-edited status would break the claim fencing). Deleting a
run is allowed: a later request makes it again.
"""

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from aggregation.models import AggregationRun, QuestionResult


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class QuestionResultInline(admin.TabularInline):
    model = QuestionResult
    extra = 0
    can_delete = False
    fields = [
        "question",
        "n_judgments",
        "consensus",
        "consensus_lower",
        "consensus_upper",
        "disagreement",
        "baselines",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AggregationRun)
class AggregationRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "survey_round",
        "method",
        "status",
        "progress_phase",
        "n_judgments",
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "method", "survey_round__survey"]
    list_select_related = ["survey_round__survey"]
    search_fields = ["survey_round__survey__title", "error", "worker"]
    date_hierarchy = "created_at"
    inlines = [QuestionResultInline]
    fieldsets = [
        (None, {"fields": ["survey_round", "method", "status", "requested_by", "created_at"]}),
        (_("Error"), {"fields": ["error_text"]}),
        (_("Diagnostics and timings"), {"fields": ["diagnostics_json", "timings_json"]}),
        (
            _("Progress and claims"),
            {
                "fields": [
                    "progress_phase",
                    "progress",
                    "attempts",
                    "worker",
                    "heartbeat_at",
                    "enqueued_at",
                    "started_at",
                    "finished_at",
                ]
            },
        ),
        (
            _("Specification and artifacts"),
            {
                "fields": ["options_json", "options_hash", "data_hash", "n_judgments"]
                + ["posterior", "figures_json"],
                "classes": ["collapse"],
            },
        ),
    ]
    readonly_fields = [
        "survey_round",
        "method",
        "status",
        "requested_by",
        "created_at",
        "error_text",
        "diagnostics_json",
        "timings_json",
        "progress_phase",
        "progress",
        "attempts",
        "worker",
        "heartbeat_at",
        "enqueued_at",
        "started_at",
        "finished_at",
        "options_json",
        "options_hash",
        "data_hash",
        "n_judgments",
        "posterior",
        "figures_json",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # view only; a run changes through the services and the workers

    @admin.display(description=_("Error"))
    def error_text(self, run: AggregationRun) -> str:
        return format_html("<pre>{}</pre>", run.error) if run.error else "—"

    @admin.display(description=_("Diagnostics"))
    def diagnostics_json(self, run: AggregationRun) -> str:
        return _pretty(run.diagnostics)

    @admin.display(description=_("Timings"))
    def timings_json(self, run: AggregationRun) -> str:
        return _pretty(run.timings)

    @admin.display(description=_("Options"))
    def options_json(self, run: AggregationRun) -> str:
        return _pretty(run.options)

    @admin.display(description=_("Figures"))
    def figures_json(self, run: AggregationRun) -> str:
        return _pretty(run.figures)
