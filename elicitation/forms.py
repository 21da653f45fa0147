"""Forms: the expert's answer sheet and the organizer's small forms.

The answer sheet validates each question with ``services.answer_validate`` (the one place
the rules live) and shows probabilities in percent while the database stores 0–1.
"""

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.converters import parse_id
from elicitation import meta, selectors
from elicitation.models import Expert, Judgment, Question, Scenario, Survey
from elicitation.services import (
    DEFAULT_LINK_DAYS,
    FEEDBACK_FIELDS,
    SURVEY_EDITABLE_FIELDS,
    Answer,
    answer_validate,
)

RATIONALE_MAX_LENGTH = 5000
QUANTILES = ("q05", "q50", "q95")
# A plain decimal number, once full-width and other non-ASCII digits are read (below).
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Dates and times that survive the conversion to and from every time zone: 9999-12-31
# 23:59 in New York is past the last datetime in UTC (an OverflowError, a 500).
FIRST_YEAR, LAST_YEAR = 1900, 9000


def ascii_number(text: str) -> str:
    """``text`` with full-width characters ("５０", "１２．５", "－３", as Korean and Japanese
    input methods may type them) and other decimal digits ("٥٠") read as ASCII."""
    chars = []
    for char in text.strip():
        if "\uff01" <= char <= "\uff5e":  # the full-width forms of ASCII "!" to "~"
            char = chr(ord(char) - 0xFEE0)
        elif char == "\u2212":  # the minus sign
            char = "-"
        elif not char.isascii() and (digit := unicodedata.decimal(char, None)) is not None:
            char = str(digit)
        chars.append(char)
    return "".join(chars)


class NumberField(forms.FloatField):
    """A number as people type it: full-width digits are read, and what is no plain
    decimal number is refused even where ``float()`` would take it ("5_0", "nan", "inf"),
    as is one too large to be finite ("1e400", 5,000 digits). -0 is 0."""

    def to_python(self, value):
        if isinstance(value, str) and value.strip():
            value = ascii_number(value)
            if not NUMBER.fullmatch(value):
                raise ValidationError(self.error_messages["invalid"], code="invalid")
        number = super().to_python(value)
        return None if number is None else number + 0.0  # -0.0 + 0.0 is 0.0


class ModelChoicesByIdField(forms.ModelMultipleChoiceField):
    """Choices by id; a value that is no id (``config.converters.parse_id``) is refused
    before any query, where one beyond 64 bits would overflow the database driver."""

    def clean(self, value):
        if isinstance(value, list | tuple):
            for pk in value:
                if parse_id(str(pk)) is None:
                    shown = str(pk) if len(str(pk)) <= 20 else f"{str(pk)[:20]}…"
                    raise ValidationError(
                        self.error_messages["invalid_pk_value"],
                        code="invalid_pk_value",
                        params={"pk": shown},
                    )
        return super().clean(value)


class DateTimeField(forms.DateTimeField):
    """A date and time between the years FIRST_YEAR and LAST_YEAR (else "Enter a valid
    date/time.", in Django's translations), labelled with the time zone it is read in."""

    def __init__(self, *, label=None, **kwargs):
        super().__init__(label=_label_with_time_zone(label) if label else None, **kwargs)

    def validate(self, value):
        super().validate(value)
        if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise ValidationError(self.error_messages["invalid"], code="invalid")


def _with_time_zone(label) -> str:
    return f"{label} ({timezone.get_current_timezone_name()})"


# Evaluated when the label is rendered, in the time zone active for that request.
_label_with_time_zone = lazy(_with_time_zone, str)


def _number_field(*, min_value=None, max_value=None, invalid=None) -> forms.FloatField:
    messages = {"invalid": invalid or gettext_lazy("Enter a number, such as 35 or 12.5.")}
    if min_value is not None or max_value is not None:
        range_message = gettext_lazy("Enter a number between 0 and 100.")
        messages |= {"min_value": range_message, "max_value": range_message}
    return NumberField(
        required=False, min_value=min_value, max_value=max_value, error_messages=messages
    )


def percent_display(probability: float | None) -> str:
    """0.29 → "29" (not 28.999999999999996), 0.125 → "12.5"."""
    return "" if probability is None else f"{round(probability * 100, 10):.15g}"


