"""engine.sync_many (the nightly generation) gives exactly what one engine.sync per person gives:
the same obligations, counts and audit entries; it is idempotent, never touches a closed
obligation, and a run cut off half-way is finished by the next without doubling anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from liangyi.core.models import AuditEntry
from liangyi.obligations import engine, nightly
from liangyi.obligations.models import Obligation
from liangyi.obligations.tests.conftest import HORIZON, TODAY, snapshot, with_version
from liangyi.ops import jobs as ops_jobs
from liangyi.people.models import Person


def per_person(persons, **kwargs) -> engine.SyncResult:
    result = engine.SyncResult()
    for person in persons:
        result += engine.sync(Person.objects.get(pk=person.pk), **kwargs)
    return result


def both_ways(persons, **kwargs):
    """(result, snapshot, audit) of sync_many, rolled back, then of one sync per person."""
    before = set(AuditEntry.objects.filter(action="obligations.synced").values_list("pk", flat=True))

    def new_audit():
        return sorted(a for a in audit_trail_since(before))

    with transaction.atomic():
        many = engine.sync_many(engine.all_persons(chunk_size=3), chunk_size=3, **kwargs)
        got = (many, snapshot(), new_audit())
        transaction.set_rollback(True)
    single = per_person(Person.objects.order_by("pk"), **kwargs)
    return got, (single, snapshot(), new_audit())


def audit_trail_since(before: set) -> list[tuple]:
    return [(str(e.person_id), sorted(e.detail["changes"].items()), e.detail["horizon"], e.detail["ruleset_version"])
            for e in AuditEntry.objects.filter(action="obligations.synced").exclude(pk__in=before)]


@pytest.mark.django_db
class TestSyncManyIsSyncForEach:
    def test_the_plan_of_a_new_horizon_is_the_same(self, province):
        got, expected = both_ways(province, horizon=HORIZON + timedelta(days=45))
        assert got == expected
        assert expected[0].created > 0  # the comparison covers real changes

    def test_a_new_rule_set_moves_the_same_open_obligations_and_no_closed_one(self, province):
        closed = sorted(Obligation.objects.exclude(done_at=None).values_list("pk", "due_on", "ruleset_version",
                                                                              "updated_at"))
        got, expected = both_ways(province, ruleset=with_version("v-test"))
        assert got == expected
        assert expected[0].rescheduled > 0 and expected[0].removed > 0
        assert sorted(Obligation.objects.exclude(done_at=None).values_list(
            "pk", "due_on", "ruleset_version", "updated_at")) == closed
        in_view = Obligation.objects.filter(done_at=None, due_on__lte=HORIZON)
        assert not in_view.exclude(ruleset_version="v-test").exists()

    def test_everything_missing_is_planned_again_the_same(self, province):
        Obligation.objects.filter(done_at=None).delete()
        got, expected = both_ways(province)
        assert got == expected and expected[0].created > 20

    def test_a_second_run_changes_nothing_and_writes_no_audit(self, province):
        Obligation.objects.filter(done_at=None, key__contains=":m0").delete()
        first = engine.sync_many(engine.all_persons())
        assert first.created > 0
        entries, rows = AuditEntry.objects.count(), snapshot()
        again = engine.sync_many(engine.all_persons())
        assert again.changed == 0 and again.unchanged == first.unchanged + first.created + first.rescheduled
        assert AuditEntry.objects.count() == entries and snapshot() == rows


@pytest.mark.django_db(transaction=True)
class TestInterruptedRun:
    def test_a_run_cut_off_after_a_chunk_is_finished_by_the_next_without_doubles(self, province, monkeypatch):
        Obligation.objects.filter(done_at=None).delete()
        real, calls = engine._sync_chunk, []

        def cut_off(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("worker killed")
            return real(*args, **kwargs)

        monkeypatch.setattr(engine, "_sync_chunk", cut_off)
        with pytest.raises(RuntimeError):
            engine.sync_many(engine.all_persons(), chunk_size=4)
        kept = Obligation.objects.filter(done_at=None).count()
        assert kept > 0  # the first chunk was committed
        monkeypatch.setattr(engine, "_sync_chunk", real)
        engine.sync_many(engine.all_persons(), chunk_size=4)
        finished = snapshot()
        per_person(Person.objects.order_by("pk"))  # what one sync per person would still change: nothing
        assert snapshot() == finished
        assert len(finished) == len({(r[0], r[1], r[2]) for r in finished})


@pytest.mark.django_db
class TestNightlyJob:
    def test_it_plans_to_the_new_horizon_and_a_second_run_changes_nothing(self, province):
        tomorrow = TODAY + timedelta(days=1)
        first = ops_jobs.run("obligations.generate", today=tomorrow)
        assert first["horizon"] == (tomorrow + timedelta(days=engine.DEFAULT_HORIZON_DAYS)).isoformat()
        assert first["mode"] == "full"  # the first run plans everything
        rows = snapshot()
        again = ops_jobs.run("obligations.generate", today=tomorrow)
        assert again["mode"] == "window"  # the same day again: an empty window
        assert (again["created"], again["rescheduled"], again["removed"]) == (0, 0, 0) and snapshot() == rows
        everything = nightly.run(tomorrow, full=True)
        assert (everything["created"], everything["rescheduled"], everything["removed"]) == (0, 0, 0)
        assert everything["unchanged"] == first["unchanged"] + first["created"] + first["rescheduled"]
