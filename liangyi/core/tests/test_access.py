"""The access policy, checked exhaustively against access_matrix.toml (and docs/access.md).

Every role x every field group and every action x a person inside / outside the user's subtree
is its own test: the helpers ``sees``, ``has_action``, ``can`` and ``visible`` must say what the
TOML says inside, and nothing outside.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from liangyi.core import access
from liangyi.core.models import Role, User
from liangyi.demo import factories
from liangyi.people import services
from liangyi.people.fieldgroups import FIELD_GROUP
from liangyi.people.models import Person

# Read the TOML here, independently of access.matrix(), so a bug in the loader cannot hide.
with access.MATRIX_PATH.open("rb") as fh:
    TOML = tomllib.load(fh)
ROLES = list(Role.values)
GROUPS = list(TOML["field_groups"])
ACTIONS = list(TOML["actions"])
DOC = Path(__file__).resolve().parents[3] / "docs" / "access.md"


def toml_groups(role: str) -> set[str]:
    return set(TOML["roles"][role]["groups"])


def toml_actions(role: str) -> set[str]:
    return set(TOML["roles"][role]["actions"])


@pytest.fixture
def world(places):
    """A person in the user's township and a person in another county."""
    return {
        "inside": factories.person(places["township"], name="辖区内"),
        "outside": factories.person(places["other_township"], name="辖区外"),
    }


def township_user(places, role: str, **extra):
    # No password: hashing one (PBKDF2) would make this matrix of hundreds of tests take minutes.
    return User.objects.create(username=f"u_{role}", role=role, jurisdiction=places["township"], **extra)


def test_the_toml_names_every_role_and_nothing_else():
    assert set(TOML["roles"]) == set(Role.values)
    assert access.matrix()["roles"] == TOML["roles"]


def test_the_helpers_list_the_same_groups_and_actions():
    assert access.field_groups() == GROUPS
    assert access.actions() == ACTIONS


def test_every_field_of_the_person_belongs_to_a_known_group():
    assert set(FIELD_GROUP.values()) <= set(GROUPS)


@pytest.mark.parametrize("where", ["inside", "outside"])
@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("role", ROLES)
def test_field_group(places, world, role, group, where):
    user = township_user(places, role)
    person = world[where]
    seen = access.visible(user, Person).filter(pk=person.pk).exists()
    if where == "inside":
        assert access.sees(user, group) is (group in toml_groups(role))
        # A person in reach is visible exactly to the roles that may view persons at all.
        assert seen is ("view_persons" in toml_actions(role))
    else:
        assert not seen
        assert not access.can(user, "view_persons", person)


@pytest.mark.parametrize("where", ["inside", "outside"])
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_action(places, world, role, action, where):
    user = township_user(places, role)
    person = world[where]
    listed = action in toml_actions(role)
    assert access.has_action(user, action) is listed
    if where == "inside":
        # ``can`` on a person also needs the person visible, which needs view_persons.
        assert access.can(user, action, person) is (listed and "view_persons" in toml_actions(role))
        assert access.visible(user, Person).filter(pk=person.pk).exists() is ("view_persons" in toml_actions(role))
    else:
        assert access.can(user, action, person) is False
        assert not access.visible(user, Person).filter(pk=person.pk).exists()


@pytest.mark.parametrize("role", ROLES)
def test_an_inactive_user_sees_nothing(places, world, role):
    user = township_user(places, role, is_active=False)
    assert not any(access.sees(user, g) for g in GROUPS)
    assert not any(access.has_action(user, a) for a in ACTIONS)
    assert not any(access.can(user, a, world["inside"]) for a in ACTIONS)
    assert not access.visible(user, Person).exists()


def test_anonymous_sees_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    for user in (None, AnonymousUser()):
        assert not any(access.sees(user, g) for g in GROUPS)
        assert not any(access.has_action(user, a) for a in ACTIONS)
        assert not access.visible(user, Person).exists()


def test_unknown_groups_and_actions_are_errors(personas):
    with pytest.raises(ValueError):
        access.sees(personas["worker"], "horoscope")
    with pytest.raises(ValueError):
        access.has_action(personas["worker"], "delete_everything")


