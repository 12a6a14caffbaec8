"""REST API v1 of core: bearer tokens, jurisdictions and users; and the API's error handler.

Errors answer 400 with ``{field: [messages]}`` (``non_field_errors`` for the whole record),
409 when the record changed since it was read, 404 for anything out of reach (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth import logout, password_validation
from django.contrib.auth.models import update_last_login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import path
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from liangyi.core import access, audit, ratelimit, reauth, twofactor
from liangyi.core.auth import login_attempt, reauth_attempt, second_factor_attempt
from liangyi.core.errors import ConflictError, DomainError
from liangyi.core.models import ApiToken, Jurisdiction, Level, Role, User
from liangyi.core.views_admin import jurisdiction_add, user_add

# --- errors ------------------------------------------------------------------------------


def error_body(errors: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{field: [messages]}``; whole-record errors ('' or Django's __all__) go under non_field_errors."""
    body: dict[str, list[str]] = {}
    for field, messages in errors.items():
        key = api_settings.NON_FIELD_ERRORS_KEY if field in ("", NON_FIELD_ERRORS) else field
        items = messages if isinstance(messages, list | tuple) else [messages]
        body.setdefault(key, []).extend(str(m) for m in items)
    return body


def domain_error(exc: DjangoValidationError) -> DomainError:
    """A model's ValidationError (from full_clean) as the DomainError services raise."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
    return DomainError(errors={("" if k == NON_FIELD_ERRORS else k): list(v) for k, v in errors.items()})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus: DomainError → 400 per field, ConflictError → 409, Django's ValidationError → 400."""
    if isinstance(exc, DjangoValidationError):
        exc = domain_error(exc)
    if isinstance(exc, DomainError):
        set_rollback()
        body = error_body(exc.errors) or error_body({"": [str(exc) or _("The request was refused.")]})
        code = status.HTTP_409_CONFLICT if isinstance(exc, ConflictError) else status.HTTP_400_BAD_REQUEST
        return Response(body, status=code)
    # Http404 and PermissionDenied become 404 and 403 there, like any APIException.
    return drf_exception_handler(exc, context)


RATE_LIMITED = OpenApiResponse(description=gettext_lazy(
    "Too many failed attempts from the client's address: wait the seconds in Retry-After."))
REAUTH_REQUIRED = OpenApiResponse(description=gettext_lazy(
    "No recent proof of identity: {\"reauth\": [message]}. POST /api/v1/auth/reauth/, then repeat."))

ERROR_RESPONSES = {
    400: OpenApiResponse(description=gettext_lazy("Invalid input: {field: [messages]}.")),
    401: OpenApiResponse(description=gettext_lazy("No valid token (missing, expired or revoked).")),
    403: OpenApiResponse(description=gettext_lazy("The caller's role may not do this.")),
}


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know: a typo is an error, not silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - {name for name, f in self.fields.items() if not f.read_only})
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("There is no such field, or it cannot be set: see the API documentation.")]
                     for name in unknown})
        return super().to_internal_value(data)


class JsonView(generics.GenericAPIView):
    """The base of the API's views: JSON in and JSON out.

    No browsable HTML renderer: it would fill its edit forms by serializing the record with the
    write serializer, bypassing masking and field groups. ``serializer_class``, where set, is the
    body of POST and only describes it to OPTIONS requests; each method names its own serializers.
    """

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]


def django_request(request: Request) -> HttpRequest:
    """The HttpRequest behind DRF's Request (the access and audit helpers take Django's)."""
    return request._request


# --- the schema and its documentation ----------------------------------------------------


class SchemaAccess(BasePermission):
    """``/api/schema/``: open in the demo; in production only for a logged-in caller (a session or a
    bearer token), since the schema maps every endpoint and field of the system (issue 15)."""

    def has_permission(self, request, view) -> bool:
        return not settings.PRODUCTION or bool(request.user and request.user.is_authenticated)


def docs_login_required(view):
    """``/api/docs/``: in production a page that asks for a login first (the browser then fetches
    the schema with its session); in the demo open, like the schema."""
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if settings.PRODUCTION and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped


