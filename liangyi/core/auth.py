"""Login with lockout, bearer tokens for the API, and the level-3 password profile."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from liangyi.core import audit, twofactor
from liangyi.core.models import ApiToken, Outcome, User


class LockoutModelBackend(ModelBackend):
    """Django's backend, but a locked account cannot log in even with the right password."""

    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and not user.is_locked()


@dataclass
class LoginResult:
    user: User | None
    error: str = ""
    # The password was right but the login is not finished: a second factor (or enrolment) follows.
    second_factor: bool = False


def login_refused_message() -> str:
    """One message for a wrong password, an unknown user and a locked account alike, so that the
    answer never tells an attacker whether a username exists (ASVS 6.3.8)."""
    return _("Wrong username or password, or the account is locked after repeated failed logins: "
             "try again in %(minutes)d minutes or ask an administrator.") % {"minutes": settings.LOGIN_LOCKOUT_MINUTES}


def login_attempt(request: HttpRequest | None, username: str, password: str, *, channel: str) -> LoginResult:
    """Check a username and password, counting failures and locking the account after too many.

    Used by the login page and the API token endpoint alike, so both lock out the same way.
    Every outcome is audited.
    """
    from django.contrib.auth import authenticate

    user = User.objects.filter(username=username).first()
    if user is not None and user.is_locked():
        audit.record(None, "login.locked", user, request=request, outcome=Outcome.DENIED, username=username,
                     channel=channel)
        return LoginResult(None, login_refused_message())
    authed = authenticate(request, username=username, password=password)
    if authed is None:
        with transaction.atomic():
            if user is not None:
                failure_count(request, user, channel=channel)
            audit.record(None, "login.failed", None, request=request, outcome=Outcome.FAILED,
                         username=username, channel=channel)
        return LoginResult(None, login_refused_message())
    if twofactor.needed_at_login(authed):
        # The failure counter is not reset yet: otherwise each right password would buy an
        # attacker more guesses at the code.
        audit.record(authed, "login.password_accepted", None, request=request, channel=channel)
        return LoginResult(authed, second_factor=True)
    login_succeeded(request, authed, channel=channel)
    return LoginResult(authed)


def failure_count(request: HttpRequest | None, user: User, *, channel: str) -> bool:
    """Count one failed proof (password, code or re-authentication) towards the account's lockout;
    True when this failure locked the account."""
    User.objects.filter(pk=user.pk).update(failed_logins=F("failed_logins") + 1)
    user.refresh_from_db(fields=["failed_logins"])
    if user.failed_logins < settings.LOGIN_MAX_FAILURES:
        return False
    user.locked_until = timezone.now() + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    user.failed_logins = 0
    user.save(update_fields=["locked_until", "failed_logins"])
    audit.record(None, "login.lockout", user, request=request, outcome=Outcome.DENIED,
                 username=user.username, channel=channel)
    return True


@dataclass
class ReauthResult:
    """How a user's proof of who they are went (a re-authentication, or the current password of a
    password change, which is one)."""

    ok: bool
    error: str = ""
    locked: bool = False  # this failure (or an earlier one) locked the account: end the session


def reauth_attempt(request: HttpRequest | None, user: User, password: str, code: str, *,
                   channel: str) -> ReauthResult:
    """A logged-in user proves again who they are: the password, and a code when they have a second
    factor. Failures count towards the login lockout; both outcomes are audited."""
    user.refresh_from_db(fields=["failed_logins", "locked_until", "is_active", "password"])
    if not user.is_active or user.is_locked():
        audit.record(user, "reauth.failed", user, request=request, outcome=Outcome.DENIED, channel=channel,
                     reason="locked")
        return ReauthResult(False, login_refused_message(), locked=True)
    has_factor = twofactor.confirmed(user) is not None
    # The code is checked only after a right password, so a wrong password does not use up a code.
    right = user.check_password(password) and (not has_factor or bool(twofactor.verify(user=user, code=code or "")))
    if not right:
        with transaction.atomic():
            locked = failure_count(request, user, channel=channel)
            audit.record(user, "reauth.failed", user, request=request, outcome=Outcome.FAILED, channel=channel,
                         with_code=has_factor)
        return ReauthResult(False, reauth_refused_message(has_factor), locked=locked)
    if user.failed_logins:
        user.failed_logins = 0
        user.save(update_fields=["failed_logins"])
    audit.record(user, "reauth.succeeded", user, request=request, channel=channel, with_code=has_factor)
    return ReauthResult(True)


