"""Surveys, their questions and rounds, the panel of experts and their judgments.

The database is the source of truth for judgments: a judgment is committed before the
response that accepted it returns, and every change to it is kept as a revision.
"""

import uuid
from datetime import datetime
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Survey(models.Model):
    class MetaPredictions(models.TextChoices):
        # Beside their own probability, experts predict each cohort's average answer
        # (``elicitation.meta``); which cohorts is the survey's cohort attribute's values.
        OFF = "off", _("Not asked")
        OPTIONAL = "optional", _("Asked, optional")
        REQUIRED = "required", _("Asked, required before submitting")

    class Anonymity(models.TextChoices):
        IDENTIFIED = "identified", _("Organizers see who answered what")
        # Names stay on the panel list (to send links); every page, export and report
        # that shows answers or progress shows codes only, and nothing maps one to the other.
        STRICT = "strict", _("Nobody can link answers to people")

    title = models.CharField(max_length=200)
    title_ko = models.CharField(_("title (Korean)"), max_length=200, blank=True)
    background = models.TextField(blank=True, help_text=_("Markdown, shown to experts first."))
    background_ko = models.TextField(_("background (Korean)"), blank=True)
    anonymity = models.CharField(
        max_length=12,
        choices=Anonymity,
        default=Anonymity.IDENTIFIED,
        help_text=_("Who may link answers to the experts who gave them."),
    )
    organizers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="organized_surveys"
    )
    analysts = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="analyzed_surveys",
        help_text=_("Members of the analyst group who may read this survey's reports."),
    )
    cohort_attribute = models.CharField(
        max_length=50,
        default="nationality",
        help_text=_("The expert attribute whose values are the cohorts compared in reports."),
    )
    meta_predictions = models.CharField(
        _("meta-predictions"),
        max_length=10,
        choices=MetaPredictions,
        default=MetaPredictions.OFF,
        help_text=_(
            "Whether experts also predict each cohort's average answer to the probability "
            "questions."
        ),
    )
    # Shown to experts on every page and every refusal: "whom to ask".
    contact_email = models.EmailField(
        blank=True, help_text=_("Whom experts write to with questions about this survey.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_strict(self) -> bool:
        return self.anonymity == self.Anonymity.STRICT


class Scenario(models.Model):
    """A contingency that questions are conditioned on (e.g. a blockade of Taiwan)."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="scenarios")
    code = models.SlugField(max_length=40)
    title = models.CharField(max_length=200)
    title_ko = models.CharField(_("title (Korean)"), max_length=200, blank=True)
    description = models.TextField(blank=True, help_text=_("Markdown."))
    description_ko = models.TextField(_("description (Korean)"), blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "code"], name="scenario_code_unique_in_survey"
            )
        ]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    class Kind(models.TextChoices):
        BINARY = "binary", _("Probability")
        NUMERIC = "numeric", _("Numeric (5/50/95 % quantiles)")

    class Scale(models.TextChoices):
        # The background measure of Cooke's information score for numeric questions.
        UNIFORM = "uniform", _("Uniform")
        LOG = "log", _("Log-uniform")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    scenario = models.ForeignKey(
        Scenario, null=True, blank=True, on_delete=models.SET_NULL, related_name="questions"
    )
    code = models.CharField(max_length=20, help_text=_("Short id used in reports, e.g. Q07."))
    text = models.TextField()
    text_ko = models.TextField(_("text (Korean)"), blank=True)
    guidance = models.TextField(blank=True, help_text=_("Help shown under the question."))
    guidance_ko = models.TextField(_("guidance (Korean)"), blank=True)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.BINARY)
    unit = models.CharField(max_length=40, blank=True)
    unit_ko = models.CharField(_("unit (Korean)"), max_length=40, blank=True)
    lower_bound = models.FloatField(null=True, blank=True)
    upper_bound = models.FloatField(null=True, blank=True)
    scale = models.CharField(max_length=10, choices=Scale, default=Scale.UNIFORM)
    resolution_criteria = models.TextField(blank=True)
    resolution_criteria_ko = models.TextField(_("resolution criteria (Korean)"), blank=True)
    tags = models.CharField(max_length=200, blank=True, help_text=_("Comma-separated."))
    is_seed = models.BooleanField(
        default=False, help_text=_("A calibration question whose answer is known to the organizer.")
    )
    # Binary: 1.0 (yes) or 0.0 (no). Numeric: the realized value.
    seed_answer = models.FloatField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Read only when the survey asks meta-predictions and the question is binary:
    # ``elicitation.meta.asks_meta`` is the one place that combines the three.
    asks_meta_predictions = models.BooleanField(
        _("ask meta-predictions"),
        default=True,
        help_text=_(
            "When the survey asks meta-predictions: ask this question's experts each "
            "cohort's average answer."
        ),
    )
    # The wording's version: raised by a clarification during an open round
    # (``elicitation.clarifications``); each answer records the version it was given under.
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "code"], name="question_code_unique_in_survey"
            ),
            models.CheckConstraint(
                condition=Q(lower_bound__isnull=True)
                | Q(upper_bound__isnull=True)
                | Q(lower_bound__lt=models.F("upper_bound")),
                name="question_bounds_ordered",
                violation_error_message=_("The lower bound must be below the upper bound."),
            ),
            models.CheckConstraint(
                condition=Q(is_seed=False) | Q(seed_answer__isnull=False),
                name="question_seed_has_answer",
                violation_error_message=_("A seed question needs its known answer (seed_answer)."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.text[:60]}"

    @property
    def is_binary(self) -> bool:
        return self.kind == self.Kind.BINARY

    @property
    def tag_list(self) -> list[str]:
        return [tag.strip() for tag in self.tags.split(",") if tag.strip()]


class Round(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status, default=Status.DRAFT)
    questions = models.ManyToManyField(Question, blank=True, related_name="rounds")
    # Planned dates, shown to experts; opened_at / closed_at record what happened.
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The closed round whose results experts see in this one; set when the round opens
    # (None for a first round). Feedback never comes from a round that is still open.
    feedback_round = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A rehearsal with test experts: its answers never reach runs, scores, feedback or
    # exports (every reader goes through ``Judgment.objects.counted()``), and one button
    # wipes it (``elicitation.pilot``).
    is_pilot = models.BooleanField(
        _("pilot round"),
        default=False,
        help_text=_("A rehearsal: its answers are never analysed, shown or exported."),
    )
    show_consensus = models.BooleanField(
        _("show the consensus"), default=True, help_text=_("The previous round's consensus.")
    )
    show_spread = models.BooleanField(
        _("show the spread"), default=True, help_text=_("Every answer, as a dot chart.")
    )
    show_cohorts = models.BooleanField(
        _("show each cohort's result"),
        default=False,
        help_text=_("Only cohorts large enough not to identify anyone."),
    )
    show_rationales = models.BooleanField(
        _("show the rationales"),
        default=True,
        help_text=_("The previous round's rationales, anonymised, except those hidden."),
    )
    # Off by default: experts see the typical expert's belief, as before the forecast
    # existed; the calibrated forecast leans on the record of resolved questions, which an
    # organizer may not want to feed back (issue 11).
    # Bumped whenever the previous-round panel experts see changes without a new answer
    # (a rationale hidden or shown, a name erased from the texts): part of the feedback
    # cache's version, which must only ever move forward (feedback._panel_version).
    panel_generation = models.PositiveIntegerField(default=0, editable=False)
    show_forecast = models.BooleanField(
        _("show the panel forecast"),
        default=False,
        help_text=_(
            "The previous round's panel forecast of each probability question (the typical "
            "expert's belief recalibrated on resolved questions), beside that belief."
        ),
    )

    class Meta:
        ordering = ["survey", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "number"], name="round_number_unique_in_survey"
            )
        ]

    def __str__(self) -> str:
        return f"{self.survey} — round {self.number}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


def default_time_zone() -> str:
    return settings.TIME_ZONE


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(
            _("“%(value)s” is not a time zone. Use a name such as Asia/Seoul or America/New_York."),
            params={"value": value},
            code="invalid_time_zone",
        )


class Expert(models.Model):
    """A panelist of one survey, as the analysis knows them: a code, cohort attributes, the
    language and time zone of their pages. No password: they answer on a personal link.

    Who they are (name, email) is an ``ExpertContact`` of its own, read by the pages that
    list the panel and by the code that sends their links and reminders. At the strict
    anonymity level no page shows the two together (see DESIGN.md, "Anonymity").
    """

    class Language(models.TextChoices):
        EN = "en", "English"
        KO = "ko", "한국어"

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="experts")
    # Exists only to carry django-sesame's signed tokens: an unusable password, a random
    # username and no email, so that the user list pairs nobody with anything.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="expert"
    )
    code = models.CharField(
        max_length=12,
        help_text=_("Anonymised id shown in reports, e.g. E48213. Drawn at random."),
    )
    language = models.CharField(max_length=5, choices=Language, default=Language.EN)
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text=_("Dates and times on the expert's pages and emails are shown in it."),
    )
    # Cohort attributes such as {"nationality": "ROK", "sector": "academia"}.
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["survey", "code"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "code"], name="expert_code_unique_in_survey"),
        ]

    def __str__(self) -> str:
        return self.code


class ExpertContact(models.Model):
    """Who an expert is: the name and the address their links and reminders go to.

    A random primary key and no ordering by anything of the expert's, so that neither an
    id nor the order of a list carries a contact over to a code.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="contacts")
    expert = models.OneToOneField(Expert, on_delete=models.CASCADE, related_name="contact")
    name = models.CharField(max_length=200)
    email = models.EmailField()

    class Meta:
        ordering = ["survey", "name", "email"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "email"], name="expert_contact_email_unique_in_survey"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Invitation(models.Model):
    """One expert's access to one round; its magic link is a token scoped to this row."""

    expert = models.ForeignKey(Expert, on_delete=models.CASCADE, related_name="invitations")
    survey_round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="invitations")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The language the expert picked on the page for this invitation (blank: the expert's).
    language = models.CharField(max_length=5, choices=Expert.Language, blank=True)
    # Part of the link's token scope: revoking the link raises it, which invalidates every
    # earlier link and ends the browser sessions that one opened.
    link_version = models.PositiveIntegerField(default=1)
    link_revoked_at = models.DateTimeField(null=True, blank=True)
    # Invited after the round opened (a late expert); the analysis lists them.
    joined_late = models.BooleanField(default=False)
    # Set on the others when a closed round is reopened for named experts: from then on
    # this expert's answers in the round can no longer change.
    answers_closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["expert", "survey_round"], name="invitation_unique_per_expert_round"
            )
        ]

    def __str__(self) -> str:
        return f"{self.expert.code} → {self.survey_round}"

    def is_expired(self, *, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())

    @property
    def takes_answers(self) -> bool:
        """The round is open and, if it was reopened for named experts, for this one."""
        return self.survey_round.is_open and self.answers_closed_at is None

    @property
    def effective_language(self) -> str:
        return self.language or self.expert.language


