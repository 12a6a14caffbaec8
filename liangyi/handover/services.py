"""Writes of the facility side and the handover: one transaction per business action, audited,
on the person's timeline. Community decisions and reports go through the supervision services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from string import Template
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import access, audit, periods
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import Jurisdiction, User
from liangyi.handover import assessment as rules_assessment
from liangyi.handover.models import (
    Agreement,
    AgreementReason,
    AssessmentPoint,
    CollectorKind,
    DiagnosticAssessment,
    EventKind,
    Handover,
    IsolationStay,
    Outcome,
    ReleaseKind,
    StayEvent,
    StayState,
)
from liangyi.obligations.schedules import township_code
from liangyi.people.models import Measure, MeasureKind, Person, Status
from liangyi.people.services import timeline_add
from liangyi.supervision import services as supervision
from liangyi.supervision.models import CommunityOrder, OrderKind

GROUP = "drug_history"
AGREEMENT_TEMPLATE = core_rules.RULES_DIR / "agreement_zh.txt"


def _today() -> date:
    return timezone.localdate()


def _check_facility(actor: User, person: Person) -> None:
    if not (access.can(actor, "record_isolation", person) and access.sees(actor, GROUP)):
        raise DomainError(_("Your role may not record compulsory isolation for this person."))


def _check_receiver(actor: User, person: Person) -> None:
    if not access.can(actor, "receive_handover", person):
        raise DomainError(_("Your role may not receive handovers for this person."))


def _not_future(field: str, day: date) -> None:
    if day > _today():
        raise DomainError(errors={field: [_("The date lies in the future. Enter the day it happened.")]})


def _set_status(person: Person, status: str, *, actor: User | None, ref: Any) -> None:
    """The same direct, audited, version-bumping write as supervision's."""
    old = person.status
    if old == status:
        return
    Person.objects.filter(pk=person.pk).update(status=status, version=F("version") + 1, updated_at=timezone.now())
    person.status, person.version = status, person.version + 1
    audit.record(actor, "person.status_changed", person, old=old, new=status, ref=str(ref.pk))
    timeline_add(person=person, kind="person.status_changed", actor=actor, ref=ref,
                 summary=_("Status: %(status)s") % {"status": person.get_status_display()})


def receiving_township(person: Person) -> Jurisdiction:
    """The township of the person's residence, else of household registration (Law 33)."""
    return Jurisdiction.objects.get(pk=township_code(person.jurisdiction_id))


def inbox_lead_days() -> int:
    """Days before the planned release the packet reaches the township; never fewer than the law's notice."""
    ruleset = core_rules.current()
    return max(int(ruleset.value("handover_inbox_lead_days")), int(ruleset.value("release_notice_days")))


def _events(stay: IsolationStay) -> list[rules_assessment.Event]:
    return [rules_assessment.Event(e.kind, e.on, e.months, e.release_on) for e in stay.events.all()]


def _replan(stay: IsolationStay) -> None:
    """Recompute the planned release (and with it the inbox date) from the decision and the events."""
    stay.planned_release_on = rules_assessment.planned_release(stay.decided_on, _events(stay), core_rules.current())
    stay.save(update_fields=["planned_release_on", "updated_at"])
    Handover.objects.filter(stay=stay).update(visible_from=stay.planned_release_on - timedelta(days=inbox_lead_days()))
    Measure.objects.filter(pk=_measure_id(stay)).update(end_on=stay.planned_release_on)


def _measure_id(stay: IsolationStay) -> int | None:
    return (Measure.objects.filter(person=stay.person, kind=MeasureKind.ISOLATION, start_on=stay.decided_on)
            .values_list("pk", flat=True).first())


def _lock(stay: IsolationStay) -> IsolationStay:
    return IsolationStay.objects.select_for_update().select_related("person").get(pk=stay.pk)


def _open(stay: IsolationStay) -> None:
    if stay.state == StayState.RELEASED:
        raise DomainError(_("The person has been released: nothing can be recorded on this stay any more."))


