"""Re-authentication before a reveal or an export (core/reauth.py): the proof's window, the confirm
page, htmx, the API's proof by token, audit entries, and failures counting towards the lockout."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from liangyi.conftest import client_for
from liangyi.core import reauth, twofactor
from liangyi.core.models import ApiToken, AuditEntry, User
from liangyi.demo import factories

WRONG = "wrong-password-123"


def stale(client: Client, minutes: int | None = None) -> None:
    """Make the session's last proof older than the window (or ``minutes`` old)."""
    session = client.session
    session[reauth.PROOF_KEY] = time.time() - 60 * (minutes if minutes is not None else
                                                     django_settings.REAUTH_MINUTES + 1)
    session.save()


def reveal_url(person, field: str = "phone") -> str:
    return reverse("people:reveal", args=[person.pk, field])


def confirm(client: Client, password: str = factories.PASSWORD, next_url: str = "", **extra):
    return client.post(reverse("core:reauth"), {"password": password, "next": next_url, **extra})


def enrol(user: User) -> str:
    factor = twofactor.pending_factor(user)
    assert twofactor.enrol_confirm(user=user, code=pyotp.TOTP(factor.secret).now()) is not None
    return factor.secret


def next_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(time.time() + twofactor.STEP_SECONDS)


def reveals(person) -> int:
    return AuditEntry.objects.filter(action="person.reveal", person_id=person.pk).count()


class TestTheWindow:
    def test_the_login_is_a_proof(self, personas, person):
        response = client_for(personas["worker"]).post(reveal_url(person))
        assert response.status_code == 200 and person.phone in response.content.decode()

    def test_a_proof_older_than_the_setting_is_not_enough(self, personas, person, settings):
        settings.REAUTH_MINUTES = 15
        client = client_for(personas["worker"])
        stale(client, minutes=14)
        assert person.phone in client.post(reveal_url(person)).content.decode()
        stale(client, minutes=16)
        response = client.post(reveal_url(person))
        assert response.status_code == 302 and person.phone not in response.content.decode()
        assert reveals(person) == 1

    def test_the_setting_decides_the_window(self, personas, person, settings):
        client = client_for(personas["worker"])
        stale(client, minutes=20)
        settings.REAUTH_MINUTES = 30
        assert client.post(reveal_url(person)).status_code == 200
        settings.REAUTH_MINUTES = 10
        assert client.post(reveal_url(person)).status_code == 302

    def test_a_session_without_a_proof_is_asked(self, personas, person):
        client = client_for(personas["worker"])
        session = client.session
        del session[reauth.PROOF_KEY]
        session.save()
        assert client.post(reveal_url(person)).status_code == 302


class TestTheRevealOnThePage:
    def test_a_plain_post_is_sent_to_confirm_and_back_to_the_file(self, personas, person):
        client = client_for(personas["worker"])
        stale(client)
        page = reverse("people:detail", args=[person.pk])
        response = client.post(reveal_url(person), HTTP_REFERER=f"http://testserver{page}")
        assert response.status_code == 302
        parts = urlsplit(response.url)
        assert parts.path == reverse("core:reauth") and parse_qs(parts.query)["next"] == [page]

    def test_htmx_gets_a_fragment_with_a_link_that_keeps_the_page(self, personas, person):
        client = client_for(personas["worker"])
        stale(client)
        page = reverse("people:detail", args=[person.pk]) + "?tab=overview"
        response = client.post(reveal_url(person), HTTP_HX_REQUEST="true",
                               HTTP_HX_CURRENT_URL=f"http://testserver{page}")
        body = response.content.decode()
        assert response.status_code == 200  # htmx swaps only 2xx answers
        assert response["X-Reauth-Required"] == "1"
        assert 'data-testid="reauth-needed"' in body and person.phone not in body
        link = body.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert urlsplit(link).path == reverse("core:reauth")
        assert parse_qs(urlsplit(link).query)["next"] == [page]
        assert reveals(person) == 0

    def test_a_next_on_another_site_is_dropped(self, personas, person):
        client = client_for(personas["worker"])
        stale(client)
        response = client.post(reveal_url(person), HTTP_HX_REQUEST="true",
                               HTTP_HX_CURRENT_URL="https://evil.example/steal")
        assert "evil.example" not in response.content.decode()

    def test_after_confirming_the_reveal_works(self, personas, person):
        client = client_for(personas["worker"])
        stale(client)
        page = reverse("people:detail", args=[person.pk])
        response = confirm(client, next_url=page)
        assert response.status_code == 302 and response.url == page
        assert client.post(reveal_url(person)).status_code == 200
        assert reveals(person) == 1

    def test_anonymous_is_sent_to_log_in(self, person):
        response = Client().post(reveal_url(person))
        assert response.status_code == 302 and response.url.startswith(reverse("core:login"))


