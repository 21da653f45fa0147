"""manage.py import_outcomes_survey: a data set of forecasts with known outcomes as a survey.

Reads a judgments CSV (``expert,cohort,question,probability[,round]``) and an outcomes CSV
(``question,outcome[,group]``), the formats of ``manage.py evaluate``, and makes a survey
of them: one probability question per question label (in a scenario per outcome group),
one expert per expert code (synthetic name and email; the code is what reports show),
one closed round per round with every judgment submitted, and every outcome recorded as
a resolution whose source note names the data set. The recalibration of each round is
requested (``--fit`` fits it here, without a worker).

Idempotent: the data set's hash is recorded (``ImportedDataset``), and importing the same
files again changes nothing. Fast: rows are written with ``bulk_create``.
"""

import argparse
import hashlib
import json
import re
import secrets
from datetime import date
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from elicitation import services as elicitation_services
from elicitation.models import (
    Expert,
    ExpertContact,
    Invitation,
    Judgment,
    Question,
    Round,
    Scenario,
    Survey,
)
from resolution.models import ImportedDataset, RecalibrationRun, Resolution, ResolutionEvent, State

SLUG = re.compile(r"[-a-zA-Z0-9_]+")  # what a SlugField accepts: kept as given (RPP, ML2)
MAX_QUESTION_CODE = Question._meta.get_field("code").max_length
MAX_EXPERT_CODE = Expert._meta.get_field("code").max_length