@transaction.atomic
def stay_record(
    *, person: Person, decision_number: str, decided_on: date, authority: str, facility: str, admitted_on: date,
    actor: User, no_early_release: bool = False,
) -> IsolationStay:
    """Record a compulsory-isolation decision and the admission; opens the handover packet."""
    _check_facility(actor, person)
    errors: dict[str, list[str]] = {}
    for field, value in (("decision_number", decision_number), ("authority", authority), ("facility", facility)):
        if not value.strip():
            errors[field] = [_("This field is required.")]
    if admitted_on < decided_on:
        errors["admitted_on"] = [_("The admission cannot come before the decision.")]
    if admitted_on > _today():
        errors["admitted_on"] = [_("The date lies in the future. Enter the day it happened.")]
    if errors:
        raise DomainError(errors=errors)
    Person.objects.select_for_update().filter(pk=person.pk).values_list("pk", flat=True).first()
    if IsolationStay.objects.filter(person=person).exclude(state=StayState.RELEASED).exists():
        raise DomainError(_("This person already has a stay in isolation. Record the release first."))
    ruleset = core_rules.current()
    planned = rules_assessment.planned_release(decided_on, [], ruleset)
    stay = IsolationStay.objects.create(
        person=person, decision_number=decision_number.strip(), decided_on=decided_on, authority=authority.strip(),
        facility=facility.strip(), facility_jurisdiction=actor.jurisdiction, admitted_on=admitted_on,
        no_early_release=no_early_release, planned_release_on=planned, ruleset_version=ruleset.version,
        created_by=actor,
    )
    Handover.objects.create(stay=stay, person=person, township=receiving_township(person),
                            visible_from=planned - timedelta(days=inbox_lead_days()))
    Measure.objects.create(person=person, kind=MeasureKind.ISOLATION, start_on=decided_on, end_on=planned,
                           authority=stay.authority)
    audit.record(actor, "isolation.stay_recorded", stay, person_id=person.pk, decided_on=decided_on,
                 planned_release_on=planned, no_early_release=no_early_release)
    timeline_add(person=person, kind="isolation.stay_recorded", actor=actor, ref=stay, group=GROUP,
                 summary=_("Compulsory isolation in %(facility)s from %(on)s; release planned on %(end)s") % {
                     "facility": stay.facility, "on": f"{admitted_on:%Y-%m-%d}", "end": f"{planned:%Y-%m-%d}"})
    _set_status(person, Status.ISOLATION, actor=actor, ref=stay)
    return stay


def _event(stay: IsolationStay, kind: str, on: date, actor: User, summary: str | Callable[[], str],
           **fields: Any) -> StayEvent:
    event = StayEvent.objects.create(stay=stay, kind=kind, on=on, recorded_by=actor, **fields)
    _replan(stay)
    summary = summary() if callable(summary) else summary
    audit.record(actor, f"isolation.{kind}", stay, person_id=stay.person_id, on=on,
                 planned_release_on=stay.planned_release_on,
                 **{k: (v.pk if hasattr(v, "pk") else v) for k, v in fields.items()})
    timeline_add(person=stay.person, kind=f"isolation.{kind}", actor=actor, ref=stay, group=GROUP, summary=summary)
    return event


def _last_event_on(stay: IsolationStay) -> date:
    last = stay.events.order_by("-on").values_list("on", flat=True).first()
    return max(last or stay.admitted_on, stay.admitted_on)


def _after_last(stay: IsolationStay, field: str, on: date) -> None:
    _not_future(field, on)
    if on < _last_event_on(stay):
        raise DomainError(errors={field: [_("The date is before the last recorded event of this stay.")]})


@transaction.atomic
def escape_record(*, stay: IsolationStay, on: date, actor: User, notes: str = "") -> StayEvent:
    """The person escaped (Reg 32): time away will not count, and early release is no longer possible."""
    stay = _lock(stay)
    _check_facility(actor, stay.person)
    _open(stay)
    if stay.state != StayState.IN_CUSTODY:
        raise DomainError(_("Only a person in custody can escape."))
    _after_last(stay, "on", on)
    stay.state = StayState.ESCAPED
    stay.save(update_fields=["state", "updated_at"])
    return _event(stay, EventKind.ESCAPE, on, actor, _("Escaped on %(on)s") % {"on": f"{on:%Y-%m-%d}"},
                  notes=notes[:300])


