"""Login (password, then the second factor), logout, the home page and the health check."""

from __future__ import annotations

import time

from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from liangyi.core import access, audit, ratelimit, twofactor
from liangyi.core.auth import login_attempt, login_succeeded, second_factor_attempt
from liangyi.core.models import User
from liangyi.core.views_account import rate_limited


def healthz(request: HttpRequest) -> JsonResponse:
    """200 with the database's state; no login. 503 when the database does not answer."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        state, code = "ok", 200
    except Exception as exc:  # report, don't crash: this is what monitoring reads
        state, code = f"error: {exc.__class__.__name__}", 503
    return JsonResponse({"status": "ok" if code == 200 else "error", "database": state,
                         "vendor": connection.vendor}, status=code)


# The password step leaves this in the session; the user is not logged in until the second step.
PENDING_KEY = "liangyi_login_pending"
PENDING_SECONDS = 5 * 60  # time to type the code after the password: then the password again


def _safe_next(request: HttpRequest, next_url: str) -> str:
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        return ""
    return next_url


def pending_user(request: HttpRequest) -> User | None:
    """The account whose password was just accepted, while its second step is outstanding."""
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None
    return User.objects.filter(pk=pending["user"], is_active=True).first()


def finish_login(request: HttpRequest, user: User) -> HttpResponse:
    next_url = _safe_next(request, (request.session.pop(PENDING_KEY, None) or {}).get("next", ""))
    login(request, user, backend="liangyi.core.auth.LockoutModelBackend")
    return redirect(next_url or "core:home")


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    error = ""
    username = ""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        refusal = ratelimit.attempt(request, "login")
        if refusal is not None:
            return rate_limited(request, "core/login.html", {"username": username, "next": next_url}, refusal)
        result = login_attempt(request, username, request.POST.get("password", ""), channel="web")
        if result.user is not None:
            ratelimit.succeeded(request, "login")
        if result.user is not None and result.second_factor:
            request.session.cycle_key()
            request.session[PENDING_KEY] = {"user": result.user.pk, "at": time.time(),
                                            "next": _safe_next(request, next_url)}
            return redirect("core:login_code" if twofactor.confirmed(result.user) else "core:two_factor")
        if result.user is not None:
            login(request, result.user, backend="liangyi.core.auth.LockoutModelBackend")
            return redirect(_safe_next(request, next_url) or "core:home")
        error = result.error
    return render(request, "core/login.html", {"error": error, "username": username, "next": next_url},
                  status=400 if error else 200)


@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step of the login: a code from the authenticator app, or a recovery code."""
    user = pending_user(request)
    if user is None:
        return redirect("core:login")
    error = ""
    if request.method == "POST":
        refusal = ratelimit.attempt(request, "login")
        if refusal is not None:
            return rate_limited(request, "core/login_code.html", {}, refusal)
        result = second_factor_attempt(request, user, request.POST.get("code", ""), channel="web")
        if result.user is not None:
            ratelimit.succeeded(request, "login")
            return finish_login(request, result.user)
        error = result.error
        if user.__class__.objects.filter(pk=user.pk, locked_until__gt=timezone.now()).exists():
            request.session.pop(PENDING_KEY, None)  # locked: start again from the password
    return render(request, "core/login_code.html", {"error": error}, status=400 if error else 200)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit.record(request.user, "logout", None, request=request)
    logout(request)
    return redirect("core:login")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The start page: the worklist for staff who work with persons; the audit log for auditors."""
    if access.has_action(request.user, "view_persons"):
        return redirect("obligations:worklist")
    if access.has_action(request.user, "view_audit"):
        return redirect("core:audit")
    if access.has_action(request.user, "manage_users") or access.has_action(request.user, "manage_security"):
        return redirect("core:users")
    return render(request, "core/nothing.html")


@never_cache  # the page shows the secret key and the recovery codes
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: scan the QR code (or type the key), confirm with a code.

    Reached after the password when the policy requires a second factor and none is enrolled
    (the login finishes with the confirmation), or by a logged-in user at any time.
    """
    logged_in = request.user.is_authenticated
    user = request.user if logged_in else pending_user(request)
    if user is None:
        return redirect("core:login")
    if twofactor.confirmed(user) is not None:
        if not logged_in:
            return redirect("core:login_code")
        return render(request, "core/two_factor.html", {
            "enrolled": twofactor.confirmed(user), "codes_left": twofactor.recovery_codes_left(user)})
    factor = twofactor.pending_factor(user)
    error = ""
    if request.method == "POST":
        codes = twofactor.enrol_confirm(user=user, code=request.POST.get("code", ""), request=request)
        if codes is not None:
            next_url = ""
            if not logged_in:
                login_succeeded(request, user, channel="web", factor="enrolment")
                response = finish_login(request, user)
                next_url = response["Location"]
            return render(request, "core/two_factor_codes.html", {"codes": codes, "next": next_url or "/"})
        error = _("That code is not right. Check the time on your phone and type the 6 digits the app "
                  "shows now.")
    return render(request, "core/two_factor.html", {
        "factor": factor, "qr": twofactor.qr_data_uri(factor), "secret": factor.secret,
        "required": twofactor.required_for(user), "pending": not logged_in, "error": error,
    }, status=400 if error else 200)
