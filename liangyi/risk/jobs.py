"""Daily: plan each running term's reassessments, and re-plan schedules when an override lapsed."""

from __future__ import annotations

from datetime import date, timedelta

from liangyi.obligations import engine
from liangyi.ops.jobs import job
from liangyi.people.models import Person
from liangyi.risk import plans, services
from liangyi.risk.models import Override
from liangyi.supervision.models import CommunityOrder, OrderState


@job("risk.reassessments", schedule="daily")
def reassessments(today: date) -> dict:
    """Idempotent: a sync that finds nothing to change writes nothing."""
    person_ids = CommunityOrder.objects.filter(state=OrderState.ACTIVE).values_list("person_id", flat=True)
    # Batched (engine.sync_many): the same result as one sync per person, a chunk at a time.
    persons = Person.objects.filter(pk__in=person_ids).only(*engine.PERSON_FIELDS).order_by("pk")
    changed = engine.sync_many(persons.iterator(chunk_size=engine.SYNC_CHUNK), only=[plans.SOURCE]).changed
    lapsed = 0
    # An override that ended yesterday no longer tightens (or loosens) the schedules from today.
    for person_id in (Override.objects.filter(expires_on=today - timedelta(days=1), ended_on=None)
                      .values_list("person_id", flat=True).distinct()):
        services.resync(Person.objects.get(pk=person_id), None)
        lapsed += 1
    return {"reassessments_changed": changed, "overrides_lapsed": lapsed}