@transaction.atomic
def return_record(*, stay: IsolationStay, on: date, actor: User, notes: str = "") -> StayEvent:
    """Back in the facility after an escape; the days away move the release date."""
    stay = _lock(stay)
    _check_facility(actor, stay.person)
    if stay.state != StayState.ESCAPED:
        raise DomainError(_("The person is not recorded as escaped."))
    _after_last(stay, "on", on)
    stay.state = StayState.IN_CUSTODY
    stay.save(update_fields=["state", "updated_at"])
    return _event(stay, EventKind.RETURN, on, actor, lambda: _(
        "Returned on %(on)s; release now planned on %(end)s") % {
        "on": f"{on:%Y-%m-%d}", "end": f"{stay.planned_release_on:%Y-%m-%d}"}, notes=notes[:300])


@transaction.atomic
def medical_leave_start(*, stay: IsolationStay, on: date, actor: User, notes: str = "") -> StayEvent:
    """Medical leave outside the facility (所外就医, Reg 31): the time counts towards the term."""
    stay = _lock(stay)
    _check_facility(actor, stay.person)
    if stay.state != StayState.IN_CUSTODY:
        raise DomainError(_("Only a person in custody can go on medical leave."))
    _after_last(stay, "on", on)
    stay.state = StayState.MEDICAL_LEAVE
    stay.save(update_fields=["state", "updated_at"])
    return _event(stay, EventKind.MEDICAL_OUT, on, actor,
                  _("Medical leave outside from %(on)s (the time counts)") % {"on": f"{on:%Y-%m-%d}"},
                  notes=notes[:300])


@transaction.atomic
def medical_leave_end(*, stay: IsolationStay, on: date, actor: User, notes: str = "") -> StayEvent:
    stay = _lock(stay)
    _check_facility(actor, stay.person)
    if stay.state != StayState.MEDICAL_LEAVE:
        raise DomainError(_("The person is not on medical leave."))
    _after_last(stay, "on", on)
    stay.state = StayState.IN_CUSTODY
    stay.save(update_fields=["state", "updated_at"])
    return _event(stay, EventKind.MEDICAL_BACK, on, actor,
                  _("Back from medical leave on %(on)s") % {"on": f"{on:%Y-%m-%d}"}, notes=notes[:300])


@transaction.atomic
def assessment_record(
    *, stay: IsolationStay, point: str, assessed_on: date, scores: dict[str, dict[str, Any]], doctor: str,
    psychologist: str, social_worker: str, outcome: str, actor: User, recommend_community_rehab: bool = False,
    physical_state: str = "", psychological_state: str = "", social_adaptability: str = "",
) -> DiagnosticAssessment:
    """A diagnostic assessment (诊断评估): the domain results are computed from the item scores."""
    stay = _lock(stay)
    _check_facility(actor, stay.person)
    _open(stay)
    errors: dict[str, list[str]] = {}
    if point not in AssessmentPoint.values:
        errors["point"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(AssessmentPoint.values)}]
    if outcome not in Outcome.values:
        errors["outcome"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(Outcome.values)}]
    for field, value in (("doctor", doctor), ("psychologist", psychologist), ("social_worker", social_worker)):
        if not value.strip():
            errors[field] = [_("Name the assessor.")]
    if assessed_on < stay.admitted_on:
        errors["assessed_on"] = [_("The assessment cannot come before the admission.")]
    if assessed_on > _today():
        errors["assessed_on"] = [_("The date lies in the future. Enter the day it happened.")]
    if point == AssessmentPoint.PRE_RELEASE and not all(
            v.strip() for v in (physical_state, psychological_state, social_adaptability)):
        errors["physical_state"] = [
            _("A pre-release assessment describes the physical state, the psychological state and the social "
              "adaptability.")]
    try:
        clean, results, passed = rules_assessment.score(scores)
    except DomainError as exc:
        errors.update(exc.errors)
        clean, results, passed = {}, {}, False
    if not errors and outcome == Outcome.PROPOSE_EARLY and not passed:
        errors["outcome"] = [_("Early release can only be proposed when the physical, recovery and behaviour "
                               "domains all pass.")]
    if errors:
        raise DomainError(errors=errors)
    item = DiagnosticAssessment.objects.create(
        stay=stay, point=point, assessed_on=assessed_on, scores=clean, results=results, passed=passed,
        doctor=doctor.strip(), psychologist=psychologist.strip(), social_worker=social_worker.strip(),
        outcome=outcome, recommend_community_rehab=recommend_community_rehab, physical_state=physical_state.strip(),
        psychological_state=psychological_state.strip(), social_adaptability=social_adaptability.strip(),
        assessment_version=rules_assessment.scheme().version, recorded_by=actor,
    )
    audit.record(actor, "isolation.assessed", item, person_id=stay.person_id, point=point, results=results,
                 proposal=outcome)
    timeline_add(person=stay.person, kind="isolation.assessed", actor=actor, ref=item, group=GROUP,
                 summary=_("Diagnostic assessment (%(point)s): %(result)s; %(outcome)s") % {
                     "point": item.get_point_display(), "result": _("passed") if passed else _("not passed"),
                     "outcome": item.get_outcome_display()})
    return item


