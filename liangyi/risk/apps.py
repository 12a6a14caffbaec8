from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RiskConfig(AppConfig):
    name = "liangyi.risk"
    label = "risk"
    verbose_name = _("Risk assessment and graded control")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from liangyi.core import access
        from liangyi.obligations import engine
        from liangyi.people import sections
        from liangyi.people.models import Person
        from liangyi.risk import plans, signals, views
        from liangyi.risk.models import Assessment, Grading, Override
        from liangyi.supervision.models import DrugTest

        for model in (Assessment, Grading, Override):
            access.register_scope(model, lambda qs, scope: qs.filter(person__jurisdiction__code__startswith=scope),
                                  gate="view_persons")
        engine.register(plans.SOURCE, plans.reassessments)
        sections.register(sections.Section("risk", _("Risk"), "risk/section.html", order=50, group="drug_history",
                                           context=views.section_context))
        post_save.connect(signals.drug_test_saved, sender=DrugTest, dispatch_uid="risk.drug_test_saved")
        post_save.connect(signals.person_saved, sender=Person, dispatch_uid="risk.person_saved")
