from __future__ import annotations

from django.conf import settings

from liangyi.core import access


def liangyi(request):
    user = getattr(request, "user", None)
    return {
        "DEMO_MODE": settings.DEMO_MODE,
        "can": {a: access.has_action(user, a) for a in access.actions()} if user and user.is_authenticated else {},
    }
