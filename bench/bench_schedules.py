"""Nightly schedule generation for every person (issue 4), beside a batched floor.

    BENCH_SCALE=province .venv/bin/python bench/bench_schedules.py [--next-day] [--per-person 3000] [--profile]

1. builds or reuses the full bench province (``province.use_full_province``), whose obligations
   are exactly what the engine plans on the day they were built;
2. the real generation: the nightly job ``obligations.generate`` (``engine.sync_many`` over every
   person, a chunk of 1 000 at a time, every registered generator, today + the default horizon),
   measured for all persons, with the time spent per generator and in reading and writing
   obligations; ``--next-day`` runs it as tomorrow night would (the horizon one day on, so the
   obligations entering it are created: the bench database keeps them);
   ``--per-person N``: also the old way, ``engine.sync(person)`` for an evenly spread sample of N
   persons, extrapolated to all and labelled so;
3. the floor, in the same run: the same plan for all persons in one pass: every order and
   suspension read in one query each, planned in memory with the same planner
   (``supervision.plans._order_plan``, risk's first reassessment), the plan COPY'd into a
   temporary table and compared with ``obligations_obligation`` by three set-based statements
   that insert what is missing, move what changed and delete what is no longer planned;
4. prints both and the engine's counts (created / rescheduled / removed / unchanged: a second
   run on the same day must change nothing), writes ``bench/results/<UTC timestamp>.json``.

``--profile`` runs ``sync_many`` over 5 000 persons under cProfile and counts SQL statements.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import os
import pstats
import sys
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import province  # noqa: E402

TARGET_SECONDS = 120.0


def real_generation(sample_every: int) -> dict:
    """engine.sync for every ``sample_every``-th person (by id); seconds per person and the counts."""
    from liangyi.obligations import engine
    from liangyi.people.models import Person
    from liangyi.supervision.models import CommunityOrder

    with_orders = set(CommunityOrder.objects.values_list("person_id", flat=True).distinct())
    ids = list(Person.objects.order_by("pk").values_list("pk", flat=True))[::sample_every]
    per_person, per_with_orders, total = [], [], engine.SyncResult()
    started = time.perf_counter()
    for chunk in range(0, len(ids), 500):
        persons = Person.objects.filter(pk__in=ids[chunk:chunk + 500]).order_by("pk")
        for person in persons:
            t = time.perf_counter()
            total += engine.sync(person)
            seconds = time.perf_counter() - t
            per_person.append(seconds)
            if person.pk in with_orders:
                per_with_orders.append(seconds)
    return {"persons": len(ids), "seconds": time.perf_counter() - started, "per_person": per_person,
            "per_with_orders": per_with_orders, "result": total, "with_orders_count": len(with_orders)}


PLAN_COLUMNS = "person_id, source, key, kind, due_on, window_start, window_end, office_id, worker_id"
PLANNED = ", ".join("pl." + c.strip() for c in PLAN_COLUMNS.split(","))
SAME_KEY = "o.person_id = pl.person_id AND o.source = pl.source AND o.key = pl.key"
PLANNED_DIFFER = ("(o.kind, o.due_on, o.window_start, o.window_end, o.office_id, o.worker_id, o.ruleset_version) "
                  "IS DISTINCT FROM (pl.kind, pl.due_on, pl.window_start, pl.window_end, pl.office_id, pl.worker_id, "
                  "%(version)s)")


def floor_generation(url: str, today, since=None, horizon=None) -> dict:
    """The same plan for all persons, batched: a few reads, the planner in memory, a set-based diff.
    ``since``: only the window (since, horizon] of a window run, as the job plans it."""
    import psycopg

    from liangyi.core import rules as core_rules
    from liangyi.obligations import engine
    from liangyi.people.models import Person
    from liangyi.supervision import plans
    from liangyi.supervision.models import CommunityOrder, OrderTransfer, Suspension

    started = time.perf_counter()
    ruleset = core_rules.current()
    horizon = horizon or today + timedelta(days=engine.DEFAULT_HORIZON_DAYS)
    with psycopg.connect(url) as conn:
        graded = {r[0] for r in conn.execute("SELECT DISTINCT person_id FROM risk_grading")}
        spans: dict[int, list] = {}
        for order_id, start, end in conn.execute('SELECT order_id, start, "end" FROM supervision_suspension'):
            spans.setdefault(order_id, []).append(Suspension(start=start, end=end))
        transfers: dict[int, list] = {}
        for transfer in OrderTransfer.objects.order_by("pk"):
            transfers.setdefault(transfer.order_id, []).append(transfer)
        columns = ("id, person_id, kind, decided_on, received_on, report_deadline, reported_on, term_months, "
                   "state, ended_on, office_id, worker_id")
        names = [c.strip() for c in columns.split(",")]
        # A window run reads only the orders that can have something due in the window (as the
        # generator does: term not ended by ``since``, or a report deadline after it).
        where = ("" if since is None else
                 " WHERE term_ends_on IS NULL OR term_ends_on > %(since)s OR report_deadline > %(since)s OR EXISTS "
                 "(SELECT 1 FROM supervision_ordertransfer t WHERE t.order_id = supervision_communityorder.id "
                 "AND t.report_by > %(since)s)")
        rows = conn.execute(f"SELECT {columns} FROM supervision_communityorder{where} ORDER BY person_id, received_on",
                            {"since": since} if since else None).fetchall()
        read = time.perf_counter() - started
        conn.execute(f"CREATE TEMP TABLE plan AS SELECT {PLAN_COLUMNS} FROM obligations_obligation WITH NO DATA")
        planned = 0
        with conn.cursor() as cur, cur.copy(f"COPY plan ({PLAN_COLUMNS}) FROM STDIN") as copy, \
                province._grading_lookup(graded):
            for row in rows:
                values = dict(zip(names, row, strict=True))
                order = CommunityOrder(**values)
                order.person = Person(pk=values["person_id"])
                order._prefetched_objects_cache = {"suspensions": spans.get(order.pk, []),
                                                   "transfers": transfers.get(order.pk, [])}
                for source, item in province.order_plan(order, ruleset, horizon, today, graded, since):
                    copy.write_row((order.person_id, source, item.key, item.kind, item.due_on, item.window_start,
                                    item.window_end, item.office_id, item.worker_id))
                    planned += 1
        plan_seconds = time.perf_counter() - started - read
        t = time.perf_counter()
        conn.execute("ANALYZE plan")
        params = {"version": ruleset.version, "horizon": horizon, "now": datetime.now(UTC)}
        sources = [plans.SOURCE, "risk.reassessment"]
        created = conn.execute(
            f"INSERT INTO obligations_obligation ({PLAN_COLUMNS}, ruleset_version, fulfilled_by_type, fulfilled_by_id, "
            f"waived_reason, created_at, updated_at) SELECT {PLANNED}, %(version)s, '', '', '', %(now)s, %(now)s "
            f"FROM plan pl WHERE NOT EXISTS "
            f"(SELECT 1 FROM obligations_obligation o WHERE {SAME_KEY})", params).rowcount
        moved = conn.execute(
            f"UPDATE obligations_obligation o SET kind = pl.kind, due_on = pl.due_on, window_start = pl.window_start, "
            f"window_end = pl.window_end, office_id = pl.office_id, worker_id = pl.worker_id, "
            f"ruleset_version = %(version)s, updated_at = %(now)s FROM plan pl "
            f"WHERE {SAME_KEY} AND o.done_at IS NULL AND {PLANNED_DIFFER}", params).rowcount
        removed = conn.execute(
            "DELETE FROM obligations_obligation o WHERE o.done_at IS NULL AND o.due_on <= %(horizon)s "
            + ("AND o.due_on > %(since)s " if since else "")
            + "AND o.source = ANY(%(sources)s) AND NOT EXISTS (SELECT 1 FROM plan pl WHERE "
            f"{SAME_KEY})", {**params, "sources": sources, "since": since}).rowcount
        conn.commit()
        diff = time.perf_counter() - t
    return {"seconds": time.perf_counter() - started, "read": read, "plan": plan_seconds, "diff": diff,
            "planned": planned, "created": created, "moved": moved, "removed": removed}


def profile(n: int) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from liangyi.obligations import engine

    persons = list(itertools.islice(engine.all_persons(), n))
    with CaptureQueriesContext(connection) as ctx:
        engine.sync_many(persons[:2000])
    statements = len(ctx.captured_queries)
    profiler = cProfile.Profile()
    profiler.enable()
    engine.sync_many(persons)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return f"SQL statements for 2 000 persons (two chunks): {statements}\n{out.getvalue()}"


def province_night(url: str, trust: bool = False):
    """The last finished nightly run, or, on a fresh province, a record of its build as a full run:
    ``load_supervision`` planned every obligation the engine plans to the build day's horizon."""
    import psycopg
    from django.utils import timezone

    from liangyi.core import rules as core_rules
    from liangyi.obligations import engine
    from liangyi.obligations.models import GenerationRun

    last = GenerationRun.objects.exclude(finished_at=None).order_by("-finished_at", "-id").first()
    if last is not None:
        fingerprint = engine.planner_fingerprint(core_rules.current())
        if last.fingerprint != fingerprint and trust:
            # The planner's code changed but not what it plans (labelled in the output): without
            # this the night would be a full run, as it must be in production.
            GenerationRun.objects.filter(pk=last.pk).update(fingerprint=fingerprint)
            GenerationRun.objects.filter(mode=GenerationRun.Mode.FULL).exclude(finished_at=None).update(
                fingerprint=fingerprint)
            print("   --trust-plan: the stored plan is taken as the current planner's (fingerprint re-stamped)")
        return last
    with psycopg.connect(url) as conn:
        built_on = conn.execute("SELECT built_on FROM bench_province_supervision").fetchone()[0]
    ruleset = core_rules.current()
    return GenerationRun.objects.create(
        today=built_on, mode=GenerationRun.Mode.FULL, reason="bench: the province as load_supervision planned it",
        horizon=built_on + timedelta(days=engine.DEFAULT_HORIZON_DAYS), ruleset_version=ruleset.version,
        fingerprint=engine.planner_fingerprint(ruleset), finished_at=timezone.now())


