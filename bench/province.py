"""A synthetic Yunnan province in PostgreSQL, for the benchmarks (issue 8).

    .venv/bin/python bench/province.py [--persons 300000] [--events 0] [--seed 53] [--force]
                                       [--supervision [--replan]]

Builds (or reuses) the dedicated database ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/liangyi_bench``): creates it if missing, runs the Django
migrations into it, then loads with COPY (never row-by-row ORM saves):

* jurisdictions: province 53, Yunnan's 16 prefecture-level cities (real 4-digit codes), synthetic
  counties (6 digits) and townships (9 digits);
* N persons with valid ID numbers, the number and phone encrypted with ``crypto.encrypt``, the
  keyed hash (``services.id_hash``) and the masked number; encryption runs in 2 worker processes;
* optionally timeline events (``--events``; 30 000 000 is the issue's figure), by COPY with the
  table's indexes rebuilt once afterwards (``bulk_load``);
* with ``--supervision`` (``load_supervision``): staff, community orders and every obligation the
  real planner plans for them, by COPY (its own marker, ``bench_province_supervision``).

``use_full_province``, ``scale``, ``percentile``, ``figure`` and ``write_results`` are shared by
the worklist, schedule and load benchmarks.

Everything comes from the seed: ``persons(n, seed)`` regenerates the plaintext (ID numbers,
names, places, statuses) identically, so other benchmarks read the ground truth from it rather
than decrypting 300 000 values. A marker table (``bench_province``) records persons, events and
seed; a second run with the same figures reuses the database and only checks the count.
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/liangyi_bench"
DEFAULT_PERSONS = 300_000
DEFAULT_SEED = 53
REFERENCE_DAY = date(2025, 1, 1)  # ages are counted from this day, so a seed gives the same province forever

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CITIES = (
    ("5301", "昆明市"), ("5303", "曲靖市"), ("5304", "玉溪市"), ("5305", "保山市"), ("5306", "昭通市"),
    ("5307", "丽江市"), ("5308", "普洱市"), ("5309", "临沧市"), ("5323", "楚雄彝族自治州"),
    ("5325", "红河哈尼族彝族自治州"), ("5326", "文山壮族苗族自治州"), ("5328", "西双版纳傣族自治州"),
    ("5329", "大理白族自治州"), ("5331", "德宏傣族景颇族自治州"), ("5333", "怒江傈僳族自治州"),
    ("5334", "迪庆藏族自治州"),
)
_PLACE_SYLLABLES = "安宁平和兴隆昌明永福德富源新华东西南北山水河江龙凤云岭松林石桥营坝"

STATUS_WEIGHTS = (
    ("community_rehab", 33), ("community_drug_rehab", 24), ("isolation", 11), ("awaiting_report", 5),
    ("suspended", 4), ("completed", 9), ("abstinent_3y", 8), ("imprisoned", 2), ("deceased", 2),
    ("whereabouts_unknown", 2),
)
TWIN_SHARE = 0.003  # registry persons with a near-twin in the registry: same name, birth date, county


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)


# --- the deterministic plaintext -------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    level: str
    parent: str | None


@cache
def places() -> tuple[Place, ...]:
    """Province, 16 cities, 5-12 synthetic counties each, 6-14 townships per county (fixed, seedless)."""
    rng = random.Random("yunnan-tree")
    out = [Place("53", "云南省", "province", None)]
    for city_code, city_name in CITIES:
        out.append(Place(city_code, city_name, "city", "53"))
        for k in range(rng.randint(5, 12)):
            county = f"{city_code}{2 + k:02d}"
            cname = "".join(rng.sample(_PLACE_SYLLABLES, 2)) + rng.choice("县区市")
            out.append(Place(county, cname, "county", city_code))
            for t in range(rng.randint(6, 14)):
                out.append(Place(f"{county}{101 + t:03d}", "".join(rng.sample(_PLACE_SYLLABLES, 2)) + "镇",
                                 "township", county))
    return tuple(out)


@cache
def townships() -> tuple[str, ...]:
    return tuple(p.code for p in places() if p.level == "township")


@dataclass(frozen=True)
class PersonRow:
    pk: str
    name: str
    gender: str  # M / F
    birth: date
    id_number: str
    jurisdiction: str  # township code
    status: str
    phone: str


def _name(rng: random.Random, gender: str) -> str:
    from liangyi.demo.generator import _FEMALE_CHARS, _MALE_CHARS, _SURNAMES

    surname = rng.choice(_SURNAMES["汉族"] if rng.random() < 0.88 else _SURNAMES[rng.choice(list(_SURNAMES))])
    chars = _MALE_CHARS if gender == "M" else _FEMALE_CHARS
    return surname + "".join(rng.choice(chars) for _ in range(rng.choice((1, 2, 2, 2))))


def _id_number(address: str, birth: date, gender: str, rng: random.Random, taken: set[str]) -> str:
    from liangyi.core import idnumber

    while True:
        seq = rng.randrange(0, 500) * 2 + (1 if gender == "M" else 0)
        number = idnumber.build(address, birth, seq)
        if number not in taken:
            taken.add(number)
            return number


def persons(n: int, seed: int) -> list[PersonRow]:
    """The province's persons, identical for a (n, seed) on every machine."""
    rng = random.Random(seed)
    statuses = [s for s, _w in STATUS_WEIGHTS]
    weights = [w for _s, w in STATUS_WEIGHTS]
    towns = townships()
    taken: set[str] = set()
    out: list[PersonRow] = []
    while len(out) < n:
        gender = "M" if rng.random() < 0.85 else "F"
        birth = REFERENCE_DAY - timedelta(days=rng.randint(18 * 365, 70 * 365))
        town = rng.choice(towns)
        name = _name(rng, gender)
        number = _id_number(town[:6], birth, gender, rng, taken)
        status = rng.choices(statuses, weights)[0]
        phone = rng.choice(("139", "158", "187", "133")) + f"{rng.randrange(10**8):08d}"
        out.append(PersonRow(str(uuid.UUID(int=rng.getrandbits(128), version=4)), name, gender, birth, number,
                             town, status, phone))
        if rng.random() < TWIN_SHARE and len(out) < n:  # a near-twin: same name, birth, county
            number2 = _id_number(town[:6], birth, gender, rng, taken)
            out.append(PersonRow(str(uuid.UUID(int=rng.getrandbits(128), version=4)), name, gender, birth, number2,
                                 town, rng.choices(statuses, weights)[0],
                                 "139" + f"{rng.randrange(10**8):08d}"))
    return out


