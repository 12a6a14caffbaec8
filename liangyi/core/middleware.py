"""The interface language; pages with personal data kept by no cache; the session's last use."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.cache import add_never_cache_headers


class LanguageMiddleware:
    """Chinese first: the interface is zh-Hans unless the user chose another language.

    Django's LocaleMiddleware would follow the browser's Accept-Language; office PCs and
    test browsers often send English, and the product's default is Chinese. The choice made
    with the language switch (Django's set_language view) is kept in its cookie.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.available = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.available else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        return response


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            add_never_cache_headers(response)
            response["Cache-Control"] = "no-store, private"
        return response


class SessionSeenMiddleware:
    """Keeps "last seen" of the user's session for the My account page (core/sessions.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            from liangyi.core import sessions

            sessions.seen(request)
        return self.get_response(request)
