"""Forms of the risk chain: an instrument built from its file, and the override form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from liangyi.risk.grading import GradingRules
from liangyi.risk.instruments import Instrument


class InstrumentForm(forms.Form):
    """One radio group per item; nothing is required here, the scoring rule decides about gaps."""

    assessed_on = forms.DateField(label=_("Assessed on"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, instrument: Instrument, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.instrument = instrument
        self.fields["assessed_on"].initial = timezone.localdate()
        for n, item in enumerate(instrument.items, start=1):
            self.fields[item.key] = forms.TypedChoiceField(
                label=f"{n}. {item.label}", required=False, coerce=int, empty_value=None,
                choices=[(o.value, o.label) for o in item.options], widget=forms.RadioSelect)

    def answers(self) -> dict[str, int | None]:
        return {item.key: self.cleaned_data.get(item.key) for item in self.instrument.items}

    def item_fields(self) -> list[forms.BoundField]:
        return [self[item.key] for item in self.instrument.items]


class OverrideForm(forms.Form):
    level = forms.ChoiceField(label=_("Level"))
    expires_on = forms.DateField(label=_("Expires on"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, rules: GradingRules, longest_days: int, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["level"].choices = [(lv.key, lv.label) for lv in rules.levels]
        self.fields["expires_on"].initial = timezone.localdate() + timedelta(days=min(90, longest_days))
        self.fields["expires_on"].help_text = _("At most %(days)s days from today.") % {"days": longest_days}


class GradeForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)
