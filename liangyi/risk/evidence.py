"""Does the grading work? Relapse within 6 and 12 months and Kaplan-Meier abstinence curves per
level and per cohort, from the system's own history.

Each person enters on their first grading under the active rule set (the level then is their
group; the cohort is the year of entry). The event is the first positive drug test after entry.
A person without one is censored at their last negative test after entry (the last day
abstinence was known), not at today: a person no longer tested is not assumed abstinent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from django.db.models import QuerySet

from liangyi.core.periods import add_months
from liangyi.people.models import Person
from liangyi.risk.grading import GradingRules
from liangyi.risk.models import Grading
from liangyi.supervision.models import DrugTest, Result

# The windows the page reports (the product's question: relapse within 6 and 12 months).
RATE_MONTHS = (6, 12)
# Months at which the at-risk table counts persons, and how far the chart reaches.
TABLE_STEP_MONTHS = 3
CHART_MONTHS = 24
DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class Subject:
    person_id: str
    entered: date
    group: str
    cohort: int
    ended: date  # the event day, or the day of censoring
    relapsed: bool

    @property
    def days(self) -> int:
        return (self.ended - self.entered).days


@dataclass(frozen=True)
class Point:
    """The curve after time ``days``: ``at_risk`` persons were followed to at least then."""

    days: int
    at_risk: int
    events: int
    censored: int
    survival: Fraction


def kaplan_meier(observations: Iterable[tuple[int, bool]]) -> list[Point]:
    """Product-limit estimate from (days, relapsed) pairs; one point per distinct time (and 0).

    At each time t with d events among the n persons still followed (duration >= t), the curve
    drops by the factor (1 - d/n); persons censored at t count as at risk at t (the usual convention).
    """
    obs = sorted(observations)
    n = len(obs)
    points = [Point(0, n, 0, 0, Fraction(1))]
    survival = Fraction(1)
    i = 0
    while i < len(obs):
        t = obs[i][0]
        events = censored = 0
        while i < len(obs) and obs[i][0] == t:
            if obs[i][1]:
                events += 1
            else:
                censored += 1
            i += 1
        at_risk = n
        if events:
            survival *= 1 - Fraction(events, at_risk)
        if t == 0:
            points[0] = Point(0, at_risk, events, censored, survival)
        else:
            points.append(Point(t, at_risk, events, censored, survival))
        n -= events + censored
    return points


def survival_at(points: Sequence[Point], days: int) -> Fraction:
    value = Fraction(1)
    for p in points:
        if p.days <= days:
            value = p.survival
    return value


def at_risk_at(observations: Sequence[tuple[int, bool]], days: int) -> int:
    return sum(1 for d, _ in observations if d >= days)


@dataclass(frozen=True)
class Rate:
    months: int
    relapsed: int
    persons: int  # relapsed within the window, or followed for the whole window

    @property
    def percent(self) -> float | None:
        return round(100 * self.relapsed / self.persons, 1) if self.persons else None


def relapse_rate(subjects: Sequence[Subject], months: int) -> Rate:
    relapsed = persons = 0
    for s in subjects:
        limit = add_months(s.entered, months)
        if s.relapsed and s.ended <= limit:
            relapsed += 1
            persons += 1
        elif s.ended >= limit:
            persons += 1
    return Rate(months, relapsed, persons)


def subjects(persons: QuerySet[Person], rules: GradingRules, on: date) -> list[Subject]:
    """One subject per person graded under ``rules`` on or before ``on``."""
    first: dict[str, tuple[date, str]] = {}
    rows = (Grading.objects.filter(person__in=persons, ruleset=rules.key, graded_on__lte=on)
            .order_by("person_id", "graded_on", "id").values_list("person_id", "graded_on", "level"))
    for person_id, graded_on, level in rows:
        first.setdefault(str(person_id), (graded_on, level))
    tests: dict[str, list[tuple[date, str]]] = defaultdict(list)
    test_rows = (DrugTest.objects.filter(person__in=persons, tested_on__lte=on,
                                         result__in=[Result.POSITIVE, Result.NEGATIVE])
                 .order_by("tested_on", "id").values_list("person_id", "tested_on", "result"))
    for person_id, tested_on, result in test_rows:
        tests[str(person_id)].append((tested_on, result))
    out = []
    for person_id, (entered, level) in first.items():
        after = [(d, r) for d, r in tests.get(person_id, []) if d > entered]
        positive = next((d for d, r in after if r == Result.POSITIVE), None)
        if positive is not None:
            out.append(Subject(person_id, entered, level, entered.year, positive, True))
        else:
            last = max((d for d, r in after if r == Result.NEGATIVE), default=entered)
            out.append(Subject(person_id, entered, level, entered.year, last, False))
    return out


@dataclass
class Series:
    key: str
    label: str
    colour: str
    subjects: list[Subject]
    enough: bool
    points: list[Point]
    rates: list[Rate]
    table: list[tuple[int, int, float | None]]  # (months, at risk, survival % or None past the data)

    @property
    def persons(self) -> int:
        return len(self.subjects)

    @property
    def relapses(self) -> int:
        return sum(1 for s in self.subjects if s.relapsed)


def series(key: str, label: str, colour: str, members: list[Subject], minimum: int, max_months: int) -> Series:
    obs = [(s.days, s.relapsed) for s in members]
    points = kaplan_meier(obs)
    table = []
    for months in range(0, max_months + 1, TABLE_STEP_MONTHS):
        days = round(months * DAYS_PER_MONTH)
        n = at_risk_at(obs, days)
        # Beyond the last person followed the curve says nothing: no share is shown.
        share = round(float(survival_at(points, days)) * 100, 1) if n or months == 0 else None
        table.append((months, n, share))
    return Series(key, label, colour, members, len(members) >= minimum, points,
                  [relapse_rate(members, m) for m in RATE_MONTHS], table)


def by_level(all_subjects: list[Subject], rules: GradingRules, minimum: int, max_months: int) -> list[Series]:
    return [series(lv.key, lv.label, lv.colour, [s for s in all_subjects if s.group == lv.key], minimum, max_months)
            for lv in rules.levels]


COHORT_COLOURS = ("blue", "purple", "teal", "brown", "grey")


def by_cohort(all_subjects: list[Subject], minimum: int, max_months: int) -> list[Series]:
    years = sorted({s.cohort for s in all_subjects})
    return [series(str(y), str(y), COHORT_COLOURS[i % len(COHORT_COLOURS)],
                   [s for s in all_subjects if s.cohort == y], minimum, max_months) for i, y in enumerate(years)]


# --- the chart -------------------------------------------------------------------------------

STROKES = {"red": "#b3261e", "yellow": "#b58100", "green": "#1e7b34", "blue": "#1f5fa8", "purple": "#6b3fa0",
           "teal": "#0f7c80", "brown": "#7a4b1e", "grey": "#555555"}
DASHES = ("", "8 4", "3 3", "10 3 2 3", "1 3")


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int
    paths: list[dict[str, str]]
    x_ticks: list[dict[str, float | int]]
    y_ticks: list[dict[str, float | int]]


def chart(all_series: Sequence[Series], max_months: int) -> Chart:
    """Step paths in SVG user units, drawn server-side (no script)."""
    width, height, left, top, right, bottom = 640, 260, 48, 12, 12, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    max_days = max_months * DAYS_PER_MONTH

    def x(days: float) -> float:
        return round(left + plot_w * min(days, max_days) / max_days, 1)

    def y(s: float) -> float:
        return round(top + plot_h * (1 - s), 1)

    paths = []
    for i, s in enumerate(all_series):
        if not s.enough:
            continue
        d = [f"M{x(0)},{y(1)}"]
        current = 1.0
        last_day = max((p.days for p in s.points), default=0)
        for p in s.points:
            if p.days > max_days:
                break
            d.append(f"H{x(p.days)}")
            if float(p.survival) != current:
                current = float(p.survival)
                d.append(f"V{y(current)}")
        d.append(f"H{x(min(last_day, max_days))}")
        paths.append({"d": " ".join(d), "stroke": STROKES.get(s.colour, "#333333"), "dash": DASHES[i % len(DASHES)],
                      "label": s.label})
    x_ticks = [{"x": x(m * DAYS_PER_MONTH), "label": m} for m in range(0, max_months + 1, TABLE_STEP_MONTHS)]
    y_ticks = [{"y": y(v / 100), "label": v} for v in (0, 25, 50, 75, 100)]
    return Chart(width, height, left, top, plot_w, plot_h, paths, x_ticks, y_ticks)
