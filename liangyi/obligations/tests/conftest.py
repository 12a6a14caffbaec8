"""What the obligations tests share: a small province with persons in every situation the planners know."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from django.utils import timezone

from liangyi.core import rules as core_rules
from liangyi.demo import factories
from liangyi.obligations import engine
from liangyi.obligations.models import Obligation
from liangyi.people.models import Measure, MeasureKind, Status
from liangyi.risk import grading
from liangyi.risk.models import Grading, Override
from liangyi.supervision import services as supervision
from liangyi.supervision.models import OrderKind

TODAY = timezone.localdate()
HORIZON = TODAY + timedelta(days=engine.DEFAULT_HORIZON_DAYS)


def ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def snapshot() -> list[tuple]:
    """Everything a plan decides or a worker closed, without ids and timestamps."""
    return sorted(Obligation.objects.values_list(
        "person_id", "source", "key", "kind", "due_on", "window_start", "window_end", "office_id", "worker_id",
        "ruleset_version", "done_on", "waived_reason", "person_place"))


def with_version(version: str):
    current = core_rules.current()
    rules = dict(current.rules)
    for key, months in (("test_interval_months_year1", 2), ("test_interval_months_year2", 1)):
        rules[key] = replace(rules[key], value=months)
    return core_rules.RuleSet(name=current.name, version=version, rules=rules)


@pytest.fixture
def province(places, personas):
    """Persons in every situation the planners know: running, suspended and resumed, awaiting their
    report, transferred, terminated, graded high with and without an override, on an interim
    measure, and with nothing at all."""
    worker, leader = personas["worker"], factories.user("city_worker", "community_worker", places["city"])
    made = []

    def order(name: str, *, reported_days_ago: int | None, where=places["village"]):
        person = factories.person(where, name=name, status=Status.COMMUNITY_DRUG_REHAB, responsible_worker=worker)
        received = ago((reported_days_ago or 0) + 3)
        order = supervision.order_create(person=person, kind=OrderKind.COMMUNITY_DRUG_REHAB, decided_on=received,
                                         received_on=received, actor=leader)
        if reported_days_ago is not None:
            order = supervision.report_receive(order=order, reported_on=ago(reported_days_ago), actor=leader)
        made.append(person)
        return person, order

    order("甲", reported_days_ago=100)
    order("乙", reported_days_ago=None)
    _p, suspended = order("丙", reported_days_ago=300)
    supervision.order_suspend(order=suspended, start=ago(200), reason="detention", actor=leader)
    supervision.order_resume(order=suspended, on=ago(150), actor=leader)
    _p, held = order("丁", reported_days_ago=250)
    supervision.order_suspend(order=held, start=ago(20), reason="detention", actor=leader)
    _p, moved = order("戊", reported_days_ago=120)
    supervision.order_transfer(order=moved, to_township="530302002", on=ago(10), actor=leader)
    _p, ended = order("己", reported_days_ago=200)
    supervision.order_terminate(order=ended, on=ago(30), reason="prison_sentence", actor=leader)
    rules = grading.current()
    high, _o = order("庚", reported_days_ago=400)
    Grading.objects.create(person=high, graded_on=ago(60), ruleset=rules.key, ruleset_version="1", level="high",
                           points=60, reason="t")
    overridden, _o = order("辛", reported_days_ago=400, where=places["other_township"])
    low = Grading.objects.create(person=overridden, graded_on=ago(60), ruleset=rules.key, ruleset_version="1",
                                 level="low", points=0, reason="t")
    Override.objects.create(person=overridden, grading=low, ruleset=rules.key, level="high", reason="t",
                            starts_on=ago(5), expires_on=TODAY + timedelta(days=60), actor=worker)
    interim = factories.person(places["township"], name="壬", status=Status.COMMUNITY_REHAB, responsible_worker=worker)
    Measure.objects.create(person=interim, kind=MeasureKind.COMMUNITY_REHAB, start_on=ago(90))
    made += [interim, factories.person(places["neighbour"], name="癸", status=Status.ABSTINENT_3Y)]
    # Some of it done, some waived: history the generation must leave alone.
    for n, obligation in enumerate(Obligation.objects.filter(due_on__lt=TODAY, done_at=None).order_by("pk")):
        if n % 3 == 0:
            engine.fulfil(obligation, on=obligation.due_on, actor=worker)
        elif n % 7 == 0:
            engine.waive(obligation, reason="in hospital", actor=worker)
    return made
