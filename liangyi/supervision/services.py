"""Writes of the supervision chain: one transaction per business action, audited, on the timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import access, audit, periods
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import Jurisdiction, Role, User
from liangyi.obligations import engine
from liangyi.obligations.models import Obligation
from liangyi.obligations.schedules import township_code
from liangyi.people.models import Measure, Person, Status
from liangyi.people.services import timeline_add
from liangyi.supervision import plans, violations
from liangyi.supervision.models import (
    Absence,
    CommunityOrder,
    Contact,
    ContactKind,
    DrugTest,
    EndReason,
    Escalation,
    EscalationReason,
    EscalationState,
    LeaveRequest,
    Method,
    OrderKind,
    OrderState,
    OrderTransfer,
    PoliceDecision,
    Result,
    Sample,
    Suspension,
    SuspensionReason,
)

GROUP = "drug_history"


def _today() -> date:
    return timezone.localdate()


def _check_may_supervise(actor: User, person: Person) -> None:
    if not (access.can(actor, "supervise", person) and access.sees(actor, GROUP)):
        raise DomainError(_("Your role may not record supervision of this person."))


def _not_future(field: str, day: date) -> None:
    if day > _today():
        raise DomainError(errors={field: [_("The date lies in the future. Enter the day it happened.")]})


def _not_before(field: str, day: date, earliest: date | None, message: str) -> None:
    if earliest is not None and day < earliest:
        raise DomainError(errors={field: [message]})


def _choice(field: str, value: str, choices: type, *, required: bool = True) -> None:
    if (value or required) and value not in choices.values:
        raise DomainError(errors={field: [_("Choose one of: %(values)s.") % {"values": ", ".join(choices.values)}]})


def _lock(order: CommunityOrder) -> CommunityOrder:
    return CommunityOrder.objects.select_for_update().select_related("person").get(pk=order.pk)


def _set_status(person: Person, status: str, *, actor: User | None, order: CommunityOrder) -> None:
    """Move the person's status with the order; a direct write, audited, that bumps the version."""
    old = person.status
    if old == status:
        return
    Person.objects.filter(pk=person.pk).update(status=status, version=F("version") + 1, updated_at=timezone.now())
    person.status, person.version = status, person.version + 1
    audit.record(actor, "person.status_changed", person, old=old, new=status, order=order.pk)
    timeline_add(person=person, kind="person.status_changed", actor=actor, ref=order,
                 summary=_("Status: %(status)s") % {"status": person.get_status_display()})


def _sync(order: CommunityOrder, actor: User | None) -> None:
    """Re-plan the person's obligations, the order's whole term at once (a few dozen rows at most).
    Every source, not only the order's: a report, a suspension or an end also decides the
    reassessments and the insurance renewals, and the nightly run does not re-plan what is already
    in view (``obligations.nightly``)."""
    horizon = _today() + timedelta(days=engine.DEFAULT_HORIZON_DAYS)
    if order.term_ends_on and order.term_ends_on > horizon:
        horizon = order.term_ends_on
    engine.sync(order.person, horizon=horizon, actor=actor)


def report_deadline_for(received_on: date) -> tuple[date, str]:
    """The last day to report, and a note when the holiday calendar could not settle it.

    A year without a confirmed holiday notice must not block the decision: the deadline falls back
    to plain calendar days, and the note says it still has to be checked.
    """
    try:
        return periods.report_deadline(received_on), ""
    except periods.YearNotCovered as exc:
        days = int(core_rules.current().value("report_deadline_days"))
        return received_on + timedelta(days=days), str(exc)


def _term_months(kind: str, term_months: int | None) -> int:
    ruleset = core_rules.current()
    if kind == OrderKind.COMMUNITY_DRUG_REHAB:
        fixed = 12 * int(ruleset.value("community_drug_rehab_term_years"))
        if term_months not in (None, fixed):
            raise DomainError(errors={"term_months": [
                _("Community drug rehab lasts %(months)s months by law; leave the term empty.") % {"months": fixed}]})
        return fixed
    most = 12 * int(ruleset.value("community_rehab_max_term_years"))
    if term_months is None:
        return most
    if not 1 <= term_months <= most:
        raise DomainError(errors={"term_months": [
            _("Enter the term set in the decision: 1 to %(months)s months.") % {"months": most}]})
    return term_months


