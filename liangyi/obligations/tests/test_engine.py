"""The engine (sync, fulfil, waive) and the worklist, against the database."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.core.rules import RuleSet, load
from liangyi.demo import factories
from liangyi.obligations import engine, selectors
from liangyi.obligations.models import Kind, Obligation, State
from liangyi.obligations.schedules import SOURCE_DRUG_TESTS, add_months
from liangyi.people.models import Measure, MeasureKind, Status, TimelineEvent

NATIONAL = load("national")
FAR = date(2100, 1, 1)


def with_rule(ruleset: RuleSet, key: str, value: int) -> RuleSet:
    rules = dict(ruleset.rules)
    rules[key] = replace(rules[key], value=value)
    return RuleSet(name=ruleset.name, version=ruleset.version + "+test", rules=rules)


def today() -> date:
    return timezone.localdate()


def on_community_term(where, worker, *, started: date, name: str = "李四"):
    person = factories.person(where, name=name, status=Status.COMMUNITY_DRUG_REHAB, responsible_worker=worker)
    Measure.objects.create(person=person, kind=MeasureKind.COMMUNITY_DRUG_REHAB, start_on=started)
    return person


@pytest.fixture
def started() -> date:
    # Reported 100 days ago: three monthly tests are past, the fourth window is open.
    return today() - timedelta(days=100)


@pytest.fixture
def client_person(places, personas, started):
    return on_community_term(places["village"], personas["worker"], started=started)


def drug_tests_of(person):
    return list(Obligation.objects.filter(person=person, source=SOURCE_DRUG_TESTS).order_by("due_on"))


@pytest.mark.django_db
class TestSync:
    def test_it_creates_the_terms_tests(self, client_person, places, personas, started):
        result = engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        assert result == engine.SyncResult(created=22)
        tests = drug_tests_of(client_person)
        assert len(tests) == 22
        assert {t.kind for t in tests} == {Kind.DRUG_TEST}
        # A person in a village is the responsibility of its township.
        assert {t.office_id for t in tests} == {places["township"].code}
        assert {t.worker_id for t in tests} == {personas["worker"].pk}
        assert {t.ruleset_version for t in tests} == {NATIONAL.version}
        assert tests[-1].due_on == add_months(started, 36)

    def test_a_second_run_changes_nothing(self, client_person):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        before = AuditEntry.objects.count()
        assert engine.sync(client_person, ruleset=NATIONAL, horizon=FAR) == engine.SyncResult(unchanged=22)
        assert Obligation.objects.filter(person=client_person).count() == 22
        assert AuditEntry.objects.count() == before  # a no-op run writes nothing

    def test_a_sync_with_changes_is_audited(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR, actor=personas["worker"])
        entry = AuditEntry.objects.get(action="obligations.synced")
        assert entry.person_id == client_person.pk
        assert entry.detail["changes"] == {SOURCE_DRUG_TESTS: [22, 0, 0]}

    def test_it_plans_only_up_to_the_horizon(self, client_person, started):
        horizon = add_months(started, 6)
        assert engine.sync(client_person, ruleset=NATIONAL, horizon=horizon).created == 6
        assert engine.sync(client_person, ruleset=NATIONAL, horizon=FAR).created == 16

    def test_a_rule_change_reschedules_only_open_obligations(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        first, second = drug_tests_of(client_person)[:2]
        engine.fulfil(first, on=first.due_on, actor=personas["worker"])
        engine.fulfil(second, on=second.due_on, actor=personas["worker"])

        result = engine.sync(client_person, ruleset=with_rule(NATIONAL, "test_interval_months_year1", 2), horizon=FAR)

        # Year 1 now has tests in months 2, 4, ..., 12: months 3, 5, 7, 9 and 11 go; nothing is doubled.
        assert (result.created, result.removed) == (0, 5)
        assert result.rescheduled == 15  # the 5 kept year-1 tests and the 10 of years 2 and 3, restamped
        for done in (first, second):
            kept = Obligation.objects.get(pk=done.pk)
            assert (kept.due_on, kept.ruleset_version, kept.done_on) == (done.due_on, NATIONAL.version, done.due_on)
        open_ = Obligation.objects.filter(person=client_person, done_at=None)
        assert open_.count() == 15
        assert set(open_.values_list("ruleset_version", flat=True)) == {NATIONAL.version + "+test"}

    def test_done_and_waived_obligations_are_never_moved_or_deleted(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        done, waived = drug_tests_of(client_person)[:2]
        engine.fulfil(done, on=done.due_on, actor=personas["worker"])
        engine.waive(waived, reason="Detained that month", actor=personas["worker"])

        client_person.status = Status.COMPLETED
        client_person.save(update_fields=["status"])
        result = engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)

        assert result.removed == 20
        assert set(Obligation.objects.filter(person=client_person).values_list("pk", flat=True)) == {done.pk, waived.pk}

    def test_a_transfer_changes_the_office_not_the_dates(self, client_person, places, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        done = drug_tests_of(client_person)[0]
        engine.fulfil(done, on=done.due_on, actor=personas["worker"])
        dates = [t.due_on for t in drug_tests_of(client_person)]

        client_person.jurisdiction = places["neighbour"]
        client_person.responsible_worker = personas["neighbour"]
        client_person.save(update_fields=["jurisdiction", "responsible_worker"])
        result = engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)

        assert result == engine.SyncResult(rescheduled=21)
        tests = drug_tests_of(client_person)
        assert [t.due_on for t in tests] == dates
        assert tests[0].office_id == places["township"].code  # history stays where it happened
        assert {t.office_id for t in tests[1:]} == {places["neighbour"].code}
        assert {t.worker_id for t in tests[1:]} == {personas["neighbour"].pk}

    def test_nobody_outside_a_community_term_gets_tests(self, places, personas):
        no_measure = factories.person(places["township"], status=Status.COMMUNITY_DRUG_REHAB)
        isolated = factories.person(places["township"], status=Status.ISOLATION)
        Measure.objects.create(person=isolated, kind=MeasureKind.ISOLATION, start_on=today())
        assert engine.sync(no_measure, ruleset=NATIONAL, horizon=FAR) == engine.SyncResult()
        assert engine.sync(isolated, ruleset=NATIONAL, horizon=FAR) == engine.SyncResult()

    def test_a_generator_planning_a_key_twice_is_refused(self, client_person, places):
        def twice(person, ruleset, horizon):
            item = engine.Planned(kind=Kind.HOME_VISIT, key="visit", due_on=today(), office=places["township"])
            return [item, item]

        engine.register("test.twice", twice)
        try:
            with pytest.raises(ValueError, match="planned twice"):
                engine.sync(client_person, ruleset=NATIONAL, horizon=FAR, only=["test.twice"])
        finally:
            engine._generators.pop("test.twice")


@pytest.mark.django_db
class TestFulfilAndWaive:
    def test_fulfil_matching_picks_the_test_whose_window_holds_the_day(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        tests = drug_tests_of(client_person)
        current = next(t for t in tests if t.window_start <= today() <= t.due_on)

        fulfilled = engine.fulfil_matching(client_person, Kind.DRUG_TEST, today(), None, personas["worker"])

        assert fulfilled.pk == current.pk
        assert selectors.state_of(fulfilled, today()) == State.DONE
        # The three past tests stay open and overdue.
        assert [selectors.state_of(t, today()) for t in tests[:3]] == [State.OVERDUE] * 3

    def test_fulfil_matching_falls_back_to_the_earliest_overdue(self, places, personas):
        person = on_community_term(places["township"], personas["worker"], started=today() - timedelta(days=400))
        Measure.objects.filter(person=person).update(end_on=today() - timedelta(days=10))
        engine.sync(person, ruleset=NATIONAL, horizon=FAR)
        earliest = drug_tests_of(person)[0]

        fulfilled = engine.fulfil_matching(person, Kind.DRUG_TEST, today(), None, personas["worker"])

        assert fulfilled.pk == earliest.pk

    def test_fulfil_matching_returns_none_when_nothing_is_open(self, person, personas):
        assert engine.fulfil_matching(person, Kind.DRUG_TEST, today(), None, personas["worker"]) is None

    def test_fulfil_records_what_met_it_with_audit_and_timeline(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        obligation = drug_tests_of(client_person)[0]
        record = Measure.objects.get(person=client_person)  # stands in for the test record

        engine.fulfil(obligation, by=record, on=today(), actor=personas["worker"])

        obligation.refresh_from_db()
        assert (obligation.fulfilled_by_type, obligation.fulfilled_by_id) == ("people.measure", str(record.pk))
        assert obligation.done_by == personas["worker"]
        entry = AuditEntry.objects.get(action="obligation.fulfilled")
        assert (entry.object_id, entry.person_id, entry.actor) == (str(obligation.pk), client_person.pk,
                                                                    personas["worker"])
        event = TimelineEvent.objects.get(kind="obligation.fulfilled")
        assert (event.person, event.ref_id, event.group) == (client_person, str(obligation.pk), "drug_history")
        assert "Drug test" in event.summary

    def test_fulfil_refuses_a_closed_obligation_and_a_future_day(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        first, second = drug_tests_of(client_person)[:2]
        with pytest.raises(DomainError):
            engine.fulfil(first, on=today() + timedelta(days=1), actor=personas["worker"])
        engine.fulfil(first, on=today(), actor=personas["worker"])
        with pytest.raises(DomainError):
            engine.fulfil(first, on=today(), actor=personas["worker"])
        engine.waive(second, reason="Hospitalised", actor=personas["worker"])
        with pytest.raises(DomainError):
            engine.fulfil(second, on=today(), actor=personas["worker"])

    def test_waive_needs_a_reason(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        obligation = drug_tests_of(client_person)[0]
        with pytest.raises(DomainError) as refused:
            engine.waive(obligation, reason="   ", actor=personas["worker"])
        assert "reason" in refused.value.errors
        obligation.refresh_from_db()
        assert obligation.is_open
        assert not AuditEntry.objects.filter(action="obligation.waived").exists()

    def test_waive_keeps_the_reason_with_audit_and_timeline(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        obligation = engine.waive(drug_tests_of(client_person)[0], reason="Detained", actor=personas["worker"])
        assert selectors.state_of(obligation, today()) == State.WAIVED
        assert (obligation.waived_reason, obligation.waived_by) == ("Detained", personas["worker"])
        assert AuditEntry.objects.get(action="obligation.waived").detail["reason"] == "Detained"
        assert TimelineEvent.objects.filter(kind="obligation.waived", person=client_person).count() == 1


@pytest.mark.django_db
class TestWorklist:
    def test_it_lists_overdue_then_due_then_the_coming_week(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        items = list(selectors.worklist(personas["worker"], today()))
        assert [i.state for i in items] == [State.OVERDUE] * 3 + [State.DUE]
        assert [i.due_on for i in items] == sorted(i.due_on for i in items)
        assert all(i.state == selectors.state_of(i, today()) for i in items)

    def test_it_lists_what_falls_due_within_the_week_and_no_further(self, places, personas):
        person = factories.person(places["township"], responsible_worker=personas["worker"])
        for days in (selectors.WORKLIST_DAYS, selectors.WORKLIST_DAYS + 1):
            Obligation.objects.create(person=person, kind=Kind.HOME_VISIT, key=f"v{days}", source="test",
                                      due_on=today() + timedelta(days=days), office=places["township"],
                                      ruleset_version="t")
        items = list(selectors.worklist(personas["worker"], today()))
        assert [(i.key, i.state) for i in items] == [(f"v{selectors.WORKLIST_DAYS}", State.UPCOMING)]

    def test_it_leaves_out_closed_obligations(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        overdue = drug_tests_of(client_person)[0]
        engine.waive(overdue, reason="Detained", actor=personas["worker"])
        assert overdue.pk not in {i.pk for i in selectors.worklist(personas["worker"], today())}

    def test_the_neighbour_sees_nothing_and_the_county_leader_sees_it(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        assert list(selectors.worklist(personas["neighbour"], today())) == []
        assert list(selectors.worklist(personas["anonymous"], today())) == []
        assert len(selectors.worklist(personas["leader"], today())) == 4
        assert len(selectors.worklist(personas["colleague"], today())) == 4

    def test_its_query_count_does_not_grow_with_rows(self, places, personas, started):
        def queries_for_a_page() -> int:
            with CaptureQueriesContext(connection) as ctx:
                for item in selectors.worklist(personas["leader"], today()):
                    _ = (item.person.name, item.person.jurisdiction.name, item.office.name, item.worker.full_name)
            return len(ctx.captured_queries)

        people = [on_community_term(places["township"], personas["worker"], started=started, name=f"甲{i}")
                  for i in range(5)]
        engine.sync(people[0], ruleset=NATIONAL, horizon=FAR)
        few = queries_for_a_page()
        for p in people[1:]:
            engine.sync(p, ruleset=NATIONAL, horizon=FAR)
        assert len(selectors.worklist(personas["leader"], today())) == 20
        # Two queries whatever the rows: the scope's places (obligations.apps._in_reach lists them so
        # PostgreSQL plans one index range per place), then the page with its joins.
        assert queries_for_a_page() == few == 2

    def test_with_state_agrees_with_state_of(self, client_person, personas):
        engine.sync(client_person, ruleset=NATIONAL, horizon=FAR)
        tests = drug_tests_of(client_person)
        engine.fulfil(tests[0], on=today(), actor=personas["worker"])
        engine.waive(tests[1], reason="Detained", actor=personas["worker"])
        for day in (today(), today() + timedelta(days=200), today() - timedelta(days=200)):
            annotated = selectors.with_state(Obligation.objects.filter(person=client_person), day)
            assert {o.pk: o.state for o in annotated} == {o.pk: selectors.state_of(o, day) for o in annotated}
