"""The person import at scale (issue 8): rows per second beside PostgreSQL's own COPY of the same rows.

    .venv/bin/python bench/bench_import.py [--persons 100000] [--seed 53]

1. creates and migrates the dedicated database ``BENCH_IMPORT_DATABASE_URL`` (default
   ``postgres://postgres@127.0.0.1:5432/liangyi_bench_import``), empties the register and loads the
   bench province's jurisdictions (``province.py``, read-only) and an administrator;
2. writes N persons of the bench province (``province.persons(n, seed)``) as the import template,
   an XLSX workbook (streamed by openpyxl's write-only mode), into ``var/bench/``;
3. runs ``manage.py import_persons FILE`` in a child process, exactly as an administrator would
   (the same ``importer.import_persons`` the import page's background task runs), measuring its
   wall time and peak RSS (VmHWM of that child);
4. the floor, in the same run: the same rows encrypted and hashed (2 processes, as the province
   loader does) and loaded with COPY into the emptied table: what writing the rows costs PostgreSQL
   without validation, audit or timeline;
5. prints both in rows per second and writes ``bench/results/<UTC timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import province  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
WORK = province.ROOT / "var" / "bench"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/liangyi_bench_import"
STATUS_ZH = {
    "isolation": "强制隔离戒毒", "awaiting_report": "待报到", "community_drug_rehab": "社区戒毒",
    "community_rehab": "社区康复", "suspended": "中止", "completed": "期满解除", "abstinent_3y": "戒断三年未复吸",
    "imprisoned": "服刑", "deceased": "死亡", "whereabouts_unknown": "下落不明",
}
HEADERS = ("姓名", "公民身份号码", "性别", "出生日期", "户籍地代码", "联系电话", "人员状态")

# The child reports its own high-water mark (VmHWM, reset at exec) as it exits.
_HWM = ("import atexit, runpy, sys\n"
        "def _hwm():\n"
        "    kb = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "    sys.stderr.write('\\nBENCH_VMHWM_KB ' + kb + '\\n')\n"
        "atexit.register(_hwm)\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def database_url() -> str:
    return os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_URL)


def run_child(args: list[str], url: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (VmHWM) and stdout of ``manage.py ARGS``."""
    command = [sys.executable, "-c", _HWM, str(province.ROOT / "manage.py"), *args]
    env = {**os.environ, "DATABASE_URL": url}
    t = time.perf_counter()
    proc = subprocess.run(command, cwd=province.ROOT, env=env, capture_output=True, check=False)  # noqa: S603
    seconds = time.perf_counter() - t
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        sys.stderr.write(err)
        raise SystemExit(f"manage.py {' '.join(args)} failed with exit {proc.returncode}")
    marks = [line for line in err.splitlines() if line.startswith("BENCH_VMHWM_KB ")]
    return seconds, int(marks[-1].split()[1]) / 1024 if marks else 0.0, proc.stdout.decode()


def prepare(url: str) -> None:
    """An empty register with the province's jurisdictions and one administrator."""
    import psycopg

    province.ensure_database(url)
    province.migrate(url)
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE people_person, core_jurisdiction, core_auditentry, core_audithead, "
                     "people_timelineevent CASCADE")
        with conn.cursor() as cur, cur.copy("COPY core_jurisdiction (code, name, level, parent_id) FROM STDIN") as copy:
            for p in province.places():
                copy.write_row((p.code, p.name, p.level, p.parent))
        conn.commit()
    from liangyi.core.models import Role, User

    if not User.objects.filter(username="bench_import").exists():
        User.objects.create_user("bench_import", password=None, role=Role.ADMIN)


