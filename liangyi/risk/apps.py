from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RiskConfig(AppConfig):
    name = "liangyi.risk"
    label = "risk"
    verbose_name = _("Risk assessment and graded control")
