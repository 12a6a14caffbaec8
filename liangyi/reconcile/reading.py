"""Reading a police dynamic-control export (INTERFACES.md, "Police dynamic-control export").

The file is a CSV (GB18030, or UTF-8 with or without BOM) or an XLSX workbook (its first sheet).
It is read once, as a stream (``open_export``): the header is checked first, then rows are handed
out one at a time and never held together. The encoding is decided from the first megabyte (the
header is Chinese, so UTF-8 and GB18030 tell themselves apart there); a bad byte or a broken
quote further on raises ``ReconcileFileError`` part-way through, and the callers (``report.run``,
``services.run_execute``) then throw away what they had written, so a bad byte at row 90 000
still refuses the whole file and leaves nothing behind. ``read_export`` reads a whole (small)
export into memory, for tests and tools.

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

import codecs
import contextlib
import csv
import io
import itertools
import os
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

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


@dataclass(slots=True)
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
    rows: list[PoliceRow] = field(default_factory=list)  # only filled by ``read_export``
    row_count: int = 0  # data rows handed out so far (blank ones not counted)
    size: int = 0  # bytes of the file, for progress


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
    """Read and check the whole export into memory (small files: tests, tools). Raises ReconcileFileError."""
    with open_export(source, file_name=file_name) as reader:
        reader.export.rows = list(reader)
        return reader.export


def open_export(source: str | os.PathLike[str] | IO[bytes], *, file_name: str = "",
                fields: Collection[str] | None = None) -> ExportReader:
    """A reader over the export, for ``with``: the header is checked on entry, rows come by iterating.

    ``fields`` limits each row's ``values`` to those fields and the required ones (the comparison
    reads six of the eleven columns: the others need not be copied out of every row); the header
    is checked and reported in full either way.

    Raises ReconcileFileError on entry (no header, missing column, ...) or while iterating (a bad byte,
    a broken quote, no data rows at all: raised after the last row).
    """
    return ExportReader(source, file_name=file_name, fields=fields)


SNIFF_BYTES = 1 << 20
BLOCK_BYTES = 1 << 18  # decoded at a time: the reader runs ahead of the rows handed out by at most this
_NOT_BINARY = _("The file contains binary data, so it is not a CSV or Excel file. Export the list again from the "
                "police system as CSV or .xlsx.")


def _text(fh: IO[bytes], encoding: str) -> Iterator[io.StringIO]:
    """The file decoded a block at a time, each block's whole lines in a ``StringIO`` (the csv
    reader then takes them one by one in C, with the same line endings as a text file opened with
    ``newline=""``). A line cut by the end of a block goes with the next. Raises on a NUL byte (in
    GB18030 and UTF-8 that byte is only ever the NUL character) or a byte that cannot be decoded,
    in the block that holds it."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    carry = ""
    while block := fh.read(BLOCK_BYTES):
        if b"\x00" in block:
            raise ReconcileFileError(_NOT_BINARY)
        text = carry + decoder.decode(block)
        # up to the last line feed; a file with carriage returns only: the last one that cannot be
        # the first half of a CR LF cut in two
        cut = text.rfind("\n") + 1 or text.rfind("\r", 0, len(text) - 1) + 1
        carry = text[cut:]
        yield io.StringIO(text[:cut], newline="")
    yield io.StringIO(carry + decoder.decode(b"", final=True), newline="")


