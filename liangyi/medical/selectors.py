from __future__ import annotations

from django.db.models import QuerySet

from liangyi.core import access
from liangyi.core.models import User
from liangyi.medical.models import InsuranceYear
from liangyi.people.models import Person


def years_of(*, user: User | None, person: Person) -> QuerySet[InsuranceYear]:
    return access.visible(user, InsuranceYear).filter(person=person).select_related("recorded_by")