def _check_assessment(stay: IsolationStay, item: DiagnosticAssessment | None, outcome: str) -> None:
    if item is None or item.stay_id != stay.pk or item.outcome != outcome:
        raise DomainError(errors={"assessment": [
            _("Choose an assessment of this stay that proposes this decision.")]})


@transaction.atomic
def early_release_decide(*, stay: IsolationStay, decided_on: date, release_on: date,
                         assessment: DiagnosticAssessment | None, actor: User) -> StayEvent:
    """Early release on a diagnostic assessment (Law 47): after the minimum time served, never after
    an escape (Reg 32) nor for an isolation that followed refusal, serious violation or relapse (Reg 38)."""
    stay = _lock(stay)
    _check_facility(actor, stay.person)
    _open(stay)
    _check_assessment(stay, assessment, Outcome.PROPOSE_EARLY)
    if stay.no_early_release:
        raise DomainError(_("This isolation followed refusal of community rehab, a serious violation or a relapse: "
                            "it cannot end early (Reg 38)."))
    if stay.events.filter(kind=EventKind.ESCAPE).exists():
        raise DomainError(_("The person escaped during this stay: early release is not possible (Reg 32)."))
    if stay.events.filter(kind=EventKind.EARLY_RELEASE).exists():
        raise DomainError(_("Early release has already been decided."))
    _after_last(stay, "decided_on", decided_on)
    earliest = periods.add_years(stay.decided_on, int(core_rules.current().value("isolation_early_release_min_years")))
    if release_on < max(earliest, decided_on):
        raise DomainError(errors={"release_on": [
            _("Early release is possible from %(on)s, after the minimum time served.") % {
                "on": f"{max(earliest, decided_on):%Y-%m-%d}"}]})
    if release_on >= stay.planned_release_on:
        raise DomainError(errors={"release_on": [
            _("The day must come before the planned release on %(on)s.") % {
                "on": f"{stay.planned_release_on:%Y-%m-%d}"}]})
    return _event(stay, EventKind.EARLY_RELEASE, decided_on, actor,
                  _("Early release decided: release on %(on)s") % {"on": f"{release_on:%Y-%m-%d}"},
                  release_on=release_on, assessment=assessment)


@transaction.atomic
def extension_decide(*, stay: IsolationStay, decided_on: date, months: int,
                     assessment: DiagnosticAssessment | None, actor: User) -> StayEvent:
    """Extension on a diagnostic assessment (Law 47): at most the rule set's years in all."""
    stay = _lock(stay)
    _check_facility(actor, stay.person)
    _open(stay)
    _check_assessment(stay, assessment, Outcome.PROPOSE_EXTENSION)
    if stay.events.filter(kind=EventKind.EARLY_RELEASE).exists():
        raise DomainError(_("Early release has been decided for this stay; it cannot be extended."))
    _after_last(stay, "decided_on", decided_on)
    most = 12 * int(core_rules.current().value("isolation_max_extension_years"))
    already = sum(stay.events.filter(kind=EventKind.EXTENSION).values_list("months", flat=True))
    if not 1 <= months <= most - already:
        raise DomainError(errors={"months": [
            _("An extension can add 1 to %(left)s months (at most %(most)s months in all).") % {
                "left": most - already, "most": most}]})
    if decided_on > stay.planned_release_on:
        raise DomainError(errors={"decided_on": [_("The extension must be decided before the planned release.")]})
    return _event(stay, EventKind.EXTENSION, decided_on, actor,
                  _("Extended by %(months)s months") % {"months": months}, months=months, assessment=assessment)


