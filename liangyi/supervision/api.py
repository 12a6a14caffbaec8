"""REST endpoints of the supervision chain (INTERFACES.md "REST API (v1)").

Every write goes through a service in ``services``; a person out of reach answers 404, a role
without the ``supervise`` (or ``decide_escalation``) action 403, bad input 400 per field.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Model, QuerySet
from django.http import Http404
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from liangyi.core import access, audit
from liangyi.core.api import ERROR_RESPONSES, JsonView, StrictSerializer, django_request
from liangyi.core.errors import DomainError
from liangyi.core.models import Jurisdiction, User
from liangyi.people.api import NOT_FOUND
from liangyi.people.models import Person
from liangyi.supervision import draws, selectors, services
from liangyi.supervision.models import (
    Absence,
    CommunityOrder,
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
    PoliceDecision,
    Result,
    Sample,
    SuspensionReason,
)

WRITE_RESPONSES = {**ERROR_RESPONSES, 404: NOT_FOUND}

# --- output ------------------------------------------------------------------------------


class SuspensionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    start = serializers.DateField(read_only=True)
    end = serializers.DateField(read_only=True, allow_null=True)
    reason = serializers.ChoiceField(choices=SuspensionReason.choices, read_only=True)


class TransferSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    on = serializers.DateField(read_only=True)
    from_office = serializers.CharField(source="from_office_id", read_only=True)
    to_office = serializers.CharField(source="to_office_id", read_only=True)
    report_by = serializers.DateField(read_only=True)
    reported_on = serializers.DateField(read_only=True, allow_null=True)


class ClockSerializer(serializers.Serializer):
    starts_on = serializers.DateField(read_only=True)
    reaches_on = serializers.DateField(read_only=True)
    basis = serializers.ChoiceField(choices=[("relapse", "relapse"), ("report", "report")], read_only=True)


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    person = serializers.UUIDField(source="person_id", read_only=True)
    kind = serializers.ChoiceField(choices=OrderKind.choices, read_only=True)
    state = serializers.ChoiceField(choices=OrderState.choices, read_only=True)
    decided_on = serializers.DateField(read_only=True)
    received_on = serializers.DateField(read_only=True)
    report_deadline = serializers.DateField(read_only=True)
    report_deadline_unconfirmed = serializers.BooleanField(read_only=True)
    report_overdue_since = serializers.DateField(read_only=True, allow_null=True)
    reported_on = serializers.DateField(read_only=True, allow_null=True)
    term_months = serializers.IntegerField(read_only=True)
    term_ends_on = serializers.DateField(read_only=True, allow_null=True)
    ended_on = serializers.DateField(read_only=True, allow_null=True)
    end_reason = serializers.CharField(read_only=True)
    office = serializers.CharField(source="office_id", read_only=True)
    worker = serializers.CharField(source="worker.username", read_only=True, allow_null=True)
    ruleset_version = serializers.CharField(read_only=True)
    suspensions = SuspensionSerializer(many=True, read_only=True)
    transfers = TransferSerializer(many=True, read_only=True)


class SupervisionSerializer(serializers.Serializer):
    orders = OrderSerializer(many=True, read_only=True)
    abstinence_clock = ClockSerializer(read_only=True, allow_null=True)


class TestSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    tested_on = serializers.DateField(read_only=True)
    sample = serializers.CharField(read_only=True)
    method = serializers.CharField(read_only=True)
    result = serializers.ChoiceField(choices=Result.choices, read_only=True)
    substances = serializers.ListField(child=serializers.CharField(), read_only=True)
    random = serializers.BooleanField(read_only=True)
    collector = serializers.CharField(source="collector.username", read_only=True, allow_null=True)
    second_collector = serializers.CharField(source="second_collector.username", read_only=True, allow_null=True)
    collector_names = serializers.CharField(read_only=True)


class EscalationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    person = serializers.UUIDField(source="person_id", read_only=True)
    order = serializers.IntegerField(source="order_id", read_only=True)
    reason = serializers.ChoiceField(choices=EscalationReason.choices, read_only=True)
    reason_label = serializers.CharField(source="get_reason_display", read_only=True)
    opened_on = serializers.DateField(read_only=True)
    state = serializers.ChoiceField(choices=EscalationState.choices, read_only=True)
    evidence = serializers.JSONField(read_only=True)
    decision = serializers.CharField(read_only=True)
    decision_notes = serializers.CharField(read_only=True)
    decided_on = serializers.DateField(read_only=True, allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, allow_null=True)


class LeaveSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    from_on = serializers.DateField(read_only=True)
    to_on = serializers.DateField(read_only=True)
    destination = serializers.CharField(read_only=True)
    approved_on = serializers.DateField(read_only=True, allow_null=True)


class AbsenceSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    left_on = serializers.DateField(read_only=True)
    returned_on = serializers.DateField(read_only=True, allow_null=True)
    destination = serializers.CharField(read_only=True)
    authorised = serializers.BooleanField(read_only=True)
    leave_request = serializers.IntegerField(source="leave_request_id", read_only=True, allow_null=True)


class ContactSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=ContactKind.choices, read_only=True)
    on = serializers.DateField(read_only=True)
    notes = serializers.CharField(read_only=True)


class DrawSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    on = serializers.DateField(read_only=True)
    office = serializers.CharField(source="office_id", read_only=True)
    seed = serializers.CharField(read_only=True)
    count = serializers.IntegerField(read_only=True)
    candidates = serializers.ListField(child=serializers.UUIDField(), read_only=True)
    drawn = serializers.ListField(child=serializers.UUIDField(), read_only=True)
    ruleset_version = serializers.CharField(read_only=True)


# --- input -------------------------------------------------------------------------------


class DecisionInput(StrictSerializer):
    kind = serializers.ChoiceField(choices=OrderKind.choices)
    received_on = serializers.DateField(help_text=gettext_lazy("The day the person received the decision."))
    decided_on = serializers.DateField(required=False, help_text=gettext_lazy("Default: the day received."))
    term_months = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1200,
                                           help_text=gettext_lazy("Empty: the rule set's term."))
    authority = serializers.CharField(required=False, allow_blank=True, max_length=100)


class ReportInput(StrictSerializer):
    reported_on = serializers.DateField()


class TestInput(StrictSerializer):
    tested_on = serializers.DateField()
    sample = serializers.ChoiceField(choices=Sample.choices, required=False, allow_blank=True)
    method = serializers.ChoiceField(choices=Method.choices, required=False, allow_blank=True)
    result = serializers.ChoiceField(choices=Result.choices)
    substances = serializers.ListField(child=serializers.CharField(max_length=60), required=False, max_length=20)
    random = serializers.BooleanField(required=False, default=False)
    second_collector = serializers.CharField(required=False, allow_blank=True, max_length=150,
                                             help_text=gettext_lazy("The username of the second collector."))
    collector_names = serializers.CharField(required=False, allow_blank=True, max_length=120)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=300)


class DecideInput(StrictSerializer):
    decision = serializers.ChoiceField(choices=PoliceDecision.choices)
    decided_on = serializers.DateField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=500)


class SuspendInput(StrictSerializer):
    start = serializers.DateField()
    reason = serializers.ChoiceField(choices=SuspensionReason.choices)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=300)


class OnInput(StrictSerializer):
    on = serializers.DateField()


class TerminateInput(StrictSerializer):
    on = serializers.DateField()
    reason = serializers.ChoiceField(choices=EndReason.choices)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=300)


class TransferInput(StrictSerializer):
    to_township = serializers.CharField(max_length=12, help_text=gettext_lazy("The new township's code (9 digits)."))
    on = serializers.DateField()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)


class LeaveInput(StrictSerializer):
    from_on = serializers.DateField()
    to_on = serializers.DateField()
    destination = serializers.CharField(max_length=200)


class ApproveInput(StrictSerializer):
    approved_on = serializers.DateField(required=False)


class AbsenceInput(StrictSerializer):
    left_on = serializers.DateField()
    returned_on = serializers.DateField(required=False, allow_null=True)
    destination = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ReturnInput(StrictSerializer):
    returned_on = serializers.DateField()


class ContactInput(StrictSerializer):
    kind = serializers.ChoiceField(choices=ContactKind.choices)
    on = serializers.DateField()
    notes = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class DrawInput(StrictSerializer):
    office = serializers.CharField(max_length=12, help_text=gettext_lazy("The township's code."))
    on = serializers.DateField(required=False)
    count = serializers.IntegerField(required=False, min_value=0, max_value=10000, help_text=gettext_lazy(
        "Empty: the rule set's share of the active orders."))


# --- helpers -----------------------------------------------------------------------------


def _parse(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    given = serializer_class(data=request.data)
    given.is_valid(raise_exception=True)
    return dict(given.validated_data)


def _person_to_supervise(request: Request, id: UUID) -> Person:
    person = access.get_or_404(django_request(request), Person, pk=id)
    access.require(django_request(request), request.user, "supervise", person)
    return person


def _running(person: Person) -> CommunityOrder:
    order = selectors.order_current(person)
    if order is None:
        raise DomainError(_("This person has no community order running. Record the decision first."))
    return order


def _child_or_404(request: Request, model: type[Model], pk: int) -> Any:
    """A record hanging off an order, found only when its person is in the caller's reach."""
    qs: QuerySet = model._default_manager.filter(pk=pk, order__person__in=access.visible(request.user, Person))
    found = qs.select_related("order__person").first()
    if found is None:
        raise Http404
    access.require(django_request(request), request.user, "supervise", found.order.person)
    return found


