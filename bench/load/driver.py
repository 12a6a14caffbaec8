"""A load driver of staff sessions against a running liangyi server (stdlib asyncio, no dependency).

Each virtual user is one community worker (its own account, its own township):

* logs in once (``POST /api/v1/auth/token/``) during a ramp-up that is not part of the measured
  window (a morning's logins, each a deliberately slow password hash);
* then, until the window ends, repeats a working cycle with a think time between steps: opens
  the worklist (``GET /api/v1/worklist/``), opens a person from it (``GET /api/v1/persons/{id}/``
  and the timeline), records a drug test for a drug test due on the worklist
  (``POST /api/v1/persons/{id}/tests/``), searches by surname (``GET /api/v1/persons/?q=``), and
  calls ``GET /healthz``, the trivial endpoint whose figures are the floor.

One TCP connection per request (gunicorn's sync workers close it after each response anyway).
Latency is measured from connecting to the last byte of the response.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

WRITES = {"record_test"}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)  # the first few error responses
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, kind: str, seconds: float, status: int, body: bytes) -> None:
        self.latencies[kind].append(seconds)
        if status >= 400 or status == 0:
            self.errors[kind] += 1
            if len(self.samples) < 8:
                self.samples.append(f"{kind} {status}: {body[:200].decode(errors='replace')}")


async def http(host: str, port: int, method: str, path: str, *, token: str | None = None,
               body: dict | None = None, timeout: float = 90.0) -> tuple[int, bytes]:
    payload = json.dumps(body).encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close", "Accept: application/json"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    header, _sep, content = raw.partition(b"\r\n\r\n")
    lines = header.split(b"\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    if any(line.lower().startswith(b"transfer-encoding: chunked") for line in lines[1:]):
        out, rest = b"", content
        while rest:
            size_line, _s, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        content = out
    return status, content


class Session:
    def __init__(self, host: str, port: int, username: str, password: str, stats: Stats, rng: random.Random,
                 think: tuple[float, float]):
        self.host, self.port, self.username, self.password = host, port, username, password
        self.stats, self.rng, self.think = stats, rng, think
        self.token: str | None = None
        self.tested: set[int] = set()

    async def call(self, kind: str, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        t = time.perf_counter()
        try:
            status, content = await http(self.host, self.port, method, path, token=self.token, body=body)
        except (OSError, TimeoutError) as exc:
            status, content = 0, repr(exc).encode()
        self.stats.add(kind, time.perf_counter() - t, status, content)
        return status, content

    async def pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(*self.think))

    async def login(self) -> bool:
        status, content = await self.call("login", "POST", "/api/v1/auth/token/",
                                          {"username": self.username, "password": self.password})
        if status == 200:
            self.token = json.loads(content)["token"]
        return self.token is not None

    async def cycle(self, today: date) -> None:
        status, content = await self.call("worklist", "GET", "/api/v1/worklist/")
        items = json.loads(content).get("results", []) if status == 200 else []
        await self.pause()
        if items:
            person = self.rng.choice(items)["person"]
            await self.call("person", "GET", f"/api/v1/persons/{person}/")
            await self.call("timeline", "GET", f"/api/v1/persons/{person}/timeline/")
            await self.pause()
        due = [i for i in items if i["kind"] == "drug_test" and i["state"] in ("due", "overdue")
               and i["id"] not in self.tested]
        if due:
            item = due[0]
            self.tested.add(item["id"])
            await self.call("record_test", "POST", f"/api/v1/persons/{item['person']}/tests/",
                            {"tested_on": today.isoformat(), "result": "negative", "sample": "urine",
                             "method": "onsite"})
            await self.pause()
        else:
            self.stats.skipped["record_test"] += 1
        surname = self.rng.choice(SURNAMES)
        await self.call("search", "GET", f"/api/v1/persons/?q={_quote(surname)}")
        await self.call("health", "GET", "/healthz")
        await self.pause()


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text)


async def _run_user(session: Session, start_at: float, stop_at: float, today: date) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    while time.monotonic() < stop_at:
        await session.cycle(today)


async def run(host: str, port: int, usernames: list[str], password: str, *, duration: float, ramp: float,
              think: tuple[float, float], seed: int, today: date) -> tuple[Stats, Stats, float]:
    """Log every user in (ramp-up, its own Stats), then run the measured window. Returns
    (login stats, window stats, measured window seconds)."""
    logins = Stats()
    rng = random.Random(seed)
    sessions = [Session(host, port, u, password, logins, random.Random(rng.getrandbits(64)), think)
                for u in usernames]

    async def staggered(s: Session, delay: float) -> bool:
        await asyncio.sleep(delay)
        return await s.login()

    ok = await asyncio.gather(*(staggered(s, ramp * i / len(sessions)) for i, s in enumerate(sessions)))
    window = Stats()
    live = [s for s, good in zip(sessions, ok, strict=True) if good]
    for s in live:
        s.stats = window
    start = time.monotonic()
    stop = start + duration
    # users start their cycles spread over the first think time, not all in the same millisecond
    await asyncio.gather(*(_run_user(s, start + s.rng.uniform(0, think[1]), stop, today) for s in live))
    return logins, window, time.monotonic() - start
