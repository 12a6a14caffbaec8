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
        access.register_scope(AuditEntry, lambda qs, scope: qs.filter(actor__jurisdiction__code__startswith=scope),
                              gate="view_audit")
