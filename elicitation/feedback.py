"""What an expert sees of the previous round in a Delphi round: the panel's feedback.

The independence rules live here, in one place:

- feedback comes only from the round's ``feedback_round``, which ``round_open`` sets to a
  closed round; a round that is still open never feeds anything to anyone;
- an expert sees it only after answering on their own: they submitted the feedback round,
  or they have submitted this round (an expert who skipped round 1 answers first);
- only the answers of experts who submitted the feedback round count, as in the report;
- rationales an organizer hid never appear, and no name or code appears at all.

The consensus is the posterior mean and interval of the feedback round's latest succeeded
hierarchical run; for a numeric question it is the forecast (5/50/95 %) of the round's latest
succeeded numeric run. Without such a run it is the median of the answers, and the page says
so; a seed question's result is never shown (the model's forecast of a seed is its known
value, which would tell the experts the answer). The spread of the answers is drawn as a dot
plot (one dot per answer, stacked in bins) in inline SVG, with a text alternative.
"""

import hashlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median, quantiles

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Max, Q
from django.template.defaultfilters import linebreaksbr
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from elicitation import selectors, texts
from elicitation.models import Invitation, Judgment, Question, Round

logger = logging.getLogger(__name__)

NUMERIC_METHOD = "numeric_hierarchical"  # AggregationRun.Method (aggregation builds on us)

# The panel data is keyed by its version, so a change is seen at once; this only bounds
# how long an unused version stays in the cache.
PANEL_CACHE_SECONDS = 24 * 3600
SVG_WIDTH = 320
PLOT_LEFT, PLOT_RIGHT = 14, 306
BINS = 20
DOT_RADIUS = 4.5
ROW_STEP = 10
MAX_STACK_HEIGHT = 110


# --- Numbers as the expert's locale writes them ------------------------------------------


def number_text(value: float) -> str:
    """A value in the expert's locale, with sensible precision for its size."""
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 or value == round(value) else 1 if magnitude >= 1 else 3
    return formats.number_format(round(value, digits), decimal_pos=digits, force_grouping=True)


def percent_text(probability: float) -> str:
    """0.62 → "62 %"; a tenth of a percent near 0 and 100, where it matters."""
    percent = probability * 100
    digits = 0 if 1 <= percent <= 99 or percent in (0, 100) else 1
    value = formats.number_format(round(percent, digits), decimal_pos=digits)
    return _("%(value)s %%") % {"value": value}


def answer_text(question: Question, judgment: Judgment, unit: str = "") -> str:
    if question.is_binary:
        return percent_text(judgment.probability)
    text = _("5 %%: %(low)s, 50 %%: %(mid)s, 95 %%: %(high)s") % {
        "low": number_text(judgment.q05),
        "mid": number_text(judgment.q50),
        "high": number_text(judgment.q95),
    }
    return f"{text} {unit}".strip()


# --- What the page shows ------------------------------------------------------------------


@dataclass(frozen=True)
class Consensus:
    from_model: bool
    text: str  # e.g. "62 %"
    lower_text: str = ""
    upper_text: str = ""
    interval_percent: str = "90"


@dataclass(frozen=True)
class CohortResult:
    name: str
    text: str
    lower_text: str = ""
    upper_text: str = ""


@dataclass(frozen=True)
class Rationale:
    answer: str
    text: str
    language: str  # "" when unknown: the page language applies


@dataclass
class Spread:
    n: int
    summary: str
    height: int
    axis_y: int
    dots: list[tuple[float, float]] = field(default_factory=list)
    ticks: list[tuple[float, str, str]] = field(default_factory=list)  # x, label, anchor
    own_x: float | None = None

    consensus_x: float | None = None
    band: tuple[float, float] | None = None  # x and width of the consensus interval
    axis: "_Axis | None" = None

    # Each dot is a zero-length stroke with a round cap (the stylesheet's .dots): a few
    # characters a dot instead of a <circle> element.
    @property
    def dots_path(self) -> str:
        return "".join(f"M{x:g} {y:g}h0" for x, y in self.dots)


