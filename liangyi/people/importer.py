"""Bulk import of persons from the spreadsheet template (INTERFACES.md, "Person import template").

Used by ``manage.py import_persons`` and the import page. A file is a CSV (UTF-8 with or without
BOM, or GB18030) or an XLSX workbook (its first sheet); it is read as a stream of rows, never
loaded whole. Each row is validated with ``services.clean`` and written with ``person_create``
(new ID number) or ``person_update`` (known ID number), in its own savepoint inside a transaction
of a few hundred rows: a bad row is reported and never blocks the good ones, and a file of
100 000 rows is read and written in bounded memory (docs/scale.md).

What a row means for a person already registered: the required columns are always applied;
an optional cell left blank keeps what is stored (offices leave unknown cells empty, and an
import must not erase what a worker typed), except the residence code, whose blank means "the
same as the household registration" (INTERFACES.md). A row whose values equal the stored ones
writes nothing and counts as ``unchanged``, so importing the same file twice is harmless.

A file that cannot be read (wrong encoding, not text, a missing required column, empty) is
refused with ``ImportFileError`` before anything is written.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import FieldDoesNotExist
from django.db import DataError, IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from openpyxl.utils.datetime import from_excel

from liangyi.core import access, audit, idnumber
from liangyi.core.errors import DomainError
from liangyi.core.models import Jurisdiction, Outcome, User
from liangyi.people import services
from liangyi.people.models import ImportRun, Person

# The template's columns: Chinese header -> field (INTERFACES.md). The English field names are
# accepted as headers too.
COLUMNS = {
    "姓名": "name",
    "公民身份号码": "id_number",
    "性别": "gender",
    "出生日期": "birth_date",
    "民族": "ethnicity",
    "户籍地代码": "household_jurisdiction",
    "户籍地址": "household_address",
    "现住地代码": "residence_jurisdiction",
    "现住址": "residence_address",
    "联系电话": "phone",
    "人员状态": "status",
}
HEADERS = {name: header for header, name in COLUMNS.items()}  # field -> Chinese header
FIELDS = tuple(COLUMNS.values())
REQUIRED = ("name", "id_number", "household_jurisdiction", "status")
_ALIASES = {**COLUMNS, **{name: name for name in FIELDS}}

MAX_REJECTIONS_KEPT = 10_000  # a file of nothing but bad rows must not fill the memory
PROGRESS_EVERY = 200
_CHUNK = 1 << 20
_UTF8_BOM = codecs.BOM_UTF8
_SCIENTIFIC = re.compile(r"^\s*\d(?:\.\d+)?\s*[eE]\s*\+?\s*\d+\s*$")


class ImportFileError(Exception):
    """The file cannot be read as the template; nothing was written. ``message`` says what to do."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass
class RejectedRow:
    row: int  # as a spreadsheet numbers it: the header is row 1
    name: str
    id_masked: str  # "" when the ID number could not be read
    errors: dict[str, list[str]]  # field ("" = the whole row) -> messages
    reasons: list[str]  # the same, each prefixed by its column as the file names it


@dataclass
class ImportResult:
    file_name: str
    file_format: str  # "csv" | "xlsx"
    encoding: str  # "utf-8-sig", "utf-8", "gb18030"; "" for XLSX
    dry_run: bool
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rows: int = 0  # data rows read (blank rows not counted)
    rejections: list[RejectedRow] = field(default_factory=list)
    rejected: int = 0  # may exceed len(rejections) when the list was capped
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def encoding_label(self) -> str:
        return {"utf-8-sig": "UTF-8 (BOM)", "utf-8": "UTF-8", "gb18030": "GB18030"}.get(self.encoding, "")

    @property
    def rejections_cut(self) -> int:
        return self.rejected - len(self.rejections)


class _Rollback(Exception):
    """Raised inside a row's transaction to undo it (dry run)."""


# --- reading ---------------------------------------------------------------------------------