@transaction.atomic
def order_create(
    *, person: Person, kind: str, decided_on: date, received_on: date, actor: User, term_months: int | None = None,
    authority: str = "", worker: User | None = None,
) -> CommunityOrder:
    """Record a decision ordering a community measure; opens the report obligation."""
    _check_may_supervise(actor, person)
    _choice("kind", kind, OrderKind)
    _not_future("received_on", received_on)
    _not_before("received_on", received_on, decided_on, _("The decision cannot be received before it was made."))
    months = _term_months(kind, term_months)
    Person.objects.select_for_update().filter(pk=person.pk).values_list("pk", flat=True).first()
    if CommunityOrder.objects.filter(person=person, state__in=[OrderState.AWAITING_REPORT, OrderState.ACTIVE,
                                                                OrderState.SUSPENDED]).exists():
        raise DomainError(_("This person already has a community order running. End it before recording a new one."))
    deadline, note = report_deadline_for(received_on)
    ruleset = core_rules.current()
    order = CommunityOrder.objects.create(
        person=person, kind=kind, decided_on=decided_on, received_on=received_on, report_deadline=deadline,
        report_deadline_unconfirmed=bool(note), report_deadline_note=note[:300], term_months=months,
        office=Jurisdiction.objects.get(pk=township_code(person.jurisdiction_id)),
        worker=worker or person.responsible_worker, authority=authority.strip(), ruleset_version=ruleset.version,
    )
    audit.record(actor, "order.created", order, person_id=person.pk, kind=kind, received_on=received_on,
                 report_deadline=deadline, deadline_unconfirmed=bool(note), term_months=months)
    timeline_add(person=person, kind="order.created", actor=actor, ref=order, group=GROUP,
                 summary=_("%(kind)s ordered; report by %(deadline)s") % {
                     "kind": order.get_kind_display(), "deadline": f"{deadline:%Y-%m-%d}"})
    _set_status(person, Status.AWAITING_REPORT, actor=actor, order=order)
    _sync(order, actor)
    return order


@transaction.atomic
def report_receive(*, order: CommunityOrder, reported_on: date, actor: User) -> CommunityOrder:
    """Record the person's first report; starts the term and its obligations."""
    order = _lock(order)
    _check_may_supervise(actor, order.person)
    if order.state != OrderState.AWAITING_REPORT:
        raise DomainError(_("This person has already reported."))
    _not_future("reported_on", reported_on)
    _not_before("reported_on", reported_on, order.received_on,
                _("The report cannot come before the decision was received."))
    order.reported_on = reported_on
    order.term_ends_on = periods.term_end(reported_on, months=order.term_months)
    order.state = OrderState.ACTIVE
    order.measure = Measure.objects.create(person=order.person, kind=order.kind, start_on=reported_on,
                                           end_on=order.term_ends_on, authority=order.authority)
    order.save(update_fields=["reported_on", "term_ends_on", "state", "measure", "updated_at"])
    late = reported_on > order.report_deadline
    audit.record(actor, "order.report_received", order, person_id=order.person_id, reported_on=reported_on,
                 term_ends_on=order.term_ends_on, late=late)
    timeline_add(person=order.person, kind="order.report_received", actor=actor, ref=order, group=GROUP,
                 summary=_("Reported on %(on)s; the term runs until %(end)s") % {
                     "on": f"{reported_on:%Y-%m-%d}", "end": f"{order.term_ends_on:%Y-%m-%d}"})
    _set_status(order.person, order.kind, actor=actor, order=order)
    report = Obligation.objects.filter(person=order.person, source=plans.SOURCE, key=f"report:{order.pk}",
                                       done_at=None).first()
    if report is not None:
        engine.fulfil(report, by=order, on=reported_on, actor=actor)
    _sync(order, actor)
    return order


