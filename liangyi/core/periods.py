"""Legal period arithmetic: Civil Code 201-203 deadlines over the Chinese holiday calendar, months, terms.

The core functions are pure and take the calendar and the weekend switch as parameters; only
``holiday_calendar()`` and ``report_deadline()`` read files or the active rule set.

Unknown years: the calendar knows a year only once the State Council has published its holiday notice
(grade ``law`` in holidays_cn.toml). Asking about any other date raises ``YearNotCovered``, and so does
a deadline whose last day (or any day it is extended over) falls there: a deadline that silently ignored
the holidays of an unknown year could end days too early. Callers catch it and show its message.
"""

from __future__ import annotations

import tomllib
from calendar import monthrange
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from liangyi.core import rules

HOLIDAYS_FILE = rules.RULES_DIR / "holidays_cn.toml"
CALENDAR_GRADES = {"law", "open"}

# A year's notice can reach back into the last days of December before it (the 2008 notice made
# 2007-12-29 a working day), so those days are only known once the following year is covered too.
NEXT_NOTICE_REACHES_BACK_TO = (12, 29)

ONE_DAY = timedelta(days=1)


class HolidayCalendarError(ValueError):
    """The holiday data is malformed."""


class YearNotCovered(HolidayCalendarError):
    """A date falls in a year whose holiday notice is not in the data."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            _(
                "The holiday calendar has no confirmed arrangement for %(year)s, so this deadline cannot be counted. "
                "Ask an administrator to add the State Council notice for %(year)s to the holiday calendar."
            )
            % {"year": year}
        )


@dataclass(frozen=True)
class HolidayYear:
    year: int
    grade: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class HolidayCalendar:
    """Statutory holidays and make-up working days, by the year of the notice that fixed them."""

    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    years: Mapping[int, HolidayYear]

    @classmethod
    def from_toml(cls, path: Path) -> HolidayCalendar:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise HolidayCalendarError(f"holiday calendar not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise HolidayCalendarError(f"{path}: {exc}") from None
        return cls.from_data(data, origin=path.name)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, origin: str = "holiday data") -> HolidayCalendar:
        holidays: set[date] = set()
        workdays: set[date] = set()
        years: dict[int, HolidayYear] = {}
        for key, entry in data.get("years", {}).items():
            year = int(key)
            where = f"{origin}: year {year}"
            grade = entry.get("grade")
            if grade not in CALENDAR_GRADES:
                raise HolidayCalendarError(f"{where}: grade {grade!r}; use one of {sorted(CALENDAR_GRADES)}")
            if not str(entry.get("source", "")).strip():
                raise HolidayCalendarError(f"{where}: lacks a source")
            if grade == "open" and not str(entry.get("note", "")).strip():
                raise HolidayCalendarError(f"{where}: an open year needs a note saying what must be confirmed")
            years[year] = HolidayYear(year, grade, entry["source"], entry.get("note", ""))
            for block in entry.get("holidays", []):
                rest, block_work = _parse_block(block, year, f"{where}, {block.get('name', '?')}")
                holidays.update(rest)
                workdays.update(block_work)
        clash = holidays & workdays
        if clash:
            raise HolidayCalendarError(f"{origin}: both holiday and working day: {sorted(clash)}")
        return cls(frozenset(holidays), frozenset(workdays), years)

    def is_confirmed(self, year: int) -> bool:
        entry = self.years.get(year)
        return entry is not None and entry.grade == "law"

    def covers(self, d: date) -> bool:
        """Whether the data settles ``d``: its year's notice is in, and the next one too for late December."""
        if not self.is_confirmed(d.year):
            return False
        return (d.month, d.day) < NEXT_NOTICE_REACHES_BACK_TO or self.is_confirmed(d.year + 1)

    def _check(self, d: date) -> None:
        if not self.is_confirmed(d.year):
            raise YearNotCovered(d.year)
        if not self.covers(d):
            raise YearNotCovered(d.year + 1)

    def is_holiday(self, d: date) -> bool:
        """A statutory rest day (放假), including weekend days the notice joins to a holiday."""
        self._check(d)
        return d in self.holidays

    def is_workday(self, d: date) -> bool:
        """Monday to Friday unless a holiday; Saturday and Sunday only when a make-up working day."""
        self._check(d)
        if d in self.makeup_workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays


def _dates(first: date, last: date) -> Iterable[date]:
    d = first
    while d <= last:
        yield d
        d += ONE_DAY


def _parse_block(block: Mapping[str, Any], year: int, where: str) -> tuple[list[date], list[date]]:
    try:
        first, last = block["rest"]
        days = block["days"]
        work = list(block.get("work", []))
    except (KeyError, ValueError, TypeError):
        raise HolidayCalendarError(f"{where}: needs rest = [first, last] and days = N") from None
    every = [first, last, *work]
    if not all(type(d) is date for d in every):
        raise HolidayCalendarError(f"{where}: dates must be TOML dates like 2024-10-01")
    if first > last:
        raise HolidayCalendarError(f"{where}: rest starts after it ends")
    for d in every:
        # A notice fixes its own year, and may reach back into December of the year before.
        if not (d.year == year or (d.year == year - 1 and d.month == 12)):
            raise HolidayCalendarError(f"{where}: {d} is outside the notice's year")
    rest = list(_dates(first, last))
    if len(rest) != days:
        raise HolidayCalendarError(f"{where}: rest spans {len(rest)} days but the notice says {days}")
    weekday_work = [d for d in work if d.weekday() < 5]
    if weekday_work:
        raise HolidayCalendarError(f"{where}: make-up working days must be a Saturday or Sunday: {weekday_work}")
    return rest, work


@cache
def holiday_calendar() -> HolidayCalendar:
    return HolidayCalendar.from_toml(HOLIDAYS_FILE)


def deadline(start: date, days: int, *, calendar: HolidayCalendar, weekend_extends: bool) -> date:
    """The last day of a period of ``days`` days from ``start`` (Civil Code 201, 203).

    The day of receipt is not counted, so the last day is ``start + days``. If it is a statutory
    holiday, the period ends on the first day after it that is not one; with ``weekend_extends``
    also not an ordinary Saturday or Sunday (make-up working days are working days).
    Raises ``YearNotCovered`` when a day it must judge is outside the calendar's confirmed years.
    """
    if days < 1:
        raise ValueError("a period has at least one day")
    last = start + timedelta(days=days)
    while calendar.is_holiday(last) or (weekend_extends and not calendar.is_workday(last)):
        last += ONE_DAY
    return last


def add_months(d: date, n: int) -> date:
    """``d`` moved by ``n`` calendar months; a day the target month lacks becomes its last day."""
    year, month0 = divmod(d.year * 12 + d.month - 1 + n, 12)
    month = month0 + 1
    if not 1 <= year <= 9999:
        raise OverflowError(f"{d} + {n} months is outside the calendar")
    return date(year, month, min(d.day, monthrange(year, month)[1]))


def add_years(d: date, n: int) -> date:
    """``d`` moved by ``n`` years; 29 February becomes 28 February in a common year."""
    return add_months(d, 12 * n)


def term_end(start: date, *, years: int = 0, months: int = 0) -> date:
    """The last day of a term that counts from ``start`` inclusive, such as 社区戒毒 from the day of reporting.

    The start day is the term's first day, so the term ends on the day before the corresponding day
    (3 years from 2024-03-01 end on 2027-02-28). When the end month has no corresponding day, the
    term ends on that month's last day (as Civil Code 202 does): 1 year from 2024-02-29 ends on
    2025-02-28, 1 month from 2024-01-31 on 2024-02-29. So the term never runs short of its length.
    """
    total = 12 * years + months
    if total < 1:
        raise ValueError("a term lasts at least one month")
    same_day = add_months(start, total)
    if same_day.day < start.day:
        return same_day
    return same_day - ONE_DAY


def report_deadline(received_on: date) -> date:
    """The last day to report (报到) after receiving a decision, under the active rule set."""
    ruleset = rules.current()
    days, weekend = ruleset.value("report_deadline_days"), ruleset.value("deadline_weekend_extends")
    # A province file saying value = "false" must not turn the switch on by truthiness.
    if type(days) is not int or type(weekend) is not bool:
        raise rules.RuleSetError("report_deadline_days must be an integer and deadline_weekend_extends true or false")
    return deadline(received_on, days, calendar=holiday_calendar(), weekend_extends=weekend)
