"""engine.sync_many (the nightly generation) gives exactly what one engine.sync per person gives:
the same obligations, counts and audit entries; it is idempotent, never touches a closed
obligation, and a run cut off half-way is finished by the next without doubling anything."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from liangyi.core import rules as core_rules
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.obligations import engine
from liangyi.obligations.models import Obligation
from liangyi.ops import jobs as ops_jobs
from liangyi.people.models import Measure, MeasureKind, Person, Status
from liangyi.risk import grading
from liangyi.risk.models import Grading, Override
from liangyi.supervision import services as supervision
from liangyi.supervision.models import OrderKind

TODAY = timezone.localdate()
HORIZON = TODAY + timedelta(days=engine.DEFAULT_HORIZON_DAYS)


def ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def snapshot() -> list[tuple]:
    """Everything a plan decides or a worker closed, without ids and timestamps."""
    return sorted(Obligation.objects.values_list(
        "person_id", "source", "key", "kind", "due_on", "window_start", "window_end", "office_id", "worker_id",
        "ruleset_version", "done_on", "waived_reason", "person_place"))


def with_version(version: str):
    current = core_rules.current()
    rules = dict(current.rules)
    for key, months in (("test_interval_months_year1", 2), ("test_interval_months_year2", 1)):
        rules[key] = replace(rules[key], value=months)
    return core_rules.RuleSet(name=current.name, version=version, rules=rules)


@pytest.fixture
def province(places, personas):
    """Persons in every situation the planners know: running, suspended and resumed, awaiting their
    report, transferred, terminated, graded high with and without an override, on an interim
    measure, and with nothing at all."""
    worker, leader = personas["worker"], factories.user("city_worker", "community_worker", places["city"])
    made = []

    def order(name: str, *, reported_days_ago: int | None, where=places["village"]):
        person = factories.person(where, name=name, status=Status.COMMUNITY_DRUG_REHAB, responsible_worker=worker)
        received = ago((reported_days_ago or 0) + 3)
        order = supervision.order_create(person=person, kind=OrderKind.COMMUNITY_DRUG_REHAB, decided_on=received,
                                         received_on=received, actor=leader)
        if reported_days_ago is not None:
            order = supervision.report_receive(order=order, reported_on=ago(reported_days_ago), actor=leader)
        made.append(person)
        return person, order

    order("甲", reported_days_ago=100)
    order("乙", reported_days_ago=None)
    _p, suspended = order("丙", reported_days_ago=300)
    supervision.order_suspend(order=suspended, start=ago(200), reason="detention", actor=leader)
    supervision.order_resume(order=suspended, on=ago(150), actor=leader)
    _p, held = order("丁", reported_days_ago=250)
    supervision.order_suspend(order=held, start=ago(20), reason="detention", actor=leader)
    _p, moved = order("戊", reported_days_ago=120)
    supervision.order_transfer(order=moved, to_township="530302002", on=ago(10), actor=leader)
    _p, ended = order("己", reported_days_ago=200)
    supervision.order_terminate(order=ended, on=ago(30), reason="prison_sentence", actor=leader)
    rules = grading.current()
    high, _o = order("庚", reported_days_ago=400)
    Grading.objects.create(person=high, graded_on=ago(60), ruleset=rules.key, ruleset_version="1", level="high",
                           points=60, reason="t")
    overridden, _o = order("辛", reported_days_ago=400, where=places["other_township"])
    low = Grading.objects.create(person=overridden, graded_on=ago(60), ruleset=rules.key, ruleset_version="1",
                                 level="low", points=0, reason="t")
    Override.objects.create(person=overridden, grading=low, ruleset=rules.key, level="high", reason="t",
                            starts_on=ago(5), expires_on=TODAY + timedelta(days=60), actor=worker)
    interim = factories.person(places["township"], name="壬", status=Status.COMMUNITY_REHAB, responsible_worker=worker)
    Measure.objects.create(person=interim, kind=MeasureKind.COMMUNITY_REHAB, start_on=ago(90))
    made += [interim, factories.person(places["neighbour"], name="癸", status=Status.ABSTINENT_3Y)]
    # Some of it done, some waived: history the generation must leave alone.
    for n, obligation in enumerate(Obligation.objects.filter(due_on__lt=TODAY, done_at=None).order_by("pk")):
        if n % 3 == 0:
            engine.fulfil(obligation, on=obligation.due_on, actor=worker)
        elif n % 7 == 0:
            engine.waive(obligation, reason="in hospital", actor=worker)
    return made


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
        again = ops_jobs.run("obligations.generate", today=tomorrow)
        assert (again["created"], again["rescheduled"], again["removed"]) == (0, 0, 0)
        assert again["unchanged"] == first["unchanged"] + first["created"] + first["rescheduled"]
