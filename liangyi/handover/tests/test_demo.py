"""The demo city's stays and handovers: persons at every stage, all through the services."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from liangyi.core.models import User
from liangyi.demo import generator
from liangyi.demo import handover as demo_handover
from liangyi.handover.models import Agreement, Handover, HandoverState, IsolationStay

PERSONS = generator.DEFAULT_PERSONS


@pytest.mark.django_db
def test_the_demo_has_persons_at_every_stage():
    today = timezone.localdate()
    generator.generate(persons=PERSONS, seed=11, today=today)
    users = {u.username: u for u in User.objects.all()}
    counts = demo_handover.populate(today=today, rng=random.Random(5), users=users)
    states = {h.state_on(today) for h in Handover.objects.select_related("order")}
    assert states == set(HandoverState.values), (sorted(counts.items()), states)
    assert IsolationStay.objects.filter(events__kind="escape").exists()
    assert Agreement.objects.filter(signed_on__isnull=False).exists()
    # Idempotent: a second run adds nothing.
    before = IsolationStay.objects.count()
    assert demo_handover.populate(today=today, rng=random.Random(5), users=users).get("stays", 0) == 0
    assert IsolationStay.objects.count() == before