class RoundEvent(models.Model):
    """The audit line of a change of plan: a late invitation, a new closing time, a reopening."""

    class Kind(models.TextChoices):
        INVITED_LATE = "invited_late", _("Invited late")
        EXTENDED = "extended", _("Closing time changed")
        REOPENED = "reopened", _("Reopened")

    survey_round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind)
    at = models.DateTimeField(auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Codes only (never names), so the line is safe at every anonymity level.
    detail = models.TextField(blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["survey_round", "at", "id"]

    def __str__(self) -> str:
        return f"{self.survey_round}: {self.kind} at {self.at:%Y-%m-%d %H:%M}"


class JudgmentQuerySet(models.QuerySet):
    def counted(self) -> "JudgmentQuerySet":
        """The answers that count: none from a pilot round."""
        return self.filter(survey_round__is_pilot=False)


class Judgment(models.Model):
    """The current answer of one expert to one question in one round.

    Binary questions use ``probability`` (0–1); numeric ones ``q05``/``q50``/``q95``.
    Every save also appends a ``JudgmentRevision``, so nothing is silently overwritten.
    """

    expert = models.ForeignKey(Expert, on_delete=models.CASCADE, related_name="judgments")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="judgments")
    survey_round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="judgments")
    probability = models.FloatField(null=True, blank=True)
    q05 = models.FloatField(null=True, blank=True)
    q50 = models.FloatField(null=True, blank=True)
    q95 = models.FloatField(null=True, blank=True)
    # Binary questions that ask them: {cohort label: the expert's expected average answer
    # of that cohort's experts, 0-1}, e.g. {"ROK": 0.4, "US": 0.7}. Only known cohorts and
    # only answered ones (an empty dict: none given). See ``elicitation.meta``.
    meta_predictions = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True)
    # Round 2 and later: why the expert changed their answer from the previous round.
    change_reason = models.TextField(blank=True)
    # Set by an organizer on the moderation page: the rationale never reaches the experts.
    rationale_hidden = models.BooleanField(default=False)
    # The question's wording version this answer was given (or last confirmed) under.
    question_version = models.PositiveIntegerField(default=1)
    # When the expert confirmed the answer under a clarified wording without changing it.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = JudgmentQuerySet.as_manager()

    class Meta:
        ordering = ["survey_round", "question", "expert"]
        constraints = [
            models.UniqueConstraint(
                fields=["expert", "question", "survey_round"], name="judgment_unique_per_round"
            ),
            models.CheckConstraint(
                condition=Q(probability__isnull=True)
                | Q(probability__gte=0.0, probability__lte=1.0),
                name="judgment_probability_in_unit_interval",
            ),
            models.CheckConstraint(
                condition=Q(q05__isnull=True)
                | Q(q50__isnull=True)
                | Q(q95__isnull=True)
                | Q(q05__lte=models.F("q50"), q50__lte=models.F("q95")),
                name="judgment_quantiles_ordered",
            ),
            # A row is always a complete answer (a probability, or all three quantiles), so
            # readers such as the aggregation selectors never meet half-filled judgments.
            models.CheckConstraint(
                condition=Q(
                    probability__isnull=False,
                    q05__isnull=True,
                    q50__isnull=True,
                    q95__isnull=True,
                )
                | Q(
                    probability__isnull=True,
                    q05__isnull=False,
                    q50__isnull=False,
                    q95__isnull=False,
                ),
                name="judgment_answer_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.expert.code} on {self.question.code}, round {self.survey_round.number}"


class JudgmentRevision(models.Model):
    """An append-only copy of a judgment as it was saved at one moment."""

    judgment = models.ForeignKey(Judgment, on_delete=models.CASCADE, related_name="revisions")
    probability = models.FloatField(null=True, blank=True)
    q05 = models.FloatField(null=True, blank=True)
    q50 = models.FloatField(null=True, blank=True)
    q95 = models.FloatField(null=True, blank=True)
    meta_predictions = models.JSONField(default=dict, blank=True)
    rationale = models.TextField(blank=True)
    change_reason = models.TextField(blank=True)
    question_version = models.PositiveIntegerField(default=1)
    # A confirmation of the answer under a clarified wording (the values did not change).
    confirmed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["judgment", "created_at", "id"]

    def __str__(self) -> str:
        return f"revision of {self.judgment_id} at {self.created_at:%Y-%m-%d %H:%M}"


class Reminder(models.Model):
    """A reminder to the experts of an open round who have not submitted, sent at ``send_at``.

    Each expert gets it at most once (one ``ReminderDelivery`` per invitation), never after
    the round closed or after they submitted.
    """

    survey_round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="reminders")
    send_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the recipients were chosen (the deliveries created); null while it is scheduled.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["survey_round", "send_at", "id"]

    def __str__(self) -> str:
        return f"reminder for {self.survey_round} at {self.send_at:%Y-%m-%d %H:%M}"


class ReminderDelivery(models.Model):
    """One expert's copy of a reminder: the row that makes a second email impossible."""

    reminder = models.ForeignKey(Reminder, on_delete=models.CASCADE, related_name="deliveries")
    invitation = models.ForeignKey(
        Invitation, on_delete=models.CASCADE, related_name="reminder_deliveries"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Why it was not sent after all ("submitted", "closed", "expired"); blank otherwise.
    skipped = models.CharField(max_length=20, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reminder", "invitation"], name="reminder_delivery_unique_per_invitation"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reminder} → {self.invitation_id}"


class QuestionVersion(models.Model):
    """A wording of a question as it stood from ``created_at``: version 1 is the original,
    each clarification during an open round adds the next one."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    text_ko = models.TextField(blank=True)
    guidance = models.TextField(blank=True)
    guidance_ko = models.TextField(blank=True)
    # What changed and why, shown to the experts who answered before (blank for version 1).
    note = models.TextField(blank=True)
    note_ko = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["question", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["question", "number"], name="question_version_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.question.code} v{self.number}"


class ConsentVersion(models.Model):
    """One version of a survey's consent and information text (Markdown, both languages).

    The survey's latest version is the one experts must accept; a change of the text is a
    new version, and whoever accepted an older one is asked again before answering further.
    """

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="consent_versions")
    number = models.PositiveIntegerField()
    text = models.TextField(help_text=_("Markdown, shown to experts before the first question."))
    text_ko = models.TextField(_("text (Korean)"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["survey", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "number"], name="consent_version_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.survey} — consent v{self.number}"


class ConsentResponse(models.Model):
    """An expert's answer to one consent version: accepted or declined, when, on which
    invitation's page. Append-only: the latest response to the current version decides."""

    expert = models.ForeignKey(Expert, on_delete=models.CASCADE, related_name="consent_responses")
    version = models.ForeignKey(ConsentVersion, on_delete=models.CASCADE, related_name="responses")
    # The page it was given on; a pilot round's responses go when the pilot is wiped.
    invitation = models.ForeignKey(
        Invitation, on_delete=models.CASCADE, related_name="consent_responses"
    )
    accepted = models.BooleanField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["expert", "at", "id"]

    def __str__(self) -> str:
        verdict = "accepted" if self.accepted else "declined"
        return f"{self.expert.code} {verdict} consent v{self.version.number}"
