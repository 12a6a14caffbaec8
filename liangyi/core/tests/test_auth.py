"""Login lockout, the idle timeout, the level-3 password profile and the security headers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from liangyi.conftest import client_for
from liangyi.core.auth import CompositionValidator
from liangyi.demo import factories

WRONG = "wrong-password-123"


def login(client: Client, username: str, password: str):
    """Post the login form in English (the language switch's cookie), so the messages can be read."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client.post(reverse("core:login"), {"username": username, "password": password})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


class TestLockout:
    def test_the_account_locks_after_the_maximum_of_failures(self, personas):
        worker, client = personas["worker"], Client()
        for attempt in range(1, settings.LOGIN_MAX_FAILURES):
            response = login(client, "worker", WRONG)
            assert response.status_code == 400
            assert b"Wrong username or password" in response.content
            worker.refresh_from_db()
            assert worker.failed_logins == attempt
            assert not worker.is_locked()
        login(client, "worker", WRONG)
        worker.refresh_from_db()
        assert worker.is_locked()
        minutes = (worker.locked_until - timezone.now()).total_seconds() / 60
        assert settings.LOGIN_LOCKOUT_MINUTES - 1 < minutes <= settings.LOGIN_LOCKOUT_MINUTES

    def test_the_right_password_fails_while_locked_and_works_after(self, personas):
        worker, client = personas["worker"], Client()
        for _ in range(settings.LOGIN_MAX_FAILURES):
            login(client, "worker", WRONG)
        response = login(client, "worker", factories.PASSWORD)
        assert response.status_code == 400
        assert b"locked" in response.content
        assert not logged_in(client)

        # Still locked a moment before the end ...
        worker.refresh_from_db()
        worker.locked_until = timezone.now() + timedelta(seconds=30)
        worker.save(update_fields=["locked_until"])
        assert login(client, "worker", factories.PASSWORD).status_code == 400
        assert not logged_in(client)

        # ... and free once the time has passed.
        worker.locked_until = timezone.now() - timedelta(seconds=1)
        worker.save(update_fields=["locked_until"])
        response = login(client, "worker", factories.PASSWORD)
        assert response.status_code == 302
        assert logged_in(client)
        worker.refresh_from_db()
        assert worker.failed_logins == 0
        assert worker.locked_until is None

    def test_a_success_resets_the_counter(self, personas):
        worker, client = personas["worker"], Client()
        for _ in range(settings.LOGIN_MAX_FAILURES - 1):
            login(client, "worker", WRONG)
        assert login(client, "worker", factories.PASSWORD).status_code == 302
        worker.refresh_from_db()
        assert worker.failed_logins == 0
        client.logout()
        for _ in range(settings.LOGIN_MAX_FAILURES - 1):
            login(client, "worker", WRONG)
        worker.refresh_from_db()
        assert not worker.is_locked()

    def test_failures_of_one_account_do_not_lock_another(self, personas):
        client = Client()
        for _ in range(settings.LOGIN_MAX_FAILURES):
            login(client, "worker", WRONG)
        assert login(client, "colleague", factories.PASSWORD).status_code == 302

    def test_an_inactive_account_cannot_log_in(self, personas):
        worker = personas["worker"]
        worker.is_active = False
        worker.save(update_fields=["is_active"])
        assert login(Client(), "worker", factories.PASSWORD).status_code == 400


class TestSessions:
    def test_the_idle_timeout_is_thirty_minutes_renewed_by_each_request(self):
        assert settings.SESSION_COOKIE_AGE == 1800
        assert settings.SESSION_SAVE_EVERY_REQUEST is True

    def session(self, client: Client) -> Session:
        return Session.objects.get(session_key=client.session.session_key)

    def test_an_expired_session_is_sent_to_log_in(self, personas):
        client = client_for(personas["auditor"])
        url = reverse("core:audit")
        assert client.get(url).status_code == 200
        Session.objects.filter(pk=self.session(client).pk).update(expire_date=timezone.now() - timedelta(seconds=1))
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("core:login"))

    def test_activity_renews_the_session(self, personas):
        client = client_for(personas["auditor"])
        client.get(reverse("core:audit"))
        Session.objects.filter(pk=self.session(client).pk).update(expire_date=timezone.now() + timedelta(seconds=60))
        assert client.get(reverse("core:audit")).status_code == 200
        remaining = (self.session(client).expire_date - timezone.now()).total_seconds()
        assert remaining > settings.SESSION_COOKIE_AGE - 60

    def test_a_deactivated_user_is_logged_out_at_the_next_request(self, personas):
        client = client_for(personas["auditor"])
        assert client.get(reverse("core:audit")).status_code == 200
        personas["auditor"].is_active = False
        personas["auditor"].save(update_fields=["is_active"])
        assert client.get(reverse("core:audit")).status_code == 302


class TestPasswordProfile:
    LEVEL3 = [
        {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
        {"NAME": "liangyi.core.auth.CompositionValidator"},
    ]

    @pytest.mark.parametrize("password", ["alllowercaseletters", "lowercase12345678", "UPPER-CASE-ONLY",
                                          "12345678901234"])
    def test_fewer_than_three_classes_are_refused(self, password):
        with pytest.raises(ValidationError) as exc:
            CompositionValidator().validate(password)
        assert exc.value.error_list[0].code == "password_composition"

    @pytest.mark.parametrize("password", ["lower-and-digits-42", "Lower and Upper 9", "Mixed.Case.Words"])
    def test_three_or_four_classes_pass(self, password):
        assert CompositionValidator().validate(password) is None  # raises ValidationError when refused

    def test_the_profile_through_django_validators(self, db):
        with override_settings(AUTH_PASSWORD_VALIDATORS=self.LEVEL3):
            with pytest.raises(ValidationError) as exc:
                validate_password("onlylowercaseletters")
            assert "password_composition" in [e.code for e in exc.value.error_list]
            validate_password("Rehab-Registry-2026")

    def test_the_help_text_says_what_to_do(self):
        assert "three" in str(CompositionValidator().get_help_text())


class TestHeaders:
    def test_an_authenticated_page_is_not_stored(self, personas):
        response = client_for(personas["auditor"]).get(reverse("core:audit"))
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]

    def test_the_login_page_has_a_csp_with_a_nonce(self, db):
        response = Client().get(reverse("core:login"))
        assert response.status_code == 200
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        match = re.search(r"'nonce-([^']+)'", csp)
        assert match, csp
        # The scripts of the page carry the same nonce.
        assert f'nonce="{match.group(1)}"'.encode() in response.content

    def test_healthz_answers_without_login(self, db):
        response = Client().get("/healthz")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert response.json()["database"] == "ok"
