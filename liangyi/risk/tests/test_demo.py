"""The demo city's risk history is rich enough for the evidence page to draw curves."""

from __future__ import annotations

import random
from datetime import date

import pytest

from liangyi.core.models import User
from liangyi.demo import generator
from liangyi.demo import risk as demo_risk
from liangyi.people.models import Person
from liangyi.risk import evidence, grading
from liangyi.risk.models import Grading

TODAY = date(2026, 11, 20)


@pytest.mark.django_db
def test_the_demo_history_gives_curves_per_level():
    generator.generate(persons=300, seed=7, today=TODAY)
    users = {u.username: u for u in User.objects.all()}
    counts = demo_risk.populate(today=TODAY, rng=random.Random(7), users=users)
    assert counts["persons"] > 100 and counts["positive_tests"] > 0
    rules = grading.current()
    subjects = evidence.subjects(Person.objects.all(), rules, TODAY)
    levels = evidence.by_level(subjects, rules, minimum=20, max_months=evidence.CHART_MONTHS)
    assert all(s.enough for s in levels), [(s.key, s.persons) for s in levels]
    assert all(s.relapses > 0 for s in levels)
    assert len(evidence.chart(levels, evidence.CHART_MONTHS).paths) == len(rules.levels)
    assert len(evidence.by_cohort(subjects, 20, evidence.CHART_MONTHS)) >= 2
    gradings = Grading.objects.count()
    assert demo_risk.populate(today=TODAY, rng=random.Random(7), users=users).get("persons", 0) == 0
    assert Grading.objects.count() == gradings
