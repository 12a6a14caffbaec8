"""The obligations a community order plans: the report, then one drug test per test period.

Registered with the obligations engine under ``SOURCE`` (apps.ready). The term counts from the
day of reporting (``periods.term_end``); each closed suspension moves the rest of the schedule
and the term's end by its length; while a suspension is open no test falls due after its start.
A terminated or transferred order plans nothing that would open after it ended.
"""

from __future__ import annotations

from datetime import date

from liangyi.core import periods
from liangyi.core.rules import RuleSet
from liangyi.obligations.engine import Planned
from liangyi.obligations.models import Kind
from liangyi.obligations.schedules import drug_test_periods
from liangyi.people.models import Person
from liangyi.supervision.models import CommunityOrder, OrderState

SOURCE = "supervision.orders"


def closed_spans(order: CommunityOrder) -> list[tuple[date, date]]:
    return [(s.start, s.end) for s in order.suspensions.all() if s.end is not None]


def open_suspension_start(order: CommunityOrder) -> date | None:
    return next((s.start for s in order.suspensions.all() if s.end is None), None)


def unsuspended_term_end(order: CommunityOrder) -> date:
    assert order.reported_on is not None
    return periods.term_end(order.reported_on, months=order.term_months)


def term_end(order: CommunityOrder) -> date:
    """The term's last day: the unsuspended end moved on by every closed suspension before it."""
    end = unsuspended_term_end(order)
    for start, stop in sorted(closed_spans(order)):
        if end >= start:
            end += stop - start
    return end


def _order_plan(order: CommunityOrder, ruleset: RuleSet, horizon: date) -> list[Planned]:
    plan = [Planned(kind=Kind.REPORT, key=f"report:{order.pk}", due_on=order.report_deadline,
                    window_start=order.received_on, window_end=order.report_deadline,
                    office=order.office_id, worker=order.worker_id)]
    if order.reported_on is None:
        return plan
    stop = open_suspension_start(order)
    ended = order.ended_on if order.state in (OrderState.TERMINATED, OrderState.TRANSFERRED) else None
    for p in drug_test_periods(order.reported_on, unsuspended_term_end(order), ruleset, closed_spans(order)):
        if p.due_on > horizon or (stop and p.due_on >= stop) or (ended and p.window_start > ended):
            continue
        plan.append(Planned(kind=Kind.DRUG_TEST, key=f"drug_test:{order.pk}:m{p.offset:02d}", due_on=p.due_on,
                            window_start=p.window_start, window_end=p.due_on, office=order.office_id,
                            worker=order.worker_id))
    return plan


def order_obligations(person: Person, ruleset: RuleSet, horizon: date) -> list[Planned]:
    """Generator ``supervision.orders``: every order's report and drug tests."""
    orders = CommunityOrder.objects.filter(person=person).prefetch_related("suspensions").order_by("received_on")
    return [item for order in orders for item in _order_plan(order, ruleset, horizon)]
