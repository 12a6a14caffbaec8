"""The demo city's risk history: assessments, gradings, drug tests and relapses over time, so that
the grading-evidence page shows curves.

Call after the persons exist (``generator.generate``) and after any supervision demo:

    risk.populate(today=today, rng=city.rng, users=users)

For each person under a running community term it uses the term's ``CommunityOrder``; a person
whose term the demo recorded only as a measure gets an order (decision, report) through the
supervision services, and the order's measure replaces the generator's one. Drug tests are
recorded through ``supervision.services.test_record`` only. Relapse is *simulated*: each test is
positive with a chance that depends on the level the person was graded at (``HAZARD``), so the
demo's evidence page illustrates the page; it proves nothing about the rule set.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

from liangyi.core.errors import DomainError
from liangyi.core.models import User
from liangyi.core.periods import add_months
from liangyi.demo import supervision as demo_supervision
from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import Employment, Measure, Person, Status
from liangyi.risk import grading, instruments, services, signals
from liangyi.risk.models import Grading
from liangyi.supervision import plans as supervision_plans
from liangyi.supervision import services as supervision
from liangyi.supervision.models import CommunityOrder, OrderKind, OrderState, Result

# Chance that one scheduled test is positive, by the rank of the level graded (0 = strictest),
# and once the person has relapsed. Chosen so a year keeps roughly the survey's abstinence share
# for the lower levels (DOMAIN.md: 94 % keep abstinence) and clearly less for the highest.
HAZARD = (0.05, 0.02, 0.006, 0.004)
HAZARD_AFTER_RELAPSE = 0.5
COMMUNITY = {Status.COMMUNITY_DRUG_REHAB: OrderKind.COMMUNITY_DRUG_REHAB,
             Status.COMMUNITY_REHAB: OrderKind.COMMUNITY_REHAB}


def _worker(users: dict[str, User], person: Person) -> User | None:
    return users.get(f"worker_{person.jurisdiction_id[:9]}")


def _start_order(person: Person, worker: User, today: date, rng: random.Random) -> CommunityOrder | None:
    kind = COMMUNITY[person.status]
    measure = (Measure.objects.filter(person=person, kind=kind, start_on__lt=today - timedelta(days=2))
               .order_by("-start_on", "-id").first())
    if measure is None:
        return None
    received = measure.start_on
    reported = min(received + timedelta(days=rng.randint(0, 10)), today - timedelta(days=1))
    try:
        order = supervision.order_create(person=person, kind=kind, decided_on=received - timedelta(days=2),
                                         received_on=received, actor=worker, authority=measure.authority)
        order = supervision.report_receive(order=order, reported_on=reported, actor=worker)
    except DomainError:
        return None
    # The order's own measure replaces the generator's, and so does its timeline entry.
    from liangyi.demo.generator import drop_generated_measures  # noqa: PLC0415 (the generator imports us)

    drop_generated_measures([measure])
    return order


def _support_answers(person: Person, rng: random.Random) -> dict[str, int]:
    spec = instruments.get("social_support")
    risky = {i.key: next(o.value for o in i.options if o.score == 1) for i in spec.items}
    safe = {i.key: next(o.value for o in i.options if o.score == 0) for i in spec.items}
    odds = {"f1": .2, "f2": .15, "f3": .15, "f4": .05, "h1": .08, "h2": .08, "e3": .15, "p1": .15, "p2": .2}
    answers = {k: (risky[k] if rng.random() < p else safe[k]) for k, p in odds.items()}
    answers["e1"] = safe["e1"] if person.employment in (Employment.EMPLOYED, Employment.SELF_EMPLOYED) else risky["e1"]
    answers["e2"] = safe["e2"] if person.has_skill else risky["e2"]
    return answers


def _frequency_answers(rng: random.Random, n: int, heavy: bool) -> dict[str, int]:
    weights = (40, 35, 15, 10) if heavy else (70, 22, 6, 2)
    return {f"q{k}": rng.choices(range(4), weights)[0] for k in range(1, n + 1)}


def _audit_answers(rng: random.Random) -> dict[str, int]:
    q1 = rng.choices(range(5), (35, 30, 20, 10, 5))[0]
    if q1 == 0:
        return {"q1": 0, "q9": 0, "q10": 0}
    answers = {"q1": q1, "q2": rng.choices(range(5), (50, 25, 15, 7, 3))[0],
               "q3": rng.choices(range(5), (50, 25, 15, 7, 3))[0]}
    if answers["q2"] + answers["q3"]:
        answers.update({f"q{k}": rng.choices(range(5), (60, 20, 10, 7, 3))[0] for k in range(4, 9)})
    answers.update({"q9": rng.choices(range(3), (80, 12, 8))[0], "q10": rng.choices(range(3), (70, 15, 15))[0]})
    return answers


def _assess(person: Person, worker: User, on: date, rng: random.Random, counts: Counter) -> None:
    record = {"person": person, "actor": worker, "assessed_on": on, "regrade_after": False}
    services.assessment_record(instrument="social_support", answers=_support_answers(person, rng), **record)
    counts["assessments"] += 1
    if rng.random() < 0.6:
        heavy = rng.random() < 0.25
        services.assessment_record(instrument="phq9", answers=_frequency_answers(rng, 9, heavy), **record)
        services.assessment_record(instrument="gad7", answers=_frequency_answers(rng, 7, heavy), **record)
        counts["assessments"] += 2
    if rng.random() < 0.4:
        services.assessment_record(instrument="audit", answers=_audit_answers(rng), **record)
        counts["assessments"] += 1


def _regrade(person: Person, worker: User, on: date, reason: str, counts: Counter) -> Grading:
    counts["gradings"] += 1
    return services.regrade(person=person, actor=worker, reason=reason, on=on, sync=False)


def _history(person: Person, order: CommunityOrder, worker: User, today: date, rng: random.Random,
             counts: Counter) -> None:
    rules = grading.current()
    entry = order.reported_on + timedelta(days=rng.randint(7, 30))
    if entry >= today:
        return
    # The term's checks, visits and plan reviews are kept like the tests (a few missed), so that
    # "missed obligations" in the grading reflects the story, not an unrecorded demo.
    demo_supervision.record_contacts(order, worker, today, rng, counts)
    _assess(person, worker, entry, rng, counts)
    current = _regrade(person, worker, entry, "首次风险评估（报到后）", counts)
    tests = (Obligation.objects.filter(person=person, source=supervision_plans.SOURCE, kind=Kind.DRUG_TEST,
                                       key__startswith=f"drug_test:{order.pk}:", due_on__lt=today, done_at=None)
             .order_by("due_on"))
    relapsed = False
    for obligation in list(tests):
        start = max(obligation.window_start or obligation.due_on, order.reported_on + timedelta(days=1))
        tested_on = start + timedelta(days=rng.randint(0, max((obligation.due_on - start).days, 0)))
        # Scheduled reassessments falling before this test.
        interval = rules.control[current.level]["reassessment_interval_months"]
        while add_months(current.graded_on, interval) < tested_on:
            on = add_months(current.graded_on, interval)
            if rng.random() < 0.5:
                _assess(person, worker, on, rng, counts)
            current = _regrade(person, worker, on, "定期复评", counts)
            interval = rules.control[current.level]["reassessment_interval_months"]
        chance = HAZARD_AFTER_RELAPSE if relapsed else HAZARD[min(rules.rank(current.level), len(HAZARD) - 1)]
        result = Result.POSITIVE if rng.random() < chance else Result.NEGATIVE
        if tested_on <= entry:
            result = Result.NEGATIVE  # before the first grading: keeps the entry grading about the person
        try:
            test = supervision.test_record(order=order, tested_on=tested_on, result=result, actor=worker,
                                           sample="urine", method="onsite",
                                           substances=person.substances[:1] if result == Result.POSITIVE else ())
        except DomainError:
            break  # the term stopped (an escalation, a suspension): no more tests to record
        counts["tests"] += 1
        if result == Result.POSITIVE:
            counts["positive_tests"] += 1
            if not relapsed:
                relapsed = True
                current = _regrade(person, worker, tested_on, f"尿检阳性（{test.tested_on:%Y-%m-%d}）", counts)
    services.resync(person, worker)


def populate(*, today: date, rng: random.Random, users: dict[str, User]) -> dict[str, Any]:
    """Assessments, gradings and test history for every person under a running community term."""
    counts: Counter = Counter()
    with signals.paused():
        persons = Person.objects.filter(status__in=list(COMMUNITY)).order_by("id")
        for person in persons.iterator(chunk_size=100):
            worker = _worker(users, person)
            if worker is None:
                continue
            order = (CommunityOrder.objects.filter(person=person, state=OrderState.ACTIVE).order_by("-reported_on")
                     .first())
            if order is None and not CommunityOrder.objects.filter(person=person).exists():
                order = _start_order(person, worker, today, rng)
                counts["orders_started"] += order is not None
            if order is None or order.reported_on is None or (today - order.reported_on).days <= 30:
                continue  # no term yet, or too recent for a history (so a second run decides the same)
            if Grading.objects.filter(person=person).exists():
                continue  # already has a history (a second run changes nothing)
            _history(person, order, worker, today, rng, counts)
            # A term reported too recently gets no history yet (and is not counted, so a second
            # run reports 0 persons).
            counts["persons"] += Grading.objects.filter(person=person).exists()
    return dict(counts)
