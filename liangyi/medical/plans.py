"""The yearly insurance renewal a running community term plans (generator ``medical.insurance``).

For each calendar year Y of the term after the report, the residents' contribution for Y is due in
the collection period of year Y-1 (rule ``insurance_collection_window``: first and last month-day).
The renewal is not planned for a year already paid, nor while the person is insured through an
employer (the latest year on record is the employees' scheme), because the employer pays monthly.
Only the current order's office and worker are responsible; the key names the order and the year,
so a re-run finds the same obligation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from liangyi.core.rules import RuleSet
from liangyi.obligations.engine import Planned
from liangyi.obligations.models import Kind
from liangyi.people.models import Person

SOURCE = "medical.insurance"


def collection_window(ruleset: RuleSet, year_covered: int) -> tuple[date, date]:
    """The first and last day to pay for ``year_covered`` (both in the year before it)."""
    first, last = ruleset.value("insurance_collection_window")
    before = year_covered - 1

    def on(month_day: str) -> date:
        month, day = (int(part) for part in month_day.split("-"))
        return date(before, month, day)

    return on(first), on(last)


def renewal_key(order_pk: int, year: int) -> str:
    return f"insurance:{order_pk}:{year}"


def _plan(order, records: dict[int, object], ruleset: RuleSet, horizon: date) -> list[Planned]:
    from liangyi.supervision.plans import term_end

    if order is None or order.reported_on is None or not order.is_running:
        return []
    end = term_end(order)
    plan = []
    year = order.reported_on.year + 1
    while True:
        opens, due = collection_window(ruleset, year)
        if due > horizon or opens > end:
            break
        record = records.get(year)
        latest = max((r for y, r in records.items() if y <= year), key=lambda r: r.year, default=None)
        paid = record is not None and record.insured and record.paid_on is not None
        by_employer = latest is not None and latest.scheme == "employee"
        if not (paid or by_employer):
            plan.append(Planned(kind=Kind.INSURANCE_RENEWAL, key=renewal_key(order.pk, year), due_on=due,
                                window_start=opens, window_end=due, office=order.office_id, worker=order.worker_id))
        year += 1
    return plan


def renewals(person: Person, ruleset: RuleSet, horizon: date) -> list[Planned]:
    from liangyi.supervision.selectors import order_current

    return _plan(order_current(person), {r.year: r for r in person.insurance_years.all()}, ruleset, horizon)


def renewals_many(persons: Sequence[Person], ruleset: RuleSet, horizon: date,
                  since: date | None = None) -> dict[Any, list[Planned]]:
    """The batched form of ``renewals`` (``engine.sync_many``): two queries per chunk; none when
    no collection period ends in the window after ``since`` (a night's window, most nights)."""
    from liangyi.medical.models import InsuranceYear
    from liangyi.supervision.models import RUNNING_STATES, CommunityOrder

    if since is not None and not any(since < collection_window(ruleset, year)[1] <= horizon
                                      for year in range(since.year, horizon.year + 2)):
        return {}
    ids = [p.pk for p in persons]
    orders = {o.person_id: o for o in CommunityOrder.objects.filter(person_id__in=ids, state__in=RUNNING_STATES,
                                                                    reported_on__isnull=False)
              .prefetch_related("suspensions")}
    records: dict[Any, dict[int, InsuranceYear]] = {}
    for record in InsuranceYear.objects.filter(person_id__in=list(orders)):
        records.setdefault(record.person_id, {})[record.year] = record
    return {pk: _plan(order, records.get(pk, {}), ruleset, horizon) for pk, order in orders.items()}


renewals.many = renewals_many  # type: ignore[attr-defined]  # engine.register reads it
