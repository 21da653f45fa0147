"""Django admin for every elicitation model: the organizers' tool for what has no page.

Writes that carry domain rules go through the services: a new expert gets its password-less
user from ``expert_create``; rounds are opened and closed by admin actions that call
``round_open`` / ``round_close``; judgments and their history are read-only here.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from elicitation import services
from elicitation.models import (
    Expert,
    Invitation,
    Judgment,
    JudgmentRevision,
    Question,
    Reminder,
    ReminderDelivery,
    Round,
    Scenario,
    Survey,
)


class ScenarioInline(admin.TabularInline):
    model = Scenario
    extra = 0
    fields = ["position", "code", "title", "title_ko"]


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["title", "anonymity", "contact_email", "created_at"]
    search_fields = ["title"]
    filter_horizontal = ["organizers", "analysts"]
    inlines = [ScenarioInline]


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "survey", "position"]
    list_filter = ["survey"]
    search_fields = ["code", "title"]


class QuestionAdminForm(forms.ModelForm):
    """Adds the kind-specific rules of ``services.question_kind_errors`` to the model's."""

    KIND_FIELDS = ("kind", "unit", "lower_bound", "upper_bound", "scale", "seed_answer")

    class Meta:
        model = Question
        fields = "__all__"  # noqa: DJ007 (the admin edits every field)

    def clean(self):
        cleaned = super().clean()
        candidate = Question(**{name: cleaned.get(name) for name in self.KIND_FIELDS})
        for field, message in services.question_kind_errors(question=candidate):
            if field not in self.errors:
                self.add_error(field, message)
        return cleaned


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    form = QuestionAdminForm
    list_display = ["code", "text", "kind", "scenario", "is_seed", "survey"]
    list_filter = ["survey", "kind", "is_seed", "scenario"]
    search_fields = ["code", "text", "tags"]


@admin.register(Round)
class RoundAdmin(admin.ModelAdmin):
    list_display = ["survey", "number", "status", "opened_at", "closed_at"]
    list_filter = ["survey", "status"]
    # Status and questions change only through round_open / round_close (the actions).
    readonly_fields = ["status", "questions", "opened_at", "closed_at", "feedback_round"]
    actions = ["open_rounds", "close_rounds"]

    @admin.action(description=_("Open the selected draft rounds (emails the panel)"))
    def open_rounds(self, request, queryset):
        self._apply(request, queryset, services.round_open)

    @admin.action(description=_("Close the selected open rounds"))
    def close_rounds(self, request, queryset):
        self._apply(request, queryset, services.round_close)

    def _apply(self, request, queryset, service):
        for survey_round in queryset:
            try:
                service(survey_round=survey_round)
            except ValidationError as exc:
                self.message_user(
                    request, f"{survey_round}: {' '.join(exc.messages)}", messages.ERROR
                )
            else:
                self.message_user(request, f"{survey_round}: done.", messages.SUCCESS)


@admin.register(Expert)
class ExpertAdmin(admin.ModelAdmin):
    """At the strict anonymity level a name is never shown next to its code: the list
    shows "hidden" for the code and the change form leaves the code out."""

    list_display = ["code_shown", "name", "email", "language", "time_zone", "survey"]
    list_filter = ["survey", "language"]
    search_fields = ["name", "email"]  # not the code: a search by code would pair them
    readonly_fields = ["user"]

    @admin.display(description=_("code"))
    def code_shown(self, obj: Expert) -> str:
        return _("hidden (strict anonymity)") if obj.survey.is_strict else obj.code

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("survey")

    def has_delete_permission(self, request, obj=None):
        # An expert who was invited has answers and history: deleting would lose them
        # (and the confirmation page would list their judgments under their name).
        if obj is not None and obj.invitations.exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions

    def get_fields(self, request, obj=None):
        fields = ["survey", "code", "name", "email", "language", "time_zone", "attributes"]
        if obj is not None and obj.survey.is_strict:
            fields.remove("code")
        return fields if obj is None else [*fields, "user"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.expert_create(
            survey=obj.survey,
            name=obj.name,
            email=obj.email,
            language=obj.language,
            attributes=obj.attributes,
            code=obj.code or None,
            time_zone=obj.time_zone,
        )
        obj.pk, obj.user = created.pk, created.user


class ExpertCodeMixin:
    """Rows that belong to an expert show the expert's code as text, never a link to the
    expert (whose page shows the name: together they would pair name and code)."""

    @admin.display(description=_("expert"), ordering="expert__code")
    def expert_code(self, obj) -> str:
        return obj.expert.code


@admin.register(Invitation)
class InvitationAdmin(ExpertCodeMixin, admin.ModelAdmin):
    list_display = [
        "expert_code",
        "survey_round",
        "sent_at",
        "first_opened_at",
        "submitted_at",
        "expires_at",
    ]
    list_filter = ["survey_round__survey", "survey_round"]
    search_fields = ["expert__code"]  # the expert shows as a code: never search it by name
    exclude = ["expert"]
    readonly_fields = [
        "expert_code",
        "survey_round",
        "created_at",
        "sent_at",
        "first_opened_at",
        "submitted_at",
    ]
    actions = ["send_pending"]

    def has_add_permission(self, request):
        return False  # invitations are created by opening a round

    @admin.action(description=_("Email the selected invitations that were not sent"))
    def send_pending(self, request, queryset):
        ids = list(queryset.filter(sent_at__isnull=True).values_list("id", flat=True))
        queued = services.invitations_enqueue(invitation_ids=ids)
        self.message_user(request, f"{queued} of {len(ids)} unsent invitations queued.")


class JudgmentRevisionInline(admin.TabularInline):
    model = JudgmentRevision
    extra = 0
    can_delete = False
    readonly_fields = [
        "created_at",
        "probability",
        "q05",
        "q50",
        "q95",
        "rationale",
        "change_reason",
    ]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Judgment)
class JudgmentAdmin(ExpertCodeMixin, admin.ModelAdmin):
    """Read-only: an answer changes only through the expert's form, which keeps history."""

    exclude = ["expert"]
    readonly_fields = ["expert_code"]
    list_display = [
        "expert_code",
        "question",
        "survey_round",
        "probability",
        "q05",
        "q50",
        "q95",
        "updated_at",
    ]
    list_filter = ["survey_round__survey", "survey_round", "question__kind"]
    search_fields = ["expert__code", "question__code"]
    inlines = [JudgmentRevisionInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JudgmentRevision)
class JudgmentRevisionAdmin(admin.ModelAdmin):
    list_display = ["judgment", "probability", "q05", "q50", "q95", "created_at"]
    list_filter = ["judgment__survey_round__survey"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReminderDeliveryInline(admin.TabularInline):
    model = ReminderDelivery
    extra = 0
    can_delete = False
    readonly_fields = ["invitation", "created_at", "sent_at", "skipped"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["survey_round", "send_at", "dispatched_at", "created_by"]
    list_filter = ["survey_round__survey"]
    readonly_fields = ["dispatched_at", "created_by"]
    inlines = [ReminderDeliveryInline]
