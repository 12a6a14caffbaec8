"""manage.py audit_ship: entries after the checkpoint, as JSON lines with their chain hashes, to a file,
stdout or a real syslog socket (RFC 5424 over UDP and TCP); reruns never skip or repeat."""

from __future__ import annotations

import fcntl
import json
import re
import socket
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from liangyi.core import audit
from liangyi.core.management.commands.audit_ship import line_hash, verify_lines
from liangyi.core.models import AuditEntry

SYSLOG = re.compile(r"^<110>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) liangyi (\d+) audit - \ufeff(\{.*\})$",
                    re.S)


def add(n: int, user=None) -> None:
    for i in range(n):
        audit.record(user, "test.event", username="shipper-test", n=i, text="中文")


def ids() -> list[int]:
    return list(AuditEntry.objects.order_by("id").values_list("id", flat=True))


def ship(tmp_path, *args: str, **kw) -> str:
    out = StringIO()
    call_command("audit_ship", *args, checkpoint=str(tmp_path / "ship.json"), stdout=out, stderr=out, **kw)
    return out.getvalue()


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.django_db
class TestToAFile:
    def test_reruns_ship_each_entry_exactly_once_and_the_receiver_can_verify_the_chain(self, tmp_path):
        add(7)
        target = tmp_path / "audit.jsonl"
        assert "Shipped 7 audit entries" in ship(tmp_path, to=str(target), batch=3)
        assert "Shipped 0 audit entries" in ship(tmp_path, to=str(target))
        add(4)
        assert "Shipped 4 audit entries" in ship(tmp_path, to=str(target), batch=3)
        lines = read_lines(target)
        assert [line["id"] for line in lines] == ids()  # no gap, no repeat, in order
        assert verify_lines(lines) == AuditEntry.objects.order_by("-id").first().entry_hash
        assert lines[0]["detail"] == {"n": 0, "text": "中文"} and lines[0]["actor_username"] == "shipper-test"
        checkpoint = json.loads((tmp_path / "ship.json").read_text())
        assert checkpoint["last_id"] == ids()[-1] and checkpoint["last_hash"] == lines[-1]["entry_hash"]

    def test_the_receiver_side_hash_is_the_chain_hash(self, tmp_path):
        add(2)
        ship(tmp_path, to=str(tmp_path / "a.jsonl"))
        first, second = read_lines(tmp_path / "a.jsonl")
        entry = AuditEntry.objects.get(pk=second["id"])
        assert line_hash(first["entry_hash"], second) == audit.compute_hash(first["entry_hash"], entry)
        second["detail"]["n"] = 99  # a receiver notices a line changed in transit
        with pytest.raises(ValueError, match=str(second["id"])):
            verify_lines([first, second])

    def test_stdout(self, tmp_path, capsys):
        add(3)
        out = StringIO()
        call_command("audit_ship", to="-", checkpoint=str(tmp_path / "ship.json"), stderr=out)
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [x["id"] for x in lines] == ids() and "Shipped 3" in out.getvalue()

    def test_a_checkpoint_the_log_no_longer_holds_is_refused(self, tmp_path):
        add(3)
        (tmp_path / "ship.json").write_text(json.dumps({"last_id": ids()[1], "last_hash": "f" * 64}))
        with pytest.raises(CommandError, match="no longer holds"):
            ship(tmp_path, to=str(tmp_path / "a.jsonl"))
        assert not (tmp_path / "a.jsonl").exists() or not (tmp_path / "a.jsonl").read_text()

    def test_a_tampered_entry_stops_the_shipping_at_the_last_good_one(self, tmp_path):
        add(5)
        bad = ids()[3]
        with connection.cursor() as cursor:  # what the application refuses, done behind its back
            cursor.execute("UPDATE core_auditentry SET action = %s WHERE id = %s", ["test.forged", bad])
        with pytest.raises(CommandError, match=f"entry {bad} does not continue the chain"):
            ship(tmp_path, to=str(tmp_path / "a.jsonl"))
        assert [x["id"] for x in read_lines(tmp_path / "a.jsonl")] == ids()[:3]
        assert json.loads((tmp_path / "ship.json").read_text())["last_id"] == ids()[2]

    def test_a_second_run_on_the_same_checkpoint_is_refused_while_one_runs(self, tmp_path):
        add(1)
        with open(tmp_path / "ship.json.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with pytest.raises(CommandError, match="another audit_ship is running"):
                ship(tmp_path, to=str(tmp_path / "a.jsonl"))


@pytest.mark.django_db
class TestToSyslog:
    def test_udp(self, tmp_path):
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        url = f"udp://127.0.0.1:{server.getsockname()[1]}"
        try:
            add(5)
            ship(tmp_path, syslog=url, batch=2)
            received = [server.recvfrom(65535)[0].decode("utf-8") for _ in range(5)]
            add(2)
            ship(tmp_path, syslog=url)
            received += [server.recvfrom(65535)[0].decode("utf-8") for _ in range(2)]
            ship(tmp_path, syslog=url)  # nothing new: nothing sent
            server.settimeout(0.3)
            with pytest.raises(TimeoutError):
                server.recvfrom(65535)
        finally:
            server.close()
        lines = []
        for message in received:
            m = SYSLOG.match(message)
            assert m, message[:120]
            lines.append(json.loads(m[4]))
        assert [x["id"] for x in lines] == ids()
        verify_lines(lines)

    def test_tcp_with_octet_counting(self, tmp_path):
        server = socket.create_server(("127.0.0.1", 0))
        server.settimeout(10)
        url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        received: list[bytes] = []

        def serve(connections: int) -> None:
            for _ in range(connections):
                conn, _addr = server.accept()
                with conn:
                    data = b""
                    while chunk := conn.recv(65536):
                        data += chunk
                received.append(data)

        thread = threading.Thread(target=serve, args=(2,))
        thread.start()
        try:
            add(6)
            ship(tmp_path, syslog=url, batch=4)
            add(3)
            ship(tmp_path, syslog=url)
            thread.join(10)
        finally:
            server.close()
        assert not thread.is_alive() and len(received) == 2
        messages = []
        for data in received:
            while data:  # RFC 6587 3.4.1: MSG-LEN SP SYSLOG-MSG
                length, _sp, rest = data.partition(b" ")
                messages.append(rest[:int(length)].decode("utf-8"))
                data = rest[int(length):]
        lines = [json.loads(SYSLOG.match(m)[4]) for m in messages]
        assert [x["id"] for x in lines] == ids()
        verify_lines(lines)

    def test_a_bad_url_is_refused(self, tmp_path):
        with pytest.raises(CommandError, match="udp://host:port"):
            ship(tmp_path, syslog="http://example.invalid/")