@dataclass
class FieldView:
    """A bound field as the answer sheet shows it, read once: its name, id, value and errors,
    the ids its input points to with ``aria-describedby``, and for a number its whole input.

    (A BoundField works its id and value out again on every access, and an included template
    per input was a fifth of a form page's rendering time.)
    """

    bound: forms.BoundField
    describedby: str
    html_name: str = ""
    id: str = ""
    value: str = ""
    errors: list = dataclasses.field(default_factory=list)
    input: str = ""  # a number field's <input> and its error message

    @property
    def error_id(self) -> str:
        return f"{self.id}-error"


def _number_input(view: FieldView, low, high, *, required: bool = False) -> SafeString:
    """A number field's input, its bounds, its help and error links, then its error."""
    attributes = [
        ("min", None if low is None else f"{low:g}"),
        ("max", None if high is None else f"{high:g}"),
        ("aria-describedby", view.describedby),
        ("aria-invalid", "true" if view.errors else ""),
        ("aria-required", "true" if required else ""),
    ]
    html = format_html(
        '<input type="number" name="{}" id="{}" value="{}" step="any" inputmode="decimal"{}>',
        view.html_name,
        view.id,
        view.value,
        format_html_join("", ' {}="{}"', ((k, v) for k, v in attributes if v)),
    )
    if view.errors:
        messages = mark_safe(" ".join(conditional_escape(e) for e in view.errors))  # noqa: S308
        html += format_html('\n<p class="field-error" id="{}">{}</p>', view.error_id, messages)
    return html


@dataclass
class MetaInput:
    """One cohort's meta-prediction input: the cohort, whether it is the expert's own."""

    cohort: str
    own: bool
    field: FieldView