def _check_active(order: CommunityOrder, field: str, day: date) -> None:
    if order.state != OrderState.ACTIVE:
        raise DomainError(_("The term is not running (%(state)s): nothing can be recorded on it now.")
                          % {"state": order.get_state_display()})
    _not_future(field, day)
    _not_before(field, day, order.reported_on, _("The date is before the person reported."))


@transaction.atomic
def test_record(
    *, order: CommunityOrder, tested_on: date, result: str, actor: User, sample: str = "", method: str = "",
    substances: Sequence[str] = (), random: bool = False, collector: User | None = None,
    second_collector: User | None = None, collector_names: str = "", notes: str = "",
    obligation: Obligation | None = None,
) -> DrugTest:
    """Record a drug test: it meets the test obligation due, and a refusal, evasion or positive
    result becomes a violation (a positive one a relapse case for the police)."""
    order = _lock(order)
    _check_may_supervise(actor, order.person)
    _check_active(order, "tested_on", tested_on)
    _choice("result", result, Result)
    _choice("sample", sample, Sample, required=result in (Result.NEGATIVE, Result.POSITIVE))
    _choice("method", method, Method, required=False)
    if result != Result.POSITIVE and substances:
        raise DomainError(errors={"substances": [_("Only a positive test names substances.")]})
    test = DrugTest.objects.create(
        order=order, person=order.person, tested_on=tested_on, sample=sample, method=method, result=result,
        substances=[s.strip() for s in substances if s.strip()], random=random, collector=collector,
        second_collector=second_collector, collector_names=collector_names.strip(), notes=notes.strip(),
        recorded_by=actor,
    )
    audit.record(actor, "drug_test.recorded", test, person_id=order.person_id, tested_on=tested_on, result=result,
                 random=random)
    timeline_add(person=order.person, kind="drug_test.recorded", actor=actor, ref=test, group=GROUP,
                 summary=_("Drug test on %(on)s: %(result)s") % {
                     "on": f"{tested_on:%Y-%m-%d}", "result": test.get_result_display()})
    # A refused or evaded test was not taken: its obligation stays open (and overdue) for a retest.
    if result in (Result.NEGATIVE, Result.POSITIVE):
        _fulfil(order, "drug_test", tested_on, test, actor, obligation)
    violations.derive(order=order, ruleset=core_rules.current(), on=tested_on, actor=actor)
    return test


@transaction.atomic
def leave_request(*, order: CommunityOrder, from_on: date, to_on: date, destination: str,
                  actor: User) -> LeaveRequest:
    """The written report before leaving the county (Reg 19)."""
    order = _lock(order)
    _check_may_supervise(actor, order.person)
    if not order.is_running:
        raise DomainError(_("The term is not running: no leave is needed."))
    _not_before("to_on", to_on, from_on, _("The return date is before the leaving date."))
    if not destination.strip():
        raise DomainError(errors={"destination": [_("Say where the person is going.")]})
    request = LeaveRequest.objects.create(order=order, from_on=from_on, to_on=to_on,
                                          destination=destination.strip())
    audit.record(actor, "leave.requested", request, person_id=order.person_id, from_on=from_on, to_on=to_on)
    timeline_add(person=order.person, kind="leave.requested", actor=actor, ref=request,
                 summary=_("Leave requested %(from)s to %(to)s") % {
                     "from": f"{from_on:%Y-%m-%d}", "to": f"{to_on:%Y-%m-%d}"})
    return request


