"""The supervision chain's services: the term, tests, absences, suspensions and escalations."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from liangyi.core import periods
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.obligations import engine
from liangyi.obligations.models import Kind, Obligation
from liangyi.obligations.schedules import SOURCE_DRUG_TESTS
from liangyi.people.models import Measure, MeasureKind, Person, Status, TimelineEvent
from liangyi.supervision import plans, services, violations
from liangyi.supervision.models import (
    CommunityOrder,
    Escalation,
    EscalationReason,
    EscalationState,
    OrderKind,
    OrderState,
    Result,
    Violation,
)

FAR = date(2100, 1, 1)
TODAY = date.today()
RULES = core_rules.current()
REFUSALS_NEEDED = int(RULES.value("serious_violation_refused_tests"))


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def drug_tests(person: Person) -> list[Obligation]:
    return list(Obligation.objects.filter(person=person, source=plans.SOURCE, kind=Kind.DRUG_TEST).order_by("due_on"))


def new_order(person: Person, actor, *, received: date, kind: str = OrderKind.COMMUNITY_DRUG_REHAB,
              **extra) -> CommunityOrder:
    return services.order_create(person=person, kind=kind, decided_on=received - timedelta(days=2),
                                 received_on=received, actor=actor, **extra)


def running_order(person: Person, actor, *, reported_days_ago: int) -> CommunityOrder:
    reported = days_ago(reported_days_ago)
    order = new_order(person, actor, received=reported - timedelta(days=3))
    return services.report_receive(order=order, reported_on=reported, actor=actor)


def serious(order: CommunityOrder) -> list[Escalation]:
    return list(Escalation.objects.filter(order=order, reason=EscalationReason.SERIOUS_VIOLATION))


@pytest.fixture
def worker(personas):
    return personas["worker"]


@pytest.fixture
def order(person, worker) -> CommunityOrder:
    return running_order(person, worker, reported_days_ago=300)


@pytest.mark.django_db
class TestOrderCreate:
    def test_it_opens_the_report_obligation_due_on_the_deadline(self, person, worker):
        order = new_order(person, worker, received=date(2024, 9, 16))
        report = Obligation.objects.get(person=person, source=plans.SOURCE, kind=Kind.REPORT)
        assert order.report_deadline == report.due_on == date(2024, 10, 8)  # National Day extends it
        assert not order.report_deadline_unconfirmed
        assert order.term_months == 36
        assert order.office_id == "530302001"
        person.refresh_from_db()
        assert person.status == Status.AWAITING_REPORT

    def test_a_deadline_in_a_year_the_calendar_lacks_falls_back_and_is_flagged(self, person, worker):
        order = new_order(person, worker, received=date(2023, 5, 10))
        assert order.report_deadline == date(2023, 5, 25)
        assert order.report_deadline_unconfirmed
        assert "2023" in order.report_deadline_note
        assert AuditEntry.objects.get(action="order.created").detail["deadline_unconfirmed"] is True

    def test_community_drug_rehab_has_the_fixed_term(self, person, worker):
        with pytest.raises(DomainError) as err:
            new_order(person, worker, received=days_ago(5), term_months=24)
        assert "term_months" in err.value.errors

    def test_community_rehab_takes_the_given_term_up_to_the_maximum(self, person, worker, places):
        order = new_order(person, worker, received=days_ago(5), kind=OrderKind.COMMUNITY_REHAB, term_months=24)
        assert order.term_months == 24
        other = factories.person(places["township"], name="李四", birth=date(1985, 1, 2))
        with pytest.raises(DomainError):
            new_order(other, worker, received=days_ago(5), kind=OrderKind.COMMUNITY_REHAB, term_months=37)

    def test_it_refuses_a_second_running_order(self, person, worker):
        new_order(person, worker, received=days_ago(5))
        with pytest.raises(DomainError):
            new_order(person, worker, received=days_ago(4))

    def test_a_worker_of_another_township_may_not(self, person, personas):
        with pytest.raises(DomainError):
            new_order(person, personas["neighbour"], received=days_ago(5))
        assert not CommunityOrder.objects.exists()


@pytest.mark.django_db
class TestReportReceive:
    def test_it_starts_the_term_and_plans_22_tests(self, person, worker):
        reported = days_ago(10)
        order = new_order(person, worker, received=reported - timedelta(days=3))
        order = services.report_receive(order=order, reported_on=reported, actor=worker)
        assert order.state == OrderState.ACTIVE
        assert order.term_ends_on == periods.term_end(reported, years=3)
        tests = drug_tests(person)
        assert len(tests) == 22
        assert tests[-1].due_on == order.term_ends_on
        assert tests[0].window_start == reported + timedelta(days=1)
        by_year = [sum(1 for t in tests if periods.add_years(reported, y) < t.due_on
                       <= periods.add_years(reported, y + 1)) for y in range(3)]
        assert by_year == [12, 6, 4]

    def test_it_closes_the_report_obligation_and_moves_the_status(self, person, worker):
        order = running_order(person, worker, reported_days_ago=10)
        report = Obligation.objects.get(person=person, source=plans.SOURCE, kind=Kind.REPORT)
        assert report.done_on == order.reported_on
        person.refresh_from_db()
        assert person.status == Status.COMMUNITY_DRUG_REHAB
        assert Measure.objects.get(pk=order.measure_id).end_on == order.term_ends_on

    def test_it_writes_audit_and_timeline(self, person, worker):
        order = running_order(person, worker, reported_days_ago=10)
        entry = AuditEntry.objects.get(action="order.report_received")
        assert entry.person_id == person.pk and entry.object_id == str(order.pk)
        assert entry.detail["term_ends_on"] == order.term_ends_on.isoformat()
        assert AuditEntry.objects.filter(action="person.status_changed", person_id=person.pk).count() == 2
        assert TimelineEvent.objects.filter(person=person, kind="order.report_received", group="drug_history").exists()

    def test_it_refuses_a_second_report(self, person, worker):
        order = running_order(person, worker, reported_days_ago=10)
        with pytest.raises(DomainError):
            services.report_receive(order=order, reported_on=days_ago(5), actor=worker)

    def test_the_measure_based_stand_in_stops_planning_for_the_person(self, person, worker):
        Measure.objects.create(person=person, kind=MeasureKind.COMMUNITY_DRUG_REHAB, start_on=days_ago(50))
        Person.objects.filter(pk=person.pk).update(status=Status.COMMUNITY_DRUG_REHAB)
        person.refresh_from_db()
        engine.sync(person, horizon=FAR)
        assert Obligation.objects.filter(person=person, source=SOURCE_DRUG_TESTS).exists()
        running_order(person, worker, reported_days_ago=10)
        engine.sync(person, horizon=FAR)
        assert not Obligation.objects.filter(person=person, source=SOURCE_DRUG_TESTS, done_at=None).exists()
        assert len(drug_tests(person)) == 22


@pytest.mark.django_db
class TestTestRecord:
    def test_it_fulfils_the_matching_obligation(self, person, worker):
        order = running_order(person, worker, reported_days_ago=40)
        first = drug_tests(person)[0]
        test = services.test_record(order=order, tested_on=first.window_start + timedelta(days=3),
                                    result=Result.NEGATIVE, sample="urine", method="onsite", actor=worker)
        first.refresh_from_db()
        assert first.done_on == test.tested_on
        assert first.fulfilled_by_id == str(test.pk)
        assert AuditEntry.objects.filter(action="drug_test.recorded", person_id=person.pk).exists()
        event = TimelineEvent.objects.get(person=person, kind="drug_test.recorded")
        assert event.group == "drug_history"

    def test_a_refusal_leaves_the_obligation_open_and_is_a_violation(self, person, worker):
        order = running_order(person, worker, reported_days_ago=40)
        first = drug_tests(person)[0]
        test = services.test_record(order=order, tested_on=first.window_start, result=Result.REFUSED, actor=worker)
        first.refresh_from_db()
        assert first.is_open
        violation = Violation.objects.get(order=order)
        assert (violation.kind, violation.source_id) == ("refused_test", str(test.pk))
        assert TimelineEvent.objects.filter(person=person, kind="violation.derived", group="drug_history").exists()

    def test_a_positive_test_opens_a_relapse_case(self, order, worker):
        services.test_record(order=order, tested_on=days_ago(20), result=Result.POSITIVE, sample="urine",
                             substances=["甲基苯丙胺"], actor=worker)
        case = Escalation.objects.get(order=order)
        assert (case.reason, case.state) == (EscalationReason.RELAPSE, EscalationState.OPEN)
        assert case.evidence["violations"] == list(Violation.objects.filter(order=order).values_list("pk", flat=True))
        assert AuditEntry.objects.filter(action="escalation.opened", person_id=order.person_id).exists()

    def test_a_second_positive_does_not_duplicate_the_open_case(self, order, worker):
        for n in (20, 10):
            services.test_record(order=order, tested_on=days_ago(n), result=Result.POSITIVE, sample="urine",
                                 actor=worker)
        case = Escalation.objects.get(order=order)
        assert len(case.evidence["violations"]) == 2

    def test_it_refuses_a_test_before_the_report_or_in_the_future(self, order, worker):
        for day in (order.reported_on - timedelta(days=1), TODAY + timedelta(days=1)):
            with pytest.raises(DomainError):
                services.test_record(order=order, tested_on=day, result=Result.REFUSED, actor=worker)


@pytest.mark.django_db
class TestRefusalThreshold:
    def record(self, order, worker, results):
        for n, result in enumerate(results):
            services.test_record(order=order, tested_on=days_ago(100 - n), result=result, actor=worker)

    def test_two_refusals_are_not_serious(self, order, worker):
        self.record(order, worker, [Result.REFUSED, Result.REFUSED])
        assert serious(order) == []

    def test_three_refusals_or_evasions_are_serious(self, order, worker):
        self.record(order, worker, [Result.REFUSED, Result.EVADED, Result.REFUSED])
        (case,) = serious(order)
        assert sorted(case.evidence["violations"]) == sorted(Violation.objects.values_list("pk", flat=True))
        assert case.evidence["thresholds"][0]["rule"] == "serious_violation_refused_tests"

    def test_a_fourth_refusal_adds_evidence_not_a_second_case(self, order, worker):
        self.record(order, worker, [Result.REFUSED] * 4)
        (case,) = serious(order)
        assert len(case.evidence["violations"]) == 4
        violations.derive(order=order, ruleset=RULES, on=TODAY, actor=worker)
        assert len(serious(order)) == 1 and Violation.objects.count() == 4

    def test_after_a_decision_a_new_breach_opens_a_new_case(self, order, worker, personas):
        self.record(order, worker, [Result.REFUSED] * 3)
        services.escalation_decide(escalation=serious(order)[0], decision="continue", decided_on=days_ago(1),
                                   actor=personas["police"])
        services.test_record(order=order, tested_on=days_ago(0), result=Result.EVADED, actor=worker)
        assert sorted(c.state for c in serious(order)) == [EscalationState.DECIDED, EscalationState.OPEN]


@pytest.mark.django_db
class TestAbsences:
    def away(self, order, worker, left: int, days: int):
        return services.absence_record(order=order, left_on=days_ago(left), returned_on=days_ago(left - days),
                                       actor=worker)

    def test_two_days_away_need_no_leave(self, order, worker):
        assert self.away(order, worker, 50, 2).authorised

    def test_three_days_away_without_leave_are_unauthorised(self, order, worker):
        absence = self.away(order, worker, 50, 3)
        assert not absence.authorised
        assert Violation.objects.get(order=order).kind == "unauthorised_absence"

    def test_three_days_away_with_leave_approved_beforehand_are_authorised(self, order, worker):
        request = services.leave_request(order=order, from_on=days_ago(50), to_on=days_ago(45), destination="昆明",
                                         actor=worker)
        services.leave_approve(request=request, actor=worker, approved_on=days_ago(52))
        absence = self.away(order, worker, 50, 3)
        assert absence.authorised and absence.leave_request == request
        assert not Violation.objects.exists()

    def test_leave_approved_after_leaving_does_not_cover(self, order, worker):
        request = services.leave_request(order=order, from_on=days_ago(50), to_on=days_ago(45), destination="昆明",
                                         actor=worker)
        services.leave_approve(request=request, actor=worker, approved_on=days_ago(49))
        assert not self.away(order, worker, 50, 3).authorised

    def test_two_unauthorised_absences_are_not_serious(self, order, worker):
        self.away(order, worker, 100, 3)
        self.away(order, worker, 80, 3)
        assert serious(order) == []

    def test_three_unauthorised_absences_are_serious(self, order, worker):
        for left in (100, 80, 60):
            self.away(order, worker, left, 3)
        (case,) = serious(order)
        assert [t["rule"] for t in case.evidence["thresholds"]] == ["serious_violation_absences"]
        assert len(case.evidence["violations"]) == 3

    def test_thirty_days_away_are_not_serious(self, order, worker):
        self.away(order, worker, 100, 30)
        assert serious(order) == []

    def test_thirty_one_days_away_are_serious(self, order, worker):
        self.away(order, worker, 100, 31)
        (case,) = serious(order)
        assert case.evidence["thresholds"] == [{"rule": "serious_violation_absence_days", "count": 31, "value": 30}]

    def test_days_add_up_across_absences(self, order, worker):
        self.away(order, worker, 100, 16)
        assert serious(order) == []
        self.away(order, worker, 60, 15)
        assert len(serious(order)) == 1

    def test_an_open_absence_is_judged_again_on_return(self, order, worker):
        absence = services.absence_record(order=order, left_on=days_ago(1), actor=worker)
        assert absence.authorised  # one day away so far
        absence = services.absence_return(absence=absence, returned_on=TODAY, actor=worker)
        assert absence.authorised
        absence = services.absence_record(order=order, left_on=days_ago(10), actor=worker)
        assert not absence.authorised


@pytest.mark.django_db
class TestSuspension:
    def test_it_moves_the_term_end_and_the_later_tests_by_its_length(self, person, worker):
        order = running_order(person, worker, reported_days_ago=100)
        before = {o.key: o.due_on for o in drug_tests(person)}
        end_before = order.term_ends_on
        start = days_ago(60)
        services.order_suspend(order=order, start=start, reason="detention", actor=worker)
        person.refresh_from_db()
        assert person.status == Status.SUSPENDED
        assert all(o.due_on < start for o in drug_tests(person))  # nothing falls due while detained
        order = services.order_resume(order=order, on=days_ago(30), actor=worker)
        assert order.term_ends_on == end_before + timedelta(days=30)
        after = {o.key: o.due_on for o in drug_tests(person)}
        assert after.keys() == before.keys()
        for key, due in before.items():
            assert after[key] == (due + timedelta(days=30) if due >= start else due)
        person.refresh_from_db()
        assert person.status == Status.COMMUNITY_DRUG_REHAB
        assert Measure.objects.get(pk=order.measure_id).end_on == order.term_ends_on

    def test_nothing_is_recorded_while_suspended(self, order, worker):
        services.order_suspend(order=order, start=days_ago(10), reason="arrest", actor=worker)
        with pytest.raises(DomainError):
            services.test_record(order=order, tested_on=days_ago(5), result=Result.REFUSED, actor=worker)

    def test_resume_needs_a_suspension(self, order, worker):
        with pytest.raises(DomainError):
            services.order_resume(order=order, on=days_ago(1), actor=worker)


@pytest.mark.django_db
class TestOrderComplete:
    def test_it_completes_at_the_term_end(self, person, worker):
        order = running_order(person, worker, reported_days_ago=3 * 366 + 5)
        order = services.order_complete(order=order, on=order.term_ends_on, actor=worker)
        assert order.state == OrderState.COMPLETED
        person.refresh_from_db()
        assert person.status == Status.COMPLETED

    def test_it_refuses_before_the_term_end(self, order, worker):
        with pytest.raises(DomainError):
            services.order_complete(order=order, on=TODAY, actor=worker)


@pytest.mark.django_db
class TestEscalationDecide:
    def test_the_police_record_the_decision(self, order, worker, personas):
        services.test_record(order=order, tested_on=days_ago(5), result=Result.POSITIVE, sample="urine", actor=worker)
        case = Escalation.objects.get(order=order)
        case = services.escalation_decide(escalation=case, decision="compulsory_isolation", decided_on=TODAY,
                                          actor=personas["police"], notes="决定强制隔离戒毒")
        assert (case.state, case.decided_by) == (EscalationState.DECIDED, personas["police"])
        assert AuditEntry.objects.filter(action="escalation.decided", person_id=order.person_id).exists()
        with pytest.raises(DomainError):
            services.escalation_decide(escalation=case, decision="continue", decided_on=TODAY,
                                       actor=personas["police"])

    def test_a_community_worker_may_not_decide(self, order, worker):
        services.test_record(order=order, tested_on=days_ago(5), result=Result.POSITIVE, sample="urine", actor=worker)
        with pytest.raises(DomainError):
            services.escalation_decide(escalation=Escalation.objects.get(order=order), decision="continue",
                                       decided_on=TODAY, actor=worker)


_births = itertools.count()


@pytest.mark.django_db
# Each example makes its own person and order, so the shared places and personas are safe to reuse.
@hsettings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(results=st.lists(st.sampled_from(list(Result.values)), max_size=7))
def test_a_serious_violation_case_exists_iff_refusals_reach_the_rule(places, personas, results):
    birth = date(1960, 1, 1) + timedelta(days=next(_births))
    person = factories.person(places["township"], name="性质测试", birth=birth)
    order = running_order(person, personas["worker"], reported_days_ago=200)
    for n, result in enumerate(results):
        services.test_record(order=order, tested_on=days_ago(150 - n), result=result, actor=personas["worker"],
                             sample="urine" if result in (Result.NEGATIVE, Result.POSITIVE) else "")
    refusals = sum(r in (Result.REFUSED, Result.EVADED) for r in results)
    assert (len(serious(order)) == 1) == (refusals >= REFUSALS_NEEDED)
    assert len(serious(order)) <= 1
    relapses = Escalation.objects.filter(order=order, reason=EscalationReason.RELAPSE).count()
    assert relapses == (1 if Result.POSITIVE in results else 0)
