"""Violations of the community agreement and the serious-violation thresholds (Reg 20).

The threshold logic is pure (``serious_breaches``) and reads its numbers from the rule set. ``derive``
applies it to an order: it records one violation per offending test or absence, and opens one
escalation per order and reason while none is open, listing the violations it rests on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext as _

from liangyi.core import audit
from liangyi.core.models import User
from liangyi.core.rules import RuleSet
from liangyi.people.services import timeline_add
from liangyi.supervision.models import (
    Absence,
    CommunityOrder,
    DrugTest,
    Escalation,
    EscalationReason,
    EscalationState,
    Result,
    Violation,
    ViolationKind,
)

TEST_VIOLATIONS = {
    Result.REFUSED: ViolationKind.REFUSED_TEST,
    Result.EVADED: ViolationKind.EVADED_TEST,
    Result.POSITIVE: ViolationKind.POSITIVE_TEST,
}
REFUSALS = (ViolationKind.REFUSED_TEST, ViolationKind.EVADED_TEST)


@dataclass(frozen=True)
class Thresholds:
    refused_tests: int
    absences: int
    absence_days: int

    @classmethod
    def of(cls, ruleset: RuleSet) -> Thresholds:
        return cls(int(ruleset.value("serious_violation_refused_tests")),
                   int(ruleset.value("serious_violation_absences")),
                   int(ruleset.value("serious_violation_absence_days")))


@dataclass(frozen=True)
class Breach:
    """One serious-violation rule that is met: the rule key, the count found, the rule's value."""

    rule: str
    count: int
    threshold: int


def serious_breaches(*, refusals: int, unauthorised_absences: int, absence_days: int,
                     thresholds: Thresholds) -> list[Breach]:
    """The Reg 20 rules met: refusals and evasions >= N; unauthorised absences >= N; their days > N."""
    found = []
    if refusals >= thresholds.refused_tests:
        found.append(Breach("serious_violation_refused_tests", refusals, thresholds.refused_tests))
    if unauthorised_absences >= thresholds.absences:
        found.append(Breach("serious_violation_absences", unauthorised_absences, thresholds.absences))
    if absence_days > thresholds.absence_days:
        found.append(Breach("serious_violation_absence_days", absence_days, thresholds.absence_days))
    return found


def needs_leave_request(days: int, ruleset: RuleSet) -> bool:
    """Leaving the county for leave_report_min_days or more needs a written report beforehand (Reg 19)."""
    return days >= int(ruleset.value("leave_report_min_days"))


# Applying it to an order ---------------------------------------------------------------------

def _record(order: CommunityOrder, kind: str, on: date, source: DrugTest | Absence) -> Violation | None:
    violation, created = Violation.objects.get_or_create(
        source_type=source._meta.label_lower, source_id=str(source.pk),
        defaults={"order": order, "kind": kind, "on": on},
    )
    return violation if created else None


def _sync_violations(order: CommunityOrder) -> list[Violation]:
    """Create the violations the order's tests and absences imply; return the new ones."""
    new = []
    for test in order.tests.filter(result__in=list(TEST_VIOLATIONS)):
        violation = _record(order, TEST_VIOLATIONS[test.result], test.tested_on, test)
        if violation:
            new.append(violation)
    for absence in order.absences.filter(authorised=False):
        violation = _record(order, ViolationKind.UNAUTHORISED_ABSENCE, absence.left_on, absence)
        if violation:
            new.append(violation)
    # An absence later covered by a leave request (or re-judged short) is no violation any more.
    stale = [str(pk) for pk in order.absences.filter(authorised=True).values_list("pk", flat=True)]
    Violation.objects.filter(order=order, source_type=Absence._meta.label_lower, source_id__in=stale).delete()
    return new


def escalation_open(*, order: CommunityOrder, reason: str, on: date, evidence: dict, actor: User | None,
                    ) -> tuple[Escalation, bool]:
    """The open escalation of this order and reason, opened now if there is none.

    An open one gets the new evidence merged in rather than a duplicate beside it.
    """
    existing = (Escalation.objects.select_for_update()
                .filter(order=order, reason=reason, state=EscalationState.OPEN).first())
    if existing is not None:
        merged = dict(existing.evidence)
        for key, values in evidence.items():
            if key == "violations":
                merged[key] = sorted(set(merged.get(key, [])) | set(values))
            else:
                merged[key] = values
        if merged != existing.evidence:
            existing.evidence = merged
            existing.save(update_fields=["evidence"])
        return existing, False
    escalation = Escalation.objects.create(order=order, person=order.person, reason=reason, opened_on=on,
                                           evidence=evidence)
    audit.record(actor, "escalation.opened", escalation, person_id=order.person_id, reason=reason,
                 evidence=evidence)
    timeline_add(person=order.person, kind="escalation.opened", actor=actor, ref=escalation, group="drug_history",
                 summary=_("Case opened for the police: %(reason)s") % {"reason": escalation.get_reason_display()})
    return escalation, True


def _ids(items: Iterable[Violation]) -> list[int]:
    return sorted(v.pk for v in items)


def derive(*, order: CommunityOrder, ruleset: RuleSet, on: date, actor: User | None) -> list[Escalation]:
    """Bring the order's violations up to date and open the escalations they call for.

    Returns the escalations opened by this call (none when an open one already covers it).
    """
    new = _sync_violations(order)
    for violation in new:
        audit.record(actor, "violation.derived", violation, person_id=order.person_id, kind=violation.kind,
                     on=violation.on, source=f"{violation.source_type}:{violation.source_id}")
        timeline_add(person=order.person, kind="violation.derived", actor=actor, ref=violation, group="drug_history",
                     summary=_("Violation: %(kind)s on %(on)s") % {
                         "kind": violation.get_kind_display(), "on": f"{violation.on:%Y-%m-%d}"})

    violations = list(order.violations.all())
    refusals = [v for v in violations if v.kind in REFUSALS]
    away = [v for v in violations if v.kind == ViolationKind.UNAUTHORISED_ABSENCE]
    absences = {str(a.pk): a for a in order.absences.filter(authorised=False)}
    days = sum(absences[v.source_id].days(on) for v in away if v.source_id in absences)
    breaches = serious_breaches(refusals=len(refusals), unauthorised_absences=len(away), absence_days=days,
                                thresholds=Thresholds.of(ruleset))
    opened = []
    if breaches:
        rules_met = {b.rule for b in breaches}
        evidence_items = [*(refusals if "serious_violation_refused_tests" in rules_met else []),
                          *(away if rules_met & {"serious_violation_absences", "serious_violation_absence_days"}
                            else [])]
        evidence = {"violations": _ids(evidence_items),
                    "thresholds": [{"rule": b.rule, "count": b.count, "value": b.threshold} for b in breaches]}
        escalation, created = escalation_open(order=order, reason=EscalationReason.SERIOUS_VIOLATION, on=on,
                                              evidence=evidence, actor=actor)
        if created:
            opened.append(escalation)
    positives = [v for v in violations if v.kind == ViolationKind.POSITIVE_TEST]
    if any(v in new for v in positives):
        escalation, created = escalation_open(order=order, reason=EscalationReason.RELAPSE, on=on,
                                              evidence={"violations": _ids(positives)}, actor=actor)
        if created:
            opened.append(escalation)
    return opened
