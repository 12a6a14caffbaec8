"""Reads of the risk chain: a person's current and effective level, history, assessments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import QuerySet

from liangyi.core import access
from liangyi.core.models import User
from liangyi.people.models import Employment, MannerOfUse, Person
from liangyi.risk import grading, instruments
from liangyi.risk.models import Assessment, Grading, Override

CHOICES = {"employment": Employment, "manner_of_use": MannerOfUse}


@dataclass(frozen=True)
class Effective:
    """The level that governs control now: the override while it is active, else the computed one."""

    grading: Grading | None
    override: Override | None
    rules: grading.GradingRules | None

    @property
    def level_key(self) -> str | None:
        if self.override is not None:
            return self.override.level
        return self.grading.level if self.grading else None

    @property
    def level(self) -> grading.Level | None:
        key = self.level_key
        return self.rules.level(key) if self.rules and key else None

    @property
    def computed(self) -> grading.Level | None:
        return self.rules.level(self.grading.level) if self.rules and self.grading else None


def rules_of(key: str) -> grading.GradingRules | None:
    try:
        return grading.load(key)
    except grading.GradingRuleError:
        return None


def grading_on(person: Person, on: date) -> Grading | None:
    """The grading in force on ``on``: the newest made on or before it."""
    return Grading.objects.filter(person=person, graded_on__lte=on).order_by("-graded_on", "-id").first()


def override_on(person: Person, on: date, ruleset: str) -> Override | None:
    candidates = Override.objects.filter(person=person, ruleset=ruleset, starts_on__lte=on, expires_on__gte=on)
    return next((o for o in candidates.order_by("-starts_on", "-id") if o.active_on(on)), None)


def effective(person: Person, on: date) -> Effective:
    current = grading_on(person, on)
    if current is None:
        return Effective(None, None, None)
    return Effective(current, override_on(person, on, current.ruleset), rules_of(current.ruleset))


def level_changes(after: date, through: date) -> set[Any]:
    """The persons whose effective level on ``through`` may differ from the one on ``after`` with
    nothing recorded in between: a grading dated in between, an override starting, expiring or
    ended in between (``Override.active_on``). The nightly generation re-plans them whole
    (``obligations.engine.calendar_moves``); a test interval or a reassessment follows the level."""
    from django.db.models import Q

    changed = set(Grading.objects.filter(graded_on__gt=after, graded_on__lte=through).values_list("person_id",
                                                                                                  flat=True))
    changed.update(Override.objects.filter(
        Q(starts_on__gt=after, starts_on__lte=through) | Q(expires_on__gte=after, expires_on__lt=through)
        | Q(ended_on__gt=after, ended_on__lte=through)).values_list("person_id", flat=True))
    return changed


def history(person: Person, limit: int = 50) -> QuerySet[Grading]:
    return Grading.objects.filter(person=person).select_related("actor").order_by("-graded_on", "-id")[:limit]


def overrides(person: Person) -> QuerySet[Override]:
    return Override.objects.filter(person=person).select_related("actor").order_by("-starts_on", "-id")


def readable_groups(user: User) -> set[str]:
    return {""} | {g for g in access.field_groups() if access.sees(user, g)}


def assessments_for(*, user: User, person: Person) -> QuerySet[Assessment]:
    """The person's assessments whose field group the user sees (a PHQ-9 is medical)."""
    if not access.can(user, "view_persons", person):
        return Assessment.objects.none()
    return (Assessment.objects.filter(person=person, group__in=readable_groups(user))
            .select_related("assessor").order_by("-assessed_on", "-id"))


def explain(user: User, g: Grading) -> list[dict[str, Any]]:
    """The factor table of a grading as this user may see it: a factor of a field group the
    user does not see keeps its row (so the points add up) but not its value."""
    rules = rules_of(g.ruleset)
    groups = readable_groups(user)
    factors = {f.key: f for f in rules.factors} if rules else {}
    rows = []
    for row in g.factors:
        factor = factors.get(row["key"])
        rows.append({
            **row,
            "label": factor.label if factor else row["key"],
            "source": factor.source if factor else "",
            "hidden": row.get("group", "") not in groups,
            "display": display_value(row.get("value"), factor),
            "rule_display": rule_display(row.get("rule", ""), factor),
        })
    return rows


def rule_display(rule: str, factor: grading.Factor | None) -> str:
    """">= 2" as "≥ 2"; a matched value by its label; "unknown" and "other" stay keys for the template."""
    if rule.startswith(">= "):
        return "≥ " + rule[3:]
    if rule in ("unknown", "other"):
        return rule
    return display_value(rule, factor)


def display_value(value: Any, factor: grading.Factor | None = None) -> str:
    """A fact as a reader sees it: choice labels for employment and manner of use, band names for
    an assessment's band."""
    if value is None or value == "" or value == []:
        return "—"
    if factor is not None and factor.fact in CHOICES and value in CHOICES[factor.fact].values:
        return str(CHOICES[factor.fact](value).label)
    if factor is not None and factor.fact == "assessment" and isinstance(value, str):
        instrument = instruments.get(factor.params.get("instrument", ""))
        measure = factor.params.get("measure", "")
        if instrument is not None:
            bands = instrument.bands
            if measure.startswith("subscale_band:"):
                sub = next((s for s in instrument.subscales if s.key == measure.split(":", 1)[1]), None)
                bands = sub.bands if sub else ()
            band = next((b for b in bands if b.key == value), None)
            if band is not None:
                return band.label
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def instruments_for(user: User) -> list[instruments.Instrument]:
    groups = readable_groups(user)
    return [i for i in instruments.all_instruments().values() if i.group in groups]
