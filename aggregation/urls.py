from django.urls import path

import config.converters  # noqa: F401 (registers <id:...>)
from aggregation import printing, views

app_name = "aggregation"
urlpatterns = [
    path("reports/", views.report_index, name="report-index"),
    path("reports/rounds/<id:round_id>/", views.round_report, name="round-report"),
    path("reports/rounds/<id:round_id>/runs/", views.run_request, name="run-request"),
    path("reports/rounds/<id:round_id>/print/", printing.round_print, name="round-print"),
    path(
        "reports/rounds/<id:round_id>/comparison/",
        views.round_comparison,
        name="round-comparison",
    ),
    path(
        "reports/rounds/<id:round_id>/comparison/consensus.svg",
        views.round_comparison_figure,
        name="round-comparison-figure",
    ),
    path(
        "reports/rounds/<id:round_id>/judgments.csv",
        views.round_judgments_csv,
        name="round-judgments-csv",
    ),
    path("reports/runs/<id:run_id>/experts/", views.experts_report, name="experts-report"),
    path(
        "reports/runs/<id:run_id>/questions/<id:question_id>/",
        views.question_report,
        name="question-report",
    ),
    path("reports/runs/<id:run_id>/progress.json", views.run_progress, name="run-progress"),
    path("reports/runs/<id:run_id>/results.csv", views.run_results_csv, name="run-results-csv"),
    path("reports/runs/<id:run_id>/posterior.nc", views.run_posterior, name="run-posterior"),
    path(
        "reports/runs/<id:run_id>/perception.csv",
        views.run_perception_csv,
        name="run-perception-csv",
    ),
    path(
        "reports/runs/<id:run_id>/perception.nc",
        views.run_perception_posterior,
        name="run-perception-posterior",
    ),
    path("reports/runs/<id:run_id>/figures/<slug:name>.svg", views.run_figure, name="run-figure"),
]