class TestScope:
    def test_an_admin_with_no_jurisdiction_reaches_every_person(self, places, world, personas):
        admin = personas["admin"]
        assert admin.jurisdiction is None
        assert set(access.visible(admin, Person)) == {world["inside"], world["outside"]}
        assert access.can(admin, "edit", world["outside"])

    def test_a_county_leader_reaches_every_township_of_the_county(self, places, personas):
        leader = personas["leader"]
        inside = [factories.person(places[k], name=k) for k in ("township", "neighbour", "village", "county")]
        outside = factories.person(places["other_township"], name="other")
        visible = set(access.visible(leader, Person))
        assert set(inside) <= visible
        assert outside not in visible
        assert not access.can(leader, "view_persons", outside)

    def test_a_township_worker_does_not_reach_the_neighbouring_township(self, places, personas):
        person = factories.person(places["neighbour"])
        assert not access.can(personas["worker"], "view_persons", person)
        assert access.can(personas["neighbour"], "view_persons", person)

    def test_a_village_person_is_reached_by_the_township_worker_above(self, places, personas):
        person = factories.person(places["village"])
        assert access.can(personas["worker"], "view_persons", person)
        assert not access.can(personas["neighbour"], "view_persons", person)

    def test_a_user_of_a_village_does_not_reach_the_township(self, places):
        village_worker = factories.user("village_worker", "community_worker", places["village"])
        in_village = factories.person(places["village"])
        in_township = factories.person(places["township"])
        assert set(access.visible(village_worker, Person)) == {in_village}
        assert not access.can(village_worker, "view_persons", in_township)

    def test_a_person_lies_at_the_residence_when_set(self, places, personas):
        registered_elsewhere = factories.person(places["other_township"], residence_jurisdiction=places["township"],
                                                jurisdiction=places["township"])
        assert access.can(personas["worker"], "view_persons", registered_elsewhere)
        xuanwei_worker = factories.user("xw", "community_worker", places["other_township"])
        assert not access.can(xuanwei_worker, "view_persons", registered_elsewhere)

    def test_the_service_places_a_person_at_the_residence_else_the_household(self, places, personas):
        from datetime import date

        from liangyi.core import idnumber

        admin = personas["admin"]
        lives_here = services.person_create(actor=admin, data={
            "name": "住在南宁", "id_number": idnumber.build("530381", date(1981, 2, 3), 11), "status": "社区康复",
            "household_jurisdiction": places["other_township"].code, "residence_jurisdiction": places["township"].code,
        })
        registered_here = services.person_create(actor=admin, data={
            "name": "户籍南宁", "id_number": idnumber.build("530302", date(1982, 2, 3), 13), "status": "社区康复",
            "household_jurisdiction": places["township"].code,
        })
        assert lives_here.jurisdiction == places["township"]
        assert registered_here.jurisdiction == places["township"]
        xuanwei_worker = factories.user("xw", "community_worker", places["other_township"])
        worker = personas["worker"]
        assert set(access.visible(worker, Person)) >= {lives_here, registered_here}
        assert lives_here not in set(access.visible(xuanwei_worker, Person))

        # Moving the residence moves the person out of reach.
        services.person_update(actor=admin, person=lives_here,
                               data={"residence_jurisdiction": places["other_township"].code})
        lives_here.refresh_from_db()
        assert not access.can(worker, "view_persons", lives_here)
        assert access.can(xuanwei_worker, "view_persons", lives_here)


class TestGetOr404:
    def test_an_out_of_reach_person_is_404_like_a_missing_one(self, places, world, personas):
        import uuid

        from django.http import Http404

        from liangyi.core.models import AuditEntry

        worker = personas["worker"]
        assert access.get_or_404(worker, Person, pk=world["inside"].pk) == world["inside"]
        with pytest.raises(Http404):
            access.get_or_404(worker, Person, pk=world["outside"].pk)
        with pytest.raises(Http404):
            access.get_or_404(worker, Person, pk=uuid.uuid4())
        with pytest.raises(Http404):
            access.get_or_404(worker, Person, pk="not-a-uuid")
        denied = AuditEntry.objects.filter(action="access.denied")
        assert denied.count() == 1  # only the real but unreachable record is audited
        assert denied.get().actor == worker


# --- the documentation cannot drift ------------------------------------------------------------


def _doc_table(heading_cell: str) -> dict[str, list[str]]:
    """Rows of the markdown table whose header starts with ``| heading_cell |``: name -> cells."""
    rows: dict[str, list[str]] = {}
    in_table = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| {heading_cell} |"):
            in_table = True
            continue
        if in_table:
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set(cells[0]) <= {"-", " "}:
                continue
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([a-z_0-9]+)`", cell))


def test_docs_list_every_role_with_its_groups_and_actions_exactly():
    table = _doc_table("role")
    assert set(table) == set(Role.values), "docs/access.md must have one row per role"
    for role, (groups, actions) in table.items():
        assert _names(groups) == toml_groups(role), f"docs/access.md: field groups of {role}"
        assert _names(actions) == toml_actions(role), f"docs/access.md: actions of {role}"


def test_docs_list_every_action():
    assert set(_doc_table("action")) == set(ACTIONS)


def test_docs_list_every_field_of_every_group():
    table = _doc_table("field group")
    assert set(table) == set(GROUPS)
    for group, (fields,) in table.items():
        assert _names(fields) == {f for f, g in FIELD_GROUP.items() if g == group}, f"docs/access.md: {group}"
