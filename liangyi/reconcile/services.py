"""Every write of the reconciliation: start a run, execute it, work its findings.

One transaction per business action, each audited; actions on a person also go on their
timeline. ``run_execute`` is the exception to "one transaction": its progress counter is
committed as it goes (so the browser can follow it), and its findings, counts and final state are
written together in one transaction at the end.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import access, audit, idnumber
from liangyi.core.errors import DomainError
from liangyi.core.models import Jurisdiction, User
from liangyi.people import services as people_services
from liangyi.people.models import Person

from . import matching
from . import report as engine
from .models import Finding, ReconcileRun, Resolution, RunState
from .reading import ReconcileFileError, open_export

log = logging.getLogger(__name__)

PROGRESS_EVERY = 500  # rows between two progress updates
# A queued or running run with no progress for this long was stopped (a killed worker); it is
# then marked failed and may be retried. Far above the time between two progress updates.
STALE_AFTER = timedelta(minutes=30)
FILE_MODE = 0o600
BULK = 1000

ACCEPTABLE = (matching.STATUS_MISMATCH, matching.JURISDICTION_MISMATCH, matching.NAME_MISMATCH)
KEEPABLE = (*ACCEPTABLE, matching.MATCHED_CORRECTED_ID, matching.MISSING_IN_POLICE, matching.DUPLICATE_IN_POLICE)
LINKABLE = (matching.MISSING_IN_REGISTRY, matching.INVALID_ROW)
FRESH = (matching.MATCHED, matching.MATCHED_CORRECTED_ID)
NOTHING_TO_DO = (matching.MATCHED,)

_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{14,17}[0-9Xx](?![0-9A-Za-z])")


def mask_text(text: str) -> str:
    """Mask every ID-number-like run of characters in a free text (a finding's detail)."""
    return _ID_LIKE.sub(lambda m: idnumber.mask(m.group(0)), text or "")


def upload_dir() -> Path:
    return Path(settings.VAR_DIR) / "reconcile"


def fingerprint(category: str, who: str, field: str, police_value: str) -> str:
    """Stable across runs of the same export: what the finding is about, not where it sits in the file."""
    text = "\x1f".join((category, who, field, " ".join((police_value or "").split())))
    return hashlib.sha256(text.encode()).hexdigest()


def _who(f: matching.Finding) -> str:
    if f.person_id:
        return "person:" + f.person_id
    number = f.id_number
    try:
        number = idnumber.parse(number).number
    except idnumber.IdNumberError:
        number = "".join((number or "").split()).upper()
    return "id:" + number


# --- starting and executing a run ----------------------------------------------------------------


def run_start(actor: User, uploaded_file: Any, scope: str = "") -> ReconcileRun:
    """Save the upload (mode 0o600 under VAR_DIR/reconcile) and queue its comparison."""
    access.require(None, actor, "run_reconcile")
    scope = (scope or "").strip() or actor.scope_code
    if scope and not Jurisdiction.objects.filter(code=scope).exists():
        raise DomainError(errors={"scope": [_("%(code)s is not a known jurisdiction code.") % {"code": scope}]})
    if not access.in_reach(actor, scope):
        raise DomainError(errors={"scope": [_("%(code)s is outside your jurisdiction.") % {"code": scope}]})
    folder = upload_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = os.path.basename(getattr(uploaded_file, "name", "") or "export")
    suffix = Path(name).suffix.lower()[:8]
    target = folder / f"{uuid.uuid4().hex}{suffix}"
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        if hasattr(uploaded_file, "chunks"):
            chunks = uploaded_file.chunks()
        else:
            chunks = iter(lambda: uploaded_file.read(65536), b"")
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
    os.chmod(target, FILE_MODE)
    with transaction.atomic():
        run = ReconcileRun.objects.create(uploaded_by=actor, file_name=name[:255], file_sha256=digest.hexdigest(),
                                          stored_path=str(target), scope=scope)
        audit.record(actor, "reconcile.uploaded", run, file=name, sha256=run.file_sha256, scope=scope)
        from .tasks import reconcile_run

        transaction.on_commit(lambda: reconcile_run.enqueue(run.pk))
    return run


def run_execute(run_id: int) -> ReconcileRun:
    """Compare the run's export with the registry and store the findings. Never raises for a bad file.

    The export is streamed once: findings are stored in batches of ``BULK`` as rows are compared
    (each batch with its carried-over work), the progress counter is committed every
    ``PROGRESS_EVERY`` rows. The run becomes ``done`` (counts, audit) only at the end; if the file
    turns out bad part-way, or anything fails, the batches already stored are deleted and the run
    is ``failed`` with the reason.
    """
    run = ReconcileRun.objects.select_related("uploaded_by").get(pk=run_id)
    if run.state not in (RunState.QUEUED, RunState.RUNNING):
        return run
    Finding.objects.filter(run=run).delete()  # a retried run starts clean
    ReconcileRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, rows_done=0, error="",
                                                  heartbeat_at=timezone.now())
    try:
        with open_export(run.stored_path, file_name=run.file_name, fields=matching.FIELDS) as reader:
            export = reader.export
            ReconcileRun.objects.filter(pk=run.pk).update(rows_total=_estimate_rows(run.stored_path, export))
            store = _Store(run)
            with matching.index_frozen(), matching.texts_remembered():
                comparison = matching.Comparison(matching.Index.from_db(), scope=run.scope)
                for row in reader:
                    place = row.get("jurisdiction").strip()
                    store.add([(f, place) for f in comparison.row(row)])
                    done = export.row_count
                    if done % PROGRESS_EVERY == 0:
                        ReconcileRun.objects.filter(pk=run.pk).update(
                            rows_done=done, heartbeat_at=timezone.now(),
                            rows_total=max(done, _estimate_rows(run.stored_path, export,
                                                                position=reader.position())))
                missing = comparison.missing_in_police()
            engine.fill_registry_numbers(missing)
            missing.sort(key=engine.sort_key)
            store.add([(f, "") for f in missing])
            store.flush()
            store.finish(rows=export.row_count, file_format=export.file_format)
    except ReconcileFileError as exc:
        _fail(run, exc.message)
    except Exception:  # noqa: BLE001 - a run must end in a state the officer can see
        log.exception("reconcile run %s failed", run.pk)
        _fail(run, _("The comparison stopped on an unexpected error. Try again; if it happens again, tell an "
                     "administrator (run %(id)s).") % {"id": run.pk})
    run.refresh_from_db()
    return run


