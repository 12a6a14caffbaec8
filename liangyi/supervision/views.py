"""Pages of the supervision chain: the Supervision section of the one file and its recording
forms, the escalations page for the police, and the worklist's one-click recording."""

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
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from liangyi.core import access
from liangyi.core.errors import DomainError
from liangyi.obligations import selectors as obligation_selectors
from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import Person
from liangyi.supervision import forms as f
from liangyi.supervision import selectors, services
from liangyi.supervision.models import (
    Absence,
    CommunityOrder,
    EscalationState,
    LeaveRequest,
    OrderState,
    Result,
    Sample,
)


def _messages(exc: DomainError) -> str:
    return "; ".join(str(m) for ms in exc.errors.values() for m in ms)


def _file_url(person: Person) -> str:
    return reverse("people:detail", args=[person.pk]) + "?tab=supervision"


def _require_order(person: Person) -> CommunityOrder:
    order = selectors.order_current(person)
    if order is None:
        raise DomainError(_("This person has no community order running. Record the decision first."))
    return order


def _child(model: type, person: Person, pk: int | None) -> Any:
    found = model.objects.filter(pk=pk, order__person=person).first() if pk else None
    if found is None:
        raise Http404
    return found


@dataclass(frozen=True)
class Action:
    title: Any
    form: type[forms.Form]
    run: Callable[[HttpRequest, Person, dict[str, Any], int | None], Any]
    done: Any


def _decision(request, person, d, pk):
    return services.order_create(person=person, actor=request.user, **d)


def _report(request, person, d, pk):
    order = _require_order(person)
    pending = order.transfers.filter(reported_on=None).first()
    if order.state != OrderState.AWAITING_REPORT and pending is not None:
        return services.transfer_receive(transfer=pending, reported_on=d["reported_on"], actor=request.user)
    return services.report_receive(order=order, reported_on=d["reported_on"], actor=request.user)


def _test(request, person, d, pk):
    return services.test_record(order=_require_order(person), actor=request.user, collector=request.user, **d)


ACTIONS: dict[str, Action] = {
    "decision": Action(gettext_lazy("Record a community decision"), f.DecisionForm, _decision,
                       gettext_lazy("The decision is recorded; the report is now due.")),
    "report": Action(gettext_lazy("Record the report"), f.ReportForm, _report,
                     gettext_lazy("The report is recorded.")),
    "test": Action(gettext_lazy("Record a drug test"), f.TestForm, _test, gettext_lazy("The drug test is recorded.")),
    "contact": Action(gettext_lazy("Record a check or a home visit"), f.ContactForm,
                      lambda r, p, d, pk: services.contact_record(order=_require_order(p), actor=r.user, **d),
                      gettext_lazy("The contact is recorded.")),
    "leave": Action(gettext_lazy("Record a leave request"), f.LeaveForm,
                    lambda r, p, d, pk: services.leave_request(order=_require_order(p), actor=r.user, **d),
                    gettext_lazy("The leave request is recorded; approve it before the person leaves.")),
    "approve": Action(gettext_lazy("Approve the leave"), f.ApproveForm,
                      lambda r, p, d, pk: services.leave_approve(request=_child(LeaveRequest, p, pk), actor=r.user,
                                                                 **d),
                      gettext_lazy("The leave is approved.")),
    "absence": Action(gettext_lazy("Record an absence from the county"), f.AbsenceForm,
                      lambda r, p, d, pk: services.absence_record(order=_require_order(p), actor=r.user, **d),
                      gettext_lazy("The absence is recorded.")),
    "return": Action(gettext_lazy("Record the return"), f.ReturnForm,
                     lambda r, p, d, pk: services.absence_return(absence=_child(Absence, p, pk), actor=r.user, **d),
                     gettext_lazy("The return is recorded.")),
    "suspend": Action(gettext_lazy("Suspend the term"), f.SuspendForm,
                      lambda r, p, d, pk: services.order_suspend(order=_require_order(p), actor=r.user, **d),
                      gettext_lazy("The term is suspended.")),
    "resume": Action(gettext_lazy("Resume the term on release"), f.OnForm,
                     lambda r, p, d, pk: services.order_resume(order=_require_order(p), actor=r.user, **d),
                     gettext_lazy("The term runs again.")),
    "terminate": Action(gettext_lazy("Terminate the term"), f.TerminateForm,
                        lambda r, p, d, pk: services.order_terminate(order=_require_order(p), actor=r.user, **d),
                        gettext_lazy("The term is terminated.")),
    "complete": Action(gettext_lazy("Complete the term"), f.OnForm,
                       lambda r, p, d, pk: services.order_complete(order=_require_order(p), actor=r.user, **d),
                       gettext_lazy("The term is completed.")),
    "transfer": Action(gettext_lazy("Change the place of execution"), f.TransferForm,
                       lambda r, p, d, pk: services.order_transfer(order=_require_order(p), actor=r.user, **d),
                       gettext_lazy("The file is forwarded to the new township.")),
}

# Forms shown in the section, by the order's state.
FORMS_BY_STATE = {
    None: ("decision",),
    OrderState.AWAITING_REPORT: ("report",),
    OrderState.ACTIVE: ("test", "contact", "leave", "absence", "suspend", "transfer", "terminate", "complete"),
    OrderState.SUSPENDED: ("resume", "transfer", "terminate"),
}


def _initial(form_class: type[forms.Form]) -> dict[str, Any]:
    today = timezone.localdate()
    return {name: today for name, field in form_class.base_fields.items()
            if isinstance(field, forms.DateField) and field.required}


