from django.urls import path

import config.converters  # noqa: F401 (registers <id:...>)
from privacy import views

app_name = "privacy"
urlpatterns = [
    path(
        "surveys/<id:survey_id>/data-requests/",
        views.survey_requests,
        name="survey-requests",
    ),
    path(
        "surveys/<id:survey_id>/data-requests/<uuid:contact_id>/",
        views.person_detail,
        name="person-detail",
    ),
    path(
        "surveys/<id:survey_id>/data-requests/<uuid:contact_id>/export.json",
        views.person_export_json,
        name="person-export-json",
    ),
    path(
        "surveys/<id:survey_id>/data-requests/<uuid:contact_id>/export/",
        views.person_export_html,
        name="person-export-html",
    ),
    path(
        "surveys/<id:survey_id>/data-requests/<uuid:contact_id>/erase/",
        views.person_erase,
        name="person-erase",
    ),
]
