"""Pages of the facility side (stays, assessments, release) and of the township's handover inbox
(packet, acknowledgement, pick-up, decision, report, agreement), and the figures page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from liangyi.core import access, audit
from liangyi.core.errors import DomainError
from liangyi.handover import assessment, selectors, services
from liangyi.handover import forms as f
from liangyi.handover.models import Agreement, Handover, HandoverState, IsolationStay, StayState
from liangyi.people.models import Person


def section_context(request: HttpRequest, person: Any) -> dict[str, Any]:
    """The "Isolation and handover" tab of the one file."""
    today = timezone.localdate()
    stays = list(selectors.stays_of(person))
    for stay in stays:
        stay.packet_state = HandoverState(stay.handover.state_on(today)).label
    return {"ho_stays": stays, "ho_scheme": assessment.scheme(),
            "ho_facility": access.can(request.user, "record_isolation", person),
            "ho_receiver": access.can(request.user, "receive_handover", person)}


def _file_url(person: Person) -> str:
    return reverse("people:detail", args=[person.pk]) + "?tab=isolation"


def _initial(form_class: type[forms.Form]) -> dict[str, Any]:
    today = timezone.localdate()
    return {name: today for name, field in form_class.base_fields.items()
            if isinstance(field, forms.DateField) and field.required}


@dataclass(frozen=True)
class Action:
    title: Any
    form: Callable[..., forms.Form]
    run: Callable[[HttpRequest, Any, dict[str, Any]], Any]
    done: Any


def _event(service: Callable[..., Any]) -> Callable[[HttpRequest, IsolationStay, dict[str, Any]], Any]:
    return lambda request, stay, d: service(stay=stay, actor=request.user, **d)


STAY_ACTIONS: dict[str, Action] = {
    "escape": Action(_("Record an escape"), lambda *a, **k: f.EventForm(*a), _event(services.escape_record),
                     _("Escape recorded: the days away will not count.")),
    "return": Action(_("Record the return"), lambda *a, **k: f.EventForm(*a), _event(services.return_record),
                     _("Return recorded; the release date has moved.")),
    "medical-out": Action(_("Record medical leave outside"), lambda *a, **k: f.EventForm(*a),
                          _event(services.medical_leave_start), _("Medical leave recorded: the time counts.")),
    "medical-back": Action(_("Record the return from medical leave"), lambda *a, **k: f.EventForm(*a),
                           _event(services.medical_leave_end), _("Return from medical leave recorded.")),
    "assess": Action(_("Record a diagnostic assessment"), lambda *a, **k: f.AssessmentForm(*a),
                     lambda request, stay, d: services.assessment_record(stay=stay, actor=request.user, **d),
                     _("Assessment recorded; the domain results were computed from the scores.")),
    "early-release": Action(
        _("Record an early-release decision"), lambda *a, stay=None: f.EarlyReleaseForm(*a, stay=stay),
        lambda request, stay, d: services.early_release_decide(
            stay=stay, decided_on=d["decided_on"], release_on=d["release_on"],
            assessment=stay.assessments.filter(pk=d["assessment"]).first(), actor=request.user),
        _("Early release recorded; the township's inbox date has moved.")),
    "extension": Action(
        _("Record an extension decision"), lambda *a, stay=None: f.ExtensionForm(*a, stay=stay),
        lambda request, stay, d: services.extension_decide(
            stay=stay, decided_on=d["decided_on"], months=d["months"],
            assessment=stay.assessments.filter(pk=d["assessment"]).first(), actor=request.user),
        _("Extension recorded; the release date has moved.")),
    "release": Action(_("Record the release"), lambda *a, **k: f.ReleaseForm(*a),
                      lambda request, stay, d: services.stay_release(stay=stay, actor=request.user, **d),
                      _("Release recorded. The receiving township sees the person in its inbox.")),
    "packet": Action(_("Write the handover packet"), lambda *a, **k: f.PacketForm(*a),
                     lambda request, stay, d: services.handover_packet_update(handover=stay.handover,
                                                                              actor=request.user, **d),
                     _("Packet saved.")),
}

HANDOVER_ACTIONS: dict[str, Action] = {
    "pickup": Action(_("Record the pick-up"), f.PickupForm,
                     lambda request, h, d: services.handover_pickup(handover=h, actor=request.user, **d),
                     _("Pick-up recorded. Record the decision when it arrives.")),
    "decision": Action(_("Record the community decision"), f.DecisionForm,
                       lambda request, h, d: services.handover_decide(handover=h, actor=request.user, **d),
                       _("Decision recorded; the report deadline is running.")),
    "report": Action(_("Record the report"), f.ReportForm,
                     lambda request, h, d: services.handover_report(handover=h, actor=request.user, **d),
                     _("Report recorded; the community term has started. Print the agreement for signing.")),
}


def _form_page(request: HttpRequest, person: Person, form: forms.Form, title: Any, cancel: str,
               status: int = 200) -> HttpResponse:
    from liangyi.people.views import _file_context

    return render(request, "handover/form.html", {**_file_context(request, person), "form": form, "title": title,
                                                  "cancel": cancel}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def stay_new(request: HttpRequest, person_id: UUID) -> HttpResponse:
    person = access.get_or_404(request, Person, pk=person_id)
    access.require(request, request.user, "record_isolation", person)
    form = f.StayForm(request.POST or None, initial=_initial(f.StayForm))
    if request.method == "POST" and form.is_valid():
        try:
            services.stay_record(person=person, actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            exc.add_to(form)
        else:
            messages.success(request, _("Stay recorded. The release date was computed from the decision date."))
            return redirect(_file_url(person))
    return _form_page(request, person, form, _("Record a compulsory-isolation stay"), _file_url(person),
                      400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def stay_record(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    stay = access.get_or_404(request, IsolationStay, pk=pk)
    spec = STAY_ACTIONS.get(action)
    if spec is None:
        raise Http404
    access.require(request, request.user, "record_isolation", stay.person)
    form = spec.form(request.POST or None, stay=stay)
    if request.method == "GET":
        form.initial = {**_initial(type(form)), **form.initial}
        if action == "packet":
            form.initial.update(health_summary=stay.handover.health_summary, risk_notes=stay.handover.risk_notes,
                                recommended_plan=stay.handover.recommended_plan)
    if request.method == "POST" and form.is_valid():
        data = form.service_args() if isinstance(form, f.AssessmentForm) else dict(form.cleaned_data)
        try:
            spec.run(request, stay, data)
        except DomainError as exc:
            exc.add_to(form)
        else:
            messages.success(request, str(spec.done))
            return redirect(_file_url(stay.person))
    return _form_page(request, stay.person, form, spec.title, _file_url(stay.person),
                      400 if request.method == "POST" else 200)


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """The township's inbox: packets from their date until the agreement is signed, with their state."""
    access.require(request, request.user, "receive_handover")
    today = timezone.localdate()
    items = list(selectors.inbox(user=request.user, today=today)[:300])
    for item in items:
        item.state = item.state_on(today)
        item.state_label = HandoverState(item.state).label
    return render(request, "handover/inbox.html", {"items": items, "today": today})


