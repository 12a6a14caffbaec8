from __future__ import annotations

from datetime import date, timedelta

import pytest

from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.handover import assessment, selectors, services
from liangyi.handover.models import (
    AgreementReason,
    AssessmentPoint,
    HandoverState,
    Outcome,
    ReleaseKind,
    StayState,
)
from liangyi.handover.tests.conftest import PASSING, assess, new_stay
from liangyi.people.models import MeasureKind, Status
from liangyi.supervision.models import OrderKind, OrderState

pytestmark = pytest.mark.django_db


def reload(obj):
    obj.refresh_from_db()
    return obj


def released(person, facility, *, decided: date):
    stay = new_stay(person, facility, decided=decided)
    return services.stay_release(stay=stay, released_on=stay.planned_release_on, certificate="解除证明001",
                                 actor=facility)


class TestStayRecord:
    def test_release_is_planned_two_years_from_the_decision(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        assert stay.planned_release_on == date(2025, 2, 28)

    def test_a_decision_on_a_leap_day_ends_on_28_february(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2024, 2, 29))
        assert stay.planned_release_on == date(2026, 2, 28)

    def test_a_decision_at_a_month_end(self, inmate, facility):
        assert new_stay(inmate, facility, decided=date(2024, 1, 31)).planned_release_on == date(2026, 1, 30)

    def test_it_opens_the_handover_for_the_township_of_residence(self, inmate, facility, places):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        assert stay.handover.township == places["township"]
        assert stay.handover.visible_from == date(2025, 2, 28) - timedelta(days=7)
        assert reload(inmate).status == Status.ISOLATION
        assert inmate.measures.get(kind=MeasureKind.ISOLATION).end_on == date(2025, 2, 28)
        assert inmate.timeline.filter(kind="isolation.stay_recorded").exists()
        assert AuditEntry.objects.filter(action="isolation.stay_recorded").exists()

    def test_a_community_worker_may_not_record_a_stay(self, inmate, personas):
        with pytest.raises(DomainError):
            new_stay(inmate, personas["worker"], decided=date(2023, 3, 1))

    def test_it_refuses_a_second_open_stay(self, inmate, facility):
        new_stay(inmate, facility, decided=date(2023, 3, 1))
        with pytest.raises(DomainError):
            new_stay(inmate, facility, decided=date(2023, 4, 1))

    def test_admission_before_the_decision_is_refused(self, inmate, facility):
        with pytest.raises(DomainError) as err:
            new_stay(inmate, facility, decided=date(2023, 3, 1), admitted=date(2023, 2, 1))
        assert "admitted_on" in err.value.errors


