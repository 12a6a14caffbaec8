"""The nightly generation: every person's obligations planned to today + the engine's horizon.

A full run (``engine.sync_many`` over every person) re-plans some 17 million obligations at
province scale, far more than a night changes. What a night changes is known:

- the horizon moves on by a day, so what falls due in the new window (last run's horizon, new
  horizon] has to be planned for everyone;
- the persons whose plan the calendar alone changes (``engine.calendar_moves``: an override of the
  risk level that lapsed, say) and the persons whose record changed since the last run started
  (``Person.updated_at``) are planned whole;
- everything else was planned by the last run, and every service that changes what a plan depends
  on re-plans the person itself (``engine.sync``) when it records the change.

So a night plans only that (a *window* run), and a *full* run is kept for when the window is not
enough: the first run, a different rule set or planner code (``engine.planner_fingerprint``), a run
for an earlier day than the last one, and at least every ``FULL_EVERY_DAYS`` days as a safety net
for anything written around the services (a database restore, a hand-made fix). Each run is a
``GenerationRun`` row; one that was cut off has no ``finished_at`` and does not count, so the next
run plans from the last one that finished (windows can span several nights). ``tests/
test_nightly.py`` checks that a window run leaves exactly what a full run leaves.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from liangyi.core import rules as core_rules
from liangyi.obligations import engine
from liangyi.obligations.models import GenerationRun
from liangyi.people.models import Person

# Operations, not rules of law: how often the whole plan is re-checked even when nothing says it must be.
FULL_EVERY_DAYS = 7


def full_reason(last: GenerationRun | None, last_full: GenerationRun | None, today: date, fingerprint: str) -> str:
    """Why tonight must plan everything, or "" when the window is enough."""
    if last is None or last_full is None:
        return "no finished run yet"
    if last.fingerprint != fingerprint or last_full.fingerprint != fingerprint:
        return "the rule set or the planner changed"
    if today < last.today:
        return f"a run for {today} after one for {last.today}"
    if (today - last_full.today).days >= FULL_EVERY_DAYS:
        return f"the last full run was {(today - last_full.today).days} days ago"
    return ""


def run(today: date, *, full: bool = False) -> dict[str, Any]:
    """Plan every person's obligations up to ``today`` + the engine's horizon (only the difference
    is written); a window run when it gives the same result, else a full one (see the module)."""
    ruleset = core_rules.current()
    horizon = today + timedelta(days=engine.DEFAULT_HORIZON_DAYS)
    fingerprint = engine.planner_fingerprint(ruleset)
    finished = GenerationRun.objects.exclude(finished_at=None).order_by("-finished_at", "-id")
    last, last_full = finished.first(), finished.filter(mode=GenerationRun.Mode.FULL).first()
    reason = "asked for" if full else full_reason(last, last_full, today, fingerprint)
    record = GenerationRun.objects.create(
        today=today, mode=GenerationRun.Mode.FULL if reason else GenerationRun.Mode.WINDOW, reason=reason,
        since=None if reason else min(last.horizon, horizon), horizon=horizon, ruleset_version=ruleset.version,
        fingerprint=fingerprint)
    started = time.monotonic()
    if reason:
        result = engine.sync_many(engine.all_persons(), ruleset=ruleset, horizon=horizon)
    else:
        assert last is not None and record.since is not None
        whole = engine.calendar_moves(last.today, today)
        whole.update(Person.objects.filter(updated_at__gte=last.started_at).values_list("pk", flat=True))
        result = engine.sync_many(engine.all_persons(among=whole), ruleset=ruleset, horizon=horizon)
        result += engine.sync_many(engine.all_persons(), ruleset=ruleset, horizon=horizon, since=record.since)
        record.replanned = len(whole)
    record.created, record.rescheduled, record.removed, record.unchanged = (
        result.created, result.rescheduled, result.removed, result.unchanged)
    record.seconds = round(time.monotonic() - started, 3)
    record.finished_at = timezone.now()
    record.save()
    return {"mode": record.mode, "reason": reason, "since": record.since.isoformat() if record.since else None,
            "horizon": horizon.isoformat(), "replanned": record.replanned, "created": result.created,
            "rescheduled": result.rescheduled, "removed": result.removed, "unchanged": result.unchanged}
