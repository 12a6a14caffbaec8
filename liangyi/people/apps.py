from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PeopleConfig(AppConfig):
    name = "liangyi.people"
    label = "people"
    verbose_name = _("Persons")

    def ready(self) -> None:
        from liangyi.core import access
        from liangyi.people import sections
        from liangyi.people.models import FamilyMember, Measure, Person, Plan, TimelineEvent

        # A person lies where they reside, or else where they are registered (Person.jurisdiction).
        access.register_scope(Person, lambda qs, scope: qs.filter(jurisdiction__code__startswith=scope),
                              gate="view_persons")
        for model in (FamilyMember, Measure, Plan, TimelineEvent):
            access.register_scope(model, lambda qs, scope: qs.filter(person__jurisdiction__code__startswith=scope),
                                  gate="view_persons")

        sections.register(sections.Section("overview", _("Overview"), "people/sections/overview.html", order=10))
        sections.register(sections.Section("measures", _("Measures"), "people/sections/measures.html", order=20,
                                           group="drug_history"))
        sections.register(sections.Section("family", _("Family and contacts"), "people/sections/family.html",
                                           order=30, group="contact"))
        sections.register(sections.Section("plan", _("Plan"), "people/sections/plan.html", order=40))
        sections.register(sections.Section("timeline", _("Timeline"), "people/sections/timeline.html", order=90))
