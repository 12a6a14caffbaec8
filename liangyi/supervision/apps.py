from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupervisionConfig(AppConfig):
    name = "liangyi.supervision"
    label = "supervision"
    verbose_name = _("Community supervision")

    def ready(self) -> None:
        from liangyi.core import access
        from liangyi.obligations import engine
        from liangyi.supervision import plans
        from liangyi.supervision.models import CommunityOrder, DrugTest, Escalation

        # Seen by whoever sees the person (where the person lies now).
        for model in (CommunityOrder, DrugTest, Escalation):
            access.register_scope(model, lambda qs, scope: qs.filter(person__jurisdiction__code__startswith=scope),
                                  gate="view_persons")
        engine.register(plans.SOURCE, plans.order_obligations)

        from liangyi.people import sections
        from liangyi.supervision import views

        sections.register(sections.Section("supervision", _("Supervision"), "supervision/section.html", order=45,
                                           group="drug_history", context=views.section_context))
