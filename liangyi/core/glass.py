"""Break-the-glass: a user opens one person outside their jurisdiction, having stated why.

The grant lasts ``break_glass_hours`` (rule data), opens that person's file read only with the
field groups of the user's role, and is checked at every request (``access.grant_for``): it ends
by itself, no job needed. Opening, every read under it and revoking are audited; the auditor
lists every grant (people.views.glass_grants). See docs/security.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import access, audit, rules
from liangyi.core.errors import DomainError
from liangyi.core.models import AccessGrant, GlassCategory, Outcome, User


def hours() -> int:
    return int(rules.current().value("break_glass_hours"))


def reason_min_chars() -> int:
    return int(rules.current().value("break_glass_reason_min_chars"))


@transaction.atomic
def grant_open(*, user: User, person: Any, category: str, reason: str,
               request: HttpRequest | None = None) -> AccessGrant:
    """Open ``person`` (out of the user's reach) for ``break_glass_hours``; audited as glass.opened."""
    if not access.has_action(user, "break_glass"):
        audit.record(user, "access.denied", person, request=request, outcome=Outcome.DENIED, action_name="break_glass")
        raise PermissionDenied
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if category not in GlassCategory.values:
        errors["category"] = [_("Choose why you need the file.")]
    if len(reason) < reason_min_chars():
        errors["reason"] = [_("State the reason in at least %(n)d characters: who asked, for what, and the "
                              "case or event it concerns.") % {"n": reason_min_chars()}]
    if errors:
        raise DomainError(errors=errors)
    now = timezone.now()
    grant = AccessGrant.objects.create(user=user, person_id=person.pk, category=category, reason=reason,
                                       starts_at=now, ends_at=now + timedelta(hours=hours()))
    audit.record(user, "glass.opened", grant, request=request, person_id=person.pk, category=category,
                 reason=reason, ends_at=grant.ends_at.isoformat())
    return grant


def no_match(*, user: User, masked_number: str, category: str, reason: str,
             request: HttpRequest | None = None) -> None:
    """An ID number that matches no person: said plainly to the user, audited all the same."""
    audit.record(user, "glass.no_match", None, request=request, outcome=Outcome.FAILED,
                 id_number=masked_number, category=category, reason=reason)


@transaction.atomic
def grant_revoke(*, actor: User, grant: AccessGrant, request: HttpRequest | None = None) -> AccessGrant:
    """End a grant now (security administrator); audited as glass.revoked."""
    if not access.has_action(actor, "manage_security"):
        audit.record(actor, "access.denied", grant, request=request, outcome=Outcome.DENIED,
                     action_name="manage_security")
        raise PermissionDenied
    grant = AccessGrant.objects.select_for_update().get(pk=grant.pk)
    if grant.revoked_at is not None:
        raise DomainError(_("This grant was already revoked."))
    grant.revoked_at = timezone.now()
    grant.revoked_by = actor
    grant.save(update_fields=["revoked_at", "revoked_by"])
    audit.record(actor, "glass.revoked", grant, request=request, person_id=grant.person_id,
                 grant_user=grant.user.username, was_active=grant.ends_at > grant.revoked_at)
    return grant