@transaction.atomic
def leave_approve(*, request: LeaveRequest, actor: User, approved_on: date | None = None) -> LeaveRequest:
    """Approve a leave request; only an approval given before leaving makes the absence authorised."""
    request = LeaveRequest.objects.select_for_update().select_related("order__person").get(pk=request.pk)
    _check_may_supervise(actor, request.order.person)
    if request.approved_on:
        raise DomainError(_("This leave is already approved."))
    approved_on = approved_on or _today()
    _not_future("approved_on", approved_on)
    request.approved_on, request.approved_by = approved_on, actor
    request.save(update_fields=["approved_on", "approved_by"])
    audit.record(actor, "leave.approved", request, person_id=request.order.person_id, approved_on=approved_on)
    timeline_add(person=request.order.person, kind="leave.approved", actor=actor, ref=request,
                 summary=_("Leave %(from)s to %(to)s approved") % {
                     "from": f"{request.from_on:%Y-%m-%d}", "to": f"{request.to_on:%Y-%m-%d}"})
    return request


def _judge(absence: Absence, on: date) -> None:
    """Authorised when short enough to need no report, or covered by a leave approved beforehand."""
    ruleset = core_rules.current()
    absence.leave_request = None
    if not violations.needs_leave_request(absence.days(on), ruleset):
        absence.authorised = True
        return
    for request in absence.order.leave_requests.exclude(approved_on=None):
        if request.covers(absence.left_on, absence.returned_on or min(on, request.to_on)):
            absence.authorised, absence.leave_request = True, request
            return
    absence.authorised = False


@transaction.atomic
def absence_record(*, order: CommunityOrder, left_on: date, actor: User, returned_on: date | None = None,
                   destination: str = "") -> Absence:
    """Record that the person left the county (and came back, when known); judged at once."""
    order = _lock(order)
    _check_may_supervise(actor, order.person)
    _check_active(order, "left_on", left_on)
    if returned_on is not None:
        _not_future("returned_on", returned_on)
        _not_before("returned_on", returned_on, left_on, _("The return date is before the leaving date."))
    absence = Absence(order=order, left_on=left_on, returned_on=returned_on, destination=destination.strip(),
                      recorded_by=actor)
    _judge(absence, _today())
    absence.save()
    _absence_logged(absence, actor, "absence.recorded")
    violations.derive(order=order, ruleset=core_rules.current(), on=returned_on or _today(), actor=actor)
    return absence


@transaction.atomic
def absence_return(*, absence: Absence, returned_on: date, actor: User) -> Absence:
    """Close an open absence; it is judged again on its full length."""
    absence = Absence.objects.select_for_update().select_related("order__person").get(pk=absence.pk)
    _check_may_supervise(actor, absence.order.person)
    if absence.returned_on is not None:
        raise DomainError(_("This absence is already closed."))
    _not_future("returned_on", returned_on)
    _not_before("returned_on", returned_on, absence.left_on, _("The return date is before the leaving date."))
    absence.returned_on = returned_on
    _judge(absence, returned_on)
    absence.save(update_fields=["returned_on", "authorised", "leave_request"])
    _absence_logged(absence, actor, "absence.returned")
    violations.derive(order=absence.order, ruleset=core_rules.current(), on=returned_on, actor=actor)
    return absence


def _absence_logged(absence: Absence, actor: User, action: str) -> None:
    person = absence.order.person
    audit.record(actor, action, absence, person_id=person.pk, left_on=absence.left_on,
                 returned_on=absence.returned_on, authorised=absence.authorised)
    summary = (_("Away from the county since %(from)s, authorised") if absence.authorised
               else _("Away from the county since %(from)s, without permission"))
    timeline_add(person=person, kind=action, actor=actor, ref=absence, group=GROUP,
                 summary=summary % {"from": f"{absence.left_on:%Y-%m-%d}"})


@transaction.atomic
def order_suspend(*, order: CommunityOrder, start: date, reason: str, actor: User, notes: str = "") -> Suspension:
    """Stop the term while the person is detained or arrested (Reg 24)."""
    order = _lock(order)
    _check_may_supervise(actor, order.person)
    _check_active(order, "start", start)
    _choice("reason", reason, SuspensionReason)
    if order.suspensions.filter(end__gt=start).exists():
        raise DomainError(errors={"start": [_("The term was already suspended on that day.")]})
    suspension = Suspension.objects.create(order=order, start=start, reason=reason, notes=notes.strip())
    order.state = OrderState.SUSPENDED
    order.save(update_fields=["state", "updated_at"])
    audit.record(actor, "order.suspended", order, person_id=order.person_id, start=start, reason=reason)
    timeline_add(person=order.person, kind="order.suspended", actor=actor, ref=suspension, group=GROUP,
                 summary=_("Term suspended from %(on)s: %(reason)s") % {
                     "on": f"{start:%Y-%m-%d}", "reason": suspension.get_reason_display()})
    _set_status(order.person, Status.SUSPENDED, actor=actor, order=order)
    _sync(order, actor)
    return suspension


