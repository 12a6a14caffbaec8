"""Kaplan-Meier against a hand-computed example; relapse rates; subjects from the database."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from liangyi.risk import evidence, grading
from liangyi.risk.evidence import Point, Subject, kaplan_meier, relapse_rate
from liangyi.risk.models import Grading
from liangyi.risk.tests.conftest import days_ago
from liangyi.supervision import services as supervision
from liangyi.supervision.models import Result


class TestKaplanMeier:
    def test_the_hand_computed_example(self):
        # Six persons: relapse at 1, relapse and censoring at 2, relapse at 3, censored at 4, relapse at 5.
        # t=1: 6 at risk, 1 event -> 5/6; t=2: 5 at risk, 1 event -> 5/6 * 4/5 = 2/3;
        # t=3: 3 at risk, 1 event -> 2/3 * 2/3 = 4/9; t=4: censoring only; t=5: 1 at risk, 1 event -> 0.
        points = kaplan_meier([(1, True), (2, True), (2, False), (3, True), (4, False), (5, True)])
        assert points == [
            Point(0, 6, 0, 0, Fraction(1)),
            Point(1, 6, 1, 0, Fraction(5, 6)),
            Point(2, 5, 1, 1, Fraction(2, 3)),
            Point(3, 3, 1, 0, Fraction(4, 9)),
            Point(4, 2, 0, 1, Fraction(4, 9)),
            Point(5, 1, 1, 0, Fraction(0)),
        ]

    def test_nobody_relapsing_keeps_the_curve_at_one(self):
        assert all(p.survival == 1 for p in kaplan_meier([(10, False), (20, False)]))

    def test_no_one_at_all(self):
        assert kaplan_meier([]) == [Point(0, 0, 0, 0, Fraction(1))]

    def test_survival_at_reads_the_step(self):
        points = kaplan_meier([(1, True), (2, True), (2, False), (3, True), (4, False), (5, True)])
        assert evidence.survival_at(points, 0) == 1
        assert evidence.survival_at(points, 2) == Fraction(2, 3)
        assert evidence.survival_at(points, 4) == Fraction(4, 9)


class TestRelapseRate:
    ENTERED = date(2025, 1, 1)
    SUBJECTS = [
        Subject("a", ENTERED, "high", 2025, date(2025, 3, 1), True),    # relapsed within 6 months
        Subject("b", ENTERED, "high", 2025, date(2025, 9, 1), True),    # relapsed in months 7-12
        Subject("c", ENTERED, "high", 2025, date(2025, 5, 1), False),   # followed 4 months only
        Subject("d", ENTERED, "high", 2025, date(2026, 2, 1), False),   # followed 13 months, abstinent
    ]

    def test_within_6_months(self):
        assert relapse_rate(self.SUBJECTS, 6) == evidence.Rate(6, 1, 3)

    def test_within_12_months(self):
        rate = relapse_rate(self.SUBJECTS, 12)
        assert (rate.relapsed, rate.persons, rate.percent) == (2, 3, 66.7)


@pytest.mark.django_db
class TestSubjects:
    def test_entry_event_and_censoring_come_from_gradings_and_tests(self, person, worker, order, places):
        from liangyi.demo import factories
        from liangyi.people.models import Person
        from liangyi.risk.tests.conftest import running_order

        rules = grading.current()
        Grading.objects.create(person=person, graded_on=days_ago(150), ruleset=rules.key, ruleset_version="1",
                               level="high", points=60, reason="t")
        Grading.objects.create(person=person, graded_on=days_ago(100), ruleset=rules.key, ruleset_version="1",
                               level="low", points=0, reason="later grading does not move the entry")
        for n, result in ((170, Result.POSITIVE), (140, Result.NEGATIVE), (120, Result.POSITIVE),
                          (90, Result.NEGATIVE)):
            supervision.test_record(order=order, tested_on=days_ago(n), result=result, actor=worker, sample="urine")
        other = factories.person(places["township"], name="赵六")
        other_order = running_order(other, worker, reported_days_ago=200)
        Grading.objects.create(person=other, graded_on=days_ago(150), ruleset=rules.key, ruleset_version="1",
                               level="medium", points=30, reason="t")
        for n in (140, 60):
            supervision.test_record(order=other_order, tested_on=days_ago(n), result=Result.NEGATIVE, actor=worker,
                                    sample="urine")
        Grading.objects.create(person=factories.person(places["township"], name="钱七"), graded_on=days_ago(10),
                               ruleset="some_other_rules", ruleset_version="1", level="A", points=0, reason="t")
        found = {s.person_id: s for s in evidence.subjects(Person.objects.all(), rules, days_ago(0))}
        assert set(found) == {str(person.pk), str(other.pk)}
        mine = found[str(person.pk)]
        assert (mine.group, mine.entered, mine.ended, mine.relapsed) == ("high", days_ago(150), days_ago(120), True)
        theirs = found[str(other.pk)]
        assert (theirs.group, theirs.ended, theirs.relapsed) == ("medium", days_ago(60), False)


def test_a_group_below_the_minimum_is_not_drawn():
    rules = grading.load("risk_grading_default")
    few = [Subject(str(n), date(2025, 1, 1), "high", 2025, date(2025, 6, 1), n % 2 == 0) for n in range(3)]
    many = [Subject(str(n), date(2025, 1, 1), "low", 2025, date(2025, 12, 1), n % 5 == 0) for n in range(25)]
    levels = evidence.by_level(few + many, rules, minimum=20, max_months=24)
    assert [(s.key, s.persons, s.enough) for s in levels] == [("high", 3, False), ("medium", 0, False),
                                                              ("low", 25, True)]
    chart = evidence.chart(levels, 24)
    assert [p["label"] for p in chart.paths] == [levels[2].label]
    assert chart.paths[0]["d"].startswith("M48")


def test_the_at_risk_table_says_nothing_past_the_last_person_followed():
    members = [Subject("a", date(2025, 1, 1), "low", 2025, date(2025, 2, 15), True),
               Subject("b", date(2025, 1, 1), "low", 2025, date(2025, 5, 1), False)]
    s = evidence.series("low", "Low", "green", members, minimum=1, max_months=6)
    # 0 months: both followed; 3 months: only b (a relapsed at 45 days: 1 - 1/2); 6 months: nobody.
    assert s.table == [(0, 2, 100.0), (3, 1, 50.0), (6, 0, None)]
