"""Reconciliation at province scale (issue 6): accuracy per category, time beside its floor.

    .venv/bin/python bench/bench_reconcile.py [--persons 300000] [--seed 53] [--profile]

1. builds or reuses the bench province (``province.py``) in PostgreSQL (the database
   ``BENCH_DATABASE_URL``, default ``liangyi_bench``; set it to keep apart from other benchmarks);
2. writes a messy police export of about as many rows and its ground truth (``messy_export.py``);
3. runs ``manage.py reconcile EXPORT --out REPORT`` in a child process, exactly as an
   administrator would (reading + matching + report), measuring its wall time and peak RSS
   (``os.wait4`` on that child only);
4. the floor, in the same run: the export's ID column read plainly (NFKC, spaces dropped, upper
   case), keyed-hashed, loaded into a temporary table with COPY and joined on
   ``people_person.id_number_hash``: the least any comparison by ID number must do;
5. scores the report against the ground truth (precision and recall per category, false
   matches, exact-match recall, recovered rate), prints a table and writes
   ``bench/results/<UTC timestamp>.json`` (INTERFACES.md, "Benchmark results").

``--profile`` runs the reconcile child under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import pstats
import subprocess
import sys
import time
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import messy_export  # noqa: E402
import province  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
WORK = province.ROOT / "var" / "bench"
TARGET_SECONDS = 15.0
ACTIVE = {"isolation", "awaiting_report", "community_drug_rehab", "community_rehab", "suspended"}


# ru_maxrss survives exec on Linux (a child forked from this large process would report our size),
# so the child reports its own high-water mark (VmHWM, reset at exec) on stderr as it exits.
_HWM = ("import atexit, runpy, sys\n"
        "import time\n"
        "def _hwm():\n"
        "    kb = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "    sys.stderr.write('\\nBENCH_VMHWM_KB ' + kb + '\\n')\n"
        "    sys.stderr.write('BENCH_CPU_S %.3f\\n' % time.process_time())\n"
        "atexit.register(_hwm)\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n")


CPU: dict[str, float] = {}  # command name -> process CPU seconds of its last run (time.process_time)


def run_child(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB, VmHWM) of that child alone, stdout; its CPU time goes to ``CPU``."""
    env = {**os.environ, "DATABASE_URL": province.database_url()}
    if command[1:2] != ["-m"]:
        command = [command[0], "-c", _HWM] + command[1:]
    t = time.perf_counter()
    proc = subprocess.Popen(command, cwd=province.ROOT, env=env, stdout=subprocess.PIPE,  # noqa: S603
                            stderr=subprocess.PIPE)
    out, err = b"", b""
    # read the pipes before waiting (the report summary is short; stderr is progress lines)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"{command} failed with exit {proc.returncode}")
    marks = [line for line in err.decode(errors="replace").splitlines() if line.startswith("BENCH_VMHWM_KB ")]
    peak = int(marks[-1].split()[1]) / 1024 if marks else usage.ru_maxrss / 1024
    cpu = [line for line in err.decode(errors="replace").splitlines() if line.startswith("BENCH_CPU_S ")]
    CPU[command[-1] if "shell" in command else "reconcile"] = (
        float(cpu[-1].split()[1]) if cpu else usage.ru_utime + usage.ru_stime)
    return seconds, peak, out.decode()


def floor_sql_join(export: Path) -> tuple[float, int]:
    """Plain exact join of the export's ID column with the registry's, in SQL. Returns (seconds, matches)."""
    import psycopg

    from liangyi.core import crypto

    t = time.perf_counter()
    hashes = []
    with export.open(encoding="gb18030", newline="") as fh:
        reader = csv.reader(fh)
        column = next(reader).index("公民身份号码")
        for cells in reader:
            if len(cells) > column and cells[column]:
                text = unicodedata.normalize("NFKC", cells[column]).replace(" ", "").upper()
                hashes.append(crypto.lookup_hash(text))
    with psycopg.connect(province.database_url()) as conn:
        conn.execute("CREATE TEMP TABLE export_ids (h varchar(64))")
        with conn.cursor() as cur, cur.copy("COPY export_ids (h) FROM STDIN") as copy:
            for h in hashes:
                copy.write_row((h,))
        matches = conn.execute("SELECT count(*) FROM export_ids e JOIN people_person p ON p.id_number_hash = e.h"
                               ).fetchone()[0]
    return time.perf_counter() - t, matches


