"""The demo city's compulsory-isolation stays and handovers, recorded through the handover services
(so every step is audited and on the timeline), with persons at every stage: in custody (with
assessments, an escape, medical leave, an extension), in the township's inbox, acknowledged, picked
up, decision recorded, report overdue, reported and agreement signed.

Persons come from those the generator put in isolation; the ones released here had served more
than the minimum and leave early on a passing assessment (Law 47), so the generator's admission
dates stay true. Call after the persons exist and BEFORE ``supervision.populate`` (which leaves
alone persons who already have a community order)::

    handover.populate(today=today, rng=city.rng, users=users)

Idempotent: a person who already has a stay is left alone.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from liangyi.core import periods
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import Jurisdiction, User
from liangyi.handover import assessment, services
from liangyi.handover.models import AssessmentPoint, CollectorKind, IsolationStay, Outcome
from liangyi.people.models import MeasureKind, Person, Status
from liangyi.supervision.models import OrderKind

PER_STAGE = 2
# Released stages first (they need the persons who served longest), then the ones still inside.
# Each released stage with the days before today its release falls in (fewest, most).
RELEASE_WINDOWS = {"signed": (60, 120), "overdue": (25, 45), "reported": (20, 40), "decision": (3, 8),
                   "picked_up": (0, 2)}
RELEASED_STAGES = tuple(RELEASE_WINDOWS)
CUSTODY_STAGES = ("acknowledged", "in_inbox", "extension", "escape", "medical_leave")
# The townships of the demo logins (generator.demo_logins): their persons in isolation take the
# stages a township worker acts on first, so that logging in as that worker shows them.
SHOWCASE_TOWNSHIPS = ("530302001", "530381001")
SHOWCASE_STAGES = ("in_inbox", "overdue", "acknowledged", "decision")
FACILITY = "曲靖市强制隔离戒毒所"
DOCTORS, PSYCHOLOGISTS, SOCIAL_WORKERS = ("刘建华", "杨丽", "赵明"), ("陈静", "李娜"), ("王芳", "张伟")
COLLECTORS = ((CollectorKind.FAMILY, "家属"), (CollectorKind.COMMUNITY_STAFF, "社区专干"),
              (CollectorKind.POLICE_STATION, "派出所民警"), (CollectorKind.EMPLOYER, "用工单位"))


def _scores(rng: random.Random, *, good: bool) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for domain in assessment.scheme().domains:
        low = 0.75 if good else 0.3
        out[domain.key] = {i.key: max(1, round(i.max * rng.uniform(low, 1.0))) for i in domain.items}
    return out


def _assess(stay: IsolationStay, actor: User, rng: random.Random, on: date, point: str, outcome: str, *,
            good: bool = True) -> Any:
    return services.assessment_record(
        stay=stay, point=point, assessed_on=on, scores=_scores(rng, good=good), doctor=rng.choice(DOCTORS),
        psychologist=rng.choice(PSYCHOLOGISTS), social_worker=rng.choice(SOCIAL_WORKERS), outcome=outcome,
        actor=actor, recommend_community_rehab=good, physical_state="脱毒完成，身体状况良好" if good else "体质较弱",
        psychological_state="情绪稳定，戒毒意愿较强" if good else "存在焦虑情绪",
        social_adaptability="家庭支持较好，有就业意向" if good else "家庭关系紧张，社会支持不足")


def _packet(stay: IsolationStay, actor: User, rng: random.Random) -> None:
    services.handover_packet_update(
        handover=stay.handover, actor=actor,
        health_summary=rng.choice(("身体状况良好", "乙肝携带，需定期复查", "高血压，规律服药")),
        risk_notes=rng.choice(("无明显风险", "原吸毒圈子仍在当地，需加强尿检", "家庭矛盾较多，需家访")),
        recommended_plan="建议社区康复：按月尿检，落实帮扶责任人，协助就业登记。")


def populate(*, today: date, rng: random.Random, users: dict[str, User]) -> dict[str, Any]:
    """Stays and handovers at every stage for the generator's persons in isolation (see the module)."""
    today = min(today, timezone.localdate())  # services refuse dates in the future
    facility = users.get("facility")
    counts: Counter = Counter()
    if facility is None:
        return {"skipped": "no facility user"}
    min_years = int(core_rules.current().value("isolation_early_release_min_years"))
    persons = (Person.objects.filter(status=Status.ISOLATION).exclude(isolation_stays__isnull=False)
               .prefetch_related("measures").order_by("id"))
    # Oldest admission first: they can be released early.
    entries = []
    for person in persons:
        measure = next((m for m in person.measures.all() if m.kind == MeasureKind.ISOLATION and m.end_on is None), None)
        if measure is not None:
            entries.append((measure.start_on, person, measure))
    entries.sort(key=lambda e: (e[0], str(e[1].pk)))
    _move_to_showcase(entries, today, min_years)
    stages: Counter = Counter()
    shown: Counter = Counter()
    for admitted, person, measure in entries:
        worker = users.get(f"worker_{person.jurisdiction_id[:9]}")
        if worker is None:
            continue
        relapse = person.measures.filter(end_on=admitted - timedelta(days=1)).exists()
        decided = admitted - timedelta(days=rng.randint(1, 4))
        earliest = periods.add_years(decided, min_years)
        planned = periods.term_end(decided, years=int(core_rules.current().value("isolation_term_years")))
        fits = {s: not relapse and earliest <= today - timedelta(days=RELEASE_WINDOWS[s][0]) for s in RELEASED_STAGES}
        fits.update(acknowledged=not relapse and earliest <= today, in_inbox=not relapse and earliest <= today,
                    extension=planned - timedelta(days=60) <= today,
                    escape=admitted + timedelta(days=120) < today, medical_leave=admitted + timedelta(days=120) < today)
        # The stage this person fits with the fewest persons so far: every stage gets someone early on.
        wanted = [s for s in RELEASED_STAGES + CUSTODY_STAGES if fits[s] and stages[s] < PER_STAGE]
        stage = min(wanted, key=lambda s: stages[s]) if wanted else "in_custody"
        township = person.jurisdiction_id[:9]
        if township in SHOWCASE_TOWNSHIPS:
            stage = next((s for s in SHOWCASE_STAGES if fits[s] and not shown[township, s]), stage)
        number = f"曲公强戒决字〔{decided.year}〕{counts['stays'] + 101}号"
        try:
            with transaction.atomic():
                stay = services.stay_record(person=person, decision_number=number, decided_on=decided,
                                            authority="曲靖市公安局", facility=FACILITY, admitted_on=admitted,
                                            actor=facility, no_early_release=relapse)
                from liangyi.demo.generator import drop_generated_measures  # noqa: PLC0415

                drop_generated_measures([measure])  # the stay's own measure replaces the generator's
                reached = _walk(stay, stage, facility, worker, today, rng, min_years)
        except DomainError:
            counts["skipped"] += 1
            continue
        counts["stays"] += 1
        stages[reached] += 1
        shown[person.jurisdiction_id[:9], reached] += 1
    counts.update({f"stage_{k}": v for k, v in stages.items()})
    return dict(counts)