@login_required
@require_GET
def facility_list(request: HttpRequest) -> HttpResponse:
    """The facility's persons in custody, by planned release."""
    access.require(request, request.user, "record_isolation")
    stays = (access.visible(request.user, IsolationStay).exclude(state=StayState.RELEASED)
             .select_related("person", "person__jurisdiction").order_by("planned_release_on")[:500])
    return render(request, "handover/facility.html", {"stays": stays})


def _packet_context(request: HttpRequest, handover: Handover) -> dict[str, Any]:
    from liangyi.people.views import _file_context

    today = timezone.localdate()
    state = handover.state_on(today)
    agreement = selectors.agreement_of(handover)
    may_receive = access.can(request.user, "receive_handover", handover.person)
    forms_shown = []
    if may_receive:
        if state == HandoverState.ACKNOWLEDGED and handover.stay.state == StayState.RELEASED:
            forms_shown.append(("pickup", HANDOVER_ACTIONS["pickup"]))
        if handover.stay.state == StayState.RELEASED and handover.order_id is None and handover.acknowledged_at:
            forms_shown.append(("decision", HANDOVER_ACTIONS["decision"]))
        if state in (HandoverState.DECISION_RECORDED, HandoverState.OVERDUE):
            forms_shown.append(("report", HANDOVER_ACTIONS["report"]))
    return {
        **_file_context(request, handover.person), "handover": handover, "state": state, "today": today,
        "state_label": HandoverState(state).label,
        "pre": selectors.latest_assessment(handover.stay), "scheme": assessment.scheme(),
        "sees_medical": access.sees(request.user, "medical"), "agreement": agreement,
        "may_acknowledge": may_receive and state == HandoverState.IN_INBOX,
        "forms": [(key, spec.title, spec.form(initial=_initial(spec.form))) for key, spec in forms_shown],
        "sign_form": f.SignForm(initial=_initial(f.SignForm)) if agreement and not agreement.signed_on and may_receive
        else None,
    }