@dataclass
class QuestionFeedback:
    """A question's feedback on one expert's page: the panel's part, the same for every
    expert (``panel``, HTML from the cache), and the expert's own answer around it."""

    question: Question
    own: Judgment | None
    own_text: str
    panel: "PanelFragments"
    own_x: float | None = None  # where the expert's own answer sits on the dot plot
    rationales: list[str] = field(default_factory=list)  # others' reasons, <li> each

    @property
    def rationales_html(self) -> SafeString:
        return mark_safe("".join(self.rationales))  # noqa: S308 (each escaped by format_html)


@dataclass
class RoundFeedback:
    """The feedback of an invitation's round, or why there is none for this expert."""

    feedback_round: Round | None
    visible: bool
    questions: dict[int, QuestionFeedback] = field(default_factory=dict)
    model_missing: bool = False  # binary consensus shown as a median: no model run yet
    forecast_missing: bool = False  # the forecast is shown, but not fitted for a question


def invitation_feedback(
    *,
    invitation: Invitation,
    language: str,
    questions: list[Question] | None = None,
    own: dict[int, Judgment] | None = None,
) -> RoundFeedback:
    """The feedback for ``questions`` (default: the whole round) on this expert's page;
    ``own``: the expert's previous answers when the caller has read them already.

    The panel's part of each question is rendered once per panel version, round settings,
    question and language, and kept in the cache (``PanelFragments``); a page adds the
    expert's own answer, their place on the dot plot, and leaves their own reason out.
    """
    survey_round = invitation.survey_round
    previous = survey_round.feedback_round
    # A pilot round is never anyone's feedback (round_open never picks one; this holds
    # for rows older than the flag too).
    if previous is None or previous.status != Round.Status.CLOSED or previous.is_pilot:
        return RoundFeedback(None, visible=False)
    if not _answered_independently(invitation=invitation, previous=previous):
        return RoundFeedback(previous, visible=False)
    feedback = RoundFeedback(previous, visible=True)
    if own is None:
        own = selectors.invitation_previous_judgments(invitation=invitation)
    if questions is None:
        questions = list(survey_round.questions.all())
    version = _panel_version(previous)
    cached, panel, _rendered = _cached_fragments(
        survey_round, previous, version, questions, language
    )
    for question in questions:
        fragments = cached[question.id]
        if not fragments.asked:
            continue  # a question new in this round has no feedback
        mine = own.get(question.id)
        if mine is not None and not fragments.places(_display_value(question, mine)):
            # an answer beyond the panel's moves a numeric plot's axis: drawn for this page
            panel = panel or previous_round_panel(previous, version=version)
            fragments = _fragments(survey_round, panel, question, language, own=mine)
        unit = texts.localized(question, "unit", language).text
        item = QuestionFeedback(
            question,
            mine,
            answer_text(question, mine, unit) if mine else "",
            fragments,
            own_x=fragments.own_x(_display_value(question, mine)) if mine else None,
            rationales=[html for expert_id, html in fragments.rationales
                        if expert_id != invitation.expert_id],
        )  # fmt: skip
        feedback.model_missing |= fragments.model_missing
        feedback.forecast_missing |= fragments.forecast_missing
        feedback.questions[question.id] = item
    return feedback


def _cached_fragments(survey_round, previous, version, questions, language):
    """Each question's PanelFragments from the cache, those missing rendered and cached;
    the panel, when it had to be read (else None); and how many were rendered."""
    keys = {q.id: _fragments_key(survey_round, version, q, language) for q in questions}
    found = cache.get_many(list(keys.values()))
    fresh, panel, fragments = {}, None, {}
    for question in questions:
        fragments[question.id] = found.get(keys[question.id])
        if fragments[question.id] is None:
            panel = panel or previous_round_panel(previous, version=version)
            fragments[question.id] = _fragments(survey_round, panel, question, language)
            fresh[keys[question.id]] = fragments[question.id]
    if fresh:
        cache.set_many(fresh, timeout=PANEL_CACHE_SECONDS)
    return fragments, panel, len(fresh)