def section_context(request: HttpRequest, person: Person) -> dict[str, Any]:
    """The Supervision tab: orders, term, tests, violations, escalations, the clock, and the forms."""
    user = request.user
    today = timezone.localdate()
    orders = list(selectors.orders_of(user=user, person=person))
    current = next((o for o in orders if o.is_running), None)
    may = access.can(user, "supervise", person)
    pending_transfer = next((t for t in current.transfers.all() if t.reported_on is None), None) if current else None
    keys = FORMS_BY_STATE.get(current.state if current else None, ())
    if pending_transfer is not None and "report" not in keys:
        keys = ("report", *keys)
    clock = selectors.abstinence_clock(person)
    return {
        "sv_orders": orders,
        "sv_current": current,
        "sv_past": [o for o in orders if not o.is_running],
        "sv_pending_transfer": pending_transfer,
        "sv_tests": person.drug_tests.select_related("collector").all()[:50],
        "sv_violations": [v for o in orders for v in o.violations.all()],
        "sv_escalations": selectors.escalations_of(user=user, person=person),
        "sv_contacts": person.supervision_contacts.select_related("recorded_by").all()[:30],
        "sv_leaves": current.leave_requests.all() if current else [],
        "sv_absences": current.absences.all() if current else [],
        "sv_clock": clock,
        "sv_clock_days_left": clock.days_left(today) if clock else None,
        "sv_today": today,
        "sv_may": may,
        # Several forms share field names (on, notes, reason): each gets its own ids, so that every
        # label points at its own field.
        "sv_forms": [(key, ACTIONS[key].title, ACTIONS[key].form(initial=_initial(ACTIONS[key].form),
                                                                 auto_id=f"id_{key}_%s"))
                     for key in keys] if may else [],
        "sv_approve_form": f.ApproveForm(initial={"approved_on": today}),
        "sv_return_form": f.ReturnForm(initial={"returned_on": today}),
    }


@login_required
@require_http_methods(["GET", "POST"])
def record(request: HttpRequest, person_id: UUID, action: str, pk: int | None = None) -> HttpResponse:
    """One recording form: POST records and goes back to the file; errors keep what was typed."""
    person = access.get_or_404(request, Person, pk=person_id)
    spec = ACTIONS.get(action)
    if spec is None:
        raise Http404
    access.require(request, request.user, "supervise", person)
    form = spec.form(request.POST or None, initial=_initial(spec.form))
    if request.method == "POST" and form.is_valid():
        try:
            spec.run(request, person, dict(form.cleaned_data), pk)
        except DomainError as exc:
            exc.add_to(form)
        else:
            messages.success(request, str(spec.done))
            return redirect(_file_url(person))
    from liangyi.people.views import _file_context

    status = 400 if request.method == "POST" else 200
    return render(request, "supervision/form.html", {**_file_context(request, person), "form": form,
                                                     "title": spec.title, "cancel": _file_url(person)},
                  status=status)


@login_required
@require_GET
def escalations_page(request: HttpRequest) -> HttpResponse:
    """Cases for the police: open ones first, oldest first; the police record their decision here."""
    access.require(request, request.user, "view_persons")
    state = request.GET.get("state") or EscalationState.OPEN
    if state not in EscalationState.values:
        state = EscalationState.OPEN
    items = selectors.escalations_in_reach(user=request.user, state=state)[:300]
    return render(request, "supervision/escalations.html", {
        "items": items, "state": state, "states": EscalationState.choices,
        "may_decide": access.has_action(request.user, "decide_escalation"),
        "form": f.DecideForm(initial={"decided_on": timezone.localdate()}),
    })


@login_required
@require_POST
def escalation_decide(request: HttpRequest, pk: int) -> HttpResponse:
    from liangyi.supervision.models import Escalation

    escalation = access.get_or_404(request, Escalation, pk=pk)
    access.require(request, request.user, "decide_escalation", escalation.person)
    form = f.DecideForm(request.POST)
    if form.is_valid():
        try:
            services.escalation_decide(escalation=escalation, actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            messages.error(request, _messages(exc))
        else:
            messages.success(request, _("The decision is recorded."))
    else:
        messages.error(request, "; ".join(m for ms in form.errors.values() for m in ms))
    return redirect(reverse("supervision:escalations"))


@login_required
@require_POST
def worklist_record(request: HttpRequest, obligation_id: int) -> HttpResponse:
    """One click on a worklist row: a negative urine test, or a check or visit done today (htmx)."""
    obligation = access.get_or_404(request, Obligation, pk=obligation_id)
    person = obligation.person
    access.require(request, request.user, "supervise", person)
    today = timezone.localdate()
    error = ""
    try:
        order = _require_order(person)
        if obligation.kind == Kind.DRUG_TEST:
            result = request.POST.get("result") or Result.NEGATIVE
            services.test_record(order=order, tested_on=today, result=result,
                                 sample=Sample.URINE if result in (Result.NEGATIVE, Result.POSITIVE) else "",
                                 method="onsite", collector=request.user, actor=request.user,
                                 obligation=obligation)
        elif obligation.kind in (Kind.CHECK_IN, Kind.HOME_VISIT, Kind.PLAN_REVIEW):
            services.contact_record(order=order, kind=obligation.kind, on=today, actor=request.user,
                                    obligation=obligation)
        else:
            raise DomainError(_("Record this on the person's file."))
    except DomainError as exc:
        error = _messages(exc)
    obligation = obligation_selectors.with_state(Obligation.objects.filter(pk=obligation.pk), today).select_related(
        "person", "office", "worker").get()
    return render(request, "obligations/_row.html", {"o": obligation, "error": error, "today": today},
                  status=400 if error else 200)