@transaction.atomic
def order_resume(*, order: CommunityOrder, on: date, actor: User) -> CommunityOrder:
    """The person is released: the term runs again and ends later by the suspension's length."""
    order = _lock(order)
    _check_may_supervise(actor, order.person)
    suspension = order.suspensions.filter(end=None).first()
    if order.state != OrderState.SUSPENDED or suspension is None:
        raise DomainError(_("The term is not suspended."))
    _not_future("on", on)
    _not_before("on", on, suspension.start, _("The release cannot come before the suspension began."))
    suspension.end = on
    suspension.save(update_fields=["end"])
    order.term_ends_on = plans.term_end(order)
    order.state = OrderState.ACTIVE
    order.save(update_fields=["term_ends_on", "state", "updated_at"])
    if order.measure_id:
        Measure.objects.filter(pk=order.measure_id).update(end_on=order.term_ends_on)
    audit.record(actor, "order.resumed", order, person_id=order.person_id, on=on, days=suspension.days,
                 term_ends_on=order.term_ends_on)
    timeline_add(person=order.person, kind="order.resumed", actor=actor, ref=suspension, group=GROUP,
                 summary=_("Term resumed on %(on)s; it now runs until %(end)s") % {
                     "on": f"{on:%Y-%m-%d}", "end": f"{order.term_ends_on:%Y-%m-%d}"})
    _set_status(order.person, order.kind, actor=actor, order=order)
    _sync(order, actor)
    return order


@transaction.atomic
def order_complete(*, order: CommunityOrder, on: date, actor: User | None) -> CommunityOrder:
    """Close the order at the end of its term."""
    order = _lock(order)
    if actor is not None:  # None: the daily job (supervision.complete_terms), the system itself
        _check_may_supervise(actor, order.person)
    if order.state != OrderState.ACTIVE:
        raise DomainError(_("Only a running, unsuspended term can be completed."))
    _not_future("on", on)
    assert order.term_ends_on is not None
    if on < order.term_ends_on:
        raise DomainError(errors={"on": [_("The term runs until %(end)s; it cannot be completed before.")
                                         % {"end": f"{order.term_ends_on:%Y-%m-%d}"}]})
    order.state, order.ended_on = OrderState.COMPLETED, on
    order.save(update_fields=["state", "ended_on", "updated_at"])
    audit.record(actor, "order.completed", order, person_id=order.person_id, on=on)
    timeline_add(person=order.person, kind="order.completed", actor=actor, ref=order, group=GROUP,
                 summary=_("Term completed on %(on)s") % {"on": f"{on:%Y-%m-%d}"})
    _set_status(order.person, Status.COMPLETED, actor=actor, order=order)
    _sync(order, actor)
    return order


@transaction.atomic
def escalation_decide(*, escalation: Escalation, decision: str, decided_on: date, actor: User,
                      notes: str = "") -> Escalation:
    """The police record what they decided on a case (Reg 21; Law 38)."""
    escalation = Escalation.objects.select_for_update().select_related("person").get(pk=escalation.pk)
    if actor.role != Role.POLICE or not access.can(actor, "view_persons", escalation.person):
        raise DomainError(_("Only the police in charge of this person record a decision."))
    if escalation.state != EscalationState.OPEN:
        raise DomainError(_("This case is already decided."))
    _choice("decision", decision, PoliceDecision)
    _not_future("decided_on", decided_on)
    _not_before("decided_on", decided_on, escalation.opened_on, _("The decision cannot come before the case."))
    escalation.state, escalation.decision, escalation.decided_on = EscalationState.DECIDED, decision, decided_on
    escalation.decided_by, escalation.decision_notes = actor, notes.strip()[:500]
    escalation.save(update_fields=["state", "decision", "decided_on", "decided_by", "decision_notes"])
    audit.record(actor, "escalation.decided", escalation, person_id=escalation.person_id, decision=decision,
                 decided_on=decided_on)
    timeline_add(person=escalation.person, kind="escalation.decided", actor=actor, ref=escalation, group=GROUP,
                 summary=_("Police decision on %(reason)s: %(decision)s") % {
                     "reason": escalation.get_reason_display(), "decision": escalation.get_decision_display()})
    return escalation


