"""Drug-test schedules computed from the rule set, and the generator that plans them.

The term is counted in *term time*: months from the day of reporting, with every suspension
(中止, Reg 24) cut out. Year k of the term is split into periods of that year's interval
(``test_interval_months_year1..3``; later years keep the year-3 interval), a period never
crossing a year boundary or the term's end. One test is due per period, by the period's last
day; its window is the period itself. The day of reporting is not counted (Civil Code 201), so
the first window opens the next day. A suspension shifts the rest of the schedule and the end of
the term by its length; a transfer changes the office, never the dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from liangyi.core.periods import add_months  # one month arithmetic for the whole project (clamps to month end)
from liangyi.core.rules import RuleSet, RuleSetError

if TYPE_CHECKING:
    from liangyi.obligations.engine import Planned
    from liangyi.people.models import Person

SOURCE_DRUG_TESTS = "supervision.drug_tests"
ONE_DAY = timedelta(days=1)


def interval_months(ruleset: RuleSet) -> tuple[int, int, int]:
    values = tuple(int(ruleset.value(f"test_interval_months_year{year}")) for year in (1, 2, 3))
    if any(v < 1 for v in values):
        raise RuleSetError(f"rule set {ruleset.name!r}: test intervals must be at least one month, not {values}")
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class Period:
    """One test period: ``offset`` months into the term (unsuspended), and its real dates."""

    offset: int
    window_start: date
    due_on: date


def _unsuspended_periods(term_start: date, term_end: date, intervals: Sequence[int]) -> list[tuple[int, date, date]]:
    periods: list[tuple[int, date, date]] = []
    offset, opens = 0, term_start + ONE_DAY
    while opens <= term_end:
        year = offset // 12  # 0-based year of the term this period starts in
        interval = intervals[min(year, len(intervals) - 1)]
        offset = min(offset + interval, (year + 1) * 12)
        due = min(add_months(term_start, offset), term_end)
        periods.append((offset, opens, due))
        opens = due + ONE_DAY
    return periods


def _normalised(suspended: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    spans = sorted((s, e) for s, e in suspended if e > s)
    merged: list[tuple[date, date]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _shift(day: date, suspended: list[tuple[date, date]]) -> date:
    """Map a day of unsuspended term time to the calendar: each suspension before it pushes it on.

    A suspension (start, end) covers start <= d < end: the person is released on ``end`` and the
    term resumes that day.
    """
    for start, end in suspended:
        if day >= start:
            day += end - start
    return day


def interval_periods(
    term_start: date, term_end: date, intervals: Sequence[int], suspended: Iterable[tuple[date, date]] = ()
) -> list[Period]:
    """Periods of ``intervals[k]`` months in year k+1 of the term (the last interval for later years),
    in calendar days after every suspension's shift. Used for tests, check-ins, visits and reviews."""
    intervals = tuple(int(v) for v in intervals)
    if any(v < 1 for v in intervals):
        raise RuleSetError(f"intervals must be at least one month, not {intervals}")
    return list(_periods(term_start, term_end, intervals, tuple(_normalised(suspended))))


@lru_cache(maxsize=65536)
def _periods(term_start: date, term_end: date, intervals: tuple[int, ...],
             spans: tuple[tuple[date, date], ...]) -> tuple[Period, ...]:
    # Pure in its arguments, and a province's terms share a few thousand (start, end) pairs: the
    # nightly generation plans each of them once instead of once per order.
    return tuple(
        Period(offset, _shift(opens, list(spans)), _shift(due, list(spans)))
        for offset, opens, due in _unsuspended_periods(term_start, term_end, intervals)
    )


def drug_test_periods(
    term_start: date, term_end: date, ruleset: RuleSet, suspended: Iterable[tuple[date, date]] = (),
    intervals: Sequence[int] | None = None,
) -> list[Period]:
    """The drug-test periods; ``intervals`` overrides the rule set's (a risk level tightening them)."""
    return interval_periods(term_start, term_end, intervals or interval_months(ruleset), suspended)


def drug_test_dates(
    term_start: date, term_end: date, ruleset: RuleSet, suspended: Iterable[tuple[date, date]] = ()
) -> list[date]:
    """The due dates of a community term's drug tests (see the module docstring)."""
    return [p.due_on for p in drug_test_periods(term_start, term_end, ruleset, suspended)]


