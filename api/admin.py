from django.contrib import admin

from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Superusers may see and revoke tokens; the hash is never shown and nothing is edited."""

    list_display = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    fields = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "user", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False  # a token is made on the tokens page, where it is shown once