def _created(serializer_class: type[serializers.Serializer], obj: Any) -> Response:
    return Response(serializer_class(obj).data, status=status.HTTP_201_CREATED)


def _post_schema(summary: str, request: type[serializers.Serializer], response: Any, code: int = 201) -> Any:
    return extend_schema(summary=summary, tags=["supervision"], request=request,
                         responses={code: response, **WRITE_RESPONSES})


# --- views -------------------------------------------------------------------------------


class Decisions(JsonView):
    serializer_class = DecisionInput

    @_post_schema(gettext_lazy("Record a decision ordering community measures"), DecisionInput, OrderSerializer)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(DecisionInput, request)
        order = services.order_create(person=person, kind=data["kind"], received_on=data["received_on"],
                                      decided_on=data.get("decided_on") or data["received_on"],
                                      term_months=data.get("term_months"), authority=data.get("authority", ""),
                                      actor=request.user)
        return _created(OrderSerializer, order)


class Reports(JsonView):
    serializer_class = ReportInput

    @_post_schema(gettext_lazy("The person reported (first report, or to the new township after a transfer)"),
                  ReportInput, OrderSerializer)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(ReportInput, request)
        order = _running(person)
        pending = order.transfers.filter(reported_on=None).first()
        if order.state == OrderState.AWAITING_REPORT:
            order = services.report_receive(order=order, reported_on=data["reported_on"], actor=request.user)
        elif pending is not None:
            services.transfer_receive(transfer=pending, reported_on=data["reported_on"], actor=request.user)
        else:
            raise DomainError(_("This person has already reported."))
        order.refresh_from_db()
        return _created(OrderSerializer, order)


