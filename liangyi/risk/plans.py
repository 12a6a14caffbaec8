"""The reassessment obligations a risk grading plans (generator ``risk.reassessment``).

A person whose community order is running (reported and active: the supervision chain's
``CommunityOrder``) owes a first grading ``risk_first_assessment_days`` after reporting, then a
regrading every ``reassessment_interval_months`` of their effective level after the last
grading. Any grading meets the open reassessment (services._grade), and the next sync plans the
one after it; the key names the grading it follows, so a new grading retires the old plan
instead of moving a fulfilled row.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from liangyi.core.periods import add_months
from liangyi.core.rules import RuleSet
from liangyi.obligations.engine import Planned
from liangyi.obligations.models import Kind
from liangyi.people.models import Person
from liangyi.supervision.models import CommunityOrder, OrderState

SOURCE = "risk.reassessment"


def reassessments(person: Person, ruleset: RuleSet, horizon: date) -> list[Planned]:
    from liangyi.risk import selectors

    order = (CommunityOrder.objects.filter(person=person, state=OrderState.ACTIVE, reported_on__isnull=False)
             .order_by("-reported_on", "-id").first())
    if order is None:
        return []  # no running term (suspended, ended, or not reported): nothing to reassess
    today = timezone.localdate()
    latest = selectors.grading_on(person, today)
    if latest is None or latest.graded_on < order.reported_on:
        opens = order.reported_on
        due = order.reported_on + timedelta(days=int(ruleset.value("risk_first_assessment_days")))
        key = f"reassessment:first:{order.pk}"
    else:
        effective = selectors.effective(person, today)
        interval = effective.rules.control[effective.level_key]["reassessment_interval_months"] \
            if effective.rules and effective.level_key in effective.rules.control else None
        if interval is None:
            return []
        opens = latest.graded_on + timedelta(days=1)
        due = add_months(latest.graded_on, int(interval))
        key = f"reassessment:after:{latest.pk}"
    if due > horizon:
        return []
    return [Planned(kind=Kind.REASSESSMENT, key=key, due_on=due, window_start=min(opens, due), window_end=due,
                    office=order.office_id, worker=order.worker_id)]
