from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "liangyi.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from liangyi.core import access
        from liangyi.core.models import AuditEntry, User

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