def score(truth_path: Path, report_path: Path, people: list[province.PersonRow]) -> dict:
    truth = {}
    with truth_path.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            truth[int(rec["police_row"])] = rec
    expected: dict[str, set] = defaultdict(set)
    present = set()
    for row, rec in truth.items():
        for category in filter(None, rec["expected"].split("|")):
            expected[category].add((row, rec["person_id"]))
        if rec["person_id"]:
            present.add(rec["person_id"])
    for p in people:
        if p.status in ACTIVE and p.pk not in present:
            expected["missing_in_police"].add((None, p.pk))

    reported: dict[str, set] = defaultdict(set)
    found_by_row: dict[int, set] = defaultdict(set)
    with report_path.open(encoding="utf-8-sig", newline="") as fh:
        for rec in csv.DictReader(fh):
            row = int(rec["police_row"]) if rec["police_row"] else None
            reported[rec["category"]].add((row, rec["person_id"]))
            if row is not None and rec["person_id"]:
                found_by_row[row].add(rec["person_id"])

    per_category = {}
    for category in sorted(set(expected) | set(reported)):
        e, r = expected[category], reported[category]
        hit = len(e & r)
        per_category[category] = {"expected": len(e), "reported": len(r), "correct": hit,
                                  "precision": hit / len(r) if r else 1.0, "recall": hit / len(e) if e else 1.0}
    false_rows = [row for row, persons in found_by_row.items() if persons != {truth[row]["person_id"]}]
    exact = [row for row, rec in truth.items() if rec["id_class"] == "exact" and rec["person_id"]]
    recoverable = [row for row, rec in truth.items() if rec["id_class"] == "recoverable"]
    corrected = reported["matched_corrected_id"]
    missed_recoveries = defaultdict(int)
    for row in recoverable:
        if (row, truth[row]["person_id"]) not in corrected:
            missed_recoveries[truth[row]["damage"]] += 1
    false_by_damage = defaultdict(int)
    for row in false_rows:
        false_by_damage[truth[row]["damage"] or truth[row]["id_class"]] += 1
    return {
        "per_category": per_category,
        "false_matches": len(false_rows),
        "false_by_damage": dict(false_by_damage),
        "exact_rows": len(exact),
        "exact_found": sum(1 for row in exact if truth[row]["person_id"] in found_by_row.get(row, ())),
        "recoverable_rows": len(recoverable),
        "recovered": len(recoverable) - sum(missed_recoveries.values()),
        "missed_recoveries": dict(missed_recoveries),
        "unrecoverable_rows": sum(1 for rec in truth.values() if rec["id_class"] == "unrecoverable"),
    }


