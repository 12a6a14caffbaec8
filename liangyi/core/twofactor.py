"""The second factor: TOTP (RFC 6238) from an authenticator app, and single-use recovery codes.

Policy: every role that sees a field group of persons, or administers accounts, security or the
audit log, must enrol (``required_for``) when ``settings.TWO_FACTOR_REQUIRED`` is on (always in
production). An account that has enrolled always answers the second step, whatever the setting.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time

import pyotp
import segno
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import access, audit, crypto
from liangyi.core.errors import DomainError
from liangyi.core.models import Outcome, RecoveryCode, SecondFactor, User

ISSUER = "liangyi"
STEP_SECONDS = 30
# One step either side: a phone clock a little off still works (RFC 6238 section 5.2).
DRIFT_STEPS = 1
RECOVERY_CODES = 10
# Actions that administer the system: their holders enrol even without seeing persons.
PRIVILEGED_ACTIONS = ("manage_users", "manage_jurisdictions", "manage_security", "view_audit")


def required_for(user: User) -> bool:
    """Whether the policy makes this account enrol: it sees personal data or administers."""
    if not settings.TWO_FACTOR_REQUIRED:
        return False
    role = access.matrix()["roles"].get(user.role, {"groups": [], "actions": []})
    return bool(role["groups"]) or any(a in role["actions"] for a in PRIVILEGED_ACTIONS)


def confirmed(user: User) -> SecondFactor | None:
    return SecondFactor.objects.filter(user=user, confirmed_at__isnull=False).first()


def needed_at_login(user: User) -> bool:
    """The login is not finished after the password: a code (or enrolment) must follow."""
    return confirmed(user) is not None or required_for(user)


def pending_factor(user: User) -> SecondFactor:
    """The unconfirmed factor being enrolled, created with a fresh secret when there is none."""
    factor = SecondFactor.objects.filter(user=user).first()
    if factor is not None and factor.confirmed_at is None:
        return factor
    if factor is not None:
        raise ValueError("the account already has a confirmed second factor")
    return SecondFactor.objects.create(user=user, secret=pyotp.random_base32())


def provisioning_uri(factor: SecondFactor) -> str:
    return pyotp.TOTP(factor.secret).provisioning_uri(name=factor.user.username, issuer_name=ISSUER)


def qr_data_uri(factor: SecondFactor) -> str:
    """The otpauth:// URI as an SVG QR code in a data: URI (allowed by the CSP's img-src)."""
    svg = segno.make(provisioning_uri(factor), error="m").svg_inline(scale=5, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def _matching_step(secret: str, code: str, after: int | None, now: float | None = None) -> int | None:
    """The time step whose code matches, newer than ``after`` (a used step never works again)."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _recovery_hash(code: str) -> str:
    return crypto.lookup_hash("recovery:" + "".join(code.split()).lower().replace("-", ""))


def _new_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = []
    for _n in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 40 bits each; ten of them, each used once
        codes.append(f"{raw[:5]}-{raw[5:]}")
    RecoveryCode.objects.bulk_create([RecoveryCode(user=user, code_hash=_recovery_hash(c)) for c in codes])
    return codes


@transaction.atomic
def enrol_confirm(*, user: User, code: str, request: HttpRequest | None = None) -> list[str] | None:
    """Confirm the pending factor with a code from the app; returns the new recovery codes
    (shown once), or None when the code is wrong."""
    factor = SecondFactor.objects.select_for_update().filter(user=user, confirmed_at__isnull=True).first()
    if factor is None:
        return None
    step = _matching_step(factor.secret, code, None)
    if step is None:
        audit.record(user, "two_factor.enrol_failed", user, request=request, outcome=Outcome.FAILED)
        return None
    factor.confirmed_at = factor.last_used_at = timezone.now()
    factor.last_step = step
    factor.save(update_fields=["confirmed_at", "last_used_at", "last_step"])
    codes = _new_recovery_codes(user)
    audit.record(user, "two_factor.enrolled", user, request=request)
    return codes


@transaction.atomic
def verify(*, user: User, code: str) -> str:
    """Check a TOTP code or an unused recovery code. Returns "totp", "recovery" or "" (refused).

    The caller counts refusals towards the lockout and audits them (auth.second_factor_attempt).
    """
    factor = SecondFactor.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
    if factor is None:
        return ""
    step = _matching_step(factor.secret, code, factor.last_step)
    if step is not None:
        factor.last_step = step
        factor.last_used_at = timezone.now()
        factor.save(update_fields=["last_step", "last_used_at"])
        return "totp"
    used = (RecoveryCode.objects.select_for_update()
            .filter(user=user, used_at=None, code_hash=_recovery_hash(code)).update(used_at=timezone.now()))
    return "recovery" if used else ""


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at=None).count()


@transaction.atomic
def recovery_codes_renew(*, user: User, request: HttpRequest | None = None) -> list[str]:
    """New recovery codes for the user's own factor (shown once); the old ones stop working."""
    if confirmed(user) is None:
        raise DomainError(_("Set up your authenticator app first: recovery codes come with it."))
    left = recovery_codes_left(user)
    codes = _new_recovery_codes(user)
    audit.record(user, "two_factor.recovery_codes_renewed", user, request=request, replaced_unused=left)
    return codes
