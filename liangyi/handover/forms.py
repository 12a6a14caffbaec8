"""Recording forms of the handover chain: they parse; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from liangyi.handover import assessment
from liangyi.handover.models import AssessmentPoint, CollectorKind, Outcome
from liangyi.supervision.forms import DateInput, day
from liangyi.supervision.models import OrderKind


class StayForm(forms.Form):
    decision_number = forms.CharField(label=_("Decision number"), max_length=60)
    decided_on = day(_("Decided on"))
    authority = forms.CharField(label=_("Decided by"), max_length=100)
    facility = forms.CharField(label=_("Facility"), max_length=100)
    admitted_on = day(_("Admitted on"))
    no_early_release = forms.BooleanField(
        label=_("Follows refusal of community rehab, a serious violation or a relapse (no early release, Reg 38)"),
        required=False)


class EventForm(forms.Form):
    on = day(_("On"))
    notes = forms.CharField(label=_("Notes"), max_length=300, required=False)


class AssessmentForm(forms.Form):
    """One number field per item of each domain of the rule data; the results are computed on saving."""

    point = forms.ChoiceField(label=_("Assessment point"), choices=AssessmentPoint.choices)
    assessed_on = day(_("Assessed on"))
    doctor = forms.CharField(label=_("Doctor"), max_length=60)
    psychologist = forms.CharField(label=_("Psychologist"), max_length=60)
    social_worker = forms.CharField(label=_("Social worker"), max_length=60)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=Outcome.choices)
    recommend_community_rehab = forms.BooleanField(label=_("Recommend community rehab"), required=False)
    physical_state = forms.CharField(label=_("Physical state"), max_length=500, required=False,
                                     widget=forms.Textarea(attrs={"rows": 2}))
    psychological_state = forms.CharField(label=_("Psychological state"), max_length=500, required=False,
                                          widget=forms.Textarea(attrs={"rows": 2}))
    social_adaptability = forms.CharField(label=_("Social adaptability"), max_length=500, required=False,
                                          widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for domain in assessment.scheme().domains:
            for item in domain.items:
                self.fields[f"{domain.key}.{item.key}"] = forms.IntegerField(
                    label=f"{domain.name_zh} · {item.name_zh} (0–{item.max})", min_value=0, max_value=item.max)

    def service_args(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        scores: dict[str, dict[str, int]] = {}
        for name in list(data):
            if "." in name:
                domain, item = name.split(".", 1)
                scores.setdefault(domain, {})[item] = data.pop(name)
        return {**data, "scores": scores}


class EarlyReleaseForm(forms.Form):
    decided_on = day(_("Decided on"))
    release_on = day(_("Release on"))
    assessment = forms.TypedChoiceField(label=_("On the assessment"), coerce=int)

    def __init__(self, *args: Any, stay: Any = None, outcome: str = Outcome.PROPOSE_EARLY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        items = stay.assessments.filter(outcome=outcome) if stay is not None else []
        self.fields["assessment"].choices = [(a.pk, f"{a.assessed_on:%Y-%m-%d} · {a.get_point_display()}")
                                             for a in items]


class ExtensionForm(EarlyReleaseForm):
    release_on = None
    months = forms.IntegerField(label=_("Months added"), min_value=1, max_value=120)

    def __init__(self, *args: Any, stay: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, stay=stay, outcome=Outcome.PROPOSE_EXTENSION, **kwargs)


class ReleaseForm(forms.Form):
    released_on = day(_("Released on"))
    certificate = forms.CharField(label=_("Release certificate number"), max_length=60)


class PacketForm(forms.Form):
    health_summary = forms.CharField(label=_("Health summary"), required=False, max_length=4000,
                                     widget=forms.Textarea(attrs={"rows": 3}))
    risk_notes = forms.CharField(label=_("Risk notes"), required=False, max_length=4000,
                                 widget=forms.Textarea(attrs={"rows": 3}))
    recommended_plan = forms.CharField(label=_("Recommended plan"), required=False, max_length=4000,
                                       widget=forms.Textarea(attrs={"rows": 3}))


class PickupForm(forms.Form):
    collector_kind = forms.ChoiceField(label=_("Collected by"), choices=CollectorKind.choices)
    collector_name = forms.CharField(label=_("Collector's name"), max_length=100)
    collected_on = day(_("Collected on"))
    collected_from = forms.CharField(label=_("Collected from (empty: the facility)"), max_length=100, required=False)


class DecisionForm(forms.Form):
    kind = forms.ChoiceField(label=_("Measure"), choices=OrderKind.choices, initial=OrderKind.COMMUNITY_REHAB)
    decided_on = day(_("Decided on"))
    received_on = day(_("Decision received on"))
    term_months = forms.IntegerField(label=_("Term (months)"), required=False, min_value=1, max_value=120)
    authority = forms.CharField(label=_("Decided by"), max_length=100, required=False)


class ReportForm(forms.Form):
    reported_on = day(_("Reported on"))


class SignForm(forms.Form):
    signed_on = day(_("Signed on"))


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("Released from"), required=False, widget=DateInput())
    end = forms.DateField(label=_("Released until"), required=False, widget=DateInput())