class _Table:
    """The rows of a CSV or XLSX file, as (row number, cells); the file is sniffed, not trusted by name."""

    def __init__(self, fh: IO[bytes]):
        self.fh = fh
        head = fh.read(8)
        fh.seek(0)
        if not head:
            raise ImportFileError(_("The file is empty. Fill in the template: a header row, then one row per "
                                    "person."))
        self.delimiter = ","
        self.lines = 0  # rows in the file, header and blank ones included (counted by the check)
        if head.startswith(b"PK\x03\x04"):
            self.format, self.encoding = "xlsx", ""
            self._check_xlsx()
        elif head.startswith(b"\xd0\xcf\x11\xe0"):
            raise ImportFileError(_("This is an old Excel file (.xls). Save it as an Excel workbook (.xlsx) or as "
                                    "“CSV UTF-8” and upload that."))
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise ImportFileError(_("This file is UTF-16 text. Save it from the spreadsheet program as “CSV UTF-8” "
                                    "or as an Excel workbook (.xlsx)."))
        else:
            self.format = "csv"
            self.encoding, self.delimiter = self._sniff_csv()

    # CSV: the whole file is decoded and parsed once before anything is written, so a file with a
    # bad byte or a broken quote at row 90 000 is refused whole rather than imported by halves.
    def _sniff_csv(self) -> tuple[str, str]:
        bom = self.fh.read(3) == _UTF8_BOM
        self.fh.seek(0)
        failures = []
        for encoding in ("utf-8-sig",) if bom else ("utf-8", "gb18030"):
            try:
                delimiter = self._check_csv(encoding)
            except UnicodeDecodeError as exc:
                failures.append(exc)
                continue
            finally:
                self.fh.seek(0)
            return encoding, delimiter
        if bom:
            raise ImportFileError(_("The file starts like UTF-8 text but is not valid UTF-8 (byte %(at)d). Save it "
                                    "again from the spreadsheet program as “CSV UTF-8”.")
                                  % {"at": failures[0].start})
        raise ImportFileError(_("The file is neither UTF-8 nor GB18030 text, so it is not a CSV file this import "
                                "can read. Save it from the spreadsheet program as “CSV UTF-8” or as an Excel "
                                "workbook (.xlsx)."))

    def _text(self, encoding: str) -> io.TextIOWrapper:
        return io.TextIOWrapper(self.fh, encoding=encoding, errors="strict", newline="")  # type: ignore[arg-type]

    def _check_csv(self, encoding: str) -> str:
        text = self._text(encoding)
        try:
            first = text.readline(64 * 1024)
            delimiter = "\t" if "\t" in first and "," not in first else (
                ";" if ";" in first and "," not in first else ",")
            text.seek(0)
            self.lines = 0
            for _row in csv.reader(_text_lines(text), delimiter=delimiter):
                self.lines += 1
        except csv.Error as exc:
            raise ImportFileError(_("The file is not a well-formed CSV file (%(error)s). Save it again from the "
                                    "spreadsheet program as “CSV UTF-8”.") % {"error": exc}) from None
        finally:
            text.detach()
        return delimiter

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        if self.format == "xlsx":
            yield from self._xlsx_rows()
            return
        text = self._text(self.encoding)
        try:
            yield from enumerate(csv.reader(text, delimiter=self.delimiter), start=1)
        finally:
            text.detach()

    # XLSX: read through once too, for the same reason (a damaged sheet fails here, not half-way).
    def _check_xlsx(self) -> None:
        try:
            for number, _row in self._xlsx_rows():
                self.lines = number
        finally:
            self.fh.seek(0)

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        from openpyxl import load_workbook

        damaged = _("The file looks like an Excel workbook but cannot be read. Open it in the spreadsheet program, "
                    "save it as .xlsx again and upload that.")
        try:
            book = load_workbook(self.fh, read_only=True, data_only=True)
        except Exception:
            # openpyxl raises zipfile, XML and key errors alike for a damaged or foreign file.
            raise ImportFileError(damaged) from None
        try:
            sheet = book.worksheets[0]
            # The stored dimension is often wrong in files written by other programs; read every cell.
            sheet.reset_dimensions()  # type: ignore[union-attr]
            rows = sheet.iter_rows(values_only=True)
            # read-only mode yields an empty row for every missing one, so the count is the row number
            number = 0
            while True:
                try:
                    cells = next(rows)
                except StopIteration:
                    break
                except Exception:
                    raise ImportFileError(damaged) from None
                number += 1
                yield number, list(cells)
        except IndexError:
            raise ImportFileError(damaged) from None
        finally:
            book.close()


