"""Encrypted backups of the database, and their restore (``make backup``, ``make restore``).

PostgreSQL is dumped with ``pg_dump --format=custom`` and restored with ``pg_restore``; SQLite is
copied with SQLite's online backup API and restored by writing the file. The dump is encrypted
with AES-256-GCM as it streams, so a backup of any size needs only one chunk of memory, and the
PostgreSQL dump never touches the disk unencrypted.

Key: ``LIANGYI_BACKUP_KEY`` (64 hex digits, 32 bytes; or ``LIANGYI_BACKUP_KEY_FILE``). Keep it
apart from the backups, like ``LIANGYI_FIELD_KEY``. In demo mode (no secrets configured) a fixed
demo key is used, with a warning: such backups are not protected.

File format, version 1 (all integers big-endian)::

    offset  size  field
    0       8     magic  b"LYBACKUP"
    8       1     format version, 1
    9       1     kind: 1 = PostgreSQL custom-format dump, 2 = SQLite database file
    10      4     chunk size C: plaintext bytes per chunk (1 MiB)
    14      16    salt, random for each file
    30      8     key check: HMAC-SHA256(master key, b"liangyi backup key check")[:8]
    38      ...   chunks

The header (bytes 0-37) is the associated data of every chunk, so no header byte can change
unnoticed. Each chunk is the AES-256-GCM encryption of C plaintext bytes (the last one: 0 to C
bytes), followed by its 16-byte tag: every chunk but the last is exactly C + 16 bytes long.
The file key is HKDF-SHA256(master key, salt, info=b"liangyi backup v1 aes-256-gcm"). The nonce
of chunk i is i as an 11-byte integer followed by one byte, 1 for the last chunk and 0 for the
others (the STREAM construction): chunks cannot be reordered, dropped, or the file cut short or
extended without the decryption failing. An empty dump is one last chunk of 0 bytes.

Restore authenticates the whole file before it touches the target database, refuses a target
that is not empty, and then restores: PostgreSQL with ``pg_restore --single-transaction`` (a
failure rolls everything back), SQLite into a temporary file renamed over the target at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import os
import shutil
import sqlite3
import struct
import subprocess  # noqa: S404 (pg_dump and pg_restore, with argument lists, never a shell)
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"LYBACKUP"
VERSION = 1
KIND_PG = 1
KIND_SQLITE = 2
KINDS = {KIND_PG: "pg", KIND_SQLITE: "sqlite"}
CHUNK = 1024 * 1024
HEADER = struct.Struct(">8sBBI16s8s")  # 38 bytes
TAG = 16
_INFO = b"liangyi backup v1 aes-256-gcm"
_KEY_CHECK_LABEL = b"liangyi backup key check"
DEMO_KEY_HEX = hashlib.sha256(b"liangyi demo backup key").hexdigest()


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, for an administrator."""


# --- the key ----------------------------------------------------------------------------------
def parse_key(hex_key: str) -> bytes:
    try:
        key = bytes.fromhex(hex_key.strip())
    except ValueError:
        raise BackupError("LIANGYI_BACKUP_KEY must be 64 hexadecimal digits.") from None
    if len(key) != 32:
        raise BackupError("LIANGYI_BACKUP_KEY must be 64 hexadecimal digits (32 bytes).")
    return key


def configured_key(warn: Callable[[str], None] | None = None) -> bytes:
    """The key from LIANGYI_BACKUP_KEY(_FILE); the demo key only in demo mode, with a warning."""
    from django.conf import settings

    from liangyi.env import env_str

    value = env_str("LIANGYI_BACKUP_KEY")
    if value:
        return parse_key(value)
    if not settings.DEMO_MODE:
        raise BackupError(
            "LIANGYI_BACKUP_KEY is not set. Generate one with "
            "`python3 -c \"import secrets; print(secrets.token_hex(32))\"` and keep a copy apart from the backups."
        )
    (warn or _stderr)(
        "WARNING: LIANGYI_BACKUP_KEY is not set; using the PUBLIC DEMO KEY. Anyone can decrypt this backup. "
        "Set LIANGYI_BACKUP_KEY for real data."
    )
    return parse_key(DEMO_KEY_HEX)


