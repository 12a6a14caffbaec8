"""The second factor: the policy, enrolment, the two-step login, replay, lockout, recovery codes,
the API token, and the security administrator's reset and end-sessions (ASVS 6.4, 6.5, 7.4)."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from liangyi.conftest import client_for
from liangyi.core import access, twofactor
from liangyi.core.models import ApiToken, AuditEntry, RecoveryCode, Role, SecondFactor, User
from liangyi.core.tests.test_deploy_check import production_env, run_check
from liangyi.demo import factories

WRONG = "wrong-password-123"


@pytest.fixture(autouse=True)
def required(settings):
    """These tests run with the production policy (the demo default is off)."""
    settings.TWO_FACTOR_REQUIRED = True


def login(client: Client, username: str, password: str = factories.PASSWORD):
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client.post(reverse("core:login"), {"username": username, "password": password})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def next_code(secret: str) -> str:
    """The code of the next time step (the current one may already be used, and is refused)."""
    return pyotp.TOTP(secret).at(time.time() + twofactor.STEP_SECONDS)


def enrol(user: User) -> str:
    """Set up an authenticator for ``user`` the way the page does; returns its secret."""
    factor = twofactor.pending_factor(user)
    assert twofactor.enrol_confirm(user=user, code=pyotp.TOTP(factor.secret).now()) is not None
    return factor.secret


class TestPolicy:
    @pytest.mark.parametrize("role", Role.values)
    def test_every_role_that_sees_personal_data_or_administers_must_enrol(self, role):
        entry = access.matrix()["roles"][role]
        user = User(username="x", role=role)
        administers = set(entry["actions"]) & {"manage_users", "manage_jurisdictions", "manage_security", "view_audit"}
        assert twofactor.required_for(user) is bool(entry["groups"] or administers)

    def test_only_the_education_role_is_exempt_today(self):
        assert [r for r in Role.values if not twofactor.required_for(User(username="x", role=r))] == ["education"]

    def test_the_policy_can_be_off_only_outside_production(self, settings):
        settings.TWO_FACTOR_REQUIRED = False
        assert not twofactor.required_for(User(username="x", role="police"))
        result = run_check({**production_env(), "LIANGYI_2FA_REQUIRED": "0"})
        assert result.returncode != 0 and "LIANGYI_2FA_REQUIRED" in result.stderr


class TestEnrolmentAtFirstLogin:
    def test_the_password_alone_does_not_log_in_but_leads_to_enrolment(self, personas):
        client = Client()
        response = login(client, "worker")
        assert response.status_code == 302 and response.url == reverse("core:two_factor")
        assert not logged_in(client)
        assert client.get(reverse("core:home")).url.startswith(reverse("core:login"))

    def test_the_page_shows_a_qr_code_and_the_key_and_a_right_code_logs_in(self, personas):
        client = Client()
        login(client, "worker")
        page = client.get(reverse("core:two_factor"))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'data-testid="totp-qr"' in html and "data:image/svg+xml;base64," in html
        assert "no-store" in page["Cache-Control"]  # the key must not stay in a cache
        secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', html).group(1)
        assert client.post(reverse("core:two_factor"), {"code": "000000" if pyotp.TOTP(secret).now() != "000000"
                                                         else "111111"}).status_code == 400
        assert not logged_in(client)
        done = client.post(reverse("core:two_factor"), {"code": pyotp.TOTP(secret).now()})
        assert done.status_code == 200 and logged_in(client)
        codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", done.content.decode())
        assert len(codes) == twofactor.RECOVERY_CODES
        assert AuditEntry.objects.filter(action="two_factor.enrolled", actor=personas["worker"]).exists()
        assert AuditEntry.objects.filter(action="login.succeeded", actor=personas["worker"]).exists()

    def test_the_secret_is_encrypted_at_rest(self, personas):
        secret = enrol(personas["worker"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM core_secondfactor")
            stored = cursor.fetchone()[0]
        assert secret not in stored and stored.startswith(("sm4gcm:", "aesgcm:"))

    def test_recovery_codes_are_stored_as_hashes(self, personas):
        factor = twofactor.pending_factor(personas["worker"])
        codes = twofactor.enrol_confirm(user=personas["worker"], code=pyotp.TOTP(factor.secret).now())
        stored = set(RecoveryCode.objects.values_list("code_hash", flat=True))
        assert len(stored) == len(codes) and not stored & set(codes)

    def test_without_a_pending_password_the_enrolment_page_sends_to_log_in(self, db):
        assert Client().get(reverse("core:two_factor")).url == reverse("core:login")

    def test_the_education_role_logs_in_with_the_password(self, places):
        factories.user("teacher", "education", places["township"])
        client = Client()
        assert login(client, "teacher").status_code == 302 and logged_in(client)


class TestTheSecondStep:
    def test_a_right_code_logs_in(self, personas):
        secret = enrol(personas["police"])
        client = Client()
        response = login(client, "police")
        assert response.url == reverse("core:login_code") and not logged_in(client)
        done = client.post(reverse("core:login_code"), {"code": next_code(secret)})
        assert done.status_code == 302 and logged_in(client)
        entry = AuditEntry.objects.filter(action="login.succeeded").first()
        assert entry.actor == personas["police"] and entry.detail["factor"] == "totp"

    def test_an_enrolled_account_answers_the_code_even_when_the_policy_is_off(self, personas, settings):
        secret = enrol(personas["police"])
        settings.TWO_FACTOR_REQUIRED = False
        client = Client()
        assert login(client, "police").url == reverse("core:login_code") and not logged_in(client)
        client.post(reverse("core:login_code"), {"code": next_code(secret)})
        assert logged_in(client)

    def test_a_used_code_is_refused_the_second_time(self, personas):
        secret = enrol(personas["police"])
        code = next_code(secret)
        first, second = Client(), Client()
        login(first, "police")
        first.post(reverse("core:login_code"), {"code": code})
        login(second, "police")
        assert second.post(reverse("core:login_code"), {"code": code}).status_code == 400
        assert not logged_in(second)

    def test_wrong_codes_lock_the_account_with_the_one_refusal_message(self, personas, settings):
        secret = enrol(personas["police"])
        client = Client()
        login(client, "police")
        wrong = "123456" if next_code(secret) != "123456" else "654321"
        for _attempt in range(settings.LOGIN_MAX_FAILURES):
            response = client.post(reverse("core:login_code"), {"code": wrong})
        assert response.status_code == 400
        wrong_password = login(Client(), "police", WRONG)
        assert response.content.decode().count("the account is locked") == 1
        assert "the account is locked" in wrong_password.content.decode()
        personas["police"].refresh_from_db()
        assert personas["police"].is_locked()
        # Locked: even the right password and the right code do not log in.
        again = Client()
        assert login(again, "police").status_code == 400 and not logged_in(again)

    def test_the_right_password_does_not_reset_the_count_of_wrong_codes(self, personas, settings):
        enrol(personas["police"])
        for _attempt in range(settings.LOGIN_MAX_FAILURES):
            client = Client()
            login(client, "police")
            client.post(reverse("core:login_code"), {"code": "000000x"})
        personas["police"].refresh_from_db()
        assert personas["police"].is_locked()

    def test_a_recovery_code_works_once(self, personas):
        factor = twofactor.pending_factor(personas["police"])
        codes = twofactor.enrol_confirm(user=personas["police"], code=pyotp.TOTP(factor.secret).now())
        client = Client()
        login(client, "police")
        assert client.post(reverse("core:login_code"), {"code": codes[0]}).status_code == 302 and logged_in(client)
        again = Client()
        login(again, "police")
        assert again.post(reverse("core:login_code"), {"code": codes[0]}).status_code == 400
        assert twofactor.recovery_codes_left(personas["police"]) == twofactor.RECOVERY_CODES - 1

    def test_the_pending_step_expires(self, personas, monkeypatch):
        secret = enrol(personas["police"])
        client = Client()
        login(client, "police")
        later = time.time() + 10 * 60
        monkeypatch.setattr("liangyi.core.views.time.time", lambda: later)
        response = client.post(reverse("core:login_code"), {"code": next_code(secret)})
        assert response.url == reverse("core:login") and not logged_in(client)

    def test_the_code_page_without_a_password_sends_to_log_in(self, db):
        assert Client().get(reverse("core:login_code")).url == reverse("core:login")


class TestApiToken:
    url = "/api/v1/auth/token/"

    def post(self, **body):
        return Client().post(self.url, body, content_type="application/json")

    def test_a_role_that_must_enrol_but_has_not_is_told_to_set_it_up(self, personas):
        response = self.post(username="worker", password=factories.PASSWORD)
        assert response.status_code == 400 and "otp" in response.json()

    def test_the_password_alone_is_not_enough(self, personas):
        enrol(personas["police"])
        response = self.post(username="police", password=factories.PASSWORD)
        assert response.status_code == 400 and "otp" in response.json()
        assert not ApiToken.objects.exists()

    def test_password_and_code_get_a_token(self, personas):
        secret = enrol(personas["police"])
        response = self.post(username="police", password=factories.PASSWORD, otp=next_code(secret))
        assert response.status_code == 200 and response.json()["token"]

    def test_a_wrong_code_counts_towards_the_lockout(self, personas):
        enrol(personas["police"])
        response = self.post(username="police", password=factories.PASSWORD, otp="000000x")
        assert response.status_code == 400
        personas["police"].refresh_from_db()
        assert personas["police"].failed_logins == 1


@pytest.fixture
def security_admin(places):
    return factories.user("security", "security_admin", places["county"], full_name="安全管理员")


class TestSecurityAdministration:
    def act(self, actor: User, target: User, action: str):
        return client_for(actor).post(reverse("core:users"), {"user": target.pk, "action": action})

    def test_the_security_administrator_resets_a_second_factor(self, personas, security_admin):
        enrol(personas["police"])
        police = client_for(personas["police"])
        assert police.get(reverse("core:two_factor")).status_code == 200
        response = self.act(security_admin, personas["police"], "reset_2fa")
        assert response.status_code == 302
        assert not SecondFactor.objects.filter(user=personas["police"]).exists()
        assert not RecoveryCode.objects.filter(user=personas["police"]).exists()
        assert AuditEntry.objects.filter(action="user.second_factor_reset", actor=security_admin,
                                         object_id=str(personas["police"].pk)).exists()
        # The old phone may be in other hands: the account's sessions end too.
        assert police.get(reverse("core:two_factor")).url.startswith(reverse("core:login"))
        # At the next login the user sets up a new authenticator.
        assert login(Client(), "police").url == reverse("core:two_factor")

    def test_the_security_administrator_ends_every_session_of_a_user(self, personas, security_admin):
        first, second = client_for(personas["worker"]), client_for(personas["worker"])
        token, key = ApiToken.issue(personas["worker"], 1)
        assert first.get(reverse("core:home")).status_code == 302
        assert self.act(security_admin, personas["worker"], "end_sessions").status_code == 302
        for client in (first, second):
            response = client.get(reverse("people:list"))
            assert response.status_code == 302 and response.url.startswith(reverse("core:login"))
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert AuditEntry.objects.filter(action="user.sessions_ended", actor=security_admin).exists()
        # A colleague's session is untouched.
        assert client_for(personas["colleague"]).get(reverse("people:list")).status_code == 200

    def test_the_system_administrator_may_not_reset_or_end_sessions(self, personas):
        enrol(personas["police"])
        for action in ("reset_2fa", "end_sessions"):
            assert self.act(personas["admin"], personas["police"], action).status_code == 403
        assert SecondFactor.objects.filter(user=personas["police"]).exists()

    def test_the_security_administrator_may_not_manage_accounts(self, personas, security_admin):
        for action in ("deactivate", "unlock"):
            assert self.act(security_admin, personas["worker"], action).status_code == 403
        personas["worker"].refresh_from_db()
        assert personas["worker"].is_active
        assert client_for(security_admin).get(reverse("core:user_create")).status_code == 403

    def test_out_of_reach_is_404(self, places, personas):
        township_security = factories.user("sec_t", "security_admin", places["township"])
        assert self.act(township_security, personas["neighbour"], "end_sessions").status_code == 404
        assert self.act(township_security, personas["worker"], "end_sessions").status_code == 302

    def test_no_one_resets_their_own_second_factor(self, security_admin):
        enrol(security_admin)
        assert self.act(security_admin, security_admin, "reset_2fa").status_code == 400
        assert SecondFactor.objects.filter(user=security_admin).exists()

    def test_the_users_page_shows_who_has_set_up_a_second_factor(self, personas, security_admin):
        enrol(personas["police"])
        html = client_for(security_admin).get(reverse("core:users")).content.decode()
        assert 'data-testid="reset-2fa-police"' in html and 'data-testid="reset-2fa-worker"' not in html
        assert "Create a user" not in html

    def test_deactivating_an_account_ends_its_sessions(self, personas):
        session = client_for(personas["worker"])
        assert self.act(personas["admin"], personas["worker"], "deactivate").status_code == 302
        personas["worker"].refresh_from_db()
        assert personas["worker"].sessions_version == 1
        assert session.get(reverse("people:list")).url.startswith(reverse("core:login"))
