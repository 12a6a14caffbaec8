"""Recording forms of the supervision section: they parse; the services decide."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from liangyi.obligations.schedules import township_code
from liangyi.supervision.models import (
    ContactKind,
    EndReason,
    Method,
    OrderKind,
    PoliceDecision,
    Result,
    Sample,
    SuspensionReason,
)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def day(label) -> forms.DateField:
    return forms.DateField(label=label, widget=DateInput())


def optional_day(label) -> forms.DateField:
    return forms.DateField(label=label, widget=DateInput(), required=False)


class DecisionForm(forms.Form):
    kind = forms.ChoiceField(label=_("Measure"), choices=OrderKind.choices)
    decided_on = day(_("Decided on"))
    received_on = day(_("Decision received on"))
    term_months = forms.IntegerField(label=_("Term (months)"), required=False, min_value=1,
                                     help_text=_("Community rehab only; empty: the rule set's term."))
    authority = forms.CharField(label=_("Decided by"), required=False, max_length=100)


class ReportForm(forms.Form):
    reported_on = day(_("Reported on"))


class TestForm(forms.Form):
    tested_on = day(_("Tested on"))
    sample = forms.ChoiceField(label=_("Sample"), choices=[("", "—"), *Sample.choices], required=False,
                               initial=Sample.URINE)
    method = forms.ChoiceField(label=_("Method"), choices=[("", "—"), *Method.choices], required=False,
                               initial=Method.ONSITE)
    result = forms.ChoiceField(label=_("Result"), choices=Result.choices)
    substances = forms.CharField(label=_("Substances found (comma-separated)"), required=False, max_length=300)
    random = forms.BooleanField(label=_("Random test"), required=False)
    collector_names = forms.CharField(label=_("Collectors (two names)"), max_length=120, required=False)
    notes = forms.CharField(label=_("Notes"), required=False, max_length=300)

    def clean_substances(self) -> list[str]:
        raw = self.cleaned_data["substances"].replace("，", ",")
        return [s.strip() for s in raw.split(",") if s.strip()]


class ContactForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=ContactKind.choices)
    on = day(_("On"))
    notes = forms.CharField(label=_("Notes"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class LeaveForm(forms.Form):
    from_on = day(_("Leaves on"))
    to_on = day(_("Returns by"))
    destination = forms.CharField(label=_("Destination"), max_length=200)


class ApproveForm(forms.Form):
    approved_on = day(_("Approved on"))


class AbsenceForm(forms.Form):
    left_on = day(_("Left on"))
    returned_on = optional_day(_("Returned on"))
    destination = forms.CharField(label=_("Destination"), required=False, max_length=200)


class ReturnForm(forms.Form):
    returned_on = day(_("Returned on"))


class SuspendForm(forms.Form):
    start = day(_("Detained or arrested on"))
    reason = forms.ChoiceField(label=_("Reason"), choices=SuspensionReason.choices)
    notes = forms.CharField(label=_("Notes"), required=False, max_length=300)


class OnForm(forms.Form):
    on = day(_("On"))


class TerminateForm(forms.Form):
    on = day(_("On"))
    reason = forms.ChoiceField(label=_("Reason"), choices=EndReason.choices)
    notes = forms.CharField(label=_("Notes"), required=False, max_length=300)


class TransferForm(forms.Form):
    to_township = forms.CharField(label=_("New township (code)"), max_length=12)
    on = day(_("File forwarded on"))
    reason = forms.CharField(label=_("Reason"), required=False, max_length=300)

    def clean_to_township(self) -> str:
        return township_code(self.cleaned_data["to_township"].strip())


class DecideForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=PoliceDecision.choices)
    decided_on = day(_("Decided on"))
    notes = forms.CharField(label=_("Notes"), required=False, max_length=500)
