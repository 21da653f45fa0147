"""Forms of the report pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from aggregation.models import AggregationRun

Method = AggregationRun.Method
MAX_SEED = 2**32 - 1  # any unsigned 32-bit seed: plenty of distinct runs, fits every RNG


class RunRequestForm(forms.Form):
    """Ask for another method, or a hierarchical model with another seed."""

    method = forms.ChoiceField(
        label=_("Method"), choices=Method.choices, initial=Method.HIERARCHICAL
    )
    random_seed = forms.IntegerField(
        label=_("Random seed"),
        min_value=0,
        max_value=MAX_SEED,
        required=False,
        help_text=_("Used by the hierarchical models only; the pools need none."),
    )

    def options(self) -> dict:
        """The options to request: a seed for a model, nothing for a closed-form pool."""
        if self.cleaned_data["method"] not in (Method.HIERARCHICAL, Method.NUMERIC_HIERARCHICAL):
            return {}
        seed = self.cleaned_data.get("random_seed")
        return {"random_seed": 0 if seed is None else seed}
