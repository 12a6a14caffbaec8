"""REST endpoints of the medical chain: a person's insurance years, and recording one."""

from __future__ import annotations

from uuid import UUID

from django.urls import path
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from liangyi.core import access
from liangyi.core.api import ERROR_RESPONSES, JsonView, StrictSerializer, django_request
from liangyi.medical import selectors, services
from liangyi.medical.models import InsuranceYear, Scheme
from liangyi.people.api import NOT_FOUND
from liangyi.people.models import Person


class InsuranceYearSerializer(serializers.ModelSerializer):
    class Meta:
        model = InsuranceYear
        fields = ["year", "scheme", "paid_on", "subsidised", "notes"]


class InsuranceYearInSerializer(StrictSerializer):
    year = serializers.IntegerField()
    scheme = serializers.ChoiceField(choices=Scheme.choices)
    paid_on = serializers.DateField(allow_null=True, required=False, default=None)
    subsidised = serializers.BooleanField(required=False, default=False)
    notes = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class PersonInsurance(JsonView):
    """The person's medical insurance year by year (GET), or record one year (POST, audited)."""

    serializer_class = InsuranceYearInSerializer

    @extend_schema(summary=gettext_lazy("A person's medical insurance years"), tags=["medical"],
                   responses={200: InsuranceYearSerializer(many=True), 401: ERROR_RESPONSES[401], 404: NOT_FOUND})
    def get(self, request: Request, id: UUID) -> Response:
        person = access.get_or_404(django_request(request), Person, pk=id)
        return Response(InsuranceYearSerializer(selectors.years_of(user=request.user, person=person), many=True).data)

    @extend_schema(summary=gettext_lazy("Record a year of a person's medical insurance"), tags=["medical"],
                   request=InsuranceYearInSerializer,
                   responses={201: InsuranceYearSerializer, 400: ERROR_RESPONSES[400], 401: ERROR_RESPONSES[401],
                              403: ERROR_RESPONSES[403], 404: NOT_FOUND})
    def post(self, request: Request, id: UUID) -> Response:
        person = access.get_or_404(django_request(request), Person, pk=id)
        access.require(django_request(request), request.user, "edit", person)
        given = InsuranceYearInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        record = services.year_record(person=person, actor=request.user, **given.validated_data)
        return Response(InsuranceYearSerializer(record).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("persons/<uuid:id>/insurance/", PersonInsurance.as_view(), name="api-person-insurance"),
]