def feedback_warm(*, feedback_round_id: int | None = None) -> int:
    """Render and cache the panel's feedback of every open round (or of those fed by
    ``feedback_round_id``), every question in every language, where the cache lacks it for
    the panel's current version. Off the request path (``feedback_warm_task``: when a
    worker starts, when a run or recalibration of a closed round finishes, when a round
    opens or its panel changes, and from beat):
    otherwise the first experts after a new result, or after the cache was emptied, all
    render the same fragments at once (bench/load.py: form loads of 0.3-3.6 s in its first
    seconds, against ~50 ms after). Returns how many fragments were rendered."""
    rounds = Round.objects.filter(
        status=Round.Status.OPEN,
        is_pilot=False,
        feedback_round__status=Round.Status.CLOSED,
        feedback_round__is_pilot=False,
    ).select_related("survey", "feedback_round")
    if feedback_round_id is not None:
        rounds = rounds.filter(feedback_round_id=feedback_round_id)
    rendered = 0
    for survey_round in rounds:
        previous = survey_round.feedback_round
        version = _panel_version(previous)
        questions = list(survey_round.questions.all())
        for language, _name in settings.LANGUAGES:
            rendered += _cached_fragments(survey_round, previous, version, questions, language)[2]
    return rendered


def feedback_warm_soon(*, feedback_round_id: int | None = None) -> None:
    """Queue ``feedback_warm`` once the current transaction commits (a new result, a hidden
    rationale). A broker that is down only delays it: beat's sweep, and any expert's page,
    render what is missing."""
    from elicitation.tasks import feedback_warm_task  # tasks import this module

    def send() -> None:
        try:
            feedback_warm_task.delay(feedback_round_id)
        except Exception:  # kombu raises many types; the warm-up is an optimisation
            logger.warning("could not queue the feedback warm-up", exc_info=True)

    transaction.on_commit(send, robust=True)


def _answered_independently(*, invitation: Invitation, previous: Round) -> bool:
    if invitation.submitted_at is not None:
        return True
    return Invitation.objects.filter(
        expert_id=invitation.expert_id, survey_round=previous, submitted_at__isnull=False
    ).exists()


# --- The closed round's panel, read once and cached --------------------------------------


@dataclass(frozen=True)
class PanelAnswer:
    """One counted answer of the closed round: what the feedback needs of a Judgment."""

    id: int
    expert_id: int
    probability: float | None
    q05: float | None
    q50: float | None
    q95: float | None
    rationale: str
    rationale_hidden: bool
    attributes: dict


@dataclass(frozen=True)
class PanelResult:
    """What the feedback needs of a QuestionResult of the round's latest model run."""

    consensus: float
    consensus_lower: float | None
    consensus_upper: float | None
    cohorts: dict
    interval_percent: str
    cohort_sizes: dict


@dataclass(frozen=True)
class PanelForecast:
    """What the feedback needs of a numeric run's entry for a question (not a seed's)."""

    q05: float
    q50: float
    q95: float
    cohorts: dict  # cohort -> {mean, interval}: each cohort's median
    cohort_sizes: dict


@dataclass(frozen=True)
class PanelBinaryForecast:
    """What the feedback needs of the panel forecast (recalibrated consensus) of a question."""

    mean: float
    lower: float
    upper: float
    interval_percent: str


@dataclass(frozen=True)
class Panel:
    asked: frozenset[int]
    answers: dict[int, list[PanelAnswer]]
    results: dict[int, PanelResult]
    forecasts: dict[int, PanelForecast] = field(default_factory=dict)
    known: frozenset[int] = frozenset()  # numeric questions the run read as seeds
    # the panel forecast of the binary questions still open when it was fitted
    binary_forecasts: dict[int, "PanelBinaryForecast"] = field(default_factory=dict)


def previous_round_panel(previous: Round, *, version: str | None = None) -> Panel:
    """The closed round's counted answers and model results, from the cache when nothing
    they depend on has changed since (answers, submissions, hidden rationales, runs).

    Every expert page of a follow-up round shows them, so they are read from the database
    once per change, not once per page (the version costs a few small queries). Cohort
    attributes edited after the round closed are not part of the version: the cohort rows
    follow within PANEL_CACHE_SECONDS.
    """
    key = f"feedback-panel:v4:{previous.id}:{version or _panel_version(previous)}"
    panel = cache.get(key)
    if panel is None:
        panel = _panel_read(previous)
        cache.set(key, panel, timeout=PANEL_CACHE_SECONDS)
    return panel


