"""Assessments, grading, regrading on new facts, overrides, graded control and reassessments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import Measure, MeasureKind, TimelineEvent
from liangyi.risk import control, facts, grading, jobs, plans, selectors, services
from liangyi.risk.models import Assessment, Grading, Override
from liangyi.risk.tests.conftest import days_ago
from liangyi.supervision import services as supervision
from liangyi.supervision.models import Result

PHQ9_TEN = {"q1": 1, "q2": 2, "q3": 0, "q4": 1, "q5": 3, "q6": 0, "q7": 2, "q8": 1, "q9": 0}
SUPPORT_POOR = {"f1": 0, "f2": 0, "f3": 1, "f4": 0, "h1": 1, "h2": 1, "e1": 0, "e2": 0, "e3": 0, "p1": 1, "p2": 0}


def today():
    return timezone.localdate()


def reassessments(person):
    return list(Obligation.objects.filter(person=person, source=plans.SOURCE).order_by("due_on", "id"))


@pytest.mark.django_db
class TestAssessmentRecord:
    def test_it_keeps_the_computed_score_and_regrades(self, person, worker):
        a = services.assessment_record(person=person, instrument="phq9", answers=PHQ9_TEN, actor=worker)
        assert (a.total, a.band, a.instrument_version, a.group) == (10, "moderate", "1", "medical")
        assert AuditEntry.objects.filter(action="risk.assessment_recorded").count() == 1
        event = TimelineEvent.objects.get(kind="risk.assessment_recorded")
        assert event.group == "medical" and "10 of 27" in event.summary
        g = Grading.objects.get(person=person)
        assert g.facts["phq9"] == 10
        assert next(f for f in g.factors if f["key"] == "phq9")["points"] == 5

    def test_an_incomplete_form_is_refused_and_nothing_is_kept(self, person, worker):
        with pytest.raises(DomainError) as caught:
            services.assessment_record(person=person, instrument="phq9", answers={**PHQ9_TEN, "q9": None},
                                       actor=worker)
        assert "q9" in caught.value.errors
        assert not Assessment.objects.exists() and not Grading.objects.exists()

    def test_an_unknown_instrument_is_refused(self, person, worker):
        with pytest.raises(DomainError) as caught:
            services.assessment_record(person=person, instrument="bdi", answers={}, actor=worker)
        assert "instrument" in caught.value.errors

    def test_a_future_date_is_refused(self, person, worker):
        with pytest.raises(DomainError) as caught:
            services.assessment_record(person=person, instrument="phq9", answers=PHQ9_TEN, actor=worker,
                                       assessed_on=today() + timedelta(days=1))
        assert "assessed_on" in caught.value.errors

    def test_a_role_that_does_not_see_medical_data_may_not_fill_in_the_phq9(self, person, social_worker):
        with pytest.raises(PermissionDenied):
            services.assessment_record(person=person, instrument="phq9", answers=PHQ9_TEN, actor=social_worker)
        a = services.assessment_record(person=person, instrument="social_support", answers=SUPPORT_POOR,
                                       actor=social_worker)
        assert (a.total, a.band, a.subscale_bands) == (8, "poor", {"family": "poor"})

    def test_a_role_without_assess_risk_may_not(self, person, personas):
        with pytest.raises(PermissionDenied):
            services.assessment_record(person=person, instrument="social_support", answers=SUPPORT_POOR,
                                       actor=personas["police"])


@pytest.mark.django_db
class TestGrade:
    def test_it_keeps_facts_factors_and_version_and_writes_the_timeline(self, person, worker, order):
        g = services.grade(person=person, actor=worker, reason="first")
        rules = grading.current()
        assert (g.ruleset, g.ruleset_version, g.graded_on) == (rules.key, rules.version, today())
        assert set(g.facts) == {f.key for f in rules.factors}
        assert g.points == sum(f["points"] for f in g.factors)
        assert g.facts["drug_type"] == ["海洛因"] and g.facts["manner_of_use"] == "injecting"
        assert TimelineEvent.objects.filter(person=person, kind="risk.graded", group="drug_history").exists()
        assert AuditEntry.objects.filter(action="risk.graded").exists()

    def test_the_same_facts_give_the_same_grading(self, person, worker, order):
        first = services.grade(person=person, actor=worker)
        second = services.grade(person=person, actor=worker)
        assert (first.level, first.points, first.facts, first.factors) == (
            second.level, second.points, second.facts, second.factors)

    def test_the_stored_facts_regrade_to_the_stored_result(self, person, worker, order):
        g = services.grade(person=person, actor=worker)
        again = grading.grade(g.facts, grading.load(g.ruleset))
        assert (again.level, again.points, [f.as_dict() for f in again.factors]) == (g.level, g.points, g.factors)

    def test_a_role_without_assess_risk_may_not(self, person, personas):
        with pytest.raises(PermissionDenied):
            services.grade(person=person, actor=personas["leader"])


@pytest.mark.django_db
class TestFacts:
    def test_they_are_read_from_the_other_chains(self, person, worker, order):
        Measure.objects.create(person=person, kind=MeasureKind.ISOLATION, start_on=days_ago(900), end_on=days_ago(230))
        supervision.test_record(order=order, tested_on=days_ago(190), result=Result.POSITIVE, actor=worker,
                                sample="urine")
        supervision.test_record(order=order, tested_on=days_ago(20), result=Result.REFUSED, actor=worker)
        supervision.test_record(order=order, tested_on=days_ago(10), result=Result.NEGATIVE, actor=worker,
                                sample="urine")
        known = facts.collect(person, grading.current(), today())
        assert known["bad_tests"] == 1  # the positive test lies outside the 180-day window
        assert known["past_episodes"] == 2  # the isolation and the community term
        assert known["months_since_release"] == 7
        assert known["age_at_first_use"] == 2005 - 1980
        assert known["missed_obligations"] >= 1  # the refused test left its obligation open

    def test_months_between(self):
        from datetime import date
        assert facts.months_between(date(2025, 1, 31), date(2025, 2, 28)) == 0
        assert facts.months_between(date(2025, 1, 31), date(2025, 3, 1)) == 1
        assert facts.months_between(date(2025, 1, 1), date(2027, 1, 1)) == 24


@pytest.mark.django_db
class TestRegradeOnNewFacts:
    def test_a_positive_test_regrades_at_once(self, person, worker, order, django_capture_on_commit_callbacks):
        services.grade(person=person, actor=worker)
        with django_capture_on_commit_callbacks(execute=True):
            supervision.test_record(order=order, tested_on=days_ago(1), result=Result.POSITIVE, actor=worker,
                                    sample="urine")
        latest = selectors.history(person, limit=1).first()
        assert latest.facts["bad_tests"] == 1 and "Positive" in latest.reason
        assert latest.actor == worker
        assert selectors.history(person).count() == 2
        assert TimelineEvent.objects.filter(person=person, kind="risk.graded").count() == 2

    def test_a_negative_test_does_not(self, person, worker, order, django_capture_on_commit_callbacks):
        services.grade(person=person, actor=worker)
        with django_capture_on_commit_callbacks(execute=True):
            supervision.test_record(order=order, tested_on=days_ago(1), result=Result.NEGATIVE, actor=worker,
                                    sample="urine")
        assert Grading.objects.filter(person=person).count() == 1

    def test_losing_a_job_regrades(self, person, worker, order, django_capture_on_commit_callbacks):
        person.employment = "employed"
        person.save()
        services.grade(person=person, actor=worker)
        with django_capture_on_commit_callbacks(execute=True):
            person.employment = "unemployed"
            person.save()
        latest = selectors.history(person, limit=1).first()
        assert latest.facts["employment"] == "unemployed" and latest.reason == "Employment changed"
        with django_capture_on_commit_callbacks(execute=True):
            person.name = "王建军"
            person.save()  # nothing the grading reads changed
        assert Grading.objects.filter(person=person).count() == 2

    def test_a_person_never_graded_is_not_graded_by_an_edit(self, person, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            person.employment = "unemployed"
            person.save()
        assert not Grading.objects.exists()


@pytest.mark.django_db
class TestOverride:
    @pytest.fixture
    def graded(self, person, worker, order):
        person.employment = "employed"
        person.save(update_fields=["employment"])
        return services.grade(person=person, actor=worker)

    def test_it_replaces_the_level_until_it_expires(self, person, personas, graded):
        leader = personas["leader"]
        o = services.override_set(person=person, level="high", reason="Seen with dealers", actor=leader,
                                  expires_on=today() + timedelta(days=30))
        effective = selectors.effective(person, today())
        assert (effective.level_key, effective.override, effective.grading) == ("high", o, graded)
        assert AuditEntry.objects.filter(action="risk.overridden").exists()
        assert TimelineEvent.objects.filter(person=person, kind="risk.overridden").exists()
        assert selectors.effective(person, today() + timedelta(days=31)).level_key == graded.level

    def test_a_new_override_ends_the_last(self, person, personas, graded):
        leader = personas["leader"]
        first = services.override_set(person=person, level="high", reason="a", actor=leader,
                                      expires_on=today() + timedelta(days=30))
        services.override_set(person=person, level="medium", reason="b", actor=leader,
                              expires_on=today() + timedelta(days=30))
        first.refresh_from_db()
        assert first.ended_on == today()
        assert selectors.effective(person, today()).level_key == "medium"

    def test_it_needs_a_reason_a_level_and_a_bounded_expiry(self, person, personas, graded):
        with pytest.raises(DomainError) as caught:
            services.override_set(person=person, level="purple", reason=" ", actor=personas["leader"],
                                  expires_on=today() + timedelta(days=10_000))
        assert set(caught.value.errors) == {"level", "reason", "expires_on"}
        with pytest.raises(DomainError) as caught:
            services.override_set(person=person, level="low", reason="x", actor=personas["leader"], expires_on=today())
        assert set(caught.value.errors) == {"expires_on"}
        assert not Override.objects.exists()

    def test_a_worker_may_not_override(self, person, worker, graded):
        with pytest.raises(PermissionDenied):
            services.override_set(person=person, level="low", reason="x", actor=worker,
                                  expires_on=today() + timedelta(days=5))
        assert AuditEntry.objects.filter(action="access.denied").exists()

    def test_an_ungraded_person_cannot_be_overridden(self, person, personas):
        with pytest.raises(DomainError):
            services.override_set(person=person, level="low", reason="x", actor=personas["leader"],
                                  expires_on=today() + timedelta(days=5))


def _grading(person, level, on=None):
    rules = grading.current()
    return Grading.objects.create(person=person, graded_on=on or today(), ruleset=rules.key,
                                  ruleset_version=rules.version, level=level, points=0, reason="test")


@pytest.mark.django_db
class TestControl:
    def test_ungraded_keeps_the_default(self, person):
        assert control.test_interval_months(person, 3, today()) == 3

    @pytest.mark.parametrize(("level", "default", "expected"), [
        ("high", 3, 1), ("medium", 3, 2), ("low", 3, 3), ("low", 1, 1), ("medium", 1, 1),
    ])
    def test_the_level_only_tightens(self, person, level, default, expected):
        _grading(person, level)
        assert control.test_interval_months(person, default, today()) == expected

    def test_an_active_override_governs(self, person, personas):
        g = _grading(person, "low")
        Override.objects.create(person=person, grading=g, ruleset=g.ruleset, level="high", reason="x",
                                starts_on=today(), expires_on=today() + timedelta(days=10), actor=personas["leader"])
        assert control.test_interval_months(person, 3, today()) == 1
        assert control.test_interval_months(person, 3, today() + timedelta(days=11)) == 3
        assert control.contact_interval_months(person, 2, today()) == 1

    def test_a_grading_applies_from_its_day(self, person):
        _grading(person, "high", on=days_ago(5))
        assert control.test_interval_months(person, 3, days_ago(6)) == 3
        assert control.test_interval_months(person, 3, days_ago(5)) == 1


@pytest.mark.django_db
class TestReassessment:
    def test_the_first_grading_falls_due_after_reporting(self, person, order):
        # Planned by the report itself (supervision re-plans every source), not by a later job.
        [first] = reassessments(person)
        assert jobs.reassessments(today()) == {"overrides_lapsed": 0}
        assert reassessments(person) == [first]
        assert first.kind == Kind.REASSESSMENT
        assert first.due_on == order.reported_on + timedelta(days=30)
        assert first.office_id == order.office_id

    def test_a_grading_meets_it_and_plans_the_next_by_level(self, person, worker, order):
        g = services.grade(person=person, actor=worker)
        first, nxt = reassessments(person)
        assert first.done_on == today() and first.fulfilled_by_id == str(g.pk)
        months = grading.current().control[g.level]["reassessment_interval_months"]
        from liangyi.core.periods import add_months
        assert nxt.due_on == add_months(today(), months) and nxt.is_open

    def test_a_change_of_level_reschedules_what_is_not_done(self, person, worker, personas, order):
        g = services.grade(person=person, actor=worker)
        assert g.level != "high"
        services.override_set(person=person, level="high", reason="x", actor=personas["leader"],
                              expires_on=today() + timedelta(days=60))
        from liangyi.core.periods import add_months
        open_ = [o for o in reassessments(person) if o.is_open]
        assert [o.due_on for o in open_] == [add_months(today(), 3)]

    def test_the_day_after_an_override_lapses_the_schedule_follows_the_computed_level(self, person, worker,
                                                                                        personas, order):
        g = services.grade(person=person, actor=worker)
        o = services.override_set(person=person, level="high", reason="x", actor=personas["leader"],
                                  expires_on=today() + timedelta(days=10))
        from liangyi.core.periods import add_months
        assert [r.due_on for r in reassessments(person) if r.is_open] == [add_months(today(), 3)]
        Override.objects.filter(pk=o.pk).update(starts_on=days_ago(5), expires_on=days_ago(1))
        assert jobs.reassessments(today())["overrides_lapsed"] == 1
        months = grading.current().control[g.level]["reassessment_interval_months"]
        assert [r.due_on for r in reassessments(person) if r.is_open] == [add_months(today(), months)]

    def test_nothing_without_a_running_order(self, person):
        assert plans.reassessments(person, core_rules.current(),
                                   today() + timedelta(days=400)) == []
