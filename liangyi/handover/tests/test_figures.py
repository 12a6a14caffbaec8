from __future__ import annotations

from datetime import date

import pytest

from liangyi.demo import factories
from liangyi.handover import selectors, services
from liangyi.handover.tests.conftest import new_stay
from liangyi.people.models import Status
from liangyi.supervision.models import OrderKind

pytestmark = pytest.mark.django_db


def walk(person, facility, worker, *, decided: date, pickup: date | None, reported: date | None):
    stay = new_stay(person, facility, decided=decided)
    stay = services.stay_release(stay=stay, released_on=stay.planned_release_on, certificate="c", actor=facility)
    handover = stay.handover
    services.handover_acknowledge(handover=handover, actor=worker)
    if pickup:
        services.handover_pickup(handover=handover, collector_kind="family", collector_name="家属",
                                 collected_on=pickup, collected_from="", actor=worker)
    services.handover_decide(handover=handover, kind=OrderKind.COMMUNITY_REHAB, decided_on=stay.released_on,
                             received_on=stay.released_on, actor=worker, term_months=36)
    if reported:
        handover.refresh_from_db()
        services.handover_report(handover=handover, reported_on=reported, actor=worker)
    return stay


@pytest.fixture
def dataset(places, personas, facility):
    t1, t2, far = places["township"], places["neighbour"], places["other_township"]
    worker, neighbour = personas["worker"], personas["neighbour"]
    far_worker = factories.user("far", "community_worker", far)
    person = lambda where, name: factories.person(where, name=name, status=Status.ISOLATION)  # noqa: E731
    # In time, picked up on release day: 4 days to report.
    walk(person(t1, "甲"), facility, worker, decided=date(2022, 3, 2), pickup=date(2024, 3, 1),
         reported=date(2024, 3, 5))
    # Picked up 3 days late, reported late: 22 days.
    walk(person(t1, "乙"), facility, worker, decided=date(2022, 3, 11), pickup=date(2024, 3, 13),
         reported=date(2024, 4, 1))
    # Neighbouring township: never picked up, never reported (deadline on Qingming, moved to 2024-04-07).
    stay = walk(person(t2, "丙"), facility, neighbour, decided=date(2022, 3, 21), pickup=None, reported=None)
    stay.handover.refresh_from_db()
    assert stay.handover.order.report_deadline == date(2024, 4, 7)
    # Another county: outside the leader's reach.
    walk(person(far, "丁"), facility, far_worker, decided=date(2022, 3, 3), pickup=date(2024, 3, 2), reported=None)
    # Released outside the period.
    walk(person(t1, "戊"), facility, worker, decided=date(2022, 5, 2), pickup=date(2024, 5, 1),
         reported=date(2024, 5, 2))


class TestFigures:
    def test_per_township_and_total(self, dataset, personas, places):
        rows = selectors.figures(user=personas["leader"], start=date(2024, 3, 1), end=date(2024, 3, 31),
                                 today=date(2026, 1, 1))
        by = {(r.jurisdiction.code if r.jurisdiction else None): r for r in rows}
        assert set(by) == {places["township"].code, places["neighbour"].code, None}
        t1 = by[places["township"].code]
        assert (t1.released, t1.handed_over, t1.reported_in_time, t1.median_days_to_report, t1.overdue_now) == (
            2, 1, 1, 13, 0)
        assert t1.handover_rate == 0.5 and t1.report_rate == 0.5
        t2 = by[places["neighbour"].code]
        assert (t2.released, t2.handed_over, t2.reported_in_time, t2.median_days_to_report, t2.overdue_now) == (
            1, 0, 0, None, 1)
        total = by[None]
        assert (total.released, total.handed_over, total.reported_in_time, total.overdue_now) == (3, 1, 1, 1)

    def test_overdue_counts_only_past_the_deadline(self, dataset, personas):
        rows = selectors.figures(user=personas["leader"], start=date(2024, 3, 1), end=date(2024, 3, 31),
                                 today=date(2024, 4, 7))
        assert rows[-1].overdue_now == 0

    def test_a_role_without_figures_sees_none(self, dataset, personas):
        assert selectors.figures(user=personas["health"], start=date(2024, 1, 1), end=date(2024, 12, 31),
                                 today=date(2026, 1, 1)) == []
