from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MedicalConfig(AppConfig):
    """The medical chain (医疗救助保障链). It starts with medical insurance: who is insured for which
    year, and the yearly renewal the community office helps the person make."""

    name = "liangyi.medical"
    label = "medical"
    verbose_name = _("Medical care and insurance")

    def ready(self) -> None:
        from liangyi.core import access
        from liangyi.medical import plans, views
        from liangyi.medical.models import InsuranceYear
        from liangyi.obligations import engine
        from liangyi.people import sections

        access.register_scope(InsuranceYear, lambda qs, scope: qs.filter(person__jurisdiction__code__startswith=scope),
                              gate="view_persons")
        engine.register(plans.SOURCE, plans.renewals)
        sections.register(sections.Section("insurance", _("Insurance"), "medical/section.html", order=60,
                                           context=views.section_context))
