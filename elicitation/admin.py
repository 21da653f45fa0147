"""Django admin for every elicitation model: the organizers' tool for what has no page.

Writes that carry domain rules go through the services: a new expert gets its password-less
user from ``expert_create``; rounds are opened and closed by admin actions that call
``round_open`` / ``round_close``; judgments and their history, question wordings, consent
texts and the experts' consent responses are records, read-only here (they change through
``clarifications.question_clarify`` and ``consent``, which keep the history).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from elicitation import services
from elicitation.models import (
    ConsentResponse,
    ConsentVersion,
    Expert,
    ExpertContact,
    Invitation,
    Judgment,
    JudgmentRevision,
    Question,
    QuestionVersion,
    Reminder,
    ReminderDelivery,
    Round,
    Scenario,
    Survey,
)


class DeletionSummaryMixin:
    """The delete confirmation lists how many objects of each kind go, not the objects:
    its nested list would put an expert's code above their contact (strict anonymity)."""

    def get_deleted_objects(self, objs, request):
        _to_delete, model_count, perms_needed, protected = super().get_deleted_objects(
            objs, request
        )
        summary = [f"{name}: {count}" for name, count in model_count.items()]
        return summary, model_count, perms_needed, protected


class NoLookupsAcrossMixin:
    """Refuses URL filters through the named relations (``?contact__name=...``,
    ``?expert=<pk>``): either would pair a contact with a code."""

    refused_lookups: tuple[str, ...] = ()

    def lookup_allowed(self, lookup, value, request=None):
        if lookup.split("__")[0] in self.refused_lookups:
            return False
        return super().lookup_allowed(lookup, value, request)


class ScenarioInline(admin.TabularInline):
    model = Scenario
    extra = 0
    fields = ["position", "code", "title", "title_ko"]


@admin.register(Survey)
class SurveyAdmin(DeletionSummaryMixin, admin.ModelAdmin):
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
    list_display = ["survey", "number", "status", "is_pilot", "opened_at", "closed_at"]
    list_filter = ["survey", "status", "is_pilot"]
    # Status and questions change only through round_open / round_close (the actions).
    readonly_fields = ["status", "questions", "opened_at", "closed_at", "feedback_round"]
    actions = ["open_rounds", "close_rounds"]

    def get_readonly_fields(self, request, obj=None):
        # Once opened, a round is a pilot or not for good: turning the flag would let its
        # answers into runs, scores and exports (or take them out) behind everyone's back.
        if obj is not None and obj.status != Round.Status.DRAFT:
            return [*self.readonly_fields, "is_pilot"]
        return self.readonly_fields

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


class ExpertAddForm(forms.ModelForm):
    """Adding an expert in the admin: their contact comes with them (services.expert_create)."""

    name = forms.CharField(max_length=200)
    email = forms.EmailField()

    class Meta:
        model = Expert
        fields = ["survey", "code", "language", "time_zone", "attributes"]
        help_texts = {
            "code": _("Leave empty for the next E-number; ignored (random) at the strict level.")
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].required = False


class ExpertContactInline(admin.StackedInline):
    """Identified surveys only: the expert's name and email on the expert's page."""

    model = ExpertContact
    fields = ["name", "email"]
    can_delete = False
    extra = 0
    max_num = 1


