"""A synthetic Yunnan province in PostgreSQL, for the benchmarks (issue 8).

    .venv/bin/python bench/province.py [--persons 300000] [--events 0] [--seed 53] [--force]

Builds (or reuses) the dedicated database ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/liangyi_bench``): creates it if missing, runs the Django
migrations into it, then loads with COPY (never row-by-row ORM saves):

* jurisdictions: province 53, Yunnan's 16 prefecture-level cities (real 4-digit codes), synthetic
  counties (6 digits) and townships (9 digits);
* N persons with valid ID numbers, the number and phone encrypted with ``crypto.encrypt``, the
  keyed hash (``services.id_hash``) and the masked number; encryption runs in 2 worker processes;
* optionally timeline events (``--events``), also by COPY.

Everything comes from the seed: ``persons(n, seed)`` regenerates the plaintext (ID numbers,
names, places, statuses) identically, so other benchmarks read the ground truth from it rather
than decrypting 300 000 values. A marker table (``bench_province``) records persons, events and
seed; a second run with the same figures reuses the database and only checks the count.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import subprocess
import sys
import time
import uuid
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
    with psycopg.connect(url) as conn:
        mark = _marker(conn)
        count = conn.execute("SELECT count(*) FROM people_person").fetchone()[0]
        if not force and mark == (n, events, seed) and count == n:
            say(f"province reused: {n} persons, {events} events, seed {seed}")
            conn.commit()
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
            copy_events(conn, rows, events, seed)
            timings["copy_events"] = time.perf_counter() - t
            say(f"COPY {events} timeline events in {timings['copy_events']:.1f} s "
                f"({events / timings['copy_events']:,.0f} per second)")

        t = time.perf_counter()
        conn.execute("INSERT INTO bench_province VALUES (%s, %s, %s, now())", (n, events, seed))
        conn.commit()
        conn.execute("ANALYZE people_person")
        timings["commit_analyze"] = time.perf_counter() - t
    return timings


EVENT_KINDS = (("drug_test", "尿检阴性", "health"), ("check_in", "按时报到", ""), ("home_visit", "走访家庭", ""),
               ("plan_review", "帮扶计划复核", ""), ("report", "报到", ""))


def copy_events(conn, rows: list[PersonRow], events: int, seed: int) -> None:
    """``events`` timeline events spread over the persons (COPY; indexes stay, as in production)."""
    rng = random.Random(seed + 1)
    start = datetime(2015, 1, 1, tzinfo=UTC)
    span = int((datetime(2025, 1, 1, tzinfo=UTC) - start).total_seconds())
    pks = [p.pk for p in rows]
    statement = ('COPY people_timelineevent (person_id, kind, occurred_at, summary, "group", ref_type, ref_id) '
                 'FROM STDIN')
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for _ in range(events):
            kind, summary, group = EVENT_KINDS[rng.randrange(len(EVENT_KINDS))]
            copy.write_row((pks[rng.randrange(len(pks))], kind, start + timedelta(seconds=rng.randrange(span)),
                            summary, group, "", ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=DEFAULT_PERSONS)
    parser.add_argument("--events", type=int, default=0, help="timeline events (30 000 000 is the issue's figure)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--force", action="store_true", help="rebuild even if the same province is there")
    args = parser.parse_args(argv)
    setup_django()
    t = time.perf_counter()
    timings = load(args.persons, args.seed, args.events, force=args.force, workers=args.workers)
    for step, seconds in timings.items():
        print(f"  {step:<22} {seconds:8.2f} s")
    print(f"  {'total':<22} {time.perf_counter() - t:8.2f} s")


if __name__ == "__main__":
    main()