class Tests(JsonView):
    serializer_class = TestInput

    @extend_schema(summary=gettext_lazy("A person's drug tests, newest first"), tags=["supervision"],
                   responses={200: TestSerializer(many=True), 400: ERROR_RESPONSES[400],
                              401: ERROR_RESPONSES[401], 404: NOT_FOUND})
    def get(self, request: Request, id: UUID) -> Response:
        person = access.get_or_404(django_request(request), Person, pk=id)
        if not access.sees(request.user, "drug_history"):
            raise Http404
        tests = access.visible(request.user, DrugTest).filter(person=person).select_related(
            "collector", "second_collector")
        page = self.paginate_queryset(tests)
        return self.get_paginated_response(TestSerializer(page, many=True).data)

    @_post_schema(gettext_lazy("Record a drug test"), TestInput, TestSerializer)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(TestInput, request)
        second = None
        if data.get("second_collector"):
            second = User.objects.filter(username=data["second_collector"], is_active=True).first()
            if second is None or not access.in_reach(request.user, second.jurisdiction_id or ""):
                raise DomainError(errors={"second_collector": [_("No such colleague in your jurisdiction.")]})
        test = services.test_record(
            order=_running(person), tested_on=data["tested_on"], result=data["result"], sample=data.get("sample", ""),
            method=data.get("method", ""), substances=data.get("substances", []), random=data.get("random", False),
            collector=request.user, second_collector=second, collector_names=data.get("collector_names", ""),
            notes=data.get("notes", ""), actor=request.user)
        return _created(TestSerializer, test)


class Supervision(JsonView):
    @extend_schema(summary=gettext_lazy("A person's community orders and the three-years-without-relapse clock"),
                   tags=["supervision"], responses={200: SupervisionSerializer, 400: ERROR_RESPONSES[400],
                                                    401: ERROR_RESPONSES[401], 404: NOT_FOUND})
    def get(self, request: Request, id: UUID) -> Response:
        person = access.get_or_404(django_request(request), Person, pk=id)
        if not access.sees(request.user, "drug_history"):
            raise Http404
        audit.viewed(django_request(request), person, section="supervision")
        data = {"orders": selectors.orders_of(user=request.user, person=person),
                "abstinence_clock": selectors.abstinence_clock(person)}
        return Response(SupervisionSerializer(data).data)


