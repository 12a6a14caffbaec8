"""Reading a police dynamic-control export (INTERFACES.md, "Police dynamic-control export").

The file is a CSV (GB18030, or UTF-8 with or without BOM) or an XLSX workbook (its first sheet).
Sniffing, decoding and the whole-file check are the person importer's (``people.importer``):
the file is decoded and parsed through once before any row is handed out, so a bad byte at row
90 000 refuses the whole file and nothing is written.

Row numbers: ``police_row`` is the 1-based data row of the export, the header not counted. Blank
lines (or empty spreadsheet rows) after the header are skipped but *counted*, so that
``police_row + 1`` is always the row number a spreadsheet program shows for that row (header in
row 1); blank lines above the header are ignored, as the importer does.

Column names are configurable per deployment: ``settings.RECONCILE_COLUMNS`` maps a field name
(the keys of ``DEFAULT_COLUMNS``) to the header the deployment's export uses; fields left out keep
their default header.

A file that cannot be read raises ``ReconcileFileError`` whose ``message`` says what to fix: an
empty file, a file with only a header (comparing it would report every registered person as
missing), a wrong encoding, a damaged workbook, a missing or repeated required column.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

from liangyi.people import importer

# field -> default header of the export
DEFAULT_COLUMNS = {
    "seq": "序号",
    "name": "姓名",
    "gender": "性别",
    "id_number": "公民身份号码",
    "birth_date": "出生日期",
    "household_address": "户籍地址",
    "residence_address": "现住址",
    "unit": "管辖单位",
    "jurisdiction": "管辖地代码",
    "status": "管控状态",
    "updated_at": "更新时间",
}
REQUIRED = ("name", "id_number", "status")


class ReconcileFileError(Exception):
    """The export cannot be read; nothing was compared or written. ``message`` says what to fix."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class PoliceRow:
    row: int  # 1-based data row, header not counted, blank lines counted
    values: dict[str, Any]  # field -> cell: text (stripped), or a float for an Excel number in 公民身份号码

    def get(self, name: str) -> str:
        value = self.values.get(name, "")
        return value if isinstance(value, str) else str(value)


@dataclass
class Export:
    file_name: str
    file_format: str  # "csv" | "xlsx"
    encoding: str  # "utf-8-sig" | "utf-8" | "gb18030" | "" (XLSX)
    headers: dict[str, str]  # field -> header as the file spells it
    ignored_columns: list[str] = field(default_factory=list)
    rows: list[PoliceRow] = field(default_factory=list)


def columns() -> dict[str, str]:
    """field -> header, the defaults overridden by ``settings.RECONCILE_COLUMNS``."""
    configured = getattr(settings, "RECONCILE_COLUMNS", None) or {}
    unknown = sorted(set(configured) - set(DEFAULT_COLUMNS))
    if unknown:
        raise ReconcileFileError(
            _("settings.RECONCILE_COLUMNS names unknown field(s) %(fields)s; the fields are %(known)s.")
            % {"fields": ", ".join(unknown), "known": ", ".join(DEFAULT_COLUMNS)})
    return {**DEFAULT_COLUMNS, **{k: str(v) for k, v in configured.items()}}


def _header_text(value: Any) -> str:
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", str(value).replace("\ufeff", "")).strip()


def _cell(name: str, value: Any) -> Any:
    """A cell as text; an Excel float in the ID column stays a float (idnumber.normalise expands it)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if name == "birth_date" else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if name == "id_number":
            return value
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, int):
        return str(value)
    return str(value).strip()


def _blank(cells: list[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _map_header(cells: list[Any], wanted: dict[str, str]) -> tuple[dict[str, int], dict[str, str], list[str]]:
    by_header = {_header_text(h): name for name, h in wanted.items()}
    index: dict[str, int] = {}
    headers: dict[str, str] = {}
    ignored: list[str] = []
    for i, cell in enumerate(cells):
        text = _header_text(cell)
        if not text:
            continue
        name = by_header.get(text)
        if name is None:
            ignored.append(text)
        elif name in index:
            raise ReconcileFileError(_("The column %(column)s appears twice in the header row. Keep one of them.")
                                     % {"column": text})
        else:
            index[name] = i
            headers[name] = text
    missing = [wanted[name] for name in REQUIRED if name not in index]
    if missing:
        raise ReconcileFileError(
            _("The header row lacks the required column(s) %(columns)s. The first row of the export must name its "
              "columns (the defaults are %(defaults)s; a deployment can rename them in settings.RECONCILE_COLUMNS).")
            % {"columns": ", ".join(missing), "defaults": ", ".join(wanted.values())})
    return index, headers, ignored


def read_export(source: str | os.PathLike[str] | IO[bytes], *, file_name: str = "") -> Export:
    """Read and check the whole export; returns its rows. Raises ReconcileFileError."""
    path = Path(source) if isinstance(source, str | os.PathLike) else None
    if path is not None:
        file_name = file_name or path.name
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise ReconcileFileError(_("Cannot open %(path)s: %(error)s.") % {"path": path, "error": exc.strerror}) \
                from None
        with fh:
            return _read(fh, file_name)
    return _read(source, file_name or getattr(source, "name", "") or "")  # type: ignore[arg-type]


def _read(fh: IO[bytes], file_name: str) -> Export:
    head = fh.read(8)
    fh.seek(0)
    if not head:
        raise ReconcileFileError(_("The file is empty (0 bytes). Export the dynamic-control list again from the "
                                   "police system: a header row, then one row per person."))
    wanted = columns()
    try:
        table = importer._Table(fh)  # sniffs CSV / XLSX and checks the whole file; raises ImportFileError
        export: Export | None = None
        index: dict[str, int] = {}
        data_row = 0
        for _number, cells in table.rows():
            if export is None:
                if _blank(cells):
                    continue  # blank lines above the header
                index, headers, ignored = _map_header(cells, wanted)
                export = Export(file_name=file_name, file_format=table.format, encoding=table.encoding,
                                headers=headers, ignored_columns=ignored)
                continue
            data_row += 1
            if _blank(cells):
                continue  # counted, not reported
            values = {name: _cell(name, cells[i] if i < len(cells) else None) for name, i in index.items()}
            export.rows.append(PoliceRow(row=data_row, values=values))
    except importer.ImportFileError as exc:
        raise ReconcileFileError(exc.message) from None
    if export is None:
        raise ReconcileFileError(_("The file contains only blank lines: it is empty. Export the dynamic-control "
                                   "list again from the police system."))
    if not export.rows:
        raise ReconcileFileError(_("The file has a header row but no data rows. Comparing it would report every "
                                   "registered person as missing from the police list; export the list again with "
                                   "its rows."))
    return export
