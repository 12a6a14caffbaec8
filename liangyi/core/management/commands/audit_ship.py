"""``manage.py audit_ship``: copy the audit log, from a checkpoint on, to a separate system.

Each entry goes out as one JSON line with its chain hashes (``prev_hash``, ``entry_hash``), so the
receiver can check the chain itself (``verify_lines``, standard library only). Targets: a file
(appended to) or stdout (``--to PATH`` / ``--to -``), or a syslog server, RFC 5424 over UDP or TCP
(RFC 6587 octet counting): ``--syslog udp://host:514`` / ``tcp://host:6514``.

The checkpoint (last entry shipped and its hash) is saved after each batch has been written or
sent, so a rerun starts exactly where the last one stopped: nothing is skipped; nothing is sent
twice unless a run dies between sending a batch and saving its checkpoint (the receiver drops a
repeated ``id``). A run refuses to ship when the log no longer continues the chain it shipped
(an entry was removed or changed), and ships only up to the first entry that does not verify.
See docs/security.md, "Log retention".
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import socket
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from liangyi.core import audit
from liangyi.core.models import AuditEntry

GENESIS = audit.GENESIS
FACILITY_LOG_AUDIT = 13  # RFC 5424 table 1: "log audit"
SEVERITY_INFO = 6
UDP_MAX = 65_000  # a datagram larger than this would be cut; use TCP
FIELDS = ("at", "actor_id", "actor_username", "actor_role", "action", "object_type", "object_id", "person_id", "ip",
          "outcome", "detail")


def as_line(entry: AuditEntry) -> dict[str, Any]:
    """One entry as shipped: every hashed field, exactly as hashed, plus its id and both hashes."""
    return {
        "id": entry.pk,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_username": entry.actor_username,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "person_id": str(entry.person_id) if entry.person_id else None,
        "ip": entry.ip,
        "outcome": entry.outcome,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
        "entry_hash": entry.entry_hash,
    }


def line_hash(prev_hash: str, line: dict[str, Any]) -> str:
    """The chain hash of a shipped line (the receiver's side of core/audit.py ``compute_hash``)."""
    content = json.dumps([line[f] for f in FIELDS], ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                         default=str)
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def verify_lines(lines: Iterable[dict[str, Any]], prev_hash: str = GENESIS) -> str:
    """Check shipped lines continue the chain from ``prev_hash``; return the last hash. Raises ValueError."""
    for line in lines:
        if line["prev_hash"] != prev_hash or line_hash(prev_hash, line) != line["entry_hash"]:
            raise ValueError(f"audit entry {line.get('id')} does not continue the chain")
        prev_hash = line["entry_hash"]
    return prev_hash


def syslog_message(line: dict[str, Any], entry: AuditEntry) -> bytes:
    """RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG, the MSG in UTF-8 with a BOM."""
    pri = FACILITY_LOG_AUDIT * 8 + SEVERITY_INFO
    stamp = entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    host = re.sub(r"[^\x21-\x7e]", "-", socket.gethostname())[:255] or "-"
    header = f"<{pri}>1 {stamp} {host} liangyi {os.getpid()} audit - "
    body = json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)
    return header.encode("ascii") + "\ufeff".encode() + body.encode("utf-8")


class _Syslog:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("udp", "tcp") or not parts.hostname or not parts.port:
            raise CommandError(f"--syslog wants udp://host:port or tcp://host:port, not {url!r}")
        self.tcp = parts.scheme == "tcp"
        self.address = (parts.hostname, parts.port)
        kind = socket.SOCK_STREAM if self.tcp else socket.SOCK_DGRAM
        try:
            self.sock = socket.create_connection(self.address, timeout=30) if self.tcp else socket.socket(
                socket.getaddrinfo(*self.address, type=kind)[0][0], kind)
        except OSError as exc:
            raise CommandError(f"cannot reach the syslog server {url}: {exc}") from exc

    def send(self, messages: list[bytes]) -> None:
        if self.tcp:
            self.sock.sendall(b"".join(b"%d %s" % (len(m), m) for m in messages))  # RFC 6587 octet counting
            return
        for message in messages:
            if len(message) > UDP_MAX:
                raise CommandError(f"an audit entry of {len(message)} bytes does not fit a UDP datagram: use tcp://")
            self.sock.sendto(message, self.address)

    def close(self) -> None:
        if self.tcp:
            try:
                self.sock.shutdown(socket.SHUT_WR)
                self.sock.settimeout(10)
                while self.sock.recv(4096):  # wait for the server to close: it has read everything
                    pass
            except OSError:
                pass
        self.sock.close()


