"""A user's own web sessions: recorded at login, listed on "My account", ended one by one.

Django keeps the sessions (the database session store); this module keeps, beside each, who it
belongs to, the device (user agent), the address, when it started and when it was last seen
(``UserSession``). Ending a session deletes it from the session store, so it is refused at its
next request, on whatever device it is.

Logging in is also a proof of identity for re-authentication (``core.reauth``). Both are tied to
Django's ``user_logged_in`` signal rather than to the login views, because every login goes
through Django's ``login()``: the two-step login, the enrolment, and the test client's
``force_login`` alike. The receivers are connected in ``CoreConfig.ready``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from liangyi.core import audit, reauth
from liangyi.core.models import User, UserSession

SESSION_ID_KEY = "liangyi_session_id"
SEEN_KEY = "liangyi_seen_at"
SEEN_EVERY_SECONDS = 60  # last seen is written at most once a minute per session
LISTED = 20


def _store(session_key: str | None = None):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def on_login(sender, request: HttpRequest, user: User, **kwargs) -> None:
    """Record the new session and count the login as a proof of identity."""
    if request is None or not hasattr(request, "session"):
        return
    reauth.prove_session(request)
    if request.session.session_key is None:
        request.session.save()
    row = UserSession.objects.create(
        user=user, session_key=request.session.session_key,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300], ip=audit.client_ip(request))
    request.session[SESSION_ID_KEY] = str(row.pk)
    request.session[SEEN_KEY] = time.time()


def on_logout(sender, request: HttpRequest, user: User | None, **kwargs) -> None:
    session_id = request.session.get(SESSION_ID_KEY) if request is not None and hasattr(request, "session") else None
    if session_id:
        UserSession.objects.filter(pk=session_id, ended_at=None).update(ended_at=timezone.now())


def seen(request: HttpRequest) -> None:
    """Note that the session is in use (at most once a minute: the session is saved anyway)."""
    session_id = request.session.get(SESSION_ID_KEY)
    now = time.time()
    if session_id and now - request.session.get(SEEN_KEY, 0) >= SEEN_EVERY_SECONDS:
        UserSession.objects.filter(pk=session_id, ended_at=None).update(last_seen_at=timezone.now())
        request.session[SEEN_KEY] = now


@dataclass
class Listed:
    session: UserSession
    current: bool


def _alive(row: UserSession, user: User) -> bool:
    """The session still exists in the store, unexpired, logged in as this user with the account's
    current session hash (an administrator's "end all sessions" changes it)."""
    data = _store(row.session_key).load()
    return (data.get("_auth_user_id") == str(user.pk)
            and constant_time_compare(data.get("_auth_user_hash", ""), user.get_session_auth_hash()))


def sessions_of(request: HttpRequest) -> list[Listed]:
    """The user's live sessions, this one first; sessions found dead are marked ended."""
    user = request.user
    current = request.session.get(SESSION_ID_KEY)
    rows = list(UserSession.objects.filter(user=user, ended_at=None).order_by("-last_seen_at")[:LISTED])
    listed, dead = [], []
    for row in rows:
        if str(row.pk) == current:
            listed.append(Listed(row, True))
        elif _alive(row, user):
            listed.append(Listed(row, False))
        else:
            dead.append(row.pk)
    if dead:
        UserSession.objects.filter(pk__in=dead).update(ended_at=timezone.now())
    return sorted(listed, key=lambda item: not item.current)


@transaction.atomic
def session_end(*, request: HttpRequest, session_id: str) -> UserSession:
    """End one of the user's other sessions (404 for an unknown one, another user's, or this one:
    logging out is the way to end this one)."""
    row = (UserSession.objects.select_for_update()
           .filter(pk=session_id, user=request.user, ended_at=None).first())
    if row is None or str(row.pk) == request.session.get(SESSION_ID_KEY):
        raise Http404
    _store().delete(row.session_key)
    row.ended_at = timezone.now()
    row.save(update_fields=["ended_at"])
    audit.record(request.user, "user.session_ended", request.user, request=request, session=str(row.pk),
                 session_ip=row.ip, by="self")
    return row


def rekeyed(request: HttpRequest) -> None:
    """This session got a new key (Django's ``update_session_auth_hash`` cycles it): the row keeps
    the new one, so that the session can still be listed and ended from another device."""
    session_id = request.session.get(SESSION_ID_KEY)
    if not session_id:
        return
    if request.session.session_key is None:
        request.session.save()
    row = UserSession.objects.filter(pk=session_id, user=request.user, ended_at=None).first()
    if row is not None:
        row.session_key = request.session.session_key
        row.save(update_fields=["session_key"])


@transaction.atomic
def sessions_end_others(*, request: HttpRequest, reason: str = "") -> int:
    """End every session of the user but this one."""
    others = UserSession.objects.select_for_update().filter(user=request.user, ended_at=None)
    if current := request.session.get(SESSION_ID_KEY):
        others = others.exclude(pk=current)
    rows = list(others)
    store = _store()
    for row in rows:
        store.delete(row.session_key)
    UserSession.objects.filter(pk__in=[r.pk for r in rows]).update(ended_at=timezone.now())
    audit.record(request.user, "user.sessions_ended_others", request.user, request=request, ended=len(rows),
                 by="self", **({"reason": reason} if reason else {}))
    return len(rows)
