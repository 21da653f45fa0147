"""The audit of data-subject requests (an expert's export or erasure) and the runs that an
erasure left built on data since erased.

Kept in an app of its own so that no model of elicitation, aggregation or resolution has to
change: their rows are only pointed at. An audit line names the survey, who acted, when and
what was done; never the erased name or email.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SubjectRequest(models.Model):
    class Kind(models.TextChoices):
        EXPORT = "export", _("Export of the expert's data")
        ERASE_IDENTITY = "erase_identity", _("Erasure of the expert's identity")
        ERASE_ALL = "erase_all", _("Erasure of the expert's identity and answers")

    survey = models.ForeignKey(
        "elicitation.Survey", on_delete=models.CASCADE, related_name="subject_requests"
    )
    # The expert row stays after an erasure (a code and nothing else); null if it is deleted.
    expert = models.ForeignKey(
        "elicitation.Expert",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subject_requests",
    )
    kind = models.CharField(max_length=20, choices=Kind)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    # What was done, in counts ("3 answers, 5 revisions"): never a name or an email.
    detail = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.survey_id}) at {self.at:%Y-%m-%d %H:%M}"

    @property
    def is_erasure(self) -> bool:
        return self.kind != self.Kind.EXPORT


class ErasedRunMark(models.Model):
    """A finished run that used answers erased later: its results are kept as they were,
    and its report says that it was built on data since erased."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="marks")
    aggregation_run = models.ForeignKey(
        "aggregation.AggregationRun",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    recalibration_run = models.ForeignKey(
        "resolution.RecalibrationRun",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(aggregation_run__isnull=False)
                | models.Q(recalibration_run__isnull=False),
                name="erased_run_mark_names_a_run",
            )
        ]

    def __str__(self) -> str:
        return f"run marked by request {self.request_id}"