def reauth_refused_message(has_factor: bool) -> str:
    if has_factor:
        return _("The password or the code is not right. After %(n)d failures in a row the account is locked "
                 "and you are logged out.") % {"n": settings.LOGIN_MAX_FAILURES}
    return _("The password is not right. After %(n)d failures in a row the account is locked and you are "
             "logged out.") % {"n": settings.LOGIN_MAX_FAILURES}


def login_succeeded(request: HttpRequest | None, user: User, *, channel: str, **detail) -> None:
    if user.failed_logins or user.locked_until:
        user.failed_logins = 0
        user.locked_until = None
        user.save(update_fields=["failed_logins", "locked_until"])
    audit.record(user, "login.succeeded", None, request=request, channel=channel, **detail)


def second_factor_attempt(request: HttpRequest | None, user: User, code: str, *, channel: str) -> LoginResult:
    """The second step: a TOTP code or a recovery code. A wrong code counts towards the same
    lockout as a wrong password and gets the same single refusal message."""
    user.refresh_from_db(fields=["failed_logins", "locked_until", "is_active"])
    if not user.is_active or user.is_locked():
        audit.record(None, "login.locked", user, request=request, outcome=Outcome.DENIED, username=user.username,
                     channel=channel, step="second_factor")
        return LoginResult(None, login_refused_message())
    factor = twofactor.verify(user=user, code=code or "")
    if not factor:
        with transaction.atomic():
            failure_count(request, user, channel=channel)
            audit.record(None, "login.failed", None, request=request, outcome=Outcome.FAILED,
                         username=user.username, channel=channel, step="second_factor")
        return LoginResult(None, login_refused_message())
    login_succeeded(request, user, channel=channel, factor=factor)
    return LoginResult(user)


# Sent when an account's ways in besides the password are withdrawn (its sessions ended by the
# security administrator, a second-factor reset, a password change, a deactivation): an app that
# issues its own key to the account (the calendar feed's URL, obligations) revokes it. Receivers
# take ``user`` and return how many keys they revoked.
credentials_revoked = Signal()


def credentials_revoke(user: User) -> tuple[int, int]:
    """Revoke the account's API tokens and every key other apps issued to it (the calendar feed);
    how many of each there were."""
    tokens = ApiToken.objects.filter(user=user, revoked_at=None).update(revoked_at=timezone.now())
    feeds = sum(int(count or 0) for _receiver, count in credentials_revoked.send(sender=User, user=user))
    return tokens, feeds


@transaction.atomic
def sessions_end(*, user: User, actor: User | None, request: HttpRequest | None = None, reason: str = "") -> None:
    """End every session of the account (its pages ask for a login at the next request), revoke its
    API tokens and its calendar-feed key."""
    User.objects.filter(pk=user.pk).update(sessions_version=F("sessions_version") + 1)
    user.refresh_from_db(fields=["sessions_version"])
    revoked, feeds = credentials_revoke(user)
    audit.record(actor, "user.sessions_ended", user, request=request, username_changed=user.username,
                 tokens_revoked=revoked, feed_keys_revoked=feeds, **({"reason": reason} if reason else {}))


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``; the token must exist, be unexpired and unrevoked."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the header as: Authorization: Bearer <token>."))
        key = header[1].decode("latin-1")
        token = ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash(key)).first()
        if token is None or not token.active or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The token is unknown, expired or revoked: ask for a new one."))
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class CompositionValidator:
    """Graded protection level 3 profile: at least three of lower, upper, digit, symbol."""

    classes = (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")

    def validate(self, password: str, user=None) -> None:
        if sum(bool(re.search(c, password)) for c in self.classes) < 3:
            raise ValidationError(self.get_help_text(), code="password_composition")

    def get_help_text(self) -> str:
        return _("Your password must mix at least three of: lower-case letters, upper-case letters, digits, symbols.")
