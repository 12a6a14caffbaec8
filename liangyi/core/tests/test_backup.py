"""Encrypted backups: the file format, and a real backup and restore of the test database.

The round trip runs on the vendor the suite runs on (`make test`: SQLite, `make test-pg`:
PostgreSQL). The data is committed (``transactional_db``) so that ``pg_dump``, a separate
process, sees it. On SQLite, pytest-django's test database is a shared-cache in-memory database
(``file:memorydb_default?mode=memory&cache=shared``); the backup opens that very database by its
configured name, as it opens ``var/liangyi.sqlite3`` in production, and copies it with SQLite's
online backup API. The restore target is a new, empty database: a file in ``tmp_path`` on
SQLite, a freshly created ``liangyi_restore_test_<random>`` on PostgreSQL (dropped afterwards).
The restored database is then read through the ORM on a second connection.
"""

from __future__ import annotations

import io
import os
import secrets
import sqlite3
import stat
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection, connections
from django.db.utils import load_backend

from liangyi.core import audit
from liangyi.core import backup as bk
from liangyi.core.models import AuditEntry, AuditHead
from liangyi.demo import factories
from liangyi.people.models import Person

KEY = bytes.fromhex("11" * 32)
OTHER_KEY = bytes.fromhex("22" * 32)
PG = connection.vendor == "postgresql"


# --- the file format, without a database ------------------------------------------------------
def encrypt(data: bytes, key: bytes = KEY, chunk: int = 64) -> bytes:
    out = io.BytesIO()
    bk.encrypt_stream(io.BytesIO(data), out, key, bk.KIND_SQLITE, chunk)
    return out.getvalue()


