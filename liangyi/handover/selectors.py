"""Reads of the handover chain, scoped through the access policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from statistics import median

from django.db.models import QuerySet

from liangyi.core import access
from liangyi.core import rules as core_rules
from liangyi.core.models import Jurisdiction, User
from liangyi.handover.models import Agreement, AssessmentPoint, DiagnosticAssessment, Handover, IsolationStay
from liangyi.people.models import Person
from liangyi.supervision.models import OrderState


def stays_of(person: Person) -> QuerySet[IsolationStay]:
    """A person's stays (the caller has already fetched the person through the access policy)."""
    return (IsolationStay.objects.filter(person=person)
            .select_related("handover", "handover__order", "handover__township")
            .prefetch_related("events", "assessments"))


def inbox(*, user: User, today: date) -> QuerySet[Handover]:
    """Packets the user's township sees: in the inbox from their date, until the person has reported."""
    if not access.has_action(user, "receive_handover"):
        return Handover.objects.none()
    return (access.visible(user, Handover).filter(visible_from__lte=today)
            .exclude(order__reported_on__isnull=False, order__agreements__signed_on__isnull=False)
            .select_related("person", "stay", "township", "order").prefetch_related("order__agreements")
            .distinct().order_by("visible_from", "id"))


@dataclass(frozen=True)
class FigureRow:
    jurisdiction: Jurisdiction | None  # None: the total
    released: int
    handed_over: int
    reported_in_time: int
    median_days_to_report: float | None
    overdue_now: int

    @property
    def handover_rate(self) -> float | None:
        return self.handed_over / self.released if self.released else None

    @property
    def report_rate(self) -> float | None:
        return self.reported_in_time / self.released if self.released else None


def _row(where: Jurisdiction | None, handovers: list[Handover], overdue: int, pickup_days: int) -> FigureRow:
    released = handed = in_time = 0
    days: list[int] = []
    for h in handovers:
        released += 1
        if h.collected_on and (h.collected_on - h.stay.released_on).days <= pickup_days:
            handed += 1
        order = h.order
        if order is not None and order.reported_on:
            days.append((order.reported_on - h.stay.released_on).days)
            if order.reported_on <= order.report_deadline:
                in_time += 1
    return FigureRow(where, released, handed, in_time, median(days) if days else None, overdue)


def figures(*, user: User, start: date, end: date, today: date) -> list[FigureRow]:
    """Handover figures per child jurisdiction of the user's, for persons released in [start, end],
    then the total (definitions: docs/handover.md)."""
    if not access.has_action(user, "view_figures"):
        return []
    pickup_days = int(core_rules.current().value("handover_pickup_days"))
    scope = access.visible(user, Handover).select_related("stay", "order")
    released = list(scope.filter(stay__released_on__gte=start, stay__released_on__lte=end))
    overdue = list(scope.filter(order__state=OrderState.AWAITING_REPORT, order__report_deadline__lt=today)
                   .values_list("township_id", flat=True))
    if user.jurisdiction_id:
        children = list(Jurisdiction.objects.filter(parent_id=user.jurisdiction_id).order_by("code"))
    else:
        children = list(Jurisdiction.objects.filter(parent__isnull=True).order_by("code"))
    rows = [
        _row(child, [h for h in released if h.township_id.startswith(child.code)],
             sum(1 for t in overdue if t.startswith(child.code)), pickup_days)
        for child in children
    ]
    rows.append(_row(None, released, len(overdue), pickup_days))
    return rows


def latest_assessment(stay: IsolationStay) -> DiagnosticAssessment | None:
    """The pre-release assessment if there is one, else the newest: it travels with the person."""
    items = stay.assessments.all()
    return (items.filter(point=AssessmentPoint.PRE_RELEASE).order_by("-assessed_on", "-id").first()
            or items.order_by("-assessed_on", "-id").first())


def agreement_of(handover: Handover) -> Agreement | None:
    if handover.order_id is None:
        return None
    return Agreement.objects.filter(order_id=handover.order_id).order_by("-prepared_at", "-id").first()


def period_or_default(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The figures' period: by default the current calendar year up to today."""
    end = end or today
    return start or date(end.year, 1, 1), end
