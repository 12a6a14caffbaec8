"""Jurisdictions, users and roles, API tokens, and the append-only audit log."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from liangyi.core.fields import EncryptedTextField


class Level(models.TextChoices):
    PROVINCE = "province", _("Province")
    CITY = "city", _("City")
    COUNTY = "county", _("County / district")
    TOWNSHIP = "township", _("Township / street")
    VILLAGE = "village", _("Village / community")


# National statistical division codes nest by prefix: a child's code starts with its parent's.
CODE_LENGTH = {Level.PROVINCE: 2, Level.CITY: 4, Level.COUNTY: 6, Level.TOWNSHIP: 9, Level.VILLAGE: 12}
PARENT_LEVEL = {
    Level.CITY: Level.PROVINCE,
    Level.COUNTY: Level.CITY,
    Level.TOWNSHIP: Level.COUNTY,
    Level.VILLAGE: Level.TOWNSHIP,
}


class Jurisdiction(models.Model):
    """A division of the tree province → city → county → township → village.

    The code is the primary key: because codes nest by prefix, "in the subtree of X" is
    ``code LIKE 'X%'`` on any foreign-key column, with no join and no recursive query.
    """

    code = models.CharField(_("code"), max_length=12, primary_key=True)
    name = models.CharField(pgettext_lazy("place", "name"), max_length=100)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("jurisdiction")
        verbose_name_plural = _("jurisdictions")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        if self.level not in Level.values:
            return  # the field's own check reports it
        expected = CODE_LENGTH[Level(self.level)]
        if not self.code.isdigit() or len(self.code) != expected:
            raise ValidationError({"code": _("A %(level)s code has %(n)d digits.") % {
                "level": Level(self.level).label, "n": expected}})
        if self.level == Level.PROVINCE:
            if self.parent_id:
                raise ValidationError({"parent": _("A province has no parent.")})
            return
        if not self.parent_id:
            raise ValidationError({"parent": _("Every jurisdiction below a province needs a parent.")})
        parent = self.parent
        if parent.level != PARENT_LEVEL[Level(self.level)]:
            raise ValidationError({"parent": _("The parent of a %(level)s must be a %(parent)s.") % {
                "level": Level(self.level).label, "parent": PARENT_LEVEL[Level(self.level)].label}})
        if not self.code.startswith(parent.code):
            raise ValidationError({"code": _("The code must start with the parent's code %(code)s.") % {
                "code": parent.code}})

    def contains(self, code: str | None) -> bool:
        return bool(code) and code.startswith(self.code)  # type: ignore[union-attr]

    def ancestors(self) -> list[Jurisdiction]:
        """From the province down to this one (inclusive)."""
        codes = [self.code[:n] for n in sorted(set(CODE_LENGTH.values())) if n <= len(self.code)]
        by_code = {j.code: j for j in Jurisdiction.objects.filter(code__in=codes)}
        return [by_code[c] for c in codes if c in by_code]


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    LEADER = "leader", _("Narcotics-control office leader")
    FACILITY = "facility", _("Facility officer")
    COMMUNITY_WORKER = "community_worker", _("Community rehab worker")
    SOCIAL_WORKER = "social_worker", _("Drug-control social worker")
    POLICE = "police", _("Police officer")
    HEALTH = "health", _("Health worker")
    HR = "hr", _("Human resources & social security officer")
    CIVIL_AFFAIRS = "civil_affairs", _("Civil-affairs officer")
    EDUCATION = "education", _("Education officer / volunteer")
    AUDITOR = "auditor", _("Auditor")
    SECURITY_ADMIN = "security_admin", _("Security administrator")


class User(AbstractUser):
    """A member of staff: one role, one jurisdiction (the root of what they may see)."""

    full_name = models.CharField(_("full name"), max_length=100, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.COMMUNITY_WORKER)
    jurisdiction = models.ForeignKey(
        Jurisdiction, verbose_name=_("jurisdiction"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="users", help_text=_("Empty means every jurisdiction (administrators only)."),
    )
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    # Part of the session hash: raising it ends every session of the account (auth.sessions_end).
    sessions_version = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.full_name or self.username

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    @property
    def scope_code(self) -> str:
        """The prefix of every jurisdiction code this user may see ('' = all)."""
        return self.jurisdiction_id or ""

    def is_locked(self, now=None) -> bool:
        return bool(self.locked_until and self.locked_until > (now or timezone.now()))

    def _get_session_auth_hash(self, secret=None) -> str:
        # Django's hash covers the password; ours also covers sessions_version, so an
        # administrator can end every session of an account without touching its password.
        from django.utils.crypto import salted_hmac

        return salted_hmac("liangyi.core.User.session_auth_hash", f"{self.password}:{self.sessions_version}",
                           secret=secret, algorithm="sha256").hexdigest()


class SecondFactor(models.Model):
    """A user's TOTP authenticator (RFC 6238). The secret is encrypted at rest; a code's time
    step is remembered so that the same code cannot be used twice."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="second_factor")
    secret = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_step = models.BigIntegerField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"TOTP of {self.user.username}"