def _key_check(key: bytes) -> bytes:
    return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).digest()[:8]


def _file_key(key: bytes, salt: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(key))


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


# --- the stream format ------------------------------------------------------------------------
def encrypt_stream(src: IO[bytes], dst: IO[bytes], key: bytes, kind: int, chunk_size: int | None = None) -> int:
    """Encrypt ``src`` to ``dst`` in the format above. Returns the plaintext length."""
    chunk_size = chunk_size or CHUNK
    salt = os.urandom(16)
    header = HEADER.pack(MAGIC, VERSION, kind, chunk_size, salt, _key_check(key))
    aead = _file_key(key, salt)
    dst.write(header)
    total = 0
    index = 0
    current = _read_full(src, chunk_size)
    while True:
        following = _read_full(src, chunk_size) if len(current) == chunk_size else b""
        last = not following
        dst.write(aead.encrypt(_nonce(index, last), current, header))
        total += len(current)
        if last:
            return total
        current = following
        index += 1


@dataclass(frozen=True)
class Header:
    kind: int
    chunk_size: int
    raw: bytes

    @property
    def kind_name(self) -> str:
        return KINDS[self.kind]


def read_header(src: IO[bytes], key: bytes) -> Header:
    raw = src.read(HEADER.size)
    if len(raw) != HEADER.size:
        raise BackupError("not a liangyi backup: the file is too short.")
    magic, version, kind, chunk_size, _salt, check = HEADER.unpack(raw)
    if magic != MAGIC:
        raise BackupError("not a liangyi backup (wrong magic bytes).")
    if version != VERSION:
        raise BackupError(f"unsupported backup format version {version}; this program reads version {VERSION}.")
    if kind not in KINDS or not 0 < chunk_size <= 64 * CHUNK:
        raise BackupError("the backup header is damaged.")
    if not hmac.compare_digest(check, _key_check(key)):
        raise BackupError(
            "wrong key: this backup was made with a different LIANGYI_BACKUP_KEY (or its header was altered)."
        )
    return Header(kind, chunk_size, raw)


def decrypt_chunks(src: IO[bytes], key: bytes) -> tuple[Header, Iterator[bytes]]:
    """The header, and an iterator over authenticated plaintext chunks. A chunk is only ever
    yielded after its tag checked; the iterator raises BackupError on any damage, including a
    file cut short at a chunk boundary or with bytes appended."""
    header = read_header(src, key)
    aead = _file_key(key, header.raw[14:30])
    size = header.chunk_size + TAG

    def chunks() -> Iterator[bytes]:
        index = 0
        current = _read_full(src, size)
        while True:
            following = _read_full(src, size) if len(current) == size else b""
            last = not following
            try:
                plain = aead.decrypt(_nonce(index, last), current, header.raw)
            except InvalidTag:
                raise BackupError(
                    f"the backup is damaged or was altered (chunk {index} failed authentication); nothing was restored."
                ) from None
            yield plain
            if last:
                return
            current = following
            index += 1

    return header, chunks()


def verify_file(path: Path, key: bytes) -> Header:
    """Authenticate every chunk of a backup without writing anything."""
    with open(path, "rb") as src:
        header, chunks = decrypt_chunks(src, key)
        for _ in chunks:
            pass
    return header


def _read_full(src: IO[bytes], n: int) -> bytes:
    parts = []
    left = n
    while left:
        part = src.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


# --- databases --------------------------------------------------------------------------------
def _vendor(db: dict[str, Any]) -> str:
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        return "sqlite"
    if engine.endswith("postgresql"):
        return "pg"
    raise BackupError(f"backups support PostgreSQL and SQLite, not {engine}.")


