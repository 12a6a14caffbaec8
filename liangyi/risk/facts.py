"""The facts a grading reads, collected from the other chains' records as of a day.

Each factor of the rule set names a fact (``grading.FACTS``) and its parameters (a window, an
instrument); ``collect`` returns factor key -> value, a plain JSON-able dict that the grading
keeps, so a grading can always be recomputed and explained from what it stored.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from liangyi.obligations.models import Obligation
from liangyi.people.models import Measure, MeasureKind, Person
from liangyi.risk.grading import Factor, GradingRules
from liangyi.risk.models import Assessment
from liangyi.supervision.models import DrugTest, Result

BAD_RESULTS = (Result.POSITIVE, Result.REFUSED, Result.EVADED)


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (0 when end is before start)."""
    months = (end.year - start.year) * 12 + end.month - start.month - (1 if end.day < start.day else 0)
    return max(months, 0)


def _window(factor: Factor, on: date) -> date:
    return on - timedelta(days=int(factor.params.get("window_days", 0)))


def _assessment(person: Person, factor: Factor, on: date) -> Any:
    valid = int(factor.params.get("valid_days", 0))
    latest = (Assessment.objects.filter(person=person, instrument=factor.params["instrument"], assessed_on__lte=on,
                                        assessed_on__gt=on - timedelta(days=valid))
              .order_by("-assessed_on", "-id").first())
    if latest is None:
        return None
    measure = factor.params.get("measure", "total")
    if measure == "total":
        return latest.total
    if measure == "band":
        return latest.band
    if measure.startswith("subscale_band:"):
        return latest.subscale_bands.get(measure.split(":", 1)[1])
    if measure.startswith("subscale:"):
        return latest.subscales.get(measure.split(":", 1)[1])
    raise ValueError(f"factor {factor.key!r}: unknown measure {measure!r}")


def fact(person: Person, factor: Factor, on: date) -> Any:
    kind = factor.fact
    if kind == "bad_tests":
        return DrugTest.objects.filter(person=person, result__in=BAD_RESULTS, tested_on__gt=_window(factor, on),
                                       tested_on__lte=on).count()
    if kind == "missed_obligations":
        return Obligation.objects.filter(person=person, done_at=None, due_on__lt=on,
                                         due_on__gte=_window(factor, on)).count()
    if kind == "past_episodes":
        return Measure.objects.filter(person=person, start_on__lte=on).count()
    if kind == "months_since_release":
        released = (Measure.objects.filter(person=person, kind=MeasureKind.ISOLATION, end_on__lte=on)
                    .order_by("-end_on").values_list("end_on", flat=True).first())
        return months_between(released, on) if released else None
    if kind == "substances":
        return sorted(person.substances or [])
    if kind == "manner_of_use":
        return person.manner_of_use or None
    if kind == "age_at_first_use":
        if not person.first_use_year or not person.birth_date:
            return None
        return max(person.first_use_year - person.birth_date.year, 0)
    if kind == "employment":
        return person.employment or None
    if kind == "assessment":
        return _assessment(person, factor, on)
    raise ValueError(f"unknown fact {kind!r}")


def collect(person: Person, rules: GradingRules, on: date) -> dict[str, Any]:
    return {factor.key: fact(person, factor, on) for factor in rules.factors}
