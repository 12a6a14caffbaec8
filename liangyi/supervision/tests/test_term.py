"""The term from end to end: missed reports, transfer, termination, completion, the abstinence
clock, contact obligations, random draws and the risk level tightening the tests."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from liangyi.core import periods
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.obligations.models import Kind, Obligation
from liangyi.ops import jobs as ops_jobs
from liangyi.people.models import Status, TimelineEvent
from liangyi.supervision import draws, plans, selectors, services
from liangyi.supervision.models import (
    CommunityOrder,
    Escalation,
    EscalationReason,
    OrderKind,
    OrderState,
    RandomDraw,
    Result,
)

TODAY = date.today()
RULES = core_rules.current()


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def new_order(person, actor, *, received: date, kind: str = OrderKind.COMMUNITY_DRUG_REHAB) -> CommunityOrder:
    return services.order_create(person=person, kind=kind, decided_on=received, received_on=received, actor=actor)


def running(person, actor, *, reported_days_ago: int) -> CommunityOrder:
    reported = days_ago(reported_days_ago)
    order = new_order(person, actor, received=reported - timedelta(days=2))
    return services.report_receive(order=order, reported_on=reported, actor=actor)


@pytest.fixture
def worker(personas):
    return personas["worker"]


@pytest.mark.django_db
class TestMissedReports:
    def test_it_flags_records_the_consequence_and_opens_a_case_once(self, person, worker):
        order = new_order(person, worker, received=days_ago(40))
        assert ops_jobs.run("supervision.missed_reports", today=TODAY) == {"flagged": 1, "escalations_opened": 1}
        assert ops_jobs.run("supervision.missed_reports", today=TODAY) == {"flagged": 0, "escalations_opened": 0}
        order.refresh_from_db()
        assert order.report_overdue_since == order.report_deadline + timedelta(days=1)
        case = Escalation.objects.get(order=order)
        assert case.reason == EscalationReason.MISSED_REPORT
        assert case.evidence["consequence"]["value"] == "deemed_refusal"
        assert "Reg 14" in case.evidence["consequence"]["source"]
        assert AuditEntry.objects.filter(action="order.report_missed", person_id=person.pk).exists()
        assert TimelineEvent.objects.filter(person=person, kind="order.report_missed").exists()

    def test_the_day_of_the_deadline_is_not_yet_missed(self, person, worker):
        order = new_order(person, worker, received=days_ago(40))
        assert ops_jobs.run("supervision.missed_reports", today=order.report_deadline)["flagged"] == 0
        assert ops_jobs.run("supervision.missed_reports",
                            today=order.report_deadline + timedelta(days=1))["flagged"] == 1

    def test_community_rehab_records_its_own_consequence(self, person, worker):
        new_order(person, worker, received=days_ago(40), kind=OrderKind.COMMUNITY_REHAB)
        ops_jobs.run("supervision.missed_reports", today=TODAY)
        assert Escalation.objects.get().evidence["consequence"]["value"] == "refusal_of_community_rehab"

    def test_a_late_report_is_still_recorded_and_the_trail_keeps_both(self, person, worker, personas):
        order = new_order(person, worker, received=days_ago(40))
        ops_jobs.run("supervision.missed_reports", today=TODAY)
        order = services.report_receive(order=order, reported_on=days_ago(1), actor=worker)
        assert order.state == OrderState.ACTIVE and order.report_overdue_since is not None
        assert AuditEntry.objects.get(action="order.report_received").detail["late"] is True
        kinds = list(TimelineEvent.objects.filter(person=person).values_list("kind", flat=True))
        assert {"order.report_missed", "escalation.opened", "order.report_received"} <= set(kinds)

    def test_the_county_police_see_the_case_and_the_neighbour_does_not(self, person, worker, personas, places):
        new_order(person, worker, received=days_ago(40))
        ops_jobs.run("supervision.missed_reports", today=TODAY)
        county_police = factories.user("county_police", "police", places["county"])
        assert selectors.escalations_open(user=county_police).count() == 1
        assert selectors.escalations_open(user=personas["neighbour"]).count() == 0


@pytest.mark.django_db
class TestTransfer:
    @pytest.fixture
    def county_worker(self, places):
        return factories.user("county_worker", "community_worker", places["county"])

    def test_the_file_moves_the_term_runs_on_and_obligations_follow(self, person, county_worker, places):
        order = running(person, county_worker, reported_days_ago=100)
        ends, tests_before = order.term_ends_on, sorted(Obligation.objects.filter(
            person=person, kind=Kind.DRUG_TEST).values_list("due_on", flat=True))
        transfer = services.order_transfer(order=order, to_township="530302002", on=days_ago(5), actor=county_worker)
        order.refresh_from_db()
        person.refresh_from_db()
        assert order.office_id == "530302002" and order.term_ends_on == ends and order.state == OrderState.ACTIVE
        assert person.jurisdiction_id == "530302002"
        assert transfer.report_by == days_ago(5) + timedelta(days=int(RULES.value("transfer_report_deadline_days")))
        open_offices = set(Obligation.objects.filter(person=person, done_at=None).values_list("office_id", flat=True))
        assert open_offices == {"530302002"}
        assert sorted(Obligation.objects.filter(person=person, kind=Kind.DRUG_TEST)
                      .values_list("due_on", flat=True)) == tests_before
        report = Obligation.objects.get(person=person, key=f"transfer_report:{transfer.pk}")
        assert report.due_on == transfer.report_by
        services.transfer_receive(transfer=transfer, reported_on=days_ago(2), actor=county_worker)
        report.refresh_from_db()
        assert report.done_on == days_ago(2)
        assert TimelineEvent.objects.filter(person=person, kind="order.transferred").exists()
        # Reg 22: a new agreement is prepared for signing at the new place.
        from liangyi.handover.models import Agreement

        new = Agreement.objects.get(order=order, reason="transfer")
        assert new.signed_on is None and "社区" in new.text

    def test_the_old_townships_worker_hands_over_to_the_one_who_receives_the_person(self, person, county_worker, places,
                                                                                    worker):
        from liangyi.people.models import Person

        Person.objects.filter(pk=person.pk).update(responsible_worker=worker)  # the old township's worker
        person.refresh_from_db()
        order = running(person, county_worker, reported_days_ago=100)
        transfer = services.order_transfer(order=order, to_township="530302002", on=days_ago(5), actor=county_worker)
        person.refresh_from_db()
        assert person.responsible_worker_id is None
        newcomer = factories.user("new_township", "community_worker", places["neighbour"])
        services.transfer_receive(transfer=transfer, reported_on=days_ago(2), actor=newcomer)
        person.refresh_from_db()
        order.refresh_from_db()
        assert person.responsible_worker_id == newcomer.pk and order.worker_id == newcomer.pk
        assert AuditEntry.objects.filter(action="person.updated", person_id=person.pk).count() >= 2

    def test_a_township_worker_cannot_send_a_person_out_of_reach(self, person, worker):
        order = running(person, worker, reported_days_ago=100)
        with pytest.raises(DomainError):
            services.order_transfer(order=order, to_township="530302002", on=days_ago(5), actor=worker)
        order.refresh_from_db()
        assert order.office_id == "530302001"

    def test_the_target_must_be_a_township(self, person, county_worker):
        order = running(person, county_worker, reported_days_ago=100)
        with pytest.raises(DomainError) as err:
            services.order_transfer(order=order, to_township="999999999", on=days_ago(5), actor=county_worker)
        assert "to_township" in err.value.errors


@pytest.mark.django_db
class TestTerminationAndCompletion:
    def test_termination_stops_future_obligations_and_keeps_done_ones(self, person, worker):
        order = running(person, worker, reported_days_ago=100)
        first = Obligation.objects.filter(person=person, kind=Kind.DRUG_TEST).order_by("due_on").first()
        services.test_record(order=order, tested_on=first.window_start, result=Result.NEGATIVE, sample="urine",
                             actor=worker)
        services.order_terminate(order=order, on=days_ago(10), reason="death", actor=worker)
        person.refresh_from_db()
        assert person.status == Status.DECEASED
        assert not Obligation.objects.filter(person=person, done_at=None, window_start__gt=days_ago(10)).exists()
        assert Obligation.objects.filter(pk=first.pk).exclude(done_on=None).exists()

    def test_an_educational_measure_keeps_the_status_for_the_registry(self, person, worker):
        order = running(person, worker, reported_days_ago=100)
        order = services.order_terminate(order=order, on=days_ago(1), reason="educational_measure", actor=worker)
        assert (order.state, order.end_reason) == (OrderState.TERMINATED, "educational_measure")

    def test_the_job_completes_a_term_the_day_after_its_last_day(self, person, worker):
        order = running(person, worker, reported_days_ago=400)
        CommunityOrder.objects.filter(pk=order.pk).update(term_ends_on=days_ago(1))
        assert ops_jobs.run("supervision.complete_terms", today=days_ago(1))["completed"] == 0
        assert ops_jobs.run("supervision.complete_terms", today=TODAY)["completed"] == 1
        assert ops_jobs.run("supervision.complete_terms", today=TODAY)["completed"] == 0
        order.refresh_from_db()
        person.refresh_from_db()
        assert (order.state, order.ended_on, person.status) == (OrderState.COMPLETED, TODAY, Status.COMPLETED)

    def test_the_clock_runs_from_the_last_relapse_and_ends_in_abstinent_3y(self, person, worker):
        order = running(person, worker, reported_days_ago=400)
        clock = selectors.abstinence_clock(person)
        assert (clock.starts_on, clock.basis) == (order.reported_on, "report")
        services.test_record(order=order, tested_on=days_ago(300), result=Result.POSITIVE, sample="urine",
                             actor=worker)
        clock = selectors.abstinence_clock(person)
        assert (clock.starts_on, clock.basis) == (days_ago(300), "relapse")
        assert clock.reaches_on == periods.add_months(days_ago(300), 36)
        CommunityOrder.objects.filter(pk=order.pk).update(term_ends_on=days_ago(1))
        ops_jobs.run("supervision.complete_terms", today=TODAY)
        person.refresh_from_db()
        assert person.status == Status.COMPLETED
        assert ops_jobs.run("supervision.complete_terms", today=clock.reaches_on - timedelta(days=1))[
            "abstinent_3y"] == 0
        assert ops_jobs.run("supervision.complete_terms", today=clock.reaches_on)["abstinent_3y"] == 1
        person.refresh_from_db()
        assert person.status == Status.ABSTINENT_3Y


@pytest.mark.django_db
class TestContactObligations:
    def test_checks_visits_and_reviews_are_planned_with_the_ruleset_version(self, person, worker):
        order = running(person, worker, reported_days_ago=10)
        by_kind = {kind: Obligation.objects.filter(person=person, kind=kind).count()
                   for kind in (Kind.CHECK_IN, Kind.HOME_VISIT, Kind.PLAN_REVIEW)}
        months = order.term_months
        assert by_kind == {Kind.CHECK_IN: months // int(RULES.value("check_in_interval_months")),
                           Kind.HOME_VISIT: months // int(RULES.value("home_visit_interval_months")),
                           Kind.PLAN_REVIEW: months // int(RULES.value("plan_review_interval_months"))}
        assert set(Obligation.objects.filter(person=person).values_list("ruleset_version", flat=True)) == {
            RULES.version}

    def test_a_check_in_meets_its_obligation(self, person, worker):
        order = running(person, worker, reported_days_ago=10)
        services.contact_record(order=order, kind="check_in", on=days_ago(2), notes="面谈", actor=worker)
        assert Obligation.objects.filter(person=person, kind=Kind.CHECK_IN).exclude(done_on=None).count() == 1

    def test_a_risk_level_can_tighten_the_test_schedule(self, person, worker, monkeypatch):
        from liangyi.risk import control

        monkeypatch.setattr(control, "test_interval_months", lambda p, default, on: 1)
        running(person, worker, reported_days_ago=10)
        assert Obligation.objects.filter(person=person, kind=Kind.DRUG_TEST, source=plans.SOURCE).count() == 36


@pytest.mark.django_db
class TestRandomDraw:
    def test_it_is_reproducible_from_the_seed_and_audited(self, places, worker):
        persons = [factories.person(places["township"], name=f"人员{i}", birth=date(1980, 1, 1 + i))
                   for i in range(10)]
        for p in persons:
            running(p, worker, reported_days_ago=30)
        draw = draws.random_draw(on=TODAY, office=places["township"], actor=worker)
        assert draw.count == 1  # ceil(10 × 0.1)
        assert draws.draw_persons(draw.seed, draw.candidates, draw.count) == draw.drawn
        again = draws.random_draw(on=TODAY, office=places["township"], actor=worker, seed=draw.seed, count=4)
        assert again.drawn == draws.draw_persons(draw.seed, [str(p.pk) for p in persons], 4)
        entry = AuditEntry.objects.filter(action="random_draw.made").order_by("at").first()
        assert entry.detail["drawn"] == draw.drawn and entry.detail["seed"] == draw.seed
        assert RandomDraw.objects.count() == 2

    def test_a_worker_of_another_township_may_not_draw_there(self, places, personas):
        with pytest.raises(DomainError):
            draws.random_draw(on=TODAY, office=places["township"], actor=personas["neighbour"])