END_STATUS = {EndReason.PRISON_SENTENCE: Status.IMPRISONED, EndReason.DEATH: Status.DECEASED}


@transaction.atomic
def order_terminate(*, order: CommunityOrder, on: date, reason: str, actor: User, notes: str = "") -> CommunityOrder:
    """End the term early: a prison sentence or a compulsory educational measure (Reg 24), or death.

    Obligations that would open after ``on`` are no longer planned; done ones stay as history.
    """
    order = _lock(order)
    _check_may_supervise(actor, order.person)
    if not order.is_running:
        raise DomainError(_("The term is not running: it cannot be terminated."))
    _choice("reason", reason, EndReason)
    _not_future("on", on)
    _not_before("on", on, order.received_on, _("The term cannot end before the decision was received."))
    open_suspension = order.suspensions.filter(end=None).first()
    if open_suspension is not None:
        # Detention or arrest runs into the sentence: the suspension closes on the day the term ends.
        open_suspension.end = max(on, open_suspension.start)
        open_suspension.save(update_fields=["end"])
    order.state, order.ended_on, order.end_reason = OrderState.TERMINATED, on, reason
    order.save(update_fields=["state", "ended_on", "end_reason", "updated_at"])
    if order.measure_id:
        Measure.objects.filter(pk=order.measure_id).update(end_on=on)
    audit.record(actor, "order.terminated", order, person_id=order.person_id, on=on, reason=reason,
                 notes=notes.strip()[:300])
    timeline_add(person=order.person, kind="order.terminated", actor=actor, ref=order, group=GROUP,
                 summary=_("Term terminated on %(on)s: %(reason)s") % {
                     "on": f"{on:%Y-%m-%d}", "reason": order.get_end_reason_display()})
    if reason in END_STATUS:
        _set_status(order.person, END_STATUS[reason], actor=actor, order=order)
    _sync(order, actor)
    return order


def _township(code: str, field: str) -> Jurisdiction:
    place = Jurisdiction.objects.filter(code=township_code(code or "")).first()
    if place is None or len(place.code) != 9:
        raise DomainError(errors={field: [_("Enter the code of a township or street (9 digits).")]})
    return place