class PersonEscalations(JsonView):
    @extend_schema(summary=gettext_lazy("Cases opened for the police about a person"), tags=["supervision"],
                   responses={200: EscalationSerializer(many=True), 400: ERROR_RESPONSES[400],
                              401: ERROR_RESPONSES[401], 404: NOT_FOUND})
    def get(self, request: Request, id: UUID) -> Response:
        person = access.get_or_404(django_request(request), Person, pk=id)
        page = self.paginate_queryset(selectors.escalations_of(user=request.user, person=person))
        return self.get_paginated_response(EscalationSerializer(page, many=True).data)


class Escalations(JsonView):
    @extend_schema(summary=gettext_lazy("Cases waiting for a police decision in your reach, the oldest first"),
                   tags=["supervision"], responses={200: EscalationSerializer(many=True), 400: ERROR_RESPONSES[400],
                              401: ERROR_RESPONSES[401]})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.escalations_open(user=request.user))
        return self.get_paginated_response(EscalationSerializer(page, many=True).data)


class EscalationDecision(JsonView):
    serializer_class = DecideInput

    @_post_schema(gettext_lazy("The police record their decision on a case"), DecideInput, EscalationSerializer,
                  code=200)
    def post(self, request: Request, pk: int) -> Response:
        escalation = access.get_or_404(django_request(request), Escalation, pk=pk)
        access.require(django_request(request), request.user, "decide_escalation", escalation.person)
        data = _parse(DecideInput, request)
        escalation = services.escalation_decide(escalation=escalation, decision=data["decision"],
                                                decided_on=data.get("decided_on") or timezone.localdate(),
                                                notes=data.get("notes", ""), actor=request.user)
        return Response(EscalationSerializer(escalation).data)


class Suspensions(JsonView):
    serializer_class = SuspendInput

    @_post_schema(gettext_lazy("Suspend the term (detention or arrest)"), SuspendInput, SuspensionSerializer)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(SuspendInput, request)
        suspension = services.order_suspend(order=_running(person), start=data["start"], reason=data["reason"],
                                            notes=data.get("notes", ""), actor=request.user)
        return _created(SuspensionSerializer, suspension)


class Resume(JsonView):
    serializer_class = OnInput

    @_post_schema(gettext_lazy("Resume the term on release"), OnInput, OrderSerializer, code=200)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(OnInput, request)
        order = services.order_resume(order=_running(person), on=data["on"], actor=request.user)
        return Response(OrderSerializer(order).data)


class Termination(JsonView):
    serializer_class = TerminateInput

    @_post_schema(gettext_lazy("Terminate the term (prison sentence, educational measure, death)"), TerminateInput,
                  OrderSerializer, code=200)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(TerminateInput, request)
        order = services.order_terminate(order=_running(person), on=data["on"], reason=data["reason"],
                                         notes=data.get("notes", ""), actor=request.user)
        return Response(OrderSerializer(order).data)


class Completion(JsonView):
    serializer_class = OnInput

    @_post_schema(gettext_lazy("Complete the term at its end"), OnInput, OrderSerializer, code=200)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(OnInput, request)
        order = services.order_complete(order=_running(person), on=data["on"], actor=request.user)
        return Response(OrderSerializer(order).data)


class Transfers(JsonView):
    serializer_class = TransferInput

    @_post_schema(gettext_lazy("Change the place of execution (forward the file to another township)"),
                  TransferInput, TransferSerializer)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(TransferInput, request)
        transfer = services.order_transfer(order=_running(person), to_township=data["to_township"], on=data["on"],
                                           reason=data.get("reason", ""), actor=request.user)
        return _created(TransferSerializer, transfer)


class Leaves(JsonView):
    serializer_class = LeaveInput

    @_post_schema(gettext_lazy("The written report before leaving the county"), LeaveInput, LeaveSerializer)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(LeaveInput, request)
        leave = services.leave_request(order=_running(person), from_on=data["from_on"], to_on=data["to_on"],
                                       destination=data["destination"], actor=request.user)
        return _created(LeaveSerializer, leave)


