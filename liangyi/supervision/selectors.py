"""Reads of the supervision chain, scoped through the access policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet

from liangyi.core import access, periods
from liangyi.core import rules as core_rules
from liangyi.core.models import User
from liangyi.core.rules import RuleSet
from liangyi.people.models import Person
from liangyi.supervision.models import (
    RUNNING_STATES,
    CommunityOrder,
    DrugTest,
    Escalation,
    EscalationState,
    Result,
)


def order_current(person: Person) -> CommunityOrder | None:
    """The person's running order (awaiting report, active or suspended), if any."""
    return CommunityOrder.objects.filter(person=person, state__in=RUNNING_STATES).first()


def escalations_of(*, user: User | None, person: Person) -> QuerySet[Escalation]:
    return access.visible(user, Escalation).filter(person=person).select_related("order", "decided_by")


def escalations_open(*, user: User | None) -> QuerySet[Escalation]:
    """Cases waiting for a police decision in the user's reach, the oldest first."""
    return (access.visible(user, Escalation).filter(state=EscalationState.OPEN)
            .select_related("person", "order").order_by("opened_on", "id"))


@dataclass(frozen=True)
class AbstinenceClock:
    """The three-years-without-relapse clock (Reg 7): from when it runs, and when it reaches the goal."""

    starts_on: date
    reaches_on: date
    basis: str  # "relapse" (the last positive test) or "report" (the day of reporting)

    def days_left(self, on: date) -> int:
        return max((self.reaches_on - on).days, 0)

    def reached(self, on: date) -> bool:
        return on >= self.reaches_on


def abstinence_clock(person: Person, *, ruleset: RuleSet | None = None) -> AbstinenceClock | None:
    """The clock, per the rule set's ``abstinence_clock_start`` (an open rule): the day of the last
    positive test, else the day of the first report of the person's community orders; None before any."""
    ruleset = ruleset or core_rules.current()
    start_rule = ruleset.value("abstinence_clock_start")
    if start_rule != "last_relapse_or_report":
        raise core_rules.RuleSetError(f"abstinence_clock_start: unknown value {start_rule!r}")
    last_positive = (DrugTest.objects.filter(person=person, result=Result.POSITIVE)
                     .order_by("-tested_on").values_list("tested_on", flat=True).first())
    first_report = (CommunityOrder.objects.filter(person=person).exclude(reported_on=None)
                    .order_by("reported_on").values_list("reported_on", flat=True).first())
    if last_positive is None and first_report is None:
        return None
    starts, basis = (last_positive, "relapse") if last_positive else (first_report, "report")
    years = int(ruleset.value("abstinence_close_years"))
    return AbstinenceClock(starts_on=starts, reaches_on=periods.add_months(starts, 12 * years), basis=basis)


def orders_of(*, user: User | None, person: Person) -> QuerySet[CommunityOrder]:
    return (access.visible(user, CommunityOrder).filter(person=person)
            .select_related("office", "worker").prefetch_related("suspensions", "transfers"))


def escalations_in_reach(*, user: User | None, state: str | None = None) -> QuerySet[Escalation]:
    qs = access.visible(user, Escalation).select_related("person", "person__jurisdiction", "order", "order__office",
                                                         "decided_by")
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("state", "opened_on", "id")
