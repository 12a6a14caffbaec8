"""Writing and verifying the append-only, hash-chained audit log.

Every service records its entry in its own transaction; views record reads of a person's file,
reveals and exports; the login views record logins, failures and lockouts; the access helper
records denials.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from liangyi.core.models import AuditEntry, AuditHead, Outcome, User

GENESIS = "0" * 64


def _content(entry: AuditEntry) -> str:
    return json.dumps(
        [
            entry.at.isoformat(),
            entry.actor_id,
            entry.actor_username,
            entry.actor_role,
            entry.action,
            entry.object_type,
            entry.object_id,
            str(entry.person_id) if entry.person_id else None,
            entry.ip,
            entry.outcome,
            entry.detail,
        ],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )


def compute_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + _content(entry)).encode()).hexdigest()


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address: X-Forwarded-For is believed only from a proxy in TRUSTED_PROXIES."""
    if request is None:
        return None
    import ipaddress

    from django.conf import settings

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXIES)

    remote = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not (remote and forwarded and trusted(remote)):
        return remote
    # The right-most address not added by one of our proxies is the one a trusted hop saw.
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    while hops and trusted(hops[-1]) and len(hops) > 1:
        hops.pop()
    try:
        return str(ipaddress.ip_address(hops[-1])) if hops else remote
    except ValueError:
        return remote


def record(
    actor: User | None,
    action: str,
    obj: Any = None,
    *,
    request: HttpRequest | None = None,
    outcome: str = Outcome.OK,
    person_id: Any = None,
    username: str = "",
    **detail: Any,
) -> AuditEntry:
    """Append one entry. Runs inside the caller's transaction (or its own)."""
    actor = _actor(actor)
    with transaction.atomic():
        head = _locked_head()
        entry = _entry(actor, action, obj, at=timezone.now(), prev_hash=head.last_hash, ip=client_ip(request),
                       outcome=outcome, person_id=person_id, username=username, detail=detail)
        entry.save(force_insert=True)
        AuditHead.objects.filter(pk=1).update(last_hash=entry.entry_hash, count=head.count + 1)
    return entry


def _actor(actor: User | None) -> User | None:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _locked_head() -> AuditHead:
    """The chain's head row, locked: appends are serialised on it."""
    head = AuditHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        AuditHead.objects.create(pk=1, last_hash=GENESIS, count=0)
        head = AuditHead.objects.select_for_update().get(pk=1)
    return head


def _entry(actor: User | None, action: str, obj: Any, *, at: Any, prev_hash: str, ip: str | None, outcome: str,
           person_id: Any, username: str, detail: dict[str, Any]) -> AuditEntry:
    """A new entry chained to ``prev_hash`` (not saved)."""
    if obj is not None and person_id is None and obj.__class__.__name__ == "Person":
        person_id = obj.pk
    entry = AuditEntry(
        at=at,
        actor=actor,
        actor_username=actor.username if actor else username,
        actor_role=actor.role if actor else "",
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        person_id=person_id,
        ip=ip,
        outcome=outcome,
        detail=json.loads(json.dumps(detail, default=str, ensure_ascii=False)),
        prev_hash=prev_hash,
    )
    entry.entry_hash = compute_hash(prev_hash, entry)
    return entry


def record_many(actor: User | None, action: str, items: Sequence[tuple[Any, dict[str, Any]]]) -> int:
    """Append one entry per (object, detail) in ``items``, in order, under one lock of the chain's
    head: what ``record`` does for each, in three statements instead of four per entry (a nightly
    job audits thousands of persons). Returns how many were written."""
    if not items:
        return 0
    actor = _actor(actor)
    with transaction.atomic():
        head = _locked_head()
        now, last, entries = timezone.now(), head.last_hash, []
        for obj, detail in items:
            entry = _entry(actor, action, obj, at=now, prev_hash=last, ip=None, outcome=Outcome.OK, person_id=None,
                           username="", detail=detail)
            last = entry.entry_hash
            entries.append(entry)
        AuditEntry.objects.bulk_create(entries, batch_size=500)  # ids in list order: the chain's order
        AuditHead.objects.filter(pk=1).update(last_hash=last, count=head.count + len(entries))
    return len(entries)


def viewed(request: HttpRequest, obj: Any, *, section: str = "") -> AuditEntry:
    """A read of a person's file (or of one of its sections)."""
    return record(request.user, "person.viewed", obj, request=request, **({"section": section} if section else {}))


def verify() -> tuple[bool, AuditEntry | None, int]:
    """Walk the chain in order. Returns (intact, first broken entry, entries checked)."""
    prev = GENESIS
    checked = 0
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=2000):
        if entry.prev_hash != prev or compute_hash(prev, entry) != entry.entry_hash:
            return False, entry, checked
        prev = entry.entry_hash
        checked += 1
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and (head.last_hash != prev or head.count != checked):
        # The newest entries were removed: the head still remembers them.
        return False, None, checked
    return True, None, checked