@transaction.atomic
def order_transfer(*, order: CommunityOrder, to_township: Jurisdiction | str, on: date, actor: User,
                   reason: str = "") -> OrderTransfer:
    """Change of execution place (变更执行地, Reg 22): forward the file to the new township.

    The term runs on with its dates; the person must report to the new township within
    ``transfer_report_deadline_days``; open obligations move to the new office.
    """
    order = _lock(order)
    _check_may_supervise(actor, order.person)
    if order.state not in (OrderState.ACTIVE, OrderState.SUSPENDED):
        raise DomainError(_("Only a running term can move to another township."))
    target = _township(to_township.code if isinstance(to_township, Jurisdiction) else str(to_township),
                       "to_township")
    if target.pk == order.office_id:
        raise DomainError(errors={"to_township": [_("The person is already supervised by this township.")]})
    _not_future("on", on)
    _not_before("on", on, order.reported_on, _("The date is before the person reported."))
    if order.transfers.filter(reported_on=None).exists():
        raise DomainError(_("A transfer is still waiting for the person to report to the new township."))
    days = int(core_rules.current().value("transfer_report_deadline_days"))
    transfer = OrderTransfer.objects.create(order=order, on=on, from_office_id=order.office_id, to_office=target,
                                            report_by=on + timedelta(days=days), reason=reason.strip()[:300],
                                            created_by=actor)
    person = order.person
    moves: dict[str, Any] = {}
    if not person.jurisdiction_id.startswith(target.code):
        # The file follows the person: their residence is now in the new township.
        moves["residence_jurisdiction"] = target.code
    worker = person.responsible_worker
    if worker is not None and not (worker.jurisdiction_id or "").startswith(target.code):
        # The old township's worker is no longer responsible; the new township's worker who receives
        # the person takes over (transfer_receive).
        moves["responsible_worker"] = None
    if moves:
        # People's own service, which checks the actor's reach over the new place and audits.
        from liangyi.people.services import person_update

        person_update(actor=actor, person=person, data=moves, via="transfer")
    order.office, order.worker = target, None
    order.save(update_fields=["office", "worker", "updated_at"])
    # Reg 22: a new agreement is signed at the new place (the handover app owns agreements).
    from liangyi.handover.services import agreement_prepare  # an upward import, listed in pyproject.toml

    agreement_prepare(order=order, actor=actor, reason="transfer")
    audit.record(actor, "order.transferred", order, person_id=person.pk, on=on, from_office=transfer.from_office_id,
                 to_office=target.code, report_by=transfer.report_by)
    timeline_add(person=person, kind="order.transferred", actor=actor, ref=transfer, group=GROUP,
                 summary=_("File forwarded to %(to)s on %(on)s; report there by %(by)s") % {
                     "to": target.name, "on": f"{on:%Y-%m-%d}", "by": f"{transfer.report_by:%Y-%m-%d}"})
    _sync(order, actor)
    return transfer


@transaction.atomic
def transfer_receive(*, transfer: OrderTransfer, reported_on: date, actor: User) -> OrderTransfer:
    """The person reported to the new township after a change of execution place."""
    transfer = OrderTransfer.objects.select_for_update().select_related("order__person").get(pk=transfer.pk)
    _check_may_supervise(actor, transfer.order.person)
    if transfer.reported_on is not None:
        raise DomainError(_("The person has already reported to the new township."))
    _not_future("reported_on", reported_on)
    _not_before("reported_on", reported_on, transfer.on, _("The report cannot come before the file was forwarded."))
    transfer.reported_on = reported_on
    transfer.save(update_fields=["reported_on"])
    order = transfer.order
    if order.worker_id is None and actor.role in (Role.COMMUNITY_WORKER, Role.SOCIAL_WORKER):
        CommunityOrder.objects.filter(pk=order.pk).update(worker=actor)
        order.worker = actor
        if order.person.responsible_worker_id is None:
            from liangyi.people.services import person_update

            person_update(actor=actor, person=order.person, data={"responsible_worker": actor}, via="transfer")
    audit.record(actor, "order.transfer_received", transfer, person_id=order.person_id, reported_on=reported_on,
                 late=reported_on > transfer.report_by)
    timeline_add(person=order.person, kind="order.transfer_received", actor=actor, ref=transfer, group=GROUP,
                 summary=_("Reported to %(to)s on %(on)s") % {
                     "to": transfer.to_office.name, "on": f"{reported_on:%Y-%m-%d}"})
    report = Obligation.objects.filter(person=order.person, source=plans.SOURCE, key=f"transfer_report:{transfer.pk}",
                                       done_at=None).first()
    if report is not None:
        engine.fulfil(report, by=transfer, on=reported_on, actor=actor)
    _sync(order, actor)
    return transfer


