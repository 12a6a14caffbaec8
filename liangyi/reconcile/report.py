"""The reconciliation run and its report (INTERFACES.md, "Reconciliation report").

``run`` reads the whole export first (a file that cannot be read raises ``ReconcileFileError``
before anything is written), builds the registry index once, compares, and writes the report:
CSV in UTF-8 with BOM, readable by its owner only (mode 0o600), written to a temporary file
beside the target and renamed into place, so a failed run never leaves half a report.

The order is fixed, so the same export against the same registry gives a byte-identical file:
rows of the export in ``police_row`` order (within a row, in the order of ``CATEGORIES``), then
``missing_in_police`` by ID number.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.utils.translation import gettext as _

from liangyi.core import audit
from liangyi.people.models import Person

from . import matching
from .matching import CATEGORIES, Finding
from .reading import Export, read_export

HEADER = ("category", "police_row", "id_number", "person_id", "field", "registry_value", "police_value", "detail")
FILE_MODE = 0o600
_ORDER = {c: i for i, c in enumerate(CATEGORIES)}


@dataclass
class Result:
    export: Export
    findings: list[Finding]
    counts: dict[str, int]
    registry_size: int


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per category, every category present (zeros included), in ``CATEGORIES`` order."""
    found = Counter(f.category for f in findings)
    return {category: found.get(category, 0) for category in CATEGORIES}


def sort_key(f: Finding) -> tuple:
    if f.police_row is None:
        return (1, 0, f.id_number, f.person_id, _ORDER[f.category], f.field)
    return (0, f.police_row, "", "", _ORDER[f.category], f.field)


def fill_registry_numbers(findings: list[Finding], chunk: int = 2000) -> None:
    """Decrypt the numbers the matcher could not hold, only for the persons in the report."""
    wanted = sorted({f.person_id for f in findings if not f.registry_number_known and f.person_id})
    numbers: dict[str, str] = {}
    for start in range(0, len(wanted), chunk):
        for pk, number in Person.objects.filter(pk__in=wanted[start:start + chunk]).values_list("pk", "id_number"):
            numbers[str(pk)] = number
    for f in findings:
        if not f.registry_number_known and f.person_id in numbers:
            f.id_number = numbers[f.person_id]
            f.registry_number_known = True


def render(findings: list[Finding]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for f in sorted(findings, key=sort_key):
        writer.writerow((f.category, "" if f.police_row is None else f.police_row, f.id_number, f.person_id,
                         f.field, f.registry_value, f.police_value, f.detail))
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def write_report(findings: list[Finding], out: str | os.PathLike[str]) -> Path:
    """Write atomically, mode 0o600 (the report holds full ID numbers)."""
    target = Path(out)
    data = render(findings)
    fd, tmp = tempfile.mkstemp(prefix=".reconcile-", suffix=".csv", dir=target.parent or ".")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.chmod(target, FILE_MODE)
    return target


def run(source: str | os.PathLike[str] | IO[bytes], *, out: str | os.PathLike[str] | None = None,
        scope: str = "", progress: Callable[[str], None] | None = None) -> Result:
    """Read, compare, write the report (if ``out``), audit. Raises ReconcileFileError, writing nothing."""
    say = progress or (lambda _message: None)
    export = read_export(source)
    say(_("read %(n)d data rows (%(format)s %(encoding)s)") % {
        "n": len(export.rows), "format": export.file_format, "encoding": export.encoding})
    index = matching.Index.from_db()
    say(_("registry index: %(n)d persons") % {"n": len(index)})
    findings = matching.compare(index, export.rows, scope=scope)
    fill_registry_numbers(findings)
    result = Result(export=export, findings=sorted(findings, key=sort_key), counts=counts(findings),
                    registry_size=len(index))
    if out is not None:
        write_report(result.findings, out)
        say(_("report written: %(out)s") % {"out": out})
    audit.record(None, "reconcile.run", username="reconcile", counts=result.counts, file=export.file_name,
                 rows=len(export.rows), scope=scope)
    return result
