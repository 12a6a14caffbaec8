"""Issue 15 item 16: the calendar feed's secret URL is a credential, so it ends with the others:
a password change, the security administrator's "end sessions" or second-factor reset, and a
deactivation revoke it (core.auth.credentials_revoked, received by obligations)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from liangyi.conftest import client_for
from liangyi.core import views_admin
from liangyi.core.models import AuditEntry
from liangyi.core.tests.test_account_password import NEW, change
from liangyi.demo import factories


def feed_url(user) -> str:
    """Issue the user's feed URL on the calendar page and return its path."""
    body = client_for(user).post("/worklist/calendar/").content.decode()
    match = re.search(r"(/worklist/calendar/[A-Za-z0-9_-]+\.ics)", body)
    assert match, body
    path = match.group(1)
    assert Client().get(path).status_code == 200
    return path


@pytest.fixture
def security_admin(places):
    return factories.user("secadmin", "security_admin", places["province"], full_name="安全员")


def test_a_password_change_revokes_the_feed(personas):
    path = feed_url(personas["worker"])
    assert change(client_for(personas["worker"]), factories.PASSWORD, NEW).status_code == 302
    assert Client().get(path).status_code == 404
    entry = AuditEntry.objects.filter(action="password.changed").get()
    assert entry.detail["feed_keys_revoked"] == 1


def test_ending_the_sessions_revokes_the_feed(personas, security_admin):
    path = feed_url(personas["worker"])
    views_admin.user_sessions_end(actor=security_admin, user=personas["worker"])
    assert Client().get(path).status_code == 404
    entry = AuditEntry.objects.filter(action="user.sessions_ended").get()
    assert entry.detail["feed_keys_revoked"] == 1


def test_a_second_factor_reset_revokes_the_feed(personas, security_admin):
    path = feed_url(personas["worker"])
    views_admin.second_factor_reset(actor=security_admin, user=personas["worker"])
    assert Client().get(path).status_code == 404


def test_a_deactivated_and_reactivated_account_does_not_get_its_old_feed_back(personas):
    path = feed_url(personas["worker"])
    views_admin.user_set_active(actor=personas["admin"], user=personas["worker"], active=False)
    views_admin.user_set_active(actor=personas["admin"], user=personas["worker"], active=True)
    assert Client().get(path).status_code == 404


def test_a_new_url_works_after_the_change(personas):
    feed_url(personas["worker"])
    change(client_for(personas["worker"]), factories.PASSWORD, NEW)
    personas["worker"].refresh_from_db()
    assert Client().get(feed_url(personas["worker"])).status_code == 200