@admin.register(Expert)
class ExpertAdmin(DeletionSummaryMixin, NoLookupsAcrossMixin, admin.ModelAdmin):
    """Codes, cohorts, languages: what the analysis knows of an expert. At the strict
    anonymity level nothing of their contact shows here (see ExpertContactAdmin)."""

    list_display = ["code", "survey", "name_if_identified", "language", "time_zone"]
    list_filter = ["survey", "language"]
    search_fields = ["code"]
    refused_lookups = ("contact", "user")

    @admin.display(description=_("name"))
    def name_if_identified(self, obj: Expert) -> str:
        if obj.survey.is_strict:
            return _("hidden (strict anonymity)")
        return obj.contact.name

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("survey", "contact")

    def get_search_results(self, request, queryset, search_term):
        """A search by name finds experts of identified surveys only."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            named = queryset.filter(
                survey__anonymity=Survey.Anonymity.IDENTIFIED,
                contact__name__icontains=search_term.strip(),
            )
            results = results | named
        return results, duplicates

    def get_inlines(self, request, obj):
        return [ExpertContactInline] if obj is not None and not obj.survey.is_strict else []

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ExpertAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["survey", "name", "email", "code", "language", "time_zone", "attributes"]
        return ["survey", "code", "language", "time_zone", "attributes"]

    def get_readonly_fields(self, request, obj=None):
        return ["survey", "code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        # An expert who was invited has answers and history: deleting would lose them.
        if obj is not None and obj.invitations.exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.expert_create(
            survey=obj.survey,
            name=form.cleaned_data["name"],
            email=form.cleaned_data["email"],
            language=obj.language,
            attributes=obj.attributes,
            code=obj.code or None,
            time_zone=obj.time_zone,
        )
        obj.pk, obj.user, obj.code = created.pk, created.user, created.code

    def response_add(self, request, obj, post_url_continue=None):
        """At the strict level the admin who typed the name must not be shown the code it
        got (Django's message and redirect would link to the expert's page)."""
        if obj.survey.is_strict:
            self.message_user(
                request,
                _(
                    "Expert added. This survey is strictly anonymous: their code was drawn "
                    "at random and is not shown next to the name you typed."
                ),
                messages.SUCCESS,
            )
            return redirect("admin:elicitation_expertcontact_changelist")
        return super().response_add(request, obj, post_url_continue)


@admin.register(ExpertContact)
class ExpertContactAdmin(DeletionSummaryMixin, NoLookupsAcrossMixin, admin.ModelAdmin):
    """The panel's names and emails, by name: no code, no cohort, no link to the expert,
    no filter or ordering through them, and a random id in the URL."""

    list_display = ["name", "email", "survey"]
    list_filter = ["survey"]
    search_fields = ["name", "email"]
    fields = ["survey", "name", "email"]
    readonly_fields = ["survey"]
    refused_lookups = ("expert",)

    def get_queryset(self, request):
        # Any ordering a URL asks for ends in name order, never in the random ids' order
        # (the admin's tie-breaker): a stable, meaningless order.
        return super().get_queryset(request).order_by("survey", "name", "email")

    def has_add_permission(self, request):
        return False  # a contact comes with its expert (the import, or the expert admin)

    def has_delete_permission(self, request, obj=None):
        return False  # it goes with its expert


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
        "meta_predictions",
        "rationale",
        "change_reason",
        "question_version",
        "confirmed",
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
        "question_version",
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
    """Read-only, including the confirmations of an answer under a clarified wording (a
    revision marked ``confirmed``)."""

    list_display = [
        "judgment",
        "probability",
        "q05",
        "q50",
        "q95",
        "question_version",
        "confirmed",
        "created_at",
    ]
    list_filter = ["judgment__survey_round__survey", "confirmed"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecordAdmin(admin.ModelAdmin):
    """A record: viewed, never added, changed or deleted here (it goes with its survey)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(QuestionVersion)
class QuestionVersionAdmin(RecordAdmin):
    """The wordings a question had: written by ``clarifications.question_clarify``."""

    list_display = ["question", "number", "text", "created_at", "created_by"]
    list_filter = ["question__survey"]
    search_fields = ["question__code", "text", "text_ko"]


@admin.register(ConsentVersion)
class ConsentVersionAdmin(RecordAdmin):
    """The consent texts experts accepted or declined: a change is a new version, made on
    the survey page (``consent.consent_version_save``)."""

    list_display = ["survey", "number", "created_at", "created_by"]
    list_filter = ["survey"]


@admin.register(ConsentResponse)
class ConsentResponseAdmin(ExpertCodeMixin, NoLookupsAcrossMixin, RecordAdmin):
    """Append-only: the expert shows as a code, never as a link to the expert or a search
    or filter by anything of their contact."""

    list_display = ["expert_code", "version", "accepted", "at", "invitation"]
    list_filter = ["version__survey", "accepted"]
    search_fields = ["expert__code"]
    exclude = ["expert"]
    readonly_fields = ["expert_code", "version", "invitation", "accepted", "at"]
    refused_lookups = ("expert",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("expert", "version__survey", "invitation__survey_round__survey")
            .select_related("invitation__expert")
        )


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


class ConsiliumUserAdmin(DeletionSummaryMixin, UserAdmin):
    """Django's user admin, whose delete confirmation would list an expert user's expert
    and, under it, their contact."""


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), ConsiliumUserAdmin)