def _panel_version(previous: Round) -> str:
    stats = (
        Judgment.objects.counted()
        .filter(survey_round=previous)
        .aggregate(n=Count("id"), changed=Max("updated_at"))
    )
    # Which rationales are hidden, not how many: hiding one and showing another keeps the
    # count (and hiding leaves updated_at as it was).
    hidden = list(
        Judgment.objects.counted()
        .filter(survey_round=previous, rationale_hidden=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    submitted = previous.invitations.aggregate(
        n=Count("id", filter=Q(submitted_at__isnull=False)), last=Max("submitted_at")
    )
    # round_latest_succeeded_run's choice for both methods, by id only (a run's row carries
    # its whole result): the latest of each comes first
    latest: dict[str, int] = {}
    for method, run_id in (
        previous.aggregation_runs.filter(
            status="succeeded", method__in=("hierarchical", NUMERIC_METHOD)
        )
        .order_by("-created_at", "-id")
        .values_list("method", "id")
    ):
        latest.setdefault(method, run_id)
    run, numeric = latest.get("hierarchical"), latest.get(NUMERIC_METHOD)
    generation = Round.objects.filter(pk=previous.pk).values_list("panel_generation", flat=True)
    parts = (
        generation.first(),  # moderation and erasure: moves only forward
        stats["n"],
        hidden,
        stats["changed"],
        submitted["n"],
        submitted["last"],
        run,
        numeric,
        _forecast_inputs(previous, run),
        previous.questions.count(),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:20]


def _forecast_inputs(previous: Round, run: int | None) -> tuple:
    """What the panel forecast of ``run`` (``_forecast_run``) depends on, read in two small
    queries: the recalibrations of the run (which of them applies, and whether it has
    finished) and the survey's known outcomes (resolutions, seeds, scenario groups), by
    which it is chosen. Choosing it (``forecast_current``) reads and hashes the
    recalibration's inputs, ~10 ms: that is left to a cache miss."""
    if run is None:
        return ()
    from resolution.models import RecalibrationRun  # resolution builds on us

    recalibrations = RecalibrationRun.objects.filter(survey_round=previous, source_run_id=run)
    outcomes = Question.objects.filter(survey_id=previous.survey_id).order_by("id").values_list(
        "id", "code", "kind", "is_seed", "seed_answer", "scenario__code",
        "resolution__status", "resolution__outcome",
    )  # fmt: skip
    return (
        list(recalibrations.order_by("id").values_list("id", "status", "data_hash")),
        list(outcomes),
    )


def _panel_read(previous: Round) -> Panel:
    asked = frozenset(previous.questions.values_list("id", flat=True))
    forecasts, known = _forecasts(previous)
    return Panel(
        asked,
        _answers_by_question(previous),
        _model_results(previous),
        forecasts,
        known,
        _binary_forecasts(previous),
    )


def _forecast_run(run):
    """The panel forecast (a RecalibrationRun) of a hierarchical run on today's outcomes."""
    from resolution.recalibration import forecast_current  # resolution builds on us

    return forecast_current(source_run=run) if run is not None else None


def _binary_forecasts(previous: Round) -> dict[int, PanelBinaryForecast]:
    """Question id → the fitted panel forecast of the round's latest hierarchical run, for
    the questions open when it was fitted: a resolved or seed question's forecast was
    learned from its own outcome, and would tell the experts the answer."""
    from aggregation.selectors import round_latest_succeeded_run  # aggregation builds on us

    forecast = _forecast_run(round_latest_succeeded_run(survey_round=previous))
    if forecast is None or forecast.status != forecast.Status.SUCCEEDED:
        return {}
    result = forecast.result or {}
    mass = f"{result.get('interval_mass', 0.9) * 100:g}"
    ids = dict(previous.survey.questions.values_list("code", "id"))
    return {
        ids[code]: PanelBinaryForecast(entry["mean"], *entry["interval"], mass)
        for code, entry in (result.get("questions") or {}).items()
        if code in ids and not entry.get("resolved")
    }


def _model_results(previous: Round) -> dict[int, PanelResult]:
    """Question id → the result of the round's latest succeeded hierarchical run."""
    from aggregation.selectors import round_latest_succeeded_run  # aggregation builds on us

    run = round_latest_succeeded_run(survey_round=previous)
    if run is None:
        return {}
    mass = (run.result or {}).get("interval_mass", 0.9)
    sizes = _cohort_sizes(run.result or {})
    return {
        result.question_id: PanelResult(
            result.consensus,
            result.consensus_lower,
            result.consensus_upper,
            result.cohorts,
            f"{mass * 100:g}",
            sizes,
        )
        for result in run.question_results.all()
    }


def _forecasts(previous: Round) -> tuple[dict[int, PanelForecast], frozenset[int]]:
    """Question id → the forecast of the round's latest succeeded numeric run; seeds (and
    questions resolved before the fit) are left out, their ids returned apart: their
    forecast is the known value."""
    from aggregation.selectors import round_latest_succeeded_run  # aggregation builds on us

    run = round_latest_succeeded_run(survey_round=previous, method=NUMERIC_METHOD)
    if run is None:
        return {}, frozenset()
    entries = (run.result or {}).get("questions") or {}
    sizes = _cohort_sizes(run.result or {})
    ids = dict(previous.questions.values_list("code", "id"))
    known = frozenset(
        ids[code] for code, entry in entries.items() if code in ids and entry.get("seed")
    )
    forecasts = {
        ids[code]: PanelForecast(
            entry["forecast"]["q05"],
            entry["forecast"]["q50"],
            entry["forecast"]["q95"],
            entry.get("cohorts") or {},
            sizes,
        )
        for code, entry in entries.items()
        if code in ids and not entry.get("seed") and entry.get("forecast")
    }
    return forecasts, known


def _cohort_sizes(result: dict) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for expert in (result.get("experts") or {}).values():
        sizes[expert["cohort"]] = sizes.get(expert["cohort"], 0) + 1
    return sizes


def _answers_by_question(previous: Round) -> dict[int, list[PanelAnswer]]:
    """The answers that count: those of experts who submitted the round (never a pilot's)."""
    rows = Judgment.objects.counted().filter(
        survey_round=previous,
        expert__invitations__survey_round=previous,
        expert__invitations__submitted_at__isnull=False,
    ).values_list(
        "question_id", "id", "expert_id", "probability", "q05", "q50", "q95", "rationale",
        "rationale_hidden", "expert__attributes",
    )  # fmt: skip
    by_question: dict[int, list[PanelAnswer]] = {}
    for question_id, *values in rows:
        by_question.setdefault(question_id, []).append(PanelAnswer(*values))
    return by_question


def _consensus(question: Question, judgments: list[Judgment], result) -> Consensus | None:
    if not question.is_binary and result is not None:  # a PanelForecast
        return Consensus(
            True, number_text(result.q50), number_text(result.q05), number_text(result.q95)
        )
    if question.is_binary and result is not None:
        has_interval = result.consensus_lower is not None and result.consensus_upper is not None
        return Consensus(
            True,
            percent_text(result.consensus),
            percent_text(result.consensus_lower) if has_interval else "",
            percent_text(result.consensus_upper) if has_interval else "",
            result.interval_percent,
        )
    if not judgments:
        return None
    if question.is_binary:
        return Consensus(False, percent_text(median(j.probability for j in judgments)))
    return Consensus(
        False,
        number_text(median(j.q50 for j in judgments)),
        number_text(median(j.q05 for j in judgments)),
        number_text(median(j.q95 for j in judgments)),
    )


def _forecast(forecast: PanelBinaryForecast | None) -> Consensus | None:
    if forecast is None:
        return None
    return Consensus(
        True,
        percent_text(forecast.mean),
        percent_text(forecast.lower),
        percent_text(forecast.upper),
        forecast.interval_percent,
    )


def _cohorts(question, judgments, result, attribute: str) -> list[CohortResult]:
    """Each cohort's result, only for cohorts of at least REPORT_MIN_COHORT_SIZE experts."""
    minimum = settings.REPORT_MIN_COHORT_SIZE
    if result is not None:
        text = percent_text if question.is_binary else number_text
        return [
            CohortResult(name, text(point["mean"]), *_interval_texts(point, text))
            for name, point in sorted(result.cohorts.items())
            if result.cohort_sizes.get(name, 0) >= minimum
        ]
    groups: dict[str, list[Judgment]] = {}
    for judgment in judgments:
        groups.setdefault(str(judgment.attributes.get(attribute) or ""), []).append(judgment)
    rows = []
    for name, members in sorted(groups.items()):
        if not name or len(members) < minimum:
            continue
        if question.is_binary:
            rows.append(CohortResult(name, percent_text(median(j.probability for j in members))))
        else:
            rows.append(CohortResult(name, number_text(median(j.q50 for j in members))))
    return rows


def _interval_texts(point: dict, text=percent_text) -> tuple[str, str]:
    lower, upper = point.get("interval") or (None, None)
    if lower is None or upper is None:
        return "", ""
    return text(lower), text(upper)


def _rationales(question, judgments, unit: str) -> tuple[tuple[int, str], ...]:
    """The panel's visible rationales, with the answer each came with, lowest first, as
    (expert id, <li>): a page leaves its own expert's out."""
    shown = [j for j in judgments if j.rationale and not j.rationale_hidden]
    shown.sort(key=lambda j: (_position(question, j), j.id))
    return tuple(
        (j.expert_id, _rationale_html(Rationale(answer_text(question, j, unit), j.rationale,
                                                text_language(j.rationale))))
        for j in shown
    )  # fmt: skip


def _rationale_html(rationale: Rationale) -> str:
    language = format_html(' lang="{}"', rationale.language) if rationale.language else ""
    return format_html(
        '<li><span class="rationale-answer">{}</span> <span{}>{}</span></li>',
        rationale.answer,
        language,
        linebreaksbr(rationale.text, autoescape=True),
    )


def text_language(text: str) -> str:
    """ "ko" for mostly Hangul, "en" for mostly Latin letters, "" when unsure (for lang=)."""
    hangul = sum(1 for c in text if "\uac00" <= c <= "\ud7a3")
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    if hangul > latin:
        return "ko"
    return "en" if latin > 2 * hangul else ""


def _position(question: Question, judgment: Judgment) -> float:
    return judgment.probability if question.is_binary else judgment.q50


# --- The panel's part of the page, rendered once and cached ------------------------------


@dataclass(frozen=True)
class PanelFragments:
    """A question's feedback as HTML, less what is the expert's own (their answer, their
    triangle on the dot plot, the keep button, their own reason): the same for every expert
    of the round, so it is rendered once per panel version, round settings, question and
    language, and kept in Django's cache (``_fragments_key``)."""

    asked: bool  # False: a question new in this round, which has no feedback
    facts: str = ""  # the panel's rows of the facts list (forecast, consensus)
    notes: str = ""  # the help paragraphs under it
    spread_head: str = ""  # the dot plot up to the expert's triangle; "" when none
    spread_tail: str = ""  # the rest of the plot and its caption, up to the triangle's key
    own_y: int = 0
    axis: "_Axis | None" = None
    span: tuple[float, float] | None = None  # the panel's values on the plot's scale
    cohorts: str = ""
    rationales: tuple[tuple[int, str], ...] = ()  # (expert id, <li>)
    model_missing: bool = False
    forecast_missing: bool = False

    def places(self, value: float) -> bool:
        """Whether an expert's own answer leaves the plot as it is: a numeric plot's axis
        spans the answers, the expert's included (a probability's is 0-100 %)."""
        return self.axis is None or self.axis.binary or self.span[0] <= value <= self.span[1]

    def own_x(self, value: float) -> float | None:
        return self.axis.x(value) if self.axis is not None else None


def _fragments_key(survey_round: Round, version: str, question: Question, language: str) -> str:
    """Everything a question's PanelFragments depend on besides the panel (its version):
    the round's settings, the question's, the cohort threshold, and the templates and
    translations they are rendered with."""
    depends = (
        survey_round.id,
        survey_round.show_consensus,
        survey_round.show_forecast,
        survey_round.show_spread,
        survey_round.show_cohorts,
        survey_round.show_rationales,
        survey_round.survey.cohort_attribute,
        settings.REPORT_MIN_COHORT_SIZE,
        question.kind,
        question.scale,
        question.is_seed,
        question.unit,
        question.unit_ko,
        RENDERING_DIGEST,
    )
    digest = hashlib.sha256(repr(depends).encode()).hexdigest()[:20]
    return f"feedback-html:v1:{survey_round.feedback_round_id}:{version}:{question.id}:{language}:{digest}"


def _rendering_digest() -> str:
    """The panel template, the Korean catalogue and this module as deployed: a new release
    never shows fragments an older one rendered. Read once, at import (``RENDERING_DIGEST``):
    a process that imported the old code must not stamp its fragments with the new files'."""
    here = Path(__file__).resolve().parent
    files = (
        here / "templates/elicitation/expert/_feedback_panel.html",
        here / "locale/ko/LC_MESSAGES/django.mo",
        Path(__file__).resolve(),  # the code that writes parts of the HTML (rationales, numbers)
    )
    return hashlib.sha256(b"".join(f.read_bytes() for f in files if f.exists())).hexdigest()


RENDERING_DIGEST = _rendering_digest()


def _fragments(survey_round: Round, panel: Panel, question: Question, language: str, own=None):
    """The panel's part of ``question``'s feedback; with ``own``, its dot plot's axis also
    spans the expert's answer (then it is that expert's, and not cached)."""
    if question.id not in panel.asked:
        return PanelFragments(asked=False)
    with translation.override(language):
        return _fragments_render(survey_round, panel, question, language, own)


def _fragments_render(survey_round, panel, question, language, own) -> PanelFragments:
    unit = texts.localized(question, "unit", language).text
    judgments = panel.answers.get(question.id, [])
    result = panel.results.get(question.id)
    if not question.is_binary:
        result = panel.forecasts.get(question.id)
    consensus = forecast = spread = span = None
    cohorts, rationales = [], ()
    model_missing = forecast_missing = False
    if survey_round.show_consensus:
        consensus = _consensus(question, judgments, result)
        # the run read a numeric question with a known value (a seed, or resolved before
        # the fit) as a seed: its result is never shown, so nothing is missing there
        known = question.is_seed or question.id in panel.known
        model_missing = result is None and bool(judgments) and (question.is_binary or not known)
    if survey_round.show_forecast and question.is_binary and not question.is_seed:
        forecast = _forecast(panel.binary_forecasts.get(question.id))
        forecast_missing = forecast is None
    if survey_round.show_spread and judgments:
        # the band of the panel's result only where the organizer shows that result
        shown = result if survey_round.show_consensus else None
        spread = _spread(question, judgments, own, shown)
        points = [_display_value(question, j) for j in judgments]
        points += [m for m in _marks(question, shown)[1:] if m is not None]
        span = (min(points), max(points))
    if survey_round.show_cohorts:
        cohorts = _cohorts(question, judgments, result, survey_round.survey.cohort_attribute)
    if survey_round.show_rationales:
        rationales = _rationales(question, judgments, unit)
    context = {
        "question": question,
        "survey_round": survey_round,
        "consensus": consensus,
        "forecast": forecast,
        "s": spread,
        "cohorts": cohorts,
    }

    def part(name: str) -> str:
        html = render_to_string(
            "elicitation/expert/_feedback_panel.html", {**context, "part": name}
        )
        return mark_safe(html)  # noqa: S308 (a template's output, escaped by it)

    return PanelFragments(
        asked=True,
        facts=part("facts"),
        notes=part("notes"),
        spread_head=part("spread_head") if spread else "",
        spread_tail=part("spread_tail") if spread else "",
        own_y=spread.axis_y + 2 if spread else 0,
        axis=spread.axis if spread else None,
        span=span,
        cohorts=part("cohorts"),
        rationales=rationales,
        model_missing=model_missing,
        forecast_missing=forecast_missing,
    )


# --- The dot plot ---------------------------------------------------------------------------


class _Axis:
    """Maps answers (percent for probabilities, the question's scale otherwise) to x."""

    def __init__(self, question: Question, values: list[float]):
        self.binary = question.is_binary
        self.log = (not self.binary) and question.scale == Question.Scale.LOG and min(values) > 0
        if self.binary:
            self.low, self.high = 0.0, 100.0
        else:
            points = [self._t(v) for v in values]
            self.low, self.high = min(points), max(points)
            if self.high - self.low < 1e-9:
                pad = abs(self.low) * 0.1 or 1.0
                self.low, self.high = self.low - pad, self.high + pad

    def _t(self, value: float) -> float:
        return math.log(value) if self.log else value

    def x(self, value: float) -> float:
        fraction = (self._t(value) - self.low) / (self.high - self.low)
        return round(PLOT_LEFT + min(max(fraction, 0.0), 1.0) * (PLOT_RIGHT - PLOT_LEFT), 1)

    def bin_of(self, value: float) -> int:
        fraction = (self._t(value) - self.low) / (self.high - self.low)
        return min(max(int(fraction * BINS), 0), BINS - 1)

    def ticks(self) -> list[tuple[float, str, str]]:
        """(x, label, text-anchor): the end labels lean inwards so that they are not cut."""
        if self.binary:
            values = (0.0, 25.0, 50.0, 75.0, 100.0)
            labels = [percent_text(v / 100) for v in values]
        else:
            inverse = math.exp if self.log else (lambda v: v)
            values = (inverse(self.low), inverse((self.low + self.high) / 2), inverse(self.high))
            labels = [number_text(v) for v in values]
        anchors = ["start", *["middle"] * (len(values) - 2), "end"]
        return [
            (self.x(v), label, anchor)
            for v, label, anchor in zip(values, labels, anchors, strict=True)
        ]


def _spread(question, judgments, own, result) -> Spread:
    values = [_display_value(question, j) for j in judgments]
    extra = [_display_value(question, own)] if own else []
    marks = _marks(question, result)  # (centre, lower, upper) of the panel's result
    axis = _Axis(question, values + extra + [m for m in marks[1:] if m is not None])
    counts = [0] * BINS
    placed = []
    for value in sorted(values):
        index = axis.bin_of(value)
        placed.append((index, counts[index]))
        counts[index] += 1
    step = min(ROW_STEP, MAX_STACK_HEIGHT / max(counts)) if max(counts) else ROW_STEP
    stack = max(counts) * step
    top = 22  # room for the consensus band
    axis_y = round(top + stack + DOT_RADIUS + 4)  # whole pixels: the template adds to it
    bin_width = (PLOT_RIGHT - PLOT_LEFT) / BINS
    dots = [
        (round(PLOT_LEFT + (index + 0.5) * bin_width, 1), round(axis_y - 6 - level * step, 1))
        for index, level in placed
    ]
    spread = Spread(
        n=len(values),
        summary=_spread_summary(question, values),
        height=int(axis_y + 24),
        axis_y=axis_y,
        dots=dots,
        ticks=axis.ticks(),
        own_x=axis.x(extra[0]) if extra else None,
        axis=axis,
    )
    centre, low, high = marks
    if centre is not None:
        spread.consensus_x = axis.x(centre)
        if low is not None and high is not None:
            lower = axis.x(low)
            spread.band = (lower, round(axis.x(high) - lower, 1))
    return spread


def _marks(question, result) -> tuple[float | None, float | None, float | None]:
    """The panel's result on the dot plot's scale: the binary consensus and its interval
    (percent), or the numeric forecast's median and 5-95 % range; Nones without one."""
    if result is None:
        return None, None, None
    if not question.is_binary:
        return result.q50, result.q05, result.q95
    if result.consensus_lower is None or result.consensus_upper is None:
        return result.consensus * 100, None, None
    return result.consensus * 100, result.consensus_lower * 100, result.consensus_upper * 100


def _display_value(question: Question, judgment: Judgment) -> float:
    return judgment.probability * 100 if question.is_binary else judgment.q50


def _spread_summary(question: Question, values: list[float]) -> str:
    def text(value: float) -> str:
        return percent_text(value / 100) if question.is_binary else number_text(value)

    ordered = sorted(values)
    if len(ordered) >= 2:
        q1, _q2, q3 = quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    if question.is_binary:
        template = ngettext(
            "%(n)s answer: lowest %(low)s, median %(median)s, highest %(high)s; "
            "the middle half lies between %(q1)s and %(q3)s.",
            "%(n)s answers: lowest %(low)s, median %(median)s, highest %(high)s; "
            "the middle half lies between %(q1)s and %(q3)s.",
            len(ordered),
        )
    else:
        template = ngettext(
            "%(n)s best estimate (50 %%): lowest %(low)s, median %(median)s, highest "
            "%(high)s; the middle half lies between %(q1)s and %(q3)s.",
            "%(n)s best estimates (50 %%): lowest %(low)s, median %(median)s, highest "
            "%(high)s; the middle half lies between %(q1)s and %(q3)s.",
            len(ordered),
        )
    return template % {
        "n": len(ordered),
        "low": text(ordered[0]),
        "median": text(median(ordered)),
        "high": text(ordered[-1]),
        "q1": text(q1),
        "q3": text(q3),
    }
