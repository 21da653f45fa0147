"""Every write to the elicitation domain: views, tasks, the admin and the CSV import call these.

Services are keyword-only and raise ``ValidationError`` with a message an organizer or an
expert can act on. Reads and access checks live in ``elicitation.selectors``.

Split by sub-domain: ``surveys`` (surveys, scenarios, questions), ``experts`` (the panel),
``rounds``, ``answers`` (the expert's answers and the moderation of rationales) and
``invitations`` (links and emails). Callers import from here.
"""

from django.core.exceptions import ValidationError

from elicitation.services.answers import (
    Answer,
    _invitation_lock_open_round,
    answer_validate,
    invitation_answers_save,
    invitation_submit,
    judgment_rationale_hide,
    judgment_save,
    meta_predictions_validate,
    round_panel_changed,
)
from elicitation.services.experts import expert_create, expert_next_code, expert_random_code
from elicitation.services.invitations import (
    BROKER_ERRORS,
    invitation_language_set,
    invitation_link_renew,
    invitation_mark_opened,
    invitation_send,
    invitation_send_pending,
    invitations_enqueue,
)
from elicitation.services.rounds import (
    DEFAULT_LINK_DAYS,
    FEEDBACK_FIELDS,
    round_close,
    round_create,
    round_open,
)
from elicitation.services.surveys import (
    SURVEY_EDITABLE_FIELDS,
    question_create,
    question_kind_errors,
    question_update,
    question_validate,
    scenario_create,
    scenario_update,
    survey_anonymity_set,
    survey_create,
    survey_people_set,
    survey_update,
)

__all__ = [
    "BROKER_ERRORS",
    "DEFAULT_LINK_DAYS",
    "FEEDBACK_FIELDS",
    "SURVEY_EDITABLE_FIELDS",
    "Answer",
    "ValidationError",  # tests catch ``services.ValidationError``
    "_invitation_lock_open_round",  # elicitation.clarifications takes the answers' lock
    "answer_validate",
    "expert_create",
    "expert_next_code",
    "expert_random_code",
    "invitation_answers_save",
    "invitation_language_set",
    "invitation_link_renew",
    "invitation_mark_opened",
    "invitation_send",
    "invitation_send_pending",
    "invitation_submit",
    "invitations_enqueue",
    "judgment_rationale_hide",
    "judgment_save",
    "meta_predictions_validate",
    "question_create",
    "question_kind_errors",
    "question_update",
    "question_validate",
    "round_close",
    "round_create",
    "round_open",
    "round_panel_changed",
    "scenario_create",
    "scenario_update",
    "survey_anonymity_set",
    "survey_create",
    "survey_people_set",
    "survey_update",
]
