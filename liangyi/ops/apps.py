from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    name = "liangyi.ops"
    label = "ops"
    verbose_name = _("Operations: jobs and background work")

    def ready(self) -> None:
        from liangyi.ops import jobs

        jobs.discover()
