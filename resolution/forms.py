"""Forms of the resolution pages. They check types; the rules (bounds, dates, notes, seeds)
are the services', whose errors the views put back on these forms."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from elicitation.models import Question
from resolution.models import RecalibrationRun
from resolution.services import SOURCE_MAX_LENGTH


class DateInput(forms.DateInput):
    input_type = "date"


def _date_field(label) -> forms.DateField:
    return forms.DateField(
        label=label,
        widget=DateInput(format="%Y-%m-%d"),
        error_messages={
            "required": _("Give the date."),
            "invalid": _("Enter the date as YYYY-MM-DD."),
        },
    )


def _note_field(label, help_text, *, required_message=None) -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=required_message is not None,
        max_length=SOURCE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={
            "required": required_message or "",
            "max_length": _("Keep it under %(limit_value)d characters."),
        },
    )


class ResolveForm(forms.Form):
    """Resolve one question: yes / no, or the realized value of a numeric question."""

    prefix = "resolve"

    def __init__(self, *args, question: Question, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.question = question
        if question.is_binary:
            self.fields["outcome"] = forms.TypedChoiceField(
                label=_("Outcome"),
                choices=[("1", _("Yes: it happened")), ("0", _("No: it did not"))],
                coerce=float,
                widget=forms.RadioSelect,
                error_messages={
                    "required": _("Choose yes or no."),
                    "invalid_choice": _("A probability question resolves yes or no."),
                },
            )
        else:
            unit = f" ({question.unit})" if question.unit else ""
            self.fields["outcome"] = forms.FloatField(
                label=_("Realized value") + unit,
                help_text=_bounds_help(question),
                error_messages={
                    "required": _("Give the realized value."),
                    "invalid": _("The realized value must be a number."),
                },
            )
        self.fields["resolved_on"] = _date_field(_("Date the answer became known"))
        self.fields["resolved_on"].initial = timezone.localdate
        self.fields["source"] = _note_field(
            _("Source"),
            _("Where the answer comes from: a publication, an official statement, a link."),
            required_message=_("Say where the answer comes from (a source note is required)."),
        )
        self.fields["reason"] = _note_field(
            _("Reason for the change"),
            _("Required when this changes an earlier resolution or annulment."),
        )


def _bounds_help(question: Question) -> str:
    lower, upper = question.lower_bound, question.upper_bound
    if lower is not None and upper is not None:
        return _("Between %(lower)g and %(upper)g.") % {"lower": lower, "upper": upper}
    if lower is not None:
        return _("At least %(lower)g.") % {"lower": lower}
    if upper is not None:
        return _("At most %(upper)g.") % {"upper": upper}
    return ""


class AnnulForm(forms.Form):
    """Annul a question: it leaves every score and the recalibration's data."""

    prefix = "annul"
    annulled_on = _date_field(_("Date of the annulment"))
    reason = _note_field(
        _("Why it is annulled"),
        _("E.g. the question turned out to be ambiguous, or its event can no longer be judged."),
        required_message=_("Say why the question is annulled (a reason is required)."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["annulled_on"].initial = timezone.localdate


class RecalibrationRequestForm(forms.Form):
    input = forms.ChoiceField(
        label=_("Aggregate to recalibrate"),
        choices=RecalibrationRun.Input.choices,
        initial=RecalibrationRun.Input.LOGODDS_MEAN,
    )
