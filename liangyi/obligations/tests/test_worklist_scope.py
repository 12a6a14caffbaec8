"""The worklist read from the obligations alone (person_place, listed_from) gives exactly what the
join through the person gave, for every role and level, after moves and transfers; and the
database keeps person_place equal to the person's place however the person moves."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from liangyi.core import access
from liangyi.demo import factories
from liangyi.obligations import placing, selectors
from liangyi.obligations.apps import _place_triggers
from liangyi.obligations.models import WORKLIST_DAYS, Kind, Obligation
from liangyi.people.models import Person, Status
from liangyi.people.services import person_update
from liangyi.supervision import services as supervision

TODAY = timezone.localdate()


def reference_worklist(user, on: date) -> list[tuple[int, str]]:
    """The worklist as it was written before person_place and listed_from: scoped through the
    person's jurisdiction (a join), listed by due date or open window."""
    if user is None or not user.is_authenticated or not user.is_active or not access.has_action(user, "view_persons"):
        return []
    qs = Obligation.objects.filter(done_at=None).filter(
        Q(due_on__lte=on + timedelta(days=WORKLIST_DAYS)) | Q(window_start__lte=on))
    if user.scope_code:
        qs = qs.filter(person__jurisdiction__code__startswith=user.scope_code)
    qs = selectors.with_state(qs.order_by("due_on", "person__name", "id"), on)
    return list(qs.values_list("id", "state"))


def current_worklist(user, on: date) -> list[tuple[int, str]]:
    return [(o.pk, o.state) for o in selectors.worklist(user, on)]


def add(person, *, due: date, opens: date | None, office, done: bool = False, waived: bool = False, key: str):
    return Obligation.objects.create(
        person=person, kind=Kind.DRUG_TEST, due_on=due, window_start=opens, window_end=due, office=office,
        source="test", key=key, ruleset_version="t", done_at=timezone.now() if done or waived else None,
        waived_reason="moved away" if waived else "")


@pytest.fixture
def varied(places, personas):
    """Persons at every level of the small tree with obligations of many dates, some closed, some
    held by an office other than the person's (the old township after a move)."""
    rng = random.Random(4)
    offices = [places["township"], places["neighbour"], places["other_township"]]
    where = [places["township"], places["village"], places["neighbour"], places["other_township"],
             places["county"]]
    persons = []
    for i, place in enumerate(where * 3):
        # Same names on purpose: the order falls back from the name to the id.
        persons.append(factories.person(place, name=["王五", "李四", "张三"][i % 3], status=Status.COMMUNITY_REHAB))
    n = 0
    for person in persons:
        for _ in range(14):
            due = TODAY + timedelta(days=rng.randint(-40, 40))
            opens = rng.choice([None, due, due - timedelta(days=rng.randint(0, 35))])
            n += 1
            add(person, due=due, opens=opens, office=rng.choice(offices), done=rng.random() < 0.2,
                waived=rng.random() < 0.05, key=f"k{n}")
        # The boundaries of the look-ahead and of the window, exactly.
        for due, opens in ((TODAY + timedelta(days=WORKLIST_DAYS), None),
                           (TODAY + timedelta(days=WORKLIST_DAYS + 1), None),
                           (TODAY + timedelta(days=30), TODAY), (TODAY + timedelta(days=30), TODAY + timedelta(1)),
                           (TODAY, TODAY), (TODAY - timedelta(days=1), None)):
            n += 1
            add(person, due=due, opens=opens, office=places["township"], key=f"k{n}")
    return persons


def users(places, personas) -> list:
    extra = [
        factories.user("city_leader", "leader", places["city"]),
        factories.user("village_worker", "community_worker", places["village"]),
        factories.user("far_worker", "community_worker", places["other_township"]),
        factories.user("province_leader", "leader", places["province"]),
    ]
    gone = factories.user("gone", "community_worker", places["township"])
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    return [*personas.values(), *extra, gone]