def _pg_conninfo(db: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and an environment carrying it
    (so it never shows in the process list)."""
    from psycopg.conninfo import make_conninfo

    params = {"dbname": db.get("NAME") or "", "user": db.get("USER") or "", "host": db.get("HOST") or "",
              "port": str(db.get("PORT") or "")}
    for name in ("sslmode", "sslrootcert", "sslcert", "sslkey", "options"):
        value = (db.get("OPTIONS") or {}).get(name)
        if value:
            params[name] = str(value)
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return make_conninfo(**{k: v for k, v in params.items() if v}), env


def _sqlite_connect(name: str) -> sqlite3.Connection:
    return sqlite3.connect(name, uri=name.startswith("file:"))


def _require(program: str) -> str:
    found = shutil.which(program)
    if not found:
        raise BackupError(f"{program} was not found on PATH (apt-get install postgresql-client).")
    return found


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _open_private(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def backup(db: dict[str, Any], out_dir: Path, key: bytes, *, now: datetime | None = None) -> Path:
    """Dump the database ``db`` (a Django DATABASES entry), encrypted, into ``out_dir``.
    Returns the file's path. A failed backup leaves no file behind."""
    vendor = _vendor(db)
    _private_dir(out_dir)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    final = out_dir / f"liangyi-{stamp}.{vendor}.enc"
    n = 1
    while final.exists():
        n += 1
        final = out_dir / f"liangyi-{stamp}-{n}.{vendor}.enc"
    part = final.with_name(final.name + ".part")
    try:
        with _open_private(part) as dst:
            if vendor == "pg":
                _dump_pg(db, dst, key)
            else:
                _dump_sqlite(db, dst, key, out_dir)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(part, final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return final


def _dump_pg(db: dict[str, Any], dst: IO[bytes], key: bytes) -> None:
    conninfo, env = _pg_conninfo(db)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(  # noqa: S603 (fixed program, argument list)
            [_require("pg_dump"), "--format=custom", "--no-password", "--dbname", conninfo],
            stdout=subprocess.PIPE, stderr=errors, env=env,
        )
        assert proc.stdout is not None
        try:
            encrypt_stream(proc.stdout, dst, key, KIND_PG)
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            raise BackupError(f"pg_dump failed ({code}): {errors.read().decode(errors='replace').strip()}")


def _dump_sqlite(db: dict[str, Any], dst: IO[bytes], key: bytes, work_dir: Path) -> None:
    name = str(db["NAME"])
    if not name.startswith("file:") and not Path(name).is_file():
        raise BackupError(f"the SQLite database {name} does not exist.")
    # The online backup API copies a consistent snapshot while the site runs. The copy is
    # plaintext for a moment, in a 0600 file beside the backups (the live database file is no
    # better protected); it is removed as soon as it is encrypted.
    fd, tmp = tempfile.mkstemp(prefix=".liangyi-snapshot-", suffix=".sqlite3", dir=work_dir)
    os.close(fd)
    try:
        source = _sqlite_connect(name)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        with open(tmp, "rb") as src:
            encrypt_stream(src, dst, key, KIND_SQLITE)
    finally:
        os.unlink(tmp)


# --- restore ----------------------------------------------------------------------------------
def pg_is_empty(db: dict[str, Any]) -> bool:
    import psycopg

    conninfo, env = _pg_conninfo(db)
    with psycopg.connect(conninfo, password=env.get("PGPASSWORD"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%' "
            "AND n.nspname NOT LIKE 'pg_temp%%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
        ).fetchone()
    return row is not None and row[0] == 0


def sqlite_is_empty(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return True
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        conn.close()


def restore(path: Path, db: dict[str, Any], key: bytes) -> str:
    """Restore the backup at ``path`` into the EMPTY database ``db``. Returns a one-line summary.
    Nothing is written unless the whole file authenticates and the target is empty."""
    header = verify_file(path, key)
    vendor = _vendor(db)
    if header.kind_name != vendor:
        raise BackupError(
            f"this is a {'PostgreSQL' if header.kind == KIND_PG else 'SQLite'} backup; "
            f"the target database is {'PostgreSQL' if vendor == 'pg' else 'SQLite'}."
        )
    if vendor == "pg":
        if not pg_is_empty(db):
            raise BackupError(
                f"the target database {db['NAME']} is not empty; restore only into an empty database "
                "(createdb a new one, or drop and recreate this one)."
            )
        _restore_pg(path, db, key)
        return f"restored {path.name} into PostgreSQL database {db['NAME']}"
    target = Path(db["NAME"])
    if not sqlite_is_empty(target):
        raise BackupError(
            f"the target database {target} is not empty; restore only into an empty database "
            "(move the old file away first)."
        )
    _restore_sqlite(path, target, key)
    return f"restored {path.name} into SQLite database {target}"


def _restore_pg(path: Path, db: dict[str, Any], key: bytes) -> None:
    conninfo, env = _pg_conninfo(db)
    with tempfile.TemporaryFile() as errors, open(path, "rb") as src:
        # The plaintext goes straight into pg_restore; --single-transaction means that if anything
        # fails (pg_restore, or a chunk of a file altered since it was verified) nothing is kept.
        proc = subprocess.Popen(  # noqa: S603 (fixed program, argument list)
            [_require("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
             "--no-password", "--dbname", conninfo],
            stdin=subprocess.PIPE, stdout=errors, stderr=errors, env=env,
        )
        assert proc.stdin is not None
        try:
            _header, chunks = decrypt_chunks(src, key)
            for chunk in chunks:
                proc.stdin.write(chunk)
            proc.stdin.close()
        except BaseException as exc:
            proc.kill()  # the open transaction dies with the connection
            proc.wait()
            with contextlib.suppress(BrokenPipeError):  # what is still buffered is thrown away
                proc.stdin.close()
            if isinstance(exc, BrokenPipeError):
                errors.seek(0)
                raise BackupError(f"pg_restore failed: {errors.read().decode(errors='replace').strip()}") from None
            raise
        code = proc.wait()
        if code != 0:
            errors.seek(0)
            raise BackupError(f"pg_restore failed ({code}): {errors.read().decode(errors='replace').strip()}")


def _restore_sqlite(path: Path, target: Path, key: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.restore-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as dst, open(path, "rb") as src:
            _header, chunks = decrypt_chunks(src, key)
            for chunk in chunks:
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        check = sqlite3.connect(tmp)
        try:
            result = check.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            check.close()
        if result != "ok":
            raise BackupError(f"the restored SQLite file fails its integrity check: {result}")
        if target.exists():
            # An empty database may still have a -wal file: checkpoint it away before the swap.
            conn = sqlite3.connect(target)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            for suffix in ("-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- command line -----------------------------------------------------------------------------
def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "liangyi.settings")
    parser = argparse.ArgumentParser(prog="liangyi.core.backup", description="Encrypted database backups.")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="dump the configured database (DATABASE_URL), encrypted")
    b.add_argument("--out-dir", type=Path, help="where to write (default: var/backups)")
    r = sub.add_parser("restore", help="restore a backup into an EMPTY database")
    r.add_argument("path", type=Path)
    r.add_argument("--into", metavar="DATABASE_URL", help="target database (default: the configured one)")
    v = sub.add_parser("verify", help="check that a backup decrypts and is intact, writing nothing")
    v.add_argument("path", type=Path)
    args = parser.parse_args(argv)

    from django.conf import settings

    try:
        key = configured_key()
        if args.command == "backup":
            path = backup(settings.DATABASES["default"], args.out_dir or Path(settings.VAR_DIR) / "backups", key)
            print(path)
        elif args.command == "verify":
            header = verify_file(args.path, key)
            print(f"{args.path}: intact {header.kind_name} backup")
        else:
            if args.into:
                import dj_database_url

                db = dj_database_url.parse(args.into)
            else:
                db = settings.DATABASES["default"]
            print(restore(args.path, db, key))
    except (BackupError, OSError) as exc:
        _stderr(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