def _text_lines(text: io.TextIOWrapper) -> Iterator[str]:
    for line in text:
        if "\x00" in line:
            raise ImportFileError(_("The file contains binary data, so it is not a CSV or Excel file. Upload the "
                                    "template filled in, saved as “CSV UTF-8” or .xlsx."))
        yield line


# --- cells -----------------------------------------------------------------------------------


def _cell(name: str, value: Any) -> Any:
    """A cell as the services expect it: text, or a date; numbers from Excel written out in full."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date() if name == "birth_date" else value.date().isoformat()
    if isinstance(value, date):
        return value if name == "birth_date" else value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        if name == "birth_date" and 0 < value < 100_000:  # an Excel date serial in a cell not formatted as a date
            converted = from_excel(value)
            return converted.date() if isinstance(converted, datetime) else str(value)
        if name == "id_number" and isinstance(value, float):
            return value  # idnumber.normalise expands it (and the check then fails: Excel lost digits)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return str(value).strip()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- the import ------------------------------------------------------------------------------


@dataclass
class _Context:
    actor: User
    dry_run: bool
    columns: dict[str, int]  # field -> cell index
    headers: dict[str, str]  # field -> the header as the file spells it
    places: dict[str, Jurisdiction | None] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)  # ID number -> first row with it
    # The batch's registered persons, looked up in one query: keyed hash -> person (None: not registered)
    registered: dict[str, Person | None] = field(default_factory=dict)


def _map_header(number: int, cells: list[Any]) -> tuple[dict[str, int], dict[str, str], list[str]]:
    columns: dict[str, int] = {}
    headers: dict[str, str] = {}
    ignored: list[str] = []
    for index, cell in enumerate(cells):
        text = str(cell).replace("\ufeff", "").strip() if cell is not None else ""
        if not text:
            continue
        name = _ALIASES.get(text) or _ALIASES.get(text.lower())
        if name is None:
            ignored.append(text)
        elif name in columns:
            raise ImportFileError(_("The column %(column)s appears twice in the header row (row %(row)d). Keep "
                                    "one of them.") % {"column": HEADERS[name], "row": number})
        else:
            columns[name] = index
            headers[name] = text
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise ImportFileError(
            _("The header row (row %(row)d) lacks the required column(s) %(columns)s. The first row must name the "
              "columns as the template does; download the template to compare.")
            % {"row": number, "columns": ", ".join(f"{HEADERS[m]} ({m})" for m in missing)})
    return columns, headers, ignored


def _label(name: str, headers: dict[str, str]) -> str:
    if not name:
        return ""
    if name in headers or name in HEADERS:
        return headers.get(name) or HEADERS[name]
    try:
        return str(Person._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


def _reasons(errors: dict[str, list[str]], headers: dict[str, str]) -> list[str]:
    return [f"{label}: {message}" if (label := _label(name, headers)) else message
            for name, messages in errors.items() for message in messages]


def _too_long(data: dict[str, Any]) -> dict[str, list[str]]:
    """Lengths the database enforces (``services.clean`` does not check them)."""
    errors = {}
    for name in ("name", "ethnicity"):
        limit = Person._meta.get_field(name).max_length
        if isinstance(data.get(name), str) and len(" ".join(data[name].split())) > limit:
            errors[name] = [_("This is too long: at most %(n)d characters.") % {"n": limit}]
    return errors


def _place(ctx: _Context, raw: Any) -> Any:
    """A code resolved once per import; an unknown code stays text, so ``clean`` names it."""
    code = str(raw).strip()
    if code not in ctx.places:
        ctx.places[code] = Jurisdiction.objects.filter(code=code).first()
    return ctx.places[code] or code


def _row_data(ctx: _Context, cells: list[Any]) -> dict[str, Any] | None:
    """The row as service input: required fields always, optional ones only when filled in."""
    data: dict[str, Any] = {}
    filled = False
    for name, index in ctx.columns.items():
        value = _cell(name, cells[index] if index < len(cells) else None)
        filled = filled or not _blank(value)
        if name in REQUIRED or name == "residence_jurisdiction" or not _blank(value):
            data[name] = value
    if not filled:
        return None
    for name in ("household_jurisdiction", "residence_jurisdiction"):
        if name in data and not _blank(data[name]):
            data[name] = _place(ctx, data[name])
    return data


def _code(value: Any) -> str:
    return value.code if isinstance(value, Jurisdiction) else str(value or "").strip()


def _import_row(ctx: _Context, number: int, data: dict[str, Any], result: ImportResult) -> None:
    errors: dict[str, list[str]] = {}
    parsed: idnumber.IdNumber | None = None
    raw_id = data.get("id_number")
    if not _blank(raw_id):
        try:
            parsed = idnumber.parse(raw_id)
        except idnumber.IdNumberError:
            if isinstance(raw_id, float) or _SCIENTIFIC.match(str(raw_id)):
                errors["id_number"] = [_("The spreadsheet turned this ID number into a floating-point number and "
                                         "lost its last digits: format the column as text and type the number "
                                         "again.")]
    if parsed is not None:
        earlier = ctx.seen.setdefault(parsed.number, number)
        if earlier != number:
            errors["id_number"] = [_("The same ID number is already in row %(row)d of this file; a person may "
                                     "appear only once. Merge the two rows.") % {"row": earlier}]
    try:
        # Validates every column at once, as for a new person, so a row's reasons come all together.
        services.clean(data)
    except DomainError as exc:
        for name, messages in exc.errors.items():
            errors.setdefault(name, [])[:0] = [str(m) for m in messages]
    for name, messages in _too_long(data).items():
        errors.setdefault(name, []).extend(messages)
    existing = None
    if not errors:
        assert parsed is not None
        key = services.id_hash(parsed.number)
        existing = ctx.registered[key] if key in ctx.registered else _registered([key]).get(key)
        if existing is not None and not access.in_reach(ctx.actor, existing.jurisdiction_id):
            # A row must not move a file the importer cannot see into their own jurisdiction.
            errors["id_number"] = [_("A person with this ID number is registered outside your jurisdiction. Ask "
                                     "an administrator, or that jurisdiction, to transfer the file.")]
        elif existing is not None and not access.has_action(ctx.actor, "edit"):
            errors["id_number"] = [_("This person is already registered and your role may not change "
                                     "registered persons.")]
    if not errors:
        try:
            outcome = _write(ctx, data, existing)
        except DomainError as exc:
            errors = {name: [str(m) for m in messages] for name, messages in exc.errors.items()}
        except IntegrityError:
            errors = {"id_number": [_("Someone registered this ID number at the same moment. Import the file "
                                      "again: the row will then update that record.")]}
        except DataError:
            errors = {"": [_("The database refused this row (a value is too long or malformed). Check the row's "
                             "cells against the template.")]}
        else:
            setattr(result, outcome, getattr(result, outcome) + 1)
            return
    result.rejected += 1
    if len(result.rejections) < MAX_REJECTIONS_KEPT:
        result.rejections.append(RejectedRow(
            row=number, name=str(data.get("name") or "").strip(), id_masked=parsed.masked if parsed else "",
            errors=errors, reasons=_reasons(errors, ctx.headers),
        ))


def _write(ctx: _Context, data: dict[str, Any], existing: Person | None) -> str:
    """Create or update in the row's own transaction; returns which count the row adds to."""
    if existing is None:
        outcome = "created"
    elif "residence_jurisdiction" in data and _blank(data["residence_jurisdiction"]) and (
            existing.residence_jurisdiction_id in (None, _code(data["household_jurisdiction"]))):
        # blank means "as the household registration", which it already is: not a change
        data = {k: v for k, v in data.items() if k != "residence_jurisdiction"}
    if not ctx.dry_run:
        # The service's own transaction (a savepoint in the batch's) undoes a failed row alone.
        if existing is None:
            services.person_create(actor=ctx.actor, data=data, via="import")
        else:
            outcome = "updated" if services.person_update(actor=ctx.actor, person=existing, data=data,
                                                          via="import") else "unchanged"
        return outcome
    try:
        with transaction.atomic():
            if existing is None:
                services.person_create(actor=ctx.actor, data=data, via="import")
            else:
                changed = services.person_update(actor=ctx.actor, person=existing, data=data, via="import")
                outcome = "updated" if changed else "unchanged"
            raise _Rollback
    except _Rollback:
        pass
    return outcome


