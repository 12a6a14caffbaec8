"""Reads of the obligations table: the state of an obligation and the worklist.

States other than done and waived are never stored; they follow from the dates on the day asked:
overdue after the due date, due while the window is open (or on the due date itself), upcoming
before that.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Case, CharField, Q, QuerySet, Value, When

from liangyi.core import access
from liangyi.core.models import User
from liangyi.obligations.models import WORKLIST_DAYS, Obligation, State

__all__ = ["WORKLIST_DAYS", "state_of", "with_state", "worklist"]


def state_of(obligation: Obligation, on: date) -> str:
    if obligation.done_at is not None:
        return State.WAIVED if obligation.waived_reason else State.DONE
    if obligation.due_on < on:
        return State.OVERDUE
    if (obligation.window_start or obligation.due_on) <= on:
        return State.DUE
    return State.UPCOMING


def with_state(qs: QuerySet[Obligation], on: date) -> QuerySet[Obligation]:
    """Annotate ``state`` (the database twin of ``state_of``)."""
    return qs.annotate(state=Case(
        When(~Q(done_at=None) & ~Q(waived_reason=""), then=Value(State.WAIVED)),
        When(~Q(done_at=None), then=Value(State.DONE)),
        When(due_on__lt=on, then=Value(State.OVERDUE)),
        When(Q(window_start__lte=on) | Q(window_start=None, due_on__lte=on), then=Value(State.DUE)),
        default=Value(State.UPCOMING),
        output_field=CharField(),
    ))


def worklist(user: User | None, on: date) -> QuerySet[Obligation]:
    """Open obligations of persons in the user's reach that are overdue, due, or due within
    WORKLIST_DAYS, most urgent first (overdue ones first, the oldest first).

    ``listed_from <= on`` is ``due_on <= on + WORKLIST_DAYS or window_start <= on``, computed by the
    database (Obligation.listed_from), so one index range answers it."""
    qs = (
        access.visible(user, Obligation)
        .filter(done_at=None, listed_from__lte=on)
        .select_related("person", "person__jurisdiction", "office", "worker")
        .order_by("due_on", "person__name", "id")
    )
    return with_state(qs, on)
