"""Writes the demo into the database: the survey through the services, its history (rounds,
invitations, answers and their revisions, consent) as rows, from ``generator``'s answers.

``demo_load`` writes it all in one transaction and is idempotent: the demo survey is found
by its title, and a second call returns it untouched.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone

from aggregation.selectors import ANALYST_GROUP
from aggregation.services import aggregation_runs_request_for_closed_round
from elicitation import demo_ko
from elicitation.demo.content import (
    BACKGROUND,
    CONSENT,
    CONSENT_KO,
    CONSENT_V2,
    CONSENT_V2_KO,
    DEMO_ADMIN_USERNAME,
    DEMO_ANALYST_USERNAME,
    DEMO_CONTACT_EMAIL,
    DEMO_EXPERT_CODE,
    DEMO_ORGANIZER_USERNAME,
    DEMO_PASSWORD,
    DEMO_SEED,
    DEMO_SURVEY_TITLE,
    META_QUESTION_CODES,
    QUESTIONS,
    SCENARIOS,
)
from elicitation.demo.generator import demo_rounds
from elicitation.demo.panel import ExpertSpec, demo_korean_expert_code, demo_panel
from elicitation.models import (
    ConsentResponse,
    ConsentVersion,
    Expert,
    Invitation,
    Judgment,
    JudgmentRevision,
    Question,
    Round,
    Survey,
)
from elicitation.services import expert_create, question_create, scenario_create, survey_create


@dataclass(frozen=True)
class DemoSurvey:
    survey: Survey
    closed_round: Round  # round 1
    second_round: Round  # round 2, closed, with revisions
    open_round: Round  # round 3
    organizer: AbstractUser
    admin: AbstractUser
    created: bool

    @property
    def featured_invitation(self) -> Invitation:
        """The open-round invitation whose link `load_demo` prints."""
        return Invitation.objects.select_related("expert__user", "survey_round").get(
            survey_round=self.open_round, expert__code=DEMO_EXPERT_CODE
        )

    @property
    def korean_invitation(self) -> Invitation:
        """The open-round invitation of the Korean-speaking demo expert."""
        return Invitation.objects.select_related("expert__user", "survey_round").get(
            survey_round=self.open_round, expert__code=demo_korean_expert_code()
        )


def _user_ensure(*, username: str, superuser: bool, staff: bool = True):
    """The demo login; its password is set only when the account is new."""
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={"email": f"{username}@example.org", "is_staff": staff, "is_superuser": superuser},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def demo_load(*, seed: int = DEMO_SEED) -> DemoSurvey:
    """Load the demo survey, panel and answers once; later calls return what is there."""
    with transaction.atomic():
        organizer = _user_ensure(username=DEMO_ORGANIZER_USERNAME, superuser=False)
        admin = _user_ensure(username=DEMO_ADMIN_USERNAME, superuser=True)
        survey = Survey.objects.filter(title=DEMO_SURVEY_TITLE).order_by("id").first()
        created = survey is None
        if created:
            survey = _survey_build(
                rng=np.random.default_rng(seed),
                # A stream of its own, so the answers are those the demo had without them.
                meta_rng=np.random.default_rng([seed, 15]),
                now=timezone.now(),
            )
        survey.organizers.add(organizer)
        analyst = _user_ensure(username=DEMO_ANALYST_USERNAME, superuser=False, staff=False)
        analyst.groups.add(Group.objects.get_or_create(name=ANALYST_GROUP)[0])
        survey.analysts.add(analyst)
        rounds = {r.number: r for r in survey.rounds.all()}
        # The closed rounds' reports: fitted by a worker (the requests are idempotent).
        for closed in (rounds[1], rounds[2]):  # as closing them would (idempotent)
            aggregation_runs_request_for_closed_round(survey_round=closed)
    return DemoSurvey(survey, rounds[1], rounds[2], rounds[3], organizer, admin, created)


@dataclass(frozen=True)
class _Timeline:
    survey_created: datetime
    round1_opened: datetime
    round1_closed: datetime
    round2_opened: datetime
    round2_closed: datetime
    round3_opened: datetime
    round3_closes: datetime
    now: datetime


def _timeline(now: datetime) -> _Timeline:
    now = now.replace(second=0, microsecond=0)
    return _Timeline(
        survey_created=now - timedelta(days=60),
        round1_opened=now - timedelta(days=50),
        round1_closed=now - timedelta(days=33),
        round2_opened=now - timedelta(days=30),
        round2_closed=now - timedelta(days=8),
        round3_opened=now - timedelta(days=3),
        round3_closes=now + timedelta(days=18),
        now=now,
    )


def _survey_build(*, rng, meta_rng, now: datetime) -> Survey:
    # The survey, its questions and panel go through the services, so the demo obeys the
    # same validation as an organizer's import; rounds and answers are history, written
    # directly (the services only write to open rounds, and would email the panel).
    times = _timeline(now)
    survey = survey_create(
        title=DEMO_SURVEY_TITLE, background=BACKGROUND, contact_email=DEMO_CONTACT_EMAIL,
        title_ko=demo_ko.TITLE_KO, background_ko=demo_ko.BACKGROUND_KO,
        meta_predictions=Survey.MetaPredictions.OPTIONAL,
    )  # fmt: skip
    scenarios = {
        spec.code: scenario_create(
            survey=survey, code=spec.code, title=spec.title, description=spec.description,
            position=position, title_ko=demo_ko.SCENARIOS_KO[spec.code][0],
            description_ko=demo_ko.SCENARIOS_KO[spec.code][1],
        )
        for position, spec in enumerate(SCENARIOS, start=1)
    }  # fmt: skip
    questions = _questions_create(survey, scenarios)
    panel = demo_panel()
    experts = _experts_create(survey, panel)
    round1, round2, round3 = _rounds_create(survey, questions, times)

    answers = demo_rounds(
        panel=panel, rng=rng, meta_rng=meta_rng, questions=QUESTIONS,
        featured=(DEMO_EXPERT_CODE, demo_korean_expert_code()),  # fresh forms in round 3
    )  # fmt: skip
    savers, openers = answers.savers, answers.openers

    window1 = (times.round1_opened, times.round1_closed)
    window2 = (times.round2_opened, times.round2_closed)
    invitations1 = _invitations_submitted(experts, round1, window1, rng)
    invitations2 = _invitations_submitted(experts, round2, window2, rng)
    invitations3 = _invitations_open(experts, round3, times, [*savers, *openers], rng)
    _judgments_write(answers.round1, round1, experts, questions, invitations1, rng, drafts=0.06)
    _judgments_write(answers.round2, round2, experts, questions, invitations2, rng, drafts=0.0)
    _judgments_write(answers.round3, round3, experts, questions, invitations3, rng, drafts=0.0)
    _consent_create(survey, times, invitations1, invitations3, savers)

    # auto_now_add stamps "now" on insert; backdate so the demo reads as a study in progress.
    Survey.objects.filter(pk=survey.pk).update(created_at=times.survey_created)
    Expert.objects.filter(survey=survey).update(created_at=times.survey_created + timedelta(days=2))
    for survey_round, opened in ((round1, times.round1_opened), (round2, times.round2_opened),
                                 (round3, times.round3_opened)):  # fmt: skip
        Invitation.objects.filter(survey_round=survey_round).update(created_at=opened)
    return survey


def _questions_create(survey: Survey, scenarios: dict) -> dict[str, Question]:
    seed_guidance = "Calibration question: please answer from memory, without looking it up."
    questions = [
        question_create(
            survey=survey,
            scenario=scenarios.get(spec.scenario),
            code=spec.code,
            text=spec.text,
            guidance=spec.guidance or (seed_guidance if spec.seed_answer is not None else ""),
            text_ko=demo_ko.QUESTIONS_KO.get(spec.code, ""),
            unit_ko=demo_ko.UNITS_KO.get(spec.unit, "")
            if spec.code in demo_ko.QUESTIONS_KO
            else "",
            resolution_criteria_ko=demo_ko.RESOLUTION_KO.get(spec.code, ""),
            kind=spec.kind,
            unit=spec.unit,
            lower_bound=spec.lower,
            upper_bound=spec.upper,
            scale=spec.scale,
            resolution_criteria=spec.resolution,
            tags=spec.tags,
            is_seed=spec.seed_answer is not None,
            seed_answer=spec.seed_answer,
            position=position,
            asks_meta_predictions=spec.code in META_QUESTION_CODES,
        )
        for position, spec in enumerate(QUESTIONS, start=1)
    ]
    return {q.code: q for q in questions}


def _experts_create(survey: Survey, panel: list[ExpertSpec]) -> dict[str, Expert]:
    """Each expert with the password-less user that carries their magic-link tokens."""
    experts = [
        expert_create(
            survey=survey, code=spec.code, name=spec.name, email=spec.email,
            language=spec.language,
            time_zone="Asia/Seoul" if spec.nationality == "ROK" else "America/New_York",
            attributes={"nationality": spec.nationality, "sector": spec.sector},
        )
        for spec in panel
    ]  # fmt: skip
    return {e.code: e for e in experts}


def _consent_create(survey: Survey, times: _Timeline, invitations1, invitations3, savers):
    """Version 1 accepted by all in round 1; version 2, before round 3, by its savers."""
    v1 = ConsentVersion.objects.create(survey=survey, number=1, text=CONSENT, text_ko=CONSENT_KO)
    v2 = ConsentVersion.objects.create(
        survey=survey, number=2, text=CONSENT_V2, text_ko=CONSENT_V2_KO
    )
    ConsentVersion.objects.filter(id=v1.id).update(created_at=times.survey_created)
    ConsentVersion.objects.filter(id=v2.id).update(
        created_at=times.round3_opened - timedelta(days=1)
    )
    responses = [
        ConsentResponse(expert=i.expert, version=v1, invitation=i, accepted=True,
                        at=i.first_opened_at)
        for i in invitations1.values()
    ] + [
        ConsentResponse(expert=invitations3[code].expert, version=v2,
                        invitation=invitations3[code], accepted=True,
                        at=invitations3[code].first_opened_at)
        for code in savers
    ]  # fmt: skip
    ConsentResponse.objects.bulk_create(responses)


def _rounds_create(survey: Survey, questions: dict, times: _Timeline) -> tuple[Round, ...]:
    round1 = Round.objects.create(
        survey=survey, number=1, status=Round.Status.CLOSED,
        opens_at=times.round1_opened, closes_at=times.round1_closed,
        opened_at=times.round1_opened, closed_at=times.round1_closed,
    )  # fmt: skip
    round2 = Round.objects.create(
        survey=survey, number=2, status=Round.Status.CLOSED, feedback_round=round1,
        opens_at=times.round2_opened, closes_at=times.round2_closed,
        opened_at=times.round2_opened, closed_at=times.round2_closed,
    )  # fmt: skip
    round3 = Round.objects.create(
        survey=survey, number=3, status=Round.Status.OPEN, feedback_round=round2,
        opens_at=times.round3_opened, closes_at=times.round3_closes,
        opened_at=times.round3_opened, show_cohorts=True,
    )  # fmt: skip
    round1.questions.set(questions.values())
    # Later rounds revisit the scenario questions; seeds are asked once, before any feedback.
    for later in (round2, round3):
        later.questions.set([q for q in questions.values() if not q.is_seed])
    return round1, round2, round3


def _at(start: datetime, end: datetime, rng) -> datetime:
    """A moment between start and end, to the second."""
    seconds = max(int((end - start).total_seconds()), 1)
    return start + timedelta(seconds=int(rng.integers(seconds)))


def _invitations_submitted(experts: dict, survey_round: Round, window, rng) -> dict:
    """A closed round's invitations: every expert opened and submitted within ``window``."""
    opened_at, closed_at = window
    sent = opened_at + timedelta(minutes=5)
    rows = []
    for expert in experts.values():
        opened = _at(sent, sent + timedelta(days=10), rng)
        submitted = _at(opened + timedelta(hours=1), closed_at - timedelta(hours=2), rng)
        rows.append(
            Invitation(
                expert=expert, survey_round=survey_round, sent_at=sent, first_opened_at=opened,
                submitted_at=submitted, expires_at=closed_at + timedelta(days=30),
            )
        )  # fmt: skip
    return {i.expert.code: i for i in Invitation.objects.bulk_create(rows)}


