"""The obligations a community order plans: the report, then per period of the term a drug test,
a face-to-face check, a home visit and a plan review (intervals from the rule set; a risk level
can tighten the test interval through ``liangyi.risk.control``); after a change of execution
place, the report to the new township.

Registered with the obligations engine under ``SOURCE`` (apps.ready). The term counts from the
day of reporting (``periods.term_end``); each closed suspension moves the rest of the schedule
and the term's end by its length; while a suspension is open no test falls due after its start.
A terminated or transferred order plans nothing that would open after it ended.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from liangyi.core import periods
from liangyi.core.rules import RuleSet
from liangyi.obligations.engine import Planned
from liangyi.obligations.models import Kind
from liangyi.obligations.schedules import Period, drug_test_periods, interval_months, interval_periods
from liangyi.people.models import Person
from liangyi.risk.selectors import level_changes
from liangyi.supervision.models import CommunityOrder, OrderState, OrderTransfer

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


def test_intervals(order: CommunityOrder, ruleset: RuleSet, on: date) -> tuple[int, ...]:
    """The rule set's test interval per year of the term, tightened by the person's risk level."""
    from liangyi.risk import control

    return tuple(control.test_interval_months(order.person, default, on) for default in interval_months(ruleset))


def tightened(defaults: tuple[int, ...], effective: Any) -> tuple[int, ...]:
    """``test_intervals`` from a level already read (``risk.plans.effective_many``): what
    ``risk.control.test_interval_months`` does per year of the term, without a query each."""
    interval = None
    if effective.level_key is not None and effective.rules is not None:
        interval = effective.rules.control.get(effective.level_key, {}).get("test_interval_months")
    return tuple(default if interval is None else min(default, interval) for default in defaults)


# Contact kinds planned per order: (obligation kind, rule giving the interval in months).
CONTACT_RULES = (
    (Kind.CHECK_IN, "check_in_interval_months"),
    (Kind.HOME_VISIT, "home_visit_interval_months"),
    (Kind.PLAN_REVIEW, "plan_review_interval_months"),
)


def _periodic(order: CommunityOrder, kind: str, periods: list[Period], horizon: date, since: date | None,
              stop: date | None, ended: date | None) -> list[Planned]:
    """One obligation per period, but none falling due after ``horizon``, from the start of an open
    suspension (``stop``), or opening after the order ``ended``."""
    if since is not None:  # the periods are in due-date order: skip those due on or before ``since``
        periods = periods[bisect_right(periods, since, key=_due):]
    return [Planned(kind=kind, key=f"{kind}:{order.pk}:m{p.offset:02d}", due_on=p.due_on,
                    window_start=p.window_start, window_end=p.due_on, office=order.office_id, worker=order.worker_id)
            for p in periods
            if not (p.due_on > horizon or (stop and p.due_on >= stop) or (ended and p.window_start > ended))]


def _order_plan(order: CommunityOrder, ruleset: RuleSet, horizon: date, on: date,
                intervals: tuple[int, ...] | None = None, since: date | None = None) -> list[Planned]:
    plan = [Planned(kind=Kind.REPORT, key=f"report:{order.pk}", due_on=order.report_deadline,
                    window_start=order.received_on, window_end=order.report_deadline,
                    office=order.office_id, worker=order.worker_id)]
    if order.reported_on is None:
        return plan
    for transfer in order.transfers.all():
        # Reporting to the new township after a change of execution place (Reg 22).
        plan.append(Planned(kind=Kind.REPORT, key=f"transfer_report:{transfer.pk}", due_on=transfer.report_by,
                            window_start=transfer.on, window_end=transfer.report_by, office=transfer.to_office_id,
                            worker=order.worker_id))
    start, end, spans = order.reported_on, unsuspended_term_end(order), closed_spans(order)
    stop = open_suspension_start(order)
    ended = order.ended_on if order.state in (OrderState.TERMINATED, OrderState.TRANSFERRED) else None
    tests = drug_test_periods(start, end, ruleset, spans, intervals=intervals or test_intervals(order, ruleset, on))
    plan += _periodic(order, Kind.DRUG_TEST, tests, horizon, since, stop, ended)
    for kind, rule in CONTACT_RULES:
        months = int(ruleset.value(rule))
        plan += _periodic(order, kind, interval_periods(start, end, (months,), spans), horizon, since, stop, ended)
    return plan


def order_obligations(person: Person, ruleset: RuleSet, horizon: date) -> list[Planned]:
    """Generator ``supervision.orders``: every order's report, drug tests, check-ins, home visits and
    plan reviews (each obligation records the rule-set version that planned it)."""
    orders = (CommunityOrder.objects.filter(person=person).select_related("person")
              .prefetch_related("suspensions", "transfers").order_by("received_on"))
    on = timezone.localdate()
    return [item for order in orders for item in _order_plan(order, ruleset, horizon, on)]


def order_obligations_many(persons: Sequence[Person], ruleset: RuleSet, horizon: date,
                           since: date | None = None) -> dict[Any, list[Planned]]:
    """The batched form of ``order_obligations`` (``engine.sync_many``): the chunk's orders with their
    suspensions and transfers in three queries, every person's risk level in two; with ``since``,
    the periods due by then are skipped without being built."""
    from liangyi.risk.plans import effective_many

    by_pk = {p.pk: p for p in persons}
    orders = CommunityOrder.objects.filter(person_id__in=list(by_pk))
    if since is not None:
        # Nothing of an order falls due after ``since`` once its term ended by then (``term_ends_on``
        # includes every closed suspension; no period is due after it) and its report deadlines passed.
        orders = orders.filter(Q(term_ends_on=None) | Q(term_ends_on__gt=since) | Q(report_deadline__gt=since)
                               | Exists(OrderTransfer.objects.filter(order=OuterRef("pk"), report_by__gt=since)))
    orders = list(orders.prefetch_related("suspensions", "transfers").order_by("person_id", "received_on", "pk"))
    on = timezone.localdate()
    levels = effective_many([o.person_id for o in orders if o.reported_on is not None], on)
    defaults = interval_months(ruleset)
    plans: dict[Any, list[Planned]] = defaultdict(list)
    for order in orders:
        order.person = by_pk[order.person_id]
        intervals = tightened(defaults, levels[order.person_id]) if order.reported_on is not None else None
        plans[order.person_id] += _order_plan(order, ruleset, horizon, on, intervals=intervals, since=since)
    return plans


def _due(period: Period) -> date:
    return period.due_on


order_obligations.many = order_obligations_many  # type: ignore[attr-defined]  # engine.register reads it
# The test interval follows the risk level in force today, which the calendar alone can change.
order_obligations.calendar_moves = level_changes  # type: ignore[attr-defined]
