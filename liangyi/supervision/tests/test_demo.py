"""The demo city has persons with every kind of obligation, violation and case."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from liangyi.core.models import User
from liangyi.demo import generator
from liangyi.demo import supervision as demo_supervision
from liangyi.obligations.models import Kind, Obligation
from liangyi.supervision.models import (
    Absence,
    CommunityOrder,
    Contact,
    DrugTest,
    Escalation,
    OrderState,
    OrderTransfer,
    RandomDraw,
    Suspension,
    Violation,
    ViolationKind,
)


@pytest.mark.django_db
def test_the_demo_city_tells_every_story():
    today = timezone.localdate()
    generator.generate(persons=400, seed=5, today=today)
    users = {u.username: u for u in User.objects.all()}
    counts = demo_supervision.populate(today=today, rng=random.Random(5), users=users)
    assert counts["orders"] > 10, counts
    assert set(Obligation.objects.values_list("kind", flat=True)) >= {
        Kind.REPORT, Kind.DRUG_TEST, Kind.CHECK_IN, Kind.HOME_VISIT, Kind.PLAN_REVIEW}
    assert set(Violation.objects.values_list("kind", flat=True)) >= {
        ViolationKind.REFUSED_TEST, ViolationKind.EVADED_TEST, ViolationKind.POSITIVE_TEST,
        ViolationKind.UNAUTHORISED_ABSENCE}
    assert set(Escalation.objects.values_list("reason", flat=True)) == {"missed_report", "serious_violation",
                                                                        "relapse"}
    assert Escalation.objects.filter(state="decided").exists()
    assert DrugTest.objects.filter(result="negative").exists() and Contact.objects.exists()
    assert Absence.objects.filter(authorised=True).exists() and Suspension.objects.filter(end=None).exists()
    assert OrderTransfer.objects.exists() and RandomDraw.objects.exists()
    assert {OrderState.ACTIVE, OrderState.AWAITING_REPORT, OrderState.SUSPENDED, OrderState.COMPLETED} <= set(
        CommunityOrder.objects.values_list("state", flat=True))