def run_is_stale(run: ReconcileRun, now=None) -> bool:
    """Queued or running, with no sign of life for ``STALE_AFTER``: its process was stopped."""
    if run.state not in (RunState.QUEUED, RunState.RUNNING):
        return False
    last = run.heartbeat_at or run.uploaded_at
    return last is not None and last < (now or timezone.now()) - STALE_AFTER


def run_expire(*, run: ReconcileRun, now=None) -> bool:
    """Mark a stale run failed, saying so (idempotent; False when the run is not stale)."""
    if not run_is_stale(run, now):
        return False
    minutes = int(STALE_AFTER.total_seconds() // 60)
    with transaction.atomic():
        updated = ReconcileRun.objects.filter(pk=run.pk, state=run.state, heartbeat_at=run.heartbeat_at).update(
            state=RunState.FAILED, finished_at=timezone.now(),
            error=_("The comparison stopped without finishing: nothing was heard from it for %(minutes)d minutes "
                    "(the server was probably restarted). Start it again with “Retry”.") % {"minutes": minutes})
        if updated:
            Finding.objects.filter(run=run).delete()
            audit.record(run.uploaded_by, "reconcile.expired", run, username="reconcile", state=run.state)
    run.refresh_from_db()
    return bool(updated)


def run_retry(*, run: ReconcileRun, actor: User, request=None) -> ReconcileRun:
    """Queue a failed (or stale) run again, on the file it was uploaded with."""
    access.require(request, actor, "run_reconcile")
    run_expire(run=run)
    run.refresh_from_db()
    if run.state != RunState.FAILED:
        raise DomainError(_("Only a comparison that failed or stopped can be started again."))
    if not run.stored_path or not os.path.exists(run.stored_path):
        raise DomainError(_("The uploaded file is no longer on the server; upload the export again."))
    with transaction.atomic():
        Finding.objects.filter(run=run).delete()
        ReconcileRun.objects.filter(pk=run.pk).update(state=RunState.QUEUED, rows_done=0, rows_total=0, counts={},
                                                      error="", finished_at=None, heartbeat_at=timezone.now())
        audit.record(actor, "reconcile.retried", run, request=request, file=run.file_name)
        from .tasks import reconcile_run

        transaction.on_commit(lambda: reconcile_run.enqueue(run.pk))
    run.refresh_from_db()
    return run


def _estimate_rows(path: str, export, position: int | None = None) -> int:
    """Rows expected in all, for the progress bar: the rows so far scaled by the bytes read (CSV),
    or the sheet's row count as stored (XLSX); the exact count replaces it at the end."""
    if position and export.size and export.row_count:
        return int(export.row_count * export.size / position)
    if export.file_format == "csv" and export.size:
        with open(path, "rb") as fh:  # counting line ends is a raw byte scan, not a second parse
            return max(sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) - 1, 1)
    return 0


