"""Changing one's own password on My account (core/views_account.py): the current password, the new
one twice under the password policy; this session stays, the others end, API tokens are revoked;
a wrong current password is audited and counts towards the lockout and the per-address limit."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from liangyi.conftest import client_for
from liangyi.core import audit, ratelimit, views_account
from liangyi.core.models import ApiToken, AuditEntry, Outcome, Role, User, UserSession
from liangyi.core.tests.test_account import browser, log_in
from liangyi.core.views_admin import user_add
from liangyi.demo import factories

PAGE = "/account/password/"
ACCOUNT = "/account/"
NEW = "a-township-office-password-7"
WRONG = "not-the-password-99"
LEVEL3 = [*django_settings.AUTH_PASSWORD_VALIDATORS, {"NAME": "liangyi.core.auth.CompositionValidator"}]


def change(client: Client, current: str = factories.PASSWORD, new: str = NEW, again: str | None = None):
    return client.post(PAGE, {"current_password": current, "new_password1": new,
                              "new_password2": new if again is None else again})


def english(client: Client) -> Client:
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def password_of(username: str = "worker") -> str:
    return User.objects.get(username=username).password


def logs_in(password: str, username: str = "worker") -> bool:
    response = Client().post(reverse("core:login"), {"username": username, "password": password})
    return response.status_code == 302 and response.url != reverse("core:login")


def test_the_route():
    assert reverse("core:password_change") == PAGE


class TestThePage:
    def test_my_account_links_it(self, personas):
        body = english(client_for(personas["worker"])).get(ACCOUNT).content.decode()
        assert f'href="{PAGE}" data-testid="change-password"' in body

    def test_it_asks_for_the_current_password_and_the_new_one_twice_with_the_policy(self, personas):
        response = english(client_for(personas["worker"])).get(PAGE)
        body = response.content.decode()
        assert response.status_code == 200
        for name in ("current_password", "new_password1", "new_password2"):
            assert f'name="{name}"' in body
        assert 'autocomplete="current-password"' in body and 'autocomplete="new-password"' in body
        assert "at least 12 characters" in body  # the validators' help text
        assert 'name="csrfmiddlewaretoken"' in body

    def test_it_is_not_cached_and_has_no_inline_script(self, personas):
        response = client_for(personas["worker"]).get(PAGE)
        assert "no-store" in response["Cache-Control"]
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
        assert all("src=" in tag for tag in scripts), scripts

    @pytest.mark.parametrize("method", ["get", "post"])
    def test_anonymous_is_sent_to_log_in(self, db, method):
        response = getattr(Client(), method)(PAGE, {} if method == "get" else {"current_password": "x"})
        assert response.status_code == 302 and response.url.startswith(reverse("core:login"))

    def test_a_post_without_the_csrf_token_is_refused(self, personas):
        client = Client(enforce_csrf_checks=True)
        client.force_login(personas["worker"])
        before = password_of()
        assert change(client).status_code == 403
        assert password_of() == before

    def test_other_methods_are_refused(self, personas):
        assert client_for(personas["worker"]).put(PAGE).status_code == 405


class TestAChange:
    @pytest.fixture
    def two(self, personas):
        """The worker logged in on a desktop (where the password is changed) and on a tablet."""
        desk = log_in(browser("Mozilla/5.0 (Windows NT 10.0) desk", "192.0.2.10"))
        tablet = log_in(browser("Mozilla/5.0 (iPad) tablet", "192.0.2.20"))
        return desk, tablet

    def test_the_new_password_works_and_the_old_one_no_longer(self, two):
        desk, _tablet = two
        response = change(desk)
        assert response.status_code == 302 and response.url == ACCOUNT
        assert logs_in(NEW) and not logs_in(factories.PASSWORD)

    def test_this_session_stays_and_the_others_end(self, two):
        desk, tablet = two
        key_before = desk.session.session_key
        change(desk)
        page = desk.get(ACCOUNT)
        assert page.status_code == 200
        assert "Your password has been changed" in page.content.decode()
        assert desk.session.session_key != key_before  # a new key for the new password
        assert tablet.get(ACCOUNT).url.startswith(reverse("core:login"))
        rows = {row.user_agent: row for row in UserSession.objects.filter(user__username="worker")}
        assert rows["Mozilla/5.0 (iPad) tablet"].ended_at is not None
        assert rows["Mozilla/5.0 (Windows NT 10.0) desk"].ended_at is None

    def test_this_session_can_still_be_seen_and_ended_from_elsewhere(self, two):
        desk, _tablet = two
        change(desk)
        phone = browser("phone", "192.0.2.30")
        assert phone.post(reverse("core:login"), {"username": "worker", "password": NEW}).status_code == 302
        body = phone.get(ACCOUNT).content.decode()
        assert "desk" in body  # the row follows the session's new key, so it is not taken for dead
        desk_row = UserSession.objects.get(user_agent__contains="desk")
        assert phone.post(reverse("core:session_end"), {"session": desk_row.pk}).status_code == 302
        assert desk.get(ACCOUNT).url.startswith(reverse("core:login"))

    def test_the_api_tokens_are_revoked(self, two, personas):
        desk, _tablet = two
        token, key = ApiToken.issue(personas["worker"], 1)
        theirs, _ = ApiToken.issue(personas["colleague"], 1)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        assert api.get(reverse("api-jurisdictions")).status_code == 200
        change(desk)
        token.refresh_from_db()
        theirs.refresh_from_db()
        assert token.revoked_at is not None and theirs.revoked_at is None
        assert api.get(reverse("api-jurisdictions")).status_code == 401

    def test_it_is_recorded_and_audited(self, two, personas):
        desk, _tablet = two
        ApiToken.issue(personas["worker"], 1)
        User.objects.filter(username="worker").update(failed_logins=2)
        change(desk)
        worker = User.objects.get(username="worker")
        assert worker.password_changed_at is not None and worker.failed_logins == 0
        entry = AuditEntry.objects.get(action="password.changed")
        assert entry.actor_username == "worker" and entry.object_id == str(worker.pk)
        assert entry.outcome == Outcome.OK and entry.ip == "192.0.2.10" and entry.detail["tokens_revoked"] == 1
        ended = AuditEntry.objects.get(action="user.sessions_ended_others")
        assert ended.detail == {"ended": 1, "by": "self", "reason": "password_changed"}
        assert NEW not in str(entry.detail) and factories.PASSWORD not in str(entry.detail)

    def test_it_changes_only_the_own_password(self, two, personas):
        desk, _tablet = two
        colleague = log_in(browser("colleague's PC", "192.0.2.40"), username="colleague")
        theirs = password_of("colleague")
        change(desk)
        assert password_of("colleague") == theirs
        assert colleague.get(ACCOUNT).status_code == 200


class TestAWrongCurrentPassword:
    def test_nothing_changes_and_it_is_audited(self, personas):
        client = english(log_in(browser("desk", "192.0.2.10")))
        tablet = log_in(browser("tablet", "192.0.2.20"))
        token, _key = ApiToken.issue(personas["worker"], 1)
        before = password_of()
        response = change(client, current=WRONG)
        assert response.status_code == 400
        assert "The password is not right" in response.content.decode()
        assert password_of() == before and User.objects.get(username="worker").password_changed_at is None
        assert tablet.get(ACCOUNT).status_code == 200 and client.get(ACCOUNT).status_code == 200
        token.refresh_from_db()
        assert token.revoked_at is None
        entry = AuditEntry.objects.get(action="password.change_failed")
        assert entry.outcome == Outcome.FAILED and entry.actor_username == "worker"
        assert entry.detail == {"reason": "wrong_current_password"}
        assert not AuditEntry.objects.filter(action="password.changed").exists()

    def test_failures_count_towards_the_lockout_and_the_lockout_ends_the_session(self, personas, settings):
        settings.LOGIN_MAX_FAILURES = 3
        client = english(client_for(personas["worker"]))
        for n in range(1, 3):
            assert change(client, current=WRONG).status_code == 400
            assert User.objects.get(username="worker").failed_logins == n
        locking = change(client, current=WRONG)
        assert locking.status_code == 302 and locking.url == reverse("core:login")
        assert User.objects.get(username="worker").is_locked()
        assert AuditEntry.objects.filter(action="login.lockout").exists()
        assert "_auth_user_id" not in client.session
        assert not logs_in(factories.PASSWORD)  # locked: even the right password is refused for now

    def test_it_shares_the_count_with_re_authentication(self, personas, settings):
        settings.LOGIN_MAX_FAILURES = 3
        client = client_for(personas["worker"])
        for _n in range(2):
            assert client.post(reverse("core:reauth"), {"password": WRONG}).status_code == 400
        assert change(client, current=WRONG).status_code == 302
        assert User.objects.get(username="worker").is_locked()

    def test_a_locked_account_cannot_change_even_with_the_right_password(self, personas, rf):
        worker = User.objects.get(username="worker")
        worker.locked_until = worker.date_joined.replace(year=2999)
        worker.save(update_fields=["locked_until"])
        before = password_of()
        # The page: a locked account's session is sent to log in before the view runs.
        response = change(client_for(personas["worker"]))
        assert response.status_code == 302 and response.url.startswith(reverse("core:login"))
        # The service (a lockout that lands between the page and the check): refused, and audited.
        result = views_account.password_change(request=rf.post(PAGE), user=worker, current=factories.PASSWORD,
                                               new=NEW)
        assert not result.ok and result.locked
        assert password_of() == before
        assert AuditEntry.objects.get(action="password.change_failed").outcome == Outcome.DENIED


class TestTheNewPassword:
    """The policy's validators speak on the form; nothing is checked, changed, audited or counted."""

    @pytest.fixture
    def worker(self, personas):
        return english(client_for(personas["worker"]))

    def refused(self, client: Client, new: str, again: str | None = None) -> str:
        before = password_of()
        response = change(client, new=new, again=again)
        assert response.status_code == 400
        assert password_of() == before
        assert User.objects.get(username="worker").failed_logins == 0
        assert not AuditEntry.objects.filter(action__startswith="password.").exists()
        return response.content.decode()

    @pytest.mark.parametrize(("new", "message"), [
        ("short-pw-1", "This password is too short. It must contain at least 12 characters."),
        ("password1234", "This password is too common."),
        ("830412197011", "This password is entirely numeric."),
    ])
    def test_the_asvs_profile(self, worker, new, message):
        assert message in self.refused(worker, new)

    def test_the_level3_profile_asks_for_three_kinds_of_characters(self, worker, settings):
        composition = "Your password must mix at least three of"
        settings.AUTH_PASSWORD_VALIDATORS = LEVEL3
        assert composition in self.refused(worker, "onlylowercaseletters")
        assert "at least 12 characters" in self.refused(worker, "Sh0rt!")
        assert change(worker, new="Township-Office-2026").status_code == 302

    def test_the_asvs_profile_has_no_composition_rule(self, worker):
        assert change(worker, new="onlylowercaseletters").status_code == 302
        assert logs_in("onlylowercaseletters")

    def test_the_two_new_passwords_must_match(self, worker):
        assert "The two new passwords differ" in self.refused(worker, NEW, again=NEW + "x")

    def test_the_current_password_cannot_be_reused(self, worker):
        assert "The new password is the same as the current one" in self.refused(worker, factories.PASSWORD)

    def test_what_was_typed_is_not_sent_back(self, worker):
        body = self.refused(worker, "short-pw-1")
        assert factories.PASSWORD not in body and "short-pw-1" not in body

    def test_an_empty_form_says_what_is_missing(self, worker):
        response = worker.post(PAGE, {})
        assert response.status_code == 400 and response.content.decode().count("This field is required.") == 3