# The generator -----------------------------------------------------------------------------

def township_code(code: str) -> str:
    """The township a jurisdiction code lies in (a village's first 9 digits), or the code itself."""
    return code[:9] if len(code) > 9 else code


def community_term(person: Person, ruleset: RuleSet) -> tuple[date, date] | None:
    """The person's current community term, from their newest measure of the kind of their status.

    Interim source until the supervision chain keeps community orders (and their suspensions).
    """
    from liangyi.people.models import MeasureKind, Status

    term_rule = {
        Status.COMMUNITY_DRUG_REHAB: (MeasureKind.COMMUNITY_DRUG_REHAB, "community_drug_rehab_term_years"),
        Status.COMMUNITY_REHAB: (MeasureKind.COMMUNITY_REHAB, "community_rehab_max_term_years"),
    }.get(person.status)
    if term_rule is None:
        return None
    if hasattr(person, "community_orders") and person.community_orders.exists():
        return None  # the supervision chain plans this person's term ("supervision.orders")
    kind, years_rule = term_rule
    measure = person.measures.filter(kind=kind).order_by("-start_on", "-id").first()
    if measure is None:
        return None
    end = measure.end_on or add_months(measure.start_on, 12 * int(ruleset.value(years_rule)))
    return measure.start_on, end


def drug_tests(person: Person, ruleset: RuleSet, horizon: date) -> list[Planned]:
    """Generator "supervision.drug_tests": one test per period of the community term."""
    term = community_term(person, ruleset)
    return [] if term is None else _term_tests(person, *term, ruleset, horizon)


def _term_tests(person: Person, start: date, end: date, ruleset: RuleSet, horizon: date) -> list[Planned]:
    from liangyi.obligations.engine import Planned
    from liangyi.obligations.models import Kind

    office = township_code(person.jurisdiction_id)
    return [
        Planned(
            kind=Kind.DRUG_TEST, key=f"drug_test:{start:%Y-%m-%d}:m{p.offset:02d}", due_on=p.due_on,
            window_start=p.window_start, window_end=p.due_on, office=office, worker=person.responsible_worker_id,
        )
        for p in drug_test_periods(start, end, ruleset)
        if p.due_on <= horizon
    ]


def drug_tests_many(persons: Sequence[Person], ruleset: RuleSet, horizon: date,
                    since: date | None = None) -> dict[Any, list[Planned]]:  # noqa: ARG001
    """The batched form of ``drug_tests`` (``engine.sync_many``): two queries per chunk (few persons
    are on an interim measure: ``since`` is left to the engine's filter)."""
    from liangyi.people.models import Measure, MeasureKind, Person, Status

    kinds = {Status.COMMUNITY_DRUG_REHAB: (MeasureKind.COMMUNITY_DRUG_REHAB, "community_drug_rehab_term_years"),
             Status.COMMUNITY_REHAB: (MeasureKind.COMMUNITY_REHAB, "community_rehab_max_term_years")}
    candidates = {p.pk: p for p in persons if p.status in kinds}
    if not candidates:
        return {}
    if hasattr(Person, "community_orders"):
        from liangyi.supervision.models import CommunityOrder

        for person_id in CommunityOrder.objects.filter(person_id__in=list(candidates)).values_list("person_id",
                                                                                                    flat=True):
            candidates.pop(person_id, None)  # the supervision chain plans this person's term
    newest: dict[tuple, Any] = {}
    for measure in (Measure.objects.filter(person_id__in=list(candidates), kind__in=[k for k, _y in kinds.values()])
                    .order_by("person_id", "kind", "-start_on", "-id")):
        newest.setdefault((measure.person_id, measure.kind), measure)
    plans = {}
    for person_id, person in candidates.items():
        kind, years_rule = kinds[person.status]
        measure = newest.get((person_id, kind))
        if measure is not None:
            end = measure.end_on or add_months(measure.start_on, 12 * int(ruleset.value(years_rule)))
            plans[person_id] = _term_tests(person, measure.start_on, end, ruleset, horizon)
    return plans


drug_tests.many = drug_tests_many  # type: ignore[attr-defined]  # engine.register reads it