def write_xlsx(rows: list[province.PersonRow], path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("persons")
    sheet.append(HEADERS)
    for p in rows:
        sheet.append((p.name, p.id_number, "男" if p.gender == "M" else "女", p.birth.isoformat(), p.jurisdiction,
                      p.phone, STATUS_ZH[p.status]))
    book.save(path)


def copy_floor(rows: list[province.PersonRow], url: str) -> dict[str, float]:
    """Encrypt + hash the same rows, then COPY them into the emptied person table."""
    import psycopg

    from liangyi.core import idnumber

    t = time.perf_counter()
    secrets = province.encrypt_all(rows, 2, url)
    encrypt = time.perf_counter() - t
    now = datetime.now(UTC)
    columns = ("id", "name", "aliases", "id_number", "id_number_hash", "id_number_masked", "gender", "birth_date",
               "ethnicity", "education", "marital_status", "employment", "household_jurisdiction_id",
               "household_address", "residence_address", "jurisdiction_id", "phone", "status", "substances",
               "manner_of_use", "health_notes", "infectious_disease", "police_notes", "version", "created_at",
               "updated_at")
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE people_person CASCADE")
        conn.commit()
        t = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY people_person ({', '.join(columns)}) FROM STDIN") as copy:
            for p, (enc, h, phone) in zip(rows, secrets, strict=True):
                copy.write_row((p.pk, p.name, "[]", enc, h, idnumber.mask(p.id_number), p.gender, p.birth, "", "",
                                "", "", p.jurisdiction, "", "", p.jurisdiction, phone, p.status, "[]", "", "", "", "",
                                1, now, now))
        conn.commit()
        copy_seconds = time.perf_counter() - t
    return {"encrypt_seconds": encrypt, "copy_seconds": copy_seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=province.DEFAULT_SEED)
    args = parser.parse_args(argv)
    url = database_url()
    province.setup_django(url)

    t = time.perf_counter()
    prepare(url)
    print(f"database {url.rsplit('/', 1)[-1]}: migrated, register emptied ({time.perf_counter() - t:.1f} s)")
    rows = province.persons(args.persons, args.seed)
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"import_{args.persons}.xlsx"
    t = time.perf_counter()
    write_xlsx(rows, path)
    print(f"wrote {len(rows)} rows to {path} ({path.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - t:.1f} s)")

    _s, django_rss, _out = run_child(["shell", "-c", "pass"], url)
    seconds, peak, out = run_child(["import_persons", str(path), "--user", "bench_import"], url)
    counts = {line.split(": ")[0]: int(line.split(": ")[1]) for line in out.splitlines()
              if line.split(": ")[0] in ("created", "updated", "unchanged", "rejected")}
    if counts.get("created") != len(rows):
        raise SystemExit(f"the import did not create every row: {counts}")
    print(f"import_persons: {len(rows)} rows in {seconds:.1f} s = {len(rows) / seconds:,.0f} rows/s, "
          f"peak RSS {peak:.0f} MB (bare Django {django_rss:.0f} MB)")

    floor = copy_floor(rows, url)
    copy_rate = len(rows) / floor["copy_seconds"]
    print(f"COPY of the same rows: {floor['copy_seconds']:.2f} s = {copy_rate:,.0f} rows/s "
          f"(+ {floor['encrypt_seconds']:.1f} s encrypting and hashing them in 2 processes)")
    print(f"the import is {copy_rate / (len(rows) / seconds):,.0f}x slower than COPY")

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    scale = f"{len(rows)} rows"
    import_rate = len(rows) / seconds

    def figure(name: str, value: float, unit: str, floor_name: str, floor_value: float, target: str) -> dict:
        return {"name": name, "value": round(value, 2), "unit": unit, "floor_name": floor_name,
                "floor_value": round(floor_value, 2), "ratio": round(value / floor_value, 3) if floor_value else None,
                "target": target, "scale": scale}

    figures = [
        figure("import_rows_per_second", import_rate, "rows/s", "copy_rows_per_second", copy_rate,
               "a 100 000-row file within a working day's background task"),
        figure("import_seconds", seconds, "s", "copy_seconds", floor["copy_seconds"], ""),
        figure("import_peak_rss_mb", peak, "MB", "django_process_rss_mb", django_rss, "bounded"),
        figure("encrypt_seconds", floor["encrypt_seconds"], "s", "copy_seconds", floor["copy_seconds"], ""),
    ]
    out_path = RESULTS / f"{stamp}.json"
    out_path.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