@transaction.atomic
def stay_release(*, stay: IsolationStay, released_on: date, certificate: str, actor: User) -> IsolationStay:
    """Release with a certificate (Reg 34); the person now awaits the community decision and report."""
    stay = _lock(stay)
    _check_facility(actor, stay.person)
    _open(stay)
    if stay.state == StayState.ESCAPED:
        raise DomainError(_("The person is recorded as escaped: record the return first."))
    if not certificate.strip():
        raise DomainError(errors={"certificate": [_("Enter the release certificate number.")]})
    _not_future("released_on", released_on)
    if released_on != stay.planned_release_on:
        raise DomainError(errors={"released_on": [
            _("The release falls on the planned day, %(on)s; record an early release or an extension first.") % {
                "on": f"{stay.planned_release_on:%Y-%m-%d}"}]})
    kinds = set(stay.events.values_list("kind", flat=True))
    stay.release_kind = (ReleaseKind.EARLY if EventKind.EARLY_RELEASE in kinds
                         else ReleaseKind.EXTENDED if EventKind.EXTENSION in kinds else ReleaseKind.ON_TIME)
    stay.state, stay.released_on, stay.release_certificate = StayState.RELEASED, released_on, certificate.strip()
    stay.save(update_fields=["state", "released_on", "release_certificate", "release_kind", "updated_at"])
    Measure.objects.filter(pk=_measure_id(stay)).update(end_on=released_on)
    audit.record(actor, "isolation.released", stay, person_id=stay.person_id, released_on=released_on,
                 kind=stay.release_kind, certificate=stay.release_certificate)
    timeline_add(person=stay.person, kind="isolation.released", actor=actor, ref=stay, group=GROUP,
                 summary=_("%(kind)s on %(on)s, certificate %(number)s") % {
                     "kind": stay.get_release_kind_display(), "on": f"{released_on:%Y-%m-%d}",
                     "number": stay.release_certificate})
    _set_status(stay.person, Status.AWAITING_REPORT, actor=actor, ref=stay)
    return stay


@transaction.atomic
def handover_packet_update(*, handover: Handover, actor: User, health_summary: str, risk_notes: str,
                           recommended_plan: str) -> Handover:
    """The facility writes the packet's health summary, risk notes and recommended plan."""
    handover = _lock_handover(handover)
    _check_facility(actor, handover.person)
    handover.health_summary, handover.risk_notes = health_summary.strip(), risk_notes.strip()
    handover.recommended_plan = recommended_plan.strip()
    handover.save(update_fields=["health_summary", "risk_notes", "recommended_plan"])
    audit.record(actor, "handover.packet_updated", handover, person_id=handover.person_id)
    timeline_add(person=handover.person, kind="handover.packet_updated", actor=actor, ref=handover, group=GROUP,
                 summary=_("Handover packet written for %(office)s") % {"office": handover.township.name})
    return handover


def _lock_handover(handover: Handover) -> Handover:
    # Only the handover row is locked: FOR UPDATE cannot reach the nullable side of the join to the order.
    return (Handover.objects.select_for_update(of=("self",)).select_related("stay", "person", "order")
            .get(pk=handover.pk))


