"""Load: staff sessions against gunicorn on the province data (issue 8), beside a health endpoint.

    BENCH_SCALE=province .venv/bin/python bench/bench_load.py [--users 50 200] [--duration 60]

1. builds or reuses the full bench province (``province.use_full_province``) with its staff
   (a community worker per township, password ``province.BENCH_PASSWORD``);
2. starts gunicorn with ``deploy/gunicorn.conf.py`` on 127.0.0.1:8100 (``--port``) against that
   database, DEBUG off, and waits for ``/healthz``;
3. for each number of users (default 50, then 200): that many workers of distinct townships log
   in (ramp-up, reported but not in the window), then run the session cycle of
   ``load/driver.py`` (worklist, person + timeline, record a drug test, search, health) for
   ``--duration`` seconds with a think time of ``--think`` seconds between steps;
4. prints p50/p95/p99, requests per second and errors per request kind; the floor is
   ``GET /healthz`` (one ``SELECT 1``) measured in the same sessions, on the same server;
5. stops gunicorn and writes ``bench/results/<UTC timestamp>.json``.

Targets (issue 8): zero errors; at 50 users p95 < 300 ms for reads and < 1 s for writes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import province  # noqa: E402
from load import driver  # noqa: E402

READ_TARGET_MS, WRITE_TARGET_MS = 300.0, 1000.0
KINDS = ("worklist", "person", "timeline", "record_test", "search", "health")


def start_server(url: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "LIANGYI_BIND": f"127.0.0.1:{port}", "LIANGYI_DEBUG": "0",
           "LIANGYI_WEB_LOG_LEVEL": "warning", "DJANGO_SETTINGS_MODULE": "liangyi.settings"}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(  # noqa: S603 (our venv's gunicorn, our config)
        [str(gunicorn), "-c", str(province.ROOT / "deploy" / "gunicorn.conf.py"), "liangyi.wsgi"],
        cwd=province.ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:  # noqa: S310
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"gunicorn did not answer /healthz on port {port} within 60 s; see {log}")


def stop_server(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def summarise(stats: driver.Stats, seconds: float) -> dict[str, dict]:
    out = {}
    for kind, values in stats.latencies.items():
        ms = [v * 1000 for v in values]
        out[kind] = {"n": len(ms), "errors": stats.errors.get(kind, 0), "rps": len(ms) / seconds,
                     "p50": province.percentile(ms, 50), "p95": province.percentile(ms, 95),
                     "p99": province.percentile(ms, 99)}
    return out


def print_table(title: str, table: dict[str, dict]) -> None:
    print(f"\n{title}\n{'request':<13}{'n':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind in [k for k in ("login", *KINDS) if k in table]:
        r = table[kind]
        print(f"{kind:<13}{r['n']:>7}{r['rps']:>8.1f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}")


def main(argv: list[str] | None = None) -> None:
    scale_name, default_persons, default_events = province.scale()
    parser = argparse.ArgumentParser(description="Load benchmark (issue 8).")
    parser.add_argument("--persons", type=int, default=default_persons)
    parser.add_argument("--events", type=int, default=default_events)
    parser.add_argument("--seed", type=int, default=province.DEFAULT_SEED)
    parser.add_argument("--users", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--duration", type=float, default=60.0 if scale_name == "province" else 20.0,
                        help="measured seconds per number of users")
    parser.add_argument("--think", type=float, nargs=2, default=[1.0, 3.0], help="think time range, seconds")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    print(f"== province ({scale_name}): {args.persons} persons, {args.events} events, seed {args.seed}")
    url = province.use_full_province(args.persons, args.events, args.seed, scale_name)

    from django.utils import timezone

    from liangyi.core.models import User

    today = timezone.localdate()
    townships = list(User.objects.filter(username__startswith=province.WORKER_PREFIX)
                     .order_by("username").values_list("username", flat=True))
    rng = random.Random(args.seed)
    log = province.ROOT / "var" / "bench" / "gunicorn-load.log"
    server = start_server(url, args.port, log)
    print(f"gunicorn (deploy/gunicorn.conf.py) on 127.0.0.1:{args.port}, log {log}")
    figures, label = [], f"{args.persons} persons, {args.events} events"
    try:
        for users in args.users:
            names = rng.sample(townships, min(users, len(townships)))
            logins, window, seconds = asyncio.run(driver.run(
                "127.0.0.1", args.port, names, province.BENCH_PASSWORD, duration=args.duration,
                ramp=min(30.0, users / 5), think=tuple(args.think), seed=args.seed + users, today=today))
            table = summarise(window, seconds)
            login = summarise(logins, 1.0).get("login")
            print_table(f"== {users} users, {seconds:.0f} s window (think {args.think[0]:g}-{args.think[1]:g} s); "
                        f"floor: health", table)
            if login:
                print(f"   login (ramp-up, before the window): n {login['n']}, p50 {login['p50']:.0f} ms, "
                      f"p95 {login['p95']:.0f} ms, errors {login['errors']}")
            if window.skipped.get("record_test"):
                print(f"   cycles without a drug test due on the worklist (no write): {window.skipped['record_test']}")
            for sample in window.samples + logins.samples:
                print(f"   error: {sample}")
            health = table.get("health", {"p95": 0.0, "p50": 0.0})
            errors = sum(r["errors"] for r in table.values()) + (login["errors"] if login else 0)
            scale = f"{label}; {users} users, {seconds:.0f} s"
            figures.append(province.figure(f"load_{users}u_errors", errors, "requests", "none", 0, "= 0", scale))
            for kind, r in table.items():
                if kind == "health":
                    continue
                target = ((f"< {WRITE_TARGET_MS:.0f} ms" if kind in driver.WRITES else f"< {READ_TARGET_MS:.0f} ms")
                          if users == 50 else "")
                figures.append(province.figure(f"load_{users}u_{kind}_p95_ms", r["p95"], "ms", "health_p95_ms",
                                               health["p95"], target, scale))
                figures.append(province.figure(f"load_{users}u_{kind}_p99_ms", r["p99"], "ms", "health_p99_ms",
                                               table.get("health", r)["p99"], "", scale))
    finally:
        stop_server(server)
    print(f"\nresults: {province.write_results(figures)}")


if __name__ == "__main__":
    main()