# --- authentication ----------------------------------------------------------------------


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes liangyi.core.auth.BearerTokenAuthentication in the OpenAPI schema."""

    target_class = "liangyi.core.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Bearer")  # noqa: S106 (a scheme name, not a password)


class LoginSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True,
                                     style={"input_type": "password"})
    otp = serializers.CharField(max_length=32, required=False, write_only=True, help_text=gettext_lazy(
        "The current code of the authenticator app, or a recovery code. Required for accounts with a "
        "second factor and for every role that must have one (docs/security.md); set the app up on the "
        "web page first."))


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True, help_text=gettext_lazy(
        "Send it as the header Authorization: Bearer <token>. It is shown only once."))
    expires_at = serializers.DateTimeField(read_only=True)


@transaction.atomic
def token_issue(*, user: User, request: HttpRequest | None = None) -> tuple[ApiToken, str]:
    token, key = ApiToken.issue(user, settings.API_TOKEN_HOURS)
    update_last_login(None, user)  # what login() does for the pages, so dormant accounts show up
    audit.record(user, "api_token.issued", token, request=request, expires_at=token.expires_at.isoformat())
    return token, key


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: User, request: HttpRequest | None = None) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(actor, "api_token.revoked", token, request=request)


class TokenView(APIView):
    """POST: a username and password for a bearer token. DELETE: revoke the token the request carries."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def get_authenticators(self):
        # Logging in must not depend on an earlier (perhaps expired) token or on a session.
        request = getattr(self, "request", None)
        if request is not None and request.method == "POST":
            return []
        return super().get_authenticators()

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    @extend_schema(
        summary=gettext_lazy("Get a bearer token"),
        tags=["auth"],
        request=LoginSerializer,
        responses={200: TokenSerializer, 400: OpenApiResponse(description=gettext_lazy(
            "Wrong username, password or code, or the account is locked after repeated failures.")),
            429: RATE_LIMITED},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        given = LoginSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        # The login page's per-address counter: switching to the API buys no more attempts.
        refusal = ratelimit.attempt(django_request(request), "login")
        if refusal is not None:
            return rate_limited_response(refusal)
        # The same lockout as the login page: failures are counted and audited there.
        result = login_attempt(django_request(request), given.validated_data["username"],
                               given.validated_data["password"], channel="api")
        if result.user is not None and result.second_factor:
            if twofactor.confirmed(result.user) is None:
                # The password was right, so saying what is missing tells an attacker nothing new.
                return Response(error_body({"otp": [_("This account must set up its authenticator app before it "
                                                      "can use the API: log in on the web page once.")]}),
                                status=status.HTTP_400_BAD_REQUEST)
            if not given.validated_data.get("otp"):
                return Response(error_body({"otp": [_("Send the current code of your authenticator app as otp.")]}),
                                status=status.HTTP_400_BAD_REQUEST)
            result = second_factor_attempt(django_request(request), result.user,
                                           given.validated_data.get("otp", ""), channel="api")
        if result.user is None:
            return Response(error_body({"": [result.error]}), status=status.HTTP_400_BAD_REQUEST)
        ratelimit.succeeded(django_request(request), "login")
        token, key = token_issue(user=result.user, request=django_request(request))
        response = Response(TokenSerializer({"token": key, "expires_at": token.expires_at}).data)
        # The caller is anonymous to NoStoreMiddleware, but a token must never be cached.
        add_never_cache_headers(response)
        response["Cache-Control"] = "no-store, private"
        return response

    @extend_schema(
        summary=gettext_lazy("Revoke the token sent with this request"),
        tags=["auth"],
        request=None,
        responses={204: OpenApiResponse(description=gettext_lazy("The token is revoked.")),
                   400: ERROR_RESPONSES[400], 401: ERROR_RESPONSES[401]},
    )
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            return Response(error_body({"": [_("This request carries no bearer token to revoke: "
                                                "send the token in the Authorization header.")]}),
                            status=status.HTTP_400_BAD_REQUEST)
        token_revoke(token=request.auth, actor=request.user, request=django_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReauthSerializer(StrictSerializer):
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True,
                                     style={"input_type": "password"})
    otp = serializers.CharField(max_length=32, required=False, write_only=True, help_text=gettext_lazy(
        "The current code of the authenticator app, or a recovery code: required when the account has a "
        "second factor."))


class ReauthAnswerSerializer(serializers.Serializer):
    proved_until = serializers.DateTimeField(read_only=True, help_text=gettext_lazy(
        "Reveals (?reveal=1) and exports with this token work until then without asking again."))


class ReauthView(APIView):
    """POST: prove again who you are (password, and code), for reveals and exports (core/reauth.py)."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary=gettext_lazy("Confirm who you are before a reveal or an export"),
        description=gettext_lazy(
            "A reveal (?reveal=1) or an export needs a proof of identity from the last LIANGYI_REAUTH_MINUTES "
            "minutes (15 by default). Issuing the token is one; after that, post the password (and the code "
            "of the authenticator app) here with the token, and the token's proof is renewed. Without a "
            "recent proof those requests answer 403 {\"reauth\": [...]}. Failures count towards the "
            "account's lockout; the failure that locks the account also revokes this token."),
        tags=["auth"],
        request=ReauthSerializer,
        responses={200: ReauthAnswerSerializer, 400: ERROR_RESPONSES[400], 401: ERROR_RESPONSES[401],
                   429: RATE_LIMITED},
    )
    def post(self, request: Request) -> Response:
        given = ReauthSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        refusal = ratelimit.attempt(django_request(request), "reauth")
        if refusal is not None:
            return rate_limited_response(refusal)
        result = reauth_attempt(django_request(request), request.user, given.validated_data["password"],
                                given.validated_data.get("otp", ""), channel="api")
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if not result.ok:
            if result.locked and token is not None and token.revoked_at is None:
                token_revoke(token=token, actor=request.user, request=django_request(request))
            elif result.locked:
                logout(django_request(request))
            return Response(error_body({"": [result.error]}), status=status.HTTP_400_BAD_REQUEST)
        ratelimit.succeeded(django_request(request), "reauth")
        now = timezone.now()
        if token is not None:
            ApiToken.objects.filter(pk=token.pk).update(proved_at=now)
        else:
            reauth.prove_session(django_request(request))
        return Response(ReauthAnswerSerializer({"proved_until": now + reauth.window()}).data)


def rate_limited_response(refusal: ratelimit.Refusal) -> Response:
    response = Response(error_body({"": [refusal.message]}), status=status.HTTP_429_TOO_MANY_REQUESTS)
    response["Retry-After"] = str(refusal.retry_after)
    return response


# --- jurisdictions -----------------------------------------------------------------------


class JurisdictionSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    level = serializers.ChoiceField(choices=Level.choices, read_only=True)
    level_label = serializers.CharField(source="get_level_display", read_only=True)
    parent = serializers.CharField(source="parent_id", read_only=True, allow_null=True)


class JurisdictionFilterSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=Level.choices, required=False)
    parent = serializers.CharField(max_length=12, required=False, help_text=gettext_lazy(
        "Only the direct children of this jurisdiction code."))


class JurisdictionCreateSerializer(StrictSerializer):
    code = serializers.CharField(max_length=12, help_text=gettext_lazy(
        "National statistical division code: 2, 4, 6, 9 or 12 digits by level, starting with the parent's."))
    name = serializers.CharField(max_length=100)
    level = serializers.ChoiceField(choices=Level.choices)
    parent = serializers.CharField(max_length=12, required=False, allow_null=True, allow_blank=True,
                                   help_text=gettext_lazy("The parent's code; empty for a province."))


def jurisdiction_create(*, actor: User, code: str, name: str, level: str, parent: str | None = None,
                        request: HttpRequest | None = None) -> Jurisdiction:
    """The admin pages' service, given the parent as a code (unknown codes are a 400 on ``parent``)."""
    parent_obj = None
    if parent:
        parent_obj = Jurisdiction.objects.filter(code=parent).first()
        if parent_obj is None:
            raise DomainError(errors={"parent": [_("%(code)s is not a known jurisdiction code.") % {"code": parent}]})
    # Checks the actor's scope, then the model's full_clean() (digits per level, the parent's level and
    # prefix, uniqueness), and audits in its transaction. Its ValidationError answers 400 per field.
    return jurisdiction_add(actor=actor, code=code, name=name, level=level, parent=parent_obj, request=request)


class JurisdictionListCreate(JsonView):
    """The jurisdictions in the caller's subtree; administrators add new ones."""

    serializer_class = JurisdictionCreateSerializer

    @extend_schema(summary=gettext_lazy("List the jurisdictions in your subtree"), tags=["jurisdictions"],
                   parameters=[JurisdictionFilterSerializer],
                   responses={200: JurisdictionSerializer(many=True), 400: ERROR_RESPONSES[400],
                              401: ERROR_RESPONSES[401]})
    def get(self, request: Request) -> Response:
        filters = JurisdictionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        # DRF drops blank query values as "not given"; a blank filter is a client's mistake.
        blank = {k: [gettext_lazy("This filter may not be blank.")] for k in filters.fields
                 if k in request.query_params and not request.query_params[k].strip()}
        if blank:
            raise serializers.ValidationError(blank)
        jurisdictions = access.visible(request.user, Jurisdiction).order_by("code")
        if "level" in filters.validated_data:
            jurisdictions = jurisdictions.filter(level=filters.validated_data["level"])
        if "parent" in filters.validated_data:
            jurisdictions = jurisdictions.filter(parent_id=filters.validated_data["parent"])
        page = self.paginate_queryset(jurisdictions)
        return self.get_paginated_response(JurisdictionSerializer(page, many=True).data)

    @extend_schema(summary=gettext_lazy("Add a jurisdiction (administrators)"), tags=["jurisdictions"],
                   request=JurisdictionCreateSerializer, responses={201: JurisdictionSerializer, **ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        access.require(django_request(request), request.user, "manage_jurisdictions")
        given = JurisdictionCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        jurisdiction = jurisdiction_create(actor=request.user, request=django_request(request),
                                           **given.validated_data)
        return Response(JurisdictionSerializer(jurisdiction).data, status=status.HTTP_201_CREATED)


# --- users -------------------------------------------------------------------------------


class UserSerializer(serializers.Serializer):
    """A user account as the API shows it: never the password or its hash."""

    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    full_name = serializers.CharField(read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, read_only=True)
    role_label = serializers.CharField(source="get_role_display", read_only=True)
    jurisdiction = serializers.CharField(source="jurisdiction_id", read_only=True, allow_null=True, help_text=(
        gettext_lazy("Null: every jurisdiction (administrators only).")))
    jurisdiction_name = serializers.CharField(source="jurisdiction.name", read_only=True, allow_null=True)
    is_active = serializers.BooleanField(read_only=True)
    locked = serializers.SerializerMethodField()
    last_login = serializers.DateTimeField(read_only=True, allow_null=True)
    date_joined = serializers.DateTimeField(read_only=True)

    def get_locked(self, user: User) -> bool:
        return user.is_locked()


class UserCreateSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True,
                                     style={"input_type": "password"}, help_text=gettext_lazy(
                                         "Checked by the password policy (docs/security.md)."))
    full_name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=Role.choices)
    jurisdiction = serializers.CharField(max_length=12, allow_null=True, help_text=gettext_lazy(
        "A jurisdiction code inside yours. Null (every jurisdiction) only for an administrator created by "
        "an administrator over every jurisdiction."))


def user_create(*, actor: User, username: str, password: str, full_name: str, role: str,
                jurisdiction: str | None, request: HttpRequest | None = None) -> User:
    """The admin pages' service, given the jurisdiction as a code, after the password policy's check."""
    errors: dict[str, list[str]] = {}
    place = None
    if jurisdiction:
        place = Jurisdiction.objects.filter(code=jurisdiction).first()
        if place is None:
            errors["jurisdiction"] = [_("%(code)s is not a known jurisdiction code.") % {"code": jurisdiction}]
    try:
        # The similarity validator compares the password with the username and name given.
        password_validation.validate_password(password, User(username=username, full_name=full_name))
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise DomainError(errors=errors)
    # Checks the actor's scope, the role and the username (full_clean), and audits in its transaction.
    return user_add(actor=actor, username=username, full_name=full_name, role=role, jurisdiction=place,
                    password=password, request=request)


class UserListCreate(JsonView):
    """User accounts in the administrator's subtree."""

    serializer_class = UserCreateSerializer

    @extend_schema(summary=gettext_lazy("List the user accounts in your subtree (administrators)"), tags=["users"],
                   responses={200: UserSerializer(many=True), 401: ERROR_RESPONSES[401], 403: ERROR_RESPONSES[403]})
    def get(self, request: Request) -> Response:
        access.require(django_request(request), request.user, "manage_users")
        users = access.visible(request.user, User).select_related("jurisdiction").order_by("username")
        page = self.paginate_queryset(users)
        return self.get_paginated_response(UserSerializer(page, many=True).data)

    @extend_schema(summary=gettext_lazy("Create a user account (administrators)"), tags=["users"],
                   request=UserCreateSerializer, responses={201: UserSerializer, **ERROR_RESPONSES})
    def post(self, request: Request) -> Response:
        access.require(django_request(request), request.user, "manage_users")
        given = UserCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        user = user_create(actor=request.user, request=django_request(request), **given.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("auth/reauth/", ReauthView.as_view(), name="api-reauth"),
    path("jurisdictions/", JurisdictionListCreate.as_view(), name="api-jurisdictions"),
    path("users/", UserListCreate.as_view(), name="api-users"),
]
