"""REST endpoints of the risk chain: a person's level and its explanation, recording an
assessment (answers in, computed score out), and a supervisor's override."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from liangyi.core import access, audit
from liangyi.core.api import ERROR_RESPONSES, JsonView, StrictSerializer, django_request
from liangyi.people.api import NOT_FOUND
from liangyi.people.models import Person
from liangyi.risk import instruments, selectors, services
from liangyi.risk.models import Assessment, Override


def _person(request: Request, id: UUID) -> Person:
    person = access.get_or_404(django_request(request), Person, pk=id)
    if not access.sees(request.user, "drug_history"):
        raise Http404
    return person


class FactorSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    value = serializers.JSONField(allow_null=True, help_text=gettext_lazy(
        "The fact as graded; null when the caller's role does not see the factor's field group."))
    points = serializers.IntegerField()
    rule = serializers.CharField(help_text=gettext_lazy("The band or value that applied, 'unknown' or 'other'."))
    floor = serializers.CharField(allow_null=True)
    hidden = serializers.BooleanField()


class LevelSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    colour = serializers.CharField()


class GradingSerializer(serializers.Serializer):
    graded_on = serializers.DateField()
    ruleset = serializers.CharField()
    ruleset_version = serializers.CharField()
    level = serializers.CharField()
    points = serializers.IntegerField()
    reason = serializers.CharField()


class OverrideOutSerializer(serializers.Serializer):
    level = serializers.CharField()
    reason = serializers.CharField()
    starts_on = serializers.DateField()
    expires_on = serializers.DateField()


class RiskSerializer(serializers.Serializer):
    level = LevelSerializer(allow_null=True, help_text=gettext_lazy("The effective level (the override's, if active)."))
    computed = LevelSerializer(allow_null=True)
    grading = GradingSerializer(allow_null=True)
    override = OverrideOutSerializer(allow_null=True)
    factors = FactorSerializer(many=True)
    history = GradingSerializer(many=True)


def _level(level: Any) -> dict[str, str] | None:
    return {"key": level.key, "label": str(level.label), "colour": level.colour} if level else None


def risk_payload(user: Any, person: Person) -> dict[str, Any]:
    effective = selectors.effective(person, timezone.localdate())
    factors = []
    if effective.grading:
        for row in selectors.explain(user, effective.grading):
            factors.append({"key": row["key"], "label": str(row["label"]),
                            "value": None if row["hidden"] else row["value"], "points": row["points"],
                            "rule": "" if row["hidden"] else row["rule"], "floor": row.get("floor"),
                            "hidden": row["hidden"]})
    return {
        "level": _level(effective.level), "computed": _level(effective.computed), "grading": effective.grading,
        "override": effective.override, "factors": factors, "history": list(selectors.history(person, limit=50)),
    }


class PersonRisk(JsonView):
    """The person's effective risk level, each factor's points, and the grading history (audited read)."""

    @extend_schema(summary=gettext_lazy("A person's risk level"), tags=["risk"],
                   responses={200: RiskSerializer, 401: ERROR_RESPONSES[401], 404: NOT_FOUND})
    def get(self, request: Request, id: UUID) -> Response:
        person = _person(request, id)
        audit.viewed(django_request(request), person, section="risk")
        return Response(RiskSerializer(risk_payload(request.user, person)).data)


class AssessmentInSerializer(StrictSerializer):
    instrument = serializers.CharField(max_length=40, help_text=gettext_lazy(
        "An instrument key: phq9, gad7, audit, social_support."))
    answers = serializers.DictField(child=serializers.IntegerField(allow_null=True), help_text=gettext_lazy(
        "Item key -> the value of the option chosen (null or absent = not answered)."))
    assessed_on = serializers.DateField(required=False)


class AssessmentOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    instrument = serializers.CharField()
    instrument_version = serializers.CharField()
    assessed_on = serializers.DateField()
    total = serializers.IntegerField()
    band = serializers.CharField()
    subscales = serializers.DictField(child=serializers.IntegerField(allow_null=True))
    subscale_bands = serializers.DictField(child=serializers.CharField())
    flags = serializers.ListField(child=serializers.CharField())
    prorated = serializers.BooleanField()
    skipped = serializers.ListField(child=serializers.CharField())


class PersonAssessments(JsonView):
    """Record a filled-in instrument: the score is computed from the answers, and the person regraded."""

    serializer_class = AssessmentInSerializer

    @extend_schema(summary=gettext_lazy("Record an assessment"), tags=["risk"], request=AssessmentInSerializer,
                   responses={201: AssessmentOutSerializer, 400: ERROR_RESPONSES[400], 401: ERROR_RESPONSES[401],
                              403: ERROR_RESPONSES[403], 404: NOT_FOUND})
    def post(self, request: Request, id: UUID) -> Response:
        person = _person(request, id)
        given = AssessmentInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        if instruments.get(data["instrument"]) is None:
            raise serializers.ValidationError({"instrument": [gettext_lazy("There is no such instrument.")]})
        assessment: Assessment = services.assessment_record(
            person=person, instrument=data["instrument"], answers=data["answers"], actor=request.user,
            assessed_on=data.get("assessed_on"), request=django_request(request))
        return Response(AssessmentOutSerializer(assessment).data, status=status.HTTP_201_CREATED)


class OverrideInSerializer(StrictSerializer):
    level = serializers.CharField(max_length=20)
    reason = serializers.CharField(max_length=300)
    expires_on = serializers.DateField()


class PersonRiskOverride(JsonView):
    """A supervisor sets the level in place of the computed one, with a reason, until it expires (audited)."""

    serializer_class = OverrideInSerializer

    @extend_schema(summary=gettext_lazy("Override a person's risk level"), tags=["risk"], request=OverrideInSerializer,
                   responses={201: OverrideOutSerializer, 400: ERROR_RESPONSES[400], 401: ERROR_RESPONSES[401],
                              403: ERROR_RESPONSES[403], 404: NOT_FOUND})
    def post(self, request: Request, id: UUID) -> Response:
        person = _person(request, id)
        given = OverrideInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        override: Override = services.override_set(person=person, actor=request.user, request=django_request(request),
                                                   **given.validated_data)
        return Response(OverrideOutSerializer(override).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("persons/<uuid:id>/risk/", PersonRisk.as_view(), name="api-person-risk"),
    path("persons/<uuid:id>/risk/override/", PersonRiskOverride.as_view(), name="api-person-risk-override"),
    path("persons/<uuid:id>/assessments/", PersonAssessments.as_view(), name="api-person-assessments"),
]
