from django.contrib import admin
from django.urls import include, path

from api.endpoints import api
from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("after-login/", views.after_login, name="after-login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the staff switch
    path("admin/", admin.site.urls),
    path("", include("elicitation.urls")),
    path("", include("aggregation.urls")),
    path("", include("resolution.urls")),
    path("", include("privacy.urls")),
    path("api/", include("api.urls")),
    path("api/v1/", api.urls),
]
