"""REST endpoints of the handover chain (docs/handover.md lists them).

Every write goes through a service in ``services``; a record out of reach answers 404, a role
without ``record_isolation`` / ``receive_handover`` / ``supervise`` 403, bad input 400 per field.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from liangyi.core import access, audit
from liangyi.core.api import ERROR_RESPONSES, JsonView, StrictSerializer, django_request
from liangyi.core.errors import DomainError
from liangyi.handover import selectors, services
from liangyi.handover.models import (
    Agreement,
    AssessmentPoint,
    CollectorKind,
    DiagnosticAssessment,
    EventKind,
    Handover,
    HandoverState,
    IsolationStay,
    Outcome,
)
from liangyi.people.api import NOT_FOUND
from liangyi.people.models import Person
from liangyi.supervision.models import OrderKind

WRITE_RESPONSES = {**ERROR_RESPONSES, 404: NOT_FOUND}
TAGS = ["handover"]

# --- output ------------------------------------------------------------------------------


class HandoverEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=EventKind.choices, read_only=True)
    on = serializers.DateField(read_only=True)
    months = serializers.IntegerField(read_only=True, allow_null=True)
    release_on = serializers.DateField(read_only=True, allow_null=True)
    assessment = serializers.IntegerField(source="assessment_id", read_only=True, allow_null=True)


class HandoverAssessmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    stay = serializers.IntegerField(source="stay_id", read_only=True)
    point = serializers.ChoiceField(choices=AssessmentPoint.choices, read_only=True)
    assessed_on = serializers.DateField(read_only=True)
    scores = serializers.JSONField(read_only=True)
    results = serializers.JSONField(read_only=True)
    passed = serializers.BooleanField(read_only=True)
    doctor = serializers.CharField(read_only=True)
    psychologist = serializers.CharField(read_only=True)
    social_worker = serializers.CharField(read_only=True)
    outcome = serializers.ChoiceField(choices=Outcome.choices, read_only=True)
    recommend_community_rehab = serializers.BooleanField(read_only=True)
    physical_state = serializers.CharField(read_only=True)
    psychological_state = serializers.CharField(read_only=True)
    social_adaptability = serializers.CharField(read_only=True)


class HandoverStaySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    person = serializers.UUIDField(source="person_id", read_only=True)
    decision_number = serializers.CharField(read_only=True)
    decided_on = serializers.DateField(read_only=True)
    authority = serializers.CharField(read_only=True)
    facility = serializers.CharField(read_only=True)
    admitted_on = serializers.DateField(read_only=True)
    no_early_release = serializers.BooleanField(read_only=True)
    planned_release_on = serializers.DateField(read_only=True)
    state = serializers.CharField(read_only=True)
    released_on = serializers.DateField(read_only=True, allow_null=True)
    release_certificate = serializers.CharField(read_only=True)
    release_kind = serializers.CharField(read_only=True)
    handover = serializers.IntegerField(source="handover.pk", read_only=True)
    events = HandoverEventSerializer(many=True, read_only=True)
    assessments = HandoverAssessmentSerializer(many=True, read_only=True)


class HandoverSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    person = serializers.UUIDField(source="person_id", read_only=True)
    person_name = serializers.CharField(source="person.name", read_only=True)
    id_number_masked = serializers.CharField(source="person.id_number_masked", read_only=True)
    township = serializers.CharField(source="township_id", read_only=True)
    facility = serializers.CharField(source="stay.facility", read_only=True)
    planned_release_on = serializers.DateField(source="stay.planned_release_on", read_only=True)
    released_on = serializers.DateField(source="stay.released_on", read_only=True, allow_null=True)
    visible_from = serializers.DateField(read_only=True)
    state = serializers.ChoiceField(choices=HandoverState.choices, read_only=True)
    assessment = HandoverAssessmentSerializer(read_only=True, allow_null=True)
    health_summary = serializers.CharField(
        read_only=True, allow_null=True, help_text="null when the caller's role does not see medical data"
    )
    risk_notes = serializers.CharField(read_only=True)
    recommended_plan = serializers.CharField(read_only=True)
    acknowledged_at = serializers.DateTimeField(read_only=True, allow_null=True)
    collector_kind = serializers.CharField(read_only=True)
    collector_name = serializers.CharField(read_only=True)
    collected_on = serializers.DateField(read_only=True, allow_null=True)
    collected_from = serializers.CharField(read_only=True)
    order = serializers.IntegerField(source="order_id", read_only=True, allow_null=True)
    agreement = serializers.IntegerField(read_only=True, allow_null=True)


class HandoverAgreementSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    order = serializers.IntegerField(source="order_id", read_only=True)
    reason = serializers.CharField(read_only=True)
    text = serializers.CharField(read_only=True)
    signed_on = serializers.DateField(read_only=True, allow_null=True)


class HandoverFigureSerializer(serializers.Serializer):
    jurisdiction = serializers.CharField(source="jurisdiction.code", read_only=True, allow_null=True)
    released = serializers.IntegerField(read_only=True)
    handed_over = serializers.IntegerField(read_only=True)
    reported_in_time = serializers.IntegerField(read_only=True)
    handover_rate = serializers.FloatField(read_only=True, allow_null=True)
    report_rate = serializers.FloatField(read_only=True, allow_null=True)
    median_days_to_report = serializers.FloatField(read_only=True, allow_null=True)
    overdue_now = serializers.IntegerField(read_only=True)


def packet(handover: Handover, user: Any) -> dict[str, Any]:
    """The handover packet as the caller may see it."""
    data = HandoverSerializer(handover).data
    data["state"] = handover.state_on(timezone.localdate())
    pre = selectors.latest_assessment(handover.stay)
    data["assessment"] = HandoverAssessmentSerializer(pre).data if pre else None
    data["health_summary"] = handover.health_summary if access.sees(user, "medical") else None
    agreement = selectors.agreement_of(handover)
    data["agreement"] = agreement.pk if agreement else None
    return data


# --- input -------------------------------------------------------------------------------


class HandoverStayInput(StrictSerializer):
    decision_number = serializers.CharField(max_length=60)
    decided_on = serializers.DateField()
    authority = serializers.CharField(max_length=100)
    facility = serializers.CharField(max_length=100)
    admitted_on = serializers.DateField()
    no_early_release = serializers.BooleanField(default=False)


class HandoverEventInput(StrictSerializer):
    kind = serializers.ChoiceField(
        choices=[EventKind.ESCAPE, EventKind.RETURN, EventKind.MEDICAL_OUT, EventKind.MEDICAL_BACK]
    )
    on = serializers.DateField()
    notes = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class HandoverAssessmentInput(StrictSerializer):
    point = serializers.ChoiceField(choices=AssessmentPoint.choices)
    assessed_on = serializers.DateField()
    scores = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField(min_value=0, max_value=1000))
    )
    doctor = serializers.CharField(max_length=60)
    psychologist = serializers.CharField(max_length=60)
    social_worker = serializers.CharField(max_length=60)
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    recommend_community_rehab = serializers.BooleanField(default=False)
    physical_state = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    psychological_state = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    social_adaptability = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class HandoverEarlyReleaseInput(StrictSerializer):
    decided_on = serializers.DateField()
    release_on = serializers.DateField()
    assessment = serializers.IntegerField(min_value=1, max_value=2**31 - 1)


class HandoverExtensionInput(StrictSerializer):
    decided_on = serializers.DateField()
    months = serializers.IntegerField(min_value=1, max_value=120)
    assessment = serializers.IntegerField(min_value=1, max_value=2**31 - 1)


class HandoverReleaseInput(StrictSerializer):
    released_on = serializers.DateField()
    certificate = serializers.CharField(max_length=60)


class HandoverPickupInput(StrictSerializer):
    collector_kind = serializers.ChoiceField(choices=CollectorKind.choices)
    collector_name = serializers.CharField(max_length=100)
    collected_on = serializers.DateField()
    collected_from = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class HandoverDecisionInput(StrictSerializer):
    kind = serializers.ChoiceField(choices=OrderKind.choices)
    decided_on = serializers.DateField()
    received_on = serializers.DateField()
    term_months = serializers.IntegerField(min_value=1, max_value=120, required=False, allow_null=True)
    authority = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class HandoverReportInput(StrictSerializer):
    reported_on = serializers.DateField()


class HandoverSignInput(StrictSerializer):
    signed_on = serializers.DateField()


class HandoverPacketInput(StrictSerializer):
    health_summary = serializers.CharField(max_length=4000, allow_blank=True)
    risk_notes = serializers.CharField(max_length=4000, allow_blank=True)
    recommended_plan = serializers.CharField(max_length=4000, allow_blank=True)


# --- helpers -----------------------------------------------------------------------------


def _parse(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    given = serializer_class(data=request.data)
    given.is_valid(raise_exception=True)
    return dict(given.validated_data)


def _stay(request: Request, pk: int, action: str = "record_isolation") -> IsolationStay:
    stay = access.get_or_404(django_request(request), IsolationStay, pk=pk)
    access.require(django_request(request), request.user, action, stay.person)
    return stay


def _handover(request: Request, pk: int, action: str = "receive_handover") -> Handover:
    handover = access.get_or_404(django_request(request), Handover, pk=pk)
    access.require(django_request(request), request.user, action, handover.person)
    return handover


def _assessment(stay: IsolationStay, pk: int) -> DiagnosticAssessment:
    item = stay.assessments.filter(pk=pk).first()
    if item is None:
        raise DomainError(errors={"assessment": [_("No such assessment of this stay.")]})
    return item


def _stay_out(stay: IsolationStay, code: int = status.HTTP_200_OK) -> Response:
    stay = selectors.stays_of(stay.person).get(pk=stay.pk)
    return Response(HandoverStaySerializer(stay).data, status=code)


def _post(summary: str, request: type[serializers.Serializer], response: Any, code: int = 200) -> Any:
    return extend_schema(summary=summary, tags=TAGS, request=request, responses={code: response, **WRITE_RESPONSES})


# --- views -------------------------------------------------------------------------------


class PersonStays(JsonView):
    serializer_class = HandoverStayInput
    pagination_class = None  # a person has a handful of stays: a plain array

    @extend_schema(
        summary=gettext_lazy("A person's compulsory-isolation stays"),
        tags=TAGS,
        responses={200: HandoverStaySerializer(many=True), 401: ERROR_RESPONSES[401], 404: NOT_FOUND},
    )
    def get(self, request: Request, id: UUID) -> Response:
        person = access.get_or_404(django_request(request), Person, pk=id)
        if not access.sees(request.user, "drug_history"):
            return Response([])
        audit.viewed(django_request(request), person, section="isolation")
        return Response(HandoverStaySerializer(selectors.stays_of(person), many=True).data)

    @_post(
        gettext_lazy("Record a compulsory-isolation decision and admission"),
        HandoverStayInput,
        HandoverStaySerializer,
        201,
    )
    def post(self, request: Request, id: UUID) -> Response:
        person = access.get_or_404(django_request(request), Person, pk=id)
        access.require(django_request(request), request.user, "record_isolation", person)
        stay = services.stay_record(person=person, actor=request.user, **_parse(HandoverStayInput, request))
        return _stay_out(stay, status.HTTP_201_CREATED)


class StayEvents(JsonView):
    serializer_class = HandoverEventInput

    @_post(
        gettext_lazy("Record an escape, a return, or medical leave out and back"),
        HandoverEventInput,
        HandoverStaySerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        stay = _stay(request, pk)
        data = _parse(HandoverEventInput, request)
        action = {
            EventKind.ESCAPE: services.escape_record,
            EventKind.RETURN: services.return_record,
            EventKind.MEDICAL_OUT: services.medical_leave_start,
            EventKind.MEDICAL_BACK: services.medical_leave_end,
        }[data["kind"]]
        action(stay=stay, on=data["on"], notes=data["notes"], actor=request.user)
        return _stay_out(stay)


class StayAssessments(JsonView):
    serializer_class = HandoverAssessmentInput

    @_post(
        gettext_lazy("Record a diagnostic assessment (results are computed)"),
        HandoverAssessmentInput,
        HandoverAssessmentSerializer,
        201,
    )
    def post(self, request: Request, pk: int) -> Response:
        stay = _stay(request, pk)
        item = services.assessment_record(stay=stay, actor=request.user, **_parse(HandoverAssessmentInput, request))
        return Response(HandoverAssessmentSerializer(item).data, status=status.HTTP_201_CREATED)


class StayEarlyRelease(JsonView):
    serializer_class = HandoverEarlyReleaseInput

    @_post(gettext_lazy("Record an early-release decision"), HandoverEarlyReleaseInput, HandoverStaySerializer)
    def post(self, request: Request, pk: int) -> Response:
        stay = _stay(request, pk)
        data = _parse(HandoverEarlyReleaseInput, request)
        services.early_release_decide(
            stay=stay,
            decided_on=data["decided_on"],
            release_on=data["release_on"],
            assessment=_assessment(stay, data["assessment"]),
            actor=request.user,
        )
        return _stay_out(stay)


class StayExtension(JsonView):
    serializer_class = HandoverExtensionInput

    @_post(gettext_lazy("Record an extension decision"), HandoverExtensionInput, HandoverStaySerializer)
    def post(self, request: Request, pk: int) -> Response:
        stay = _stay(request, pk)
        data = _parse(HandoverExtensionInput, request)
        services.extension_decide(
            stay=stay,
            decided_on=data["decided_on"],
            months=data["months"],
            assessment=_assessment(stay, data["assessment"]),
            actor=request.user,
        )
        return _stay_out(stay)


class StayRelease(JsonView):
    serializer_class = HandoverReleaseInput

    @_post(gettext_lazy("Record the release"), HandoverReleaseInput, HandoverStaySerializer)
    def post(self, request: Request, pk: int) -> Response:
        stay = _stay(request, pk)
        services.stay_release(stay=stay, actor=request.user, **_parse(HandoverReleaseInput, request))
        return _stay_out(stay)


class Inbox(JsonView):
    @extend_schema(
        summary=gettext_lazy("The caller's handover inbox"),
        tags=TAGS,
        responses={200: HandoverSerializer(many=True), 400: ERROR_RESPONSES[400], 401: ERROR_RESPONSES[401]},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.inbox(user=request.user, today=timezone.localdate()))
        return self.get_paginated_response([packet(h, request.user) for h in page])


class HandoverDetail(JsonView):
    @extend_schema(
        summary=gettext_lazy("One handover packet"),
        tags=TAGS,
        responses={200: HandoverSerializer, 401: ERROR_RESPONSES[401], 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        handover = access.get_or_404(django_request(request), Handover, pk=pk)
        audit.viewed(django_request(request), handover.person, section="handover")
        return Response(packet(handover, request.user))


class HandoverPacket(JsonView):
    serializer_class = HandoverPacketInput

    @_post(
        gettext_lazy("The facility writes the packet's health summary, risk notes and plan"),
        HandoverPacketInput,
        HandoverSerializer,
    )
    def post(self, request: Request, pk: int) -> Response:
        handover = _handover(request, pk, "record_isolation")
        handover = services.handover_packet_update(
            handover=handover, actor=request.user, **_parse(HandoverPacketInput, request)
        )
        return Response(packet(handover, request.user))


class HandoverAcknowledgeInput(StrictSerializer):
    """No body: the acknowledgement is the request itself."""


class HandoverAcknowledge(JsonView):
    serializer_class = HandoverAcknowledgeInput  # OPTIONS describes the (empty) body

    @extend_schema(
        summary=gettext_lazy("Acknowledge receipt of the handover"),
        tags=TAGS,
        request=None,
        responses={200: HandoverSerializer, **WRITE_RESPONSES},
    )
    def post(self, request: Request, pk: int) -> Response:
        handover = services.handover_acknowledge(handover=_handover(request, pk), actor=request.user)
        return Response(packet(handover, request.user))


class HandoverPickup(JsonView):
    serializer_class = HandoverPickupInput

    @_post(gettext_lazy("Record the pick-up (接回)"), HandoverPickupInput, HandoverSerializer)
    def post(self, request: Request, pk: int) -> Response:
        handover = services.handover_pickup(
            handover=_handover(request, pk), actor=request.user, **_parse(HandoverPickupInput, request)
        )
        return Response(packet(handover, request.user))


class HandoverDecision(JsonView):
    serializer_class = HandoverDecisionInput

    @_post(gettext_lazy("Record the community (drug) rehab decision"), HandoverDecisionInput, HandoverSerializer, 201)
    def post(self, request: Request, pk: int) -> Response:
        handover = _handover(request, pk)
        access.require(django_request(request), request.user, "supervise", handover.person)
        services.handover_decide(handover=handover, actor=request.user, **_parse(HandoverDecisionInput, request))
        handover.refresh_from_db()
        return Response(packet(handover, request.user), status=status.HTTP_201_CREATED)


class HandoverReport(JsonView):
    serializer_class = HandoverReportInput

    @_post(
        gettext_lazy("The person reported; prepares the agreement"),
        HandoverReportInput,
        HandoverAgreementSerializer,
        201,
    )
    def post(self, request: Request, pk: int) -> Response:
        handover = _handover(request, pk)
        access.require(django_request(request), request.user, "supervise", handover.person)
        agreement = services.handover_report(
            handover=handover, actor=request.user, **_parse(HandoverReportInput, request)
        )
        return Response(HandoverAgreementSerializer(agreement).data, status=status.HTTP_201_CREATED)


class AgreementDetail(JsonView):
    @extend_schema(
        summary=gettext_lazy("An agreement and its text (Chinese)"),
        tags=TAGS,
        responses={200: HandoverAgreementSerializer, 401: ERROR_RESPONSES[401], 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        agreement = access.get_or_404(django_request(request), Agreement, pk=pk)
        if not access.sees(request.user, "identity"):
            raise Http404  # the text names the person: a role that does not see identities does not see it
        audit.viewed(django_request(request), agreement.order.person, section="agreement")
        return Response(HandoverAgreementSerializer(agreement).data)


class AgreementSign(JsonView):
    serializer_class = HandoverSignInput

    @_post(gettext_lazy("Record that the person signed the agreement"), HandoverSignInput, HandoverAgreementSerializer)
    def post(self, request: Request, pk: int) -> Response:
        agreement = access.get_or_404(django_request(request), Agreement, pk=pk)
        access.require(django_request(request), request.user, "supervise", agreement.order.person)
        agreement = services.agreement_sign(
            agreement=agreement, actor=request.user, **_parse(HandoverSignInput, request)
        )
        return Response(HandoverAgreementSerializer(agreement).data)


class Figures(JsonView):
    pagination_class = None  # one row per child jurisdiction and the total: a plain array
    @extend_schema(
        summary=gettext_lazy("Handover figures per jurisdiction and period"),
        tags=TAGS,
        parameters=[
            OpenApiParameter("start", str, description="first release day, YYYY-MM-DD"),
            OpenApiParameter("end", str, description="last release day, YYYY-MM-DD"),
        ],
        responses={200: HandoverFigureSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        access.require(django_request(request), request.user, "view_figures")
        given = FigurePeriod(data=request.query_params)
        given.is_valid(raise_exception=True)
        start, end = selectors.period_or_default(
            given.validated_data.get("start"), given.validated_data.get("end"), timezone.localdate()
        )
        rows = selectors.figures(user=request.user, start=start, end=end, today=timezone.localdate())
        return Response(HandoverFigureSerializer(rows, many=True).data)


class FigurePeriod(serializers.Serializer):
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise serializers.ValidationError({"end": [_("The end comes before the start.")]})
        return data


urlpatterns = [
    path("persons/<uuid:id>/stays/", PersonStays.as_view(), name="api-person-stays"),
    path("stays/<int:pk>/events/", StayEvents.as_view(), name="api-stay-events"),
    path("stays/<int:pk>/assessments/", StayAssessments.as_view(), name="api-stay-assessments"),
    path("stays/<int:pk>/early-release/", StayEarlyRelease.as_view(), name="api-stay-early-release"),
    path("stays/<int:pk>/extension/", StayExtension.as_view(), name="api-stay-extension"),
    path("stays/<int:pk>/release/", StayRelease.as_view(), name="api-stay-release"),
    path("handovers/", Inbox.as_view(), name="api-handovers"),
    path("handovers/figures/", Figures.as_view(), name="api-handover-figures"),
    path("handovers/<int:pk>/", HandoverDetail.as_view(), name="api-handover"),
    path("handovers/<int:pk>/packet/", HandoverPacket.as_view(), name="api-handover-packet"),
    path("handovers/<int:pk>/acknowledge/", HandoverAcknowledge.as_view(), name="api-handover-acknowledge"),
    path("handovers/<int:pk>/pickup/", HandoverPickup.as_view(), name="api-handover-pickup"),
    path("handovers/<int:pk>/decision/", HandoverDecision.as_view(), name="api-handover-decision"),
    path("handovers/<int:pk>/report/", HandoverReport.as_view(), name="api-handover-report"),
    path("agreements/<int:pk>/", AgreementDetail.as_view(), name="api-agreement"),
    path("agreements/<int:pk>/sign/", AgreementSign.as_view(), name="api-agreement-sign"),
]
