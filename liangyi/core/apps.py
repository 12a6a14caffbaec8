from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "liangyi.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out

        from liangyi.core import access, sessions
        from liangyi.core.models import AuditEntry, User

        # Every login records its session and counts as a proof for re-authentication (core/sessions.py).
        user_logged_in.connect(sessions.on_login, dispatch_uid="liangyi.core.sessions.on_login")
        user_logged_out.connect(sessions.on_logout, dispatch_uid="liangyi.core.sessions.on_logout")

        access.register_scope(User, lambda qs, scope: qs.filter(jurisdiction__code__startswith=scope),
                              gate="manage_users")
        access.register_scope(AuditEntry, _audit_scope, gate="view_audit")


def _audit_scope(qs, scope):
    """Entries by users of the subtree, and failed logins naming such users (they have no actor)."""
    from django.db.models import Q

    from liangyi.core.models import User

    local_names = User.objects.filter(jurisdiction__code__startswith=scope).values("username")
    return qs.filter(Q(actor__jurisdiction__code__startswith=scope)
                     | Q(actor__isnull=True, actor_username__in=local_names))