def batched_generation(day, only: list[str] | None = None, full: bool = True) -> dict:
    """The nightly job for ``day``, timed as a whole and per part (generators, reading, writing):
    ``full``, everything planned again (the weekly run, or after a rule change), else the job as it
    decides (a window run on the night after the last one); with ``only``, a full run restricted to
    those generators."""
    from liangyi.obligations import engine, nightly

    parts: dict[str, float] = defaultdict(float)
    real_plans, real_chunk = engine._plans, engine._sync_chunk

    def timed_plans(source, *args):
        t = time.perf_counter()
        try:
            return real_plans(source, *args)
        finally:
            parts[f"plan {source}"] += time.perf_counter() - t

    def timed_chunk(*args):
        t = time.perf_counter()
        try:
            return real_chunk(*args)
        finally:
            parts["chunks (all but reading persons)"] += time.perf_counter() - t

    engine._plans, engine._sync_chunk = timed_plans, timed_chunk
    try:
        t = time.perf_counter()
        cpu = time.process_time()
        if only is None:
            summary = nightly.run(day, full=full)
        else:
            result = engine.sync_many(engine.all_persons(), only=only,
                                      horizon=day + timedelta(days=engine.DEFAULT_HORIZON_DAYS))
            summary = {"created": result.created, "rescheduled": result.rescheduled, "removed": result.removed,
                       "unchanged": result.unchanged}
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    finally:
        engine._plans, engine._sync_chunk = real_plans, real_chunk
    return {"seconds": seconds, "cpu": cpu, "summary": summary, "parts": dict(parts)}