def figure(name, value, unit, floor_name, floor_value, target, scale) -> dict:
    ratio = value / floor_value if floor_value else None
    return {"name": name, "value": round(value, 4), "unit": unit, "floor_name": floor_name,
            "floor_value": round(floor_value, 4), "ratio": round(ratio, 3) if ratio is not None else None,
            "target": target, "scale": scale}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Reconciliation benchmark (issue 6).")
    parser.add_argument("--persons", type=int, default=province.DEFAULT_PERSONS)
    parser.add_argument("--seed", type=int, default=province.DEFAULT_SEED)
    parser.add_argument("--profile", action="store_true", help="run the reconcile child under cProfile")
    args = parser.parse_args(argv)
    province.setup_django()

    print(f"== province: {args.persons} persons, seed {args.seed}")
    province.load(args.persons, args.seed, 0)
    t = time.perf_counter()
    people = province.persons(args.persons, args.seed)
    WORK.mkdir(parents=True, exist_ok=True)
    export = WORK / f"export-{args.persons}-{args.seed}.csv"
    truth = WORK / f"export-{args.persons}-{args.seed}.truth.csv"
    report = WORK / f"export-{args.persons}-{args.seed}.reconcile.csv"
    counts = messy_export.build(people, args.seed, export, truth)
    print(f"== export: {counts['rows']} rows ({export.stat().st_size / 1e6:.1f} MB GB18030) and ground truth in "
          f"{time.perf_counter() - t:.1f} s")

    manage = [sys.executable, str(province.ROOT / "manage.py")]
    _s, startup_rss, _o = run_child(manage + ["shell", "-c", "pass"])
    profile = WORK / "reconcile.prof"
    command = manage + ["reconcile", str(export), "--out", str(report)]
    if args.profile:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile)] + command[1:]
    seconds, rss, stdout = run_child(command)
    summary = json.loads(stdout.strip().splitlines()[-1])
    floor_seconds, floor_matches = floor_sql_join(export)
    result = score(truth, report, people)

    n = args.persons
    print(f"\n== reconcile end to end: {seconds:.2f} s (target < {TARGET_SECONDS:.0f} s); floor, SQL exact join: "
          f"{floor_seconds:.2f} s ({floor_matches} rows joined); ratio {seconds / floor_seconds:.1f}x")
    print(f"   CPU time of the reconcile process (time.process_time): {CPU['reconcile']:.2f} s "
          f"(a bare Django process: {CPU['pass']:.2f} s); load average {os.getloadavg()[0]:.2f}")
    print(f"   peak RSS of the reconcile process: {rss:.0f} MB (a bare Django process: {startup_rss:.0f} MB)")
    print(f"   engine counts: {summary}")
    print(f"\n{'category':<24}{'expected':>10}{'reported':>10}{'correct':>10}{'precision':>11}{'recall':>9}")
    for category, c in result["per_category"].items():
        print(f"{category:<24}{c['expected']:>10}{c['reported']:>10}{c['correct']:>10}"
              f"{c['precision']:>11.4f}{c['recall']:>9.4f}")
    exact_recall = result["exact_found"] / result["exact_rows"] if result["exact_rows"] else 1.0
    recovered = result["recovered"] / result["recoverable_rows"] if result["recoverable_rows"] else 1.0
    print(f"\nexact matches found: {result['exact_found']}/{result['exact_rows']} ({exact_recall:.4%})")
    print(f"recoverable damaged rows recovered: {result['recovered']}/{result['recoverable_rows']} ({recovered:.4%});"
          f" missed by damage: {result['missed_recoveries']}; unrecoverable rows: {result['unrecoverable_rows']}")
    print(f"false matches: {result['false_matches']} {result['false_by_damage']}")

    figures = [
        figure("reconcile_seconds", seconds, "s", "sql_exact_join_seconds", floor_seconds, "< 15 s", n),
        figure("exact_match_recall", exact_recall, "ratio", "all_exact_rows", 1.0, "= 1.0", n),
        figure("recovered_rate", recovered, "ratio", "all_recoverable_rows", 1.0, ">= 0.99", n),
        figure("false_matches", result["false_matches"], "rows", "none", 0, "= 0", n),
        figure("reconcile_cpu_seconds", CPU["reconcile"], "s", "sql_exact_join_seconds", floor_seconds, "< 15 s", n),
        figure("peak_rss_mb", rss, "MB", "django_process_rss_mb", startup_rss, "bounded (streamed reading)", n),
    ]
    for category, c in result["per_category"].items():
        figures.append(figure(f"precision_{category}", c["precision"], "ratio", "perfect", 1.0, "= 1.0", n))
        figures.append(figure(f"recall_{category}", c["recall"], "ratio", "perfect", 1.0, "= 1.0", n))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
    print(f"\nresults: {out}")
    if args.profile:
        buffer = io.StringIO()
        pstats.Stats(str(profile), stream=buffer).sort_stats("cumulative").print_stats(30)
        print(buffer.getvalue())


if __name__ == "__main__":
    main()
