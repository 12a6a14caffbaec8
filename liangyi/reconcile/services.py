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
from collections.abc import Iterable, Iterator
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
from .reading import PoliceRow, ReconcileFileError, read_export

log = logging.getLogger(__name__)

PROGRESS_EVERY = 500  # rows between two progress updates
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


def _counting(run_id: int, rows: list[PoliceRow]) -> Iterator[PoliceRow]:
    total = len(rows)
    for done, row in enumerate(rows, start=1):
        yield row
        if done % PROGRESS_EVERY == 0 and done < total:
            ReconcileRun.objects.filter(pk=run_id).update(rows_done=done)
    ReconcileRun.objects.filter(pk=run_id).update(rows_done=total)


def run_execute(run_id: int) -> ReconcileRun:
    """Compare the run's export with the registry and store the findings. Never raises for a bad file."""
    run = ReconcileRun.objects.select_related("uploaded_by").get(pk=run_id)
    if run.state not in (RunState.QUEUED, RunState.RUNNING):
        return run
    ReconcileRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, rows_done=0)
    try:
        export = read_export(run.stored_path, file_name=run.file_name)
        ReconcileRun.objects.filter(pk=run.pk).update(rows_total=len(export.rows))
        index = matching.Index.from_db()
        found = matching.compare(index, _counting(run.pk, export.rows), scope=run.scope)
        engine.fill_registry_numbers(found)
        found.sort(key=engine.sort_key)
        police_places = {r.row: r.get("jurisdiction").strip() for r in export.rows}
        _store(run, found, police_places, rows=len(export.rows), file_format=export.file_format)
    except ReconcileFileError as exc:
        _fail(run, exc.message)
    except Exception:  # noqa: BLE001 - a run must end in a state the officer can see
        log.exception("reconcile run %s failed", run.pk)
        _fail(run, _("The comparison stopped on an unexpected error. Try again; if it happens again, tell an "
                     "administrator (run %(id)s).") % {"id": run.pk})
    run.refresh_from_db()
    return run


def _fail(run: ReconcileRun, message: str) -> None:
    with transaction.atomic():
        ReconcileRun.objects.filter(pk=run.pk).update(state=RunState.FAILED, error=message, finished_at=timezone.now())
        audit.record(run.uploaded_by, "reconcile.failed", run, username="reconcile", error=message)


def _place_of(f: matching.Finding, places: dict[str, str], police_codes: dict[int, str]) -> str:
    if f.person_id and f.person_id in places:
        return places[f.person_id]
    return police_codes.get(f.police_row or 0, "")


@transaction.atomic
def _store(run: ReconcileRun, found: list[matching.Finding], export_places: dict[int, str], *, rows: int,
           file_format: str) -> None:
    now = timezone.now()
    person_ids = {f.person_id for f in found if f.person_id}
    places = {str(pk): code for pk, code in
              Person.objects.filter(pk__in=person_ids).values_list("pk", "jurisdiction_id")} if person_ids else {}
    # Work already done on the same findings of an earlier run of the same scope carries over.
    prints = [fingerprint(f.category, _who(f), f.field, f.police_value) for f in found]
    worked: dict[str, Finding] = {}
    earlier = (Finding.objects.filter(run__scope=run.scope, run__state=RunState.DONE, fingerprint__in=set(prints))
               .exclude(run=run).exclude(resolution=Resolution.OPEN).order_by("resolved_at", "pk")
               .only("fingerprint", "resolution", "resolved_by", "resolved_at", "reason", "person"))
    for old in earlier.iterator(BULK):
        worked[old.fingerprint] = old  # the latest wins
    objects = []
    for order, (f, fp) in enumerate(zip(found, prints, strict=True)):
        obj = Finding(run=run, category=f.category, police_row=f.police_row, person_id=f.person_id or None,
                      id_number=f.id_number, id_number_masked=idnumber.mask(f.id_number)[:40],
                      jurisdiction_code=_place_of(f, places, export_places)[:12], field=f.field,
                      registry_value=f.registry_value, police_value=f.police_value, detail=f.detail, order=order,
                      fingerprint=fp)
        old = worked.get(fp)
        if old is not None:
            obj.resolution, obj.resolved_by_id, obj.resolved_at = old.resolution, old.resolved_by_id, old.resolved_at
            obj.reason, obj.carried_over = old.reason, True
            if old.resolution == Resolution.LINKED and old.person_id and not obj.person_id:
                obj.person_id = old.person_id
        objects.append(obj)
    Finding.objects.bulk_create(objects, batch_size=BULK)
    fresh = sorted({f.person_id for f in found if f.category in FRESH and f.person_id})
    for start in range(0, len(fresh), BULK):
        Person.objects.filter(pk__in=fresh[start:start + BULK]).update(verified_at=now)
    counts = engine.counts(found)
    ReconcileRun.objects.filter(pk=run.pk).update(state=RunState.DONE, counts=counts, rows_done=rows,
                                                  rows_total=rows, finished_at=now, error="")
    audit.record(run.uploaded_by, "reconcile.run", run, username="reconcile", counts=counts, file=run.file_name,
                 rows=rows, scope=run.scope, format=file_format, verified=len(fresh),
                 carried_over=sum(1 for o in objects if o.carried_over))


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