def main(argv: list[str] | None = None) -> None:
    scale_name, default_persons, default_events = province.scale()
    parser = argparse.ArgumentParser(description="Nightly schedule generation benchmark (issue 4).")
    parser.add_argument("--persons", type=int, default=default_persons)
    parser.add_argument("--events", type=int, default=default_events)
    parser.add_argument("--seed", type=int, default=province.DEFAULT_SEED)
    parser.add_argument("--per-person", type=int, default=0, metavar="N",
                        help="also engine.sync person by person for N evenly spread persons (extrapolated)")
    parser.add_argument("--full", action="store_true",
                        help="plan everything again (the weekly run) instead of the next night's window run")
    parser.add_argument("--trust-plan", action="store_true",
                        help="take the stored plan as the current planner's when only the planner's code changed "
                             "(else the night is a full run)")
    parser.add_argument("--next-day", action="store_true",
                        help="with --full: plan to tomorrow's horizon (the created obligations stay)")
    parser.add_argument("--only", nargs="+", metavar="SOURCE",
                        help="only these generators (e.g. the ones the province was planned with)")
    parser.add_argument("--profile", action="store_true", help="cProfile sync_many over 5 000 persons")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor (it plans every order: minutes)")
    args = parser.parse_args(argv)
    print(f"== province ({scale_name}): {args.persons} persons, {args.events} events, seed {args.seed}")
    url = province.use_full_province(args.persons, args.events, args.seed, scale_name)

    from django.utils import timezone

    from liangyi.people.models import Person

    today = timezone.localdate()
    full = args.full or bool(args.only)
    last = province_night(url, args.trust_plan)
    if full:
        day = today + timedelta(days=1) if args.next_day else today
        night = "a full run, " + ("tomorrow's horizon" if args.next_day else "today's horizon")
    else:
        # The night after the last one (each run of this benchmark moves the province on a day).
        day = last.today + timedelta(days=1)
        night = f"the window run of the night of {day} (after the {last.mode} run of {last.today})"
    everyone = Person.objects.count()
    load = os.getloadavg()
    batched = batched_generation(day, args.only, full=full)
    summary, total = batched["summary"], batched["seconds"]
    if not full and summary["mode"] != "window":
        night = f"a full run on the night of {day}: {summary['reason']}"
    if args.only:
        night += f", only {', '.join(args.only)}"
    print(f"\n== nightly generation (job obligations.generate, engine.sync_many), {night}: {total:.1f} s for "
          f"{everyone} persons, measured (CPU of this process {batched['cpu']:.1f} s; load average before "
          f"{load[0]:.1f}); target < {TARGET_SECONDS:.0f} s: {'met' if total < TARGET_SECONDS else 'MISSED'}")
    print(f"   counts: created {summary['created']}, rescheduled {summary['rescheduled']}, removed "
          f"{summary['removed']}, unchanged {summary['unchanged']}"
          + (f"; window ({summary['since']}, {summary['horizon']}], persons planned whole {summary['replanned']}"
             if summary.get("mode") == "window" else ""))
    for part, seconds in sorted(batched["parts"].items()):
        print(f"   {part:<40} {seconds:8.1f} s")
    if args.per_person:
        every = max(1, everyone // args.per_person)
        real = real_generation(every)
        mean = sum(real["per_person"]) / len(real["per_person"])
        print(f"== the old way, engine.sync per person, every {every}th person ({real['persons']}): mean "
              f"{mean * 1000:.2f} ms -> {mean * everyone:.0f} s for all (extrapolated); counts {real['result']}")
    if args.no_floor:
        floor = None
    elif summary.get("mode") == "window":  # the same window, by hand
        floor = floor_generation(url, today, since=date.fromisoformat(summary["since"]),
                                 horizon=date.fromisoformat(summary["horizon"]))
    else:
        floor = floor_generation(url, today)
    if floor:
        print(f"== floor, batched plan + set-based diff: {floor['seconds']:.1f} s (read {floor['read']:.1f} s, plan + "
              f"COPY {floor['plan']:.1f} s for {floor['planned']} planned obligations, SQL diff {floor['diff']:.1f} s;"
              f" inserted {floor['created']}, moved {floor['moved']}, removed {floor['removed']}); "
              f"ratio {total / floor['seconds']:.1f}x")
    floor_seconds = floor["seconds"] if floor else 0.0

    scale_label = f"{everyone} persons, all measured, {night}, load average {load[0]:.1f}"
    figures = [
        province.figure("schedule_generation_seconds", total, "s", "batched_plan_sql_diff_seconds", floor_seconds,
                        f"< {TARGET_SECONDS:.0f} s", scale_label),
        province.figure("schedule_sync_ms_per_person", total / everyone * 1000, "ms", "batched_ms_per_person",
                        floor_seconds / everyone * 1000, "", scale_label),
    ]
    if args.profile:
        print("\n== profile\n" + profile(5000))
    print(f"\nresults: {province.write_results(figures)}")


if __name__ == "__main__":
    main()
