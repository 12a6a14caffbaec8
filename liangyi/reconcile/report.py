"""The reconciliation run and its report (INTERFACES.md, "Reconciliation report").

``run`` checks the export's header (a file that cannot be read raises ``ReconcileFileError``),
builds the registry index once, then streams: each row is read, compared and its findings written
to the report before the next row is read, so memory holds the index, not the export or the
report. The report is CSV in UTF-8 with BOM, readable by its owner only (mode 0o600), written to a
temporary file beside the target and renamed into place only at the end, so a file found bad at
row 90 000 (or a failed run) never leaves half a report, nor an audit entry.

The order is fixed, so the same export against the same registry gives a byte-identical file:
rows of the export in ``police_row`` order (within a row, in the order of ``CATEGORIES``), then
``missing_in_police`` by ID number.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import IO

from django.utils.translation import gettext as _

from liangyi.core import audit
from liangyi.people.models import Person

from . import matching
from .matching import CATEGORIES, Finding
from .reading import Export, open_export

HEADER = ("category", "police_row", "id_number", "person_id", "field", "registry_value", "police_value", "detail")
FILE_MODE = 0o600
_ORDER = {c: i for i, c in enumerate(CATEGORIES)}


@dataclass
class Result:
    export: Export
    findings: list[Finding]  # empty unless run(..., keep_findings=True)
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


_UNQUOTED = re.compile(r"[0-9A-Za-z-]*")  # characters the csv module never quotes (ID numbers, UUIDs)

# a finding as a report row, in C (the csv module writes None, a police_row of missing_in_police, as "")
_row = attrgetter("category", "police_row", "id_number", "person_id", "field", "registry_value", "police_value",
                  "detail")


def render(findings: list[Finding]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(_row(f) for f in sorted(findings, key=sort_key))
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def write_report(findings: list[Finding], out: str | os.PathLike[str]) -> Path:
    """Write atomically, mode 0o600 (the report holds full ID numbers)."""
    with _ReportFile(out) as report:
        report.write(sorted(findings, key=sort_key))
    return Path(out)


class _ReportFile:
    """The report written as it goes to a temporary file beside the target, renamed into place on
    success (mode 0o600), deleted on any error."""

    def __init__(self, out: str | os.PathLike[str] | None):
        self.target = Path(out) if out is not None else None
        self._tmp = ""
        self._fh: IO[str] | None = None

    def __enter__(self) -> _ReportFile:
        if self.target is not None:
            fd, self._tmp = tempfile.mkstemp(prefix=".reconcile-", suffix=".csv", dir=self.target.parent or ".")
            os.fchmod(fd, FILE_MODE)
            # UTF-8 with the BOM written by hand: the "utf-8-sig" codec encodes through Python code on
            # every write (a tenth of a run's time), plain "utf-8" in C.
            self._fh = open(fd, "w", encoding="utf-8", newline="", buffering=1 << 20)  # noqa: SIM115
            self._fh.write("\ufeff")
            self._writer = csv.writer(self._fh, lineterminator="\r\n")
            self._writer.writerow(HEADER)
        return self

    def write(self, findings: list[Finding]) -> None:
        if self._fh is None:
            return
        if len(findings) == 1:
            f = findings[0]
            if (f.category == matching.MATCHED and type(f.police_row) is int
                    and not (f.field or f.registry_value or f.police_value or f.detail)
                    and _UNQUOTED.fullmatch(f.id_number) and _UNQUOTED.fullmatch(f.person_id)):
                # Most rows: nothing the csv module would quote, so the line is written as it would
                # write it, in a third of the time.
                self._fh.write(f"{f.category},{f.police_row},{f.id_number},{f.person_id},,,,\r\n")
                return
        self._writer.writerows(map(_row, findings))

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._fh is None:
            return
        try:
            self._fh.close()
            if exc_type is None:
                os.replace(self._tmp, self.target)  # type: ignore[arg-type]
                os.chmod(self.target, FILE_MODE)  # type: ignore[arg-type]
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)


def run(source: str | os.PathLike[str] | IO[bytes], *, out: str | os.PathLike[str] | None = None,
        scope: str = "", progress: Callable[[str], None] | None = None, keep_findings: bool = True) -> Result:
    """Read, compare, write the report (if ``out``), audit. Raises ReconcileFileError, writing nothing.

    ``keep_findings=False`` (the command) keeps no finding in memory: they go to the report only.
    """
    say = progress or (lambda _message: None)
    kept: list[Finding] = []
    tally: Counter[str] = Counter()
    with (open_export(source, fields=matching.FIELDS) as reader, _ReportFile(out) as report,
          matching.index_frozen(), matching.texts_remembered()):
        export = reader.export
        index = matching.Index.from_db()
        say(_("registry index: %(n)d persons") % {"n": len(index)})
        comparison = matching.Comparison(index, scope=scope)
        for row in reader:
            found = comparison.row(row)
            if len(found) == 1:  # nearly every row: one finding, its number known
                f = found[0]
                if not f.registry_number_known:
                    fill_registry_numbers(found)
                tally[f.category] += 1
            else:
                if not all(f.registry_number_known for f in found):
                    fill_registry_numbers(found)
                tally.update(f.category for f in found)
            report.write(found)
            if keep_findings:
                kept.extend(found)
        missing = comparison.missing_in_police()
        say(_("read %(n)d data rows (%(format)s %(encoding)s)") % {
            "n": export.row_count, "format": export.file_format, "encoding": export.encoding})
        fill_registry_numbers(missing)
        missing.sort(key=sort_key)
        for f in missing:
            tally[f.category] += 1
        report.write(missing)
        if keep_findings:
            kept.extend(missing)
    result = Result(export=export, findings=kept, counts={c: tally.get(c, 0) for c in CATEGORIES},
                    registry_size=len(index))
    if out is not None:
        say(_("report written: %(out)s") % {"out": out})
    audit.record(None, "reconcile.run", username="reconcile", counts=result.counts, file=export.file_name,
                 rows=export.row_count, scope=scope)
    return result