class RecoveryCode(models.Model):
    """A single-use code for when the authenticator is lost; only a keyed hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)


class ApiToken(models.Model):
    """A bearer token for the REST API. Only a hash is stored; tokens expire and can be revoked."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # When the holder last proved who they are (password and code): the issue, or POST auth/reauth/.
    # A reveal or an export through this token needs it to be recent (core/reauth.py).
    proved_at = models.DateTimeField(null=True, blank=True)

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, hours: int) -> tuple[ApiToken, str]:
        key = secrets.token_urlsafe(32)
        now = timezone.now()
        token = cls.objects.create(user=user, key_hash=cls.hash(key), expires_at=now + timedelta(hours=hours),
                                   proved_at=now)
        return token, key

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class UserSession(models.Model):
    """A web session of a user, so that they can see where they are logged in and end the others.

    The session key is what ends it (the session store's row is deleted), so it is kept encrypted,
    like the TOTP secrets; the user sees only the device, the address and the times.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="web_sessions")
    session_key = EncryptedTextField()
    user_agent = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [models.Index(fields=["user", "ended_at"])]

    def __str__(self) -> str:
        return f"session of {self.user_id} from {self.ip} since {self.created_at:%Y-%m-%d %H:%M}"


class Outcome(models.TextChoices):
    OK = "ok", _("succeeded")
    DENIED = "denied", _("denied")
    FAILED = "failed", _("failed")


class AppendOnly(Exception):
    pass


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnly("the audit log is append-only")

    def delete(self):
        raise AppendOnly("the audit log is append-only")


class AuditEntry(models.Model):
    """One line of the append-only, hash-chained audit log.

    ``entry_hash`` = SHA-256 over the previous entry's hash and this entry's content, so an
    edited or deleted entry breaks the chain from that point (``manage.py audit_verify``).
    The application refuses to update or delete entries; in production the database role is
    also granted only INSERT and SELECT on this table (docs/deploy.md).
    """

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False)
    actor_username = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=20, blank=True)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    person_id = models.UUIDField(null=True, blank=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnly("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("the audit log is append-only")



class AuditHead(models.Model):
    """A single row holding the last hash; locking it serialises appends to the chain."""

    last_hash = models.CharField(max_length=64)
    count = models.BigIntegerField(default=0)


class GlassCategory(models.TextChoices):
    EMERGENCY = "emergency", _("Emergency")
    CASE = "case", _("Case handling")
    TRANSFER = "transfer", _("Transfer or hand-over")


class AccessGrantQuerySet(models.QuerySet):
    def active(self, now=None):
        """Grants in force now: started, not ended, not revoked (checked at every request, no job)."""
        now = now or timezone.now()
        return self.filter(starts_at__lte=now, ends_at__gt=now, revoked_at__isnull=True)


class AccessGrant(models.Model):
    """Break-the-glass: one user may read one person outside their jurisdiction for a few hours,
    having stated why. ``person_id`` names a people.Person (core lies below people, like the audit
    log's ``person_id``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="access_grants")
    person_id = models.UUIDField(db_index=True)
    category = models.CharField(_("category"), max_length=20, choices=GlassCategory.choices)
    reason = models.TextField(_("reason"))
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = AccessGrantQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["user", "person_id", "ends_at"])]
        verbose_name = _("break-the-glass grant")
        verbose_name_plural = _("break-the-glass grants")

    def __str__(self) -> str:
        return f"{self.user} → {self.person_id} until {self.ends_at:%Y-%m-%d %H:%M}"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.starts_at <= now < self.ends_at
