"""The obligations engine: generators plan, ``sync`` applies only the difference.

Each chain registers a generator under a source key in its ``apps.ready``::

    engine.register("supervision.drug_tests", schedules.drug_tests)

A generator takes (person, rule set, horizon) and returns the ``Planned`` obligations that should
exist, due on or before the horizon, each with a key that stays the same across re-runs.
``sync`` compares the plan with the table, per source: it creates what is missing, moves open
obligations whose plan changed, deletes open ones no longer planned, and never touches a
fulfilled or waived one. Obligations due after the horizon are out of view and left alone until
a later run's horizon reaches them, so horizons should only grow (the daily run uses today + a
fixed span).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import audit
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import Jurisdiction, User
from liangyi.core.rules import RuleSet
from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import Person
from liangyi.people.services import timeline_add

# How far ahead a sync plans when the caller names no horizon. A technical span, not a rule:
# it only bounds how many future rows exist at a time.
DEFAULT_HORIZON_DAYS = 400

# The field group a reader needs to see an obligation's timeline event (core/access_matrix.toml).
TIMELINE_GROUP = {Kind.DRUG_TEST: "drug_history"}


@dataclass(frozen=True)
class Planned:
    """One obligation a generator says should exist. ``office``: a Jurisdiction or its code;
    ``worker``: a User, its pk, or None."""

    kind: str
    key: str
    due_on: date
    window_start: date | None = None
    window_end: date | None = None
    office: Jurisdiction | str | None = None
    worker: User | int | None = None

    @property
    def office_id(self) -> str | None:
        return self.office.pk if isinstance(self.office, Jurisdiction) else self.office

    @property
    def worker_id(self) -> int | None:
        return self.worker.pk if isinstance(self.worker, User) else self.worker


@dataclass(frozen=True)
class SyncResult:
    created: int = 0
    rescheduled: int = 0
    removed: int = 0
    unchanged: int = 0

    def __add__(self, other: SyncResult) -> SyncResult:
        return SyncResult(self.created + other.created, self.rescheduled + other.rescheduled,
                          self.removed + other.removed, self.unchanged + other.unchanged)

    @property
    def changed(self) -> int:
        return self.created + self.rescheduled + self.removed


Generator = Callable[[Person, RuleSet, date], list[Planned]]
# The batched form of a generator: ``many(persons, ruleset, horizon, since=None)`` plans a chunk of
# persons with a handful of queries and returns {person pk: plan}; it must plan exactly what the
# generator plans for each person. With ``since`` it may leave out (and skip the work of) what falls
# due on or before ``since``: the engine keeps only what falls due after it anyway.
BatchGenerator = Callable[..., dict[Any, list[Planned]]]
# The persons whose plan may change only because the days from ``after`` to ``through`` passed (an
# override of the risk level that lapsed, say): no service call re-planned them.
CalendarMoves = Callable[[date, date], Iterable[Any]]
_generators: dict[str, Generator] = {}
_batched: dict[str, BatchGenerator] = {}
_calendar: dict[str, CalendarMoves] = {}

# The fields a plan decides; an open obligation whose values differ is rescheduled.
PLANNED_FIELDS = ("kind", "due_on", "window_start", "window_end", "office_id", "worker_id", "ruleset_version")


def register(source: str, fn: Generator, *, many: BatchGenerator | None = None,
             calendar: CalendarMoves | None = None) -> None:
    """Register the generator of ``source`` (idempotent for the same function), and optionally its
    batched form for ``sync_many`` (``many``, or the generator's own ``fn.many``; without one,
    ``sync_many`` calls ``fn`` person by person) and the persons whose plan the calendar alone
    can change (``calendar``, or ``fn.calendar_moves``; see ``calendar_moves``)."""
    many = many or getattr(fn, "many", None)
    calendar = calendar or getattr(fn, "calendar_moves", None)
    if (_generators.get(source, fn) is not fn or (many is not None and _batched.get(source, many) is not many)
            or (calendar is not None and _calendar.get(source, calendar) is not calendar)):
        raise ValueError(f"obligation source {source!r} is already registered")
    _generators[source] = fn
    if many is not None:
        _batched[source] = many
    if calendar is not None:
        _calendar[source] = calendar


def sources() -> list[str]:
    return sorted(_generators)


def _validate(source: str, plan: Iterable[Planned]) -> dict[str, Planned]:
    by_key: dict[str, Planned] = {}
    for item in plan:
        if item.kind not in Kind.values:
            raise ValueError(f"{source}: unknown obligation kind {item.kind!r}")
        if item.key in by_key:
            raise ValueError(f"{source}: key {item.key!r} planned twice")
        if not item.office_id:
            raise ValueError(f"{source}: {item.key!r} has no responsible office")
        if item.window_start and item.window_start > item.due_on:
            raise ValueError(f"{source}: {item.key!r} opens after it is due")
        by_key[item.key] = item
    return by_key


def _values(item: Planned, version: str) -> dict[str, Any]:
    return {"kind": item.kind, "due_on": item.due_on, "window_start": item.window_start,
            "window_end": item.window_end, "office_id": item.office_id, "worker_id": item.worker_id,
            "ruleset_version": version}


def _sync_source(person: Person, source: str, plan: dict[str, Planned], horizon: date, version: str) -> SyncResult:
    existing = {o.key: o for o in Obligation.objects.filter(person=person, source=source)}
    to_create, to_update, to_delete = [], [], []
    unchanged = 0
    for key, item in plan.items():
        current = existing.get(key)
        if current is None:
            to_create.append(Obligation(person=person, source=source, key=key, person_place=person.jurisdiction_id,
                                        **_values(item, version)))
        elif not current.is_open:
            continue  # fulfilled or waived: history, never moved
        else:
            values = _values(item, version)
            if all(getattr(current, f) == v for f, v in values.items()):
                unchanged += 1
            else:
                for field, value in values.items():
                    setattr(current, field, value)
                to_update.append(current)
    for key, current in existing.items():
        if key not in plan and current.is_open and current.due_on <= horizon:
            to_delete.append(current.pk)
    if to_create:
        Obligation.objects.bulk_create(to_create)
    if to_update:
        now = timezone.now()
        for obligation in to_update:
            obligation.updated_at = now
        Obligation.objects.bulk_update(to_update, [*PLANNED_FIELDS, "updated_at"])
    if to_delete:
        Obligation.objects.filter(pk__in=to_delete, done_at=None).delete()
    return SyncResult(len(to_create), len(to_update), len(to_delete), unchanged)


def _chosen(only: Iterable[str] | None) -> list[str]:
    chosen = sorted(only) if only is not None else sources()
    for source in chosen:
        if source not in _generators:
            raise ValueError(f"no obligation generator registered for {source!r}")
    return chosen


@transaction.atomic
def sync(
    person: Person, *, ruleset: RuleSet | None = None, horizon: date | None = None, actor: User | None = None,
    only: Iterable[str] | None = None,
) -> SyncResult:
    """Bring the person's open obligations in line with every generator's plan (or ``only`` some)."""
    ruleset = ruleset or core_rules.current()
    horizon = horizon or timezone.localdate() + timedelta(days=DEFAULT_HORIZON_DAYS)
    # One sync per person at a time (a no-op on SQLite, which serialises writers anyway).
    Person.objects.select_for_update().filter(pk=person.pk).values_list("pk", flat=True).first()
    result = SyncResult()
    per_source: dict[str, list[int]] = {}
    for source in _chosen(only):
        outcome = _sync_source(person, source, _validate(source, _generators[source](person, ruleset, horizon)),
                               horizon, ruleset.version)
        if outcome.changed:
            per_source[source] = [outcome.created, outcome.rescheduled, outcome.removed]
        result += outcome
    _audit_sync(actor, person, ruleset, horizon, result, per_source)
    return result


def _audit_sync(actor: User | None, person: Person, ruleset: RuleSet, horizon: date, result: SyncResult,
                per_source: dict[str, list[int]]) -> None:
    if result.changed:
        # A no-op re-run writes nothing, not even an audit entry.
        audit.record(actor, "obligations.synced", person, **_synced_detail(ruleset, horizon, per_source))


def _synced_detail(ruleset: RuleSet, horizon: date, per_source: dict[str, list[int]]) -> dict[str, Any]:
    """What an ``obligations.synced`` audit entry says, whether ``sync`` or ``sync_many`` wrote it."""
    return {"ruleset": ruleset.name, "ruleset_version": ruleset.version, "horizon": horizon, "changes": per_source}


# The fields of the open rows sync_many reads (tuples, not model instances: a night reads millions).
_OPEN_ROW = ("pk", "person_id", "source", "key", *PLANNED_FIELDS)
# Persons are read with only what the generators use; anything else loads on first access.
PERSON_FIELDS = ("pk", "status", "jurisdiction_id", "responsible_worker_id")
SYNC_CHUNK = 1000


def sync_many(
    persons: Iterable[Person], *, ruleset: RuleSet | None = None, horizon: date | None = None,
    actor: User | None = None, only: Iterable[str] | None = None, chunk_size: int = SYNC_CHUNK,
    since: date | None = None,
) -> SyncResult:
    """``sync`` for many persons, a chunk at a time: the same obligations and audit entries as one
    ``sync`` per person, with a few queries per chunk (generators' batched forms, one read of the
    chunk's obligations, bulk writes). Each chunk is its own transaction, so an interrupted run
    keeps what it finished and a re-run finds it done.

    ``since``: plan only the window after it, up to ``horizon`` (the nightly run's window mode,
    ``obligations.nightly``): what falls due after ``since`` is created, moved or removed exactly as
    a full run would; what falls due on or before it is assumed planned already (by the last run to
    ``since`` and by the services' own ``sync`` of every change since) and is not read at all.
    """
    ruleset = ruleset or core_rules.current()
    horizon = horizon or timezone.localdate() + timedelta(days=DEFAULT_HORIZON_DAYS)
    chosen = _chosen(only)
    window = _window_rows(chosen, horizon, since) if since is not None else None
    result = SyncResult()
    chunk: list[Person] = []
    for person in persons:
        chunk.append(person)
        if len(chunk) >= chunk_size:
            result += _sync_chunk(chunk, chosen, ruleset, horizon, actor, since, window)
            chunk = []
    if chunk:
        result += _sync_chunk(chunk, chosen, ruleset, horizon, actor, since, window)
    return result


def all_persons(chunk_size: int = SYNC_CHUNK, *, among: Iterable[Any] | None = None) -> Iterable[Person]:
    """Every person (or those of ``among``, a set of pks), by primary key in keyset pages, with only
    ``PERSON_FIELDS`` loaded."""
    wanted = sorted(set(among)) if among is not None else None
    last = None
    while True:
        page = Person.objects.only(*PERSON_FIELDS).order_by("pk")
        if wanted is not None:
            ids = wanted[:chunk_size]
            wanted = wanted[chunk_size:]
            rows = list(page.filter(pk__in=ids))
            yield from rows
            if not wanted:
                return
            continue
        if last is not None:
            page = page.filter(pk__gt=last)
        rows = list(page[:chunk_size])
        yield from rows
        if len(rows) < chunk_size:
            return
        last = rows[-1].pk


def calendar_moves(after: date, through: date, only: Iterable[str] | None = None) -> set[Any]:
    """The persons whose plan may differ between the days ``after`` and ``through`` with nothing
    recorded in between (each generator's ``calendar_moves``): the nightly window re-plans them whole."""
    moved: set[Any] = set()
    if through > after:
        for source in _chosen(only):
            if source in _calendar:
                moved.update(_calendar[source](after, through))
    return moved


def planner_fingerprint(ruleset: RuleSet, only: Iterable[str] | None = None) -> str:
    """What the stored plan depends on besides the data: the rule set's name and version, every rule
    file, and the code of the engine and of each generator. A nightly run only plans its window when
    this is what the last full run recorded; any change re-plans everything."""
    import hashlib
    import inspect
    import sys
    from pathlib import Path

    digest = hashlib.sha256(f"{ruleset.name}\0{ruleset.version}".encode())
    modules = {__name__, "liangyi.obligations.schedules", "liangyi.core.periods"}
    for source in _chosen(only):
        digest.update(source.encode())
        for fn in (_generators[source], _batched.get(source), _calendar.get(source)):
            if fn is not None:
                modules.add(fn.__module__)
    for name in sorted(modules):
        path = inspect.getsourcefile(sys.modules[name]) if name in sys.modules else None
        if path:
            digest.update(name.encode() + Path(path).read_bytes())
    for path in sorted(core_rules.RULES_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:32]


def _plans(source: str, persons: Sequence[Person], ruleset: RuleSet, horizon: date,
           since: date | None = None) -> dict[Any, dict[str, Planned]]:
    many = _batched.get(source)
    if many is None:
        planned = {p.pk: _generators[source](p, ruleset, horizon) for p in persons}
    elif since is None:
        planned = many(persons, ruleset, horizon)
    else:
        planned = many(persons, ruleset, horizon, since=since)
    if since is None:
        return {p.pk: _validate(source, planned.get(p.pk, ())) for p in persons}
    return {p.pk: _validate(source, (i for i in planned.get(p.pk, ()) if i.due_on > since)) for p in persons}


def _lock(ids: list[Any]) -> None:
    """The same per-person lock as sync, taken for many persons in one statement (in key order)."""
    if ids:
        list(Person.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def _window_rows(chosen: list[str], horizon: date, since: date) -> dict[Any, list[tuple]]:
    """The open obligations falling due in (since, horizon], by person: read once for a window run
    (a night's window holds a day's worth, which a due-date index finds directly)."""
    found: dict[Any, list[tuple]] = defaultdict(list)
    for row in Obligation.objects.filter(source__in=chosen, done_at=None, due_on__gt=since,
                                         due_on__lte=horizon).values_list(*_OPEN_ROW):
        found[row[1]].append(row)
    return found


def _rows(ids: list[Any], chosen: list[str], plans: dict[str, dict[Any, dict[str, Planned]]],
          window: dict[Any, list[tuple]] | None) -> tuple[dict[tuple, dict[str, tuple]], dict[tuple, set[str]]]:
    """The chunk's stored obligations the plans are compared with: ({(person, source): {key: open
    row}}, {(person, source): closed keys}). A full run reads them all (open ones as tuples, closed
    ones as keys only); a window run only the rows of the keys it planned, and its window's rows."""
    open_rows: dict[tuple, dict[str, tuple]] = defaultdict(dict)
    closed: dict[tuple, set[str]] = defaultdict(set)
    rows = Obligation.objects.filter(person_id__in=ids, source__in=chosen)
    if window is None:
        for row in rows.filter(done_at=None).values_list(*_OPEN_ROW):
            open_rows[row[1], row[2]][row[3]] = row
        for person_id, source, key in rows.exclude(done_at=None).values_list("person_id", "source", "key"):
            closed[person_id, source].add(key)
        return open_rows, closed
    for pk in ids:
        for row in window.get(pk, ()):
            open_rows[row[1], row[2]][row[3]] = row
    keys = {key for plan in plans.values() for items in plan.values() for key in items}
    holders = [pk for pk in ids if any(plans[source][pk] for source in chosen)]
    if keys:
        for row in rows.filter(person_id__in=holders, key__in=keys).values_list(*_OPEN_ROW, "done_at"):
            if row[-1] is None:
                open_rows[row[1], row[2]][row[3]] = row[:-1]
            else:
                closed[row[1], row[2]].add(row[3])
    return open_rows, closed


@transaction.atomic
def _sync_chunk(persons: list[Person], chosen: list[str], ruleset: RuleSet, horizon: date,
                actor: User | None, since: date | None = None,
                window: dict[Any, list[tuple]] | None = None) -> SyncResult:
    ids = [p.pk for p in persons]
    if window is None:
        _lock(ids)
    version = ruleset.version
    plans = {source: _plans(source, persons, ruleset, horizon, since) for source in chosen}
    if window is not None:
        # A window run touches few of the chunk's persons: only they are locked (locking a whole
        # province every night would write to every person's row).
        _lock([pk for pk in ids if pk in window or any(plans[source][pk] for source in chosen)])
    open_rows, closed = _rows(ids, chosen, plans, window)

    to_create: list[Obligation] = []
    to_update: list[Obligation] = []
    to_delete: list[int] = []
    counts: dict[Any, dict[str, list[int]]] = defaultdict(dict)
    unchanged = 0
    for person in persons:
        for source in chosen:
            plan = plans[source][person.pk]
            current = open_rows.get((person.pk, source), {})
            if not plan and not current:
                continue
            done = closed.get((person.pk, source), ())
            created = moved = removed = 0
            for key, item in plan.items():
                row = current.get(key)
                if row is None:
                    if key not in done:
                        to_create.append(Obligation(person_id=person.pk, source=source, key=key,
                                                    person_place=person.jurisdiction_id, **_values(item, version)))
                        created += 1
                    continue
                values = _values(item, version)
                if row[4:] == tuple(values[f] for f in PLANNED_FIELDS):
                    unchanged += 1
                else:
                    to_update.append(Obligation(pk=row[0], **values))
                    moved += 1
            for key, row in current.items():
                # row[5]: due_on. A window run removes only within its window.
                if key not in plan and row[5] <= horizon and (since is None or row[5] > since):
                    to_delete.append(row[0])
                    removed += 1
            if created or moved or removed:
                counts[person.pk][source] = [created, moved, removed]
    if to_create:
        Obligation.objects.bulk_create(to_create, batch_size=2000)
    if to_update:
        now = timezone.now()
        for obligation in to_update:
            obligation.updated_at = now
        Obligation.objects.bulk_update(to_update, [*PLANNED_FIELDS, "updated_at"], batch_size=1000)
    if to_delete:
        Obligation.objects.filter(pk__in=to_delete, done_at=None).delete()
    by_pk = {p.pk: p for p in persons}
    # The same entry per changed person as sync writes, appended in one go.
    audit.record_many(actor, "obligations.synced", [(by_pk[person_pk], _synced_detail(ruleset, horizon, per_source))
                                                    for person_pk, per_source in counts.items()])
    return SyncResult(len(to_create), len(to_update), len(to_delete), unchanged)


def _check_open(obligation: Obligation) -> None:
    if not obligation.is_open:
        raise DomainError(_("This obligation is already closed. Reload the page to see its current state."))


@transaction.atomic
def fulfil(obligation: Obligation, *, by: Any = None, on: date, actor: User | None) -> Obligation:
    """Record that ``by`` (the test, visit or report) met the obligation on ``on``."""
    obligation = Obligation.objects.select_for_update().select_related("person").get(pk=obligation.pk)
    _check_open(obligation)
    if on > timezone.localdate():
        raise DomainError(errors={"on": [_("The date lies in the future. Enter the day it was done.")]})
    obligation.done_at = timezone.now()
    obligation.done_on = on
    obligation.done_by = actor if actor and actor.pk else None
    obligation.fulfilled_by_type = by._meta.label_lower if by is not None else ""
    obligation.fulfilled_by_id = str(by.pk) if by is not None else ""
    obligation.save(update_fields=["done_at", "done_on", "done_by", "fulfilled_by_type", "fulfilled_by_id",
                                   "updated_at"])
    audit.record(actor, "obligation.fulfilled", obligation, person_id=obligation.person_id, kind=obligation.kind,
                 due_on=obligation.due_on, done_on=on,
                 by=f"{obligation.fulfilled_by_type}:{obligation.fulfilled_by_id}")
    timeline_add(person=obligation.person, kind="obligation.fulfilled", actor=actor, ref=obligation,
                 group=TIMELINE_GROUP.get(obligation.kind, ""),
                 summary=_("%(kind)s due %(due)s done on %(on)s") % {
                     "kind": obligation.get_kind_display(), "due": f"{obligation.due_on:%Y-%m-%d}",
                     "on": f"{on:%Y-%m-%d}"})
    return obligation


@transaction.atomic
def waive(obligation: Obligation, *, reason: str, actor: User) -> Obligation:
    """Close an obligation without fulfilling it; the reason is required and kept."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(errors={"reason": [_("Say why this obligation is waived.")]})
    obligation = Obligation.objects.select_for_update().select_related("person").get(pk=obligation.pk)
    _check_open(obligation)
    obligation.done_at = timezone.now()
    obligation.waived_reason = reason[:300]
    obligation.waived_by = actor if actor and actor.pk else None
    obligation.save(update_fields=["done_at", "waived_reason", "waived_by", "updated_at"])
    audit.record(actor, "obligation.waived", obligation, person_id=obligation.person_id, kind=obligation.kind,
                 due_on=obligation.due_on, reason=obligation.waived_reason)
    timeline_add(person=obligation.person, kind="obligation.waived", actor=actor, ref=obligation,
                 group=TIMELINE_GROUP.get(obligation.kind, ""),
                 summary=_("%(kind)s due %(due)s waived: %(reason)s") % {
                     "kind": obligation.get_kind_display(), "due": f"{obligation.due_on:%Y-%m-%d}",
                     "reason": obligation.waived_reason})
    return obligation


def matching(person: Person, kind: str, on: date) -> Obligation | None:
    """The open obligation a record of ``kind`` made on ``on`` meets: the one whose window holds
    ``on`` (the earliest due, if several), else the earliest overdue one."""
    open_ = Obligation.objects.filter(person=person, kind=kind, done_at=None)
    in_window = open_.filter(
        Q(window_start__lte=on) | Q(window_start=None, due_on__lte=on),
        Q(window_end__gte=on) | Q(window_end=None, due_on__gte=on),
    ).order_by("due_on", "id").first()
    return in_window or open_.filter(due_on__lt=on).order_by("due_on", "id").first()


@transaction.atomic
def fulfil_matching(person: Person, kind: str, on: date, by: Any, actor: User | None) -> Obligation | None:
    """Fulfil the obligation a new record meets; None when it meets none (a random test, say)."""
    obligation = matching(person, kind, on)
    if obligation is None:
        return None
    return fulfil(obligation, by=by, on=on, actor=actor)
