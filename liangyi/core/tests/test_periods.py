"""Legal periods: Civil Code deadlines over the holiday calendar, month steps and terms."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from liangyi.core import periods, rules
from liangyi.core.periods import (
    HolidayCalendar,
    HolidayCalendarError,
    YearNotCovered,
    add_months,
    add_years,
    deadline,
    term_end,
)

CAL = periods.holiday_calendar()
CONFIRMED_YEARS = (2024, 2025, 2026)


def due(start: date, days: int = 15, *, weekend: bool = False) -> date:
    return deadline(start, days, calendar=CAL, weekend_extends=weekend)


def longest_holiday_run(calendar: HolidayCalendar) -> int:
    longest = run = 0
    previous = None
    for d in sorted(calendar.holidays):
        run = run + 1 if previous is not None and d - previous == timedelta(days=1) else 1
        longest = max(longest, run)
        previous = d
    return longest


def one_year(year: int, blocks: list[dict], grade: str = "law") -> dict:
    return {"years": {str(year): {"grade": grade, "source": "test notice", "note": "test", "holidays": blocks}}}


@pytest.fixture
def fresh_ruleset():
    rules.current.cache_clear()
    yield
    rules.current.cache_clear()


class TestTheCalendarData:
    def test_the_notices_of_2024_to_2026_are_confirmed_and_2027_is_open(self):
        for year in CONFIRMED_YEARS:
            assert CAL.years[year].grade == "law"
            assert "国办发明电" in CAL.years[year].source
        assert CAL.years[2027].grade == "open"
        assert "confirmed" in CAL.years[2027].note

    @pytest.mark.parametrize(
        ("first", "last"),
        [
            (date(2024, 2, 10), date(2024, 2, 17)),
            (date(2024, 10, 1), date(2024, 10, 7)),
            (date(2025, 1, 28), date(2025, 2, 4)),
            (date(2025, 10, 1), date(2025, 10, 8)),
            (date(2026, 2, 15), date(2026, 2, 23)),
        ],
    )
    def test_the_long_holidays_are_rest_days_from_first_to_last(self, first, last):
        assert not CAL.is_holiday(first - timedelta(days=1))
        d = first
        while d <= last:
            assert CAL.is_holiday(d), d
            assert not CAL.is_workday(d), d
            d += timedelta(days=1)
        assert not CAL.is_holiday(last + timedelta(days=1))

    @pytest.mark.parametrize(
        "d",
        [
            date(2024, 2, 4),
            date(2024, 2, 18),
            date(2024, 9, 29),
            date(2024, 10, 12),
            date(2025, 1, 26),
            date(2025, 2, 8),
            date(2025, 9, 28),
            date(2025, 10, 11),
            date(2026, 2, 14),
            date(2026, 2, 28),
            date(2026, 9, 20),
            date(2026, 10, 10),
        ],
    )
    def test_a_make_up_day_is_a_weekend_day_that_is_a_workday(self, d):
        assert d.weekday() >= 5
        assert CAL.is_workday(d)
        assert not CAL.is_holiday(d)

    def test_an_ordinary_weekend_is_neither_holiday_nor_workday_and_a_weekday_is_a_workday(self):
        saturday, wednesday = date(2024, 3, 9), date(2024, 3, 6)
        assert not CAL.is_holiday(saturday)
        assert not CAL.is_workday(saturday)
        assert CAL.is_workday(wednesday)

    def test_the_fixed_date_statutory_days_are_holidays_in_every_confirmed_year(self):
        for year in CONFIRMED_YEARS:
            for month, day in [(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)]:
                assert CAL.is_holiday(date(year, month, day)), (year, month, day)

    def test_the_file_is_cached(self):
        assert periods.holiday_calendar() is periods.holiday_calendar()


class TestYearsNotInTheCalendar:
    def test_a_year_before_the_data_raises(self):
        assert not CAL.covers(date(2023, 6, 1))
        with pytest.raises(YearNotCovered) as exc:
            CAL.is_holiday(date(2023, 6, 1))
        assert exc.value.year == 2023
        assert "2023" in str(exc.value)

    def test_an_open_year_is_not_covered_even_for_the_days_it_lists(self):
        assert date(2027, 10, 1) in CAL.holidays
        assert not CAL.covers(date(2027, 10, 1))
        with pytest.raises(YearNotCovered):
            CAL.is_holiday(date(2027, 10, 1))
        with pytest.raises(YearNotCovered):
            CAL.is_workday(date(2027, 3, 3))

    def test_the_last_days_of_december_wait_for_the_next_notice(self):
        assert CAL.covers(date(2025, 12, 31))
        assert CAL.covers(date(2026, 12, 28))
        assert not CAL.covers(date(2026, 12, 29))
        with pytest.raises(YearNotCovered) as exc:
            CAL.is_workday(date(2026, 12, 31))
        assert exc.value.year == 2027

    def test_a_deadline_ending_in_an_unknown_year_raises_instead_of_ignoring_holidays(self):
        with pytest.raises(YearNotCovered):
            due(date(2026, 12, 20))
        with pytest.raises(YearNotCovered):
            due(date(2023, 5, 1))

    def test_only_the_days_a_deadline_judges_need_to_be_covered(self):
        assert due(date(2023, 12, 20)) == date(2024, 1, 4)

    def test_a_deadline_extended_into_an_unknown_year_raises(self):
        cal = HolidayCalendar.from_data(
            one_year(
                2030,
                [
                    {"name": "x", "rest": [date(2030, 12, 24), date(2030, 12, 28)], "days": 5, "work": []},
                ],
            )
        )
        assert deadline(date(2030, 12, 1), 15, calendar=cal, weekend_extends=False) == date(2030, 12, 16)
        with pytest.raises(YearNotCovered):
            deadline(date(2030, 12, 10), 15, calendar=cal, weekend_extends=False)


class TestBrokenCalendarData:
    def test_a_make_up_day_on_a_weekday_is_refused(self):
        with pytest.raises(HolidayCalendarError, match="Saturday or Sunday"):
            HolidayCalendar.from_data(
                one_year(
                    2030,
                    [
                        {
                            "name": "x",
                            "rest": [date(2030, 1, 1), date(2030, 1, 1)],
                            "days": 1,
                            "work": [date(2030, 1, 7)],
                        },
                    ],
                )
            )

    def test_a_block_whose_length_differs_from_the_notice_is_refused(self):
        with pytest.raises(HolidayCalendarError, match="says 7"):
            HolidayCalendar.from_data(
                one_year(
                    2030,
                    [
                        {"name": "x", "rest": [date(2030, 10, 1), date(2030, 10, 8)], "days": 7, "work": []},
                    ],
                )
            )

    def test_a_date_outside_the_notice_year_is_refused(self):
        with pytest.raises(HolidayCalendarError, match="outside"):
            HolidayCalendar.from_data(
                one_year(
                    2030,
                    [
                        {"name": "x", "rest": [date(2031, 1, 1), date(2031, 1, 1)], "days": 1, "work": []},
                    ],
                )
            )

    def test_an_unknown_grade_and_a_missing_file_are_refused(self, tmp_path):
        with pytest.raises(HolidayCalendarError, match="grade"):
            HolidayCalendar.from_data(one_year(2030, [], grade="maybe"))
        with pytest.raises(HolidayCalendarError, match="not found"):
            HolidayCalendar.from_toml(tmp_path / "absent.toml")


class TestDeadline:
    def test_the_examples_of_the_rules(self):
        assert due(date(2024, 2, 20)) == date(2024, 3, 6)
        assert due(date(2024, 9, 16)) == date(2024, 10, 8)

    def test_the_day_of_receipt_is_not_counted(self):
        assert due(date(2024, 3, 4), 1) == date(2024, 3, 5)

    def test_it_lands_on_a_leap_day(self):
        assert due(date(2024, 2, 14)) == date(2024, 2, 29)

    def test_a_last_day_on_the_last_day_of_a_holiday_moves_to_the_next_day(self):
        assert due(date(2024, 9, 22)) == date(2024, 10, 8)
        assert due(date(2026, 2, 8)) == date(2026, 2, 24)

    def test_a_last_day_on_a_make_up_working_day_stays_whatever_the_switch(self):
        assert due(date(2024, 9, 27)) == date(2024, 10, 12)
        assert due(date(2024, 9, 27), weekend=True) == date(2024, 10, 12)

    def test_an_ordinary_saturday_moves_to_monday_only_with_the_switch(self):
        assert due(date(2024, 2, 23)) == date(2024, 3, 9)
        assert due(date(2024, 2, 23), weekend=True) == date(2024, 3, 11)

    def test_with_the_switch_a_holiday_followed_by_a_weekend_ends_after_both(self):
        # 2024-06-08..10 Dragon Boat (joined to the weekend), then working days: no change there.
        assert due(date(2024, 5, 24), weekend=True) == date(2024, 6, 11)
        # 2025-10-01..08 ends on a Wednesday; 10-11 is a make-up Saturday: nothing to skip.
        assert due(date(2025, 9, 16), weekend=True) == date(2025, 10, 9)

    def test_a_weekend_day_the_notice_joins_to_a_holiday_is_a_holiday(self):
        assert due(date(2024, 5, 24)) == date(2024, 6, 11)

    def test_a_period_of_no_days_is_refused(self):
        with pytest.raises(ValueError, match="at least one day"):
            due(date(2024, 3, 1), 0)


@pytest.mark.usefixtures("fresh_ruleset")
class TestReportDeadline:
    def test_it_uses_the_rule_set(self):
        assert rules.current().value("report_deadline_days") == 15
        assert periods.report_deadline(date(2024, 9, 16)) == date(2024, 10, 8)
        assert periods.report_deadline(date(2024, 2, 23)) == date(2024, 3, 9)

    def test_a_province_can_switch_the_weekend_on(self, tmp_path):
        path = tmp_path / "province.toml"
        path.write_text("[rules.deadline_weekend_extends]\nvalue = true\n", encoding="utf-8")
        with override_settings(RULESET_OVERRIDE=str(path)):
            rules.current.cache_clear()
            assert periods.report_deadline(date(2024, 2, 23)) == date(2024, 3, 11)

    def test_a_switch_written_as_a_string_is_refused(self, tmp_path):
        path = tmp_path / "province.toml"
        path.write_text('[rules.deadline_weekend_extends]\nvalue = "false"\n', encoding="utf-8")
        with override_settings(RULESET_OVERRIDE=str(path)):
            rules.current.cache_clear()
            with pytest.raises(rules.RuleSetError, match="true or false"):
                periods.report_deadline(date(2024, 2, 23))


class TestMonthsAndYears:
    @pytest.mark.parametrize(
        ("start", "n", "expected"),
        [
            (date(2024, 1, 31), 1, date(2024, 2, 29)),
            (date(2025, 1, 31), 1, date(2025, 2, 28)),
            (date(2024, 3, 31), 1, date(2024, 4, 30)),
            (date(2024, 12, 15), 1, date(2025, 1, 15)),
            (date(2024, 3, 31), -1, date(2024, 2, 29)),
            (date(2024, 1, 15), -1, date(2023, 12, 15)),
            (date(2024, 8, 31), 6, date(2025, 2, 28)),
        ],
    )
    def test_add_months_clamps_to_the_month_end(self, start, n, expected):
        assert add_months(start, n) == expected

    def test_add_years_from_a_leap_day(self):
        assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
        assert add_years(date(2028, 2, 29), 1) == date(2029, 2, 28)
        assert add_years(date(2028, 2, 29), 4) == date(2032, 2, 29)
        assert add_years(date(2028, 2, 29), -4) == date(2024, 2, 29)

    def test_leaving_the_calendar_is_an_overflow(self):
        with pytest.raises(OverflowError):
            add_months(date(9999, 12, 1), 1)


class TestTermEnd:
    def test_a_three_year_term_ends_the_day_before_the_anniversary(self):
        assert term_end(date(2024, 3, 1), years=3) == date(2027, 2, 28)
        assert term_end(date(2024, 6, 15), years=3) == date(2027, 6, 14)

    def test_without_a_corresponding_day_it_ends_at_the_month_end(self):
        assert term_end(date(2024, 2, 29), years=1) == date(2025, 2, 28)
        assert term_end(date(2028, 2, 29), years=3) == date(2031, 2, 28)
        assert term_end(date(2028, 2, 29), years=4) == date(2032, 2, 28)
        assert term_end(date(2024, 1, 31), months=1) == date(2024, 2, 29)

    def test_years_and_months_add_up(self):
        assert term_end(date(2024, 3, 1), years=1, months=6) == date(2025, 8, 31)

    def test_a_term_of_nothing_is_refused(self):
        with pytest.raises(ValueError, match="at least one month"):
            term_end(date(2024, 3, 1))


# Properties. Last days stay within 2024-01-01..2026-12-28, the days the data settles.
received = st.dates(min_value=date(2023, 12, 31), max_value=date(2026, 12, 1))
period_days = st.integers(min_value=1, max_value=27)
LONGEST = longest_holiday_run(CAL)


class TestProperties:
    def test_the_longest_holiday_is_the_2026_spring_festival(self):
        assert LONGEST == 9

    @given(received, period_days, st.booleans())
    def test_a_deadline_is_never_early_never_on_a_holiday_and_never_far(self, start, days, weekend):
        end = due(start, days, weekend=weekend)
        last = start + timedelta(days=days)
        assert end >= last
        assert not CAL.is_holiday(end)
        assert (end - last).days <= LONGEST + (2 if weekend else 0)
        if weekend:
            assert CAL.is_workday(end)

    @given(received, period_days, st.booleans())
    def test_a_deadline_moves_only_over_days_off(self, start, days, weekend):
        end = due(start, days, weekend=weekend)
        d = start + timedelta(days=days)
        while d < end:
            assert CAL.is_holiday(d) or (weekend and not CAL.is_workday(d)), d
            d += timedelta(days=1)

    @given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.integers(-1200, 1200))
    def test_add_months_lands_in_the_right_month_without_overflowing_it(self, d, n):
        result = add_months(d, n)
        assert (result.year * 12 + result.month) - (d.year * 12 + d.month) == n
        assert result.day == d.day or (result.day < d.day and (result + timedelta(days=1)).day == 1)

    @given(
        st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
        st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)),
        st.integers(-1200, 1200),
    )
    def test_add_months_is_monotone(self, a, b, n):
        a, b = min(a, b), max(a, b)
        assert add_months(a, n) <= add_months(b, n)

    @given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
    def test_a_three_year_term_ends_the_day_before_its_anniversary(self, start):
        try:
            anniversary = start.replace(year=start.year + 3)
        except ValueError:  # 29 February into a common year: the term runs to the end of February
            anniversary = date(start.year + 3, 3, 1)
        assert term_end(start, years=3) == anniversary - timedelta(days=1)
