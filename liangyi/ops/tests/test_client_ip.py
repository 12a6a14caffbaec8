"""The audit trail's client address: X-Forwarded-For only from a trusted proxy (TRUSTED_PROXIES)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from liangyi.core import audit


def request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.fixture(autouse=True)
def proxies(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1", "10.9.0.0/24"]


def test_without_a_proxy_the_peer_address_is_the_client():
    assert audit.client_ip(request("192.0.2.7")) == "192.0.2.7"


def test_a_header_from_an_untrusted_peer_is_ignored():
    assert audit.client_ip(request("192.0.2.7", "203.0.113.9")) == "192.0.2.7"


def test_behind_the_local_nginx_the_forwarded_address_is_the_client():
    assert audit.client_ip(request("127.0.0.1", "192.0.2.7")) == "192.0.2.7"
    assert audit.client_ip(request("::1", "2001:db8::5")) == "2001:db8::5"


def test_a_trusted_network_is_matched_and_our_own_hops_are_skipped_from_the_right():
    # The client put a fake address first; each of our proxies appended what it saw.
    assert audit.client_ip(request("10.9.0.2", "6.6.6.6, 192.0.2.7, 10.9.0.1")) == "192.0.2.7"


def test_garbage_in_the_header_falls_back_to_the_peer():
    assert audit.client_ip(request("127.0.0.1", "not-an-address")) == "127.0.0.1"
    assert audit.client_ip(request("127.0.0.1", "")) == "127.0.0.1"


def test_with_no_trusted_proxy_the_header_is_never_believed(settings):
    settings.TRUSTED_PROXIES = []
    assert audit.client_ip(request("127.0.0.1", "192.0.2.7")) == "127.0.0.1"


@pytest.mark.django_db
def test_the_recorded_entry_carries_the_forwarded_client(settings):
    entry = audit.record(None, "test.event", None, request=request("127.0.0.1", "192.0.2.7"))
    entry.refresh_from_db()
    assert entry.ip == "192.0.2.7"