def _fail(run: ReconcileRun, message: str) -> None:
    with transaction.atomic():
        Finding.objects.filter(run=run).delete()
        ReconcileRun.objects.filter(pk=run.pk).update(state=RunState.FAILED, error=message, finished_at=timezone.now())
        audit.record(run.uploaded_by, "reconcile.failed", run, username="reconcile", error=message)


class _Store:
    """Findings stored in batches as the comparison goes, with work carried over from earlier runs."""

    def __init__(self, run: ReconcileRun):
        self.run = run
        self.now = timezone.now()
        self.pending: list[tuple[matching.Finding, str]] = []
        self.order = 0
        self.tally: dict[str, int] = dict.fromkeys(matching.CATEGORIES, 0)
        self.verified = 0
        self.carried = 0

    def add(self, found: list[tuple[matching.Finding, str]]) -> None:
        self.pending.extend(found)
        if len(self.pending) >= BULK:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        if not batch:
            return
        run = self.run
        person_ids = {f.person_id for f, _place in batch if f.person_id}
        places = {str(pk): code for pk, code in
                  Person.objects.filter(pk__in=person_ids).values_list("pk", "jurisdiction_id")} if person_ids else {}
        prints = [fingerprint(f.category, _who(f), f.field, f.police_value) for f, _place in batch]
        worked: dict[str, Finding] = {}
        earlier = (Finding.objects.filter(run__scope=run.scope, run__state=RunState.DONE, fingerprint__in=set(prints))
                   .exclude(run=run).exclude(resolution=Resolution.OPEN).order_by("resolved_at", "pk")
                   .only("fingerprint", "resolution", "resolved_by", "resolved_at", "reason", "person"))
        for old in earlier:
            worked[old.fingerprint] = old  # the latest wins
        objects = []
        for (f, police_place), fp in zip(batch, prints, strict=True):
            place = places.get(f.person_id, "") if f.person_id in places else police_place
            obj = Finding(run=run, category=f.category, police_row=f.police_row, person_id=f.person_id or None,
                          id_number=f.id_number, id_number_masked=idnumber.mask(f.id_number)[:40],
                          jurisdiction_code=place[:12], field=f.field, registry_value=f.registry_value,
                          police_value=f.police_value, detail=f.detail, order=self.order, fingerprint=fp)
            self.order += 1
            self.tally[f.category] += 1
            old = worked.get(fp)
            if old is not None:
                obj.resolution, obj.resolved_by_id = old.resolution, old.resolved_by_id
                obj.resolved_at, obj.reason, obj.carried_over = old.resolved_at, old.reason, True
                self.carried += 1
                if old.resolution == Resolution.LINKED and old.person_id and not obj.person_id:
                    obj.person_id = old.person_id
            objects.append(obj)
        with transaction.atomic():
            Finding.objects.bulk_create(objects, batch_size=BULK)
        fresh = sorted({f.person_id for f, _place in batch if f.category in FRESH and f.person_id})
        if fresh:
            Person.objects.filter(pk__in=fresh).update(verified_at=self.now)
            self.verified += len(fresh)

    @transaction.atomic
    def finish(self, *, rows: int, file_format: str) -> None:
        run = self.run
        ReconcileRun.objects.filter(pk=run.pk).update(state=RunState.DONE, counts=self.tally, rows_done=rows,
                                                      rows_total=rows, finished_at=timezone.now(), error="")
        audit.record(run.uploaded_by, "reconcile.run", run, username="reconcile", counts=self.tally,
                     file=run.file_name, rows=rows, scope=run.scope, format=file_format, verified=self.verified,
                     carried_over=self.carried)


# --- working a finding ---------------------------------------------------------------------------


def _open(finding: Finding, allowed: Iterable[str], what: str) -> None:
    if finding.resolution != Resolution.OPEN:
        raise DomainError(_("This finding has already been worked (%(how)s).")
                          % {"how": finding.get_resolution_display()})
    if finding.category not in allowed:
        raise DomainError(_("A finding of this kind cannot be %(what)s.") % {"what": what})


def _person_in_reach(actor: User, person: Person | None) -> Person:
    if person is None:
        raise DomainError(_("This finding names no registered person."))
    if not access.visible(actor, Person).filter(pk=person.pk).exists():
        raise DomainError(_("This person is outside your jurisdiction."))
    return person


def _resolve(finding: Finding, actor: User, resolution: str, reason: str = "") -> None:
    finding.resolution = resolution
    finding.resolved_by = actor
    finding.resolved_at = timezone.now()
    finding.reason = reason
    finding.save(update_fields=["resolution", "resolved_by", "resolved_at", "reason", "person"])


