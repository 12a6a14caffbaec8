"""Per-address rate limits of the login steps, the API token and re-authentication
(core/ratelimit.py): at the boundary, per address, per window, and only failures count."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from liangyi.conftest import client_for
from liangyi.core import ratelimit
from liangyi.core.models import ApiToken, AuditEntry, User
from liangyi.core.tests.test_twofactor import enrol, next_code
from liangyi.demo import factories

WRONG = "wrong-password-123"
LIMIT = 3
A, B = "203.0.113.7", "198.51.100.9"


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.LOGIN_RATE_LIMIT = LIMIT
    settings.LOGIN_RATE_WINDOW_SECONDS = 300
    settings.REAUTH_RATE_LIMIT = LIMIT
    settings.REAUTH_RATE_WINDOW_SECONDS = 300
    # Several unknown usernames: the per-account lockout does not get in the way of the counting.
    settings.LOGIN_MAX_FAILURES = 100


@pytest.fixture
def clock(monkeypatch):
    """The rate limiter's clock, set to the start of a window and moved by hand."""
    now = {"t": 1_800_000_000.0}  # a multiple of 300
    monkeypatch.setattr(ratelimit, "now", lambda: now["t"])
    return now


def web_login(ip: str, password: str = WRONG, username: str = "worker"):
    client = Client(REMOTE_ADDR=ip)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client.post(reverse("core:login"), {"username": username, "password": password})


def token(ip: str, password: str = WRONG, username: str = "worker", **extra):
    client = APIClient(REMOTE_ADDR=ip)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client.post(reverse("api-token"), {"username": username, "password": password, **extra}, format="json")


class TestTheWebLogin:
    def test_n_failures_are_answered_and_the_next_attempt_is_429(self, personas, clock):
        for _n in range(LIMIT):
            assert web_login(A).status_code == 400
        refused = web_login(A)
        assert refused.status_code == 429
        assert refused["Retry-After"] == "300"
        assert "Too many failed attempts from your network address" in refused.content.decode()
        assert 'name="username"' in refused.content.decode()  # the form is still there

    def test_a_refused_attempt_does_not_check_the_password(self, personas, clock):
        for _n in range(LIMIT):
            web_login(A)
        assert web_login(A, password=factories.PASSWORD).status_code == 429
        assert User.objects.get(username="worker").failed_logins == LIMIT
        assert AuditEntry.objects.filter(action="login.failed").count() == LIMIT

    def test_another_address_is_not_affected(self, personas, clock):
        for _n in range(LIMIT + 1):
            web_login(A)
        assert web_login(B).status_code == 400
        assert web_login(B, password=factories.PASSWORD).status_code == 302

    def test_the_next_window_starts_again_and_retry_after_counts_down(self, personas, clock):
        for _n in range(LIMIT):
            web_login(A)
        clock["t"] += 299
        refused = web_login(A)
        assert refused.status_code == 429 and refused["Retry-After"] == "1"
        clock["t"] += 1
        assert web_login(A).status_code == 400

    def test_successful_logins_do_not_count(self, personas, clock):
        for _n in range(LIMIT * 3):
            assert web_login(A, password=factories.PASSWORD).status_code == 302
        for _n in range(LIMIT):
            assert web_login(A).status_code == 400
        assert web_login(A).status_code == 429

    def test_the_refusal_is_audited_once_per_window(self, personas, clock):
        for _n in range(LIMIT + 3):
            web_login(A)
        entries = AuditEntry.objects.filter(action="ratelimit.refused")
        assert entries.count() == 1
        assert entries.get().ip == A and entries.get().detail["scope"] == "login"

    def test_a_limit_of_zero_turns_it_off(self, personas, clock, settings):
        settings.LOGIN_RATE_LIMIT = 0
        for _n in range(LIMIT * 2):
            assert web_login(A).status_code == 400


class TestTheSecondStep:
    def test_wrong_codes_share_the_login_counter(self, personas, clock, settings):
        settings.TWO_FACTOR_REQUIRED = True
        secret = enrol(personas["worker"])
        client = Client(REMOTE_ADDR=A)
        client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
        password_step = client.post(reverse("core:login"), {"username": "worker", "password": factories.PASSWORD})
        assert password_step.status_code == 302
        for _n in range(LIMIT):
            assert client.post(reverse("core:login_code"), {"code": "000000"}).status_code == 400
        refused = client.post(reverse("core:login_code"), {"code": next_code(secret)})
        assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
        assert "_auth_user_id" not in client.session