class Command(BaseCommand):
    help = (
        "Import judgments (expert,cohort,question,probability[,round]) and their outcomes "
        "(question,outcome[,group]) as a survey with closed rounds and resolved questions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("judgments", help="judgments CSV")
        parser.add_argument("outcomes", help="outcomes CSV: question,outcome (1/0)[,group]")
        parser.add_argument("--title", help="survey title (default: from the folder's name)")
        parser.add_argument(
            "--source",
            help="the data set, as the resolutions' source note names it (default: the files)",
        )
        parser.add_argument(
            "--organizer",
            action="append",
            default=[],
            help="username of an organizer of the survey (repeatable)",
        )
        parser.add_argument(
            "--question-text",
            default="Did {question} resolve yes?",
            help="text of each question; {question} is its label",
        )
        parser.add_argument(
            "--resolved-on",
            type=_past_date,
            help="date of the resolutions, YYYY-MM-DD (default: today)",
        )
        parser.add_argument(
            "--fit",
            action="store_true",
            help="fit each round's recalibration in this process instead of queueing it",
        )

    def handle(self, *args, **options) -> None:
        table, outcomes = self._read(options)
        data_hash = _data_hash(table, outcomes)
        organizers = self._organizers(options["organizer"])
        existing = ImportedDataset.objects.filter(data_hash=data_hash).select_related("survey")
        if existing.exists():
            dataset = existing.get()
            dataset.survey.organizers.add(*organizers)
            self.stdout.write(
                f"Already imported as survey {dataset.survey_id} ({dataset.survey.title!r}): "
                "nothing changed."
            )
            return
        _check_codes(table, outcomes)
        name = options["title"] or f"Imported: {Path(options['judgments']).resolve().parent.name}"
        source = (
            options["source"]
            or f"{Path(options['judgments']).name} and {Path(options['outcomes']).name}"
        )
        with transaction.atomic():
            survey, rounds = _import(
                table=table,
                outcomes=outcomes,
                title=name,
                source=source,
                organizers=organizers,
                question_text=options["question_text"],
                resolved_on=options["resolved_on"] or timezone.localdate(),
            )
            ImportedDataset.objects.create(
                survey=survey,
                name=name,
                source=source,
                data_hash=data_hash,
                n_judgments=len(table),
                n_outcomes=len(outcomes),
            )
            runs = self._request_recalibrations(rounds)
        self.stdout.write(
            f"Imported survey {survey.id} ({name!r}): {survey.questions.count()} questions, "
            f"{survey.experts.count()} experts, {len(rounds)} closed round(s), {len(table)} "
            f"judgments, {len(outcomes)} resolved questions."
        )
        if options["fit"]:
            self._fit(runs)

    def _read(self, options):
        from aggregation.engine.data import JudgmentDataError, JudgmentTable
        from aggregation.engine.scoring import OutcomeDataError, read_outcomes

        try:
            table = JudgmentTable.from_csv(options["judgments"])
        except JudgmentDataError as exc:
            raise CommandError(f"{options['judgments']}: {exc}", returncode=2) from exc
        try:
            outcomes = read_outcomes(options["outcomes"])
        except OutcomeDataError as exc:
            raise CommandError(f"{options['outcomes']}: {exc}", returncode=2) from exc
        return table, outcomes

    def _organizers(self, usernames: list[str]) -> list:
        users = {
            u.get_username(): u for u in get_user_model().objects.filter(username__in=usernames)
        }
        missing = sorted(set(usernames) - set(users))
        if missing:
            raise CommandError(f"no user named {', '.join(missing)}", returncode=2)
        return [users[name] for name in usernames]

    def _request_recalibrations(self, rounds: list[Round]) -> list[RecalibrationRun]:
        from resolution.recalibration import RecalibrationUnavailable, recalibration_request

        runs = []
        for survey_round in rounds:
            try:
                runs.append(recalibration_request(survey_round=survey_round)[0])
            except RecalibrationUnavailable as exc:
                self.stderr.write(f"round {survey_round.number}: no recalibration ({exc})")
        return runs

    def _fit(self, runs: list[RecalibrationRun]) -> None:
        from resolution.recalibration import recalibration_run_execute

        for run in runs:
            done = recalibration_run_execute(run_id=run.id, worker="import_outcomes_survey")
            if done is None:
                self.stdout.write(f"recalibration {run.id}: taken by a worker meanwhile")
                continue
            if done.status != RecalibrationRun.Status.SUCCEEDED:
                raise CommandError(f"recalibration {run.id} failed: {done.error.splitlines()[0]}")
            summary = done.result["summary"]
            self.stdout.write(
                f"recalibration {run.id}: gamma {summary['gamma']['mean']:.2f}, tau "
                f"{summary['tau']['mean']:+.2f}, from {summary['n_resolved']} resolved questions"
            )


def _past_date(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None
    if day > timezone.localdate():
        raise argparse.ArgumentTypeError(f"{text} is in the future")
    return day


def _data_hash(table, outcomes) -> str:
    canonical = {
        "judgments": table.data_hash(),
        "outcomes": [[q, int(r.outcome), r.group] for q, r in outcomes.iterrows()],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _check_codes(table, outcomes) -> None:
    long_questions = [
        q for q in set(table.questions) | set(outcomes.index) if len(q) > MAX_QUESTION_CODE
    ]
    long_experts = [e for e in table.experts if len(e) > MAX_EXPERT_CODE]
    problems = []
    if long_questions:
        problems.append(
            f"question labels longer than {MAX_QUESTION_CODE} characters: {', '.join(sorted(long_questions)[:5])}"
        )
    if long_experts:
        problems.append(
            f"expert codes longer than {MAX_EXPERT_CODE} characters: {', '.join(sorted(long_experts)[:5])}"
        )
    if problems:
        raise CommandError("; ".join(problems), returncode=2)


def _import(*, table, outcomes, title, source, organizers, question_text, resolved_on):
    """Write the survey and everything in it; returns (survey, its closed rounds)."""
    now = timezone.now()
    survey = elicitation_services.survey_create(
        title=title,
        background=f"Imported from {source}: forecasts whose outcomes are known.",
        organizers=organizers,
    )
    survey.cohort_attribute = "cohort"
    fields = ["cohort_attribute"]
    if table.meta_cohorts:  # meta_<cohort> columns: the experts' predictions of each cohort
        survey.meta_predictions = Survey.MetaPredictions.OPTIONAL
        fields.append("meta_predictions")
    survey.save(update_fields=fields)
    meta_columns = {f"meta_{cohort}": cohort for cohort in table.meta_cohorts}
    scenarios = _scenarios(survey, sorted(g for g in set(outcomes["group"]) if g))
    labels = sorted(set(table.questions) | set(outcomes.index))
    Question.objects.bulk_create(
        Question(
            survey=survey,
            code=label,
            text=question_text.format(question=label),
            kind=Question.Kind.BINARY,
            scenario=scenarios.get(outcomes["group"].get(label, "")),
            position=position,
        )
        for position, label in enumerate(labels)
    )
    questions = {q.code: q for q in survey.questions.all()}
    experts = _experts(survey, table)
    rounds = []
    for number in table.rounds:
        frame = table.frame[table.frame["round"] == number]
        survey_round = Round.objects.create(
            survey=survey, number=number, status=Round.Status.CLOSED, opened_at=now, closed_at=now
        )
        survey_round.questions.set([questions[q] for q in sorted(frame["question"].unique())])
        Invitation.objects.bulk_create(
            Invitation(
                expert=experts[code], survey_round=survey_round, sent_at=now,
                expires_at=now, submitted_at=now,
            )
            for code in sorted(frame["expert"].unique())
        )  # fmt: skip
        Judgment.objects.bulk_create(
            (
                Judgment(
                    expert=experts[row["expert"]], question=questions[row["question"]],
                    survey_round=survey_round, probability=float(row["probability"]),
                    meta_predictions={
                        cohort: float(row[column])
                        for column, cohort in meta_columns.items()
                        if pd.notna(row[column])
                    },
                )
                for row in frame.to_dict("records")
            ),
            batch_size=2000,
        )  # fmt: skip
        rounds.append(survey_round)
    _resolutions(questions, outcomes, source=source, resolved_on=resolved_on, at=now)
    return survey, rounds


def _scenarios(survey, groups: list[str]) -> dict[str, Scenario]:
    codes = {
        group: (group if SLUG.fullmatch(group) else slugify(group) or "group")[:40]
        for group in groups
    }
    by_code: dict[str, list[str]] = {}
    for group, code in codes.items():
        by_code.setdefault(code, []).append(group)
    clashes = [names for names in by_code.values() if len(names) > 1]
    if clashes:
        described = "; ".join(" and ".join(f"“{name}”" for name in names) for names in clashes)
        raise CommandError(
            f"these groups would get the same scenario code: {described}. Rename one of "
            "each in the outcomes file so that they differ in letters or digits.",
            returncode=2,
        )
    return {
        group: elicitation_services.scenario_create(survey=survey, code=code, title=group)
        for group, code in codes.items()
    }


def _experts(survey, table) -> dict[str, Expert]:
    """One expert per code, each with the password-less user that experts have."""
    first = table.frame.drop_duplicates("expert").set_index("expert")["cohort"]
    domain = (slugify(survey.title)[:40] or "imported") + ".invalid"
    user_model = get_user_model()
    usernames = {code: f"expert-{secrets.token_hex(8)}" for code in first.index}
    emails, seen = {}, set()
    for k, code in enumerate(first.index):
        email = f"{slugify(code) or 'expert'}@{domain}"
        emails[code] = email if email not in seen else f"{slugify(code) or 'expert'}-{k}@{domain}"
        seen.add(emails[code])
    unusable = make_password(None)
    user_model.objects.bulk_create(
        user_model(username=usernames[code], password=unusable) for code in first.index
    )
    users = user_model.objects.in_bulk(list(usernames.values()), field_name="username")
    Expert.objects.bulk_create(
        Expert(
            survey=survey,
            user=users[usernames[code]],
            code=code,
            time_zone=settings.TIME_ZONE,
            attributes={"cohort": str(cohort)},
        )
        for code, cohort in first.items()
    )
    experts = {e.code: e for e in survey.experts.all()}
    ExpertContact.objects.bulk_create(
        ExpertContact(
            survey=survey, expert=experts[code], name=f"Forecaster {code}", email=emails[code]
        )
        for code in first.index
    )
    return experts


def _resolutions(questions, outcomes, *, source: str, resolved_on: date, at) -> None:
    note = f"Imported from {source}."
    Resolution.objects.bulk_create(
        Resolution(
            question=questions[label], status=State.RESOLVED, outcome=float(row.outcome),
            resolved_on=resolved_on, source=note, changed_at=at,
        )
        for label, row in outcomes.iterrows()
    )  # fmt: skip
    ResolutionEvent.objects.bulk_create(
        ResolutionEvent(
            question=questions[label], action=ResolutionEvent.Action.RESOLVED,
            previous_state=State.OPEN, state=State.RESOLVED, outcome=float(row.outcome),
            resolved_on=resolved_on, source=note,
        )
        for label, row in outcomes.iterrows()
    )  # fmt: skip