class TestEscapeAndMedicalLeave:
    def test_days_away_after_an_escape_do_not_count(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        services.escape_record(stay=stay, on=date(2023, 6, 10), actor=facility)
        assert reload(stay).state == StayState.ESCAPED
        services.return_record(stay=stay, on=date(2023, 6, 20), actor=facility)
        stay = reload(stay)
        assert stay.planned_release_on == date(2025, 2, 28) + timedelta(days=10)
        assert stay.handover.visible_from == stay.planned_release_on - timedelta(days=7)
        assert inmate.timeline.filter(kind="isolation.return", summary__contains="2025-03-10").exists()

    def test_medical_leave_counts(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        services.medical_leave_start(stay=stay, on=date(2023, 6, 10), actor=facility)
        assert reload(stay).state == StayState.MEDICAL_LEAVE
        services.medical_leave_end(stay=stay, on=date(2023, 8, 10), actor=facility)
        assert reload(stay).planned_release_on == date(2025, 2, 28)

    def test_an_escaped_person_cannot_be_released(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        services.escape_record(stay=stay, on=date(2023, 6, 10), actor=facility)
        with pytest.raises(DomainError):
            services.stay_release(stay=stay, released_on=date(2025, 2, 28), certificate="x", actor=facility)

    def test_a_return_without_an_escape_is_refused(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        with pytest.raises(DomainError):
            services.return_record(stay=stay, on=date(2023, 6, 10), actor=facility)

    def test_an_event_before_the_last_one_is_refused(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        services.medical_leave_start(stay=stay, on=date(2023, 6, 10), actor=facility)
        with pytest.raises(DomainError):
            services.medical_leave_end(stay=stay, on=date(2023, 6, 1), actor=facility)


class TestAssessment:
    def test_domain_results_are_computed_from_the_items(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        item = assess(stay, facility, on=date(2024, 3, 1))
        assert item.results["physical_detox"] == {"total": 95, "result": "pass"}
        assert item.results["social"] == {"total": 75, "result": "good"}
        assert item.passed

    def test_any_physical_item_at_zero_fails_the_domain(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        scores = {**PASSING, "physical_detox": {**PASSING["physical_detox"], "no_psychosis": 0}}
        item = assess(stay, facility, on=date(2024, 3, 1), scores=scores)
        assert item.results["physical_detox"] == {"total": 75, "result": "fail"}
        assert not item.passed

    def test_a_low_social_score_is_fair_and_does_not_fail(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        scores = {**PASSING, "social": {"family_support": 10, "housing_and_income": 10, "social_skills": 10}}
        item = assess(stay, facility, on=date(2024, 3, 1), scores=scores)
        assert item.results["social"]["result"] == "fair"
        assert item.passed

    def test_a_score_above_the_item_maximum_is_refused(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        scores = {**PASSING, "physical_detox": {**PASSING["physical_detox"], "negative_test": 21}}
        with pytest.raises(DomainError) as err:
            assess(stay, facility, on=date(2024, 3, 1), scores=scores)
        assert "physical_detox.negative_test" in err.value.errors

    def test_a_pre_release_assessment_needs_the_three_summaries(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        with pytest.raises(DomainError):
            services.assessment_record(stay=stay, point=AssessmentPoint.PRE_RELEASE, assessed_on=date(2024, 3, 1),
                                       scores=PASSING, doctor="a", psychologist="b", social_worker="c",
                                       outcome=Outcome.ON_TIME, actor=facility)

    def test_early_release_cannot_be_proposed_on_a_fail(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        scores = {**PASSING, "behaviour": {"rules_observed": 10, "treatment_participation": 10,
                                           "education_participation": 10}}
        with pytest.raises(DomainError) as err:
            assess(stay, facility, on=date(2024, 3, 1), scores=scores, outcome=Outcome.PROPOSE_EARLY)
        assert "outcome" in err.value.errors

    def test_the_physical_detox_example_of_the_rule_data(self):
        physical = assessment.scheme().domains[0]
        assert physical.key == "physical_detox" and len(physical.items) == 5
        assert all(i.max == 20 for i in physical.items) and physical.zero_item_fails


class TestEarlyRelease:
    def test_it_is_possible_after_one_year_on_an_assessment(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 1, 10))
        item = assess(stay, facility, on=date(2023, 12, 20), outcome=Outcome.PROPOSE_EARLY)
        with pytest.raises(DomainError) as err:
            services.early_release_decide(stay=stay, decided_on=date(2023, 12, 28), release_on=date(2024, 1, 9),
                                          assessment=item, actor=facility)
        assert "release_on" in err.value.errors
        services.early_release_decide(stay=stay, decided_on=date(2023, 12, 28), release_on=date(2024, 1, 10),
                                      assessment=item, actor=facility)
        stay = reload(stay)
        assert stay.planned_release_on == date(2024, 1, 10)
        stay = services.stay_release(stay=stay, released_on=date(2024, 1, 10), certificate="解除001", actor=facility)
        assert stay.release_kind == ReleaseKind.EARLY

    def test_it_needs_an_assessment_proposing_it(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 1, 10))
        item = assess(stay, facility, on=date(2023, 12, 20), outcome=Outcome.ON_TIME)
        with pytest.raises(DomainError) as err:
            services.early_release_decide(stay=stay, decided_on=date(2024, 2, 1), release_on=date(2024, 3, 1),
                                          assessment=item, actor=facility)
        assert "assessment" in err.value.errors

    def test_never_after_an_escape(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 1, 10))
        services.escape_record(stay=stay, on=date(2023, 5, 1), actor=facility)
        services.return_record(stay=stay, on=date(2023, 5, 3), actor=facility)
        item = assess(stay, facility, on=date(2024, 1, 20), outcome=Outcome.PROPOSE_EARLY)
        with pytest.raises(DomainError, match="Reg 32"):
            services.early_release_decide(stay=stay, decided_on=date(2024, 2, 1), release_on=date(2024, 3, 1),
                                          assessment=item, actor=facility)

    def test_never_for_an_isolation_after_refusal_or_relapse(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 1, 10), no_early_release=True)
        item = assess(stay, facility, on=date(2024, 1, 20), outcome=Outcome.PROPOSE_EARLY)
        with pytest.raises(DomainError, match="Reg 38"):
            services.early_release_decide(stay=stay, decided_on=date(2024, 2, 1), release_on=date(2024, 3, 1),
                                          assessment=item, actor=facility)


class TestExtension:
    def test_it_moves_the_release_by_the_months_given(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 1, 10))
        item = assess(stay, facility, on=date(2024, 12, 1), outcome=Outcome.PROPOSE_EXTENSION)
        services.extension_decide(stay=stay, decided_on=date(2024, 12, 10), months=6, assessment=item,
                                  actor=facility)
        assert reload(stay).planned_release_on == date(2025, 7, 9)

    def test_at_most_one_year_in_all(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 1, 10))
        item = assess(stay, facility, on=date(2024, 12, 1), outcome=Outcome.PROPOSE_EXTENSION)
        with pytest.raises(DomainError):
            services.extension_decide(stay=stay, decided_on=date(2024, 12, 10), months=13, assessment=item,
                                      actor=facility)
        services.extension_decide(stay=stay, decided_on=date(2024, 12, 10), months=8, assessment=item,
                                  actor=facility)
        with pytest.raises(DomainError) as err:
            services.extension_decide(stay=stay, decided_on=date(2025, 6, 1), months=5, assessment=item,
                                      actor=facility)
        assert "months" in err.value.errors
        services.extension_decide(stay=stay, decided_on=date(2025, 6, 1), months=4, assessment=item, actor=facility)
        stay = reload(stay)
        assert stay.planned_release_on == date(2026, 1, 9)
        stay = services.stay_release(stay=stay, released_on=date(2026, 1, 9), certificate="解除", actor=facility)
        assert stay.release_kind == ReleaseKind.EXTENDED


class TestRelease:
    def test_release_on_time_moves_the_person_to_awaiting_report(self, inmate, facility):
        stay = released(inmate, facility, decided=date(2023, 3, 1))
        assert stay.state == StayState.RELEASED and stay.release_kind == ReleaseKind.ON_TIME
        assert reload(inmate).status == Status.AWAITING_REPORT
        assert inmate.measures.get(kind=MeasureKind.ISOLATION).end_on == date(2025, 2, 28)

    def test_release_on_another_day_is_refused(self, inmate, facility):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        with pytest.raises(DomainError) as err:
            services.stay_release(stay=stay, released_on=date(2025, 2, 20), certificate="x", actor=facility)
        assert "released_on" in err.value.errors


class TestHandoverPath:
    """The whole path: release → acknowledgement → pick-up → decision → report → agreement."""

    def walk_to_decision(self, inmate, facility, worker, *, decided: date, received: date):
        stay = new_stay(inmate, facility, decided=decided)
        assess(stay, facility, on=stay.planned_release_on - timedelta(days=20), recommend_community_rehab=True)
        services.handover_packet_update(handover=stay.handover, actor=facility, health_summary="乙肝携带",
                                        risk_notes="无", recommended_plan="社区康复")
        stay = services.stay_release(stay=stay, released_on=stay.planned_release_on, certificate="解除证明001",
                                     actor=facility)
        handover = stay.handover
        services.handover_acknowledge(handover=handover, actor=worker)
        services.handover_pickup(handover=handover, collector_kind="family", collector_name="李母",
                                 collected_on=stay.released_on, collected_from="", actor=worker)
        order = services.handover_decide(handover=handover, kind=OrderKind.COMMUNITY_REHAB,
                                         decided_on=stay.released_on, received_on=received, actor=worker,
                                         term_months=36, authority="曲靖市公安局麒麟分局")
        return reload(handover), order

    def test_the_whole_path(self, inmate, facility, personas):
        worker = personas["worker"]
        handover, order = self.walk_to_decision(inmate, facility, worker, decided=date(2022, 2, 21),
                                                received=date(2024, 2, 20))
        assert handover.collected_from == "曲靖市强制隔离戒毒所"
        assert order.report_deadline == date(2024, 3, 6)
        assert handover.state_on(date(2024, 3, 1)) == HandoverState.DECISION_RECORDED
        agreement = services.handover_report(handover=handover, reported_on=date(2024, 3, 1), actor=worker)
        assert reload(order).state == OrderState.ACTIVE
        assert reload(inmate).status == Status.COMMUNITY_REHAB
        assert agreement.reason == AgreementReason.INITIAL
        assert "社区康复协议书" in agreement.text and inmate.name in agreement.text
        assert "2024年03月01日" in agreement.text
        assert reload(handover).state_on(date(2024, 3, 1)) == HandoverState.REPORTED
        services.agreement_sign(agreement=agreement, signed_on=date(2024, 3, 1), actor=worker)
        assert "签订日期：2024年03月01日" in reload(agreement).text
        assert handover.state_on(date(2024, 3, 1)) == HandoverState.AGREEMENT_SIGNED
        kinds = set(inmate.timeline.values_list("kind", flat=True))
        assert {"isolation.stay_recorded", "isolation.assessed", "isolation.released", "handover.acknowledged",
                "handover.packet_updated", "handover.picked_up", "order.created",
                "order.report_received", "agreement.prepared", "agreement.signed"} <= kinds

    def test_a_deadline_on_national_day_moves_past_the_holiday(self, inmate, facility, personas):
        _, order = self.walk_to_decision(inmate, facility, personas["worker"], decided=date(2022, 9, 17),
                                         received=date(2024, 9, 16))
        assert order.report_deadline == date(2024, 10, 8)

    def test_a_deadline_on_a_leap_day(self, inmate, facility, personas):
        _, order = self.walk_to_decision(inmate, facility, personas["worker"], decided=date(2022, 2, 15),
                                         received=date(2024, 2, 14))
        assert order.report_deadline == date(2024, 2, 29)

    def test_a_late_report_is_overdue_first_and_recorded_late(self, inmate, facility, personas):
        worker = personas["worker"]
        handover, order = self.walk_to_decision(inmate, facility, worker, decided=date(2022, 2, 21),
                                                received=date(2024, 2, 20))
        assert handover.state_on(date(2024, 3, 7)) == HandoverState.OVERDUE
        services.handover_report(handover=handover, reported_on=date(2024, 3, 20), actor=worker)
        assert AuditEntry.objects.filter(action="order.report_received").latest("id").detail["late"] is True

    def test_the_inbox_shows_the_packet_from_its_date_to_the_township_only(self, inmate, facility, personas):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        worker, neighbour = personas["worker"], personas["neighbour"]
        assert list(selectors.inbox(user=worker, today=date(2025, 2, 20))) == []
        assert list(selectors.inbox(user=worker, today=date(2025, 2, 21))) == [stay.handover]
        assert stay.handover.state_on(date(2025, 2, 21)) == HandoverState.IN_INBOX
        assert stay.handover.state_on(date(2025, 2, 20)) == HandoverState.UPCOMING
        assert list(selectors.inbox(user=neighbour, today=date(2025, 2, 21))) == []
        with pytest.raises(DomainError):
            services.handover_acknowledge(handover=stay.handover, actor=neighbour)

    def test_pickup_needs_acknowledgement_and_release(self, inmate, facility, personas):
        worker = personas["worker"]
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        with pytest.raises(DomainError, match="Acknowledge"):
            services.handover_pickup(handover=stay.handover, collector_kind="family", collector_name="x",
                                     collected_on=date(2025, 2, 28), collected_from="", actor=worker)
        services.handover_acknowledge(handover=stay.handover, actor=worker)
        with pytest.raises(DomainError, match="release"):
            services.handover_pickup(handover=stay.handover, collector_kind="family", collector_name="x",
                                     collected_on=date(2025, 2, 28), collected_from="", actor=worker)

    def test_an_unknown_collector_kind_is_refused(self, inmate, facility, personas):
        worker = personas["worker"]
        stay = released(inmate, facility, decided=date(2023, 3, 1))
        services.handover_acknowledge(handover=stay.handover, actor=worker)
        with pytest.raises(DomainError) as err:
            services.handover_pickup(handover=stay.handover, collector_kind="friend", collector_name="x",
                                     collected_on=date(2025, 2, 28), collected_from="", actor=worker)
        assert "collector_kind" in err.value.errors


class TestAgreement:
    def test_a_transfer_agreement_says_so(self, inmate, facility, personas):
        worker = personas["worker"]
        stay = released(inmate, facility, decided=date(2022, 2, 21))
        order = services.handover_decide(handover=stay.handover, kind=OrderKind.COMMUNITY_DRUG_REHAB,
                                         decided_on=date(2024, 2, 20), received_on=date(2024, 2, 20), actor=worker)
        agreement = services.agreement_prepare(order=order, actor=worker, reason="transfer")
        assert "社区戒毒协议书" in agreement.text and "变更执行地" in agreement.text

    def test_it_cannot_be_signed_twice(self, inmate, facility, personas):
        worker = personas["worker"]
        stay = released(inmate, facility, decided=date(2022, 2, 21))
        services.handover_decide(handover=stay.handover, kind=OrderKind.COMMUNITY_DRUG_REHAB,
                                 decided_on=date(2024, 2, 20), received_on=date(2024, 2, 20), actor=worker)
        agreement = services.handover_report(handover=reload(stay.handover), reported_on=date(2024, 3, 1),
                                             actor=worker)
        services.agreement_sign(agreement=agreement, signed_on=date(2024, 3, 1), actor=worker)
        with pytest.raises(DomainError):
            services.agreement_sign(agreement=agreement, signed_on=date(2024, 3, 2), actor=worker)
