from django.urls import path

import config.converters  # noqa: F401 (registers <id:...>)
from elicitation.views import (
    building,
    clarifications,
    consent,
    expert,
    organizer,
    pilot,
    round_changes,
)

app_name = "elicitation"

urlpatterns = [
    # Organizers
    path("surveys/", organizer.survey_list, name="survey-list"),
    path("surveys/new/", building.survey_create, name="survey-create"),
    path("surveys/<id:survey_id>/", organizer.survey_detail, name="survey-detail"),
    path("surveys/<id:survey_id>/edit/", building.survey_edit, name="survey-edit"),
    path("surveys/<id:survey_id>/people/", building.survey_people, name="survey-people"),
    path("surveys/<id:survey_id>/scenarios/new/", building.scenario_create, name="scenario-create"),
    path("scenarios/<id:scenario_id>/edit/", building.scenario_edit, name="scenario-edit"),
    path("surveys/<id:survey_id>/questions/new/", building.question_create, name="question-create"),
    path("questions/<id:question_id>/edit/", building.question_edit, name="question-edit"),
    path("surveys/<id:survey_id>/experts/new/", building.expert_add, name="expert-add"),
    path(
        "surveys/<id:survey_id>/import/questions/",
        organizer.survey_import,
        {"what": "questions"},
        name="question-import",
    ),
    path(
        "surveys/<id:survey_id>/import/experts/",
        organizer.survey_import,
        {"what": "experts"},
        name="expert-import",
    ),
    path("surveys/<id:survey_id>/rounds/new/", organizer.round_create, name="round-create"),
    path(
        "invitations/<id:invitation_id>/new-link/",
        organizer.invitation_new_link,
        name="invitation-new-link",
    ),
    path("rounds/<id:round_id>/", organizer.round_detail, name="round-detail"),
    path("rounds/<id:round_id>/invite/", round_changes.round_invite_late, name="round-invite"),
    path("rounds/<id:round_id>/extend/", round_changes.round_extend, name="round-extend"),
    path("rounds/<id:round_id>/reopen/", round_changes.round_reopen, name="round-reopen"),
    path(
        "invitations/<id:invitation_id>/resend/",
        round_changes.invitation_resend,
        name="invitation-resend",
    ),
    path(
        "invitations/<id:invitation_id>/link/",
        round_changes.invitation_copy_link,
        name="invitation-link",
    ),
    path("rounds/<id:round_id>/open/", organizer.round_open, name="round-open"),
    path("rounds/<id:round_id>/close/", organizer.round_close, name="round-close"),
    path(
        "rounds/<id:round_id>/send-pending/",
        organizer.round_send_pending,
        name="round-send-pending",
    ),
    path(
        "rounds/<id:round_id>/rationales/",
        organizer.round_rationales,
        name="round-rationales",
    ),
    path(
        "rounds/<id:round_id>/rationales/<id:judgment_id>/",
        organizer.rationale_visibility,
        name="rationale-visibility",
    ),
    path("rounds/<id:round_id>/remind/", organizer.round_remind, name="round-remind"),
    path(
        "reminders/<id:reminder_id>/cancel/",
        organizer.reminder_cancel,
        name="reminder-cancel",
    ),
    path(
        "surveys/<id:survey_id>/anonymity/",
        organizer.survey_anonymity,
        name="survey-anonymity",
    ),
    # Issue 17: consent, pilot mode, clarifications
    path("surveys/<id:survey_id>/consent/", building.survey_consent, name="survey-consent"),
    path("surveys/<id:survey_id>/pilot/wipe/", pilot.survey_pilot_wipe, name="pilot-wipe"),
    path(
        "rounds/<id:round_id>/preview/<str:language>/<str:page>/",
        pilot.round_preview,
        name="round-preview",
    ),
    path(
        "questions/<id:question_id>/clarify/",
        clarifications.question_clarify,
        name="question-clarify",
    ),
    path(
        "rounds/<id:round_id>/answers-wording.csv",
        clarifications.round_wording_csv,
        name="round-wording-csv",
    ),
    # Experts: the magic link, then token-free pages
    path("e/<id:invitation_id>/", expert.expert_entry, name="expert-entry"),
    path("e/<id:invitation_id>/welcome/", expert.expert_welcome, name="expert-welcome"),
    path("e/<id:invitation_id>/consent/", consent.expert_consent, name="expert-consent"),
    path("e/<id:invitation_id>/answers/", expert.expert_form, name="expert-form"),
    path("e/<id:invitation_id>/language/", expert.expert_language, name="expert-language"),
]
