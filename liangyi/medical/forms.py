from django import forms
from django.utils.translation import gettext_lazy as _

from liangyi.medical.models import Scheme


class YearForm(forms.Form):
    year = forms.IntegerField(label=_("Year covered"))
    scheme = forms.ChoiceField(label=_("Scheme"), choices=Scheme.choices)
    paid_on = forms.DateField(label=_("Paid on"), required=False, input_formats=["%Y-%m-%d"],
                              widget=forms.DateInput(attrs={"type": "date"}),
                              help_text=_("Empty when the person is not insured for that year."))
    subsidised = forms.BooleanField(label=_("Contribution subsidised by medical assistance"), required=False)
    notes = forms.CharField(label=_("Notes"), max_length=200, required=False)