@transaction.atomic
def handover_acknowledge(*, handover: Handover, actor: User) -> Handover:
    """The receiving township confirms it has the packet."""
    handover = _lock_handover(handover)
    _check_receiver(actor, handover.person)
    if handover.acknowledged_at:
        raise DomainError(_("This handover has already been acknowledged."))
    if _today() < handover.visible_from:
        raise DomainError(_("The packet reaches the inbox on %(on)s.") % {"on": f"{handover.visible_from:%Y-%m-%d}"})
    handover.acknowledged_at, handover.acknowledged_by = timezone.now(), actor
    handover.save(update_fields=["acknowledged_at", "acknowledged_by"])
    audit.record(actor, "handover.acknowledged", handover, person_id=handover.person_id)
    timeline_add(person=handover.person, kind="handover.acknowledged", actor=actor, ref=handover,
                 summary=_("Handover acknowledged by %(office)s") % {"office": handover.township.name})
    return handover


@transaction.atomic
def handover_pickup(*, handover: Handover, collector_kind: str, collector_name: str, collected_on: date,
                    collected_from: str, actor: User) -> Handover:
    """Record who collected the person (接回) on release, when and from where."""
    handover = _lock_handover(handover)
    _check_receiver(actor, handover.person)
    stay = handover.stay
    errors: dict[str, list[str]] = {}
    if handover.collected_on:
        raise DomainError(_("The pick-up has already been recorded."))
    if not handover.acknowledged_at:
        raise DomainError(_("Acknowledge the handover before recording the pick-up."))
    if stay.state != StayState.RELEASED:
        raise DomainError(_("The facility has not recorded the release yet."))
    if collector_kind not in CollectorKind.values:
        errors["collector_kind"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(CollectorKind.values)}]
    if not collector_name.strip():
        errors["collector_name"] = [_("Name who collected the person.")]
    if collected_on < stay.released_on:
        errors["collected_on"] = [_("The pick-up cannot come before the release on %(on)s.") % {
            "on": f"{stay.released_on:%Y-%m-%d}"}]
    if collected_on > _today():
        errors["collected_on"] = [_("The date lies in the future. Enter the day it happened.")]
    if errors:
        raise DomainError(errors=errors)
    handover.collector_kind, handover.collector_name = collector_kind, collector_name.strip()
    handover.collected_on, handover.collected_from = collected_on, (collected_from.strip() or stay.facility)
    handover.pickup_recorded_by = actor
    handover.save(update_fields=["collector_kind", "collector_name", "collected_on", "collected_from",
                                 "pickup_recorded_by"])
    audit.record(actor, "handover.picked_up", handover, person_id=handover.person_id, collector_kind=collector_kind,
                 collected_on=collected_on)
    timeline_add(person=handover.person, kind="handover.picked_up", actor=actor, ref=handover,
                 summary=_("Collected (接回) on %(on)s from %(where)s by %(who)s (%(kind)s)") % {
                     "on": f"{collected_on:%Y-%m-%d}", "where": handover.collected_from,
                     "who": handover.collector_name, "kind": handover.get_collector_kind_display()})
    return handover


@transaction.atomic
def handover_decide(*, handover: Handover, kind: str, decided_on: date, received_on: date, actor: User,
                    term_months: int | None = None, authority: str = "") -> CommunityOrder:
    """Record the community (drug) rehab decision for a released person, through supervision's order_create."""
    handover = _lock_handover(handover)
    _check_receiver(actor, handover.person)
    if handover.order_id:
        raise DomainError(_("The decision for this handover has already been recorded."))
    if handover.stay.state != StayState.RELEASED:
        raise DomainError(_("The facility has not recorded the release yet."))
    order = supervision.order_create(person=handover.person, kind=kind, decided_on=decided_on,
                                     received_on=received_on, actor=actor, term_months=term_months,
                                     authority=authority)
    handover.order = order
    handover.save(update_fields=["order"])
    audit.record(actor, "handover.decision_linked", handover, order=order.pk)
    return order


@transaction.atomic
def handover_report(*, handover: Handover, reported_on: date, actor: User) -> Agreement:
    """The person reports (报到): supervision's report_receive starts the term; the agreement is prepared."""
    handover = _lock_handover(handover)
    _check_receiver(actor, handover.person)
    if handover.order is None:
        raise DomainError(_("Record the decision before the report."))
    order = supervision.report_receive(order=handover.order, reported_on=reported_on, actor=actor)
    return agreement_prepare(order=order, actor=actor, reason=AgreementReason.INITIAL)


