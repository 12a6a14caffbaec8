"""The user's own account: confirming who they are (re-authentication), the second factor's state,
new recovery codes, their web sessions, and changing their password."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from liangyi.core import audit, ratelimit, reauth, sessions, twofactor
from liangyi.core.auth import (
    ReauthResult,
    credentials_revoke,
    failure_count,
    login_refused_message,
    reauth_attempt,
    reauth_refused_message,
)
from liangyi.core.errors import DomainError
from liangyi.core.forms import PasswordChangeForm, ReauthForm, SessionEndForm
from liangyi.core.models import AuditEntry, Outcome, User


def rate_limited(request: HttpRequest, template: str, context: dict, refusal: ratelimit.Refusal) -> HttpResponse:
    """The page again with the refusal, 429 and Retry-After."""
    response = render(request, template, {**context, "error": refusal.message}, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def reauth_confirm(request: HttpRequest) -> HttpResponse:
    """"Confirm it is you": the password (and the code) again, then back to ``next``."""
    next_url = reauth.safe_next(request, request.GET.get("next", ""))
    if request.method == "GET" and next_url and reauth.session_proved_recently(request):
        return redirect(next_url)  # e.g. sent here, then through the login page, which is a proof
    with_code = twofactor.confirmed(request.user) is not None
    form = ReauthForm(request.POST if request.method == "POST" else None, with_code=with_code,
                      initial={"next": next_url})
    context = {"form": form, "with_code": with_code, "minutes": settings.REAUTH_MINUTES}
    if request.method == "POST" and form.is_valid():
        refusal = ratelimit.attempt(request, "reauth")
        if refusal is not None:
            return rate_limited(request, "core/reauth.html", context, refusal)
        data = form.cleaned_data
        result = reauth_attempt(request, request.user, data["password"], data.get("code", ""), channel="web")
        if result.ok:
            ratelimit.succeeded(request, "reauth")
            reauth.prove_session(request)
            return redirect(reauth.safe_next(request, data.get("next", "")) or "core:account")
        if result.locked:
            # Someone at an open session who does not know the password: the session ends with the lockout.
            logout(request)
            messages.error(request, result.error)
            return redirect("core:login")
        form.add_error(None, result.error)
    return render(request, "core/reauth.html", context, status=400 if form.errors else 200)


@never_cache
@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    """My account: the password, the second factor's state, recovery codes, and the user's sessions."""
    user = request.user
    return render(request, "core/account.html", {
        "set_by_administrator": password_set_by_administrator(user),
        "factor": twofactor.confirmed(user),
        "codes_left": twofactor.recovery_codes_left(user),
        "factor_required": twofactor.required_for(user),
        "sessions": sessions.sessions_of(request),
        "proved": reauth.session_proved_recently(request),
        "reauth_minutes": settings.REAUTH_MINUTES,
    })


@never_cache  # the page shows the codes
@login_required
@require_POST
@reauth.required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes, shown once; the old ones stop working."""
    try:
        codes = twofactor.recovery_codes_renew(user=request.user, request=request)
    except DomainError as exc:
        messages.error(request, str(exc))
        return redirect("core:account")
    return render(request, "core/two_factor_codes.html", {"codes": codes, "renewed": True,
                                                          "next": reverse("core:account")})


@login_required
@require_POST
@reauth.required  # ASVS 7.5.2: someone holding a stolen session must not throw the owner out
def session_end(request: HttpRequest) -> HttpResponse:
    """End one of the user's other sessions."""
    form = SessionEndForm(request.POST)
    if not form.is_valid():
        raise Http404
    row = sessions.session_end(request=request, session_id=str(form.cleaned_data["session"]))
    messages.success(request, _("The session from %(address)s has ended.") % {"address": row.ip or "—"})
    return redirect("core:account")


@login_required
@require_POST
@reauth.required
def sessions_end_others(request: HttpRequest) -> HttpResponse:
    ended = sessions.sessions_end_others(request=request)
    messages.success(request, _("Your other sessions have ended (%(n)d).") % {"n": ended})
    return redirect("core:account")


def password_set_by_administrator(user: User) -> AuditEntry | None:
    """The audit entry of the administrator who created the account in the application, when the
    user has not changed the password since: the password is one someone else has known.
    (``createsuperuser`` records no actor: whoever ran it typed the password for themselves.)"""
    last = (AuditEntry.objects.filter(object_type=User._meta.label_lower, object_id=str(user.pk),
                                      action__in=("user.created", "password.changed"))
            .order_by("-id").only("action", "at", "actor_id").first())
    if last is None or last.action != "user.created" or last.actor_id in (None, user.pk):
        return None
    return last


def password_change(*, request: HttpRequest, user: User, current: str, new: str) -> ReauthResult:
    """Change the user's own password (ASVS 6.2.2, 6.2.3). The new one has passed the policy's
    validators (``PasswordChangeForm``). A wrong current password counts towards the lockout like a
    failed re-authentication; a right one sets the new password, ends the user's other web sessions
    and revokes their API tokens and calendar-feed key. Every outcome is audited."""
    user.refresh_from_db(fields=["failed_logins", "locked_until", "is_active", "password"])
    if not user.is_active or user.is_locked():
        audit.record(user, "password.change_failed", user, request=request, outcome=Outcome.DENIED, reason="locked")
        return ReauthResult(False, login_refused_message(), locked=True)
    if not user.check_password(current):
        with transaction.atomic():
            locked = failure_count(request, user, channel="web")
            audit.record(user, "password.change_failed", user, request=request, outcome=Outcome.FAILED,
                         reason="wrong_current_password")
        return ReauthResult(False, reauth_refused_message(False), locked=locked)
    with transaction.atomic():
        user.set_password(new)
        user.password_changed_at = timezone.now()
        user.failed_logins = 0
        user.save(update_fields=["password", "password_changed_at", "failed_logins"])
        # Its API tokens, and the calendar-feed URL (whoever copied it would keep reading the list).
        revoked, feeds = credentials_revoke(user)
        audit.record(user, "password.changed", user, request=request, tokens_revoked=revoked,
                     feed_keys_revoked=feeds)
        # The new password's session hash already refuses them at their next request; ending them
        # also takes them off the list and out of the session store.
        sessions.sessions_end_others(request=request, reason="password_changed")
    return ReauthResult(True)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    """Change password: the current one, the new one twice; this session stays, the others end."""
    form = PasswordChangeForm(request.POST if request.method == "POST" else None, user=request.user)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        # Checking the current password is a re-authentication: the same per-address counter.
        refusal = ratelimit.attempt(request, "reauth")
        if refusal is not None:
            return rate_limited(request, "core/account_password.html", context, refusal)
        data = form.cleaned_data
        result = password_change(request=request, user=request.user, current=data["current_password"],
                                 new=data["new_password1"])
        if result.ok:
            ratelimit.succeeded(request, "reauth")
            update_session_auth_hash(request, request.user)  # this session stays logged in (new key)
            sessions.rekeyed(request)
            messages.success(request, _("Your password has been changed. Your other sessions have ended and your "
                                        "API tokens were revoked: log in again there with the new password."))
            return redirect("core:account")
        if result.locked:
            logout(request)
            messages.error(request, result.error)
            return redirect("core:login")
        form.add_error("current_password", result.error)
    return render(request, "core/account_password.html", context, status=400 if form.errors else 200)
