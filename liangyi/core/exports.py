"""Every file that leaves the system goes through here: audited, stamped, masked per role.

A view builds its rows (already scoped to the user), then calls ``deliver``: it writes the audit
entry (who, what, format, rows, persons) and returns the download with the stamp (who exported
it and when) in the file name and inside the file, where the format and the published contracts
(``../shared/INTERFACES.md``) allow it:

- CSV: two columns ``exported_by`` and ``exported_at`` appended after the contract's columns on
  every row (the contracts may be extended; the columns a reader knows stay in place), so a
  fragment copied out of the file still says whose export it was. Files meant to be filled in
  and imported back (the import template) carry the stamp in the file name only.
- XLSX: document properties (creator, last modified by, created, description), the page header
  and footer printed on every page, and a sheet ``导出信息`` after the data (the data sheet stays
  first and active, where readers look).
- PDF: the document's metadata, a diagonal watermark on every page and a footer line.
- iCalendar: a calendar description (``X-WR-CALDESC``).

Masking: a cell belongs to a field group (``people/fieldgroups.py``); ``cell`` empties it for a
role that does not see the group (core/access.py), and ``id_number`` keeps the mask unless the
role may reveal. See docs/security.md, "Exports".
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import access, audit
from liangyi.core.models import AuditEntry, User

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "ics": "text/calendar; charset=utf-8",
}
STAMP_COLUMNS = ("exported_by", "exported_at")
INFO_SHEET = "导出信息"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Stamp:
    """Who exported a file and when; printed into the file and kept in the audit entry."""

    username: str
    name: str
    at: datetime  # aware

    @property
    def who(self) -> str:
        return f"{self.name} ({self.username})" if self.name and self.name != self.username else self.username

    @property
    def when(self) -> str:
        return timezone.localtime(self.at).strftime("%Y-%m-%d %H:%M:%S %z")

    @property
    def text(self) -> str:
        return _("Exported by %(who)s at %(when)s") % {"who": self.who, "when": self.when}

    @property
    def slug(self) -> str:
        """For file names: ASCII only (the username is), local time to the minute."""
        return f"{_SAFE.sub('_', self.username)}-{timezone.localtime(self.at):%Y%m%d-%H%M}"


def stamp(user: User, at: datetime | None = None) -> Stamp:
    name = getattr(user, "full_name", "") or ""
    return Stamp(username=user.username, name=name, at=at or timezone.now())


# --- masking ---------------------------------------------------------------------------------------


def cell(user: User, group: str | None, value: Any) -> Any:
    """``value`` if the user's role sees ``group`` (None: every role that sees persons), else empty."""
    if group is None or access.sees(user, group):
        return value
    return ""


# --- formats ---------------------------------------------------------------------------------------


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], st: Stamp | None) -> bytes:
    """UTF-8 with BOM, CRLF; with a stamp, its two columns after the others on every row."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    extra = [st.who, st.when] if st else []
    writer.writerow([*header, *(STAMP_COLUMNS if st else ())])
    for row in rows:
        writer.writerow([*row, *extra])
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], st: Stamp, *, title: str, sheet_name: str,
               text_columns: Sequence[int] = (), what: str = "") -> bytes:
    """One data sheet (first and active), stamped in its properties, header and footer, plus an info sheet.

    ``text_columns`` (1-based) are stored as text, so an ID number keeps every digit."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = sheet_name
    sheet.append(list(header))
    for c in sheet[1]:
        c.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
        for column in text_columns:
            sheet.cell(row=sheet.max_row, column=column).number_format = "@"
    sheet.freeze_panes = "A2"
    stamp_workbook(book, st, title=title, what=what)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def stamp_workbook(book: Any, st: Stamp, *, title: str, what: str = "") -> None:
    """Stamp an openpyxl workbook: properties, every sheet's printed header and footer, an info sheet."""
    props = book.properties
    props.creator = st.who
    props.lastModifiedBy = st.who
    props.created = props.modified = st.at.astimezone(UTC).replace(tzinfo=None)
    props.title = title
    props.description = st.text
    props.keywords = f"exported_by={st.username}; exported_at={st.at.isoformat()}"
    for sheet in book.worksheets:
        sheet.oddHeader.center.text = _xl(title)
        sheet.oddHeader.right.text = _xl(st.text)
        sheet.oddFooter.left.text = _xl(st.text)
        sheet.oddFooter.right.text = "&P / &N"
    info = book.create_sheet(INFO_SHEET)
    for key, value in ((_("Exported by"), st.who), (_("Username"), st.username), (_("Exported at"), st.when),
                       (_("Contents"), what or title)):
        info.append([key, value])
    info.column_dimensions["A"].width = 16
    info.column_dimensions["B"].width = 48


def _xl(text: str) -> str:
    return text.replace("&", "&&")  # "&" starts a code in Excel's header and footer


