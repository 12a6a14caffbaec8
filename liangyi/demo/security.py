"""The demo city's sealed records and break-the-glass openings, recorded through their services,
so that the police login sees a "sealed records" marker and the auditor's page lists openings:

- for a few persons under a community term in county 530302 (the demo police officer's), an
  administrative detention for drug use from before their term, sealed at once by the law's rule;
- a worker of another county (Xuanwei) who opened a Qilin person's file with a reason, the grant
  since ended, and one the security administrator revoked.

Call after the persons exist::

    security.populate(today=today, rng=city.rng, users=users)
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

from liangyi.core import glass
from liangyi.core.models import AccessGrant, User
from liangyi.people import sealing
from liangyi.people.models import MeasureKind, Person, Status

SEALED_PERSONS = 3
COUNTY, OUTSIDER = "530302", "worker_530381001"


def populate(*, today: date, rng: random.Random, users: dict[str, User]) -> dict[str, Any]:
    counts: Counter = Counter()
    police = users.get(f"police_{COUNTY}")
    persons = list(Person.objects.filter(jurisdiction__code__startswith=COUNTY, status__in=(
        Status.COMMUNITY_DRUG_REHAB, Status.COMMUNITY_REHAB)).order_by("pk")[:SEALED_PERSONS + 2])
    if police is not None:
        for person in persons[:SEALED_PERSONS]:
            start = today - timedelta(days=rng.randint(500, 1500))
            sealing.punishment_record(person=person, kind=MeasureKind.PS_DETENTION, start_on=start,
                                      end_on=start + timedelta(days=rng.choice((5, 10, 15))), actor=police,
                                      authority="曲靖市公安局麒麟分局",
                                      notes=f"曲公（麒）行罚决字〔{start.year}〕{rng.randint(100, 999)}号")
            counts["sealed"] += 1
    outsider, security = users.get(OUTSIDER), users.get("security")
    if outsider is not None and len(persons) > SEALED_PERSONS:
        ended = glass.grant_open(user=outsider, person=persons[SEALED_PERSONS], category="transfer",
                                 reason="该人员申请变更执行地至宣威市，核实其在麒麟区的社区戒毒执行情况")
        # Shown as a past opening: its few hours lie two days back.
        back = timedelta(days=2)
        AccessGrant.objects.filter(pk=ended.pk).update(starts_at=ended.starts_at - back, ends_at=ended.ends_at - back)
        counts["grants"] += 1
        if security is not None and len(persons) > SEALED_PERSONS + 1:
            revoked = glass.grant_open(user=outsider, person=persons[SEALED_PERSONS + 1], category="emergency",
                                       reason="派出所来电称该人员在宣威务工期间突发疾病，需核对其病史和联系人")
            glass.grant_revoke(actor=security, grant=revoked)
            counts["grants"] += 1
    return dict(counts)
