"""Fixtures of the risk chain's tests: a person under a running community order."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from liangyi.demo import factories
from liangyi.supervision import services as supervision
from liangyi.supervision.models import CommunityOrder, OrderKind


def days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


def running_order(person, actor, *, reported_days_ago: int) -> CommunityOrder:
    reported = days_ago(reported_days_ago)
    order = supervision.order_create(person=person, kind=OrderKind.COMMUNITY_DRUG_REHAB,
                                     decided_on=reported - timedelta(days=5), received_on=reported - timedelta(days=3),
                                     actor=actor)
    return supervision.report_receive(order=order, reported_on=reported, actor=actor)


@pytest.fixture
def worker(personas):
    return personas["worker"]


@pytest.fixture
def social_worker(places):
    return factories.user("social", "social_worker", places["township"], full_name="孙社工")


@pytest.fixture
def order(person, worker) -> CommunityOrder:
    return running_order(person, worker, reported_days_ago=200)