# --- database --------------------------------------------------------------------------------


def ensure_database(url: str) -> bool:
    """Create the database if missing; True when it was created."""
    from urllib.parse import urlparse

    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    dbname = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            return True
    return False


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"]
    subprocess.run(command, cwd=ROOT, env=env, check=True)  # noqa: S603 (our interpreter, our manage.py)


def setup_django(url: str | None = None) -> None:
    """Point Django at the bench database (before setup) and set it up."""
    os.environ["DATABASE_URL"] = url or database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liangyi.settings")
    import django

    django.setup()


# The settings of deploy/postgresql/liangyi.conf that a database can carry (ALTER DATABASE … SET):
# the planner's. The rest (memory, WAL, logging) belong to the server and are not the bench's to set.
DATABASE_SETTINGS = ("jit", "random_page_cost", "effective_cache_size", "work_mem", "effective_io_concurrency")


def apply_deploy_settings(url: str) -> str:
    """Give the bench database the production configuration's planner settings, read from the
    deploy file, so that benchmarks measure the documented deployment (a server here keeps its
    defaults, e.g. jit = on, which compiles the worklist's plans)."""
    import psycopg

    conf = Path(__file__).resolve().parent.parent / "deploy" / "postgresql" / "liangyi.conf"
    wanted = {}
    for line in conf.read_text().splitlines():
        key, _sep, value = line.split("#", 1)[0].partition("=")
        if key.strip() in DATABASE_SETTINGS and value.strip():
            wanted[key.strip()] = value.strip().strip("'")
    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(url, autocommit=True) as conn:
        for key, value in wanted.items():
            conn.execute(f"ALTER DATABASE {psycopg.sql.Identifier(name).as_string(conn)} SET {key} = "
                         f"{psycopg.sql.Literal(value).as_string(conn)}")
    return ", ".join(f"{k} = {v}" for k, v in wanted.items())


