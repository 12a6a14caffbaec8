"""My account (core/views_account.py, core/sessions.py): the second factor's state, new recovery codes
after re-authentication, the user's own sessions and ending the others; never another account's."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from liangyi.conftest import client_for
from liangyi.core import auth, twofactor
from liangyi.core.models import AuditEntry, RecoveryCode, User, UserSession
from liangyi.core.tests.test_reauth import stale
from liangyi.core.tests.test_twofactor import enrol, next_code
from liangyi.demo import factories

ACCOUNT = "/account/"


def browser(user_agent: str, ip: str) -> Client:
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def log_in(client: Client, username: str = "worker", secret: str | None = None) -> Client:
    response = client.post(reverse("core:login"), {"username": username, "password": factories.PASSWORD})
    assert response.status_code == 302
    if secret is not None:
        assert client.post(reverse("core:login_code"), {"code": next_code(secret)}).status_code == 302
    assert "_auth_user_id" in client.session
    return client


def codes_on(response) -> list[str]:
    return re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", response.content.decode())


def test_the_route_is_the_one_the_navigation_links():
    assert reverse("core:account") == ACCOUNT


class TestThePage:
    def test_it_shows_the_factor_and_the_codes_left(self, personas):
        enrol(personas["worker"])
        body = client_for(personas["worker"]).get(ACCOUNT).content.decode()
        assert "Your authenticator app was set up on" in body and "10 recovery codes left" in body
        assert 'data-testid="renew-codes"' in body

    def test_without_a_factor_it_links_to_the_set_up(self, personas):
        body = client_for(personas["worker"]).get(ACCOUNT).content.decode()
        assert "No authenticator app is set up" in body and reverse("core:two_factor") in body
        assert 'data-testid="renew-codes"' not in body

    def test_the_navigation_links_it(self, personas):
        body = client_for(personas["worker"]).get(reverse("people:list")).content.decode()
        assert f'href="{ACCOUNT}" data-testid="nav-account"' in body

    def test_every_logged_in_role_reaches_it(self, personas):
        for who in ("worker", "leader", "auditor", "admin", "job_officer"):
            assert client_for(personas[who]).get(ACCOUNT).status_code == 200

    def test_anonymous_is_sent_to_log_in(self, db):
        response = Client().get(ACCOUNT)
        assert response.status_code == 302 and response.url.startswith(reverse("core:login"))

    def test_it_is_not_cached(self, personas):
        assert "no-store" in client_for(personas["worker"]).get(ACCOUNT)["Cache-Control"]


class TestNewRecoveryCodes:
    def test_they_are_shown_once_and_the_old_ones_stop_working(self, personas, settings):
        settings.TWO_FACTOR_REQUIRED = True
        worker = personas["worker"]
        secret = enrol(worker)
        # The enrolment's codes: one is used, the others wait.
        old = twofactor._new_recovery_codes(worker)
        client = log_in(browser("Firefox", "192.0.2.1"), secret=secret)
        response = client.post(reverse("core:recovery_codes"))
        new = codes_on(response)
        assert response.status_code == 200 and len(new) == twofactor.RECOVERY_CODES
        assert "no-store" in response["Cache-Control"]
        assert not set(new) & set(old)
        assert twofactor.verify(user=worker, code=old[0]) == ""
        assert twofactor.verify(user=worker, code=new[0]) == "recovery"
        # Shown once: the account page shows how many are left, never the codes.
        page = client.get(ACCOUNT).content.decode()
        assert not any(code in page for code in new) and "9 recovery codes left" in page

    def test_it_is_audited(self, personas):
        enrol(personas["worker"])
        client_for(personas["worker"]).post(reverse("core:recovery_codes"))
        entry = AuditEntry.objects.get(action="two_factor.recovery_codes_renewed")
        assert entry.actor_username == "worker" and entry.object_id == str(personas["worker"].pk)
        assert entry.detail["replaced_unused"] == 10

    def test_it_needs_a_recent_proof(self, personas):
        enrol(personas["worker"])
        before = set(RecoveryCode.objects.values_list("code_hash", flat=True))
        client = client_for(personas["worker"])
        stale(client)
        response = client.post(reverse("core:recovery_codes"), HTTP_REFERER=f"http://testserver{ACCOUNT}")
        assert response.status_code == 302 and response.url.startswith(reverse("core:reauth"))
        assert "next=%2Faccount%2F" in response.url
        assert set(RecoveryCode.objects.values_list("code_hash", flat=True)) == before
        assert not AuditEntry.objects.filter(action="two_factor.recovery_codes_renewed").exists()

    def test_without_a_factor_there_is_nothing_to_renew(self, personas):
        response = client_for(personas["worker"]).post(reverse("core:recovery_codes"))
        assert response.status_code == 302 and response.url == ACCOUNT
        assert not RecoveryCode.objects.exists()

    def test_it_touches_only_the_own_codes(self, personas):
        enrol(personas["worker"])
        enrol(personas["colleague"])
        theirs = set(RecoveryCode.objects.filter(user=personas["colleague"]).values_list("code_hash", flat=True))
        client_for(personas["worker"]).post(reverse("core:recovery_codes"))
        assert set(RecoveryCode.objects.filter(user=personas["colleague"])
                   .values_list("code_hash", flat=True)) == theirs

    def test_get_is_refused(self, personas):
        assert client_for(personas["worker"]).get(reverse("core:recovery_codes")).status_code == 405


class TestSessions:
    @pytest.fixture
    def two(self, personas):
        """The worker logged in on a desktop and on a tablet."""
        desk = log_in(browser("Mozilla/5.0 (Windows NT 10.0) desk", "192.0.2.10"))
        tablet = log_in(browser("Mozilla/5.0 (iPad) tablet", "192.0.2.20"))
        return desk, tablet

    def test_the_page_lists_each_session_with_its_device_and_address(self, two):
        desk, _tablet = two
        body = desk.get(ACCOUNT).content.decode()
        assert "desk" in body and "tablet" in body and "192.0.2.10" in body and "192.0.2.20" in body
        assert body.count('data-testid="this-session"') == 1
        assert body.count('data-testid="end-session"') == 1

    def test_ending_another_session_logs_it_out_and_is_audited(self, two):
        desk, tablet = two
        other = UserSession.objects.get(user_agent__contains="tablet")
        response = desk.post(reverse("core:session_end"), {"session": other.pk})
        assert response.status_code == 302
        assert tablet.get(ACCOUNT).url.startswith(reverse("core:login"))
        assert desk.get(ACCOUNT).status_code == 200
        other.refresh_from_db()
        assert other.ended_at is not None
        entry = AuditEntry.objects.get(action="user.session_ended")
        assert entry.actor_username == "worker" and entry.detail["session_ip"] == "192.0.2.20"

    def test_ending_all_others_keeps_this_one(self, two, personas):
        desk, tablet = two
        third = log_in(browser("phone", "192.0.2.30"))
        assert desk.post(reverse("core:sessions_end_others")).status_code == 302
        assert tablet.get(ACCOUNT).status_code == 302 and third.get(ACCOUNT).status_code == 302
        assert desk.get(ACCOUNT).status_code == 200
        assert AuditEntry.objects.get(action="user.sessions_ended_others").detail["ended"] == 2

    def test_a_session_of_another_user_is_404_and_stays(self, two, personas):
        _desk, _tablet = two
        colleague = log_in(browser("colleague's PC", "192.0.2.40"), username="colleague")
        theirs = UserSession.objects.get(user=personas["colleague"])
        worker = client_for(personas["worker"])
        assert worker.post(reverse("core:session_end"), {"session": theirs.pk}).status_code == 404
        worker.post(reverse("core:sessions_end_others"))
        assert colleague.get(ACCOUNT).status_code == 200
        assert "colleague's PC" not in worker.get(ACCOUNT).content.decode()

    def test_this_session_cannot_be_ended_here_and_a_bad_id_is_404(self, two):
        desk, _tablet = two
        mine = UserSession.objects.get(user_agent__contains="desk")
        assert desk.post(reverse("core:session_end"), {"session": mine.pk}).status_code == 404
        assert desk.post(reverse("core:session_end"), {"session": "not-a-uuid"}).status_code == 404
        assert desk.post(reverse("core:session_end"), {}).status_code == 404
        assert desk.get(ACCOUNT).status_code == 200

    def test_ending_sessions_needs_a_recent_proof(self, two):
        desk, tablet = two
        other = UserSession.objects.get(user_agent__contains="tablet")
        stale(desk)
        for response in (desk.post(reverse("core:session_end"), {"session": other.pk},
                                   HTTP_REFERER=f"http://testserver{ACCOUNT}"),
                         desk.post(reverse("core:sessions_end_others"), HTTP_REFERER=f"http://testserver{ACCOUNT}")):
            assert response.status_code == 302 and response.url.startswith(reverse("core:reauth"))
        assert tablet.get(ACCOUNT).status_code == 200
        assert UserSession.objects.get(pk=other.pk).ended_at is None

    def test_a_logout_ends_the_row(self, two):
        desk, _tablet = two
        desk.post(reverse("core:logout"))
        assert UserSession.objects.get(user_agent__contains="desk").ended_at is not None

    def test_sessions_ended_by_the_security_administrator_are_no_longer_listed(self, two, personas):
        desk, _tablet = two
        auth.sessions_end(user=User.objects.get(username="worker"), actor=personas["admin"])
        fresh = log_in(browser("new", "192.0.2.50"))
        body = fresh.get(ACCOUNT).content.decode()
        assert "desk" not in body and "tablet" not in body and body.count("<tr data-session") == 1

    def test_the_session_key_is_encrypted_at_rest(self, two):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT session_key FROM core_usersession")
            stored = [row[0] for row in cursor.fetchall()]
        keys = [s.session_key for s in UserSession.objects.all()]
        assert stored and not set(stored) & set(keys)

    def test_last_seen_moves_with_use(self, two, monkeypatch):
        desk, _tablet = two
        row = UserSession.objects.get(user_agent__contains="desk")
        session = desk.session
        session["liangyi_seen_at"] = 0  # long ago: the next request writes last seen
        session.save()
        desk.get(ACCOUNT)
        row_after = UserSession.objects.get(pk=row.pk)
        assert row_after.last_seen_at > row.last_seen_at
