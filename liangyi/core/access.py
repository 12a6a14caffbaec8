"""The access policy, decided in one place.

``visible(user, Model)`` is the queryset a user may see (jurisdiction subtree x role);
``get_or_404`` fetches through it, so a record out of reach is a 404 exactly like one that does
not exist; ``can`` and ``sees`` answer for actions and field groups from ``access_matrix.toml``.
``read_or_404`` is the one door for reading a person's file outside the user's reach: a
break-the-glass grant in force (``grant_for``), which opens that file read only, nothing else.
Apps register how each model is placed in the jurisdiction tree (``register_scope``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest

from liangyi.core import audit
from liangyi.core.models import AccessGrant, Jurisdiction, Outcome, Role, User

MATRIX_PATH = Path(__file__).with_name("access_matrix.toml")

# model -> (queryset, scope prefix) -> queryset restricted to that subtree
_scopes: dict[type[Model], Callable[[QuerySet, str], QuerySet]] = {}
# model -> the action a role needs to see any of it
_gates: dict[type[Model], str] = {}


@cache
def matrix() -> dict[str, Any]:
    with MATRIX_PATH.open("rb") as fh:
        data = tomllib.load(fh)
    for role in Role.values:
        if role not in data["roles"]:
            raise ValueError(f"access_matrix.toml has no entry for role {role!r}")
    for name, entry in data["roles"].items():
        unknown = (set(entry["groups"]) - set(data["field_groups"])) | (set(entry["actions"]) - set(data["actions"]))
        if unknown:
            raise ValueError(f"access_matrix.toml: role {name!r} names unknown groups/actions {sorted(unknown)}")
    return data


def field_groups() -> list[str]:
    return list(matrix()["field_groups"])


def actions() -> list[str]:
    return list(matrix()["actions"])


def _role(user: User | None) -> dict[str, list[str]] | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return matrix()["roles"].get(user.role)


def sees(user: User | None, group: str) -> bool:
    """Whether the user's role may see a field group of a person in reach."""
    if group not in matrix()["field_groups"]:
        raise ValueError(f"unknown field group {group!r}")
    role = _role(user)
    return bool(role) and group in role["groups"]  # type: ignore[index]


def has_action(user: User | None, action: str) -> bool:
    if action not in matrix()["actions"]:
        raise ValueError(f"unknown action {action!r}")
    role = _role(user)
    return bool(role) and action in role["actions"]  # type: ignore[index]


def in_reach(user: User, jurisdiction_code: str | None) -> bool:
    scope = user.scope_code
    return scope == "" or bool(jurisdiction_code and jurisdiction_code.startswith(scope))


def register_scope(model: type[Model], scope: Callable[[QuerySet, str], QuerySet], *, gate: str) -> None:
    """Declare how ``model`` lies in the tree, and which action a role needs to see it at all."""
    _scopes[model] = scope
    _gates[model] = gate


def visible(user: User | None, model: type[Model]) -> QuerySet:
    qs = model._default_manager.all()
    if user is None or not user.is_authenticated or not user.is_active:
        return qs.none()
    if model is Jurisdiction:
        return qs.filter(code__startswith=user.scope_code) if user.scope_code else qs
    if model not in _scopes:
        raise LookupError(f"{model.__name__} has no access scope registered")
    if not has_action(user, _gates[model]):
        return qs.none()
    return _scopes[model](qs, user.scope_code) if user.scope_code else qs


def get_or_404(request_or_user: HttpRequest | User, model: type[Model], **lookup: Any) -> Any:
    """Fetch one record through ``visible``; out of reach is 404, and the attempt is audited."""
    request = request_or_user if isinstance(request_or_user, HttpRequest) else None
    user = request.user if request is not None else request_or_user
    try:
        return visible(user, model).get(**lookup)  # type: ignore[arg-type]
    except (model.DoesNotExist, ValueError, ValidationError):  # type: ignore[attr-defined]
        pass
    try:
        exists = model._default_manager.filter(**lookup).exists()
    except (ValueError, ValidationError):  # a malformed id is simply "not found"
        exists = False
    if exists:
        audit.record(user, "access.denied", None, request=request, outcome=Outcome.DENIED,  # type: ignore[arg-type]
                     model=model._meta.label_lower, lookup={k: str(v) for k, v in lookup.items()})
    raise Http404


# Break-the-glass (docs/security.md): the one model a grant opens, named by label because core lies
# below people.
GLASS_MODEL = "people.person"


def grant_for(user: User | None, person_id: Any) -> AccessGrant | None:
    """The user's break-the-glass grant on this person in force now, if any (checked at every
    request: an expired or revoked grant, or a role that lost ``break_glass``, opens nothing)."""
    if person_id is None or not has_action(user, "break_glass"):
        return None
    return (AccessGrant.objects.active().filter(user=user, person_id=person_id)  # type: ignore[misc]
            .order_by("-ends_at").first())


def read_or_404(request_or_user: HttpRequest | User, model: type[Model], **lookup: Any) -> tuple[Any, Any]:
    """Fetch one record for reading: in reach, or else (a person only) under the user's
    break-the-glass grant. Returns ``(record, grant or None)``; anything else is ``get_or_404``'s
    404, audited the same way. Writes never come here: they use ``get_or_404``."""
    user = request_or_user.user if isinstance(request_or_user, HttpRequest) else request_or_user
    try:
        return visible(user, model).get(**lookup), None  # type: ignore[arg-type]
    except (model.DoesNotExist, ValueError, ValidationError):  # type: ignore[attr-defined]
        pass
    if model._meta.label_lower == GLASS_MODEL:
        try:
            obj = model._default_manager.get(**lookup)
        except (model.DoesNotExist, ValueError, ValidationError):  # type: ignore[attr-defined]
            obj = None
        grant = grant_for(user, obj.pk) if obj is not None else None  # type: ignore[arg-type]
        if grant is not None:
            return obj, grant
    return get_or_404(request_or_user, model, **lookup), None


def may_read(user: User | None, obj: Any) -> bool:
    """The record is in the user's reach to read: visible, or a person under a grant in force."""
    if visible(user, type(obj)).filter(pk=obj.pk).exists():
        return True
    return obj._meta.label_lower == GLASS_MODEL and grant_for(user, obj.pk) is not None


def can(user: User | None, action: str, obj: Any = None) -> bool:
    """The role allows ``action``, and ``obj`` (when given) is in the user's reach."""
    if not has_action(user, action):
        return False
    if obj is None:
        return True
    return visible(user, type(obj)).filter(pk=obj.pk).exists()


def require(request: HttpRequest | None, user: User, action: str, obj: Any = None) -> None:
    """Raise PermissionDenied (403) for a forbidden action, after auditing the refusal."""
    if not can(user, action, obj):
        audit.record(user, "access.denied", obj, request=request, outcome=Outcome.DENIED, action_name=action)
        raise PermissionDenied
