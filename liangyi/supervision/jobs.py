"""Daily jobs of the supervision chain (liangyi/ops/jobs.py): missed reports and the end of terms.

Both derive what to do from the database and are idempotent: a second run on the same day finds
nothing left to do.
"""

from __future__ import annotations

from datetime import date, timedelta

from liangyi.ops.jobs import job
from liangyi.people.models import Status
from liangyi.supervision import services
from liangyi.supervision.models import CommunityOrder, OrderState


@job("supervision.missed_reports", schedule="daily")
def missed_reports(today: date) -> dict:
    """Orders whose report deadline has passed without a report: flag them, record the rule set's
    consequence and open a case for the police of the person's county (and the office)."""
    due = CommunityOrder.objects.filter(state=OrderState.AWAITING_REPORT, report_deadline__lt=today,
                                        report_overdue_since=None).order_by("report_deadline", "pk")
    opened = flagged = 0
    for order in due:
        flagged += 1
        if services.report_missed(order=order, today=today) is not None:
            opened += 1
    return {"flagged": flagged, "escalations_opened": opened}


@job("supervision.complete_terms", schedule="daily")
def complete_terms(today: date) -> dict:
    """Complete every running, unsuspended term whose last day has passed; then move completed
    persons whose three-years-without-relapse clock has run out to ``abstinent_3y``."""
    completed = 0
    for order in CommunityOrder.objects.filter(state=OrderState.ACTIVE, term_ends_on__lt=today).order_by("pk"):
        assert order.term_ends_on is not None
        # The term's last day is its end; completed as of the day after it (the first free day).
        services.order_complete(order=order, on=order.term_ends_on + timedelta(days=1), actor=None)
        completed += 1
    abstinent = 0
    finished = (CommunityOrder.objects.filter(state=OrderState.COMPLETED, person__status=Status.COMPLETED)
                .order_by("person_id", "-ended_on").distinct())
    seen = set()
    for order in finished:
        if order.person_id in seen:
            continue
        seen.add(order.person_id)
        if services.abstinence_reached(order=order, on=today):
            abstinent += 1
    return {"completed": completed, "abstinent_3y": abstinent}
