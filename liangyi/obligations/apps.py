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


def _in_reach(qs, scope: str):
    """Obligations of persons whose place lies in ``scope``'s subtree.

    The places are listed (a small query) rather than left to a subquery: PostgreSQL then reads
    one index range per place and estimates each from its statistics, so it does not mistake a
    township for a city and walk the whole province's due dates to fill a page."""
    from liangyi.core.models import Jurisdiction

    places = list(Jurisdiction.objects.filter(code__startswith=scope).values_list("code", flat=True))
    if len(places) > WHOLE_TREE_CHECK and not Jurisdiction.objects.exclude(code__startswith=scope).exists():
        return qs  # the scope holds every place there is (a province's own installation)
    return qs.filter(person_place__in=places)


def _revoke_calendar_key(sender, user, **kwargs) -> int:
    """The account's credentials were withdrawn (core.auth.credentials_revoked): its feed URL too."""
    from liangyi.obligations.models import CalendarToken

    return CalendarToken.objects.filter(user=user).delete()[0]


# Beyond this many places, first ask whether the scope is the whole tree (then no filter at all).
WHOLE_TREE_CHECK = 200


class ObligationsConfig(AppConfig):
    name = "liangyi.obligations"
    label = "obligations"
    verbose_name = _("Obligations")

    def ready(self) -> None:
        from liangyi.core import access
        from liangyi.core.auth import credentials_revoked
        from liangyi.obligations import engine, schedules
        from liangyi.obligations.models import Obligation

        # An obligation is seen by whoever sees its person (where the person lies), so a
        # transferred person's history moves with them. person_place is the database's copy of
        # Person.jurisdiction (obligations.placing), so the scope needs no join.
        access.register_scope(Obligation, _in_reach, gate="view_persons")
        engine.register(schedules.SOURCE_DRUG_TESTS, schedules.drug_tests)
        post_migrate.connect(_place_triggers, sender=self, dispatch_uid="obligations.place_triggers")
        credentials_revoked.connect(_revoke_calendar_key, dispatch_uid="obligations.revoke_calendar_key")