def _encrypt_chunk(chunk: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(number, phone) -> (encrypted number, hash, encrypted phone). Runs in a worker process."""
    from liangyi.core import crypto

    return [(crypto.encrypt(n), crypto.lookup_hash(n), crypto.encrypt(p)) for n, p in chunk]


def _worker_init(url: str) -> None:
    setup_django(url)


def encrypt_all(rows: list[PersonRow], workers: int, url: str) -> list[tuple[str, str, str]]:
    pairs = [(p.id_number, p.phone) for p in rows]
    size = 5000
    chunks = [pairs[i:i + size] for i in range(0, len(pairs), size)]
    if workers <= 1:
        return [t for c in chunks for t in _encrypt_chunk(c)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_worker_init, initargs=(url,)) as pool:
        return [t for part in pool.map(_encrypt_chunk, chunks) for t in part]


def _marker(conn) -> tuple[int, int, int] | None:
    conn.execute("CREATE TABLE IF NOT EXISTS bench_province (persons integer, events bigint, seed integer, "
                 "built_at timestamptz)")
    return conn.execute("SELECT persons, events, seed FROM bench_province").fetchone()


def _person_columns(conn) -> list[tuple[str, bool]]:
    return conn.execute(
        "SELECT column_name, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_name = 'people_person' AND table_schema = current_schema() ORDER BY ordinal_position"
    ).fetchall()


def load(n: int, seed: int, events: int, *, force: bool = False, workers: int = 2, say=print) -> dict[str, float]:
    """Build or reuse the province; returns seconds per step."""
    import psycopg

    from liangyi.core import idnumber

    url = database_url()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    created = ensure_database(url)
    migrate(url)
    timings["create_and_migrate"] = time.perf_counter() - t
    say(f"database {url.rsplit('/', 1)[-1]}: {'created' if created else 'exists'}, migrated "
        f"({timings['create_and_migrate']:.1f} s)")
    applied = apply_deploy_settings(url)
    if applied:
        say(f"  production planner settings (deploy/postgresql/liangyi.conf) set on the database: {applied}")
    with psycopg.connect(url) as conn:
        mark = _marker(conn)
        count = conn.execute("SELECT count(*) FROM people_person").fetchone()[0]
        if not force and mark == (n, events, seed) and count == n:
            say(f"province reused: {n} persons, {events} events, seed {seed}")
            conn.commit()
            return timings
        if not force and mark and (mark[0], mark[2]) == (n, seed) and count == n:
            # the same persons, another number of events: reload the events only
            t = time.perf_counter()
            conn.execute("TRUNCATE people_timelineevent")
            if events:
                copy_events(conn, persons(n, seed), events, seed, say)
            conn.execute("UPDATE bench_province SET events = %s", (events,))
            conn.commit()
            conn.execute("ANALYZE people_timelineevent")
            timings["copy_events"] = time.perf_counter() - t
            say(f"province persons reused; COPY {events} timeline events in {timings['copy_events']:.1f} s")
            return timings
        t = time.perf_counter()
        rows = persons(n, seed)
        timings["generate_plaintext"] = time.perf_counter() - t
        say(f"generated {len(rows)} persons in {timings['generate_plaintext']:.1f} s")

        t = time.perf_counter()
        secrets = encrypt_all(rows, workers, url)
        timings["encrypt_and_hash"] = time.perf_counter() - t
        say(f"encrypted number + phone and hashed {len(rows)} persons ({workers} workers) in "
            f"{timings['encrypt_and_hash']:.1f} s")

        t = time.perf_counter()
        conn.execute("DELETE FROM bench_province")
        conn.execute("TRUNCATE people_person, core_jurisdiction CASCADE")
        with conn.cursor() as cur, cur.copy("COPY core_jurisdiction (code, name, level, parent_id) FROM STDIN") as copy:
            for p in places():
                copy.write_row((p.code, p.name, p.level, p.parent))
        timings["copy_jurisdictions"] = time.perf_counter() - t

        t = time.perf_counter()
        now = datetime.now(UTC)
        known = {
            "id": None, "name": None, "aliases": "[]", "id_number": None, "id_number_hash": None,
            "id_number_masked": None, "gender": None, "birth_date": None, "ethnicity": "", "education": "",
            "marital_status": "", "employment": "", "household_jurisdiction_id": None, "household_address": "",
            "residence_address": "", "jurisdiction_id": None, "phone": None, "status": None, "substances": "[]",
            "manner_of_use": "", "health_notes": "", "infectious_disease": "", "police_notes": "", "version": 1,
            "created_at": now, "updated_at": now,
        }
        columns = _person_columns(conn)
        missing = [c for c, nullable in columns if c not in known and not nullable]
        if missing:
            raise SystemExit(f"people_person has NOT NULL columns this loader does not know: {missing}")
        names = [c for c, _nullable in columns if c in known]
        with conn.cursor() as cur, cur.copy(f"COPY people_person ({', '.join(names)}) FROM STDIN") as copy:
            for p, (enc, h, phone) in zip(rows, secrets, strict=True):
                values = {**known, "id": p.pk, "name": p.name, "id_number": enc, "id_number_hash": h,
                          "id_number_masked": idnumber.mask(p.id_number), "gender": p.gender,
                          "birth_date": p.birth, "household_jurisdiction_id": p.jurisdiction,
                          "jurisdiction_id": p.jurisdiction, "phone": phone, "status": p.status}
                copy.write_row([values[c] for c in names])
        timings["copy_persons"] = time.perf_counter() - t
        say(f"COPY {len(rows)} persons in {timings['copy_persons']:.1f} s")

        if events:
            t = time.perf_counter()
            copy_events(conn, rows, events, seed, say)
            timings["copy_events"] = time.perf_counter() - t
            say(f"COPY {events} timeline events in {timings['copy_events']:.1f} s "
                f"({events / timings['copy_events']:,.0f} per second)")

        t = time.perf_counter()
        conn.execute("INSERT INTO bench_province VALUES (%s, %s, %s, now())", (n, events, seed))
        conn.commit()
        conn.execute("ANALYZE people_person")
        conn.execute("ANALYZE people_timelineevent")
        timings["commit_analyze"] = time.perf_counter() - t
    return timings


# Timeline event kinds with their share (per 16) and field group ("" = anyone who sees the person).
EVENT_KINDS = (("drug_test", "尿检阴性", "drug_history", 6), ("check_in", "按时报到", "", 3),
               ("home_visit", "走访家庭", "", 3), ("plan_review", "帮扶计划复核", "", 2), ("report", "报到", "", 2))
EVENT_CHUNK = 200_000


@contextmanager
def bulk_load(conn, table: str, say=print):
    """Within the caller's transaction: drop ``table``'s secondary indexes and unique constraints
    (the primary key stays), turn off foreign-key triggers (the loader takes every id from the
    referenced tables), and rebuild them all once the rows are in. A failure rolls everything back,
    indexes included (DDL is transactional in PostgreSQL)."""
    rows = conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid) "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary ORDER BY i.relname", (table,)).fetchall()
    conn.execute("SET LOCAL session_replication_role = replica")
    conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
    for index, _definition, constraint, _cdef in rows:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"' if constraint else f'DROP INDEX "{index}"')
    yield
    t = time.perf_counter()
    for _index, definition, constraint, cdef in rows:
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {cdef}' if constraint else definition)
    conn.execute("SET LOCAL session_replication_role = origin")
    say(f"  rebuilt {len(rows)} indexes of {table} in {time.perf_counter() - t:.1f} s")


def copy_events(conn, rows: list[PersonRow], events: int, seed: int, say=print) -> None:
    """``events`` timeline events spread over the persons, by COPY (text streamed in chunks), with
    the table's indexes rebuilt once at the end rather than maintained row by row."""
    rng = random.Random(seed + 1)
    start = date(2015, 1, 1)
    days = [f"{start + timedelta(days=d):%Y-%m-%d}" for d in range((REFERENCE_DAY - start).days)]
    clock = [f"{h:02d}:{m:02d}:{s:02d}+00" for h in range(24) for m in range(60) for s in range(60)]
    kinds = [f"{kind}\t{summary}\t{group}\t\t" for kind, summary, group, share in EVENT_KINDS for _ in range(share)]
    assert len(kinds) == 16
    pks = [p.pk for p in rows]
    n, nd = len(pks), len(days)
    statement = ('COPY people_timelineevent (person_id, kind, summary, "group", ref_type, ref_id, occurred_at) '
                 'FROM STDIN')
    bits = rng.getrandbits
    with bulk_load(conn, "people_timelineevent", say), conn.cursor() as cur, cur.copy(statement) as copy:
        left = events
        while left:
            size = min(EVENT_CHUNK, left)
            lines = []
            for _ in range(size):
                r = bits(64)
                lines.append(f"{pks[r % n]}\t{kinds[(r >> 20) & 15]}\t"
                             f"{days[(r >> 24) % nd]} {clock[(r >> 40) % 86400]}\n")
            copy.write("".join(lines))
            left -= size


# --- staff, community orders and obligations ---------------------------------------------------

BENCH_PASSWORD = "bench-Province-2026"  # noqa: S105 (synthetic staff; the load test logs in with it)
ADMIN_USERNAME = "bench-admin"
WORKER_PREFIX = "bench-w-"  # + township code: one community worker per township (persons' responsible worker)
LEADER_PREFIX = "bench-l-"  # + city code: one narcotics-control office leader per city
OVERDUE_SHARE = 0.12  # running terms whose latest one or two past tests are still open (as the demo)
SUSPENSION_SHARE = 0.03  # running terms with one closed suspension behind them


def load_staff(conn) -> dict[str, int]:
    """Upsert the bench staff (never deleted: audit entries may point at them). Returns the
    township workers' ids by township code."""
    from django.contrib.auth.hashers import make_password

    staff = [(ADMIN_USERNAME, "admin", None)]
    staff += [(LEADER_PREFIX + p.code, "leader", p.code) for p in places() if p.level == "city"]
    staff += [(WORKER_PREFIX + p.code, "community_worker", p.code) for p in places() if p.level == "township"]
    conn.execute("CREATE TEMP TABLE bench_staff (username text, role text, jurisdiction_id text) ON COMMIT DROP")
    with conn.cursor() as cur, cur.copy("COPY bench_staff FROM STDIN") as copy:
        for row in staff:
            copy.write_row(row)
    columns, extra = with_defaults(conn, "core_user", (
        "COPY core_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, "
        "date_joined, full_name, role, failed_logins, password_changed_at, jurisdiction_id) FROM STDIN"))
    columns = columns[columns.index("("):columns.index(")") + 1]
    conn.execute(
        f"INSERT INTO core_user {columns} "
        "SELECT %s, false, username, '', '', '', false, true, now(), username, role, 0, now(), jurisdiction_id"
        + ", %s" * len(extra)
        + " FROM bench_staff ON CONFLICT (username) DO UPDATE SET password = EXCLUDED.password, failed_logins = 0, "
        "locked_until = NULL, is_active = true, role = EXCLUDED.role, jurisdiction_id = EXCLUDED.jurisdiction_id, "
        "password_changed_at = now()", (make_password(BENCH_PASSWORD), *extra))
    return dict(conn.execute("SELECT jurisdiction_id, id FROM core_user WHERE username LIKE %s",
                             (WORKER_PREFIX + "%",)).fetchall())


# The code and rules the stored obligations were planned with: when they change, the obligations are rebuilt.
PLANNER_MODULES = ("liangyi.obligations.engine", "liangyi.obligations.schedules", "liangyi.supervision.plans",
                   "liangyi.risk.plans", "liangyi.risk.control", "liangyi.core.periods")


def planner_fingerprint() -> str:
    import hashlib
    import importlib

    from liangyi.core import rules as core_rules

    digest = hashlib.sha256(core_rules.current().version.encode())
    for name in PLANNER_MODULES:
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    return digest.hexdigest()[:16]


@contextmanager
def _grading_lookup(graded: set):
    """The planner asks the person's risk level once per order (a query); the bench persons have
    no grading unless a load test made one, so only those in ``graded`` are looked up."""
    from liangyi.risk import selectors

    real = selectors.grading_on
    selectors.grading_on = lambda person, on: real(person, on) if person.pk in graded else None
    try:
        yield
    finally:
        selectors.grading_on = real


_EMPTY = {"character varying": "", "text": "", "boolean": False, "smallint": 0, "integer": 0, "bigint": 0,
          "jsonb": "{}"}


def with_defaults(conn, table: str, statement: str) -> tuple[str, tuple]:
    """Extend ``COPY table (columns) FROM STDIN`` with the NOT NULL columns it does not name that
    have no database default (columns added after this loader was written), and the empty values
    to append to every row for them."""
    named = {c.strip().strip('"') for c in statement[statement.index("(") + 1:statement.index(")")].split(",")}
    extra = [(c, t) for c, t in conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND table_schema = current_schema() AND is_nullable = 'NO' AND column_default IS NULL "
        "AND is_identity = 'NO' AND is_generated = 'NEVER' ORDER BY ordinal_position", (table,)).fetchall()
        if c not in named]
    unknown = [c for c, t in extra if t not in _EMPTY]
    if unknown:
        raise SystemExit(f"{table} has NOT NULL columns this loader cannot fill: {unknown}")
    if not extra:
        return statement, ()
    head, tail = statement.split(")", 1)
    return head + "".join(f', "{c}"' for c, _t in extra) + ")" + tail, tuple(_EMPTY[t] for _c, t in extra)


