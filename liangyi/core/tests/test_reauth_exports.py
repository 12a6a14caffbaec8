"""Exports ask for a recent proof of identity (core/reauth.py), like reveals.

These tests pass once ``@reauth.required`` is on the export views of other apps (under
``@login_required``): ``people/views_export.py: person_pdf`` and ``reconcile/views.py: download``.
"""

from __future__ import annotations

import inspect
from urllib.parse import parse_qs, urlsplit

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from liangyi.conftest import client_for
from liangyi.core.models import AuditEntry
from liangyi.core.tests.test_reauth import confirm, stale
from liangyi.reconcile.tests.test_views import city, registry, upload, var_dir  # noqa: F401 (fixtures)

# Every view that answers a file through core.exports.deliver asks for a recent proof, but these:
NOT_ASKED = {
    # Fetched by calendar programs with the per-user key, never by a person at a page: there is no
    # one to ask. It holds initials and obligation kinds, no name, number or address.
    "obligations:calendar_feed",
    # The import template holds no personal data (its example row is invented).
    "people:import_template",
}


def _views(patterns=None, namespace: str = ""):
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            yield from _views(p.url_patterns, namespace + (f"{p.namespace}:" if p.namespace else ""))
        elif isinstance(p, URLPattern) and p.name:
            yield namespace + p.name, p.callback


def _delivers(view) -> bool:
    try:
        return "exports.deliver(" in inspect.getsource(inspect.unwrap(view))
    except (OSError, TypeError):
        return False


def test_every_export_view_asks_for_a_recent_proof():
    exporting = {name: view for name, view in _views() if _delivers(view)}
    assert {"people:pdf", "reconcile:download"} <= set(exporting)
    missing = [name for name, view in exporting.items()
               if name not in NOT_ASKED and not getattr(view, "reauth_required", False)]
    assert missing == [], "add @reauth.required (under @login_required) to: " + ", ".join(missing)


def _asked_to_confirm(response, url: str) -> bool:
    parts = urlsplit(response.get("Location", ""))
    return (response.status_code == 302 and parts.path == reverse("core:reauth")
            and parse_qs(parts.query).get("next") == [url])


class TestThePersonPdf:
    def test_a_stale_proof_is_sent_to_confirm_and_nothing_is_exported(self, personas, person):
        client = client_for(personas["worker"])
        stale(client)
        url = reverse("people:pdf", args=[person.pk])
        assert _asked_to_confirm(client.get(url), url)
        assert not AuditEntry.objects.filter(action="person.exported").exists()

    def test_after_confirming_the_pdf_comes(self, personas, person):
        client = client_for(personas["worker"])
        stale(client)
        url = reverse("people:pdf", args=[person.pk])
        response = confirm(client, next_url=url)
        assert response.status_code == 302 and response.url == url
        pdf = client.get(url)
        assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"


class TestTheReconciliationReport:
    def test_csv_and_xlsx_ask_for_a_recent_proof(self, registry, city, upload):  # noqa: F811
        _client, run = upload(city["worker"])
        client = client_for(city["leader"])
        stale(client)
        for fmt in ("csv", "xlsx"):
            url = reverse("reconcile:download", args=[run.pk, fmt])
            assert _asked_to_confirm(client.get(url), url)
        assert not AuditEntry.objects.filter(action="reconcile.exported").exists()
        confirm(client)
        assert client.get(reverse("reconcile:download", args=[run.pk, "csv"])).status_code == 200
