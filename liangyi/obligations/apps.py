from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ObligationsConfig(AppConfig):
    name = "liangyi.obligations"
    label = "obligations"
    verbose_name = _("Obligations")

    def ready(self) -> None:
        from liangyi.core import access
        from liangyi.obligations import engine, schedules
        from liangyi.obligations.models import Obligation

        # An obligation is seen by whoever sees its person (where the person lies), so a
        # transferred person's history moves with them.
        access.register_scope(Obligation, lambda qs, scope: qs.filter(person__jurisdiction__code__startswith=scope),
                              gate="view_persons")
        engine.register(schedules.SOURCE_DRUG_TESTS, schedules.drug_tests)
