"""``Obligation.person_place``: the person's place (``Person.jurisdiction``), copied by the database.

Access to an obligation follows its person ("whoever sees the person sees what they owe"), so
scoping the worklist by the person meant a join and one probe of the obligations per person in
reach: seconds for a city. The copy lets the worklist be read from one index of the obligations
alone. Database triggers keep it exact whatever moves a person (a form, an import, a transfer, a
bulk ``update()``, raw SQL):

- on insert of an obligation (and on any update of its person or of the copy) the copy is taken
  from the person's row;
- on an update of ``people_person.jurisdiction_id`` every obligation of that person follows.

``install`` creates them (PostgreSQL and SQLite) and is idempotent; the migration that added the
column calls it, and so does every ``migrate`` (``post_migrate``), because SQLite drops a
table's triggers when Django rebuilds the table for a later schema change. ``repair`` puts any
copy that differs back in line (the migration's backfill; on SQLite after every migrate).
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

EXPECTED = {
    "postgresql": {"obligations_place_on_write", "obligations_place_person_moved"},
    "sqlite": {"obligations_place_on_write", "obligations_place_on_change", "obligations_place_person_moved"},
}

_POSTGRESQL = [
    """
    CREATE OR REPLACE FUNCTION obligations_place_on_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        SELECT jurisdiction_id INTO NEW.person_place FROM people_person WHERE id = NEW.person_id;
        RETURN NEW;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER obligations_place_on_write
    BEFORE INSERT OR UPDATE OF person_id, person_place ON obligations_obligation
    FOR EACH ROW EXECUTE FUNCTION obligations_place_on_write()
    """,
    """
    CREATE OR REPLACE FUNCTION obligations_place_person_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE obligations_obligation SET person_place = NEW.jurisdiction_id
        WHERE person_id = NEW.id AND person_place IS DISTINCT FROM NEW.jurisdiction_id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER obligations_place_person_moved
    AFTER UPDATE OF id, jurisdiction_id ON people_person
    FOR EACH ROW WHEN (OLD.jurisdiction_id IS DISTINCT FROM NEW.jurisdiction_id OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION obligations_place_person_moved()
    """,
]

# SQLite cannot assign NEW in a BEFORE trigger: the AFTER triggers correct the row just written.
_SQLITE = [
    """
    CREATE TRIGGER IF NOT EXISTS obligations_place_on_write
    AFTER INSERT ON obligations_obligation FOR EACH ROW
    BEGIN
        UPDATE obligations_obligation
        SET person_place = (SELECT jurisdiction_id FROM people_person WHERE id = NEW.person_id)
        WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS obligations_place_on_change
    AFTER UPDATE OF person_id, person_place ON obligations_obligation FOR EACH ROW
    WHEN NEW.person_place IS NOT (SELECT jurisdiction_id FROM people_person WHERE id = NEW.person_id)
    BEGIN
        UPDATE obligations_obligation
        SET person_place = (SELECT jurisdiction_id FROM people_person WHERE id = NEW.person_id)
        WHERE id = NEW.id;
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS obligations_place_person_moved
    AFTER UPDATE OF id, jurisdiction_id ON people_person FOR EACH ROW
    WHEN OLD.jurisdiction_id IS NOT NEW.jurisdiction_id OR OLD.id IS NOT NEW.id
    BEGIN
        UPDATE obligations_obligation SET person_place = NEW.jurisdiction_id WHERE person_id = NEW.id;
    END
    """,
]

_REPAIR = {
    "postgresql": """
        UPDATE obligations_obligation o SET person_place = p.jurisdiction_id FROM people_person p
        WHERE p.id = o.person_id AND o.person_place IS DISTINCT FROM p.jurisdiction_id
    """,
    "sqlite": """
        UPDATE obligations_obligation
        SET person_place = (SELECT jurisdiction_id FROM people_person p WHERE p.id = person_id)
        WHERE person_place IS NOT (SELECT jurisdiction_id FROM people_person p WHERE p.id = person_id)
    """,
}


def _statements(vendor: str) -> list[str]:
    try:
        return {"postgresql": _POSTGRESQL, "sqlite": _SQLITE}[vendor]
    except KeyError:
        raise NotImplementedError(f"obligations.placing has no triggers for {vendor}") from None


def install(connection: BaseDatabaseWrapper) -> None:
    """Create (or replace) the triggers; safe to run any number of times."""
    with connection.cursor() as cursor:
        for statement in _statements(connection.vendor):
            cursor.execute(statement)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    """Drop the triggers (reversing the migration that added the column)."""
    with connection.cursor() as cursor:
        for name in EXPECTED[connection.vendor]:
            table = "people_person" if name.endswith("person_moved") else "obligations_obligation"
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if connection.vendor == "postgresql"
                                                                 else ""))
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")


def repair(connection: BaseDatabaseWrapper) -> int:
    """Set every copy that differs from its person's place; returns how many were wrong."""
    with connection.cursor() as cursor:
        cursor.execute(_REPAIR[connection.vendor])
        return max(cursor.rowcount, 0)


def installed(connection: BaseDatabaseWrapper) -> set[str]:
    """The names of this module's triggers present in the database."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'obligations_place_%'")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'obligations_place_%'")
        return {row[0] for row in cursor.fetchall()}
