"""The demo city's medical insurance, recorded through the medical chain's services: most persons
under a running term pay every year (some with medical assistance), some are insured through an
employer, and some are in arrears, so the worklists hold renewals due, overdue and done.

Call after ``supervision.populate`` (it needs the running orders)::

    medical.populate(today=today, rng=city.rng, users=users)
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from typing import Any

from liangyi.core import rules as core_rules
from liangyi.core.models import User
from liangyi.medical import plans, services
from liangyi.medical.models import Scheme
from liangyi.obligations import engine
from liangyi.supervision.models import RUNNING_STATES, CommunityOrder

# Shares of the running terms by story (the rest pay every year themselves).
EMPLOYED, SUBSIDISED, IN_ARREARS = 0.08, 0.15, 0.2


def _paid_on(rng: random.Random, year: int, today: date) -> date | None:
    """A day in the collection period for ``year``, or None when that period has not begun."""
    opens, closes = plans.collection_window(core_rules.current(), year)
    last = min(closes, today)
    if last < opens:
        return None
    return date.fromordinal(rng.randint(opens.toordinal(), last.toordinal()))


def populate(*, today: date, rng: random.Random, users: dict[str, User]) -> dict[str, Any]:
    counts: Counter = Counter()
    orders = (CommunityOrder.objects.filter(state__in=RUNNING_STATES, reported_on__isnull=False)
              .select_related("person").order_by("reported_on", "pk"))
    for order in orders:
        person = order.person
        actor = users.get(f"worker_{person.jurisdiction_id[:9]}")
        if actor is None:
            continue
        engine.sync(person, actor=actor, only=[plans.SOURCE])  # the renewals the term owes so far
        draw = rng.random()
        first = order.reported_on.year
        if draw < EMPLOYED:
            services.year_record(person=person, year=today.year, scheme=Scheme.EMPLOYEE,
                                 paid_on=min(date(today.year, 1, 15), today), actor=actor, notes="用工单位缴纳")
            counts["employed"] += 1
            continue
        arrears = draw < EMPLOYED + IN_ARREARS
        subsidised = not arrears and draw < EMPLOYED + IN_ARREARS + SUBSIDISED
        for year in range(first, today.year + 2):
            last_year = year >= today.year
            if arrears and last_year:
                if year == today.year:
                    services.year_record(person=person, year=year, scheme=Scheme.NONE, paid_on=None, actor=actor,
                                         notes="家属未按期缴费")
                continue
            paid_on = order.reported_on if year == first else _paid_on(rng, year, today)
            if paid_on is None or (year == today.year + 1 and rng.random() < 0.5):
                continue  # next year's period not begun, or not paid yet: the renewal stays open
            services.year_record(person=person, year=year, scheme=Scheme.RESIDENT, paid_on=paid_on, actor=actor,
                                 subsidised=subsidised, notes="医疗救助资助参保" if subsidised else "")
            counts["years_paid"] += 1
        counts["in_arrears" if arrears else ("subsidised" if subsidised else "paying")] += 1
    return dict(counts)