@pytest.mark.django_db
class TestSameRowsAsThroughThePerson:
    def test_for_every_user_and_day_the_rows_order_and_states_are_the_same(self, varied, places, personas):
        everyone = users(places, personas)
        seen_any = 0
        for on in (TODAY - timedelta(days=10), TODAY, TODAY + timedelta(days=6)):
            for user in everyone:
                expected = reference_worklist(user, on)
                assert current_worklist(user, on) == expected, getattr(user, "username", None)
                seen_any += bool(expected)
        assert seen_any > 10  # the comparison is not between empty lists

    def test_a_scope_holding_the_whole_tree_is_read_without_a_filter_and_still_the_same(self, varied, places,
                                                                                         personas, monkeypatch):
        from liangyi.obligations import apps

        monkeypatch.setattr(apps, "WHOLE_TREE_CHECK", 0)
        for user in users(places, personas):
            assert current_worklist(user, TODAY) == reference_worklist(user, TODAY), getattr(user, "username", None)
        yuxi = factories.jurisdiction("5304", "玉溪市", places["province"])
        outside = factories.jurisdiction("530402", "红塔区", yuxi)
        outsider = factories.person(outside, name="外人")
        add(outsider, due=TODAY, opens=None, office=places["township"], key="outside")
        city_leader = factories.user("city_leader_2", "leader", places["city"])
        assert current_worklist(city_leader, TODAY) == reference_worklist(city_leader, TODAY)
        assert not selectors.worklist(city_leader, TODAY).filter(person=outsider).exists()

    def test_after_moves_and_a_transfer_it_is_still_the_same(self, varied, places, personas):
        mover, bulk_moved, edited = varied[0], varied[1], varied[2]
        Person.objects.filter(pk=bulk_moved.pk).update(jurisdiction=places["other_township"])
        mover.jurisdiction = places["neighbour"]
        mover.save(update_fields=["jurisdiction"])
        person_update(actor=personas["admin"], person=edited, data={"residence_jurisdiction": "530302002"})
        county_worker = factories.user("county_worker", "community_worker", places["county"])
        transferred = factories.person(places["township"], name="赵六", status=Status.COMMUNITY_DRUG_REHAB)
        order = supervision.order_create(person=transferred, kind="community_drug_rehab",
                                         decided_on=TODAY - timedelta(days=102),
                                         received_on=TODAY - timedelta(days=102),
                                         actor=county_worker)
        supervision.report_receive(order=order, reported_on=TODAY - timedelta(days=100), actor=county_worker)
        supervision.order_transfer(order=order, to_township="530381001", on=TODAY - timedelta(days=3),
                                   actor=factories.user("city_worker", "community_worker", places["city"]))
        transferred.refresh_from_db()
        assert transferred.jurisdiction_id.startswith("530381001")
        everyone = users(places, personas)
        for user in everyone:
            assert current_worklist(user, TODAY) == reference_worklist(user, TODAY), getattr(user, "username", None)
        # The transferred person's obligations left the old township's list and reached the new one.
        assert not selectors.worklist(personas["worker"], TODAY).filter(person=transferred).exists()
        far = next(u for u in everyone if u and u.username == "far_worker")
        assert selectors.worklist(far, TODAY).filter(person=transferred).exists()

    def test_an_obligation_of_a_person_out_of_reach_never_appears(self, varied, places, personas):
        # Held by the worker's own township, but the person lies in the neighbouring one.
        outsider = next(p for p in varied if p.jurisdiction_id == places["neighbour"].code)
        held_here = add(outsider, due=TODAY - timedelta(days=2), opens=None, office=places["township"], key="held")
        for user in users(places, personas):
            rows = list(selectors.worklist(user, TODAY))
            scope = user.scope_code if user else None
            assert all(o.person.jurisdiction_id.startswith(scope) for o in rows if scope is not None)
            if user is not None and user.is_active and scope and not places["neighbour"].code.startswith(scope):
                assert held_here.pk not in {o.pk for o in rows}, user.username
        assert held_here.pk in {o.pk for o in selectors.worklist(personas["neighbour"], TODAY)}


@pytest.mark.django_db
class TestPersonPlaceIsKeptByTheDatabase:
    def places_of(self, person) -> set[str]:
        return set(Obligation.objects.filter(person=person).values_list("person_place", flat=True))

    @pytest.fixture
    def owing(self, places):
        person = factories.person(places["village"], name="孙七")
        Obligation.objects.bulk_create([
            Obligation(person=person, kind=Kind.HOME_VISIT, due_on=TODAY, office=places["township"], source="t",
                       key=f"v{i}", ruleset_version="t", person_place="wrong") for i in range(3)])
        return person

    def test_an_insert_takes_the_persons_place_whatever_it_was_given(self, owing, places):
        assert self.places_of(owing) == {places["village"].code}

    def test_a_bulk_update_of_the_person_moves_them(self, owing, places):
        Person.objects.filter(pk=owing.pk).update(jurisdiction=places["other_township"])
        assert self.places_of(owing) == {places["other_township"].code}

    def test_the_people_service_moves_them(self, owing, places, personas):
        person_update(actor=personas["admin"], person=owing, data={"residence_jurisdiction": "530302002"})
        owing.refresh_from_db()
        assert owing.jurisdiction_id == "530302002" and self.places_of(owing) == {"530302002"}

    def test_writing_the_copy_by_hand_does_not_stick(self, owing, places):
        Obligation.objects.filter(person=owing).update(person_place="530381001")
        assert self.places_of(owing) == {places["village"].code}

    def test_the_triggers_are_there_and_come_back_after_a_migrate(self, owing, places):
        assert placing.installed(connection) == placing.EXPECTED[connection.vendor]
        placing.uninstall(connection)
        assert placing.installed(connection) == set()
        Person.objects.filter(pk=owing.pk).update(jurisdiction=places["neighbour"])  # unseen: no trigger
        _place_triggers(sender=None, using=connection.alias)
        assert placing.installed(connection) == placing.EXPECTED[connection.vendor]
        placing.repair(connection)  # what the migration does (and post_migrate on SQLite)
        assert self.places_of(owing) == {places["neighbour"].code}
