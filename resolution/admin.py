"""Admin: read-only views of resolutions, their history and recalibrations.

Resolutions change only through ``resolution.services`` (the organizer pages), so that
every change is validated and leaves an event; the admin shows them and changes nothing.
"""

from django.contrib import admin

from resolution.models import ImportedDataset, RecalibrationRun, Resolution, ResolutionEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Resolution)
class ResolutionAdmin(ReadOnlyAdmin):
    list_display = ("question", "status", "outcome", "resolved_on", "changed_by", "changed_at")
    list_filter = ("status", "question__survey")
    search_fields = ("question__code", "source")


@admin.register(ResolutionEvent)
class ResolutionEventAdmin(ReadOnlyAdmin):
    list_display = ("question", "action", "previous_state", "state", "outcome", "by", "at")
    list_filter = ("action", "question__survey")
    search_fields = ("question__code", "source", "reason")


@admin.register(RecalibrationRun)
class RecalibrationRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "survey_round", "status", "n_resolved", "n_events", "created_at")
    list_filter = ("status",)
    exclude = ("result",)


@admin.register(ImportedDataset)
class ImportedDatasetAdmin(ReadOnlyAdmin):
    list_display = ("name", "survey", "n_judgments", "n_outcomes", "created_at")