def _gender(person: Person) -> str:
    return {"M": "男", "F": "女"}.get(person.gender, "")


def agreement_text(*, order: CommunityOrder, reason: str) -> str:
    """The agreement in Chinese from the rule set's template (a legal document: Chinese whatever the UI)."""
    person = order.person
    title = "社区戒毒协议书" if order.kind == OrderKind.COMMUNITY_DRUG_REHAB else "社区康复协议书"
    measure = "社区戒毒" if order.kind == OrderKind.COMMUNITY_DRUG_REHAB else "社区康复"
    note = "（本协议因变更执行地重新签订，原期限连续计算。）" if reason == AgreementReason.TRANSFER else ""
    residence = person.residence_jurisdiction.name if person.residence_jurisdiction_id else "—"
    return Template(AGREEMENT_TEMPLATE.read_text(encoding="utf-8")).safe_substitute(
        title=title, office=order.office.name, name=person.name, gender=_gender(person),
        birth_date=f"{person.birth_date:%Y年%m月%d日}", id_number=person.id_number_masked,
        household=person.household_jurisdiction.name, residence=residence,
        authority=order.authority or "公安机关", measure=measure, term_months=order.term_months,
        reported_on=f"{order.reported_on:%Y年%m月%d日}" if order.reported_on else "____年__月__日",
        term_ends_on=f"{order.term_ends_on:%Y年%m月%d日}" if order.term_ends_on else "____年__月__日",
        reason_note=note, signed_on="____年__月__日",
    )


@transaction.atomic
def agreement_prepare(*, order: CommunityOrder, actor: User, reason: str) -> Agreement:
    """Generate the agreement for the person to sign (reason "initial" on reporting, "transfer" after a
    change of execution place)."""
    if not access.can(actor, "supervise", order.person):
        raise DomainError(_("Your role may not prepare agreements for this person."))
    if reason not in AgreementReason.values:
        raise DomainError(errors={"reason": [_("Choose one of: %(values)s.") % {
            "values": ", ".join(AgreementReason.values)}]})
    text = agreement_text(order=order, reason=reason)
    agreement = Agreement.objects.create(order=order, reason=reason, text=text, prepared_by=actor,
                                         template_version=f"{AGREEMENT_TEMPLATE.name}@{order.ruleset_version}")
    audit.record(actor, "agreement.prepared", agreement, person_id=order.person_id, order=order.pk, reason=reason)
    timeline_add(person=order.person, kind="agreement.prepared", actor=actor, ref=agreement, group=GROUP,
                 summary=_("Agreement prepared for signing"))
    return agreement


@transaction.atomic
def agreement_sign(*, agreement: Agreement, signed_on: date, actor: User) -> Agreement:
    """Record that the person signed the agreement (the worker records it); the text is kept as signed."""
    agreement = Agreement.objects.select_for_update().select_related("order__person").get(pk=agreement.pk)
    order = agreement.order
    if not access.can(actor, "supervise", order.person):
        raise DomainError(_("Your role may not record agreements for this person."))
    if agreement.signed_on:
        raise DomainError(_("This agreement has already been signed."))
    _not_future("signed_on", signed_on)
    if order.reported_on and signed_on < order.reported_on and agreement.reason == AgreementReason.INITIAL:
        raise DomainError(errors={"signed_on": [_("The agreement is signed on or after the day of reporting.")]})
    agreement.signed_on, agreement.signed_recorded_by = signed_on, actor
    agreement.text = agreement.text.replace("签订日期：____年__月__日", f"签订日期：{signed_on:%Y年%m月%d日}")
    agreement.save(update_fields=["signed_on", "signed_recorded_by", "text"])
    audit.record(actor, "agreement.signed", agreement, person_id=order.person_id, signed_on=signed_on)
    timeline_add(person=order.person, kind="agreement.signed", actor=actor, ref=agreement, group=GROUP,
                 summary=_("Agreement signed on %(on)s") % {"on": f"{signed_on:%Y-%m-%d}"})
    return agreement
