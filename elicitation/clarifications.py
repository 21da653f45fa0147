"""Clarifications: a question's wording corrected during an open round, with its history.

Before the first answer a question is simply edited (``services.question_update``). Once
answered, its wording changes only through ``question_clarify``, during an open round
that asks it: the question's ``version`` goes up, a ``QuestionVersion`` keeps each wording
with a note of what changed, and every answer records the version it was given under
(``Judgment.question_version``). An expert who answered before the change sees the note on
their form and either revises the answer (saved under the new version) or confirms it as
it is (``judgment_wording_confirm``: a revision marked ``confirmed``).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from elicitation.models import (
    Invitation,
    Judgment,
    JudgmentRevision,
    Question,
    QuestionVersion,
    Round,
)

WORDING_FIELDS = ("text", "text_ko", "guidance", "guidance_ko")


def question_clarify(
    *,
    question: Question,
    text: str,
    text_ko: str = "",
    guidance: str = "",
    guidance_ko: str = "",
    note: str = "",
    note_ko: str = "",
    by=None,
) -> QuestionVersion:
    """Change an answered question's wording during an open round: a new version."""
    new = {
        "text": text.strip(),
        "text_ko": text_ko.strip(),
        "guidance": guidance.strip(),
        "guidance_ko": guidance_ko.strip(),
    }
    if not new["text"]:
        raise ValidationError({"text": _("The question needs its English wording.")})
    if not note.strip():
        raise ValidationError(
            {"note": _("Say in a sentence what changed: the experts who answered will read it.")}
        )
    with transaction.atomic():
        # The lock answers take (services._judgment_write): none lands mid-change.
        locked = Question.objects.select_for_update().get(id=question.id)
        open_rounds = Round.objects.filter(questions=locked, status=Round.Status.OPEN)
        if not open_rounds.exists():
            raise ValidationError(
                _(
                    "%(code)s is not asked in an open round. A wording is clarified while "
                    "experts answer it; before the first answer, edit the question instead."
                )
                % {"code": locked.code},
                code="not_open",
            )
        if all(getattr(locked, name) == value for name, value in new.items()):
            raise ValidationError(
                _("The wording is the same as now: change the text or the guidance, or cancel."),
                code="unchanged",
            )
        if not locked.versions.exists():
            started = locked.rounds.aggregate(at=Min("opened_at"))["at"] or timezone.now()
            QuestionVersion.objects.create(
                question=locked,
                number=locked.version,
                created_at=started,
                **{name: getattr(locked, name) for name in WORDING_FIELDS},
            )
        for name, value in new.items():
            setattr(locked, name, value)
        locked.version += 1
        locked.save(update_fields=[*WORDING_FIELDS, "version"])
        version = QuestionVersion.objects.create(
            question=locked,
            number=locked.version,
            note=note.strip(),
            note_ko=note_ko.strip(),
            created_by=by,
            **new,
        )
    for name in (*WORDING_FIELDS, "version"):
        setattr(question, name, getattr(locked, name))
    return version


def judgment_wording_confirm(*, invitation: Invitation, question_id: int) -> Judgment | None:
    """The expert keeps their answer under the question's present wording, explicitly.

    Returns the judgment, or None when there was nothing to confirm (already current).
    """
    from elicitation.services import _invitation_lock_open_round  # services imports us

    with transaction.atomic():
        _invitation_lock_open_round(invitation=invitation)
        question = Question.objects.select_for_update().filter(id=question_id).first()
        judgment = Judgment.objects.filter(
            expert_id=invitation.expert_id,
            survey_round_id=invitation.survey_round_id,
            question_id=question_id,
        ).first()
        if question is None or judgment is None:
            raise ValidationError(
                _("There is no answer of yours to this question to confirm."), code="no_answer"
            )
        if judgment.question_version >= question.version:
            return None
        judgment.question_version, judgment.confirmed_at = question.version, timezone.now()
        judgment.save(update_fields=["question_version", "confirmed_at", "updated_at"])
        JudgmentRevision.objects.create(
            judgment=judgment,
            confirmed=True,
            question_version=question.version,
            **{
                name: getattr(judgment, name)
                for name in ("probability", "q05", "q50", "q95", "rationale", "change_reason")
            },
        )
    return judgment


# --- Reads ------------------------------------------------------------------------------


def latest_versions(*, questions) -> dict[int, QuestionVersion]:
    """The present wording's version row of each clarified question, by question id."""
    clarified = [question.id for question in questions if question.version > 1]
    versions = QuestionVersion.objects.filter(question_id__in=clarified).order_by("number")
    return {version.question_id: version for version in versions}


def round_wording_versions(*, survey_round: Round, counted_only: bool = False) -> list[dict]:
    """Each clarified question of the round: its versions, and how many of the round's
    answers stand under each (the round page; the report counts no pilot answer)."""
    questions = list(survey_round.questions.filter(version__gt=1).order_by("position", "id"))
    judgments = Judgment.objects.counted() if counted_only else Judgment.objects.all()
    counts = {
        (row["question_id"], row["question_version"]): row["n"]
        for row in judgments.filter(survey_round=survey_round, question__in=questions)
        .values("question_id", "question_version")
        .annotate(n=Count("id"))
    }
    versions = QuestionVersion.objects.filter(question__in=questions).order_by("number")
    by_question: dict[int, list] = {}
    for version in versions:
        version.n_answers = counts.get((version.question_id, version.number), 0)
        by_question.setdefault(version.question_id, []).append(version)
    return [
        {"question": question, "versions": by_question.get(question.id, [])}
        for question in questions
    ]


def question_versions(*, question: Question) -> list[QuestionVersion]:
    return list(question.versions.select_related("created_by").order_by("-number"))


def round_answers_with_versions(*, survey_round: Round):
    """The round's answers by question and code, for the CSV: never a pilot round's
    (exports carry no pilot answer)."""
    return (
        Judgment.objects.counted()
        .filter(survey_round=survey_round)
        .select_related("expert", "question")
        .order_by("question__position", "question__code", "expert__code")
    )