class TestTheApiToken:
    def test_n_failures_then_429_with_retry_after(self, personas, clock):
        for _n in range(LIMIT):
            assert token(A).status_code == 400
        refused = token(A, password=factories.PASSWORD)
        assert refused.status_code == 429 and refused["Retry-After"] == "300"
        assert "Too many failed attempts" in refused.json()["non_field_errors"][0]
        assert not ApiToken.objects.exists()

    def test_the_web_login_and_the_api_share_the_counter(self, personas, clock):
        web_login(A)
        web_login(A)
        token(A)
        assert token(A).status_code == 429
        assert web_login(A).status_code == 429

    def test_another_address_gets_its_token(self, personas, clock):
        for _n in range(LIMIT + 1):
            token(A)
        assert token(B, password=factories.PASSWORD).status_code == 200


class TestReauthentication:
    def test_n_failures_then_429_and_a_separate_counter_from_the_login(self, personas, clock):
        client = client_for(personas["worker"])
        client.defaults["REMOTE_ADDR"] = A
        for _n in range(LIMIT):
            assert client.post(reverse("core:reauth"), {"password": WRONG}).status_code == 400
        refused = client.post(reverse("core:reauth"), {"password": factories.PASSWORD})
        assert refused.status_code == 429 and refused["Retry-After"] == "300"
        assert web_login(A, password=factories.PASSWORD).status_code == 302  # the login's counter is apart

    def test_the_api_endpoint_is_limited_too(self, personas, clock):
        _token, key = ApiToken.issue(personas["worker"], 1)
        client = APIClient(REMOTE_ADDR=A)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        for _n in range(LIMIT):
            assert client.post(reverse("api-reauth"), {"password": WRONG}, format="json").status_code == 400
        refused = client.post(reverse("api-reauth"), {"password": factories.PASSWORD}, format="json")
        assert refused.status_code == 429 and "Retry-After" in refused


class TestTheAddress:
    def test_x_forwarded_for_is_believed_only_from_a_listed_proxy(self, personas, clock, settings):
        settings.TRUSTED_PROXIES = ["10.0.0.1"]
        for _n in range(LIMIT):
            Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=A).post(
                reverse("core:login"), {"username": "worker", "password": WRONG})
        through_proxy = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=A)
        assert through_proxy.post(reverse("core:login"), {"username": "w", "password": WRONG}).status_code == 429
        # Another client behind the same proxy has its own count.
        other = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=B)
        assert other.post(reverse("core:login"), {"username": "w", "password": WRONG}).status_code == 400

    def test_a_client_cannot_escape_by_forging_the_header(self, personas, clock, settings):
        settings.TRUSTED_PROXIES = ["10.0.0.1"]
        for n in range(LIMIT + 1):
            forged = Client(REMOTE_ADDR=A, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
            response = forged.post(reverse("core:login"), {"username": "worker", "password": WRONG})
        assert response.status_code == 429

    def test_ipv6_counts_per_64(self, rf):
        one = rf.get("/", REMOTE_ADDR="2001:db8:1:2:aaaa::1")
        other = rf.get("/", REMOTE_ADDR="2001:db8:1:2:bbbb::2")
        elsewhere = rf.get("/", REMOTE_ADDR="2001:db8:1:3::1")
        assert ratelimit.address(one) == ratelimit.address(other) == "2001:db8:1:2::/64"
        assert ratelimit.address(elsewhere) != ratelimit.address(one)


class TestNoProxyByDefault:
    """Issue 15 item 14: with no LIANGYI_TRUSTED_PROXIES, not even loopback is a trusted proxy."""

    def test_the_default_trusts_no_proxy(self):
        from liangyi.core.tests.test_deploy_check import run_python

        result = run_python(
            "from django.conf import settings; from django.test import RequestFactory; "
            "from liangyi.core import audit, ratelimit; "
            "r = RequestFactory().get('/', REMOTE_ADDR='127.0.0.1', HTTP_X_FORWARDED_FOR='203.0.113.7'); "
            "print(settings.TRUSTED_PROXIES, audit.client_ip(r), ratelimit.address(r))", {})
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["[]", "127.0.0.1", "127.0.0.1"]

    def test_a_header_from_loopback_buys_no_new_count(self, personas, clock, settings):
        settings.TRUSTED_PROXIES = []  # the default (checked above)
        for n in range(LIMIT + 1):
            forged = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
            response = forged.post(reverse("core:login"), {"username": "worker", "password": WRONG})
        assert response.status_code == 429