class Command(BaseCommand):
    help = ("Ship audit entries after the last checkpoint, as JSON lines with their chain hashes, to a file, "
            "stdout or a syslog server (RFC 5424 over UDP or TCP).")

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--to", metavar="PATH", help="append JSON lines to PATH ('-' for stdout)")
        target.add_argument("--syslog", metavar="URL", help="udp://host:port or tcp://host:port")
        parser.add_argument("--checkpoint", metavar="PATH",
                            help="where the position is kept (default: VAR_DIR/audit_ship/<target>.json)")
        parser.add_argument("--batch", type=int, default=500, help="entries per write and checkpoint")

    def handle(self, *args, **options):
        target = options["to"] or options["syslog"]
        path = Path(options["checkpoint"] or Path(settings.VAR_DIR) / "audit_ship" /
                    (re.sub(r"[^A-Za-z0-9._-]+", "_", target).strip("_") + ".json"))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(f"{path}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise CommandError(f"another audit_ship is running with the checkpoint {path}") from exc
            shipped, last_id = self._ship(target, options, path)
        summary = f"Shipped {shipped} audit entries to {target}; checkpoint at entry {last_id}."
        (self.stderr if options["to"] == "-" else self.stdout).write(summary)

    def _ship(self, target: str, options: dict[str, Any], path: Path) -> tuple[int, int]:
        last_id, last_hash = self._checkpoint(path)
        if options["syslog"]:
            sink = _Syslog(options["syslog"])
        elif options["to"] == "-":
            sink = None
        else:
            try:
                sink = open(options["to"], "a", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise CommandError(f"cannot write to {options['to']}: {exc}") from exc
        out: IO[str] = sys.stdout if sink is None else sink  # type: ignore[assignment]
        shipped = 0
        broken: AuditEntry | None = None
        try:
            for batch in self._batches(last_id, options["batch"]):
                good: list[tuple[AuditEntry, dict[str, Any]]] = []
                for entry in batch:
                    line = as_line(entry)
                    if entry.prev_hash != last_hash or audit.compute_hash(last_hash, entry) != entry.entry_hash:
                        broken = entry
                        break
                    good.append((entry, line))
                    last_hash = entry.entry_hash
                if good:
                    if isinstance(sink, _Syslog):
                        sink.send([syslog_message(line, entry) for entry, line in good])
                    else:
                        out.write("".join(json.dumps(line, ensure_ascii=False, separators=(",", ":"),
                                                     default=str) + "\n" for _e, line in good))
                        out.flush()
                        if sink is not None:
                            os.fsync(sink.fileno())
                    last_id = good[-1][0].pk
                    shipped += len(good)
                    self._save(path, target, last_id, last_hash)
                if broken is not None:
                    break
        finally:
            if sink is not None:
                sink.close()
        if broken is not None:
            raise CommandError(f"audit entry {broken.pk} does not continue the chain (changed, or an entry before "
                               f"it was removed); shipped {shipped} entries up to entry {last_id}. Run audit_verify.",
                               returncode=1)
        return shipped, last_id

    def _batches(self, after: int, size: int) -> Iterator[list[AuditEntry]]:
        while True:
            batch = list(AuditEntry.objects.filter(id__gt=after).order_by("id")[:size])
            if not batch:
                return
            yield batch
            after = batch[-1].pk

    def _checkpoint(self, path: Path) -> tuple[int, str]:
        if not path.exists():
            return 0, GENESIS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            last_id, last_hash = int(data["last_id"]), str(data["last_hash"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"the checkpoint {path} cannot be read: {exc}") from exc
        if last_id and not AuditEntry.objects.filter(pk=last_id, entry_hash=last_hash).exists():
            raise CommandError(f"the audit log no longer holds entry {last_id} as shipped (checkpoint {path}): "
                               f"it was changed or removed. Run audit_verify.", returncode=1)
        return last_id, last_hash

    def _save(self, path: Path, target: str, last_id: int, last_hash: str) -> None:
        """Atomically: a crash leaves the old checkpoint or the new one, never half of one."""
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"target": target, "last_id": last_id, "last_hash": last_hash,
                       "saved_at": timezone.now().isoformat()}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