class TestTheRateLimit:
    LIMIT = 3

    @pytest.fixture(autouse=True)
    def small_limits(self, settings, monkeypatch):
        settings.REAUTH_RATE_LIMIT = self.LIMIT
        settings.REAUTH_RATE_WINDOW_SECONDS = 300
        settings.LOGIN_MAX_FAILURES = 100  # the per-account lockout does not get in the way of the counting
        monkeypatch.setattr(ratelimit, "now", lambda: 1_800_000_000.0)  # the start of a window

    def test_n_failures_are_answered_and_the_next_attempt_is_429(self, personas):
        client = english(client_for(personas["worker"]))
        for _n in range(self.LIMIT):
            assert change(client, current=WRONG).status_code == 400
        before = password_of()
        refused = change(client)  # even the right password: it is not checked
        assert refused.status_code == 429 and refused["Retry-After"] == "300"
        assert "Too many failed attempts from your network address" in refused.content.decode()
        assert password_of() == before
        assert AuditEntry.objects.filter(action="password.change_failed").count() == self.LIMIT

    def test_it_is_the_counter_of_re_authentication(self, personas):
        client = client_for(personas["worker"])
        for _n in range(self.LIMIT - 1):
            client.post(reverse("core:reauth"), {"password": WRONG})
        assert change(client, current=WRONG).status_code == 400
        assert client.post(reverse("core:reauth"), {"password": factories.PASSWORD}).status_code == 429

    def test_a_success_does_not_use_the_limit(self, personas):
        client = client_for(personas["worker"])
        for _n in range(self.LIMIT - 1):
            change(client, current=WRONG)
        assert change(client).status_code == 302
        assert change(client, current=NEW, new="another-long-password-8").status_code == 302

    def test_a_form_error_does_not_count(self, personas):
        client = client_for(personas["worker"])
        for _n in range(self.LIMIT + 2):
            assert change(client, new="short").status_code == 400
        assert change(client).status_code == 302


