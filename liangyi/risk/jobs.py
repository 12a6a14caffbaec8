"""Daily: re-plan a person's schedules to the end of their term the day after an override lapsed.

The reassessments themselves need no job of their own: the report that starts a term plans the
first one (``supervision.services`` re-plans every source), a grading plans the next
(``services.resync``), and the nightly generation (``obligations.generate``) plans whatever enters
its horizon.
"""

from __future__ import annotations

from datetime import date, timedelta

from liangyi.ops.jobs import job
from liangyi.people.models import Person
from liangyi.risk import services
from liangyi.risk.models import Override


@job("risk.reassessments", schedule="daily")
def reassessments(today: date) -> dict:
    """Idempotent: a sync that finds nothing to change writes nothing."""
    lapsed = 0
    # An override that ended yesterday no longer tightens (or loosens) the schedules from today.
    # (The nightly generation re-plans these persons too, up to its horizon; this goes on to the
    # end of the running term, as the override itself did.)
    for person_id in (Override.objects.filter(expires_on=today - timedelta(days=1), ended_on=None)
                      .values_list("person_id", flat=True).distinct()):
        services.resync(Person.objects.get(pk=person_id), None)
        lapsed += 1
    return {"overrides_lapsed": lapsed}