def meta_field_key(cohort: str) -> str:
    """The part of a form field's name that names a cohort: the label itself when it is
    plain ("meta_US"), else a digest, so that names and ids never carry spaces or quotes."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", cohort):
        return f"meta_{cohort}"
    return "meta_x" + hashlib.sha256(cohort.encode()).hexdigest()[:12]


@dataclass
class QuestionRow:
    """What the template needs to draw one question: its fields and its state.

    ``previous`` is the expert's own answer in the previous round; ``feedback`` the panel's
    (``elicitation.feedback``) and ``content`` the texts in the page's language, both set
    by the view.
    """

    question: Question
    fields: dict[str, FieldView]
    judgment: Judgment | None
    previous: Judgment | None = None
    feedback: object = None
    content: object = None
    meta: list[MetaInput] = dataclasses.field(default_factory=list)
    meta_required: bool = False

    @property
    def answered(self) -> bool:
        return self.judgment is not None

    @property
    def help_id(self) -> str:
        return f"q{self.question.id}-help"

    @property
    def probability_percent(self) -> str:
        return percent_display(self.judgment.probability) if self.judgment else ""

    @property
    def meta_help_id(self) -> str:
        return f"q{self.question.id}-meta-help"

    @property
    def meta_answered(self) -> list[tuple[str, str]]:
        """(cohort, percent) of the stored meta-predictions, for the read-only page."""
        given = self.judgment.meta_predictions if self.judgment else {}
        return [(cohort, percent_display(value)) for cohort, value in sorted(given.items())]


class ExpertAnswersForm(forms.Form):
    """Every question of a round on one page; empty questions are simply not answered yet.

    In a follow-up round (``follow_up``) each question also has a "why I changed" box, and
    the questions in ``keep`` take the expert's ``previous`` answer, copied here on the
    server (the "keep my previous answer" buttons work without JavaScript).
    """

    def __init__(
        self,
        data=None,
        *,
        questions: list[Question],
        judgments: dict[int, Judgment],
        previous: dict[int, Judgment] | None = None,
        keep: Iterable[int] = (),
        follow_up: bool = False,
        meta_ask: meta.MetaAsk | None = None,
        **kw,
    ):
        self.questions = questions
        self.judgments = judgments
        self.previous = previous or {}
        self.follow_up = follow_up
        self.meta_ask = meta_ask or meta.MetaAsk()
        # {question id: [(cohort, field name suffix)]} for the questions that ask them.
        self.meta_keys = {
            question.id: [(cohort, meta_field_key(cohort)) for cohort in self.meta_ask.cohorts]
            for question in questions
            if self.meta_ask.asks(question)
        }
        self.kept = {question_id for question_id in keep if question_id in self.previous}
        if data is not None and self.kept:
            data = self._with_kept_answers(data)
        super().__init__(data, initial=self._initial(), **kw)
        for question in questions:
            self.fields.update(self._question_fields(question))

    def _with_kept_answers(self, data):
        data = data.copy()
        for question_id in self.kept:
            judgment, prefix = self.previous[question_id], f"q{question_id}_"
            data[prefix + "probability"] = percent_display(judgment.probability)
            for name in QUANTILES:
                data[prefix + name] = _number_display(getattr(judgment, name))
            if not data.get(prefix + "rationale", "").strip():
                data[prefix + "rationale"] = judgment.rationale
            data[prefix + "change_reason"] = ""
            for cohort, key in self.meta_keys.get(question_id, []):
                data[prefix + key] = percent_display(judgment.meta_predictions.get(cohort))
        return data

    def _initial(self) -> dict[str, str]:
        initial = {}
        for question_id, judgment in self.judgments.items():
            prefix = f"q{question_id}_"
            initial[prefix + "probability"] = percent_display(judgment.probability)
            for name in QUANTILES:
                initial[prefix + name] = _number_display(getattr(judgment, name))
            initial[prefix + "rationale"] = judgment.rationale
            initial[prefix + "change_reason"] = judgment.change_reason
            for cohort, key in self.meta_keys.get(question_id, []):
                initial[prefix + key] = percent_display(judgment.meta_predictions.get(cohort))
        return initial

    def _question_fields(self, question: Question) -> dict[str, forms.Field]:
        prefix = f"q{question.id}_"
        fields = {}
        if question.is_binary:
            fields[prefix + "probability"] = _number_field(
                min_value=0,
                max_value=100,
                invalid=gettext_lazy("Enter a probability as a number from 0 to 100."),
            )
        else:
            fields.update({prefix + name: _number_field() for name in QUANTILES})
        for _cohort, key in self.meta_keys.get(question.id, []):
            fields[prefix + key] = _number_field(
                min_value=0,
                max_value=100,
                invalid=gettext_lazy("Enter a probability as a number from 0 to 100."),
            )
        fields[prefix + "rationale"] = forms.CharField(
            required=False,
            max_length=RATIONALE_MAX_LENGTH,
            error_messages={
                "max_length": gettext_lazy(
                    "Keep the rationale under %(limit_value)d characters (it has %(show_value)d)."
                )
            },
        )
        if self.follow_up:
            fields[prefix + "change_reason"] = forms.CharField(
                required=False,
                max_length=RATIONALE_MAX_LENGTH,
                error_messages={
                    "max_length": gettext_lazy(
                        "Keep the reason under %(limit_value)d characters (it has %(show_value)d)."
                    )
                },
            )
        return fields

    def clean(self):
        cleaned = super().clean()
        for question in self.questions:
            self._clean_question(question, cleaned)
        return cleaned

    def _clean_question(self, question: Question, cleaned: dict) -> None:
        prefix = f"q{question.id}_"
        names = _value_names(question)
        if self._question_has_error(question):
            return  # the field already says what is wrong with it
        values = {name: cleaned.get(prefix + name) for name in names}
        if all(value is None for value in values.values()):
            self._clean_unanswered(question, cleaned)
            self._clean_meta_without_answer(question, cleaned)
            return
        if question.is_binary:
            values["probability"] /= 100
        try:
            answer_validate(question=question, **values)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(prefix + name, messages)

    def _clean_meta_without_answer(self, question: Question, cleaned: dict) -> None:
        prefix = f"q{question.id}_"
        for _cohort, key in self.meta_keys.get(question.id, []):
            if cleaned.get(prefix + key) is not None and not self.has_error(prefix + key):
                self.add_error(
                    prefix + key,
                    _("Give your own answer too, so that your predictions can be saved."),
                )
                return

    def _clean_unanswered(self, question: Question, cleaned: dict) -> None:
        first = f"q{question.id}_" + _value_names(question)[0]
        if question.id in self.judgments:
            self.add_error(
                first,
                _(
                    "You answered this question before. Change the answer if you like, "
                    "but it cannot be left empty."
                ),
            )
        elif cleaned.get(f"q{question.id}_rationale"):
            self.add_error(first, _("Give your answer too, so that your rationale can be saved."))

    def require_all_answered(self) -> bool:
        """For Submit: mark every unanswered question (and, where the survey requires them,
        every missing meta-prediction). True when none is missing."""
        for question in self.questions:
            prefix = f"q{question.id}_"
            first = prefix + _value_names(question)[0]
            if self._question_has_error(question):
                continue
            if not self._has_answer(question):
                self.add_error(first, _("Answer this question before you submit."))
            elif self.meta_ask.required:
                self._require_meta(question)
        return not self.errors

    def _require_meta(self, question: Question) -> None:
        prefix = f"q{question.id}_"
        for _cohort, key in self.meta_keys.get(question.id, []):
            name = prefix + key
            if self.cleaned_data.get(name) is None and not self.has_error(name):
                self.add_error(
                    name, _("Say what you expect this group to answer before you submit.")
                )

    def _has_answer(self, question: Question) -> bool:
        prefix = f"q{question.id}_"
        return all(
            self.cleaned_data.get(prefix + name) is not None for name in _value_names(question)
        )

    def _question_has_error(self, question: Question) -> bool:
        prefix = f"q{question.id}_"
        return any(self.has_error(prefix + name) for name in _value_names(question))

    def answers(self) -> list[Answer]:
        """The answered questions, ready for ``services.invitation_answers_save``."""
        answers = []
        for question in self.questions:
            if not self._has_answer(question):
                continue
            values = {name: self._value(question, name) for name in _value_names(question)}
            if question.id in self.kept:  # exactly the previous answer, not its rounding
                previous = self.previous[question.id]
                values = {name: getattr(previous, name) for name in _value_names(question)}
            rationale = self.cleaned_data.get(f"q{question.id}_rationale", "")
            reason = self.cleaned_data.get(f"q{question.id}_change_reason", "")
            answers.append(
                Answer(
                    question=question,
                    rationale=rationale,
                    change_reason=reason,
                    meta_predictions=self._meta_values(question),
                    **values,
                )
            )
        return answers

    def _meta_values(self, question: Question) -> dict[str, float]:
        """The given meta-predictions, 0-1; an untouched field keeps the stored value."""
        prefix, values = f"q{question.id}_", {}
        judgment = self.judgments.get(question.id)
        if question.id in self.kept:
            judgment = self.previous[question.id]
        for cohort, key in self.meta_keys.get(question.id, []):
            field = prefix + key
            stored = judgment.meta_predictions.get(cohort) if judgment else None
            if question.id in self.kept or (
                stored is not None and self.data.get(field, "").strip() == self.initial.get(field)
            ):
                value = stored
            else:
                value = self.cleaned_data.get(field)
                value = None if value is None else value / 100
            if value is not None:
                values[cohort] = value
        return values

    def _value(self, question: Question, name: str) -> float:
        """The answer on the database's scale; an untouched field keeps the stored value.

        (Shown rounded, a stored 0.123456789 would otherwise come back as 0.1234568 and
        count as a revision the expert never made.)
        """
        field = f"q{question.id}_{name}"
        judgment = self.judgments.get(question.id)
        if judgment is not None and self.data.get(field, "").strip() == self.initial.get(field):
            return getattr(judgment, name)
        value = self.cleaned_data[field]
        return value / 100 if name == "probability" else value

    def rows(self) -> list[QuestionRow]:
        rows = []
        for question in self.questions:
            prefix = f"q{question.id}_"
            fields = {
                name.removeprefix(prefix): self._field_view(question, name)
                for name in self.fields
                if name.startswith(prefix)
            }
            meta_inputs = [
                MetaInput(cohort, cohort == self.meta_ask.own_cohort, fields[key])
                for cohort, key in self.meta_keys.get(question.id, [])
            ]
            rows.append(
                QuestionRow(
                    question,
                    fields,
                    self.judgments.get(question.id),
                    previous=self.previous.get(question.id),
                    meta=meta_inputs,
                    meta_required=self.meta_ask.required,
                )
            )
        return rows

    def _field_view(self, question: Question, name: str) -> FieldView:
        bound = self[name]
        ids = []
        free_text = name.endswith(("_rationale", "_change_reason"))
        meta_field = self._is_meta_field(question, name)
        if meta_field:
            ids.append(f"q{question.id}-meta-help")
        elif not free_text and (
            question.guidance or question.guidance_ko or not question.is_binary
        ):
            ids.append(f"q{question.id}-help")
        field_id, errors = bound.id_for_label, bound.errors
        if errors:
            ids.append(f"{field_id}-error")
        value = bound.value()
        view = FieldView(
            bound,
            " ".join(ids),
            html_name=bound.html_name,
            id=field_id,
            value="" if value is None else value,
            errors=errors,
        )
        if meta_field or name.endswith("_probability"):
            required = meta_field and self.meta_ask.required
            view.input = _number_input(view, 0, 100, required=required)
        elif not free_text:  # a quantile
            view.input = _number_input(view, question.lower_bound, question.upper_bound)
        return view

    def _is_meta_field(self, question: Question, name: str) -> bool:
        prefix = f"q{question.id}_"
        return any(prefix + key == name for _c, key in self.meta_keys.get(question.id, []))

    def error_summary(self) -> list[tuple[str, str]]:
        """(anchor id, message) for the summary at the top, in page order."""
        by_id = {question.id: question for question in self.questions}
        summary = [("", message) for message in self.non_field_errors()]
        for name in self.fields:
            if name not in self.errors:
                continue
            question = by_id[int(name[1:].split("_", 1)[0])]
            where = question.code
            for cohort, key in self.meta_keys.get(question.id, []):
                if name == f"q{question.id}_{key}":
                    where = _("%(code)s, what %(cohort)s respondents will answer") % {
                        "code": question.code,
                        "cohort": cohort,
                    }
            for message in self.errors[name]:
                summary.append((self[name].id_for_label, f"{where}: {message}"))
        return summary


def _value_names(question: Question) -> list[str]:
    return ["probability"] if question.is_binary else list(QUANTILES)


def _number_display(value: float | None) -> str:
    return "" if value is None else f"{value:.15g}"  # 1234567 stays 1234567, not 1.23457e+06


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        error_messages={
            "required": gettext_lazy("Choose a CSV file to upload."),
            "empty": gettext_lazy("The file is empty. Choose a CSV file with a header line."),
        },
    )


class RoundCreateForm(forms.Form):
    opens_at = DateTimeField(
        required=False,
        label=gettext_lazy("Planned opening (optional)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    closes_at = DateTimeField(
        required=False,
        label=gettext_lazy("Planned closing (optional)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    is_pilot = forms.BooleanField(
        required=False,
        label=gettext_lazy("Pilot round"),
        help_text=gettext_lazy(
            "A rehearsal with test experts: its answers never reach reports, scores, "
            "feedback or exports, and can be wiped in one step."
        ),
    )


class RoundOpenForm(forms.Form):
    questions = ModelChoicesByIdField(
        queryset=Question.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Questions in this round"),
        error_messages={"required": gettext_lazy("Choose at least one question.")},
    )
    link_days = forms.IntegerField(
        min_value=1,
        initial=DEFAULT_LINK_DAYS,
        label=gettext_lazy("Personal links stay valid for (days)"),
    )
    show_consensus = forms.BooleanField(
        required=False,
        initial=True,
        label=gettext_lazy("The previous round's consensus, with its interval"),
    )
    show_spread = forms.BooleanField(
        required=False,
        initial=True,
        label=gettext_lazy("The spread of the previous round's answers (a dot chart)"),
    )
    show_cohorts = forms.BooleanField(
        required=False,
        initial=False,
        label=gettext_lazy("Each cohort's result (only cohorts large enough to stay anonymous)"),
    )
    show_rationales = forms.BooleanField(
        required=False,
        initial=True,
        label=gettext_lazy("The previous round's rationales, anonymised (hide any beforehand)"),
    )
    show_forecast = forms.BooleanField(
        required=False,
        initial=False,
        label=gettext_lazy(
            "The previous round's panel forecast of each probability question (the typical "
            "expert's belief recalibrated on resolved questions), beside that belief"
        ),
    )

    experts = ModelChoicesByIdField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Experts invited to this round"),
        help_text=gettext_lazy("The whole panel, or a subset (e.g. a follow-up round)."),
    )
    # Sent by the page's form with the checkboxes: without it (a client that does not know
    # the list), the whole panel is invited; with it, nothing ticked is an error.
    experts_listed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def feedback(self) -> dict[str, bool]:
        return {name: self.cleaned_data[name] for name in FEEDBACK_FIELDS}

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("experts"):
            if cleaned.get("experts_listed"):
                self.add_error("experts", _("Choose at least one expert to invite."))
            else:
                cleaned["experts"] = None
        return cleaned

    def __init__(self, *args, survey: Survey, **kwargs):
        super().__init__(*args, **kwargs)
        askable = selectors.survey_questions_askable(survey=survey)
        self.fields["questions"].queryset = askable
        self.fields["questions"].initial = list(askable.values_list("id", flat=True))
        panel = survey.experts.select_related("contact").order_by("code")
        self.fields["experts"].queryset = panel
        self.fields["experts"].initial = list(panel.values_list("id", flat=True))
        self.fields["experts"].label_from_instance = _expert_label(survey)
        self.fields["link_days"].widget.attrs["max"] = settings.SESAME_MAX_AGE // 86400
        self.fields["link_days"].validators.append(self._max_days)

    @staticmethod
    def _max_days(value: int) -> None:
        limit = settings.SESAME_MAX_AGE // 86400
        if value > limit:
            raise ValidationError(
                _("Links can live at most %(days)s days (INVITATION_MAX_AGE_DAYS).")
                % {"days": limit}
            )

    def expires_at(self):
        return timezone.now() + timedelta(days=self.cleaned_data["link_days"])


class SurveyAnonymityForm(forms.Form):
    anonymity = forms.ChoiceField(
        choices=Survey.Anonymity.choices,
        widget=forms.RadioSelect,
        label=gettext_lazy("Anonymity"),
    )


class ReminderScheduleForm(forms.Form):
    send_at = DateTimeField(
        label=gettext_lazy("Send a reminder at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"required": gettext_lazy("Choose when to send the reminder.")},
    )


# --- Building a survey on the organizer pages --------------------------------------------


class ModelChoiceByIdField(forms.ModelChoiceField):
    """One choice by id; what is no id is refused before the query (see ModelChoicesByIdField)."""

    def to_python(self, value):
        if value not in self.empty_values and parse_id(str(value)) is None:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class ServiceModelForm(forms.ModelForm):
    """A model's fields, labels and widgets; the instance is neither changed nor validated
    here: the view passes ``cleaned_data`` to a service, which validates and saves."""

    def _post_clean(self):
        pass


class SurveyForm(ServiceModelForm):
    class Meta:
        model = Survey
        fields = SURVEY_EDITABLE_FIELDS
        labels = {
            "title": gettext_lazy("Title"),
            "background": gettext_lazy("Background"),
            "contact_email": gettext_lazy("Contact email"),
            "cohort_attribute": gettext_lazy("Cohort attribute"),
            "meta_predictions": gettext_lazy("Ask what each cohort will answer"),
        }
        help_texts = {
            "cohort_attribute": gettext_lazy(
                "The expert attribute (a column of the experts' CSV, e.g. nationality or "
                "sector) whose values are the cohorts compared in reports. A change applies "
                "to the analyses requested afterwards."
            ),
            "meta_predictions": gettext_lazy(
                "Meta-predictions: after their own probability, experts say what they expect "
                "the experts of each cohort (their own included) to answer on average. The "
                "cohorts are the values of the cohort attribute among the panel's experts. "
                "Each probability question can leave them out."
            ),
        }
        widgets = {"background": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Not required: a page or client that does not send it keeps the present setting.
        self.fields["meta_predictions"].required = False
        if self.instance.pk:
            cohorts = meta.meta_cohorts(self.instance)
            now = _("The panel's cohorts now: %(cohorts)s.") % {
                "cohorts": ", ".join(cohorts) or _("none yet (import the panel first)")
            }
            field = self.fields["meta_predictions"]
            field.help_text = f"{field.help_text} {now}"

    def clean_meta_predictions(self) -> str:
        return self.cleaned_data.get("meta_predictions") or self.instance.meta_predictions


class ScenarioForm(ServiceModelForm):
    class Meta:
        model = Scenario
        fields = ("code", "title", "title_ko", "description", "description_ko")
        labels = {
            "code": gettext_lazy("Code"),
            "title": gettext_lazy("Title"),
            "description": gettext_lazy("Description"),
        }
        help_texts = {
            "code": gettext_lazy(
                "Letters, digits, hyphens and underscores, e.g. blockade: the scenario "
                "column of the questions' CSV."
            ),
            "description": gettext_lazy("Markdown, shown to experts above its questions."),
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 5})}


class QuestionForm(ServiceModelForm):
    lower_bound = NumberField(required=False, label=gettext_lazy("Lower bound"))
    upper_bound = NumberField(required=False, label=gettext_lazy("Upper bound"))
    seed_answer = NumberField(
        required=False,
        label=gettext_lazy("Known answer (seed questions)"),
        help_text=gettext_lazy("Probability questions: 1 (yes) or 0 (no). Numeric: the value."),
    )

    class Meta:
        model = Question
        fields = (
            "code",
            "scenario",
            "kind",
            "text",
            "text_ko",
            "guidance",
            "guidance_ko",
            "unit",
            "unit_ko",
            "lower_bound",
            "upper_bound",
            "scale",
            "is_seed",
            "seed_answer",
            "resolution_criteria",
            "resolution_criteria_ko",
            "tags",
            "asks_meta_predictions",
        )
        labels = {
            "code": gettext_lazy("Code"),
            "scenario": gettext_lazy("Scenario"),
            "kind": gettext_lazy("Kind"),
            "text": gettext_lazy("Question"),
            "guidance": gettext_lazy("Guidance"),
            "unit": gettext_lazy("Unit (numeric questions)"),
            "scale": gettext_lazy("Scale (numeric questions)"),
            "is_seed": gettext_lazy("Seed question"),
            "resolution_criteria": gettext_lazy("Resolution criteria"),
            "tags": gettext_lazy("Tags"),
            "asks_meta_predictions": gettext_lazy("Ask what each cohort will answer"),
        }
        help_texts = {
            "asks_meta_predictions": gettext_lazy(
                "Probability questions of a survey that asks meta-predictions: experts also "
                "predict each cohort's average answer. Untick to leave this question out."
            ),
        }
        field_classes = {"scenario": ModelChoiceByIdField}
        widgets = {
            "text": forms.Textarea(attrs={"rows": 3}),
            "text_ko": forms.Textarea(attrs={"rows": 3}),
            "guidance": forms.Textarea(attrs={"rows": 2}),
            "guidance_ko": forms.Textarea(attrs={"rows": 2}),
            "resolution_criteria": forms.Textarea(attrs={"rows": 2}),
            "resolution_criteria_ko": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, survey: Survey, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scenario"].queryset = survey.scenarios.all()
        self.fields["scenario"].empty_label = _("(no scenario)")


class PeopleForm(forms.Form):
    organizers = ModelChoicesByIdField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Organizers"),
        help_text=gettext_lazy("Staff accounts who build the survey and run its rounds."),
    )
    analysts = ModelChoicesByIdField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Analysts"),
        help_text=gettext_lazy("People who read the survey's reports (and nothing else)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        people = selectors.people_for_survey_roles()
        for name in ("organizers", "analysts"):
            self.fields[name].queryset = people[name]
            self.fields[name].label_from_instance = _person_label


def _person_label(user) -> str:
    name = user.get_full_name()
    parts = [name, f"({user.get_username()})"] if name else [user.get_username()]
    if user.email:
        parts.append(f"<{user.email}>")
    return " ".join(parts)


# --- Plans that change: late experts, a new closing time, a reopening -------------------


def _expert_label(survey: Survey):
    """Codes only at the strict level; code and name otherwise."""
    if survey.is_strict:
        return lambda expert: expert.code
    return lambda expert: f"{expert.code} — {expert.contact.name}"


class ExpertsChoiceForm(forms.Form):
    experts = ModelChoicesByIdField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Experts"),
        error_messages={"required": gettext_lazy("Choose at least one expert.")},
    )

    def __init__(self, *args, survey: Survey, experts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["experts"].queryset = experts.select_related("contact").order_by("code")
        self.fields["experts"].label_from_instance = _expert_label(survey)


class LateInviteForm(ExpertsChoiceForm):
    prefix = "late"


class RoundExtendForm(forms.Form):
    prefix = "extend"
    closes_at = DateTimeField(
        label=gettext_lazy("New closing time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"required": gettext_lazy("Choose the new closing time.")},
    )
    reason = forms.CharField(
        required=False, max_length=500, label=gettext_lazy("Reason (optional, for the record)")
    )


class RoundReopenForm(ExpertsChoiceForm):
    prefix = "reopen"
    closes_at = DateTimeField(
        label=gettext_lazy("Closes again at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"required": gettext_lazy("Choose when it closes again.")},
    )
    reason = forms.CharField(
        max_length=500,
        label=gettext_lazy("Reason (goes on the record)"),
        error_messages={"required": gettext_lazy("Say why it reopens.")},
    )


class ExpertAddForm(forms.Form):
    """One expert added to the panel by hand (a late joiner), as one row of the CSV."""

    name = forms.CharField(max_length=200, label=gettext_lazy("Name"))
    email = forms.EmailField(label=gettext_lazy("Email"))
    language = forms.ChoiceField(
        choices=Expert.Language.choices, initial=Expert.Language.EN, label=gettext_lazy("Language")
    )
    time_zone = forms.CharField(
        max_length=64,
        required=False,
        label=gettext_lazy("Time zone"),
        help_text=gettext_lazy("E.g. Asia/Seoul or America/New_York; empty: the site's."),
    )
    attributes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=gettext_lazy("Cohort attributes"),
        help_text=gettext_lazy("One per line, e.g. nationality=ROK."),
    )

    def clean_attributes(self) -> dict[str, str]:
        attributes = {}
        for line in self.cleaned_data["attributes"].splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ValidationError(
                    _(
                        "Write each attribute as name=value on a line of its own, e.g. sector=academia."
                    )
                )
            attributes[key.strip()] = value.strip()
        return attributes


class ConsentForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Consent and information (English)"),
        widget=forms.Textarea(attrs={"rows": 12}),
        max_length=20000,
        help_text=gettext_lazy(
            "Markdown. Experts read and accept it before the first question. The page adds "
            "what the survey's anonymity level means. Saving a changed text makes a new "
            "version, which every expert must accept again before answering further."
        ),
        error_messages={"required": gettext_lazy("Write the consent text in English.")},
    )
    text_ko = forms.CharField(
        label=gettext_lazy("Consent and information (Korean)"),
        widget=forms.Textarea(attrs={"rows": 12}),
        max_length=20000,
        required=False,
        help_text=gettext_lazy("Markdown. Without it, Korean-speaking experts read the English."),
    )


class QuestionClarifyForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Question"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        error_messages={"required": gettext_lazy("The question needs its English wording.")},
    )
    text_ko = forms.CharField(
        label=gettext_lazy("Question (Korean)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        required=False,
    )
    guidance = forms.CharField(
        label=gettext_lazy("Guidance"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        required=False,
    )
    guidance_ko = forms.CharField(
        label=gettext_lazy("Guidance (Korean)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        required=False,
    )
    note = forms.CharField(
        label=gettext_lazy("What changed (English)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text=gettext_lazy(
            "Shown to the experts who answered before the change, who are asked to confirm "
            "or revise their answer."
        ),
        error_messages={
            "required": gettext_lazy(
                "Say in a sentence what changed: the experts who answered will read it."
            )
        },
    )
    note_ko = forms.CharField(
        label=gettext_lazy("What changed (Korean)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
    )


class PilotWipeForm(forms.Form):
    confirm = forms.BooleanField(
        label=gettext_lazy("Yes, delete the pilot rounds and every answer given in them"),
        error_messages={
            "required": gettext_lazy(
                "Nothing was wiped: tick the box that confirms deleting the pilot data."
            )
        },
    )
    # A separate choice, off unless ticked: experts invited to pilot rounds only may be
    # test people, or the real panel rehearsing before round 1.
    remove_testers = forms.BooleanField(
        required=False,
        label=gettext_lazy(
            "Also delete the experts invited to pilot rounds only, with their names, emails "
            "and accounts (leave this unticked if they are your real panel)"
        ),
    )
