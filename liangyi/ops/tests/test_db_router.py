"""Reports may read from the replica, when there is one; everything else reads the primary."""

from __future__ import annotations

import os
import subprocess
import sys

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connections

from liangyi import settings as settings_module
from liangyi.ops import db_router
from liangyi.ops.db_router import ReplicaRouter


def test_without_a_replica_reports_read_the_primary():
    assert db_router.replica() == "default"
    assert db_router.for_report(Group.objects.all()).db == "default"


def test_the_router_never_picks_the_replica_by_itself():
    router = ReplicaRouter()
    assert router.db_for_read(Group) is None
    assert router.db_for_write(Group) == "default"
    assert router.allow_migrate("replica", "people") is False
    assert router.allow_migrate("default", "people") is True


def test_with_a_replica_reports_read_there_and_ordinary_reads_stay_on_the_primary(monkeypatch):
    monkeypatch.setitem(connections.settings, "replica", {**connections.settings["default"]})
    assert db_router.replica() == "replica"
    assert db_router.for_report(ContentType.objects.all()).db == "replica"
    assert Group.objects.all().db == "default"
    assert Group(name="x")._state.db is None and ReplicaRouter().db_for_write(Group) == "default"


# A real read through the replica's own connection: both aliases on one SQLite file, as the
# settings make them from DATABASE_URL and DATABASE_REPLICA_URL (in a child: the test database
# guard forbids connections to an alias the test did not declare).
_SCRIPT = """
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db import connections
from liangyi.ops.db_router import for_report
ContentType.objects.create(app_label="bench", model="row")
print(sorted(connections.settings), for_report(ContentType.objects.filter(app_label="bench")).count(),
      [c.alias for c in connections.all(initialized_only=True)])
"""


def test_a_configured_replica_is_read_through_its_own_connection(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_REPLICA_URL": url, "LIANGYI_VAR_DIR": str(tmp_path)}
    manage = [sys.executable, str(settings_module.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "contenttypes", "-v", "0"], env=env, check=True)  # noqa: S603
    out = subprocess.run([*manage, "shell", "-c", _SCRIPT], env=env, check=True, capture_output=True,  # noqa: S603
                         text=True).stdout.strip()
    assert out.splitlines()[-1] == "['default', 'replica'] 1 ['default', 'replica']"
