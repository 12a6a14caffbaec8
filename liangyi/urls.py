"""Mounts each app's pages (urls.py) and REST endpoints (api.py)."""

from django.conf import settings
from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from liangyi.core import views as core_views
from liangyi.core.api import SchemaAccess, docs_login_required

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Open in the demo; in production only after a login (core.api.SchemaAccess, docs_login_required).
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[SchemaAccess]), name="schema"),
    # Swagger UI sets inline style attributes; only this page may, and it shows no personal data.
    path("api/docs/", docs_login_required(csp_override({**settings.SECURE_CSP, "style-src": [
        CSP.SELF, CSP.UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="schema"))), name="api-docs"),
    path("api/v1/", include("liangyi.api_urls")),
    path("persons/", include("liangyi.people.urls")),
    path("handover/", include("liangyi.handover.urls")),
    path("reconcile/", include("liangyi.reconcile.urls")),
    path("risk/", include("liangyi.risk.urls")),
    path("supervision/", include("liangyi.supervision.urls")),
    path("medical/", include("liangyi.medical.urls")),
    path("worklist/", include("liangyi.obligations.urls")),
    path("", include("liangyi.core.urls")),
]
