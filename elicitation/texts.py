"""The survey's texts as a reader sees them: organizers' Markdown, sanitised, and each text
in the reader's language (English or Korean), falling back to the other one with a note.

Presentation helpers, read by the expert pages, the organizer pages, the emails and the
reports; no database access of their own.
"""

import functools
from dataclasses import dataclass

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from elicitation.models import Question


@functools.lru_cache(maxsize=256)
def markdown_html(text: str) -> SafeString:
    """Markdown written by organizers, sanitised: it is shown to every expert.

    Kept per text in each process (a scenario's description is on every page of its part;
    the conversion is ~1 ms): the HTML is a function of the text alone.
    """
    html = markdown.markdown(text, extensions=["extra", "sane_lists"])
    return mark_safe(nh3.clean(html))  # noqa: S308 (nh3 has just removed anything unsafe)


# --- Content in the expert's language ---------------------------------------------------

OTHER_LANGUAGE = {"en": "ko", "ko": "en"}


@dataclass(frozen=True)
class LocalText:
    """A text of the survey in the language asked for, or in the other one (``fallback``)."""

    text: str
    language: str
    fallback: bool


def localized(obj, field: str, language: str) -> LocalText:
    """``obj.<field>`` in ``language``: English is ``field``, Korean ``field_ko``.

    An empty translation falls back to the other language, and says so (``fallback``).
    """

    def text_in(code: str) -> str:
        return getattr(obj, field if code == "en" else f"{field}_{code}", "") or ""

    wanted = language if language in OTHER_LANGUAGE else "en"
    if text_in(wanted).strip():
        return LocalText(text_in(wanted), wanted, False)
    other = OTHER_LANGUAGE[wanted]
    if text_in(other).strip():
        return LocalText(text_in(other), other, True)
    return LocalText("", wanted, False)


def fallback_note(language: str, *, what: str = "part") -> str:
    """The visible note beside content shown in the other language than ``language``."""
    notes = {
        ("ko", "question"): _("This question is not yet available in Korean; shown in English."),
        ("en", "question"): _("This question is not yet available in English; shown in Korean."),
        ("ko", "part"): _("This part is not yet available in Korean; shown in English."),
        ("en", "part"): _("This part is not yet available in English; shown in Korean."),
    }
    return notes[("ko" if language == "ko" else "en", what)]


@dataclass(frozen=True)
class QuestionContent:
    """A question's texts in the page's language (each may have fallen back)."""

    text: LocalText
    guidance: LocalText
    unit: LocalText
    resolution: LocalText
    note: str  # the fallback note to show, or ""


def question_content(question: Question, language: str) -> QuestionContent:
    parts = {
        name: localized(question, field, language)
        for name, field in (
            ("text", "text"),
            ("guidance", "guidance"),
            ("unit", "unit"),
            ("resolution", "resolution_criteria"),
        )
    }
    note = ""
    if parts["text"].fallback:
        note = fallback_note(language, what="question")
    elif any(part.fallback for part in parts.values()):
        note = fallback_note(language, what="part")
    return QuestionContent(note=note, **parts)