class ExportReader:
    def __init__(self, source: str | os.PathLike[str] | IO[bytes], *, file_name: str = "",
                 fields: Collection[str] | None = None):
        self._source = source
        self._file_name = file_name
        self._fields = None if fields is None else frozenset(fields)
        self._fh: IO[bytes] | None = None
        self._own = False
        self._rows: Iterator[list[Any]] | None = None  # the csv reader itself, or the sheet's rows
        self._close: list[Any] = []
        self.export: Export  # set on entry

    # -- opening --------------------------------------------------------------------------------

    def __enter__(self) -> ExportReader:
        source = self._source
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            self._file_name = self._file_name or path.name
            try:
                self._fh = path.open("rb")
            except OSError as exc:
                raise ReconcileFileError(_("Cannot open %(path)s: %(error)s.") % {"path": path,
                                                                                   "error": exc.strerror}) from None
            self._own = True
        else:
            self._fh = source
            self._file_name = self._file_name or getattr(source, "name", "") or ""
        try:
            self._open()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for closing in reversed(self._close):
            with contextlib.suppress(Exception):  # closing a reader must not hide the real error
                closing()
        self._close.clear()
        if self._own and self._fh is not None:
            self._fh.close()

    def _open(self) -> None:
        fh = self._fh
        assert fh is not None
        head = fh.read(SNIFF_BYTES)
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(0)
        if not head:
            raise ReconcileFileError(_("The file is empty (0 bytes). Export the dynamic-control list again from the "
                                       "police system: a header row, then one row per person."))
        if head.startswith(b"PK\x03\x04"):
            file_format, encoding = "xlsx", ""
            rows = self._xlsx_rows(fh)
        elif head.startswith(b"\xd0\xcf\x11\xe0"):
            raise ReconcileFileError(_("This is an old Excel file (.xls). Save it as an Excel workbook (.xlsx) or as "
                                       "“CSV UTF-8” and compare that."))
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise ReconcileFileError(_("This file is UTF-16 text. Save it from the spreadsheet program as “CSV UTF-8” "
                                       "or as an Excel workbook (.xlsx)."))
        else:
            file_format, encoding = "csv", self._sniff(head, size)
            rows = self._csv_rows(fh, encoding, head)
        self._encoding = encoding
        wanted = columns()
        with self._decoding_errors():
            for cells in rows:
                if _blank(cells):
                    continue  # blank lines above the header
                self._index, headers, ignored = _map_header(cells, wanted)
                break
            else:
                raise ReconcileFileError(_("The file contains only blank lines: it is empty. Export the "
                                           "dynamic-control list again from the police system."))
        self._rows = rows
        self.export = Export(file_name=self._file_name, file_format=file_format, encoding=encoding,
                             headers=headers, ignored_columns=ignored, size=size)

    @staticmethod
    def _sniff(head: bytes, size: int) -> str:
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        whole = size <= len(head)
        for encoding in ("utf-8", "gb18030"):
            try:
                codecs.getincrementaldecoder(encoding)().decode(head, final=whole)
            except UnicodeDecodeError:
                continue
            return encoding
        raise ReconcileFileError(_("The file is neither UTF-8 nor GB18030 text, so it is not a CSV file this "
                                   "comparison can read. Save it from the spreadsheet program as “CSV UTF-8” or as "
                                   "an Excel workbook (.xlsx)."))

    def _csv_rows(self, fh: IO[bytes], encoding: str, head: bytes) -> Iterator[list[str]]:
        """The csv module's reader over the lines of ``_text``: every row is read in C. Its errors
        come out as they are; ``_decoding_errors`` turns them into ``ReconcileFileError``."""
        first = head[:64 * 1024].decode(encoding, errors="ignore").split("\n", 1)[0]
        delimiter = "\t" if "\t" in first and "," not in first else (";" if ";" in first and "," not in first else ",")
        return csv.reader(itertools.chain.from_iterable(_text(fh, encoding)), delimiter=delimiter)

    @contextlib.contextmanager
    def _decoding_errors(self) -> Iterator[None]:
        encoding = self._encoding
        try:
            yield
        except UnicodeDecodeError as exc:
            raise ReconcileFileError(
                (_("The file is not valid UTF-8 text further on. Save it again from the spreadsheet program as "
                   "“CSV UTF-8”.") if encoding.startswith("utf-8") else
                 _("The file is neither UTF-8 nor GB18030 text, so it is not a CSV file this comparison can read. "
                   "Save it from the spreadsheet program as “CSV UTF-8” or as an Excel workbook (.xlsx).")) + " "
                + _("(bytes that cannot be decoded: %(bytes)s)") % {"bytes": exc.object[exc.start:exc.end][:8].hex()}
            ) from None
        except csv.Error as exc:
            raise ReconcileFileError(_("The file is not a well-formed CSV file (%(error)s). Save it again from the "
                                       "spreadsheet program as “CSV UTF-8”.") % {"error": exc}) from None

    def _xlsx_rows(self, fh: IO[bytes]) -> Iterator[list[Any]]:
        from openpyxl import load_workbook

        damaged = _("The file looks like an Excel workbook but cannot be read. Open it in the spreadsheet program, "
                    "save it as .xlsx again and compare that.")
        try:
            book = load_workbook(fh, read_only=True, data_only=True)
        except Exception:
            # openpyxl raises zipfile, XML and key errors alike for a damaged or foreign file.
            raise ReconcileFileError(damaged) from None
        self._close.append(book.close)
        try:
            sheet = book.worksheets[0]
        except IndexError:
            raise ReconcileFileError(damaged) from None
        sheet.reset_dimensions()  # type: ignore[union-attr]  # the stored dimension is often wrong
        rows = sheet.iter_rows(values_only=True)  # read-only mode yields an empty row for every missing one
        while True:
            try:
                cells = next(rows)
            except StopIteration:
                return
            except Exception:
                raise ReconcileFileError(damaged) from None
            yield list(cells)

    # -- rows -----------------------------------------------------------------------------------

    def position(self) -> int:
        """Bytes of the file read so far (for progress; the reader reads ahead by a chunk)."""
        try:
            return self._fh.tell() if self._fh is not None else 0
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[PoliceRow]:
        assert self._rows is not None, "use open_export(...) in a with statement"
        export = self.export
        wanted = {name: i for name, i in self._index.items()
                  if self._fields is None or name in self._fields or name in REQUIRED}
        names = tuple(wanted)
        positions = tuple(wanted.values())
        width = max(positions) + 1
        pick = itemgetter(*positions) if len(positions) > 1 else (lambda cells: (cells[positions[0]],))
        csv_format = export.file_format == "csv"
        data_row = 0
        with self._decoding_errors():
            for cells in self._rows:
                data_row += 1
                if csv_format:
                    if not "".join(cells).strip():  # (any cell not blank, in one C call)
                        continue  # a blank line: counted, not reported
                    if len(cells) >= width:  # (pick gives one value per name: zip need not check)
                        values = dict(zip(names, map(str.strip, pick(cells)), strict=False))
                    else:
                        n = len(cells)
                        values = {name: cells[i].strip() if i < n else ""
                                  for name, i in zip(names, positions, strict=True)}
                else:
                    if _blank(cells):
                        continue
                    n = len(cells)
                    values = {name: _cell(name, cells[i] if i < n else None)
                              for name, i in zip(names, positions, strict=True)}
                export.row_count += 1
                yield PoliceRow(data_row, values)
        if not export.row_count:
            raise ReconcileFileError(_("The file has a header row but no data rows. Comparing it would report every "
                                       "registered person as missing from the police list; export the list again "
                                       "with its rows."))
