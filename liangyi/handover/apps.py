from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HandoverConfig(AppConfig):
    name = "liangyi.handover"
    label = "handover"
    verbose_name = _("Handover from the facility")

    def ready(self) -> None:
        from liangyi.core import access
        from liangyi.handover.models import Agreement, DiagnosticAssessment, Handover, IsolationStay

        # Seen by whoever sees the person (where the person lies: the receiving township's subtree).
        paths = {IsolationStay: "person", Handover: "person", DiagnosticAssessment: "stay__person",
                 Agreement: "order__person"}
        for model, to_person in paths.items():
            lookup = f"{to_person}__jurisdiction__code__startswith"
            access.register_scope(model, lambda qs, scope, lookup=lookup: qs.filter(**{lookup: scope}),
                                  gate="view_persons")

        from liangyi.handover import views
        from liangyi.people import sections

        sections.register(sections.Section("isolation", _("Isolation and handover"), "handover/section.html",
                                           order=44, group="drug_history", context=views.section_context))
