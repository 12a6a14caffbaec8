"""The import page (upload a filled-in template, see what happened) and the template downloads."""

from __future__ import annotations

import io
from datetime import date
from uuid import UUID

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from liangyi.core import access, exports, idnumber
from liangyi.core.errors import DomainError
from liangyi.people import importer
from liangyi.people.models import STATUS_LABELS_ZH, ImportRun, Status

MAX_UPLOAD_MB = 20
ROWS_SHOWN = 500  # of the rejected rows; the command lists them all
EXTENSIONS = (".csv", ".xlsx", ".txt")


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File (CSV or XLSX)"),
                           help_text=gettext_lazy("At most %(mb)d MB.") % {"mb": MAX_UPLOAD_MB})
    dry_run = forms.BooleanField(label=gettext_lazy("Check only (dry run): save nothing"), required=False)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        name = upload.name or ""
        if upload.size > MAX_UPLOAD_MB * 1024 * 1024:
            raise forms.ValidationError(
                _("%(name)s is %(size).1f MB; the limit is %(mb)d MB. Split it into smaller files, or ask an "
                  "administrator to import it with the import_persons command.")
                % {"name": name, "size": upload.size / 1024 / 1024, "mb": MAX_UPLOAD_MB})
        if name.lower().endswith(".xls"):
            raise forms.ValidationError(_("%(name)s is an old Excel file (.xls). Save it as an Excel workbook "
                                          "(.xlsx) or as “CSV UTF-8” and upload that.") % {"name": name})
        if not name.lower().endswith(EXTENSIONS):
            raise forms.ValidationError(_("%(name)s is not a CSV or XLSX file. Upload the template filled in, "
                                          "saved as .csv or .xlsx.") % {"name": name})
        return upload


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "import")
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            run = importer.import_start(actor=request.user, upload=upload, file_name=upload.name,
                                        dry_run=form.cleaned_data["dry_run"], request=request)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            # The import runs as a background task; its page shows the progress, then the result.
            return redirect("people:import_run", run_id=run.pk)
    return _page(request, form)


def _page(request: HttpRequest, form: ImportForm, run: ImportRun | None = None) -> HttpResponse:
    result = importer.result_from_json(run.result) if run and run.state == ImportRun.State.DONE else None
    return render(request, "people/import.html", {
        "form": form,
        "run": run,
        "run_error": _("%(name)s cannot be imported: %(reason)s") % {"name": run.file_name, "reason": run.error}
        if run and run.state == ImportRun.State.FAILED else "",
        "result": result,
        "rejections": result.rejections[:ROWS_SHOWN] if result else [],
        "not_shown": (result.rejected - min(len(result.rejections), ROWS_SHOWN)) if result else 0,
        "max_mb": MAX_UPLOAD_MB,
        "columns": [(header, name, name in importer.REQUIRED) for header, name in importer.COLUMNS.items()],
    })


@login_required
@require_GET
def import_run(request: HttpRequest, run_id: UUID) -> HttpResponse:
    """An upload's progress (polled by htmx while it runs), then its result. Only the uploader sees it."""
    access.require(request, request.user, "import")
    run = get_object_or_404(ImportRun, pk=run_id, actor=request.user)
    if request.htmx:
        if not run.active:
            return HttpResponseClientRefresh()  # it ended: show the result
        return render(request, "people/_import_progress.html", {"run": run})
    return _page(request, ImportForm(), run)


def _example_row() -> list[str]:
    """One invented person, so the template shows what each column holds."""
    number = idnumber.build("530302", date(1985, 11, 20), 101)
    example = {
        "name": "张三",
        "id_number": number,
        "gender": "男",
        "birth_date": "1985-11-20",
        "ethnicity": "汉族",
        "household_jurisdiction": "530302001",
        "household_address": "云南省曲靖市麒麟区（示例地址）",
        "residence_jurisdiction": "530302001",
        "residence_address": "云南省曲靖市麒麟区（示例地址）",
        "phone": "13800000000",
        "status": STATUS_LABELS_ZH[Status.COMMUNITY_DRUG_REHAB],
    }
    return [example[name] for name in importer.FIELDS]


@login_required
@require_GET
def import_template(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt not in ("csv", "xlsx"):
        raise Http404
    access.require(request, request.user, "import")
    headers = list(importer.COLUMNS)
    st = exports.stamp(request.user)
    # The CSV is filled in and imported back: stamp columns would come back as extra columns, so its
    # stamp is in the file name (and the audit entry) only; the example row is invented.
    body = exports.csv_bytes(headers, [_example_row()], None) if fmt == "csv" else _template_xlsx(headers, st)
    return exports.deliver(request, user=request.user, action="import_template.exported", fmt=fmt, body=body,
                           stem="persons_import_template", st=st, rows=1, persons=0)


def _template_xlsx(headers: list[str], st: exports.Stamp) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "persons"
    sheet.append(headers)
    sheet.append(_example_row())
    text_columns = {"id_number", "birth_date", "household_jurisdiction", "residence_jurisdiction", "phone"}
    for index, name in enumerate(importer.FIELDS, start=1):
        letter = get_column_letter(index)
        sheet.cell(row=1, column=index).font = Font(bold=True)
        sheet.column_dimensions[letter].width = 22 if name in text_columns or "address" in name else 12
        if name in text_columns:
            # Text, so the spreadsheet never turns an 18-digit ID number into 5.30302E+17.
            sheet.column_dimensions[letter].number_format = "@"
            sheet.cell(row=2, column=index).number_format = "@"
    sheet.freeze_panes = "A2"
    exports.stamp_workbook(book, st, title="persons_import_template")  # the importer reads the first sheet only
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
