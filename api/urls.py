from django.urls import path

import config.converters  # noqa: F401 (registers <id:...>)
from api import views

app_name = "api-tokens"
urlpatterns = [
    path("tokens/", views.token_list, name="list"),
    path("tokens/<id:token_id>/revoke/", views.token_revoke, name="revoke"),
]