def order_plan(order, ruleset, horizon: date, today: date, graded: set,
               since: date | None = None) -> list[tuple[str, object]]:
    """(source, Planned) of one order as the engine's generators plan it, without a query: the
    order carries its person, suspensions and transfers (``_prefetched_objects_cache``); risk's
    reassessment is the first one (``risk.plans.reassessments`` for a person never graded; a
    graded person's later ones are left to the engine). Call inside ``_grading_lookup(graded)``.
    ``since``: only what falls due after it (a nightly window run's plan)."""
    from liangyi.obligations.engine import Planned
    from liangyi.obligations.models import Kind
    from liangyi.supervision import plans
    from liangyi.supervision.models import OrderState

    args = (ruleset, horizon, today) if "on" in inspect.signature(plans._order_plan).parameters else (ruleset, horizon)
    extra = {"since": since} if since is not None else {}
    planned = [(plans.SOURCE, item) for item in plans._order_plan(order, *args, **extra)
               if since is None or item.due_on > since]
    if order.state == OrderState.ACTIVE and order.reported_on and order.person_id not in graded:
        due = order.reported_on + timedelta(days=int(ruleset.value("risk_first_assessment_days")))
        if due <= horizon and (since is None or due > since):
            planned.append(("risk.reassessment", Planned(
                kind=Kind.REASSESSMENT, key=f"reassessment:first:{order.pk}", due_on=due,
                window_start=min(order.reported_on, due), window_end=due, office=order.office_id,
                worker=order.worker_id)))
    return planned