@login_required
@require_GET
def packet(request: HttpRequest, pk: int) -> HttpResponse:
    handover = access.get_or_404(request, Handover, pk=pk)
    audit.viewed(request, handover.person, section="handover")
    return render(request, "handover/packet.html", _packet_context(request, handover))


@login_required
@require_POST
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    handover = access.get_or_404(request, Handover, pk=pk)
    access.require(request, request.user, "receive_handover", handover.person)
    try:
        services.handover_acknowledge(handover=handover, actor=request.user)
    except DomainError as exc:
        messages.error(request, "; ".join(str(m) for ms in exc.errors.values() for m in ms))
    else:
        messages.success(request, _("Receipt acknowledged. Record the pick-up on the day of release."))
    return redirect("handover:packet", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def handover_record(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    handover = access.get_or_404(request, Handover, pk=pk)
    spec = HANDOVER_ACTIONS.get(action)
    if spec is None:
        raise Http404
    access.require(request, request.user, "receive_handover", handover.person)
    form = spec.form(request.POST or None, initial=_initial(spec.form))
    if request.method == "POST" and form.is_valid():
        try:
            result = spec.run(request, handover, dict(form.cleaned_data))
        except DomainError as exc:
            exc.add_to(form)
        else:
            messages.success(request, str(spec.done))
            if isinstance(result, Agreement):
                return redirect("handover:agreement", pk=result.pk)
            return redirect("handover:packet", pk=pk)
    return _form_page(request, handover.person, form, spec.title, reverse("handover:packet", args=[pk]),
                      400 if request.method == "POST" else 200)


@login_required
@require_GET
def agreement_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The agreement, printable; Chinese whatever the interface language (a legal document)."""
    agreement = access.get_or_404(request, Agreement, pk=pk)
    if not access.sees(request.user, "identity"):
        raise Http404
    audit.viewed(request, agreement.order.person, section="agreement")
    handover = Handover.objects.filter(order=agreement.order).first()
    may_sign = access.can(request.user, "supervise", agreement.order.person) and not agreement.signed_on
    return render(request, "handover/agreement.html", {
        "agreement": agreement, "handover": handover,
        "sign_form": f.SignForm(initial=_initial(f.SignForm)) if may_sign else None})


@login_required
@require_POST
def agreement_sign(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = access.get_or_404(request, Agreement, pk=pk)
    access.require(request, request.user, "supervise", agreement.order.person)
    form = f.SignForm(request.POST)
    if form.is_valid():
        try:
            services.agreement_sign(agreement=agreement, actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            messages.error(request, "; ".join(str(m) for ms in exc.errors.values() for m in ms))
        else:
            messages.success(request, _("Signature recorded. The person is now under the community term."))
    else:
        messages.error(request, _("Enter the day the agreement was signed."))
    return redirect("handover:agreement", pk=pk)


@login_required
@require_GET
def figures(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "view_figures")
    today = timezone.localdate()
    form = f.PeriodForm(request.GET or None)
    start = end = None
    if form.is_valid():
        start, end = form.cleaned_data.get("start"), form.cleaned_data.get("end")
    start, end = selectors.period_or_default(start, end, today)
    if start > end:
        start, end = end, start
    rows = selectors.figures(user=request.user, start=start, end=end, today=today)
    return render(request, "handover/figures.html", {"rows": rows, "form": form, "start": start, "end": end})