class TestTheConfirmPage:
    def test_it_asks_for_the_password_only_without_a_second_factor(self, personas):
        body = client_for(personas["worker"]).get(reverse("core:reauth")).content.decode()
        assert 'name="password"' in body and 'name="code"' not in body

    def test_it_asks_for_the_code_too_with_a_second_factor(self, personas):
        enrol(personas["worker"])
        body = client_for(personas["worker"]).get(reverse("core:reauth")).content.decode()
        assert 'name="password"' in body and 'name="code"' in body

    def test_the_password_without_the_code_is_refused_for_an_enrolled_account(self, personas):
        secret = enrol(personas["worker"])
        client = client_for(personas["worker"])
        stale(client)
        assert confirm(client).status_code == 400
        assert confirm(client, code="000000").status_code == 400
        assert not reauth.session_proved_recently(_request_of(client))
        response = confirm(client, code=next_code(secret), next_url="/persons/")
        assert response.status_code == 302 and response.url == "/persons/"
        assert reauth.session_proved_recently(_request_of(client))

    def test_an_unsafe_next_goes_to_my_account(self, personas):
        client = client_for(personas["worker"])
        response = confirm(client, next_url="https://evil.example/")
        assert response.status_code == 302 and response.url == reverse("core:account")

    def test_the_page_keeps_next_in_the_form(self, personas):
        client = client_for(personas["worker"])
        stale(client)
        body = client.get(reverse("core:reauth"), {"next": "/persons/?q=王"}).content.decode()
        assert 'name="next"' in body and "/persons/?q=王" in body

    def test_with_a_fresh_proof_it_goes_straight_on(self, personas):
        """Sent to confirm with an expired session: the login page that comes first is the proof."""
        client = client_for(personas["worker"])
        response = client.get(reverse("core:reauth"), {"next": "/persons/"})
        assert response.status_code == 302 and response.url == "/persons/"
        assert client.get(reverse("core:reauth")).status_code == 200  # no next: the form

    def test_success_and_failure_are_audited(self, personas):
        client = client_for(personas["worker"])
        confirm(client, password=WRONG)
        confirm(client)
        entries = list(AuditEntry.objects.filter(action__startswith="reauth.").order_by("id"))
        assert [(e.action, e.outcome, e.actor_username, e.detail["channel"]) for e in entries] == [
            ("reauth.failed", "failed", "worker", "web"), ("reauth.succeeded", "ok", "worker", "web")]

    def test_failures_count_towards_the_lockout_and_the_lockout_ends_the_session(self, personas, settings):
        settings.LOGIN_MAX_FAILURES = 3
        client = client_for(personas["worker"])
        assert confirm(client, password=WRONG).status_code == 400
        assert confirm(client, password=WRONG).status_code == 400
        response = confirm(client, password=WRONG)
        assert response.status_code == 302 and response.url == reverse("core:login")
        worker = User.objects.get(username="worker")
        assert worker.is_locked()
        assert "_auth_user_id" not in client.session
        assert AuditEntry.objects.filter(action="login.lockout", object_id=str(worker.pk)).exists()
        # Locked: even the right password cannot log in again until the lockout ends.
        login = Client().post(reverse("core:login"), {"username": "worker", "password": factories.PASSWORD})
        assert login.status_code == 400

    def test_a_failed_login_and_a_failed_confirmation_add_up(self, personas, settings):
        settings.LOGIN_MAX_FAILURES = 2
        Client().post(reverse("core:login"), {"username": "worker", "password": WRONG})
        confirm(client_for(personas["worker"]), password=WRONG)
        assert User.objects.get(username="worker").is_locked()

    def test_a_right_confirmation_resets_the_count(self, personas, settings):
        settings.LOGIN_MAX_FAILURES = 2
        client = client_for(personas["worker"])
        confirm(client, password=WRONG)
        confirm(client)
        confirm(client, password=WRONG)
        assert not User.objects.get(username="worker").is_locked()

    def test_anonymous_is_sent_to_log_in(self, db):
        response = Client().get(reverse("core:reauth"))
        assert response.status_code == 302 and response.url.startswith(reverse("core:login"))

    def test_the_demo_needs_the_password_only(self, personas, person, settings):
        settings.TWO_FACTOR_REQUIRED = False
        client = client_for(personas["worker"])
        stale(client)
        assert confirm(client, next_url=reveal_url(person)).status_code == 302
        assert client.post(reveal_url(person)).status_code == 200


