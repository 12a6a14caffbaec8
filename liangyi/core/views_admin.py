"""Administration pages: jurisdictions, user accounts, and the audit-log search.

The writes behind these pages are the services at the top of this module (one transaction each,
audited inside it); the views parse a form, check the action through ``access``, call a service
and render. Everything is limited to the actor's jurisdiction subtree.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from liangyi.core import access, audit
from liangyi.core.auth import credentials_revoke, sessions_end
from liangyi.core.forms import AuditFilterForm, JurisdictionForm, UserActionForm, UserCreateForm
from liangyi.core.models import (
    CODE_LENGTH,
    AuditEntry,
    Jurisdiction,
    Outcome,
    RecoveryCode,
    Role,
    SecondFactor,
    User,
)

AUDIT_TZ = ZoneInfo("Asia/Shanghai")
AUDIT_PAGE_SIZE = 50
USER_PAGE_SIZE = 50
JURISDICTION_PAGE_SIZE = 200


# --- services ----------------------------------------------------------------------------------


def _require_action(actor: User, action: str) -> None:
    if not access.has_action(actor, action):
        raise PermissionDenied


def _require_reach(actor: User, user: User) -> None:
    if not access.visible(actor, User).filter(pk=user.pk).exists():
        raise PermissionDenied


def users_in_reach(actor: User) -> QuerySet[User]:
    """The accounts the actor administers: the system administrator's (manage_users) or the
    security administrator's (manage_security), both limited to the actor's subtree."""
    if access.has_action(actor, "manage_users"):
        return access.visible(actor, User)
    if access.has_action(actor, "manage_security"):
        qs = User.objects.all()
        return qs.filter(jurisdiction__code__startswith=actor.scope_code) if actor.scope_code else qs
    return User.objects.none()


@transaction.atomic
def second_factor_reset(*, actor: User, user: User, request: HttpRequest | None = None) -> User:
    """Remove the account's authenticator and recovery codes (a lost phone); the user sets up a
    new one at the next login. Its sessions end too, since the old phone may be in other hands."""
    _require_action(actor, "manage_security")
    if not users_in_reach(actor).filter(pk=user.pk).exists():
        raise PermissionDenied
    if user.pk == actor.pk:
        raise ValidationError(_("You cannot reset your own second factor: ask another security administrator."))
    removed = SecondFactor.objects.filter(user=user).delete()[0]
    RecoveryCode.objects.filter(user=user).delete()
    audit.record(actor, "user.second_factor_reset", user, request=request, username_changed=user.username,
                 had_factor=bool(removed))
    sessions_end(user=user, actor=actor, request=request, reason="second_factor_reset")
    return user


@transaction.atomic
def user_sessions_end(*, actor: User, user: User, request: HttpRequest | None = None) -> User:
    """Log the account out everywhere: its sessions and API tokens end."""
    _require_action(actor, "manage_security")
    if not users_in_reach(actor).filter(pk=user.pk).exists():
        raise PermissionDenied
    sessions_end(user=user, actor=actor, request=request)
    return user


@transaction.atomic
def jurisdiction_add(*, actor: User, code: str, name: str, level: str, parent: Jurisdiction | None,
                        request: HttpRequest | None = None) -> Jurisdiction:
    """Add a jurisdiction inside the actor's subtree; the model checks code, level and parent."""
    _require_action(actor, "manage_jurisdictions")
    if actor.scope_code and (not code.startswith(actor.scope_code) or code == actor.scope_code):
        raise ValidationError({"code": _("You can add jurisdictions only under your own jurisdiction.")})
    jurisdiction = Jurisdiction(code=code, name=name.strip(), level=level, parent=parent)
    jurisdiction.full_clean()
    jurisdiction.save(force_insert=True)
    audit.record(actor, "jurisdiction.created", jurisdiction, request=request, name=jurisdiction.name,
                 level=level, parent=parent.code if parent else None)
    return jurisdiction


