"""``{% round_wording_versions survey_round %}``: the clarified wordings of a round and how
many answers stand under each, for the analysts' round report (elicitation.clarifications)."""

from django import template

from elicitation import clarifications

register = template.Library()


@register.inclusion_tag("elicitation/includes/wording_versions.html")
def round_wording_versions(survey_round) -> dict:
    return {
        "wording_versions": clarifications.round_wording_versions(
            survey_round=survey_round, counted_only=True
        )
    }