class LeaveApproval(JsonView):
    serializer_class = ApproveInput

    @_post_schema(gettext_lazy("Approve a leave request"), ApproveInput, LeaveSerializer, code=200)
    def post(self, request: Request, pk: int) -> Response:
        leave = _child_or_404(request, LeaveRequest, pk)
        data = _parse(ApproveInput, request)
        leave = services.leave_approve(request=leave, approved_on=data.get("approved_on"), actor=request.user)
        return Response(LeaveSerializer(leave).data)


class Absences(JsonView):
    serializer_class = AbsenceInput

    @_post_schema(gettext_lazy("Record an absence from the county"), AbsenceInput, AbsenceSerializer)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(AbsenceInput, request)
        absence = services.absence_record(order=_running(person), left_on=data["left_on"],
                                          returned_on=data.get("returned_on"),
                                          destination=data.get("destination", ""), actor=request.user)
        return _created(AbsenceSerializer, absence)


class AbsenceReturn(JsonView):
    serializer_class = ReturnInput

    @_post_schema(gettext_lazy("The person came back"), ReturnInput, AbsenceSerializer, code=200)
    def post(self, request: Request, pk: int) -> Response:
        absence = _child_or_404(request, Absence, pk)
        data = _parse(ReturnInput, request)
        absence = services.absence_return(absence=absence, returned_on=data["returned_on"], actor=request.user)
        return Response(AbsenceSerializer(absence).data)


class Contacts(JsonView):
    serializer_class = ContactInput

    @_post_schema(gettext_lazy("Record a face-to-face check or a home visit"), ContactInput, ContactSerializer)
    def post(self, request: Request, id: UUID) -> Response:
        person = _person_to_supervise(request, id)
        data = _parse(ContactInput, request)
        contact = services.contact_record(order=_running(person), kind=data["kind"], on=data["on"],
                                          notes=data.get("notes", ""), actor=request.user)
        return _created(ContactSerializer, contact)


class Draws(JsonView):
    serializer_class = DrawInput

    @extend_schema(summary=gettext_lazy("Draw persons for unannounced tests (recorded before it answers)"),
                   tags=["supervision"], request=DrawInput, responses={201: DrawSerializer, **ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        access.require(django_request(request), request.user, "supervise")
        data = _parse(DrawInput, request)
        office = access.visible(request.user, Jurisdiction).filter(code=data["office"]).first()
        if office is None:
            raise DomainError(errors={"office": [_("Enter the code of a township in your jurisdiction.")]})
        draw = draws.random_draw(on=data.get("on") or timezone.localdate(), office=office, count=data.get("count"),
                                 actor=request.user)
        return _created(DrawSerializer, draw)


urlpatterns = [
    path("persons/<uuid:id>/supervision/", Supervision.as_view(), name="api-person-supervision"),
    path("persons/<uuid:id>/decisions/", Decisions.as_view(), name="api-person-decisions"),
    path("persons/<uuid:id>/reports/", Reports.as_view(), name="api-person-reports"),
    path("persons/<uuid:id>/tests/", Tests.as_view(), name="api-person-tests"),
    path("persons/<uuid:id>/escalations/", PersonEscalations.as_view(), name="api-person-escalations"),
    path("persons/<uuid:id>/suspensions/", Suspensions.as_view(), name="api-person-suspensions"),
    path("persons/<uuid:id>/resumption/", Resume.as_view(), name="api-person-resumption"),
    path("persons/<uuid:id>/termination/", Termination.as_view(), name="api-person-termination"),
    path("persons/<uuid:id>/completion/", Completion.as_view(), name="api-person-completion"),
    path("persons/<uuid:id>/transfers/", Transfers.as_view(), name="api-person-transfers"),
    path("persons/<uuid:id>/leave/", Leaves.as_view(), name="api-person-leave"),
    path("persons/<uuid:id>/absences/", Absences.as_view(), name="api-person-absences"),
    path("persons/<uuid:id>/contacts/", Contacts.as_view(), name="api-person-contacts"),
    path("leave/<int:pk>/approval/", LeaveApproval.as_view(), name="api-leave-approval"),
    path("absences/<int:pk>/return/", AbsenceReturn.as_view(), name="api-absence-return"),
    path("escalations/", Escalations.as_view(), name="api-escalations"),
    path("escalations/<int:pk>/decision/", EscalationDecision.as_view(), name="api-escalation-decision"),
    path("draws/", Draws.as_view(), name="api-draws"),
]
