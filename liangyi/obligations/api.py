"""REST: the caller's worklist and one person's obligations (INTERFACES.md)."""

from __future__ import annotations

from uuid import UUID

from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from liangyi.core import access, audit
from liangyi.core.api import ERROR_RESPONSES, JsonView, django_request
from liangyi.obligations import selectors
from liangyi.obligations.models import Kind, Obligation, State
from liangyi.people.api import NOT_FOUND
from liangyi.people.models import Person


class ObligationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    person = serializers.UUIDField(source="person_id", read_only=True)
    person_name = serializers.CharField(source="person.name", read_only=True)
    kind = serializers.ChoiceField(choices=Kind.choices, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    due_on = serializers.DateField(read_only=True)
    window_start = serializers.DateField(read_only=True, allow_null=True)
    window_end = serializers.DateField(read_only=True, allow_null=True)
    state = serializers.ChoiceField(choices=State.choices, read_only=True)
    office = serializers.CharField(source="office_id", read_only=True)
    worker = serializers.CharField(source="worker.username", read_only=True, allow_null=True)
    done_on = serializers.DateField(read_only=True, allow_null=True)
    waived_reason = serializers.CharField(read_only=True)


class Worklist(JsonView):
    """The caller's obligations that are overdue, due, or due within 7 days, most urgent first."""

    @extend_schema(summary=gettext_lazy("Your worklist"), tags=["obligations"],
                   responses={200: ObligationSerializer(many=True), 400: ERROR_RESPONSES[400],
                              401: ERROR_RESPONSES[401]})
    def get(self, request: Request) -> Response:
        items = selectors.worklist(request.user, timezone.localdate())
        if request.query_params.get("mine") in {"1", "true"}:
            items = items.filter(worker=request.user)
        page = self.paginate_queryset(items)
        return self.get_paginated_response(ObligationSerializer(page, many=True).data)


class PersonObligations(JsonView):
    """Everything due for one person, done and open, by due date (reading it is audited)."""

    @extend_schema(summary=gettext_lazy("A person's obligations"), tags=["obligations"],
                   responses={200: ObligationSerializer(many=True), 400: ERROR_RESPONSES[400],
                              401: ERROR_RESPONSES[401], 404: NOT_FOUND})
    def get(self, request: Request, id: UUID) -> Response:
        person = access.get_or_404(django_request(request), Person, pk=id)
        audit.viewed(django_request(request), person, section="obligations")
        items = selectors.with_state(
            Obligation.objects.filter(person=person).select_related("person", "office", "worker")
            .order_by("due_on", "id"),
            timezone.localdate(),
        )
        page = self.paginate_queryset(items)
        return self.get_paginated_response(ObligationSerializer(page, many=True).data)


urlpatterns = [
    path("worklist/", Worklist.as_view(), name="api-worklist"),
    path("persons/<uuid:id>/obligations/", PersonObligations.as_view(), name="api-person-obligations"),
]