def _move_to_showcase(entries: list, today: date, min_years: int) -> None:
    """Give each showcase township persons who can reach its stages: the demo's persons are
    synthetic, so the longest-held ones eligible for early release are moved to live there."""
    eligible = [e for e in entries if periods.add_years(e[0], min_years) <= today - timedelta(days=50)
                and e[1].jurisdiction_id[:9] not in SHOWCASE_TOWNSHIPS
                and not e[1].measures.filter(end_on=e[0] - timedelta(days=1)).exists()]  # no relapse
    for township in SHOWCASE_TOWNSHIPS:
        place = Jurisdiction.objects.filter(code__startswith=township).order_by("-level", "code").first()
        for _admitted, person, _measure in eligible[:len(SHOWCASE_STAGES)]:
            if place is None:
                break
            Person.objects.filter(pk=person.pk).update(household_jurisdiction=place, residence_jurisdiction=place,
                                                       jurisdiction=place)
            person.household_jurisdiction = person.residence_jurisdiction = person.jurisdiction = place
        eligible = eligible[len(SHOWCASE_STAGES):]


def _walk(stay: IsolationStay, stage: str, facility: User, worker: User, today: date, rng: random.Random,
          min_years: int) -> str:
    """Walk the stay to ``stage`` (or as far towards it as the dates allow); returns the stage reached."""
    first = stay.admitted_on + timedelta(days=rng.randint(10, 20))
    if first <= today:
        _assess(stay, facility, rng, first, AssessmentPoint.ADMISSION, Outcome.CONTINUE, good=False)
    earliest = periods.add_years(stay.decided_on, min_years)
    if stage in RELEASED_STAGES:
        fewest, most = RELEASE_WINDOWS[stage]
        release_on = max(today - timedelta(days=rng.randint(fewest, most)), earliest)
        item = _assess(stay, facility, rng, release_on - timedelta(days=20), AssessmentPoint.PRE_RELEASE,
                       Outcome.PROPOSE_EARLY)
        services.early_release_decide(stay=stay, decided_on=release_on - timedelta(days=10), release_on=release_on,
                                      assessment=item, actor=facility)
        _packet(stay, facility, rng)
        stay.refresh_from_db()
        services.handover_acknowledge(handover=stay.handover, actor=worker)
        stay = services.stay_release(stay=stay, released_on=release_on, certificate=f"解除{stay.pk:06d}",
                                     actor=facility)
        kind, name = rng.choice(COLLECTORS)
        services.handover_pickup(handover=stay.handover, collector_kind=kind, collector_name=name,
                                 collected_on=release_on, collected_from="", actor=worker)
        if stage == "picked_up":
            return stage
        received = release_on + timedelta(days=1 if stage != "decision" else 0)
        order_kind = OrderKind.COMMUNITY_REHAB if rng.random() < 0.7 else OrderKind.COMMUNITY_DRUG_REHAB
        services.handover_decide(handover=stay.handover, kind=order_kind, decided_on=release_on,
                                 received_on=min(received, today), actor=worker,
                                 term_months=36 if order_kind == OrderKind.COMMUNITY_REHAB else None,
                                 authority="曲靖市公安局")
        if stage in ("decision", "overdue"):
            return stage
        handover = stay.handover
        handover.refresh_from_db()
        agreement = services.handover_report(handover=handover, reported_on=min(received + timedelta(
            days=rng.randint(2, 10)), today), actor=worker)
        if stage == "signed":
            services.agreement_sign(agreement=agreement, signed_on=handover.order.reported_on, actor=worker)
        return stage
    if stage in ("acknowledged", "in_inbox"):
        release_on = today + timedelta(days=rng.randint(1, 5))
        if release_on < earliest or stay.no_early_release:
            return "in_custody"  # not yet eligible: stays in custody with its planned date
        item = _assess(stay, facility, rng, today - timedelta(days=10), AssessmentPoint.PRE_RELEASE,
                       Outcome.PROPOSE_EARLY)
        services.early_release_decide(stay=stay, decided_on=today - timedelta(days=5), release_on=release_on,
                                      assessment=item, actor=facility)
        _packet(stay, facility, rng)
        if stage == "acknowledged":
            stay.refresh_from_db()
            services.handover_acknowledge(handover=stay.handover, actor=worker)
        return stage
    middle = stay.admitted_on + timedelta(days=rng.randint(60, 120))
    if middle >= today:
        return "in_custody"
    if stage == "escape":
        services.escape_record(stay=stay, on=middle, actor=facility, notes="外出就医途中脱逃")
        services.return_record(stay=stay, on=min(middle + timedelta(days=rng.randint(3, 20)), today), actor=facility,
                               notes="被公安机关抓获送回")
    elif stage == "medical_leave":
        services.medical_leave_start(stay=stay, on=max(middle, today - timedelta(days=20)), actor=facility,
                                     notes="所外就医")
    elif stage == "extension" and stay.planned_release_on - timedelta(days=60) <= today:
        item = _assess(stay, facility, rng, today - timedelta(days=5), AssessmentPoint.PRE_RELEASE,
                       Outcome.PROPOSE_EXTENSION, good=False)
        services.extension_decide(stay=stay, decided_on=today, months=rng.choice((3, 6)), assessment=item,
                                  actor=facility)
    else:
        return "in_custody"
    return stage
