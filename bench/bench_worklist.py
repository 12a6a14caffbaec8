"""The worklist at province scale (issue 4): p50/p95 of the real query beside the same query in SQL.

    BENCH_SCALE=province .venv/bin/python bench/bench_worklist.py [--repeat 200] [--seed 53] [--explain]

1. builds or reuses the full bench province (``province.use_full_province``): persons, timeline
   events, staff (a community worker per township, a leader per city), community orders and
   their obligations with a realistic past;
2. for a township worker and for a city leader, repeatedly runs what one worklist request costs
   the database side of the API (``GET /api/v1/worklist/``): ``selectors.worklist(user, today)``
   through Django, its ``count()`` and its first page (``PAGE_SIZE`` rows, model instances
   built), cycling over several users of that level;
3. the floor, interleaved with it in the same run: the same two statements (same joins, same
   filters, same order, same columns) written by hand and run with psycopg, rows fetched as
   tuples;
4. prints p50/p95 of each beside its floor, writes ``bench/results/<UTC timestamp>.json``;
   ``--explain`` prints EXPLAIN (ANALYZE, BUFFERS) of the city leader's page query.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import province  # noqa: E402

TARGET_MS = 100.0
TOWNSHIPS = 12  # township workers cycled through (cities: all 16)

# The worklist as selectors.worklist + select_related builds it, by hand: same joins, filters and order.
# The scope is the person's place as the obligation carries it (person_place, kept by triggers),
# "listed" is the generated column listed_from (see docs/obligations.md).
_SCOPE = """
   WHERE o.person_place = ANY(%(places)s) AND o.done_at IS NULL AND o.listed_from <= %(today)s"""
PLACES = "SELECT code FROM core_jurisdiction WHERE code LIKE %(scope)s"
_JOINS = """
    FROM obligations_obligation o
    JOIN people_person p ON p.id = o.person_id
    JOIN core_jurisdiction pj ON pj.code = p.jurisdiction_id
    JOIN core_jurisdiction oj ON oj.code = o.office_id
    LEFT JOIN core_user w ON w.id = o.worker_id"""
_COLUMNS = """
  SELECT o.id, o.person_id, o.kind, o.due_on, o.window_start, o.window_end, o.office_id, o.worker_id,
         o.done_on, o.waived_reason,
         CASE WHEN o.due_on < %(today)s THEN 'overdue'
              WHEN o.window_start <= %(today)s OR (o.window_start IS NULL AND o.due_on <= %(today)s) THEN 'due'
              ELSE 'upcoming' END AS state,
         p.name, p.jurisdiction_id, pj.name, oj.name, w.username"""
FLOOR_PAGE = f"{_COLUMNS} {_JOINS} {_SCOPE} ORDER BY o.due_on, p.name, o.id LIMIT %(limit)s"
FLOOR_COUNT = f"SELECT count(*) FROM obligations_obligation o {_SCOPE}"
# The worklist as it was written before (issue 4): scoped through the person's jurisdiction, listed by
# due date or open window. --check-old compares its rows with today's, user by user.
_OLD_WHERE = """
   WHERE p.jurisdiction_id LIKE %(scope)s AND o.done_at IS NULL
     AND (o.due_on <= %(ahead)s OR o.window_start <= %(today)s)"""
OLD_PAGE = f"{_COLUMNS} {_JOINS} {_OLD_WHERE} ORDER BY o.due_on, p.name, o.id LIMIT %(limit)s"
OLD_COUNT = f"SELECT count(*) FROM obligations_obligation o JOIN people_person p ON p.id = o.person_id {_OLD_WHERE}"


def measure(users, repeat: int, today, page_size: int, url: str, session_sql: str = "") -> dict[str, list[float]]:
    """Interleaved timings (ms) of the Django worklist and the SQL floor, cycling over ``users``."""
    import psycopg
    from django.db import connection

    from liangyi.obligations import selectors

    ahead = today + timedelta(days=selectors.WORKLIST_DAYS)
    real, floor, sizes = [], [], []
    with psycopg.connect(url, autocommit=True) as conn:
        if session_sql:
            conn.execute(session_sql)
            with connection.cursor() as cursor:
                cursor.execute(session_sql)
        for i in range(repeat + 3):  # three warm-up rounds, not counted
            user = users[i % len(users)]
            t = time.perf_counter()
            qs = selectors.worklist(user, today)
            total = qs.count()
            rows = list(qs[:page_size])
            orm_ms = (time.perf_counter() - t) * 1000
            params = {"scope": user.scope_code + "%", "ahead": ahead, "today": today, "limit": page_size}
            t = time.perf_counter()
            params["places"] = [r[0] for r in conn.execute(PLACES, params)]
            floor_total = conn.execute(FLOOR_COUNT, params).fetchone()[0]
            floor_rows = conn.execute(FLOOR_PAGE, params).fetchall()
            floor_ms = (time.perf_counter() - t) * 1000
            if (total, [r.pk for r in rows]) != (floor_total, [r[0] for r in floor_rows]):
                raise SystemExit(f"the floor disagrees with the worklist for {user.username}: "
                                 f"{total} vs {floor_total} rows")
            if i >= 3:
                real.append(orm_ms)
                floor.append(floor_ms)
                sizes.append(total)
    return {"real": real, "floor": floor, "sizes": sizes}


def check_old(users, today, page_size: int, url: str) -> None:
    """The new worklist gives the rows, order and count of the old one for every user measured."""
    import psycopg

    from liangyi.obligations import selectors

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET jit = off")  # the old plan is slow enough without compiling it
        for user in users:
            params = {"scope": user.scope_code + "%", "ahead": today + timedelta(days=selectors.WORKLIST_DAYS),
                      "today": today, "limit": page_size}
            params["places"] = [r[0] for r in conn.execute(PLACES, params)]
            old = (conn.execute(OLD_COUNT, params).fetchone()[0], conn.execute(OLD_PAGE, params).fetchall())
            new = (conn.execute(FLOOR_COUNT, params).fetchone()[0], conn.execute(FLOOR_PAGE, params).fetchall())
            qs = selectors.worklist(user, today)
            orm = (qs.count(), [(o.pk, o.state) for o in qs[:page_size]])
            if old != new or orm != (old[0], [(r[0], r[10]) for r in old[1]]):
                raise SystemExit(f"the worklist of {user.username} differs from the old query's")
            print(f"  {user.username}: {old[0]} rows, first page identical to the old query's")


def explain(user, today, page_size: int, url: str, session_sql: str = "") -> str:
    import psycopg

    from liangyi.obligations import selectors

    params = {"scope": user.scope_code + "%", "ahead": today + timedelta(days=selectors.WORKLIST_DAYS),
              "today": today, "limit": page_size}
    with psycopg.connect(url, autocommit=True) as conn:
        if session_sql:
            conn.execute(session_sql)
        params["places"] = [r[0] for r in conn.execute(PLACES, params)]
        lines = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + FLOOR_PAGE, params).fetchall()]
        lines += [""] + [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + FLOOR_COUNT, params).fetchall()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    scale_name, default_persons, default_events = province.scale()
    parser = argparse.ArgumentParser(description="Worklist benchmark (issue 4).")
    parser.add_argument("--persons", type=int, default=default_persons)
    parser.add_argument("--events", type=int, default=default_events)
    parser.add_argument("--seed", type=int, default=province.DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=200, help="measured requests per user level")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the city query")
    parser.add_argument("--check-old", action="store_true",
                        help="first compare every measured user's count and first page with the old query's")
    parser.add_argument("--no-jit", action="store_true",
                        help="EXPERIMENT: run both with SET jit = off (a server setting, not the default)")
    args = parser.parse_args(argv)
    print(f"== province ({scale_name}): {args.persons} persons, {args.events} events, seed {args.seed}")
    url = province.use_full_province(args.persons, args.events, args.seed, scale_name)

    from django.conf import settings
    from django.utils import timezone

    from liangyi.core.models import User

    page_size = settings.REST_FRAMEWORK["PAGE_SIZE"]
    today = timezone.localdate()
    rng = random.Random(args.seed)
    workers = list(User.objects.filter(username__startswith=province.WORKER_PREFIX).order_by("username"))
    levels = {
        "township_worker": rng.sample(workers, min(TOWNSHIPS, len(workers))),
        "city_leader": list(User.objects.filter(username__startswith=province.LEADER_PREFIX).order_by("username")),
    }
    if args.check_old:
        print("== the new query against the old one (count, first page, states)")
        check_old([u for users in levels.values() for u in users], today, page_size, url)
    scale_label = f"{args.persons} persons, {args.events} events"
    figures = []
    print(f"\n{'worklist request':<18}{'rows':>14}{'p50 ms':>9}{'p95 ms':>9}{'floor p50':>11}{'floor p95':>11}"
          f"{'ratio p95':>11}  target p95 < {TARGET_MS:.0f} ms")
    for level, users in levels.items():
        got = measure(users, args.repeat, today, page_size, url, "SET jit = off" if args.no_jit else "")
        p50, p95 = province.percentile(got["real"], 50), province.percentile(got["real"], 95)
        f50, f95 = province.percentile(got["floor"], 50), province.percentile(got["floor"], 95)
        rows = f"{min(got['sizes'])}-{max(got['sizes'])}"
        print(f"{level:<18}{rows:>14}{p50:>9.1f}{p95:>9.1f}{f50:>11.1f}{f95:>11.1f}{p95 / f95:>10.1f}x  "
              f"{'met' if p95 < TARGET_MS else 'MISSED'}")
        label = f"{scale_label}; {rows} open rows per user" + ("; EXPERIMENT: jit off" if args.no_jit else "")
        suffix = "_nojit" if args.no_jit else ""
        figures.append(province.figure(f"worklist_{level}_p95_ms{suffix}", p95, "ms", "sql_worklist_p95_ms", f95,
                                       f"< {TARGET_MS:.0f} ms", label))
        figures.append(province.figure(f"worklist_{level}_p50_ms{suffix}", p50, "ms", "sql_worklist_p50_ms", f50, "",
                                       label))
    print(f"\n(each request: count() + first page of {page_size}, {args.repeat} requests per level after 3 warm-up, "
          f"cycling {len(levels['township_worker'])} township workers / {len(levels['city_leader'])} city leaders)")
    if args.explain:
        city = max(levels["city_leader"], key=lambda u: u.scope_code == "5301")
        plan = explain(city, today, page_size, url, "SET jit = off" if args.no_jit else "")
        print(f"\n== EXPLAIN ANALYZE, leader of {city.scope_code}\n{plan}")
    print(f"\nresults: {province.write_results(figures)}")


if __name__ == "__main__":
    main()