def _request_of(client: Client):
    """A request object carrying the client's session (to ask reauth about it)."""
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.session = client.session
    return request


def api(token_key: str | None = None) -> APIClient:
    client = APIClient()
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    if token_key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_key}")
    return client


def person_url(person) -> str:
    return reverse("api-person", args=[person.pk])


class TestTheApi:
    def test_a_fresh_token_reveals(self, personas, person):
        _token, key = ApiToken.issue(personas["worker"], 1)
        body = api(key).get(person_url(person), {"reveal": "1"}).json()
        assert body["phone"] == person.phone

    def test_an_old_token_is_asked_to_confirm_and_nothing_is_revealed(self, personas, person):
        token, key = ApiToken.issue(personas["worker"], 12)
        ApiToken.objects.filter(pk=token.pk).update(proved_at=timezone.now() - timedelta(minutes=16))
        response = api(key).get(person_url(person), {"reveal": "1"})
        assert response.status_code == 403
        assert list(response.json()) == ["reauth"] and "/api/v1/auth/reauth/" in response.json()["reauth"][0]
        assert reveals(person) == 0
        # Without ?reveal=1 the same token still reads the masked record.
        assert api(key).get(person_url(person)).status_code == 200

    def test_a_role_without_reveal_is_not_asked(self, personas, person):
        token, key = ApiToken.issue(personas["leader"], 12)
        ApiToken.objects.filter(pk=token.pk).update(proved_at=timezone.now() - timedelta(hours=2))
        assert api(key).get(person_url(person), {"reveal": "1"}).status_code == 200

    def test_reauth_renews_the_tokens_proof_and_only_that_token(self, personas, person):
        old = timezone.now() - timedelta(minutes=30)
        token, key = ApiToken.issue(personas["worker"], 12)
        other, other_key = ApiToken.issue(personas["worker"], 12)
        ApiToken.objects.update(proved_at=old)
        response = api(key).post(reverse("api-reauth"), {"password": factories.PASSWORD}, format="json")
        assert response.status_code == 200 and "proved_until" in response.json()
        assert api(key).get(person_url(person), {"reveal": "1"}).json()["phone"] == person.phone
        assert api(other_key).get(person_url(person), {"reveal": "1"}).status_code == 403

    def test_reauth_needs_the_code_with_a_second_factor(self, personas):
        secret = enrol(personas["worker"])
        _token, key = ApiToken.issue(personas["worker"], 12)
        url = reverse("api-reauth")
        assert api(key).post(url, {"password": factories.PASSWORD}, format="json").status_code == 400
        assert api(key).post(url, {"password": factories.PASSWORD, "otp": next_code(secret)},
                             format="json").status_code == 200

    def test_a_wrong_password_is_400_audited_and_counted(self, personas):
        _token, key = ApiToken.issue(personas["worker"], 12)
        response = api(key).post(reverse("api-reauth"), {"password": WRONG}, format="json")
        assert response.status_code == 400 and "non_field_errors" in response.json()
        assert User.objects.get(username="worker").failed_logins == 1
        assert AuditEntry.objects.filter(action="reauth.failed", detail__channel="api").exists()

    def test_the_failure_that_locks_the_account_revokes_the_token(self, personas, settings):
        settings.LOGIN_MAX_FAILURES = 2
        token, key = ApiToken.issue(personas["worker"], 12)
        for _n in range(2):
            api(key).post(reverse("api-reauth"), {"password": WRONG}, format="json")
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert api(key).get(reverse("api-persons")).status_code == 401

    def test_anonymous_gets_401(self, db):
        assert api().post(reverse("api-reauth"), {"password": "x"}, format="json").status_code == 401

    def test_unknown_fields_are_refused(self, personas):
        _token, key = ApiToken.issue(personas["worker"], 12)
        response = api(key).post(reverse("api-reauth"), {"password": factories.PASSWORD, "pin": "1"}, format="json")
        assert response.status_code == 400 and "pin" in response.json()

    def test_a_page_session_calling_the_api_uses_the_sessions_proof(self, personas, person):
        client = client_for(personas["worker"])
        assert client.get(person_url(person), {"reveal": "1"}).json()["phone"] == person.phone
        stale(client)
        assert client.get(person_url(person), {"reveal": "1"}).status_code == 403

    def test_the_schema_describes_the_endpoint_and_the_403(self, db):
        schema = Client().get("/api/schema/?format=json").json()
        assert "/api/v1/auth/reauth/" in schema["paths"]
        assert "403" in schema["paths"]["/api/v1/persons/{id}/"]["get"]["responses"]
        assert "429" in schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]


