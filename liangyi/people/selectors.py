"""Reads of the person registry, already scoped to the user through core.access."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from liangyi.core import access, idnumber
from liangyi.core.models import AccessGrant, User
from liangyi.people.models import Measure, Person, TimelineEvent, sealed_measures_q
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
    """The person's timeline as the user may read it: the role's field groups, no sealed record
    (the manager leaves out sealed events; events about a sealed measure not yet stamped are left
    out here too), for a person in reach or under the user's break-the-glass grant."""
    if not access.may_read(user, person):
        return TimelineEvent.objects.none()
    groups = [""] + [g for g in access.field_groups() if access.sees(user, g)]
    qs = TimelineEvent.objects.filter(person=person, group__in=groups)
    sealed = [str(pk) for pk in Measure.with_sealed.filter(sealed_measures_q(), person=person)
              .values_list("pk", flat=True)]
    if sealed:
        qs = qs.exclude(ref_type="people.measure", ref_id__in=sealed)
    return qs.select_related("actor").order_by("-occurred_at", "-id")


def glass_grants(*, user: User) -> QuerySet[AccessGrant]:
    """Break-the-glass grants for the auditor and the security administrator: those made by users
    of their subtree, and those on persons of their subtree."""
    if not (access.has_action(user, "view_audit") or access.has_action(user, "manage_security")):
        return AccessGrant.objects.none()
    qs = AccessGrant.objects.select_related("user", "user__jurisdiction", "revoked_by")
    scope = user.scope_code
    if scope:
        persons = Person.objects.filter(jurisdiction__code__startswith=scope).values("pk")
        qs = qs.filter(Q(user__jurisdiction__code__startswith=scope) | Q(person_id__in=persons))
    return qs.order_by("-starts_at")
