"""Resolutions of questions (with their append-only history) and recalibration fits.

A question is open until an organizer resolves it (yes / no, or the realized value of a
numeric question) or annuls it; a seed question carries its answer (``Question.seed_answer``)
from the start. ``Resolution`` holds the current state and every change appends a
``ResolutionEvent`` saying who changed what, when and why, so nothing is overwritten
silently. Writes go through ``resolution.services``.

A ``RecalibrationRun`` is the LLO recalibration of one round's aggregate, learned from the
resolved questions; like an aggregation run it is idempotent on (round, options, data),
where the data are the aggregate and the outcomes, so a resolution that changes the
outcomes asks for a new one and nothing else.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from aggregation.claims import WorkerRun
from aggregation.models import AggregationRun
from elicitation.models import Question, Round, Survey


class State(models.TextChoices):
    """Where a question stands; ``OPEN`` and ``SEED`` have no Resolution row."""

    OPEN = "open", _("Open")
    SEED = "seed", _("Seed (answer known from the start)")
    RESOLVED = "resolved", _("Resolved")
    ANNULLED = "annulled", _("Annulled")


class Resolution(models.Model):
    """The current resolution of a question (resolved or annulled)."""

    class Status(models.TextChoices):  # the values are those of State
        RESOLVED = "resolved", _("Resolved")
        ANNULLED = "annulled", _("Annulled")

    question = models.OneToOneField(Question, on_delete=models.CASCADE, related_name="resolution")
    status = models.CharField(max_length=10, choices=Status)
    # Binary: 1.0 (yes) or 0.0 (no). Numeric: the realized value. None when annulled.
    outcome = models.FloatField(null=True, blank=True)
    resolved_on = models.DateField(help_text=_("When the answer became known, or the annulment."))
    source = models.TextField(help_text=_("Where the answer comes from; for an annulment, why."))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)  # how many events led here

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status="resolved", outcome__isnull=False)
                | Q(status="annulled", outcome__isnull=True),
                name="resolution_outcome_iff_resolved",
            )
        ]

    def __str__(self) -> str:
        return f"{self.question.code}: {self.get_status_display()}"


class ResolutionEvent(models.Model):
    """One change of a question's resolution, as it happened: append-only."""

    class Action(models.TextChoices):
        RESOLVED = "resolved", _("Resolved")
        CHANGED = "changed", _("Resolution changed")
        ANNULLED = "annulled", _("Annulled")

    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="resolution_events"
    )
    action = models.CharField(max_length=10, choices=Action)
    # What the question was before ("open", "seed", "resolved", "annulled") and after.
    previous_state = models.CharField(max_length=10, choices=State)
    previous_outcome = models.FloatField(null=True, blank=True)
    previous_resolved_on = models.DateField(null=True, blank=True)
    previous_source = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=State)
    outcome = models.FloatField(null=True, blank=True)
    resolved_on = models.DateField()
    source = models.TextField()
    reason = models.TextField(blank=True, help_text=_("Why an earlier resolution was changed."))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.question.code}: {self.get_action_display()} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("resolution history is append-only: an event is never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("resolution history is append-only: an event is never deleted")


class RecalibrationRun(WorkerRun):
    """The LLO recalibration of a round's aggregate, fitted by a worker."""

    class Input(models.TextChoices):
        LOGODDS_MEAN = "logodds_mean", _("Log-odds mean of the round's answers")
        HIERARCHICAL = "hierarchical", _("Consensus of the round's hierarchical model")

    survey_round = models.ForeignKey(
        Round, on_delete=models.CASCADE, related_name="recalibration_runs"
    )
    # The hierarchical run whose consensus was the aggregate (input "hierarchical").
    source_run = models.ForeignKey(
        AggregationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # data_hash (WorkerRun) covers the aggregate and the outcomes together
    outcomes_hash = models.CharField(max_length=64)
    n_questions = models.PositiveIntegerField(default=0)
    n_resolved = models.PositiveIntegerField(default=0)
    n_events = models.PositiveIntegerField(default=0)

    class Meta(WorkerRun.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["survey_round", "options_hash", "data_hash"],
                name="recalibration_run_unique_per_data_and_options",
            )
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="recalibration_status_hb")]

    def __str__(self) -> str:
        return f"recalibration {self.id} of {self.survey_round} ({self.status})"

    @property
    def input(self) -> str:
        return self.options.get("input", self.Input.LOGODDS_MEAN)

    def get_input_display(self) -> str:
        return str(self.Input(self.input).label)


class ImportedDataset(models.Model):
    """A survey made from a data set of judgments and outcomes (``import_outcomes_survey``)."""

    survey = models.OneToOneField(Survey, on_delete=models.CASCADE, related_name="imported_dataset")
    name = models.CharField(max_length=200)
    source = models.TextField()
    data_hash = models.CharField(max_length=64, unique=True)
    n_judgments = models.PositiveIntegerField()
    n_outcomes = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name
