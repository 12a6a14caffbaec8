"""The nightly generation (obligations.nightly): a window run leaves exactly what a full run leaves,
night after night, across an override that lapses, a grading dated ahead, a changed record and a
new measure; and the run picks full or window for the right reasons."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from liangyi.core import audit
from liangyi.core.models import AuditEntry
from liangyi.obligations import nightly
from liangyi.obligations.models import GenerationRun, Obligation
from liangyi.obligations.tests.conftest import TODAY, snapshot, with_version
from liangyi.people import services as people_services
from liangyi.people.models import MeasureKind, Person, Status
from liangyi.risk import grading
from liangyi.risk import services as risk_services
from liangyi.risk.models import Grading, Override


@pytest.fixture
def clock(monkeypatch):
    """The day the planners see as today (``timezone.localdate``), moved on night by night."""
    day = {"today": TODAY}
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: day["today"])

    def to(new: date) -> None:
        day["today"] = new
    return to


def full_instead(clock, today: date) -> list[tuple]:
    """What a full run for ``today`` would leave, rolled back."""
    clock(today)
    with transaction.atomic():
        assert nightly.run(today, full=True)["mode"] == "full"
        rows = snapshot()
        transaction.set_rollback(True)
    return rows


def night(clock, today: date) -> dict:
    clock(today)
    return nightly.run(today)


@pytest.mark.django_db
class TestAWindowRunIsAFullRun:
    def test_night_after_night_with_the_calendar_and_the_services_moving_plans(self, province, clock, personas,
                                                                                monkeypatch):
        first = night(clock, TODAY)
        assert first["mode"] == "full" and first["reason"] == "no finished run yet"
        # The services planned these terms to their end; leave only what the night planned (to its
        # horizon), as at province scale, so that the nights have something to add.
        beyond = TODAY + timedelta(days=400)
        Obligation.objects.filter(done_at=None, due_on__gt=beyond).delete()
        monkeypatch.setattr(nightly, "FULL_EVERY_DAYS", 60)  # so that a month's gap is a window too
        # What the days bring without any service call: 辛's override of the level lapses on day 3,
        # a grading dated day 2 makes 甲 high-risk from then on, an override of 丙 starts on day 4.
        overridden = Person.objects.get(name="辛")
        Override.objects.filter(person=overridden).update(expires_on=TODAY + timedelta(days=2))
        rules = grading.current()
        Grading.objects.create(person=Person.objects.get(name="甲"), graded_on=TODAY + timedelta(days=2),
                               ruleset=rules.key, ruleset_version="1", level="high", points=60, reason="t")
        later = Person.objects.get(name="丙")
        low = Grading.objects.create(person=later, graded_on=TODAY - timedelta(days=30), ruleset=rules.key,
                                     ruleset_version="1", level="low", points=0, reason="t")
        risk_services.resync(later, None)  # what recording a grading does
        Override.objects.create(person=later, grading=low, ruleset=rules.key, level="high", reason="t",
                                starts_on=TODAY + timedelta(days=4), expires_on=TODAY + timedelta(days=40),
                                actor=personas["leader"])
        created = 0
        for n in (1, 2, 3, 4, 5, 35):
            day = TODAY + timedelta(days=n)
            if n == 3:  # a worker records a measure for someone with no order: the interim schedule
                someone = Person.objects.get(name="癸")
                Person.objects.filter(pk=someone.pk).update(status=Status.COMMUNITY_REHAB)
                people_services.measure_add(actor=personas["neighbour"], person=Person.objects.get(pk=someone.pk),
                                            kind=MeasureKind.COMMUNITY_REHAB, start_on=TODAY - timedelta(days=100))
            expected = full_instead(clock, day)
            got = night(clock, day)
            assert got["mode"] == "window", got
            assert snapshot() == expected, f"night {n}"
            created += got["created"] + got["rescheduled"] + got["removed"]
        assert created > 0  # the nights did change something, so the comparison is not empty

    def test_a_night_missed_is_a_wider_window(self, province, clock):
        night(clock, TODAY)
        Override.objects.filter(person__name="辛").update(expires_on=TODAY + timedelta(days=1))
        day = TODAY + timedelta(days=4)
        expected = full_instead(clock, day)
        got = night(clock, day)
        assert got["mode"] == "window" and got["since"] == (TODAY + timedelta(days=400)).isoformat()
        assert got["replanned"] >= 1 and snapshot() == expected

    def test_a_run_cut_off_does_not_count(self, province, clock, monkeypatch):
        night(clock, TODAY)
        from liangyi.obligations import engine

        real = engine._sync_chunk

        def killed(*args, **kwargs):
            raise RuntimeError("worker killed")

        monkeypatch.setattr(engine, "_sync_chunk", killed)
        clock(TODAY + timedelta(days=1))
        with pytest.raises(RuntimeError):
            nightly.run(TODAY + timedelta(days=1))
        monkeypatch.setattr(engine, "_sync_chunk", real)
        day = TODAY + timedelta(days=2)
        expected = full_instead(clock, day)
        got = night(clock, day)
        assert got["since"] == (TODAY + timedelta(days=400)).isoformat()  # from the last run that finished
        assert snapshot() == expected
        assert GenerationRun.objects.filter(finished_at=None).count() == 1


@pytest.mark.django_db
class TestWhenTheWholePlanIsRedone:
    def test_the_first_run_then_windows_then_the_weekly_full_run(self, province, clock):
        modes = [night(clock, TODAY + timedelta(days=n))["mode"] for n in range(nightly.FULL_EVERY_DAYS + 1)]
        assert modes == ["full"] + ["window"] * (nightly.FULL_EVERY_DAYS - 1) + ["full"]
        last = GenerationRun.objects.order_by("-id").first()
        assert last.reason == f"the last full run was {nightly.FULL_EVERY_DAYS} days ago"

    def test_a_new_rule_set_is_planned_whole(self, province, clock, monkeypatch):
        night(clock, TODAY)
        from liangyi.core import rules as core_rules

        changed = with_version("v-night")
        monkeypatch.setattr(core_rules, "current", lambda: changed)
        got = night(clock, TODAY + timedelta(days=1))
        assert got["mode"] == "full" and got["reason"] == "the rule set or the planner changed"
        assert got["rescheduled"] > 0
        in_view = Obligation.objects.filter(done_at=None, due_on__lte=TODAY + timedelta(days=401))
        assert not in_view.exclude(ruleset_version="v-night").exists()

    def test_an_earlier_day_than_the_last_run_is_planned_whole(self, province, clock):
        night(clock, TODAY)
        got = night(clock, TODAY - timedelta(days=1))
        assert got["mode"] == "full" and got["reason"].startswith("a run for")

    def test_a_window_run_records_what_it_did_and_audits_each_changed_person(self, province, clock, monkeypatch):
        night(clock, TODAY)
        Obligation.objects.filter(done_at=None, due_on__gt=TODAY + timedelta(days=400)).delete()
        before = AuditEntry.objects.filter(action="obligations.synced").count()
        monkeypatch.setattr(nightly, "FULL_EVERY_DAYS", 60)
        got = night(clock, TODAY + timedelta(days=31))  # a month on: tests and visits enter the window
        assert got["mode"] == "window" and got["created"] > 0
        run = GenerationRun.objects.order_by("-id").first()
        assert (run.mode, run.created, run.since, run.horizon) == (
            "window", got["created"], TODAY + timedelta(days=400), TODAY + timedelta(days=431))
        assert run.finished_at is not None and run.seconds is not None
        assert AuditEntry.objects.filter(action="obligations.synced").count() > before
        assert audit.verify()[0]  # the entries appended in one go keep the chain intact