class TestTheDecorator:
    def test_it_marks_the_view(self):
        from liangyi.people.views import person_reveal

        assert getattr(person_reveal, "reauth_required", False)

    @pytest.mark.parametrize("minutes", [0, 14])
    def test_proved_recently_is_true_inside_the_window(self, minutes, settings, rf):
        settings.REAUTH_MINUTES = 15
        request = rf.get("/")
        request.session = {reauth.PROOF_KEY: time.time() - 60 * minutes}
        assert reauth.proved_recently(request)

    @pytest.mark.parametrize("value", [None, "yesterday", time.time() + 3600, time.time() - 16 * 60])
    def test_proved_recently_is_false_otherwise(self, value, settings, rf):
        settings.REAUTH_MINUTES = 15
        request = rf.get("/")
        request.session = {} if value is None else {reauth.PROOF_KEY: value}
        assert not reauth.proved_recently(request)

    def test_an_htmx_get_comes_back_to_the_page_not_the_fragment(self, personas, rf):
        from django.http import HttpResponse
        from django_htmx.middleware import HtmxDetails

        request = rf.get("/persons/x/?tab=plan", HTTP_HX_REQUEST="true",
                         HTTP_HX_CURRENT_URL="http://testserver/persons/x/")
        request.htmx = HtmxDetails(request)
        request.user, request.session = personas["worker"], {}
        response = reauth.required(lambda r: HttpResponse("the secret"))(request)
        body = response.content.decode()
        assert "the secret" not in body and 'data-testid="reauth-needed"' in body
        link = body.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert parse_qs(urlsplit(link).query)["next"] == ["/persons/x/"]

    def test_a_plain_get_comes_back_to_itself(self, personas, rf):
        from django.http import HttpResponse

        request = rf.get("/persons/x/file.pdf")
        request.user, request.session = personas["worker"], {}
        response = reauth.required(lambda r: HttpResponse("the secret"))(request)
        assert response.status_code == 302
        assert parse_qs(urlsplit(response.url).query)["next"] == ["/persons/x/file.pdf"]
