"""Reading runs and findings, always through the user's reach."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from liangyi.core import access
from liangyi.core.models import User
from liangyi.people.models import Person

from .matching import CATEGORIES
from .models import Finding, ReconcileRun


def runs(user: User) -> QuerySet[ReconcileRun]:
    """Runs whose scope lies inside the user's subtree."""
    qs = ReconcileRun.objects.select_related("uploaded_by")
    return qs.filter(scope__startswith=user.scope_code) if user.scope_code else qs


def run_or_404(user: User, pk: int) -> ReconcileRun:
    try:
        return runs(user).get(pk=pk)
    except ReconcileRun.DoesNotExist:
        raise Http404 from None


def finding_or_404(user: User, pk: int) -> Finding:
    try:
        return Finding.objects.select_related("run", "person", "resolved_by").get(
            pk=pk, run__in=runs(user).values("pk"))
    except Finding.DoesNotExist:
        raise Http404 from None


def findings(run: ReconcileRun, *, category: str = "", place: str = "", resolution: str = "") -> QuerySet[Finding]:
    qs = run.findings.select_related("person", "resolved_by").order_by("order")
    if category in CATEGORIES:
        qs = qs.filter(category=category)
    if place:
        qs = qs.filter(jurisdiction_code__startswith=place)
    if resolution:
        qs = qs.filter(resolution=resolution)
    return qs


def reachable_persons(user: User, person_ids) -> set[str]:
    """Of these person ids, those the user may see."""
    ids = {pid for pid in person_ids if pid}
    if not ids:
        return set()
    return {str(pk) for pk in access.visible(user, Person).filter(pk__in=ids).values_list("pk", flat=True)}