@transaction.atomic
def contact_record(*, order: CommunityOrder, kind: str, on: date, actor: User, notes: str = "",
                   obligation: Obligation | None = None) -> Contact:
    """A face-to-face check or a home visit; it meets the obligation of its kind due."""
    order = _lock(order)
    _check_may_supervise(actor, order.person)
    _choice("kind", kind, ContactKind)
    _check_active(order, "on", on)
    contact = Contact.objects.create(order=order, person=order.person, kind=kind, on=on, notes=notes.strip()[:1000],
                                     recorded_by=actor)
    audit.record(actor, f"{kind}.recorded", contact, person_id=order.person_id, on=on)
    timeline_add(person=order.person, kind=f"{kind}.recorded", actor=actor, ref=contact,
                 summary=_("%(kind)s on %(on)s") % {"kind": contact.get_kind_display(), "on": f"{on:%Y-%m-%d}"})
    _fulfil(order, kind, on, contact, actor, obligation)
    return contact


def _fulfil(order: CommunityOrder, kind: str, on: date, by: object, actor: User,
            obligation: Obligation | None) -> None:
    """Meet the obligation named (a worklist row clicked), else the one the record matches."""
    if (obligation is not None and obligation.person_id == order.person_id and obligation.kind == kind
            and obligation.is_open):
        engine.fulfil(obligation, by=by, on=on, actor=actor)
    else:
        engine.fulfil_matching(order.person, kind, on, by, actor)


CONSEQUENCE_RULE = {
    OrderKind.COMMUNITY_DRUG_REHAB: "missed_report_consequence_community_drug_rehab",
    OrderKind.COMMUNITY_REHAB: "missed_report_consequence_community_rehab",
}


@transaction.atomic
def report_missed(*, order: CommunityOrder, today: date, actor: User | None = None) -> Escalation | None:
    """The report deadline passed without a report: flag the order, record the rule set's
    consequence, and open a case for the police. Idempotent; returns the case when newly opened."""
    order = _lock(order)
    if order.state != OrderState.AWAITING_REPORT or order.report_deadline >= today:
        return None
    if order.report_overdue_since is not None:
        return None
    ruleset = core_rules.current()
    overdue_since = order.report_deadline + timedelta(days=1)
    order.report_overdue_since = overdue_since
    order.save(update_fields=["report_overdue_since", "updated_at"])
    rule = ruleset.rule(CONSEQUENCE_RULE[order.kind])
    consequence = {"rule": CONSEQUENCE_RULE[order.kind], "value": rule.value, "source": rule.source,
                   "ruleset_version": ruleset.version}
    audit.record(actor, "order.report_missed", order, person_id=order.person_id, deadline=order.report_deadline,
                 consequence=consequence["value"])
    timeline_add(person=order.person, kind="order.report_missed", actor=actor, ref=order, group=GROUP,
                 summary=_("No report by %(deadline)s: %(consequence)s (%(source)s)") % {
                     "deadline": f"{order.report_deadline:%Y-%m-%d}", "consequence": consequence_label(rule.value),
                     "source": rule.source.split(":")[0]})
    escalation, created = violations.escalation_open(
        order=order, reason=EscalationReason.MISSED_REPORT, on=today, actor=actor,
        evidence={"report_deadline": f"{order.report_deadline:%Y-%m-%d}", "consequence": consequence,
                  "office": order.office_id})
    return escalation if created else None


def consequence_label(value: str) -> str:
    return {
        "deemed_refusal": _("deemed refusal of community drug rehab"),
        "refusal_of_community_rehab": _("refusal of community rehab"),
    }.get(value, value)


@transaction.atomic
def abstinence_reached(*, order: CommunityOrder, on: date) -> bool:
    """A completed person whose three-years-without-relapse clock has run out leaves dynamic control
    (Reg 7): their status becomes ``abstinent_3y``. The system's step; idempotent."""
    from liangyi.supervision.selectors import abstinence_clock

    person = Person.objects.select_for_update().get(pk=order.person_id)
    clock = abstinence_clock(person)
    if person.status != Status.COMPLETED or clock is None or not clock.reached(on):
        return False
    audit.record(None, "person.abstinence_reached", person, starts_on=clock.starts_on, reaches_on=clock.reaches_on,
                 basis=clock.basis)
    _set_status(person, Status.ABSTINENT_3Y, actor=None, order=order)
    return True
