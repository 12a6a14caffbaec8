"""The audit log: the hash chain, append-only, what gets recorded, and the auditor's page."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, get_resolver, reverse

from liangyi.conftest import client_for
from liangyi.core import audit
from liangyi.core.models import AppendOnly, AuditEntry, AuditHead, Outcome
from liangyi.demo import factories

TABLE = AuditEntry._meta.db_table
SHANGHAI = ZoneInfo("Asia/Shanghai")


def some_entries(actor, n: int = 5, **detail) -> list[AuditEntry]:
    return [audit.record(actor, "test.event", None, number=i, **detail) for i in range(n)]


def raw(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def verify_command() -> str:
    from io import StringIO

    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


class TestChain:
    def test_an_untouched_chain_verifies(self, personas, person):
        some_entries(personas["worker"], 5, note="中文 and symbols ≠ ×")
        audit.record(personas["worker"], "person.viewed", person)
        assert audit.verify() == (True, None, 6)
        assert "6 entries" in verify_command()

    def test_an_empty_log_verifies(self, db):
        assert audit.verify() == (True, None, 0)
        assert "0 entries" in verify_command()

    def test_each_entry_links_to_the_one_before(self, personas):
        first, second = some_entries(personas["worker"], 2)
        assert first.prev_hash == audit.GENESIS
        assert second.prev_hash == first.entry_hash
        assert AuditHead.objects.get(pk=1).last_hash == second.entry_hash

    def test_tampering_with_an_action_names_that_entry(self, personas):
        entries = some_entries(personas["worker"], 5)
        victim = entries[2]
        raw(f"UPDATE {TABLE} SET action = %s WHERE id = %s", ["test.innocent", victim.pk])  # noqa: S608
        intact, broken, checked = audit.verify()
        assert not intact
        assert broken.pk == victim.pk
        assert checked == 2
        with pytest.raises(CommandError) as exc:
            verify_command()
        assert exc.value.returncode == 1
        assert f"entry {victim.pk} " in str(exc.value)

    def test_tampering_with_the_detail_is_detected(self, personas):
        entries = some_entries(personas["worker"], 3)
        raw(f"UPDATE {TABLE} SET detail = %s WHERE id = %s", ['{"number": 99}', entries[0].pk])  # noqa: S608
        with pytest.raises(CommandError) as exc:
            verify_command()
        assert f"entry {entries[0].pk} " in str(exc.value)

    def test_rewriting_an_entry_and_its_hash_breaks_the_next_link(self, personas):
        entries = some_entries(personas["worker"], 3)
        victim = entries[1]
        victim.action = "test.innocent"
        forged = audit.compute_hash(victim.prev_hash, victim)
        raw(f"UPDATE {TABLE} SET action = %s, entry_hash = %s WHERE id = %s",  # noqa: S608
            ["test.innocent", forged, victim.pk])
        intact, broken, _ = audit.verify()
        assert not intact
        assert broken.pk == entries[2].pk

    def test_deleting_an_entry_in_the_middle_is_detected(self, personas):
        entries = some_entries(personas["worker"], 4)
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [entries[1].pk])  # noqa: S608
        with pytest.raises(CommandError) as exc:
            verify_command()
        assert exc.value.returncode == 1
        assert f"entry {entries[2].pk} " in str(exc.value)

    def test_deleting_the_newest_entry_is_detected(self, personas):
        entries = some_entries(personas["worker"], 4)
        raw(f"DELETE FROM {TABLE} WHERE id = %s", [entries[-1].pk])  # noqa: S608
        intact, broken, checked = audit.verify()
        assert not intact
        assert broken is None
        assert checked == 3
        with pytest.raises(CommandError) as exc:
            verify_command()
        assert exc.value.returncode == 1
        assert f"after entry {entries[-2].pk}" in str(exc.value)


class TestAppendOnly:
    def test_the_orm_refuses_updates_and_deletes(self, personas):
        entry = some_entries(personas["worker"], 1)[0]
        with pytest.raises(AppendOnly):
            AuditEntry.objects.update(action="x")
        with pytest.raises(AppendOnly):
            AuditEntry.objects.filter(pk=entry.pk).update(action="x")
        with pytest.raises(AppendOnly):
            AuditEntry.objects.all().delete()
        with pytest.raises(AppendOnly):
            AuditEntry.objects.filter(pk=entry.pk).delete()
        entry.action = "x"
        with pytest.raises(AppendOnly):
            entry.save()
        with pytest.raises(AppendOnly):
            entry.delete()
        assert AuditEntry.objects.get(pk=entry.pk).action == "test.event"
        assert audit.verify()[0]


def login(client, username: str, password: str):
    return client.post(reverse("core:login"), {"username": username, "password": password})


class TestRecorded:
    def test_a_successful_login(self, client, personas):
        worker = personas["worker"]
        response = login(client, "worker", factories.PASSWORD)
        assert response.status_code == 302
        entry = AuditEntry.objects.get(action="login.succeeded")
        assert entry.actor == worker
        assert entry.actor_role == "community_worker"
        assert entry.outcome == Outcome.OK
        assert entry.ip == "127.0.0.1"
        assert entry.detail["channel"] == "web"

    def test_a_failed_login(self, client, personas):
        response = login(client, "worker", "wrong-password-123")
        assert response.status_code == 400
        entry = AuditEntry.objects.get(action="login.failed")
        assert entry.actor is None
        assert entry.actor_username == "worker"
        assert entry.outcome == Outcome.FAILED
        assert entry.ip == "127.0.0.1"

    def test_a_login_with_an_unknown_username(self, client, db):
        login(client, "nobody", "wrong-password-123")
        assert AuditEntry.objects.get(action="login.failed").actor_username == "nobody"

    def test_a_lockout_and_the_attempts_after_it(self, client, personas, settings):
        for _ in range(settings.LOGIN_MAX_FAILURES):
            login(client, "worker", "wrong-password-123")
        assert AuditEntry.objects.filter(action="login.failed").count() == settings.LOGIN_MAX_FAILURES
        lockout = AuditEntry.objects.get(action="login.lockout")
        assert lockout.outcome == Outcome.DENIED
        assert lockout.object_id == str(personas["worker"].pk)
        login(client, "worker", factories.PASSWORD)
        assert AuditEntry.objects.get(action="login.locked").outcome == Outcome.DENIED
        assert not AuditEntry.objects.filter(action="login.succeeded").exists()

    def test_a_logout(self, personas):
        client = client_for(personas["worker"])
        client.post(reverse("core:logout"))
        assert AuditEntry.objects.get(action="logout").actor == personas["worker"]

    def test_opening_an_out_of_reach_person_is_recorded_as_denied(self, places, personas):
        outsider = factories.person(places["other_township"])
        response = client_for(personas["worker"]).get(reverse("people:detail", args=[outsider.pk]))
        assert response.status_code == 404
        entry = AuditEntry.objects.get(action="access.denied")
        assert entry.outcome == Outcome.DENIED
        assert entry.actor == personas["worker"]
        assert str(outsider.pk) in str(entry.detail)

    def test_a_forbidden_page_is_recorded_as_denied(self, personas):
        response = client_for(personas["worker"]).get(reverse("core:audit"))
        assert response.status_code == 403
        entry = AuditEntry.objects.get(action="access.denied")
        assert entry.outcome == Outcome.DENIED
        assert entry.detail["action_name"] == "view_audit"


# --- every page about a person leaves a trace --------------------------------------------------

# Values for the URL parameters of person routes other than ``person_id``.
SAMPLE_KWARGS = {"field": "phone"}


def person_routes() -> list[URLPattern]:
    _prefix, people = get_resolver().namespace_dict["people"]
    return [p for p in people.url_patterns
            if isinstance(p, URLPattern) and "person_id" in p.pattern.converters]


def test_every_get_page_about_a_person_writes_an_audit_entry_about_them(personas, person):
    # The police officer may open every page about a person (the sealed records need open_sealed).
    client = client_for(personas["police"])
    covered, post_only, silent = [], [], []
    routes = person_routes()
    assert routes, "the people namespace has no routes with a person_id"
    for pattern in routes:
        unknown = set(pattern.pattern.converters) - {"person_id"} - set(SAMPLE_KWARGS)
        assert not unknown, f"people:{pattern.name} takes {unknown}: add sample values to SAMPLE_KWARGS"
        kwargs = {"person_id": person.pk, **{k: SAMPLE_KWARGS[k] for k in pattern.pattern.converters
                                             if k != "person_id"}}
        url = reverse(f"people:{pattern.name}", kwargs=kwargs)
        before = AuditEntry.objects.filter(person_id=person.pk).count()
        response = client.get(url)
        if response.status_code == 405:
            post_only.append(pattern.name)
            continue
        assert response.status_code < 400, f"GET {url} answered {response.status_code}"
        covered.append(pattern.name)
        if AuditEntry.objects.filter(person_id=person.pk).count() == before:
            silent.append(f"people:{pattern.name}")
    assert len(covered) >= 3, f"only {covered} answered GET (POST-only: {post_only})"
    assert not silent, f"these pages show a person's file but write no audit entry about the person: {silent}"


# --- the auditor's page ------------------------------------------------------------------------


class TestAuditPage:
    @property
    def url(self) -> str:
        return reverse("core:audit")

    def test_the_auditor_sees_entries(self, personas, person):
        audit.record(personas["worker"], "person.viewed", person)
        response = client_for(personas["auditor"]).get(self.url)
        assert response.status_code == 200
        rows = list(response.context["page"].object_list)
        assert any(e.action == "person.viewed" and e.person_id == person.pk for e in rows)
        assert b"person.viewed" in response.content
        assert str(person.pk).encode() in response.content

    def test_a_community_worker_gets_403(self, personas):
        assert client_for(personas["worker"]).get(self.url).status_code == 403

    @pytest.mark.parametrize("persona", ["admin", "leader", "health", "police", "job_officer"])
    def test_other_roles_get_403(self, personas, persona):
        assert client_for(personas[persona]).get(self.url).status_code == 403

    def test_anonymous_is_sent_to_log_in(self, db):
        response = client_for(None).get(self.url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("core:login"))

    def test_viewing_the_log_is_itself_recorded(self, personas, person):
        client_for(personas["auditor"]).get(self.url, {"action": "person.viewed", "person": str(person.pk)})
        entry = AuditEntry.objects.get(action="audit.searched")
        assert entry.actor == personas["auditor"]
        assert entry.detail["filter_action"] == "person.viewed"
        assert entry.detail["filter_person"] == str(person.pk)

    def test_times_are_shown_in_shanghai(self, personas):
        entry = audit.record(personas["worker"], "test.event", None)
        response = client_for(personas["auditor"]).get(self.url, {"action": "test.event"})
        local = entry.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        utc = entry.at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")
        assert local.encode() in response.content
        assert utc.encode() not in response.content

    def test_it_shows_user_role_ip_and_outcome(self, personas, person):
        from django.test import RequestFactory

        request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3")
        audit.record(personas["worker"], "person.reveal", person, request=request, outcome=Outcome.DENIED)
        client = client_for(personas["auditor"])
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the language switch's choice
        response = client.get(self.url, {"action": "person.reveal"})
        text = response.content.decode()
        row = response.context["page"].object_list[0]
        assert row.actor_username == "worker"
        assert "worker" in text
        assert "Community rehab worker" in text  # the role's name, not its code
        assert "10.1.2.3" in text
        assert f"people.person <span class=\"muted\">{person.pk}</span>" in text
        assert "denied" in text
        assert row.outcome == Outcome.DENIED

    def test_filters(self, personas, person, places):
        worker, colleague = personas["worker"], personas["colleague"]
        audit.record(worker, "person.viewed", person)
        audit.record(colleague, "person.updated", person)
        audit.record(colleague, "person.viewed", None)
        audit.record(worker, "person.reveal", person, outcome=Outcome.DENIED)
        auditor = client_for(personas["auditor"])

        def actions(**params) -> list[tuple[str, str]]:
            page = auditor.get(self.url, params).context["page"]
            return sorted((e.actor_username, e.action) for e in page.object_list if e.action != "audit.searched")

        assert actions(username="colleague") == [("colleague", "person.updated"), ("colleague", "person.viewed")]
        assert actions(action="person.viewed") == [("colleague", "person.viewed"), ("worker", "person.viewed")]
        assert actions(action="person.", username="worker") == [("worker", "person.reveal"),
                                                                ("worker", "person.viewed")]
        assert actions(person=str(person.pk)) == [("colleague", "person.updated"), ("worker", "person.reveal"),
                                                  ("worker", "person.viewed")]
        assert actions(outcome="denied") == [("worker", "person.reveal")]

    def test_the_date_range_is_in_shanghai_days(self, personas):
        entry = audit.record(personas["worker"], "test.event", None)
        today = entry.at.astimezone(SHANGHAI).date()
        auditor = client_for(personas["auditor"])

        def found(**params) -> bool:
            page = auditor.get(self.url, {"action": "test.event", **params}).context["page"]
            return entry.pk in [e.pk for e in page.object_list]

        assert found(date_from=today.isoformat(), date_to=today.isoformat())
        assert not found(date_from=(today + timedelta(days=1)).isoformat())
        assert not found(date_to=(today - timedelta(days=1)).isoformat())

    def test_an_invalid_filter_is_reported_not_a_crash(self, personas):
        response = client_for(personas["auditor"]).get(self.url, {"person": "not-a-uuid", "date_from": "yesterday"})
        assert response.status_code == 400
        assert "person" in response.context["form"].errors
        assert "date_from" in response.context["form"].errors

    def test_it_is_paginated_with_the_filters_kept(self, personas):
        some_entries(personas["worker"], 60)
        auditor = client_for(personas["auditor"])
        first = auditor.get(self.url, {"action": "test.event"})
        assert len(first.context["page"].object_list) == 50
        assert "action=test.event" in first.content.decode()
        assert "page=2" in first.content.decode()
        second = auditor.get(self.url, {"action": "test.event", "page": 2})
        assert len(second.context["page"].object_list) == 10
        assert {e.pk for e in first.context["page"].object_list}.isdisjoint(
            e.pk for e in second.context["page"].object_list)

    def test_the_number_of_queries_does_not_grow_with_the_entries(self, personas):
        auditor = client_for(personas["auditor"])
        some_entries(personas["worker"], 3)
        auditor.get(self.url)  # warm up the session and caches
        with CaptureQueriesContext(connection) as few:
            auditor.get(self.url)
        some_entries(personas["colleague"], 40)
        with CaptureQueriesContext(connection) as many:
            auditor.get(self.url)
        assert len(many) == len(few)

    def test_a_provincial_auditor_sees_failed_logins_on_accounts_of_the_province(self, personas, settings):
        for _ in range(settings.LOGIN_MAX_FAILURES):
            login(Client(), "worker", "wrong-password-123")
        page = client_for(personas["auditor"]).get(self.url, {"action": "login."}).context["page"]
        found = {e.action for e in page.object_list}
        assert found == {"login.failed", "login.lockout"}, (
            "entries without an actor (failed logins, lockouts) are invisible to an auditor who has a "
            "jurisdiction: the AuditEntry scope in core/apps.py filters only on actor__jurisdiction; it should "
            "also take entries with no actor whose actor_username is a user of the subtree")

    def test_an_auditor_sees_only_actors_of_their_jurisdiction(self, personas, places):
        other_province = factories.jurisdiction("11", "北京市")
        beijing_auditor = factories.user("bj_auditor", "auditor", other_province)
        audit.record(personas["worker"], "test.event", None)
        page = client_for(beijing_auditor).get(self.url, {"action": "test.event"}).context["page"]
        assert list(page.object_list) == []
