"""The reassessment obligations a risk grading plans (generator ``risk.reassessment``).

A person whose community order is running (reported and active: the supervision chain's
``CommunityOrder``) owes a first grading ``risk_first_assessment_days`` after reporting, then a
regrading every ``reassessment_interval_months`` of their effective level after the last
grading. Any grading meets the open reassessment (services._grade), and the next sync plans the
one after it; the key names the grading it follows, so a new grading retires the old plan
instead of moving a fulfilled row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from liangyi.core.periods import add_months
from liangyi.core.rules import RuleSet
from liangyi.obligations.engine import Planned
from liangyi.obligations.models import Kind
from liangyi.people.models import Person
from liangyi.risk.selectors import level_changes
from liangyi.supervision.models import CommunityOrder, OrderState

SOURCE = "risk.reassessment"


def reassessments(person: Person, ruleset: RuleSet, horizon: date) -> list[Planned]:
    from liangyi.risk import selectors

    order = (CommunityOrder.objects.filter(person=person, state=OrderState.ACTIVE, reported_on__isnull=False)
             .order_by("-reported_on", "-id").first())
    if order is None:
        return []  # no running term (suspended, ended, or not reported): nothing to reassess
    today = timezone.localdate()
    return _plan(order, selectors.grading_on(person, today), lambda: selectors.effective(person, today), ruleset,
                 horizon)


def _plan(order: CommunityOrder, latest: Any, effective: Callable[[], Any], ruleset: RuleSet,
          horizon: date) -> list[Planned]:
    if latest is None or latest.graded_on < order.reported_on:
        opens = order.reported_on
        due = order.reported_on + timedelta(days=int(ruleset.value("risk_first_assessment_days")))
        key = f"reassessment:first:{order.pk}"
    else:
        level = effective()
        interval = level.rules.control[level.level_key]["reassessment_interval_months"] \
            if level.rules and level.level_key in level.rules.control else None
        if interval is None:
            return []
        opens = latest.graded_on + timedelta(days=1)
        due = add_months(latest.graded_on, int(interval))
        key = f"reassessment:after:{latest.pk}"
    if due > horizon:
        return []
    return [Planned(kind=Kind.REASSESSMENT, key=key, due_on=due, window_start=min(opens, due), window_end=due,
                    office=order.office_id, worker=order.worker_id)]


def effective_many(person_ids: Iterable[Any], on: date) -> dict[Any, Any]:
    """``selectors.effective(person, on)`` for many persons in two queries (missing: ungraded)."""
    from liangyi.risk import selectors
    from liangyi.risk.models import Grading, Override

    ids = list(set(person_ids))
    latest: dict[Any, Any] = {}
    for grading in Grading.objects.filter(person_id__in=ids, graded_on__lte=on).order_by("person_id", "-graded_on",
                                                                                          "-id"):
        latest.setdefault(grading.person_id, grading)
    overrides: dict[Any, list] = defaultdict(list)
    for override in (Override.objects.filter(person_id__in=list(latest), starts_on__lte=on, expires_on__gte=on)
                     .order_by("person_id", "-starts_on", "-id")):
        overrides[override.person_id].append(override)
    rules = {key: selectors.rules_of(key) for key in {g.ruleset for g in latest.values()}}
    ungraded = selectors.Effective(None, None, None)
    found: dict[Any, Any] = defaultdict(lambda: ungraded)
    for person_id, grading in latest.items():
        override = next((o for o in overrides[person_id] if o.ruleset == grading.ruleset and o.active_on(on)), None)
        found[person_id] = selectors.Effective(grading, override, rules[grading.ruleset])
    return found


def longest_interval_months() -> int:
    """The longest reassessment interval of any level in any grading rule set there is."""
    from liangyi.risk import grading

    longest = 0
    for path in grading.RULES_DIR.glob("risk_grading_*.toml"):
        rules = grading.load(path.stem)
        longest = max([longest, *(c["reassessment_interval_months"] for c in rules.control.values())])
    return longest


def reassessments_many(persons: Sequence[Person], ruleset: RuleSet, horizon: date,
                       since: date | None = None) -> dict[Any, list[Planned]]:
    """The batched form of ``reassessments`` (``engine.sync_many``): three queries per chunk. With
    ``since``, only the running terms whose next reassessment can fall due after it are read: the
    first one (``risk_first_assessment_days`` after reporting) or one after a grading made less
    than the longest interval before ``since``."""
    from liangyi.risk.models import Grading

    running: dict[Any, CommunityOrder] = {}
    orders = CommunityOrder.objects.filter(person_id__in=[p.pk for p in persons], state=OrderState.ACTIVE,
                                           reported_on__isnull=False)
    if since is not None:
        first = since - timedelta(days=int(ruleset.value("risk_first_assessment_days")))
        # add_months(graded_on, m) > since needs graded_on > since - m months > since - (31 m + 1) days.
        recent = since - timedelta(days=31 * longest_interval_months() + 1)
        orders = orders.filter(Q(reported_on__gt=first) | Exists(
            Grading.objects.filter(person_id=OuterRef("person_id"), graded_on__gt=recent)))
    for order in orders.order_by("person_id", "-reported_on", "-id"):
        running.setdefault(order.person_id, order)
    today = timezone.localdate()
    levels = effective_many(running, today)
    return {person_id: _plan(order, levels[person_id].grading, lambda e=levels[person_id]: e, ruleset, horizon)
            for person_id, order in running.items()}


reassessments.many = reassessments_many  # type: ignore[attr-defined]  # engine.register reads it
# The interval to the next reassessment follows the level in force today, which the calendar can change.
reassessments.calendar_moves = level_changes  # type: ignore[attr-defined]
