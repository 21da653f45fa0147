"""Helpers shared by the elicitation tests (fixtures live in conftest.py)."""

import uuid
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from elicitation.links import invitation_magic_link
from elicitation.models import Invitation


def link_path(invitation: Invitation) -> str:
    """The magic link without scheme and host, for the test client."""
    parts = urlsplit(invitation_magic_link(invitation=invitation))
    return f"{parts.path}?{parts.query}"


def form_url(invitation: Invitation) -> str:
    return reverse("elicitation:expert-form", args=[invitation.id])


def client_with_link(invitation: Invitation) -> Client:
    """A browser that has opened this invitation's magic link."""
    client = Client()
    response = client.get(link_path(invitation))
    assert response.status_code == 302, response.content
    return client


def answers_post(questions: dict, **overrides) -> dict:
    """A complete, valid POST of the expert form; override fields by name."""
    data = {
        f"q{questions['Q01'].id}_probability": "35",
        f"q{questions['Q01'].id}_rationale": "Bases matter.",
        f"q{questions['Q02'].id}_probability": "12.5",
        f"q{questions['Q02'].id}_rationale": "",
        f"q{questions['N01'].id}_q05": "2",
        f"q{questions['N01'].id}_q50": "6",
        f"q{questions['N01'].id}_q95": "15",
        f"q{questions['N01'].id}_rationale": "Past deployments.",
    }
    data.update(overrides)
    return data


def expire(invitation: Invitation) -> None:
    invitation.expires_at = timezone.now() - timedelta(minutes=1)
    invitation.save(update_fields=["expires_at"])


@contextmanager
def celery_broker(url: str):
    """Point the Celery app at another broker for a while.

    Sets the read and write URLs, which win over ``broker_url`` and, unlike it, over a
    CELERY_BROKER_URL environment variable (Celery reads that variable first).
    """
    from config.celery import app

    _set_broker(app, url)
    try:
        yield app
    finally:
        _set_broker(app, None)  # back to broker_url


def _set_broker(app, url: str | None) -> None:
    app.conf.broker_read_url = app.conf.broker_write_url = url
    # The app's pools are bound to the URL they were made with. They are dropped, not
    # closed: kombu keeps pools in a global registry by URL and would hand a closed one
    # back the next time this URL is used.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def own_celery_queue(broker_url: str, prefix: str = "consilium-test"):
    """Route tasks to a fresh queue for a while, then delete it from ``broker_url``.

    Parallel test processes, or a colleague's suite, may share one Redis: a queue of our
    own means no other worker takes our tasks, and we take none of theirs.
    """
    from config.celery import app

    previous = app.conf.task_default_queue
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    app.conf.task_default_queue = name
    try:
        yield name
    finally:
        app.conf.task_default_queue = previous
        with celery_broker(broker_url), app.connection_for_write() as connection:
            queue = app.amqp.queues[name].bind(connection.default_channel)
            queue.declare()  # the channel deletes only the bindings it knows of
            queue.delete()


# --- Delphi rounds ------------------------------------------------------------------------

# Round-1 answers of the small panel: probabilities of Q01, Q02, quantiles of N01, rationales.
ROUND1 = {
    "E001": {"Q01": 0.30, "Q02": 0.10, "N01": (2, 5, 10), "rationale": "Own round-1 reason."},
    "E002": {"Q01": 0.60, "Q02": 0.20, "N01": (3, 6, 12), "rationale": "OTHER-R1-RATIONALE"},
    "E003": {"Q01": 0.70, "Q02": 0.25, "N01": (4, 8, 20), "rationale": ""},
}


def answers_submit(invitation, questions: dict, values: dict, *, rationale_on=("Q01",)) -> None:
    """Save and submit one expert's answers to every question of ``questions``."""
    from elicitation import services

    answers = []
    for code, question in questions.items():
        rationale = values["rationale"] if code in rationale_on else ""
        if question.is_binary:
            answers.append(
                services.Answer(question=question, probability=values[code], rationale=rationale)
            )
        else:
            q05, q50, q95 = values[code]
            answers.append(
                services.Answer(question=question, q05=q05, q50=q50, q95=q95, rationale=rationale)
            )
    services.invitation_answers_save(invitation=invitation, answers=answers, submit=True)


def succeeded_run(survey_round, consensus: dict, *, cohorts: dict | None = None, experts=None):
    """A succeeded hierarchical run with QuestionResult rows, made directly (no sampler).

    ``consensus``: question code -> (mean, lower, upper, disagreement).
    """
    from aggregation.models import AggregationRun, QuestionResult

    run = AggregationRun.objects.create(
        survey_round=survey_round,
        method=AggregationRun.Method.HIERARCHICAL,
        options={"interval_mass": 0.9, "random_seed": 0, "cohort_attribute": "nationality"},
        options_hash=f"test-{AggregationRun.objects.count()}",
        data_hash="test",
        status=AggregationRun.Status.SUCCEEDED,
        result={"interval_mass": 0.9, "experts": experts or {}},
    )
    questions = {q.code: q for q in survey_round.questions.all()}
    for code, (mean, lower, upper, spread) in consensus.items():
        QuestionResult.objects.create(
            run=run, question=questions[code], n_judgments=3, consensus=mean,
            consensus_lower=lower, consensus_upper=upper, disagreement=spread,
            disagreement_lower=spread * 0.8, disagreement_upper=spread * 1.2,
            cohorts=(cohorts or {}).get(code, {}),
        )  # fmt: skip
    return run
