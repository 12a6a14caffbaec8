"""Property tests of the drug-test schedule: RULES.md's year 1 monthly, year 2 every 2 months,
year 3 every 3 months (>= 22 tests), read from the rule set."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from liangyi.core.rules import RuleSet, load
from liangyi.obligations.schedules import add_months, drug_test_dates, drug_test_periods, interval_months

NATIONAL = load("national")
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


def with_rule(ruleset: RuleSet, key: str, value: int) -> RuleSet:
    rules = dict(ruleset.rules)
    rules[key] = replace(rules[key], value=value)
    return RuleSet(name=ruleset.name, version=ruleset.version + "+test", rules=rules)


def month_index(day: date) -> int:
    return day.year * 12 + day.month


def three_years(start: date) -> date:
    return add_months(start, 36)


def year_of(start: date, due: date) -> int:
    """1-based year of the term a due date belongs to (a year's last due date is its anniversary)."""
    months = month_index(due) - month_index(start)
    return (months - 1) // 12 + 1


class TestAddMonths:
    def test_it_clamps_to_the_end_of_a_short_month(self):
        assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
        assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
        assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
        assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)

    @given(starts, st.integers(min_value=0, max_value=600))
    def test_it_lands_in_the_right_month(self, day, months):
        assert month_index(add_months(day, months)) == month_index(day) + months


class TestDrugTestDates:
    def test_the_national_rule_set_plans_12_6_and_4_tests(self):
        assert interval_months(NATIONAL) == (1, 2, 3)
        start = date(2025, 3, 10)
        dates = drug_test_dates(start, three_years(start), NATIONAL)
        assert len(dates) == 22
        assert dates[0] == date(2025, 4, 10)
        assert dates[11] == date(2026, 3, 10)
        assert dates[12] == date(2026, 5, 10)
        assert dates[-1] == date(2028, 3, 10)

    @given(starts)
    def test_dates_are_strictly_increasing_without_duplicates(self, start):
        dates = drug_test_dates(start, three_years(start), NATIONAL)
        assert len(set(dates)) == len(dates)
        assert all(a < b for a, b in zip(dates, dates[1:], strict=False))

    @given(starts)
    def test_each_gap_is_the_interval_of_the_year_the_test_falls_in(self, start):
        intervals = interval_months(NATIONAL)
        dates = drug_test_dates(start, three_years(start), NATIONAL)
        previous = start
        for due in dates:
            assert month_index(due) - month_index(previous) == intervals[year_of(start, due) - 1]
            previous = due

    @given(starts)
    def test_counts_per_year_are_as_the_rule_set_says(self, start):
        dates = drug_test_dates(start, three_years(start), NATIONAL)
        per_year = [sum(1 for d in dates if year_of(start, d) == year) for year in (1, 2, 3)]
        assert per_year == [12 // i for i in interval_months(NATIONAL)] == [12, 6, 4]
        assert len(dates) >= 22  # RULES.md: at least 22 tests over the term

    @given(starts)
    def test_windows_tile_the_term_without_gaps(self, start):
        periods = drug_test_periods(start, three_years(start), NATIONAL)
        assert periods[0].window_start == start + timedelta(days=1)  # the day of reporting is not counted
        for before, after in zip(periods, periods[1:], strict=False):
            assert after.window_start == before.due_on + timedelta(days=1)
        assert periods[-1].due_on == three_years(start)

    @given(starts, st.integers(min_value=1, max_value=35))
    def test_a_shorter_term_ends_with_a_test_on_its_last_day(self, start, months):
        end = add_months(start, months) - timedelta(days=1)
        dates = drug_test_dates(start, end, NATIONAL)
        assert dates[-1] == end
        assert all(d <= end for d in dates)

    @given(starts, st.integers(min_value=0, max_value=1000), st.integers(min_value=1, max_value=400))
    def test_a_suspension_holds_no_test_and_keeps_the_count(self, start, after, length):
        suspended_from = start + timedelta(days=after)
        released_on = suspended_from + timedelta(days=length)
        plain = drug_test_dates(start, three_years(start), NATIONAL)
        dates = drug_test_dates(start, three_years(start), NATIONAL, suspended=[(suspended_from, released_on)])
        assert len(dates) == len(plain)
        assert not any(suspended_from <= d < released_on for d in dates)
        assert all(a < b for a, b in zip(dates, dates[1:], strict=False))
        # Tests before the suspension stay put; those after move on by its length.
        for was, now in zip(plain, dates, strict=True):
            assert now == was if was < suspended_from else now == was + timedelta(days=length)

    @given(starts, st.lists(st.tuples(st.integers(0, 1100), st.integers(1, 200)), max_size=4))
    def test_several_suspensions_hold_no_test_and_keep_the_count(self, start, spans):
        suspended = [(start + timedelta(days=a), start + timedelta(days=a + n)) for a, n in spans]
        dates = drug_test_dates(start, three_years(start), NATIONAL, suspended=suspended)
        assert len(dates) == 22
        assert not any(s <= d < e for d in dates for s, e in suspended)
        assert all(a < b for a, b in zip(dates, dates[1:], strict=False))

    @given(starts)
    def test_a_rule_override_changes_the_counts(self, start):
        bimonthly = with_rule(NATIONAL, "test_interval_months_year1", 2)
        dates = drug_test_dates(start, three_years(start), bimonthly)
        per_year = [sum(1 for d in dates if year_of(start, d) == year) for year in (1, 2, 3)]
        assert per_year == [6, 6, 4]
        assert len(dates) == 16

    def test_an_interval_that_does_not_divide_a_year_restarts_each_year(self):
        every_five = with_rule(NATIONAL, "test_interval_months_year1", 5)
        start = date(2025, 1, 15)
        dates = drug_test_dates(start, three_years(start), every_five)
        assert dates[:3] == [date(2025, 6, 15), date(2025, 11, 15), date(2026, 1, 15)]
        assert len(dates) == 3 + 6 + 4
