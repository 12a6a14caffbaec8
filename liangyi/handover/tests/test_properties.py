"""Property tests of the release-date rule: escapes push it by the days away, medical leave never moves it."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from liangyi.core import periods
from liangyi.core import rules as core_rules
from liangyi.handover.assessment import Event, planned_release, served_days

decisions = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))
gaps = st.lists(st.tuples(st.integers(1, 200), st.integers(0, 90)), max_size=4)


def _events(decided: date, pairs: list[tuple[int, int]], kind_out: str, kind_back: str) -> list[Event]:
    events, day = [], decided
    for wait, away in pairs:
        day += timedelta(days=wait)
        events.append(Event(kind_out, day))
        day += timedelta(days=away)
        events.append(Event(kind_back, day))
    return events


@given(decisions, gaps)
def test_escapes_push_the_release_by_exactly_the_days_away(decided, pairs):
    ruleset = core_rules.current()
    base = periods.term_end(decided, years=int(ruleset.value("isolation_term_years")))
    events = _events(decided, pairs, "escape", "return")
    assert planned_release(decided, events, ruleset) == base + timedelta(days=sum(away for _w, away in pairs))
    last = events[-1].on if events else decided
    assert served_days(decided, last, events) == (last - decided).days - sum(away for _w, away in pairs)


@given(decisions, gaps)
def test_medical_leave_never_moves_the_release(decided, pairs):
    ruleset = core_rules.current()
    events = _events(decided, pairs, "medical_out", "medical_back")
    assert planned_release(decided, events, ruleset) == planned_release(decided, [], ruleset)


@given(decisions, st.integers(1, 12))
def test_an_extension_never_shortens_and_the_term_is_never_short(decided, months):
    ruleset = core_rules.current()
    plain = planned_release(decided, [], ruleset)
    assert plain >= periods.add_years(decided, 2) - timedelta(days=1)
    assert planned_release(decided, [Event("extension", decided, months=months)], ruleset) > plain