def _locked(finding: Finding) -> Finding:
    return Finding.objects.select_for_update(of=("self",)).select_related("run", "person").get(pk=finding.pk)


def _mark_verified(person: Person, when) -> None:
    Person.objects.filter(pk=person.pk).update(verified_at=when)
    person.verified_at = when


@transaction.atomic
def finding_accept_police(finding: Finding, actor: User, request=None) -> Finding:
    """Take the police value into the registry (status, place of control or name)."""
    access.require(request, actor, "work_findings")
    finding = _locked(finding)
    _open(finding, ACCEPTABLE, _("accepted"))
    person = _person_in_reach(actor, finding.person)
    value = finding.police_value.strip()
    if finding.category == matching.STATUS_MISMATCH:
        status = matching.police_status(value)
        if status is None:
            raise DomainError(_("The police status %(s)s has no registry status; keep ours or dismiss it.")
                              % {"s": value})
        data = {"status": status}
    elif finding.category == matching.JURISDICTION_MISMATCH:
        data = {"residence_jurisdiction": value}
    else:
        data = {"name": value}
    try:
        people_services.person_update(actor=actor, person=person, data=data, request=request, via="reconcile")
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    now = timezone.now()
    _mark_verified(person, now)
    _resolve(finding, actor, Resolution.ACCEPTED_POLICE)
    audit.record(actor, "reconcile.accepted_police", finding, request=request, person_id=person.pk,
                 run=finding.run_id, category=finding.category, field=finding.field)
    people_services.timeline_add(person=person, kind="reconcile.accepted_police", actor=actor, ref=finding,
                                 summary=_("Police comparison: %(who)s took the police %(field)s into the registry")
                                 % {"who": actor.display_name, "field": finding.field})
    return finding


@transaction.atomic
def finding_keep_ours(finding: Finding, actor: User, note: str = "", request=None) -> Finding:
    """The registry is right: keep it and mark the police record for correction."""
    access.require(request, actor, "work_findings")
    finding = _locked(finding)
    _open(finding, KEEPABLE, _("kept"))
    person = _person_in_reach(actor, finding.person)
    _mark_verified(person, timezone.now())
    _resolve(finding, actor, Resolution.KEPT_OURS, (note or "").strip())
    audit.record(actor, "reconcile.kept_ours", finding, request=request, person_id=person.pk, run=finding.run_id,
                 category=finding.category, field=finding.field)
    people_services.timeline_add(person=person, kind="reconcile.kept_ours", actor=actor, ref=finding,
                                 summary=_("Police comparison: %(who)s kept the registry's %(field)s; the police "
                                           "record is to be corrected") % {"who": actor.display_name,
                                                                          "field": finding.field or finding.category})
    return finding


@transaction.atomic
def finding_link(finding: Finding, actor: User, person: Person, request=None) -> Finding:
    """The export's row is this registered person (chosen by the officer)."""
    access.require(request, actor, "work_findings")
    finding = _locked(finding)
    _open(finding, LINKABLE, _("linked"))
    person = _person_in_reach(actor, person)
    finding.person = person
    _resolve(finding, actor, Resolution.LINKED)
    audit.record(actor, "reconcile.linked", finding, request=request, person_id=person.pk, run=finding.run_id,
                 category=finding.category, police_row=finding.police_row)
    people_services.timeline_add(person=person, kind="reconcile.linked", actor=actor, ref=finding,
                                 summary=_("Police comparison: %(who)s linked row %(row)s of the police export to "
                                           "this person") % {"who": actor.display_name, "row": finding.police_row})
    return finding


@transaction.atomic
def finding_dismiss(finding: Finding, actor: User, reason: str, request=None) -> Finding:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(errors={"reason": [_("Say why the finding is dismissed.")]})
    access.require(request, actor, "work_findings")
    finding = _locked(finding)
    _open(finding, [c for c in matching.CATEGORIES if c not in NOTHING_TO_DO], _("dismissed"))
    person = finding.person
    if person is not None and not access.visible(actor, Person).filter(pk=person.pk).exists():
        person = None
    _resolve(finding, actor, Resolution.DISMISSED, reason)
    audit.record(actor, "reconcile.dismissed", finding, request=request, person_id=person.pk if person else None,
                 run=finding.run_id, category=finding.category, reason=reason)
    if person is not None:
        people_services.timeline_add(person=person, kind="reconcile.dismissed", actor=actor, ref=finding,
                                     summary=_("Police comparison: %(who)s dismissed a finding (%(category)s): "
                                               "%(reason)s") % {"who": actor.display_name,
                                                                "category": finding.category, "reason": reason})
    return finding
