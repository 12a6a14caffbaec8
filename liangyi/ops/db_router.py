"""Reads of reports and figures may go to a read replica; nothing else does.

A worker must read its own writes, so the router never picks the replica by itself: a selector
that can live with a replica's few seconds of lag asks for it explicitly::

    from liangyi.ops.db_router import replica
    rows = Person.objects.using(replica()).filter(...)

``replica()`` is the alias "replica" when DATABASE_REPLICA_URL is set, else "default".
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models import QuerySet

REPLICA = "replica"


def replica() -> str:
    """The alias reports read from: the replica when one is configured."""
    return REPLICA if REPLICA in connections.settings else "default"


def for_report[Q: QuerySet](queryset: Q) -> Q:
    """The same query, read from the replica when there is one."""
    return queryset.using(replica())


class ReplicaRouter:
    """Every write, every migration and every read not asked for elsewhere: the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return None  # the default, unless the query says .using(replica())

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica is a copy of the primary: the same rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db != REPLICA
