"""REST API v1 of the person registry: search, register, read, update, and the timeline.

One person's record and timeline also answer, read only, for a person out of reach that the
caller opened by break-the-glass (docs/security.md); lists never show such a person.

A person's fields appear only when the caller's role sees their field group (absent, not null,
otherwise). ID number, phone and addresses are masked unless the role may reveal them and the
request asks with ``?reveal=1`` on one person's record; each reveal is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db import transaction
from django.urls import path
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from liangyi.core import access, audit, reauth
from liangyi.core.api import ERROR_RESPONSES, REAUTH_REQUIRED, JsonView, StrictSerializer, django_request
from liangyi.core.errors import ConflictError
from liangyi.people import selectors, services
from liangyi.people.fieldgroups import FIELD_GROUP, REVEALABLE
from liangyi.people.models import (
    Education,
    Employment,
    Gender,
    MannerOfUse,
    Marital,
    Person,
    Status,
    mask_address,
)

NOT_FOUND = OpenApiResponse(description=gettext_lazy("No such person, or the person is out of the caller's reach."))
CONFLICT = OpenApiResponse(description=gettext_lazy(
    "The record changed since the given version was read: fetch it again and resend."))

MASKS: dict[str, Callable[[Person], str]] = {
    "id_number": lambda p: p.id_number_masked,
    "birth_date": lambda p: p.masked_birth_date,
    "phone": lambda p: p.masked_phone,
    "household_address": lambda p: mask_address(p.household_address),
    "residence_address": lambda p: mask_address(p.residence_address),
}


# --- output ------------------------------------------------------------------------------


class MaskedField(serializers.CharField):
    """Shown masked, or in full when the view revealed it (the view audits each reveal)."""

    def __init__(self, **kwargs: Any):
        super().__init__(required=False, **kwargs)

    def get_attribute(self, instance: Person) -> str:
        revealed = self.context.get("revealed", {})
        if self.field_name in revealed:
            return revealed[self.field_name]
        return MASKS[self.field_name](instance)


def group_help(group: str) -> Any:
    return format_lazy(gettext_lazy("Present only for roles that see the field group {group}."), group=group)


class PersonSerializer(serializers.Serializer):
    """A person as the caller's role may see them.

    Always-present fields are read-only (required in the schema); the fields of field groups are
    optional, because they are absent for roles that do not see their group. Context: ``viewer``
    (the user whose role decides the fields) and, for one record, ``revealed`` (field → full value).
    """

    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    jurisdiction = serializers.CharField(source="jurisdiction_id", read_only=True, help_text=gettext_lazy(
        "Where the person lies: the residence jurisdiction, or else the household one."))
    jurisdiction_name = serializers.CharField(source="jurisdiction.name", read_only=True)
    household_jurisdiction = serializers.CharField(source="household_jurisdiction_id", read_only=True)
    residence_jurisdiction = serializers.CharField(source="residence_jurisdiction_id", read_only=True,
                                                   allow_null=True)
    responsible_worker = serializers.CharField(source="responsible_worker.username", read_only=True,
                                               allow_null=True, help_text=gettext_lazy("A username."))
    possible_duplicate_of = serializers.UUIDField(source="possible_duplicate_of_id", read_only=True,
                                                  allow_null=True)
    version = serializers.IntegerField(read_only=True, help_text=gettext_lazy(
        "Send it back with a PATCH to refuse the change if someone else changed the record meanwhile."))
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    # identity
    id_number = MaskedField(help_text=gettext_lazy("Masked (530302********123X) unless revealed."))
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, help_text=group_help("identity"))
    birth_date = MaskedField(help_text=gettext_lazy(
        "Masked to the year (1980-**-**) unless revealed: with the masked ID number the full date would give "
        "the whole number away."))
    ethnicity = serializers.CharField(required=False, help_text=group_help("identity"))
    aliases = serializers.ListField(child=serializers.CharField(), required=False, help_text=group_help("identity"))
    education = serializers.CharField(required=False, help_text=group_help("identity"))
    marital_status = serializers.CharField(required=False, help_text=group_help("identity"))
    employment = serializers.CharField(required=False, help_text=group_help("identity"))
    has_skill = serializers.BooleanField(required=False, allow_null=True, help_text=group_help("identity"))
    # contact
    phone = MaskedField(help_text=gettext_lazy("Masked (138****5678) unless revealed."))
    household_address = MaskedField(help_text=gettext_lazy("Masked unless revealed."))
    residence_address = MaskedField(help_text=gettext_lazy("Masked unless revealed."))
    # drug history
    substances = serializers.ListField(child=serializers.CharField(), required=False,
                                       help_text=group_help("drug_history"))
    first_use_year = serializers.IntegerField(required=False, allow_null=True, help_text=group_help("drug_history"))
    manner_of_use = serializers.CharField(required=False, help_text=group_help("drug_history"))
    # medical, infectious disease, police notes: each its own group
    health_notes = serializers.CharField(required=False, help_text=group_help("medical"))
    infectious_disease = serializers.CharField(required=False, help_text=group_help("infectious_disease"))
    police_notes = serializers.CharField(required=False, help_text=group_help("police_notes"))

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if "viewer" not in self.context:  # the schema generator: every field
            return fields
        viewer = self.context["viewer"]
        return {name: field for name, field in fields.items()
                if name not in FIELD_GROUP or access.sees(viewer, FIELD_GROUP[name])}


class TimelineEventSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.CharField(read_only=True)
    occurred_at = serializers.DateTimeField(read_only=True)
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True)
    actor_name = serializers.CharField(source="actor.display_name", read_only=True, allow_null=True)
    summary = serializers.CharField(read_only=True)
    ref_type = serializers.CharField(read_only=True)
    ref_id = serializers.CharField(read_only=True)


# --- input -------------------------------------------------------------------------------


class PersonFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text=gettext_lazy(
        "A name (or part of one), an alias, or a whole ID number in any accepted spelling."))
    status = serializers.ChoiceField(choices=Status.choices, required=False, allow_blank=True)
    jurisdiction = serializers.CharField(required=False, allow_blank=True, max_length=12, help_text=gettext_lazy(
        "A jurisdiction code: persons anywhere in its subtree."))


class PersonWriteSerializer(StrictSerializer):
    """The fields a client may set; the service (people.services.clean) checks them as a whole."""

    name = serializers.CharField(max_length=60)
    id_number = serializers.CharField(max_length=40, help_text=gettext_lazy(
        "18 characters (a 15-digit legacy number is converted); checked for length, characters, birth date "
        "and check character."))
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, help_text=gettext_lazy(
        "Derived from the ID number when omitted; must agree with it."))
    birth_date = serializers.DateField(required=False, help_text=gettext_lazy(
        "Derived from the ID number when omitted; must agree with it."))
    ethnicity = serializers.CharField(max_length=20, required=False, allow_blank=True)
    aliases = serializers.ListField(child=serializers.CharField(max_length=60), required=False)
    education = serializers.ChoiceField(choices=Education.choices, required=False, allow_blank=True)
    marital_status = serializers.ChoiceField(choices=Marital.choices, required=False, allow_blank=True)
    employment = serializers.ChoiceField(choices=Employment.choices, required=False, allow_blank=True)
    has_skill = serializers.BooleanField(required=False, allow_null=True)
    household_jurisdiction = serializers.CharField(max_length=12, help_text=gettext_lazy(
        "The jurisdiction code of the household registration."))
    household_address = serializers.CharField(max_length=300, required=False, allow_blank=True)
    residence_jurisdiction = serializers.CharField(max_length=12, required=False, allow_blank=True,
                                                   allow_null=True, help_text=gettext_lazy(
                                                       "Where the person lives, if not the household jurisdiction."))
    residence_address = serializers.CharField(max_length=300, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Status.choices)
    responsible_worker = serializers.CharField(max_length=150, required=False, allow_blank=True, allow_null=True,
                                               help_text=gettext_lazy("A username."))
    substances = serializers.ListField(child=serializers.CharField(max_length=60), required=False)
    first_use_year = serializers.IntegerField(required=False, allow_null=True)
    manner_of_use = serializers.ChoiceField(choices=MannerOfUse.choices, required=False, allow_blank=True)
    health_notes = serializers.CharField(required=False, allow_blank=True)
    infectious_disease = serializers.CharField(required=False, allow_blank=True)
    police_notes = serializers.CharField(required=False, allow_blank=True)


class PersonCreateSerializer(PersonWriteSerializer):
    pass


class PersonUpdateSerializer(PersonWriteSerializer):
    """Used with partial=True: only the fields sent are changed."""

    version = serializers.IntegerField(required=False, min_value=1, help_text=gettext_lazy(
        "The version you read; when given, a record changed since answers 409."))


# --- views -------------------------------------------------------------------------------


def wants_reveal(request: Request) -> bool:
    return request.query_params.get("reveal", "").lower() in {"1", "true", "yes"}


def reveal_fields(request: Request, person: Person) -> dict[str, str]:
    """The masked fields the caller may see in full, each reveal audited; {} when not allowed."""
    user = request.user
    if not access.can(user, "reveal", person):
        return {}
    fields = [f for f, group in REVEALABLE.items() if access.sees(user, group) and getattr(person, f)]
    with transaction.atomic():
        return {f: services.reveal(actor=user, person=person, field=f, request=django_request(request))
                for f in fields}


def _audit_read(request: Request, person: Person, grant: Any, **detail: Any) -> None:
    if grant is None:
        audit.viewed(django_request(request), person, **detail)
    else:
        audit.record(request.user, "person.viewed", person, request=django_request(request),
                     glass_grant=str(grant.pk), via="api", **detail)


class PersonListCreate(JsonView):
    """Persons in the caller's reach; registering a new one."""

    serializer_class = PersonCreateSerializer

    @extend_schema(summary=gettext_lazy("Find persons in your reach"), tags=["persons"],
                   parameters=[PersonFilterSerializer],
                   responses={200: PersonSerializer(many=True), 400: ERROR_RESPONSES[400], 401: ERROR_RESPONSES[401]})
    def get(self, request: Request) -> Response:
        filters = PersonFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        persons = selectors.persons_search(user=request.user, **filters.validated_data)
        page = self.paginate_queryset(persons.select_related("responsible_worker"))
        return self.get_paginated_response(PersonSerializer(page, many=True, context={"viewer": request.user}).data)

    @extend_schema(summary=gettext_lazy("Register a person"), tags=["persons"],
                   request=PersonCreateSerializer, responses={201: PersonSerializer, **ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        access.require(django_request(request), request.user, "create")
        given = PersonCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        person = services.person_create(actor=request.user, data=dict(given.validated_data),
                                        request=django_request(request), via="api")
        return Response(PersonSerializer(person, context={"viewer": request.user}).data, status=status.HTTP_201_CREATED)


class PersonDetail(JsonView):
    """One person's record: read (audited), or change some of its fields."""

    @extend_schema(
        summary=gettext_lazy("Read a person's record (audited)"), tags=["persons"],
        parameters=[OpenApiParameter("reveal", OpenApiTypes.BOOL, description=gettext_lazy(
            "1: show the ID number, phone and addresses in full, when the role may (each reveal is audited). "
            "Needs a proof of identity from the last LIANGYI_REAUTH_MINUTES minutes: the token's issue or "
            "POST /api/v1/auth/reauth/; otherwise 403 {\"reauth\": [...]}."))],
        responses={200: PersonSerializer, 401: ERROR_RESPONSES[401], 403: REAUTH_REQUIRED, 404: NOT_FOUND},
    )
    def get(self, request: Request, id: UUID) -> Response:
        # A person out of reach reads only under the caller's break-the-glass grant: the same
        # fields, no reveal (reveal needs the person in reach), the read flagged in the audit log.
        person, grant = access.read_or_404(django_request(request), Person, pk=id)
        reveal = wants_reveal(request) and grant is None
        if reveal and access.can(request.user, "reveal", person):
            reauth.check_api(request)  # 403 {"reauth": [...]} without a recent proof of identity
        _audit_read(request, person, grant)
        revealed = reveal_fields(request, person) if reveal else {}
        return Response(PersonSerializer(person, context={"viewer": request.user, "revealed": revealed}).data)

    @extend_schema(summary=gettext_lazy("Change some fields of a person's record"), tags=["persons"],
                   request=PersonUpdateSerializer,
                   responses={200: PersonSerializer, **ERROR_RESPONSES, 404: NOT_FOUND, 409: CONFLICT})
    def patch(self, request: Request, id: UUID) -> Response:
        person = access.get_or_404(django_request(request), Person, pk=id)
        access.require(django_request(request), request.user, "edit", person)
        given = PersonUpdateSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        version = data.pop("version", None)
        try:
            services.person_update(actor=request.user, person=person, data=data, request=django_request(request),
                                   expected_version=version, via="api")
        except ConflictError:
            current = Person.objects.filter(pk=person.pk).values_list("version", flat=True).first()
            raise ConflictError(errors={"version": [
                _("Someone else changed this record since you read it; it is now at version %(version)s. "
                  "Fetch it again, redo your change and send the new version.") % {"version": current}]}) from None
        return Response(PersonSerializer(person, context={"viewer": request.user}).data)


class PersonTimeline(JsonView):
    """Everything recorded about a person, newest first (reading it is audited)."""

    @extend_schema(summary=gettext_lazy("A person's timeline, newest first (audited)"), tags=["persons"],
                   responses={200: TimelineEventSerializer(many=True), 401: ERROR_RESPONSES[401], 404: NOT_FOUND})
    def get(self, request: Request, id: UUID) -> Response:
        person, grant = access.read_or_404(django_request(request), Person, pk=id)
        _audit_read(request, person, grant, section="timeline")
        page = self.paginate_queryset(selectors.timeline_for(user=request.user, person=person))
        return self.get_paginated_response(TimelineEventSerializer(page, many=True).data)


urlpatterns = [
    path("persons/", PersonListCreate.as_view(), name="api-persons"),
    path("persons/<uuid:id>/", PersonDetail.as_view(), name="api-person"),
    path("persons/<uuid:id>/timeline/", PersonTimeline.as_view(), name="api-person-timeline"),
]
