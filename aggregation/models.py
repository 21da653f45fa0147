"""Aggregation runs of a round's judgments and their per-question results.

A run is idempotent on (round, method, options, data hash): asking again for the same
thing returns the same row. Workers claim a run by a conditional update and write its
results fenced by their attempt number, so a worker that lost its claim (it was killed or
stalled, and another took the run over) can never write a second set of results.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from aggregation.claims import WorkerRun
from elicitation.models import Question, Round


class AggregationRun(WorkerRun):
    class Method(models.TextChoices):
        HIERARCHICAL = "hierarchical", _("Hierarchical Bayesian model")
        LINEAR_POOL = "linear_pool", _("Linear pool (mean)")
        MEDIAN = "median", _("Median")
        LOGODDS_MEAN = "logodds_mean", _("Log-odds mean")
        EXTREMIZED_LOGODDS = "extremized_logodds", _("Extremized log-odds mean")
        # This round and the previous one fitted together (aggregation.engine.rounds).
        LINKED_ROUNDS = "linked_rounds", _("Rounds linked (hierarchical, Delphi)")
        # The round's numeric (5/50/95 %) questions (aggregation.engine.numeric). Its
        # per-question numbers stay in ``result`` and get no QuestionResult rows: those are
        # binary-shaped (a probability, not null), read by the scores, the recalibration
        # and the round comparison as probabilities; a numeric entry is nested (a forecast
        # triple, four decision makers' triples, cohort medians on the question's own
        # scale), and nothing queries it per question: pages and downloads read the run's
        # JSON once, as the linked run's pages do.
        NUMERIC_HIERARCHICAL = (
            "numeric_hierarchical",
            _("Hierarchical Bayesian model of quantiles (numeric questions)"),
        )

    survey_round = models.ForeignKey(
        Round, on_delete=models.CASCADE, related_name="aggregation_runs"
    )
    method = models.CharField(max_length=30, choices=Method, default=Method.HIERARCHICAL)
    n_judgments = models.PositiveIntegerField(default=0)
    timings = models.JSONField(default=dict, blank=True)
    diagnostics = models.JSONField(default=dict, blank=True)
    # result (WorkerRun) holds the DESIGN.md result contract
    figures = models.JSONField(default=dict, blank=True)  # figure name -> path under MEDIA_ROOT

    class Meta(WorkerRun.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["survey_round", "method", "options_hash", "data_hash"],
                name="aggregation_run_unique_per_data_and_spec",
            )
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="aggregation_run_status_hb")
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} of {self.survey_round} ({self.status})"


class QuestionResult(models.Model):
    """One question's numbers from a run (the contract's ``questions`` entry)."""

    run = models.ForeignKey(
        AggregationRun, on_delete=models.CASCADE, related_name="question_results"
    )
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="results")
    n_judgments = models.PositiveIntegerField()
    consensus = models.FloatField()
    consensus_lower = models.FloatField(null=True, blank=True)
    consensus_upper = models.FloatField(null=True, blank=True)
    disagreement = models.FloatField(null=True, blank=True)
    disagreement_lower = models.FloatField(null=True, blank=True)
    disagreement_upper = models.FloatField(null=True, blank=True)
    cohorts = models.JSONField(default=dict, blank=True)
    cohort_gaps = models.JSONField(default=list, blank=True)
    baselines = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "question__position", "question__id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "question"], name="question_result_unique_per_run"
            )
        ]

    def __str__(self) -> str:
        return f"{self.question.code}: {self.consensus:.2f}"

    @property
    def largest_gap(self) -> dict | None:
        """The cohort gap with the largest absolute mean, or None with fewer than 2 cohorts."""
        return max(self.cohort_gaps, key=lambda gap: abs(gap["mean"]), default=None)
