"""Forms of the reconciliation pages."""

from __future__ import annotations

import uuid

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from liangyi.core import access
from liangyi.people import services as people_services
from liangyi.people.models import Person

MAX_UPLOAD_MB = 50
EXTENSIONS = (".csv", ".xlsx", ".txt")


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Police export (CSV or XLSX)"),
                           help_text=gettext_lazy("CSV in GB18030 or UTF-8, or an Excel workbook; at most %(mb)d MB.")
                           % {"mb": MAX_UPLOAD_MB})
    scope = forms.CharField(label=gettext_lazy("Jurisdiction code the export covers (optional)"), required=False,
                            max_length=12,
                            help_text=gettext_lazy("Persons registered under active measures inside it and absent "
                                                   "from the export are reported. Empty: your whole jurisdiction."))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        name = upload.name or ""
        if upload.size > MAX_UPLOAD_MB * 1024 * 1024:
            raise forms.ValidationError(_("%(name)s is %(size).1f MB; the limit is %(mb)d MB. Ask an administrator "
                                          "to compare it with the reconcile command.")
                                        % {"name": name, "size": upload.size / 1024 / 1024, "mb": MAX_UPLOAD_MB})
        if name.lower().endswith(".xls"):
            raise forms.ValidationError(_("%(name)s is an old Excel file (.xls). Save it as an Excel workbook "
                                          "(.xlsx) or as CSV and upload that.") % {"name": name})
        if not name.lower().endswith(EXTENSIONS):
            raise forms.ValidationError(_("%(name)s is not a CSV or XLSX file.") % {"name": name})
        return upload

    def clean_scope(self):
        return "".join(self.cleaned_data["scope"].split())


class NoteForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("Note for the police (optional)"), required=False, max_length=500)


class DismissForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500,
                             error_messages={"required": gettext_lazy("Say why the finding is dismissed.")})


class LinkForm(forms.Form):
    person = forms.CharField(label=gettext_lazy("ID number of the registered person"), max_length=64)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_person(self):
        raw = self.cleaned_data["person"].strip()
        visible = access.visible(self.user, Person)
        found = None
        try:
            found = visible.filter(pk=uuid.UUID(raw)).first()
        except ValueError:
            candidate = people_services.find_by_id_number(raw)
            if candidate is not None:
                found = visible.filter(pk=candidate.pk).first()
        if found is None:
            raise forms.ValidationError(_("No registered person in your jurisdiction has this ID number."))
        return found
