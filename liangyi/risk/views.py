"""Pages of the risk chain: the Risk section of the one file, instrument forms, grading and
override, and the grading-evidence page for leaders."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from liangyi.core import access, audit
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import Outcome
from liangyi.people.models import Person
from liangyi.risk import evidence, grading, instruments, selectors, services
from liangyi.risk.forms import GradeForm, InstrumentForm, OverrideForm


def _file_url(person: Person) -> str:
    return reverse("people:detail", args=[person.pk]) + "?tab=risk"


def section_context(request: HttpRequest, person: Person) -> dict[str, Any]:
    """The Risk tab: the effective level, its factors, the override, history and assessments."""
    user = request.user
    today = timezone.localdate()
    effective = selectors.effective(person, today)
    may_override = effective.grading is not None and access.can(user, "override_risk", person)
    override_form = None
    if may_override and effective.rules is not None:
        override_form = OverrideForm(effective.rules, int(core_rules.current().value("risk_override_max_days")))
    assessments = list(selectors.assessments_for(user=user, person=person)[:20])
    for a in assessments:
        spec = instruments.get(a.instrument)
        band = spec.band(a.band) if spec else None
        a.label = spec.label if spec else a.instrument  # type: ignore[attr-defined]
        a.band_label = band.label if band else a.band  # type: ignore[attr-defined]
        a.max_total = spec.max_total if spec else None  # type: ignore[attr-defined]
        a.flag_labels = [f.label for f in spec.flags if f.key in a.flags] if spec else a.flags  # type: ignore[attr-defined]
    history = list(selectors.history(person, limit=30))
    for g in history:
        rules = selectors.rules_of(g.ruleset)
        g.level_info = rules.level(g.level) if rules else None  # type: ignore[attr-defined]
    may_assess = access.can(user, "assess_risk", person)
    return {
        "risk": effective,
        "risk_factors": selectors.explain(user, effective.grading) if effective.grading else [],
        "risk_history": history,
        "risk_overrides": list(selectors.overrides(person)[:10]),
        "risk_assessments": assessments,
        "risk_instruments": selectors.instruments_for(user) if may_assess else [],
        "risk_may_assess": may_assess,
        "risk_may_override": may_override,
        "risk_override_form": override_form,
        "risk_grade_form": GradeForm() if may_assess else None,
        "today": today,
    }


def _person_for(request: HttpRequest, person_id: UUID) -> Person:
    person = access.get_or_404(request, Person, pk=person_id)
    if not access.sees(request.user, "drug_history"):
        raise Http404  # the Risk section is not part of this role's file
    return person


@login_required
@require_http_methods(["GET", "POST"])
def assessment_form(request: HttpRequest, person_id: UUID, instrument: str) -> HttpResponse:
    person = _person_for(request, person_id)
    spec = instruments.get(instrument)
    if spec is None:
        raise Http404
    access.require(request, request.user, "assess_risk", person)
    if spec.group and not access.sees(request.user, spec.group):
        audit.record(request.user, "access.denied", person, request=request, outcome=Outcome.DENIED,
                     action_name="assess_risk", instrument=spec.key)
        raise PermissionDenied
    form = InstrumentForm(spec, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            assessment = services.assessment_record(person=person, instrument=spec.key, answers=form.answers(),
                                                    assessed_on=form.cleaned_data["assessed_on"], actor=request.user,
                                                    request=request)
        except DomainError as exc:
            for field, errors in exc.errors.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            band = spec.band(assessment.band)
            messages.success(request, _("%(instrument)s scored %(total)s (%(band)s); the risk level was recomputed.")
                             % {"instrument": spec.label, "total": assessment.total,
                                "band": band.label if band else assessment.band})
            for flag in spec.flags:
                if flag.key in assessment.flags:
                    messages.warning(request, flag.label)
            return redirect(_file_url(person))
    from liangyi.people.views import _file_context

    return render(request, "risk/assessment_form.html", {**_file_context(request, person), "form": form,
                                                          "instrument": spec, "cancel": _file_url(person)})


@login_required
@require_POST
def grade_now(request: HttpRequest, person_id: UUID) -> HttpResponse:
    person = _person_for(request, person_id)
    form = GradeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    g = services.grade(person=person, actor=request.user, reason=reason, request=request)
    rules = selectors.rules_of(g.ruleset)
    level = rules.level(g.level) if rules else None
    messages.success(request, _("Graded: %(level)s (%(points)s points).") % {
        "level": level.label if level else g.level, "points": g.points})
    return redirect(_file_url(person))


@login_required
@require_POST
def override(request: HttpRequest, person_id: UUID) -> HttpResponse:
    person = _person_for(request, person_id)
    access.require(request, request.user, "override_risk", person)
    effective = selectors.effective(person, timezone.localdate())
    if effective.rules is None:
        messages.error(request, _("This person has not been graded yet. Grade the person before overriding the level."))
        return redirect(_file_url(person))
    form = OverrideForm(effective.rules, int(core_rules.current().value("risk_override_max_days")), request.POST)
    if form.is_valid():
        try:
            services.override_set(person=person, level=form.cleaned_data["level"], reason=form.cleaned_data["reason"],
                                  expires_on=form.cleaned_data["expires_on"], actor=request.user, request=request)
        except DomainError as exc:
            for field, errors in exc.errors.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, _("The level is overridden until %(until)s. The schedules follow it.") % {
                "until": f"{form.cleaned_data['expires_on']:%Y-%m-%d}"})
            return redirect(_file_url(person))
    from liangyi.people.views import _file_context

    return render(request, "risk/override_form.html", {**_file_context(request, person), "form": form,
                                                        "cancel": _file_url(person)}, status=400)


@login_required
@require_GET
def evidence_page(request: HttpRequest) -> HttpResponse:
    """Relapse rates and abstinence curves per level and per cohort, for the user's jurisdiction."""
    access.require(request, request.user, "view_figures")
    today = timezone.localdate()
    rules = grading.current()
    minimum = int(core_rules.current().value("risk_evidence_min_persons"))
    max_months = evidence.CHART_MONTHS
    subjects = evidence.subjects(access.visible(request.user, Person), rules, today)
    levels = evidence.by_level(subjects, rules, minimum, max_months)
    cohorts = evidence.by_cohort(subjects, minimum, max_months)
    audit.record(request.user, "risk.evidence_viewed", None, request=request, persons=len(subjects))
    return render(request, "risk/evidence.html", {
        "rules": rules, "today": today, "minimum": minimum, "max_months": max_months, "total": len(subjects),
        "levels": levels, "cohorts": cohorts,
        "level_chart": evidence.chart(levels, max_months), "cohort_chart": evidence.chart(cohorts, max_months),
        "rate_months": evidence.RATE_MONTHS,
        "months_axis": levels[0].table if levels else [],
    })
