"""Reads of the person registry, already scoped to the user through core.access."""

from __future__ import annotations

from django.db.models import QuerySet

from liangyi.core import access, idnumber
from liangyi.core.models import User
from liangyi.people.models import Person, TimelineEvent
from liangyi.people.services import id_hash


def persons_search(
    *, user: User, q: str = "", status: str = "", jurisdiction: str = ""
) -> QuerySet[Person]:
    """Persons in the user's reach, by name, alias or ID number (any accepted spelling)."""
    qs = access.visible(user, Person).select_related("jurisdiction", "residence_jurisdiction",
                                                     "household_jurisdiction")
    q = (q or "").strip()
    if q:
        try:
            number = idnumber.parse(q).number
        except idnumber.IdNumberError:
            qs = qs.filter(name__icontains=q) if not access.sees(user, "identity") else (
                qs.filter(name__icontains=q) | qs.filter(aliases__icontains=q))
        else:
            qs = qs.filter(id_number_hash=id_hash(number))
    if status:
        qs = qs.filter(status=status)
    if jurisdiction:
        qs = qs.filter(jurisdiction__code__startswith=jurisdiction)
    return qs.order_by("name", "id")


def timeline_for(*, user: User, person: Person) -> QuerySet[TimelineEvent]:
    if not access.can(user, "view_persons", person):
        return TimelineEvent.objects.none()
    groups = [""] + [g for g in access.field_groups() if access.sees(user, g)]
    return (TimelineEvent.objects.filter(person=person, group__in=groups)
            .select_related("actor").order_by("-occurred_at", "-id"))
