"""The demo city as `make run` seeds it: the generator's history plus the chains' own stories."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from django.utils import timezone

from liangyi.demo import generator
from liangyi.handover.models import IsolationStay
from liangyi.medical.models import InsuranceYear, Scheme
from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import Measure, MeasureKind, Person, Status, TimelineEvent
from liangyi.risk.models import Grading
from liangyi.supervision.models import CommunityOrder, DrugTest, Escalation, Violation, ViolationKind

TODAY = date(2026, 3, 1)


@pytest.mark.django_db
def test_the_chains_add_their_histories_in_the_past_and_every_community_person_has_a_worker():
    summary = generator.generate(persons=160, seed=11, today=TODAY, chains=True)
    assert summary.handover and summary.supervision and summary.risk and summary.medical
    assert summary.security == {"sealed": 3, "grants": 2}
    assert Measure.with_sealed.exclude(sealed_at=None).count() == 3
    assert not Measure.objects.filter(kind=MeasureKind.PS_DETENTION).exists()  # hidden from ordinary reads
    # Every kind of obligation and of violation the issue names is in the demo (issue 4).
    assert set(Obligation.objects.values_list("kind", flat=True)) == set(Kind.values)
    assert set(Violation.objects.values_list("kind", flat=True)) == set(ViolationKind.values)
    renewals = Obligation.objects.filter(kind=Kind.INSURANCE_RENEWAL)
    assert renewals.filter(done_at=None, due_on__lt=TODAY).exists()  # in arrears
    assert renewals.exclude(done_at=None).exists()  # paid
    assert set(InsuranceYear.objects.values_list("scheme", flat=True)) == set(Scheme.values)
    assert IsolationStay.objects.exists() and CommunityOrder.objects.exists()
    assert DrugTest.objects.exists() and Escalation.objects.exists() and Grading.objects.exists()
    midnight = timezone.make_aware(datetime.combine(TODAY, time()))
    assert not TimelineEvent.objects.filter(occurred_at__gte=midnight).exists()
    community = Person.objects.filter(status__in=generator.COMMUNITY_STATUSES).exclude(status=Status.COMPLETED)
    assert not community.filter(responsible_worker=None).exists()
    for person in community.exclude(responsible_worker=None).select_related("responsible_worker"):
        assert person.responsible_worker.jurisdiction_id == person.jurisdiction_id[:9]