def _registered(keys: list[str]) -> dict[str, Person | None]:
    found = {p.id_number_hash: p for p in Person.objects.select_related(
        "household_jurisdiction", "residence_jurisdiction").filter(id_number_hash__in=keys)}
    return {key: found.get(key) for key in keys}


def _batch_keys(batch: list[tuple[int, dict[str, Any]]]) -> list[str]:
    keys = []
    for _number, data in batch:
        raw = data.get("id_number")
        if not _blank(raw):
            try:
                keys.append(services.id_hash(idnumber.parse(raw).number))
            except idnumber.IdNumberError:
                continue  # _import_row says why
    return keys


def import_persons(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    actor: User,
    dry_run: bool = False,
    file_name: str = "",
    request: HttpRequest | None = None,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a template file; returns the counts and the rejected rows. Raises ImportFileError.

    ``source`` is a path or a binary file object (seekable). ``dry_run`` validates and decides
    every row exactly as a real import would, then undoes each row's writes. ``progress`` is
    called with the number of rows done, every few hundred rows and at the end; ``total`` once,
    before any row is written, with the number of rows below the header row at most.
    """
    if not access.has_action(actor, "import"):
        audit.record(actor, "person.import", None, request=request, outcome=Outcome.DENIED, file=file_name)
        raise DomainError(_("Your role may not import persons."))
    path = Path(source) if isinstance(source, str | os.PathLike) else None
    file_name = file_name or (path.name if path else getattr(source, "name", "") or "")
    try:
        if path is None:
            return _run(source, actor=actor, dry_run=dry_run, file_name=file_name, request=request,  # type: ignore[arg-type]
                        progress=progress, total=total)
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise ImportFileError(_("Cannot open %(path)s: %(error)s.") % {"path": path, "error": exc.strerror}) \
                from None
        with fh:
            return _run(fh, actor=actor, dry_run=dry_run, file_name=file_name, request=request, progress=progress,
                        total=total)
    except ImportFileError as exc:
        audit.record(actor, "person.import", None, request=request, outcome=Outcome.FAILED, file=file_name,
                     dry_run=dry_run, error=exc.message)
        raise


def _data_rows(table: _Table, result: ImportResult, found: list[_Context], *, actor: User,
               dry_run: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """The file's data rows as service input; the header row makes the context (put in ``found``)."""
    ctx: _Context | None = None
    for number, cells in table.rows():
        if ctx is None:
            if all(_blank(_cell("", c)) for c in cells):
                continue  # blank lines above the header
            columns, headers, result.ignored_columns = _map_header(number, cells)
            ctx = _Context(actor=actor, dry_run=dry_run, columns=columns, headers=headers)
            found.append(ctx)
            continue
        data = _row_data(ctx, cells)
        if data is not None:
            yield number, data


def _run(fh: IO[bytes], *, actor: User, dry_run: bool, file_name: str, request: HttpRequest | None,
         progress: Callable[[int], None] | None, total: Callable[[int], None] | None = None) -> ImportResult:
    table = _Table(fh)
    if total is not None:
        total(max(table.lines - 1, 0))
    result = ImportResult(file_name=file_name, file_format=table.format, encoding=table.encoding, dry_run=dry_run)
    found: list[_Context] = []
    rows = _data_rows(table, result, found, actor=actor, dry_run=dry_run)
    more = True
    while more:
        # One transaction per PROGRESS_EVERY rows (a commit per row is what costs at 100 000 rows);
        # each row is a savepoint inside it, so a bad row is undone alone and never the batch.
        with transaction.atomic():
            batch = list(islice(rows, PROGRESS_EVERY))
            more = len(batch) == PROGRESS_EVERY
            if batch:
                ctx = found[0]
                ctx.registered = _registered(_batch_keys(batch))
            for number, data in batch:
                result.rows += 1
                _import_row(ctx, number, data, result)
        if more and progress is not None:
            progress(result.rows)  # after the commit: what it counts is saved
    ctx = found[0] if found else None
    if ctx is None:
        raise ImportFileError(_("The file has no header row and no data: it is empty. Fill in the template: a "
                                "header row, then one row per person."))
    if progress is not None:
        progress(result.rows)
    audit.record(actor, "person.import", None, request=request, file=file_name, format=table.format,
                 dry_run=dry_run, rows=result.rows, created=result.created, updated=result.updated,
                 unchanged=result.unchanged, rejected=result.rejected)
    return result


# --- the import page's background path -------------------------------------------------------

ROWS_KEPT_FOR_THE_PAGE = 500  # of the rejected rows, stored with the run; the command lists them all


def result_to_json(result: ImportResult) -> dict[str, Any]:
    data = asdict(result)
    data["rejections"] = data["rejections"][:ROWS_KEPT_FOR_THE_PAGE]
    return data


def result_from_json(data: dict[str, Any]) -> ImportResult:
    values = dict(data)
    values["rejections"] = [RejectedRow(**row) for row in values.get("rejections", [])]
    return ImportResult(**values)


def uploads_dir() -> Path:
    from django.conf import settings

    folder = Path(settings.VAR_DIR) / "imports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def import_start(*, actor: User, upload: IO[bytes], file_name: str, dry_run: bool = False,
                 request: HttpRequest | None = None) -> ImportRun:
    """Keep the upload and queue its import (a background task); the page then shows the progress."""
    if not access.has_action(actor, "import"):
        audit.record(actor, "person.import", None, request=request, outcome=Outcome.DENIED, file=file_name)
        raise DomainError(_("Your role may not import persons."))
    run = ImportRun(actor=actor, file_name=file_name[:255], dry_run=dry_run)
    path = uploads_dir() / f"{run.pk}.upload"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # personal data: the owner only
    with os.fdopen(fd, "wb") as out:
        for chunk in iter(lambda: upload.read(_CHUNK), b""):
            out.write(chunk)
    run.stored_path = str(path)
    from liangyi.people.tasks import import_run

    try:
        with transaction.atomic():
            run.save(force_insert=True)
            audit.record(actor, "person.import_queued", run, request=request, file=file_name, dry_run=dry_run)
            transaction.on_commit(lambda: import_run.enqueue(str(run.pk)))
    except BaseException:
        path.unlink(missing_ok=True)  # no run points at it: personal data must not linger
        raise
    return run


