"""Login, logout, the home page and the health check."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from liangyi.core import access, audit
from liangyi.core.auth import login_attempt


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


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    error = ""
    username = ""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        result = login_attempt(request, username, request.POST.get("password", ""), channel="web")
        if result.user is not None:
            login(request, result.user, backend="liangyi.core.auth.LockoutModelBackend")
            if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
                next_url = ""
            return redirect(next_url or "core:home")
        error = result.error
    return render(request, "core/login.html", {"error": error, "username": username, "next": next_url},
                  status=400 if error else 200)


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
    if access.has_action(request.user, "manage_users"):
        return redirect("core:users")
    return render(request, "core/nothing.html")
