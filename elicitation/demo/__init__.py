"""The demo panel: a survey on allied contributions in a Taiwan conflict, with a synthetic
panel of US and ROK experts whose answers carry known, planted cohort differences.

content      logins, texts, scenarios, questions and their planted parameters (pure data)
panel        the 44 synthetic experts (pure data)
rationales   what the experts write (pure data)
generator    their answers as plain rows, from the above and a random generator; no Django
build        ``demo_load``: writes the survey, rounds, invitations and answers (the ORM)

This module names what the rest of the code imports. ``demo_load`` and ``DemoSurvey`` are
loaded on first use, so that importing ``elicitation.demo.generator`` (which runs this
file first) loads no Django: the generator is tested in a fresh interpreter without it.
"""

from elicitation.demo.content import (
    DEMO_ADMIN_USERNAME,
    DEMO_ANALYST_USERNAME,
    DEMO_EXPERT_CODE,
    DEMO_ORGANIZER_USERNAME,
    DEMO_PASSWORD,
    DEMO_SEED,
    DEMO_SURVEY_TITLE,
    META_QUESTION_CODES,
    PLANTED_COHORT_GAPS,
    PLANTED_NUMERIC_GAPS,
    SECTORS,
)
from elicitation.demo.panel import demo_korean_expert_code

_FROM_BUILD = ("DemoSurvey", "demo_load")

__all__ = [
    "DEMO_ADMIN_USERNAME",
    "DEMO_ANALYST_USERNAME",
    "DEMO_EXPERT_CODE",
    "DEMO_ORGANIZER_USERNAME",
    "DEMO_PASSWORD",
    "DEMO_SEED",
    "DEMO_SURVEY_TITLE",
    "META_QUESTION_CODES",
    "PLANTED_COHORT_GAPS",
    "PLANTED_NUMERIC_GAPS",
    "SECTORS",
    "demo_korean_expert_code",
    *_FROM_BUILD,
]


def __getattr__(name: str):
    # PEP 562: `from elicitation.demo import demo_load` imports the ORM side only then.
    if name in _FROM_BUILD:
        from elicitation.demo import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
