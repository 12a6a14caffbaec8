from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _place_triggers(sender, using="default", plan=None, **kwargs) -> None:
    """Re-create the person_place triggers after every migrate (SQLite drops a table's triggers
    when Django rebuilds it) and, on SQLite, mend any copy written while they were missing."""
    from django.db import connections

    from liangyi.obligations import placing

    connection = connections[using]
    if "obligations_obligation" not in connection.introspection.table_names():
        return  # migrated backwards past the table
    columns = {c.name for c in connection.introspection.get_table_description(connection.cursor(),
                                                                               "obligations_obligation")}
    if "person_place" not in columns:
        return
    placing.install(connection)
    if connection.vendor == "sqlite":
        placing.repair(connection)


class ObligationsConfig(AppConfig):
    name = "liangyi.obligations"
    label = "obligations"
    verbose_name = _("Obligations")

    def ready(self) -> None:
        from liangyi.core import access
        from liangyi.core.models import Jurisdiction
        from liangyi.obligations import engine, schedules
        from liangyi.obligations.models import Obligation

        # An obligation is seen by whoever sees its person (where the person lies), so a
        # transferred person's history moves with them. person_place is the database's copy of
        # Person.jurisdiction (obligations.placing), so the scope needs no join; the places of
        # the subtree come from a subquery, which lets PostgreSQL walk one index range per place.
        access.register_scope(
            Obligation,
            lambda qs, scope: qs.filter(
                person_place__in=Jurisdiction.objects.filter(code__startswith=scope).values("code")),
            gate="view_persons")
        engine.register(schedules.SOURCE_DRUG_TESTS, schedules.drug_tests)
        post_migrate.connect(_place_triggers, sender=self, dispatch_uid="obligations.place_triggers")
