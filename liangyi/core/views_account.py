"""The user's own account: confirming who they are (re-authentication), the second factor's state,
new recovery codes, and their web sessions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from liangyi.core import ratelimit, reauth, sessions, twofactor
from liangyi.core.auth import reauth_attempt
from liangyi.core.errors import DomainError
from liangyi.core.forms import ReauthForm, SessionEndForm


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
    """My account: the second factor's state, recovery codes, and the user's sessions."""
    user = request.user
    return render(request, "core/account.html", {
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