@transaction.atomic
def user_add(*, actor: User, username: str, full_name: str, role: str, jurisdiction: Jurisdiction | None,
                password: str, request: HttpRequest | None = None) -> User:
    """Create an account in the actor's subtree. The caller has validated the password."""
    _require_action(actor, "manage_users")
    if jurisdiction is None:
        if actor.scope_code or role != Role.ADMIN:
            raise ValidationError({"jurisdiction": _("Only an administrator over every jurisdiction may create "
                                                     "an administrator over every jurisdiction.")})
    elif not access.in_reach(actor, jurisdiction.code):
        raise ValidationError({"jurisdiction": _("%(place)s is outside your jurisdiction.") % {"place": jurisdiction}})
    user = User(username=username, full_name=full_name.strip(), role=role, jurisdiction=jurisdiction,
                password_changed_at=timezone.now())
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save(force_insert=True)
    audit.record(actor, "user.created", user, request=request, username_created=user.username, role=role,
                 jurisdiction=jurisdiction.code if jurisdiction else None)
    return user


@transaction.atomic
def user_set_active(*, actor: User, user: User, active: bool, request: HttpRequest | None = None) -> User:
    """Deactivate (the account can no longer log in, its sessions end) or reactivate an account."""
    _require_action(actor, "manage_users")
    _require_reach(actor, user)
    if user.pk == actor.pk and not active:
        raise ValidationError(_("You cannot deactivate your own account: ask another administrator."))
    if user.is_active != active:
        user.is_active = active
        user.save(update_fields=["is_active"])
    if not active:  # an inactive account is refused at its next request anyway; this makes it explicit
        User.objects.filter(pk=user.pk).update(sessions_version=F("sessions_version") + 1)
    revoked = feeds = 0
    if not active:  # its API tokens and feed key end with it, so a reactivation does not revive them
        revoked, feeds = credentials_revoke(user)
    audit.record(actor, "user.activated" if active else "user.deactivated", user, request=request,
                 username_changed=user.username, tokens_revoked=revoked,
                 **({"feed_keys_revoked": feeds} if not active else {}))
    return user


@transaction.atomic
def user_unlock(*, actor: User, user: User, request: HttpRequest | None = None) -> User:
    """Lift a lockout after failed logins before it runs out."""
    _require_action(actor, "manage_users")
    _require_reach(actor, user)
    was_locked_until = user.locked_until
    user.locked_until = None
    user.failed_logins = 0
    user.save(update_fields=["locked_until", "failed_logins"])
    audit.record(actor, "user.unlocked", user, request=request, username_changed=user.username,
                 was_locked_until=was_locked_until.isoformat() if was_locked_until else None)
    return user


# --- selectors ---------------------------------------------------------------------------------


def audit_entries(*, user: User, filters: dict[str, Any]) -> QuerySet[AuditEntry]:
    """The audit entries the user may see, filtered; dates are whole days in Asia/Shanghai."""
    qs = access.visible(user, AuditEntry)
    if filters.get("username"):
        qs = qs.filter(actor_username=filters["username"].strip())
    if action := filters.get("action", "").strip():
        qs = qs.filter(action__startswith=action) if action.endswith(".") else qs.filter(action=action)
    if filters.get("person"):
        qs = qs.filter(person_id=filters["person"])
    if filters.get("date_from"):
        qs = qs.filter(at__gte=datetime.combine(filters["date_from"], time.min, tzinfo=AUDIT_TZ))
    if filters.get("date_to"):
        qs = qs.filter(at__lt=datetime.combine(filters["date_to"] + timedelta(days=1), time.min, tzinfo=AUDIT_TZ))
    if filters.get("outcome"):
        qs = qs.filter(outcome=filters["outcome"])
    return qs.order_by("-id")


# --- views -------------------------------------------------------------------------------------


def _add_errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@login_required
@require_http_methods(["GET", "POST"])
def jurisdiction_list(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "manage_jurisdictions")
    form = JurisdictionForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = jurisdiction_add(actor=request.user, code=data["code"], name=data["name"],
                                       level=data["level"], parent=data["parent"], request=request)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("%(place)s was added.") % {"place": created})
            return redirect("core:jurisdictions")
    q = request.GET.get("q", "").strip()
    places = access.visible(request.user, Jurisdiction).select_related("parent").order_by("code")
    if q:
        places = places.filter(code__startswith=q) if q.isdigit() else places.filter(name__icontains=q)
    page = Paginator(places, JURISDICTION_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(j, "　" * _depth(j)) for j in page.object_list]
    return render(request, "core/jurisdictions.html", {"form": form, "page": page, "rows": rows, "q": q},
                  status=400 if form.errors else 200)