class TestTheNoticeOfAnAdministratorsPassword:
    @pytest.fixture
    def created(self, personas, places):
        """An account the administrator created, with the password they chose."""
        user = user_add(actor=personas["admin"], username="newcomer", full_name="新专干",
                        role=Role.COMMUNITY_WORKER, jurisdiction=places["township"], password=factories.PASSWORD)
        return english(client_for(user))

    def test_it_suggests_a_change_until_the_user_makes_one(self, created):
        notice = 'data-testid="password-set-by-administrator"'
        body = created.get(ACCOUNT).content.decode()
        assert notice in body and "Your password was set by an administrator" in body
        assert change(created).status_code == 302
        assert notice not in created.get(ACCOUNT).content.decode()

    def test_a_failed_attempt_does_not_hide_it(self, created):
        change(created, current=WRONG)
        assert 'data-testid="password-set-by-administrator"' in created.get(ACCOUNT).content.decode()

    def test_an_account_made_at_the_server_gets_no_notice(self, personas):
        # createsuperuser records the creation without an actor: the operator typed their own password.
        audit.record(None, "user.created", personas["worker"], via="createsuperuser")
        body = client_for(personas["worker"]).get(ACCOUNT).content.decode()
        assert 'data-testid="password-set-by-administrator"' not in body

    def test_nothing_is_suggested_without_such_a_record(self, personas):
        # The personas were made by the factories, not by an administrator: no entry says who set it.
        body = client_for(personas["worker"]).get(ACCOUNT).content.decode()
        assert 'data-testid="password-set-by-administrator"' not in body
