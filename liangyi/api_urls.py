"""REST API v1: each app contributes its routes from its api.py."""

from django.urls import include, path

urlpatterns = [
    path("", include("liangyi.core.api")),
    path("", include("liangyi.people.api")),
    path("", include("liangyi.obligations.api")),
    path("", include("liangyi.handover.api")),
    path("", include("liangyi.supervision.api")),
    path("", include("liangyi.risk.api")),
    path("", include("liangyi.medical.api")),
]
