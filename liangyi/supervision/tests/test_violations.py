"""The pure Reg 20 threshold logic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from liangyi.core.rules import load
from liangyi.supervision.violations import Thresholds, needs_leave_request, serious_breaches

NATIONAL = load("national")
THRESHOLDS = Thresholds.of(NATIONAL)


def rules_met(refusals=0, absences=0, days=0):
    return [b.rule for b in serious_breaches(refusals=refusals, unauthorised_absences=absences, absence_days=days,
                                             thresholds=THRESHOLDS)]


class TestThresholds:
    def test_the_national_values_are_read_from_the_rule_set(self):
        assert (THRESHOLDS.refused_tests, THRESHOLDS.absences, THRESHOLDS.absence_days) == (3, 3, 30)

    def test_refusals_at_the_boundary(self):
        assert rules_met(refusals=2) == []
        assert rules_met(refusals=3) == ["serious_violation_refused_tests"]

    def test_absences_at_the_boundary(self):
        assert rules_met(absences=2) == []
        assert rules_met(absences=3) == ["serious_violation_absences"]

    def test_absence_days_at_the_boundary(self):
        assert rules_met(days=30) == []
        assert rules_met(days=31) == ["serious_violation_absence_days"]

    def test_leave_report_from_three_days(self):
        assert not needs_leave_request(2, NATIONAL)
        assert needs_leave_request(3, NATIONAL)

    @given(st.integers(0, 10), st.integers(0, 10), st.integers(0, 100), st.integers(1, 5), st.integers(1, 5),
           st.integers(1, 60))
    def test_a_rule_is_met_exactly_when_its_count_reaches_the_value(self, refusals, absences, days, tr, ta, td):
        thresholds = Thresholds(tr, ta, td)
        met = {b.rule for b in serious_breaches(refusals=refusals, unauthorised_absences=absences, absence_days=days,
                                                thresholds=thresholds)}
        assert ("serious_violation_refused_tests" in met) == (refusals >= tr)
        assert ("serious_violation_absences" in met) == (absences >= ta)
        assert ("serious_violation_absence_days" in met) == (days > td)