def _depth(j: Jurisdiction) -> int:
    lengths = sorted(CODE_LENGTH.values())
    return lengths.index(len(j.code)) if len(j.code) in lengths else 0


@login_required
@require_http_methods(["GET", "POST"])
def user_list(request: HttpRequest) -> HttpResponse:
    can_users = access.has_action(request.user, "manage_users")
    can_security = access.has_action(request.user, "manage_security")
    if not (can_users or can_security):
        access.require(request, request.user, "manage_users")  # audits the refusal, answers 403
    status = 200
    if request.method == "POST":
        action_form = UserActionForm(request.POST)
        if action_form.is_valid():
            target = users_in_reach(request.user).filter(pk=action_form.cleaned_data["user"]).first()
            if target is None:  # out of reach answers like a missing account, and the attempt is audited
                if User.objects.filter(pk=action_form.cleaned_data["user"]).exists():
                    audit.record(request.user, "access.denied", None, request=request, outcome=Outcome.DENIED,
                                 model="core.user", lookup={"pk": str(action_form.cleaned_data["user"])})
                raise Http404
            action = action_form.cleaned_data["action"]
            needed = "manage_security" if action in ("reset_2fa", "end_sessions") else "manage_users"
            access.require(request, request.user, needed)
            try:
                if action == "unlock":
                    user_unlock(actor=request.user, user=target, request=request)
                    messages.success(request, _("%(user)s can log in again.") % {"user": target.username})
                elif action == "reset_2fa":
                    second_factor_reset(actor=request.user, user=target, request=request)
                    messages.success(request, _("The second factor of %(user)s was removed and their sessions "
                                                "ended: they set up a new one at their next login.")
                                     % {"user": target.username})
                elif action == "end_sessions":
                    user_sessions_end(actor=request.user, user=target, request=request)
                    messages.success(request, _("Every session of %(user)s has ended.") % {"user": target.username})
                else:
                    user_set_active(actor=request.user, user=target, active=action == "activate", request=request)
                    messages.success(request, (_("%(user)s is active again.") if action == "activate"
                                               else _("%(user)s can no longer log in.")) % {"user": target.username})
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                status = 400
            else:
                return redirect(request.get_full_path())
        else:
            messages.error(request, _("That action is not understood: reload the page and try again."))
            status = 400
    q = request.GET.get("q", "").strip()
    users = users_in_reach(request.user).select_related("jurisdiction", "second_factor").order_by("username")
    if q:
        users = users.filter(Q(username__icontains=q) | Q(full_name__icontains=q))
    page = Paginator(users, USER_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "core/users.html", {"page": page, "q": q, "now": timezone.now(),
                                               "can_users": can_users, "can_security": can_security}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "manage_users")
    form = UserCreateForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = user_add(actor=request.user, username=data["username"], full_name=data["full_name"],
                               role=data["role"], jurisdiction=data["jurisdiction"], password=data["password1"],
                               request=request)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, _("The account %(user)s was created. Give the user the password in person; "
                                        "they can log in now.") % {"user": created.username})
            return redirect("core:users")
    return render(request, "core/user_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET"])
def audit_log(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "view_audit")
    form = AuditFilterForm(request.GET or None)
    if form.is_bound:
        form.is_valid()  # an invalid field is shown with its error and left out of the search
    filters = form.filters()
    page_number = request.GET.get("page") or "1"
    # Reading the audit log is itself audited, with what was searched for.
    audit.record(request.user, "audit.searched", None, request=request, page=page_number,
                 **{f"filter_{k}": str(v) for k, v in filters.items()})
    page = Paginator(audit_entries(user=request.user, filters=filters), AUDIT_PAGE_SIZE).get_page(page_number)
    labels = dict(Role.choices)
    for entry in page.object_list:
        entry.role_label = labels.get(entry.actor_role, entry.actor_role)
    return render(request, "core/audit.html", {"form": form, "page": page, "audit_tz": "Asia/Shanghai"},
                  status=400 if form.errors else 200)
