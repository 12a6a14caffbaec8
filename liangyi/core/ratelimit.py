"""Per-address rate limits of the login steps and of re-authentication (ASVS 6.3.1, 6.1.1).

The per-account lockout (core/auth.py) stops guessing one account's password; it does not stop one
address from trying many accounts (password spraying), and it lets anyone lock a known username
out. So each client address also has a window counter of **failed** attempts in Django's cache:

- an attempt is counted before it is checked (``attempt``), so parallel requests cannot slip past
  the limit, and given back when it succeeds (``succeeded``): an office behind one address where
  everyone logs in at 8:30 is not slowed down, only failures add up;
- past ``limit`` in the current window the answer is 429 with ``Retry-After`` (seconds to the end
  of the window), without checking the password, so refused attempts cannot lock accounts out;
- windows are fixed (the window's number is part of the key), which every cache backend supports;
- IPv6 addresses count per /64, the block one subscriber usually holds.

Scopes: ``login`` (the password page, the code page and ``POST /api/v1/auth/token/`` share it:
switching channel buys no more attempts) and ``reauth`` (the confirm page and
``POST /api/v1/auth/reauth/``). Limits are settings (``LOGIN_RATE_LIMIT``...); the address is
``audit.client_ip``'s (X-Forwarded-For only from ``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import ngettext

from liangyi.core import audit
from liangyi.core.models import Outcome

SCOPES = ("login", "reauth")


@dataclass(frozen=True)
class Refusal:
    retry_after: int  # seconds until the window ends

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        return ngettext(
            "Too many failed attempts from your network address. Wait %(minutes)d minute and try again; "
            "colleagues who share the address count too.",
            "Too many failed attempts from your network address. Wait %(minutes)d minutes and try again; "
            "colleagues who share the address count too.",
            minutes) % {"minutes": minutes}


def limits(scope: str) -> tuple[int, int]:
    """(attempts, window in seconds) of a scope."""
    if scope == "login":
        return settings.LOGIN_RATE_LIMIT, settings.LOGIN_RATE_WINDOW_SECONDS
    if scope == "reauth":
        return settings.REAUTH_RATE_LIMIT, settings.REAUTH_RATE_WINDOW_SECONDS
    raise ValueError(f"unknown rate-limit scope {scope!r}")


def now() -> float:
    return time.time()


def address(request: HttpRequest | None) -> str:
    """The client's address as counted: IPv4 as is, IPv6 by its /64."""
    ip = audit.client_ip(request) or "unknown"
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _key(scope: str, request: HttpRequest | None, at: float) -> tuple[str, int]:
    limit, window = limits(scope)
    number = int(at // window)
    return f"ratelimit:{scope}:{address(request)}:{number}", (number + 1) * window


def attempt(request: HttpRequest | None, scope: str) -> Refusal | None:
    """Count one attempt from the request's address; a Refusal when it is over the limit.

    Call before checking the credentials; call ``succeeded`` when they were right.
    """
    limit, window = limits(scope)
    if limit <= 0:
        return None
    at = now()
    key, ends = _key(scope, request, at)
    cache.add(key, 0, timeout=window + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 60)
        count = 1
    if count <= limit:
        return None
    if count == limit + 1:  # once per window and address: a flood must not flood the audit log too
        audit.record(None, "ratelimit.refused", None, request=request, outcome=Outcome.DENIED, scope=scope,
                     limit=limit, window_seconds=window)
    return Refusal(retry_after=max(1, math.ceil(ends - at)))


def succeeded(request: HttpRequest | None, scope: str) -> None:
    """Give back the attempt counted by ``attempt``: only failures use up the limit."""
    if limits(scope)[0] <= 0:
        return
    key, _ends = _key(scope, request, now())
    with contextlib.suppress(ValueError):  # the window turned meanwhile: nothing to give back
        cache.decr(key)