def decrypt(blob: bytes, key: bytes = KEY) -> bytes:
    _header, chunks = bk.decrypt_chunks(io.BytesIO(blob), key)
    return b"".join(chunks)


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 64 * 3, 1000])
def test_stream_round_trip_over_chunk_boundaries(size):
    data = (b"plaintext-" * 100)[:size]
    blob = encrypt(data)
    assert size < 10 or b"plaintext-" not in blob
    # the header, then one chunk per 64 bytes (at least one, maybe empty), each with its tag
    chunks = max(1, -(-size // 64))
    assert len(blob) == bk.HEADER.size + size + chunks * bk.TAG
    assert decrypt(blob) == data


def test_same_data_encrypts_differently_each_time():
    assert encrypt(b"x" * 100) != encrypt(b"x" * 100)


def test_wrong_key_is_named_as_such():
    with pytest.raises(bk.BackupError, match="wrong key"):
        decrypt(encrypt(b"secret" * 50), OTHER_KEY)


@pytest.mark.parametrize("where", ["header", "first chunk", "last tag"])
def test_any_flipped_byte_fails(where):
    blob = bytearray(encrypt(os.urandom(300)))
    index = {"header": 12, "first chunk": bk.HEADER.size + 5, "last tag": len(blob) - 1}[where]
    blob[index] ^= 0x01
    with pytest.raises(bk.BackupError):
        decrypt(bytes(blob))


def test_cut_at_a_chunk_boundary_or_extended_fails():
    blob = encrypt(os.urandom(64 * 4))
    whole_chunk = 64 + bk.TAG
    with pytest.raises(bk.BackupError, match="damaged or was altered"):
        decrypt(blob[: bk.HEADER.size + 2 * whole_chunk])  # two intact chunks, but not the last
    with pytest.raises(bk.BackupError, match="damaged or was altered"):
        decrypt(blob + blob[-whole_chunk:])  # the last chunk repeated


def test_swapped_chunks_fail():
    blob = encrypt(os.urandom(64 * 3))
    h, c = bk.HEADER.size, 64 + bk.TAG
    swapped = blob[:h] + blob[h + c : h + 2 * c] + blob[h : h + c] + blob[h + 2 * c :]
    with pytest.raises(bk.BackupError):
        decrypt(swapped)


def test_not_a_backup():
    with pytest.raises(bk.BackupError, match="not a liangyi backup"):
        decrypt(b"PGDMP" + b"\x00" * 100)


def test_key_must_be_64_hex_digits():
    assert bk.parse_key("ab" * 32) == bytes.fromhex("ab" * 32)
    for bad in ["ab" * 16, "zz" * 32, ""]:
        with pytest.raises(bk.BackupError, match="64 hex"):
            bk.parse_key(bad)


def test_demo_key_only_in_demo_mode(settings, monkeypatch):
    monkeypatch.delenv("LIANGYI_BACKUP_KEY", raising=False)
    monkeypatch.delenv("LIANGYI_BACKUP_KEY_FILE", raising=False)
    warnings: list[str] = []
    settings.DEMO_MODE = True
    assert bk.configured_key(warnings.append) == bytes.fromhex(bk.DEMO_KEY_HEX)
    assert "PUBLIC DEMO KEY" in warnings[0]
    settings.DEMO_MODE = False
    with pytest.raises(bk.BackupError, match="LIANGYI_BACKUP_KEY is not set"):
        bk.configured_key(warnings.append)
    monkeypatch.setenv("LIANGYI_BACKUP_KEY", "33" * 32)
    assert bk.configured_key() == bytes.fromhex("33" * 32)


# --- the real database ------------------------------------------------------------------------
@pytest.fixture
def records(transactional_db):
    """Persons and audit entries, committed."""
    places = factories.small_tree()
    worker = factories.user("worker", "community_worker", places["township"], full_name="张专干")
    persons = [
        factories.person(places["township"], name=f"备份测试{i}", phone=f"1381234567{i}", police_notes="前科")
        for i in range(6)
    ]
    for p in persons:
        audit.record(worker, "person.viewed", p)
    audit.record(None, "login.failed", None, username="nobody", outcome="denied")
    return {
        "person_ids": {p.pk for p in persons},
        "phones": {p.pk: p.phone for p in persons},
        "hashes": set(AuditEntry.objects.values_list("entry_hash", flat=True)),
    }


@pytest.fixture
def empty_target(tmp_path):
    """A Django DATABASES entry for a new, empty database of the suite's vendor."""
    if PG:
        import psycopg

        name = f"liangyi_restore_test_{secrets.token_hex(6)}"
        conninfo, env = bk._pg_conninfo(connection.settings_dict)
        with psycopg.connect(conninfo, password=env.get("PGPASSWORD"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')  # template1 may be busy
        target = {**connection.settings_dict, "NAME": name}
        try:
            yield target
        finally:
            with psycopg.connect(conninfo, password=env.get("PGPASSWORD"), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield {**connection.settings_dict, "NAME": str(tmp_path / "restored.sqlite3")}


def target_is_empty(db) -> bool:
    return bk.pg_is_empty(db) if PG else not Path(db["NAME"]).exists()


@contextmanager
def restored(db):
    """The restored database as a second Django connection, to read it through the ORM."""
    alias = "restored_backup"
    # Registered as a connection only, not in settings.DATABASES: Django's test case then
    # treats it as a dynamically created connection and lets the test use it.
    connections[alias] = load_backend(db["ENGINE"]).DatabaseWrapper(dict(db), alias)
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]


def test_round_trip_finds_every_person_and_audit_entry(records, empty_target, tmp_path):
    path = bk.backup(connection.settings_dict, tmp_path / "backups", KEY)
    assert path.name.startswith("liangyi-") and path.name.endswith(f".{'pg' if PG else 'sqlite'}.enc")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no snapshot or .part left behind
    raw = path.read_bytes()
    assert raw.startswith(bk.MAGIC)
    assert "备份测试0".encode() not in raw and b"person.viewed" not in raw

    assert target_is_empty(empty_target)
    bk.restore(path, empty_target, KEY)

    with restored(empty_target) as alias:
        assert connections[alias].vendor == connection.vendor
        assert set(Person.objects.using(alias).values_list("id", flat=True)) == records["person_ids"]
        for person in Person.objects.using(alias).all():
            assert person.phone == records["phones"][person.pk]  # encrypted fields still decrypt
        entries = list(AuditEntry.objects.using(alias).order_by("id"))
        assert {e.entry_hash for e in entries} == records["hashes"]
        assert len(entries) == 7
        prev = audit.GENESIS
        for entry in entries:
            assert entry.prev_hash == prev
            assert audit.compute_hash(prev, entry) == entry.entry_hash
            prev = entry.entry_hash
        head = AuditHead.objects.using(alias).get(pk=1)
        assert (head.last_hash, head.count) == (prev, len(entries))


def test_wrong_key_restores_nothing(records, empty_target, tmp_path):
    path = bk.backup(connection.settings_dict, tmp_path / "backups", KEY)
    with pytest.raises(bk.BackupError, match="wrong key"):
        bk.restore(path, empty_target, OTHER_KEY)
    assert target_is_empty(empty_target)


def test_tampered_byte_restores_nothing(records, empty_target, tmp_path):
    path = bk.backup(connection.settings_dict, tmp_path / "backups", KEY)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x40
    path.write_bytes(bytes(blob))
    with pytest.raises(bk.BackupError, match="damaged or was altered"):
        bk.restore(path, empty_target, KEY)
    assert target_is_empty(empty_target)


def test_file_altered_after_verification_still_restores_nothing(records, empty_target, tmp_path, monkeypatch):
    """Restore checks the whole file first; if the file changes between that check and the
    restore, the restore itself fails before committing anything (pg_restore's single
    transaction; SQLite's temporary file). Simulated by skipping the first check."""
    # Small chunks, and the damage in the last one: everything before it (the whole schema and
    # nearly all the data, which pg_dump writes last) reaches the database first.
    monkeypatch.setattr(bk, "CHUNK", 512)
    path = bk.backup(connection.settings_dict, tmp_path / "backups", KEY)
    blob = bytearray(path.read_bytes())
    step = 512 + bk.TAG
    last_chunk = bk.HEADER.size + (len(blob) - bk.HEADER.size - 1) // step * step
    assert last_chunk > bk.HEADER.size + 20 * step
    blob[last_chunk] ^= 0x01
    path.write_bytes(bytes(blob))
    header = bk.read_header(io.BytesIO(bytes(blob)), KEY)
    monkeypatch.setattr(bk, "verify_file", lambda _path, _key: header)
    real_decrypt_chunks = bk.decrypt_chunks

    def slow_to_notice(src, key):
        # Give the database time to take in the chunks before the damaged one, so that a
        # restore that is not all-or-nothing would leave tables behind.
        header, chunks = real_decrypt_chunks(src, key)

        def paced():
            try:
                yield from chunks
            except bk.BackupError:
                time.sleep(1.5)
                raise

        return header, paced()

    monkeypatch.setattr(bk, "decrypt_chunks", slow_to_notice)
    with pytest.raises(bk.BackupError, match="damaged or was altered"):
        bk.restore(path, empty_target, KEY)
    assert target_is_empty(empty_target)
    assert [p.name for p in Path(empty_target["NAME"]).parent.iterdir() if ".restore-" in p.name] == [] or PG


def test_restore_into_a_database_that_is_not_empty_is_refused(records, empty_target, tmp_path):
    path = bk.backup(connection.settings_dict, tmp_path / "backups", KEY)
    if PG:
        # the live test database itself holds tables
        with pytest.raises(bk.BackupError, match="is not empty"):
            bk.restore(path, connection.settings_dict, KEY)
        assert set(Person.objects.values_list("id", flat=True)) == records["person_ids"]
        assert AuditEntry.objects.count() == 7
    else:
        target = Path(empty_target["NAME"])
        db = sqlite3.connect(target)
        db.execute("CREATE TABLE keep (x)")
        db.execute("INSERT INTO keep VALUES (42)")
        db.commit()
        db.close()
        before = target.read_bytes()
        with pytest.raises(bk.BackupError, match="is not empty"):
            bk.restore(path, empty_target, KEY)
        assert target.read_bytes() == before
    # and a second restore into a database that was just restored is refused too
    bk_target = {**empty_target} if PG else {**empty_target, "NAME": str(tmp_path / "second.sqlite3")}
    bk.restore(path, bk_target, KEY)
    with pytest.raises(bk.BackupError, match="is not empty"):
        bk.restore(path, bk_target, KEY)


def test_backup_of_the_other_vendor_is_refused(records, empty_target, tmp_path):
    path = bk.backup(connection.settings_dict, tmp_path / "backups", KEY)
    other = (
        {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "x.sqlite3")}
        if PG
        else {**empty_target, "ENGINE": "django.db.backends.postgresql"}
    )
    with pytest.raises(bk.BackupError, match="backup; the target database is"):
        bk.restore(path, other, KEY)
    assert not (tmp_path / "x.sqlite3").exists()
    assert target_is_empty(empty_target)
