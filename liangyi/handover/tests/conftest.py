"""Helpers for the handover tests: a facility officer and a stay walked to any stage."""

from __future__ import annotations

from datetime import date

import pytest

from liangyi.demo import factories
from liangyi.handover import services
from liangyi.handover.models import AssessmentPoint, IsolationStay, Outcome
from liangyi.people.models import Status

PASSING = {
    "physical_detox": {"negative_test": 20, "off_withdrawal_medicine": 20, "acute_symptoms_gone": 20,
                       "no_protracted_withdrawal": 15, "no_psychosis": 20},
    "recovery": {"physical_health": 20, "fitness": 20, "mental_state": 20, "craving": 15},
    "behaviour": {"rules_observed": 35, "treatment_participation": 25, "education_participation": 25},
    "social": {"family_support": 30, "housing_and_income": 25, "social_skills": 20},
}


@pytest.fixture
def facility(places):
    """A facility officer whose facility serves the whole city."""
    return factories.user("facility", "facility", places["city"], full_name="孙管教")


@pytest.fixture
def inmate(places):
    return factories.person(places["township"], name="李强", status=Status.ISOLATION)


def new_stay(person, actor, *, decided: date, admitted: date | None = None, **extra) -> IsolationStay:
    return services.stay_record(person=person, decision_number="曲公强戒决字〔2024〕1号", decided_on=decided,
                                authority="曲靖市公安局麒麟分局", facility="曲靖市强制隔离戒毒所",
                                admitted_on=admitted or decided, actor=actor, **extra)


def assess(stay, actor, *, on: date, outcome: str = Outcome.ON_TIME, scores=None, point=AssessmentPoint.PRE_RELEASE,
           **extra):
    return services.assessment_record(
        stay=stay, point=point, assessed_on=on, scores=scores or PASSING, doctor="刘医生", psychologist="陈咨询师",
        social_worker="王社工", outcome=outcome, actor=actor, physical_state="良好", psychological_state="稳定",
        social_adaptability="家庭支持较好", **extra)
