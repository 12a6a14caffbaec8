"""The demo city's community terms: orders, tests (positives, refusals), checks and visits, leave
and absences, suspensions, missed reports, violations and the police's cases, a change of
execution place and a completed term, all recorded through the supervision services (so every
step is audited and on the timeline, and violations are derived, never typed).

Call after the persons exist and before ``risk.populate`` (which then adds graded test history
to the running terms)::

    supervision.populate(today=today, rng=city.rng, users=users)

Idempotent: a person who already has a community order is left alone.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from liangyi.core.errors import DomainError
from liangyi.core.models import User
from liangyi.core.periods import add_months
from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import Measure, Person, Status
from liangyi.supervision import draws, services
from liangyi.supervision import plans as supervision_plans
from liangyi.supervision.models import CommunityOrder, OrderKind, Result

# How many persons of each kind the demo gives a full story: enough to show every kind of
# obligation, violation and case, few enough to keep the demo quick.
PER_STORY = 3
KIND_OF = {Status.COMMUNITY_DRUG_REHAB: OrderKind.COMMUNITY_DRUG_REHAB,
           Status.COMMUNITY_REHAB: OrderKind.COMMUNITY_REHAB,
           Status.SUSPENDED: OrderKind.COMMUNITY_DRUG_REHAB,
           Status.AWAITING_REPORT: OrderKind.COMMUNITY_DRUG_REHAB}


def _user(users: dict[str, User], prefix: str, code: str) -> User | None:
    return users.get(f"{prefix}_{code}")


def _order(person: Person, worker: User, kind: str, received: date, reported: date | None) -> CommunityOrder:
    order = services.order_create(person=person, kind=kind, decided_on=received - timedelta(days=2),
                                  received_on=received, actor=worker)
    if reported is not None:
        order = services.report_receive(order=order, reported_on=reported, actor=worker)
        # The order's own measure replaces the generator's measure of the same kind.
        from liangyi.demo.generator import drop_generated_measures  # noqa: PLC0415 (the generator imports us)

        drop_generated_measures(Measure.objects.filter(person=person, kind__in=list(OrderKind.values))
                                .exclude(pk=order.measure_id))
    return order


def _open_due(person: Person, kind: str, before: date) -> list[Obligation]:
    return list(Obligation.objects.filter(person=person, source=supervision_plans.SOURCE, kind=kind, done_at=None,
                                          due_on__lt=before).order_by("due_on"))


def _keep_schedule(order: CommunityOrder, worker: User, today: date, rng: random.Random, counts: Counter) -> None:
    """Most scheduled tests, checks and visits done in their window; a few left overdue."""
    for ob in _open_due(order.person, Kind.DRUG_TEST, today):
        if rng.random() < 0.9:
            day = ob.window_start + timedelta(days=rng.randint(0, max((ob.due_on - ob.window_start).days, 0)))
            services.test_record(order=order, tested_on=day, result=Result.NEGATIVE, sample="urine", method="onsite",
                                 collector=worker, collector_names="专干 社工", actor=worker, obligation=ob)
            counts["tests"] += 1
    record_contacts(order, worker, today, rng, counts)


def record_contacts(order: CommunityOrder, worker: User, today: date, rng: random.Random,
                    counts: Counter | None = None, *, share: float = 0.9) -> None:
    """Checks, home visits and plan reviews done on their due dates, a few left missed. Public so
    that other demo histories (risk) can keep these obligations as they keep the tests."""
    for kind in (Kind.CHECK_IN, Kind.HOME_VISIT, Kind.PLAN_REVIEW):
        for ob in _open_due(order.person, kind, today):
            if rng.random() < share:
                services.contact_record(order=order, kind=kind, on=ob.due_on, actor=worker, obligation=ob,
                                        notes=rng.choice(["情况稳定", "家属配合", "已告知尿检安排", "就业意向：务工"]))
                if counts is not None:
                    counts[kind] += 1


def populate(*, today: date, rng: random.Random, users: dict[str, User]) -> dict[str, Any]:
    """Community orders and their histories for a few persons of each story (see the module)."""
    today = min(today, timezone.localdate())  # services refuse dates in the future
    counts: Counter = Counter()
    stories: dict[str, int] = Counter()
    persons = (Person.objects.filter(status__in=list(KIND_OF)).exclude(community_orders__isnull=False)
               .order_by("id"))
    for person in persons.iterator(chunk_size=100):
        township = person.jurisdiction_id[:9]
        worker = _user(users, "worker", township)
        police = _user(users, "police", township[:6])
        if worker is None or police is None:
            continue
        kind = KIND_OF[person.status]
        try:
            story = _story(person, worker, police, kind, today, rng, counts, stories, users)
        except DomainError:
            counts["skipped"] += 1
            continue
        if story:
            stories[story] += 1
            counts["orders"] += 1
        if all(stories[s] >= PER_STORY for s in STORIES):
            break
    counts.update({f"story_{k}": v for k, v in stories.items()})
    for township in sorted({o.office_id for o in CommunityOrder.objects.filter(state="active")})[:3]:
        worker = _user(users, "worker", township)
        if worker is not None:
            draws.random_draw(on=today, office=worker.jurisdiction, actor=worker, seed=f"demo-{township}-{today}")
            counts["random_draws"] += 1
    return dict(counts)


STORIES = ("steady", "relapse", "refusals", "absent", "suspended", "missed_report", "transfer", "completed",
           "awaiting")


def _story(person: Person, worker: User, police: User, kind: str, today: date, rng: random.Random,
           counts: Counter, stories: Counter, users: dict[str, User]) -> str | None:
    if person.status == Status.AWAITING_REPORT:
        if stories["missed_report"] < PER_STORY:
            order = _order(person, worker, kind, today - timedelta(days=rng.randint(25, 60)), None)
            services.report_missed(order=order, today=today)
            return "missed_report"
        if stories["awaiting"] < PER_STORY:
            _order(person, worker, kind, today - timedelta(days=rng.randint(1, 10)), None)
            return "awaiting"
        return None
    if person.status == Status.SUSPENDED:
        if stories["suspended"] >= PER_STORY:
            return None
        order = _order(person, worker, kind, today - timedelta(days=rng.randint(200, 500)), None)
        order = services.report_receive(order=order, reported_on=order.received_on + timedelta(days=5), actor=worker)
        _keep_schedule(order, worker, today - timedelta(days=40), rng, counts)
        services.order_suspend(order=order, start=today - timedelta(days=rng.randint(5, 30)), reason="detention",
                               actor=worker)
        return "suspended"
    # A running term, told one of several ways.
    wanted = next((s for s in ("completed", "steady", "relapse", "refusals", "absent", "transfer")
                   if stories[s] < PER_STORY), None)
    if wanted is None:
        return None
    if wanted == "completed":
        received = add_months(today, -37) - timedelta(days=10)
        order = _order(person, worker, kind, received, received + timedelta(days=3))
        services.order_complete(order=order, on=order.term_ends_on + timedelta(days=1), actor=None)
        return wanted
    received = today - timedelta(days=rng.randint(150, 700))
    order = _order(person, worker, kind, received, received + timedelta(days=rng.randint(1, 12)))
    _keep_schedule(order, worker, today, rng, counts)
    if wanted == "relapse":
        services.test_record(order=order, tested_on=today - timedelta(days=rng.randint(1, 20)),
                             result=Result.POSITIVE, sample="urine", method="lab", substances=["甲基苯丙胺"],
                             collector=worker, actor=worker)
    elif wanted == "refusals":
        for n in range(3):
            services.test_record(order=order, tested_on=today - timedelta(days=60 - 20 * n),
                                 result=Result.REFUSED if n % 2 == 0 else Result.EVADED, actor=worker)
        case = order.escalations.filter(state="open").first()
        if case is not None and stories["refusals"] == 0:
            services.escalation_decide(escalation=case, decision="continue", decided_on=today, actor=police,
                                       notes="责令继续执行社区戒毒，加强尿检")
    elif wanted == "absent":
        leave = services.leave_request(order=order, from_on=today - timedelta(days=90),
                                       to_on=today - timedelta(days=80), destination="昆明市", actor=worker)
        services.leave_approve(request=leave, approved_on=today - timedelta(days=92), actor=worker)
        services.absence_record(order=order, left_on=today - timedelta(days=90), returned_on=today - timedelta(days=82),
                                destination="昆明市", actor=worker)
        services.absence_record(order=order, left_on=today - timedelta(days=60), returned_on=today - timedelta(days=28),
                                destination="广东省东莞市", actor=worker)
    elif wanted == "transfer":
        county = person.jurisdiction_id[:6]
        others = sorted(u.jurisdiction_id for name, u in users.items()
                        if name.startswith(f"worker_{county}") and u.jurisdiction_id != order.office_id)
        if not others:
            return "steady"
        transfer = services.order_transfer(order=order, to_township=others[0], on=today - timedelta(days=6),
                                           actor=police, reason="迁居，变更执行地")
        new_worker = users.get(f"worker_{others[0]}")
        if new_worker is not None and rng.random() < 0.5:
            services.transfer_receive(transfer=transfer, reported_on=today - timedelta(days=2), actor=new_worker)
    return wanted
