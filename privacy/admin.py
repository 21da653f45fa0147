from django.contrib import admin

from privacy.models import SubjectRequest


@admin.register(SubjectRequest)
class SubjectRequestAdmin(admin.ModelAdmin):
    """The audit of data-subject requests, read-only: it names no person."""

    list_display = ["at", "kind", "survey", "by"]
    list_filter = ["kind"]
    fields = ["at", "kind", "survey", "by", "detail", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