def ics_stamp_lines(st: Stamp) -> list[str]:
    """Calendar-level properties naming the exporter (RFC 5545 allows X- properties there)."""
    value = st.text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return [_fold(f"X-WR-CALDESC:{value}"), _fold(f"X-LIANGYI-EXPORTED-BY:{st.username}"),
            f"X-LIANGYI-EXPORTED-AT:{st.at.astimezone(UTC):%Y%m%dT%H%M%SZ}"]


def _fold(line: str, limit: int = 75) -> str:
    """RFC 5545 3.1: lines longer than 75 octets continue on the next line after a space."""
    parts, current = [], ""
    for char in line:
        if len((current + char).encode()) > limit:
            parts.append(current)
            current = " "
        current += char
    return "\r\n".join([*parts, current])


# --- audit and delivery ----------------------------------------------------------------------------


def record(request: HttpRequest | None, user: User, action: str, obj: Any = None, *, fmt: str, rows: int,
           persons: int | None, st: Stamp, filename: str, **detail: Any) -> AuditEntry:
    """The export's audit entry: who, what (action and object), format, how many rows and persons."""
    return audit.record(user, action, obj, request=request, format=fmt, rows=rows,
                        **({"persons": persons} if persons is not None else {}),
                        file=filename, exported_at=st.at.isoformat(), **detail)


def filename(stem: str, st: Stamp, fmt: str) -> str:
    return f"{_SAFE.sub('_', stem)}-{st.slug}.{fmt}"


def deliver(request: HttpRequest | None, *, user: User, action: str, obj: Any = None, fmt: str, body: bytes,
            stem: str, st: Stamp, rows: int, persons: int | None = None, inline: bool = False,
            **detail: Any) -> HttpResponse:
    """Audit the export, then answer it as a download named with the stamp, never cached."""
    name = filename(stem, st, fmt)
    record(request, user, action, obj, fmt=fmt, rows=rows, persons=persons, st=st, filename=name, **detail)
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{name}"'
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- PDF -------------------------------------------------------------------------------------------

PDF_FONT = "STSong-Light"  # one of the CID fonts every PDF reader knows: no font file to ship (docs/security.md)
LONG_VALUE, LONG_VALUE_LINES = 600, 12  # past these a value is printed below its label, free to cross pages


@dataclass
class Block:
    """One part of a printed file: a heading, label/value facts, then paragraphs."""

    heading: str
    facts: list[tuple[str, str]] | None = None
    paragraphs: list[str] | None = None


def _pdf_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    return PDF_FONT


def pdf_bytes(st: Stamp, *, title: str, subtitle: str, blocks: Sequence[Block]) -> bytes:
    """An A4 document of ``blocks`` with the stamp as a diagonal watermark and a footer on every page."""
    from html import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _pdf_font()
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    label = ParagraphStyle("label", parent=body, textColor=colors.HexColor("#555555"))
    heading = ParagraphStyle("heading", parent=body, fontSize=12.5, leading=18, spaceBefore=8, spaceAfter=3)
    big = ParagraphStyle("title", parent=body, fontSize=17, leading=22)

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(str(text), quote=False).replace("\n", "<br/>"), style)

    story: list[Any] = [para(title, big), para(subtitle, label), Spacer(1, 4 * mm)]
    width = A4[0] - 36 * mm
    def table(rows: list[tuple[str, str]]) -> Table:
        t = Table([[para(k, label), para(v or "—")] for k, v in rows], colWidths=[38 * mm, width - 38 * mm])
        t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd")),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 3), ("TOPPADDING", (0, 0), (-1, -1), 3)]))
        return t

    for block in blocks:
        story.append(para(block.heading, heading))
        rows: list[tuple[str, str]] = []
        for key, value in block.facts or ():
            if len(value or "") > LONG_VALUE or (value or "").count("\n") > LONG_VALUE_LINES:
                # A table row cannot break across pages: a long text flows as paragraphs instead.
                if rows:
                    story.append(table(rows))
                    rows = []
                story.append(para(key, label))
                story.extend(para(part) for part in value.split("\n"))
            else:
                rows.append((key, value))
        if rows:
            story.append(table(rows))
        for text in block.paragraphs or ():
            story.append(para(text))

    mark = f"{st.who} {st.when}"
    footer = st.text

    def decorate(canvas: Any, doc: Any) -> None:
        page_w, page_h = A4
        canvas.saveState()
        canvas.setFont(font, 15)
        canvas.setFillColor(colors.Color(0.55, 0.55, 0.55, alpha=0.22))
        canvas.translate(page_w / 2, page_h / 2)
        canvas.rotate(35)
        step_y = 55 * mm
        for row in range(-3, 4):
            for col in (-1, 0, 1):
                canvas.drawCentredString(col * 120 * mm + (row % 2) * 60 * mm, row * step_y, mark)
        canvas.restoreState()
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.HexColor("#444444"))
        canvas.drawString(18 * mm, 10 * mm, footer)
        canvas.drawRightString(page_w - 18 * mm, 10 * mm, _("Page %(n)d") % {"n": doc.page})
        canvas.restoreState()

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=18 * mm, title=title, author=st.who, subject=st.text,
                            creator="liangyi", keywords=f"exported_by={st.username}")
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return out.getvalue()