def _invitations_open(experts: dict, survey_round: Round, times: _Timeline, opened_by, rng):
    sent = times.round3_opened + timedelta(minutes=5)
    rows = [
        Invitation(
            expert=expert, survey_round=survey_round, sent_at=sent,
            first_opened_at=_at(sent, times.now - timedelta(hours=3), rng)
            if expert.code in opened_by
            else None,
            expires_at=times.round3_closes + timedelta(days=7),
        )
        for expert in experts.values()
    ]  # fmt: skip
    return {i.expert.code: i for i in Invitation.objects.bulk_create(rows)}


def _sessions(invitation: Invitation, rng) -> tuple[datetime, datetime]:
    """When the expert first saved answers, and when they last did (before submitting)."""
    first = invitation.first_opened_at + timedelta(minutes=int(rng.integers(2, 20)))
    if invitation.submitted_at is None:
        return first, first + timedelta(minutes=int(rng.integers(5, 90)))
    return first, invitation.submitted_at - timedelta(minutes=int(rng.integers(1, 30)))


def _judgments_write(answers, survey_round, experts, questions, invitations, rng, drafts):
    """Judgments and their history; a share ``drafts`` of them was first saved differently.

    An expert saves in two sittings: drafted answers are created in the first and changed
    in the second, the rest are created in the second.
    """
    sessions = {
        code: _sessions(invitation, rng)
        for code, invitation in invitations.items()
        if invitation.first_opened_at is not None
    }
    judgments = Judgment.objects.bulk_create(
        [
            Judgment(
                expert=experts[a.expert], question=questions[a.question],
                survey_round=survey_round, probability=a.probability,
                q05=a.q05, q50=a.q50, q95=a.q95, rationale=a.rationale,
                change_reason=a.change_reason, meta_predictions=a.meta_predictions,
            )
            for a in answers
        ],
        batch_size=500,
    )  # fmt: skip
    revisions, judgment_times, revision_times = [], defaultdict(list), []
    for judgment in judgments:
        first, last = sessions[judgment.expert.code]
        created = last
        if judgment.probability is not None and rng.random() < drafts:
            # An earlier draft, changed before submitting: the history shows both.
            change = rng.choice([-0.2, -0.1, 0.1, 0.2])
            earlier = round(float(np.clip(judgment.probability + change, 0, 1)), 2)
            revisions.append(JudgmentRevision(judgment=judgment, probability=earlier))
            revision_times.append(first)
            created = first
        revisions.append(
            JudgmentRevision(
                judgment=judgment, probability=judgment.probability, q05=judgment.q05,
                q50=judgment.q50, q95=judgment.q95, rationale=judgment.rationale,
                change_reason=judgment.change_reason,
                meta_predictions=judgment.meta_predictions,
            )
        )  # fmt: skip
        revision_times.append(last)
        judgment_times[created, last].append(judgment.pk)
    revisions = JudgmentRevision.objects.bulk_create(revisions, batch_size=500)

    # auto_now_add stamps the insert time; backdate with one UPDATE per sitting.
    for (created, updated), ids in judgment_times.items():
        Judgment.objects.filter(pk__in=ids).update(created_at=created, updated_at=updated)
    by_time = defaultdict(list)
    for revision, stamp in zip(revisions, revision_times, strict=True):
        by_time[stamp].append(revision.pk)
    for stamp, ids in by_time.items():
        JudgmentRevision.objects.filter(pk__in=ids).update(created_at=stamp)