def load_supervision(seed: int = DEFAULT_SEED, *, today: date | None = None, force: bool = False,
                     say=print) -> dict[str, float]:
    """Staff, a community order for every person whose status implies one, and every obligation
    the engine plans for them, with a realistic past (most past ones done, some overdue), by COPY.

    Needs the province (``load``) and Django set up. The plans come from the real planner
    (``supervision.plans._order_plan`` on unsaved orders, risk's first reassessment as
    ``risk.plans`` computes it without a grading), for today's horizon
    (``engine.DEFAULT_HORIZON_DAYS``), so a nightly ``engine.sync`` over the result is a no-op
    on the day it was built and plans only the obligations entering the horizon after it.
    A marker table (``bench_province_supervision``) makes a second run a no-op.
    """
    import psycopg
    from django.utils import timezone

    from liangyi.core import rules as core_rules
    from liangyi.obligations import engine
    from liangyi.obligations.models import Kind
    from liangyi.people.models import Person
    from liangyi.supervision import plans
    from liangyi.supervision.models import CommunityOrder, OrderKind, OrderState, Suspension
    from liangyi.supervision.services import report_deadline_for

    today = today or timezone.localdate()
    timings: dict[str, float] = {}
    with psycopg.connect(database_url()) as conn:
        province = conn.execute("SELECT built_at, seed FROM bench_province").fetchone()
        if province is None:
            raise SystemExit("no bench province in this database: run province.load first")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_province_supervision (province_built_at timestamptz, "
                     "seed integer, built_on date, orders integer, obligations bigint)")
        conn.execute("ALTER TABLE bench_province_supervision ADD COLUMN IF NOT EXISTS planner text")
        mark = conn.execute("SELECT province_built_at, seed, built_on, orders, obligations, planner "
                            "FROM bench_province_supervision").fetchone()
        planner = planner_fingerprint()
        if not force and mark and mark[:2] == (province[0], seed):
            conn.commit()
            say(f"orders and obligations reused (built {mark[2]}: {mark[3]} orders, {mark[4]} obligations)")
            if mark[5] != planner:
                say("  WARNING: the planner's code or rules changed since they were planned; a sync will show the "
                    "difference as created/rescheduled. Re-plan with: province.py --supervision --replan")
            return timings

        t = time.perf_counter()
        workers = load_staff(conn)
        conn.execute("UPDATE people_person p SET responsible_worker_id = u.id FROM core_user u "
                     "WHERE u.username = %s || p.jurisdiction_id AND p.responsible_worker_id IS DISTINCT FROM u.id",
                     (WORKER_PREFIX,))
        timings["staff"] = time.perf_counter() - t
        say(f"staff: {len(workers)} township workers, 16 leaders, 1 admin; responsible workers set "
            f"({timings['staff']:.1f} s)")

        t = time.perf_counter()
        conn.execute("DELETE FROM bench_province_supervision")
        # The nightly runs recorded against the old obligations no longer describe them.
        conn.execute("TRUNCATE obligations_obligation, obligations_generationrun, supervision_communityorder CASCADE")
        ruleset = core_rules.current()
        horizon = today + timedelta(days=engine.DEFAULT_HORIZON_DAYS)
        term = 12 * int(ruleset.value("community_drug_rehab_term_years"))
        rng = random.Random(seed + 2)
        people = conn.execute("SELECT id, status, jurisdiction_id FROM people_person ORDER BY id").fetchall()
        graded = {r[0] for r in conn.execute("SELECT DISTINCT person_id FROM risk_grading")}
        now = datetime.now(UTC)
        orders, suspensions, obligations = [], [], 0
        order_statement = ("COPY supervision_communityorder (id, person_id, kind, decided_on, received_on, "
                           "report_deadline, report_deadline_unconfirmed, report_deadline_note, reported_on, "
                           "term_months, term_ends_on, state, ended_on, office_id, worker_id, authority, "
                           "ruleset_version, created_at, updated_at) FROM STDIN")
        # person_place is what the database's trigger would copy from the person (bulk_load turns
        # triggers off); listed_from is computed by the database (a generated column).
        obligation_statement = ("COPY obligations_obligation (person_id, kind, due_on, window_start, window_end, "
                                "office_id, worker_id, source, key, ruleset_version, done_at, done_on, done_by_id, "
                                "fulfilled_by_type, fulfilled_by_id, waived_reason, created_at, updated_at, "
                                "person_place) FROM STDIN")
        ten = datetime.min.time().replace(hour=2)  # 10:00 in China is 02:00 UTC
        order_statement, order_extra = with_defaults(conn, "supervision_communityorder", order_statement)
        obligation_statement, obligation_extra = with_defaults(conn, "obligations_obligation", obligation_statement)
        suspension_statement, suspension_extra = with_defaults(conn, "supervision_suspension", (
            'COPY supervision_suspension (order_id, start, "end", reason, notes) FROM STDIN'))
        with bulk_load(conn, "obligations_obligation", say), conn.cursor() as cur, \
                cur.copy(obligation_statement) as copy, _grading_lookup(graded):
            for pid, status, town in people:
                state = {"community_drug_rehab": OrderState.ACTIVE, "community_rehab": OrderState.ACTIVE,
                         "suspended": OrderState.SUSPENDED, "awaiting_report": OrderState.AWAITING_REPORT,
                         "completed": OrderState.COMPLETED}.get(status)
                if state is None:
                    continue
                kind = {"community_drug_rehab": OrderKind.COMMUNITY_DRUG_REHAB,
                        "community_rehab": OrderKind.COMMUNITY_REHAB}.get(status) or rng.choice(OrderKind.values)
                if state == OrderState.AWAITING_REPORT:
                    received = today - timedelta(days=rng.randint(0, 25))
                    reported = None
                else:
                    back = {OrderState.ACTIVE: (20, 1050), OrderState.SUSPENDED: (90, 1000),
                            OrderState.COMPLETED: (1140, 2500)}[state]
                    received = today - timedelta(days=rng.randint(*back))
                    reported = received + timedelta(days=rng.randint(1, 10))
                deadline, note = report_deadline_for(received)
                order = CommunityOrder(
                    pk=len(orders) + 1, person=Person(pk=pid, status=status, jurisdiction_id=town), kind=kind,
                    decided_on=received - timedelta(days=rng.randint(0, 10)), received_on=received,
                    report_deadline=deadline, reported_on=reported, term_months=term,
                    state=state, office_id=town, worker_id=workers.get(town), ruleset_version=ruleset.version)
                spans = []
                if reported and state == OrderState.SUSPENDED:
                    spans.append(Suspension(order_id=order.pk, start=reported + timedelta(
                        days=rng.randint(30, max(31, (today - reported).days - 1))), end=None, reason="detention"))
                elif reported and state == OrderState.ACTIVE and rng.random() < SUSPENSION_SHARE \
                        and (today - reported).days > 200:
                    start = reported + timedelta(days=rng.randint(30, (today - reported).days - 150))
                    end = start + timedelta(days=rng.randint(10, 120))
                    spans.append(Suspension(order_id=order.pk, start=start, end=end, reason="detention"))
                order._prefetched_objects_cache = {"suspensions": spans, "transfers": []}
                if reported:
                    order.term_ends_on = plans.term_end(order)
                if state == OrderState.COMPLETED:
                    order.ended_on = order.term_ends_on
                orders.append((order.pk, pid, kind, order.decided_on, received, deadline, bool(note), note,
                               reported, term, order.term_ends_on, state, order.ended_on, town, order.worker_id, "",
                               ruleset.version, now, now))
                suspensions += [(order.pk, s.start, s.end, s.reason) for s in spans]

                planned = order_plan(order, ruleset, horizon, today, graded)
                past_tests = [item.key for _s, item in planned if item.kind == Kind.DRUG_TEST and item.due_on < today]
                keep_open = set()
                if state == OrderState.ACTIVE and past_tests and rng.random() < OVERDUE_SHARE:
                    keep_open = set(past_tests[-rng.randint(1, 2):])
                for source, item in planned:
                    if item.kind == Kind.REPORT:
                        done_on = reported
                    elif item.due_on < today and item.key not in keep_open:
                        slack = (item.due_on - (item.window_start or item.due_on)).days
                        done_on = item.due_on - timedelta(days=rng.randint(0, min(slack, 6)))
                    else:
                        done_on = None
                    done = done_on is not None
                    copy.write_row((pid, item.kind, item.due_on, item.window_start, item.window_end, item.office_id,
                                    item.worker_id, source, item.key, ruleset.version,
                                    datetime.combine(done_on, ten, UTC) if done else None, done_on,
                                    item.worker_id if done else None, "bench.history" if done else "", "", "", now,
                                    now, town, *obligation_extra))
                    obligations += 1
        timings["plan_and_copy_obligations"] = time.perf_counter() - t
        say(f"planned and COPY {obligations} obligations of {len(orders)} orders in "
            f"{timings['plan_and_copy_obligations']:.1f} s")

        t = time.perf_counter()
        with conn.cursor() as cur, cur.copy(order_statement) as copy:
            for row in orders:
                copy.write_row((*row, *order_extra))
        with conn.cursor() as cur, cur.copy(suspension_statement) as copy:
            for row in suspensions:
                copy.write_row((*row, "", *suspension_extra))
        for table in ("supervision_communityorder", "supervision_suspension"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
        conn.execute("INSERT INTO bench_province_supervision VALUES (%s, %s, %s, %s, %s, %s)",
                     (province[0], seed, today, len(orders), obligations, planner))
        conn.commit()
        for table in ("people_person", "supervision_communityorder", "supervision_suspension",
                      "obligations_obligation", "core_user", "core_jurisdiction"):
            conn.execute(f"ANALYZE {table}")
        conn.commit()
        timings["copy_orders_analyze"] = time.perf_counter() - t
        say(f"COPY {len(orders)} orders, {len(suspensions)} suspensions, ANALYZE in "
            f"{timings['copy_orders_analyze']:.1f} s")
    return timings


# --- shared by the benchmarks that need the whole province (worklist, schedules, load) ----------

RESULTS = ROOT / "bench" / "results"
# BENCH_SCALE picks the size: "quick" (make bench's default, minutes) or "province" (the figure).
SCALES = {"quick": (20_000, 2_000_000), "province": (DEFAULT_PERSONS, 30_000_000)}


def scale() -> tuple[str, int, int]:
    """(name, persons, events) from BENCH_SCALE."""
    name = os.environ.get("BENCH_SCALE", "quick")
    if name not in SCALES:
        raise SystemExit(f"BENCH_SCALE must be one of {sorted(SCALES)}, not {name!r}")
    return (name, *SCALES[name])


def province_url(scale_name: str) -> str:
    """The database of the full benchmarks: one per scale, so switching scale never rebuilds."""
    name = "liangyi_bench_province" if scale_name == "province" else "liangyi_bench_quick"
    return os.environ.get("BENCH_PROVINCE_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{name}")


def use_full_province(persons_n: int, events: int, seed: int, scale_name: str, say=print) -> str:
    """Point this process (Django included) at the scale's database and build or reuse the
    province with its events, staff, orders and obligations. Returns the database URL."""
    url = province_url(scale_name)
    os.environ["BENCH_DATABASE_URL"] = url
    os.environ.setdefault("LIANGYI_DEBUG", "0")  # no query log in a measuring process
    setup_django(url)
    load(persons_n, seed, events, say=say)
    load_supervision(seed, say=say)
    return url


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def figure(name: str, value: float, unit: str, floor_name: str, floor_value: float, target: str, scale_: str) -> dict:
    """One figure of INTERFACES.md "Benchmark results"."""
    return {"name": name, "value": round(value, 4), "unit": unit, "floor_name": floor_name,
            "floor_value": round(floor_value, 4),
            "ratio": round(value / floor_value, 3) if floor_value else None, "target": target, "scale": scale_}


def write_results(figures: list[dict]) -> Path:
    """bench/results/<UTC timestamp>.json (never overwriting another benchmark's file)."""
    RESULTS.mkdir(exist_ok=True)
    moment = datetime.now(UTC)
    while (out := RESULTS / f"{moment:%Y%m%dT%H%M%SZ}.json").exists():
        moment += timedelta(seconds=1)
    out.write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=DEFAULT_PERSONS)
    parser.add_argument("--events", type=int, default=0, help="timeline events (30 000 000 is the issue's figure)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="rebuild even if the same province is there")
    parser.add_argument("--supervision", action="store_true",
                        help="also staff, community orders and obligations (load_supervision)")
    parser.add_argument("--replan", action="store_true",
                        help="with --supervision: rebuild the orders and obligations only (the planner changed)")
    args = parser.parse_args(argv)
    setup_django()
    t = time.perf_counter()
    timings = load(args.persons, args.seed, args.events, force=args.force, workers=args.workers)
    if args.supervision:
        timings |= load_supervision(args.seed, force=args.force or args.replan)
    for step, seconds in timings.items():
        print(f"  {step:<22} {seconds:8.2f} s")
    print(f"  {'total':<22} {time.perf_counter() - t:8.2f} s")


if __name__ == "__main__":
    main()
