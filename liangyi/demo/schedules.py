"""The demo city's obligations: each community person's schedule, with a realistic past.

The schedules come from the real engine (``obligations.engine.sync``); the past is then written
as it would have happened: most tests that fell due were done on time, and a few persons have
one or two overdue, so the worklist shows what a township's really looks like.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time

from django.utils import timezone

from liangyi.obligations import engine
from liangyi.obligations.models import Obligation
from liangyi.people.models import Person, Status

# Share of community persons whose latest past tests are still open (overdue) in the demo.
OVERDUE_SHARE = 0.12


def load(*, seed: int, today: date) -> tuple[int, int]:
    """Sync every community person's obligations; close the past ones but for a few. Returns
    (obligations created, left overdue)."""
    rng = random.Random(seed * 7919)
    created = overdue = 0
    community = Person.objects.filter(status__in=[Status.COMMUNITY_DRUG_REHAB, Status.COMMUNITY_REHAB])
    for person in community.order_by("id").iterator():
        created += engine.sync(person).created
        past = list(Obligation.objects.filter(person=person, done_at=None, due_on__lt=today).order_by("due_on"))
        keep_open = rng.randint(1, 2) if past and rng.random() < OVERDUE_SHARE else 0
        done = past[:len(past) - keep_open]
        overdue += len(past) - len(done)
        for obligation in done:  # written as the record of a test done on its due date
            obligation.done_on = obligation.due_on
            obligation.done_at = timezone.make_aware(datetime.combine(obligation.due_on, time(10)))
            obligation.done_by_id = person.responsible_worker_id
            obligation.fulfilled_by_type = "demo.history"
        Obligation.objects.bulk_update(done, ["done_on", "done_at", "done_by", "fulfilled_by_type"], batch_size=500)
    return created, overdue
