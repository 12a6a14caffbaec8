"""Reads of the supervision chain, scoped through the access policy."""

from __future__ import annotations

from django.db.models import QuerySet

from liangyi.core import access
from liangyi.core.models import User
from liangyi.people.models import Person
from liangyi.supervision.models import RUNNING_STATES, CommunityOrder, Escalation, EscalationState


def order_current(person: Person) -> CommunityOrder | None:
    """The person's running order (awaiting report, active or suspended), if any."""
    return CommunityOrder.objects.filter(person=person, state__in=RUNNING_STATES).first()


def escalations_of(*, user: User | None, person: Person) -> QuerySet[Escalation]:
    return access.visible(user, Escalation).filter(person=person).select_related("order", "decided_by")


def escalations_open(*, user: User | None) -> QuerySet[Escalation]:
    """Cases waiting for a police decision in the user's reach, the oldest first."""
    return (access.visible(user, Escalation).filter(state=EscalationState.OPEN)
            .select_related("person", "order").order_by("opened_on", "id"))
