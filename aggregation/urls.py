from django.urls import path

from aggregation import views

app_name = "aggregation"
urlpatterns = [
    path("reports/rounds/<int:round_id>/", views.round_report, name="round-report"),
]
