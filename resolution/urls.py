from django.urls import path

import config.converters  # noqa: F401 (registers <id:...>)
from resolution import views

app_name = "resolution"
urlpatterns = [
    # Organizers
    path(
        "surveys/<id:survey_id>/resolutions/",
        views.survey_resolutions,
        name="survey-resolutions",
    ),
    path(
        "surveys/<id:survey_id>/resolutions/history/",
        views.survey_resolution_history,
        name="resolution-history",
    ),
    path(
        "surveys/<id:survey_id>/resolutions/<id:question_id>/",
        views.question_resolution,
        name="question-resolution",
    ),
    path(
        "surveys/<id:survey_id>/resolutions/<id:question_id>/resolve/",
        views.question_resolve,
        name="question-resolve",
    ),
    path(
        "surveys/<id:survey_id>/resolutions/<id:question_id>/annul/",
        views.question_annul,
        name="question-annul",
    ),
    # Readers of the survey's reports
    path("reports/surveys/<id:survey_id>/scores/", views.survey_scores, name="survey-scores"),
    path("reports/rounds/<id:round_id>/scores/", views.round_scores, name="round-scores"),
    path(
        "reports/rounds/<id:round_id>/scores/<slug:name>.svg",
        views.scores_figure,
        name="scores-figure",
    ),
    path(
        "reports/rounds/<id:round_id>/recalibration/",
        views.recalibration_request,
        name="recalibration-request",
    ),
    path(
        "reports/recalibrations/<id:run_id>/progress.json",
        views.recalibration_progress,
        name="recalibration-progress",
    ),
    path(
        "reports/recalibrations/<id:run_id>/posterior.nc",
        views.recalibration_posterior,
        name="recalibration-posterior",
    ),
]