def import_execute(run_id: str) -> str:
    """The task's body: import the stored upload, recording progress and the result on the run."""
    from django.utils import timezone

    claimed = ImportRun.objects.filter(pk=run_id, state=ImportRun.State.QUEUED).update(
        state=ImportRun.State.RUNNING, started_at=timezone.now())
    run = ImportRun.objects.select_related("actor").get(pk=run_id)
    if not claimed:
        return run.state  # delivered twice: the first delivery has it
    path = Path(run.stored_path)

    def progress(rows: int) -> None:
        ImportRun.objects.filter(pk=run.pk).update(rows_done=rows)

    def total(rows: int) -> None:
        ImportRun.objects.filter(pk=run.pk).update(rows_total=rows)

    try:
        result = import_persons(path, actor=run.actor, dry_run=run.dry_run, file_name=run.file_name,
                                progress=progress, total=total)
    except ImportFileError as exc:
        _finish(run, state=ImportRun.State.FAILED, error=exc.message)
    except DomainError as exc:
        _finish(run, state=ImportRun.State.FAILED, error=str(exc))
    except Exception:
        _finish(run, state=ImportRun.State.FAILED,
                error=_("The import stopped on an internal error. The rows counted so far are saved; upload the "
                        "file again to import the rest (saved rows stay unchanged)."))
        raise
    else:
        _finish(run, state=ImportRun.State.DONE, result=result_to_json(result), rows_done=result.rows)
    finally:
        path.unlink(missing_ok=True)
    return run.state


def _finish(run: ImportRun, **values: Any) -> None:
    from django.utils import timezone

    for name, value in {**values, "finished_at": timezone.now(), "stored_path": ""}.items():
        setattr(run, name, value)
    run.save(update_fields=[*values, "finished_at", "stored_path"])
