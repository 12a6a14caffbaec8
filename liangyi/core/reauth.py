"""Re-authentication before sensitive operations (ASVS 6.3.x / 7.5.x): revealing a masked value
and exporting a file ask that the user proved who they are within ``settings.REAUTH_MINUTES``.

What counts as a proof:
- **pages** (the session): the login itself (Django's ``user_logged_in``, see ``core.sessions``),
  or the password (and the code, for an account with a second factor) typed again on
  ``/account/confirm/``; the time is kept in the session;
- **the API** (a bearer token): the token's issue (it needed the password and code), or
  ``POST /api/v1/auth/reauth/`` with the password and code, which renews that one token's
  ``proved_at``. An API call made with a page's session uses the session's proof.

``required`` is the one decorator for views: without a recent proof, a page asks the user to
confirm (a redirect keeping ``next``), an htmx request gets a small fragment saying so with a
link, and an API request answers 403 ``{"reauth": [...]}``. ``check_api`` is the same test for
API code paths that reveal only on request (``?reveal=1``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from rest_framework import exceptions, status

from liangyi.core.models import ApiToken

PROOF_KEY = "liangyi_proved_at"


def window() -> timedelta:
    return timedelta(minutes=settings.REAUTH_MINUTES)


def prove_session(request: HttpRequest) -> None:
    """The user just proved who they are in this session (login or the confirm page)."""
    request.session[PROOF_KEY] = time.time()


def session_proved_recently(request: HttpRequest) -> bool:
    at = request.session.get(PROOF_KEY) if hasattr(request, "session") else None
    return isinstance(at, int | float) and 0 <= time.time() - at <= window().total_seconds()


def token_proved_recently(token: ApiToken) -> bool:
    return token.proved_at is not None and timezone.now() - token.proved_at <= window()


def proved_recently(request: Any) -> bool:
    """For a Django request (its session) or a DRF request (its token, or its session)."""
    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken):
        return token_proved_recently(token)
    return session_proved_recently(getattr(request, "_request", request))


class ReauthRequired(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "reauth_required"

    def __init__(self) -> None:
        super().__init__({"reauth": [api_message()]})


def api_message() -> str:
    return _("Confirm who you are first: POST your password (and the code of your authenticator app) to "
             "/api/v1/auth/reauth/ with this token, then repeat the request. A proof lasts %(minutes)d minutes.") % {
        "minutes": settings.REAUTH_MINUTES}


def check_api(request: Any) -> None:
    """In an API view: raise 403 ``{"reauth": [...]}`` unless the caller proved themselves recently."""
    if not proved_recently(request):
        raise ReauthRequired


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def safe_next(request: HttpRequest, url: str) -> str:
    """``url`` as a local path when it points to this site, else ''."""
    if not url or not url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return ""
    return _path_of(url)


def return_to(request: HttpRequest) -> str:
    """Where to come back after confirming: the page itself for a plain GET; for htmx (a fragment)
    and for a POST (a button) the page the user was on, since neither can be opened by a redirect."""
    htmx = getattr(request, "htmx", None)
    if request.method == "GET" and not htmx:
        return request.get_full_path()
    return (safe_next(request, (htmx.current_url or "") if htmx else "")
            or safe_next(request, request.headers.get("Referer", "")) or reverse("core:home"))


def confirm_url(request: HttpRequest) -> str:
    return reverse("core:reauth") + "?" + urlencode({"next": return_to(request)})


def ask(request: HttpRequest) -> HttpResponse:
    """The answer to a sensitive request without a recent proof."""
    if getattr(request, "htmx", False):
        # 200 so that htmx swaps the fragment in (it leaves 4xx answers out of the page).
        response = render(request, "core/_reauth_needed.html", {"confirm_url": confirm_url(request)})
        response["X-Reauth-Required"] = "1"
        return response
    return redirect(confirm_url(request))


def required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorate a page that reveals or exports: it runs only after a recent proof of identity.

    Put it under ``login_required`` (an anonymous visitor is sent to log in, which is a proof).
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not proved_recently(request):
            if hasattr(request, "_request"):  # a DRF view's method: the API's answer
                raise ReauthRequired
            return ask(request)
        return view(request, *args, **kwargs)

    wrapped.reauth_required = True  # type: ignore[attr-defined]
    return wrapped
