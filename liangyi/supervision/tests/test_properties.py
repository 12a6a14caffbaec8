"""Property tests of a person's whole schedule as the supervision chain plans it (every kind,
from the rule set), across suspensions and a change of execution place; and the remaining
boundaries of the Reg 19/20 rules not covered in test_services."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from liangyi.core import periods
from liangyi.core import rules as core_rules
from liangyi.demo import factories
from liangyi.obligations.models import Kind, Obligation
from liangyi.obligations.schedules import interval_months, interval_periods
from liangyi.supervision import plans, services
from liangyi.supervision.models import OrderKind

RULES = core_rules.current()
TODAY = date.today()
KIND_RULES = {Kind.CHECK_IN: "check_in_interval_months", Kind.HOME_VISIT: "home_visit_interval_months",
              Kind.PLAN_REVIEW: "plan_review_interval_months"}
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))
_births = itertools.count()


def expected_per_year(kind: str) -> list[int]:
    if kind == Kind.DRUG_TEST:
        return [12 // m for m in interval_months(RULES)]
    months = int(RULES.value(KIND_RULES[kind]))
    return [12 // months] * 3


def check_tiles(periods_: list, start: date, end: date) -> None:
    """Windows follow each other day after day from the day after the start to the end: no gap, no overlap."""
    assert periods_[0].window_start == start + timedelta(days=1)
    for before, after in itertools.pairwise(periods_):
        assert after.window_start == before.due_on + timedelta(days=1)
    assert periods_[-1].due_on == end


class TestIntervalPeriods:
    @given(starts, st.sampled_from([1, 2, 3, 4, 6, 12]))
    def test_no_gaps_no_duplicates_and_12_over_n_a_year(self, start, months):
        end = periods.term_end(start, years=3)
        ps = interval_periods(start, end, (months,))
        check_tiles(ps, start, end)
        assert len({p.due_on for p in ps}) == len(ps) == 3 * 12 // months

    @given(starts, st.integers(0, 1000), st.integers(1, 300), st.sampled_from([1, 2, 3, 6]))
    def test_a_suspension_shifts_without_losing_a_period(self, start, after, length, months):
        end = periods.term_end(start, years=3)
        plain = interval_periods(start, end, (months,))
        s = start + timedelta(days=after + 1)
        shifted = interval_periods(start, end, (months,), [(s, s + timedelta(days=length))])
        assert len(shifted) == len(plain)
        assert len({p.due_on for p in shifted}) == len(shifted)
        assert not any(s <= p.due_on < s + timedelta(days=length) for p in shifted)


def term_year(reported: date, day: date) -> int:
    """0-based year of the term a day (in unsuspended term time) falls in; a year's last due date
    is its anniversary (obligations/schedules.py)."""
    return next(y for y in range(3) if day <= periods.add_months(reported, 12 * (y + 1)))


def _running(person, actor, reported: date):
    order = services.order_create(person=person, kind=OrderKind.COMMUNITY_DRUG_REHAB, decided_on=reported,
                                  received_on=reported, actor=actor)
    return services.report_receive(order=order, reported_on=reported, actor=actor)


def _planned(person, kind: str) -> list[Obligation]:
    return list(Obligation.objects.filter(person=person, source=plans.SOURCE, kind=kind).order_by("due_on"))


@pytest.mark.django_db
@hsettings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reported_ago=st.integers(60, 900), suspend_after=st.integers(1, 50), suspend_days=st.integers(1, 40),
       transfer=st.booleans())
def test_the_planned_schedule_holds_across_suspension_and_transfer(places, reported_ago, suspend_after, suspend_days,
                                                                   transfer):
    """Every kind: no duplicate due dates, counts per term year as the rule set says, nothing due
    while suspended, the rule-set version recorded; a transfer moves open ones, never the dates."""
    county_worker = factories.user(f"cw{next(_births)}", "community_worker", places["county"])
    birth = date(1960, 1, 1) + timedelta(days=next(_births))
    person = factories.person(places["township"], name="性质测试", birth=birth)
    reported = TODAY - timedelta(days=reported_ago)
    order = _running(person, county_worker, reported)
    start = reported + timedelta(days=suspend_after)
    release = start + timedelta(days=suspend_days)
    services.order_suspend(order=order, start=start, reason="detention", actor=county_worker)
    services.order_resume(order=order, on=min(release, TODAY), actor=county_worker)
    days = (min(release, TODAY) - start).days
    before = {k: [o.due_on for o in _planned(person, k)] for k in (Kind.DRUG_TEST, *KIND_RULES)}
    if transfer:
        services.order_transfer(order=order, to_township="530302002", on=TODAY, actor=county_worker)
    order.refresh_from_db()
    assert order.term_ends_on == periods.term_end(reported, years=3) + timedelta(days=days)
    for kind in (Kind.DRUG_TEST, *KIND_RULES):
        planned = _planned(person, kind)
        dues = [o.due_on for o in planned]
        assert dues == before[kind]  # a transfer never moves a date
        assert len(set(dues)) == len(dues)
        assert not any(start <= d < start + timedelta(days=days) for d in dues)
        assert dues[-1] == order.term_ends_on
        # term year of each due date, counted in term time (the suspension cut out)
        years = Counter(term_year(reported, d - timedelta(days=days) if d >= start else d) for d in dues)
        assert [years[y] for y in range(3)] == expected_per_year(kind)
        assert {o.ruleset_version for o in planned} == {RULES.version}
        if transfer:
            assert {o.office_id for o in planned if o.is_open} <= {"530302002"}


@pytest.mark.django_db
class TestLeaveBoundaries:
    """Reg 19: the written report must come before leaving, and cover the whole absence."""

    @pytest.fixture
    def order(self, person, personas):
        return _running(person, personas["worker"], TODAY - timedelta(days=200))

    def leave(self, order, worker, *, approved: int, to_on: int):
        request = services.leave_request(order=order, from_on=TODAY - timedelta(days=50),
                                         to_on=TODAY - timedelta(days=to_on), destination="昆明", actor=worker)
        return services.leave_approve(request=request, actor=worker, approved_on=TODAY - timedelta(days=approved))

    def away(self, order, worker, returned: int):
        return services.absence_record(order=order, left_on=TODAY - timedelta(days=50),
                                       returned_on=TODAY - timedelta(days=returned), actor=worker)

    def test_approval_on_the_day_of_leaving_covers(self, order, personas):
        self.leave(order, personas["worker"], approved=50, to_on=40)
        assert self.away(order, personas["worker"], 40).authorised

    def test_approval_the_day_after_leaving_does_not(self, order, personas):
        self.leave(order, personas["worker"], approved=49, to_on=40)
        assert not self.away(order, personas["worker"], 40).authorised

    def test_coming_back_a_day_after_the_leave_ends_is_unauthorised(self, order, personas):
        self.leave(order, personas["worker"], approved=51, to_on=40)
        assert not self.away(order, personas["worker"], 39).authorised
