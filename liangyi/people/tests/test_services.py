"""The person services: validation, scoping of writes, timeline, audit, duplicates, versions."""

from __future__ import annotations

from datetime import date

import pytest

from liangyi.core import idnumber
from liangyi.core.errors import ConflictError, DomainError
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.people import services
from liangyi.people.models import Person, TimelineEvent


def data(**overrides):
    base = {
        "name": "李秀英",
        "id_number": idnumber.build("530302", date(1985, 11, 20), 102),
        "household_jurisdiction": "530302001",
        "status": "社区戒毒",
        "phone": "138 0000 1234",
    }
    base.update(overrides)
    return base


class TestPersonCreate:
    def test_it_derives_gender_and_birth_date_from_the_id_number(self, personas):
        person = services.person_create(actor=personas["worker"], data=data())
        assert person.gender == "F"
        assert person.birth_date == date(1985, 11, 20)
        assert person.status == "community_drug_rehab"
        assert person.jurisdiction_id == "530302001"
        assert person.phone == "13800001234"

    def test_it_writes_a_timeline_event_and_an_audit_entry(self, personas):
        person = services.person_create(actor=personas["worker"], data=data())
        assert TimelineEvent.objects.filter(person=person, kind="person.created").count() == 1
        assert AuditEntry.objects.filter(action="person.created", person_id=person.pk).count() == 1

    def test_it_accepts_messy_spellings_of_the_id_number(self, personas):
        number = next(n for seq in range(2, 999, 2)
                      if (n := idnumber.build("530302", date(1978, 8, 5), seq)).endswith("X"))
        messy = " ".join(number[:-1]).translate(str.maketrans("0123456789", "０１２３４５６７８９")) + "x"
        person = services.person_create(actor=personas["worker"], data=data(id_number=messy))
        assert person.id_number == number

    def test_it_converts_a_fifteen_digit_number(self, personas):
        legacy = "530302850101203"  # born 1985-01-01, sequence 203 (odd: male)
        person = services.person_create(actor=personas["worker"], data=data(id_number=legacy, gender="男"))
        assert person.id_number == idnumber.upgrade_legacy(legacy)
        assert len(person.id_number) == 18

    def test_it_names_the_failed_check(self, personas):
        good = data()["id_number"]
        wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
        with pytest.raises(DomainError) as exc:
            services.person_create(actor=personas["worker"], data=data(id_number=wrong))
        assert "check character" in " ".join(exc.value.errors["id_number"])

    def test_it_refuses_a_gender_that_disagrees_with_the_number(self, personas):
        with pytest.raises(DomainError) as exc:
            services.person_create(actor=personas["worker"], data=data(gender="男"))
        assert "gender" in exc.value.errors

    def test_it_refuses_a_birth_date_that_disagrees_with_the_number(self, personas):
        with pytest.raises(DomainError) as exc:
            services.person_create(actor=personas["worker"], data=data(birth_date="1985-11-21"))
        assert "birth_date" in exc.value.errors

    def test_it_reports_every_missing_required_field_at_once(self, personas):
        with pytest.raises(DomainError) as exc:
            services.person_create(actor=personas["worker"], data={})
        assert {"name", "id_number", "household_jurisdiction", "status"} <= set(exc.value.errors)

    def test_it_refuses_a_second_record_for_the_same_number(self, personas):
        services.person_create(actor=personas["worker"], data=data())
        with pytest.raises(DomainError):
            services.person_create(actor=personas["colleague"], data=data(name="李秀英二"))
        assert Person.objects.count() == 1

    def test_it_refuses_a_person_outside_the_workers_jurisdiction(self, personas):
        with pytest.raises(DomainError):
            services.person_create(actor=personas["worker"], data=data(household_jurisdiction="530302002"))
        assert Person.objects.count() == 0

    def test_a_role_without_create_cannot_register(self, personas):
        with pytest.raises(DomainError):
            services.person_create(actor=personas["job_officer"], data=data())

    def test_a_role_cannot_set_a_field_group_it_does_not_see(self, personas):
        with pytest.raises(DomainError) as exc:
            services.person_create(actor=personas["worker"], data=data(police_notes="x"))
        assert "police_notes" in exc.value.errors

    def test_same_name_and_birth_date_is_flagged_as_a_probable_duplicate(self, personas):
        first = services.person_create(actor=personas["worker"], data=data())
        other_number = idnumber.build("530302", date(1985, 11, 20), 104)
        second = services.person_create(actor=personas["worker"], data=data(id_number=other_number))
        assert second.possible_duplicate_of == first
        assert Person.objects.count() == 2

    def test_it_finds_a_person_by_any_spelling_of_the_number(self, personas):
        person = services.person_create(actor=personas["worker"], data=data())
        assert services.find_by_id_number(" ".join(person.id_number)) == person
        assert services.find_by_id_number("not a number") is None


class TestPersonUpdate:
    def test_nothing_changed_writes_nothing(self, personas, person):
        before = (TimelineEvent.objects.count(), AuditEntry.objects.count())
        assert services.person_update(actor=personas["worker"], person=person, data={"status": person.status}) == []
        assert (TimelineEvent.objects.count(), AuditEntry.objects.count()) == before

    def test_it_moves_the_person_with_their_residence(self, personas, person, places):
        services.person_update(actor=personas["admin"], person=person,
                               data={"residence_jurisdiction": places["neighbour"].code})
        person.refresh_from_db()
        assert person.jurisdiction_id == places["neighbour"].code
        from liangyi.core import access

        assert not access.visible(personas["worker"], Person).filter(pk=person.pk).exists()
        assert access.visible(personas["neighbour"], Person).filter(pk=person.pk).exists()

    def test_a_stale_version_is_a_conflict(self, personas, person):
        stale = person.version
        services.person_update(actor=personas["worker"], person=person, data={"status": "suspended"})
        with pytest.raises(ConflictError):
            services.person_update(actor=personas["colleague"], person=Person.objects.get(pk=person.pk),
                                   data={"status": "completed"}, expected_version=stale)
        assert Person.objects.get(pk=person.pk).status == "suspended"

    def test_the_audit_entry_names_fields_not_values(self, personas, person):
        services.person_update(actor=personas["worker"], person=person, data={"phone": "13900000000"})
        entry = AuditEntry.objects.filter(action="person.updated").latest("id")
        assert entry.detail["fields"] == ["phone"]
        assert "13900000000" not in str(entry.detail)


class TestReveal:
    def test_a_worker_may_reveal_and_it_is_audited(self, personas, person):
        assert services.reveal(actor=personas["worker"], person=person, field="id_number") == person.id_number
        assert AuditEntry.objects.filter(action="person.reveal", person_id=person.pk, outcome="ok").exists()

    def test_a_job_officer_may_not_and_the_refusal_is_audited(self, personas, person):
        with pytest.raises(DomainError):
            services.reveal(actor=personas["job_officer"], person=person, field="id_number")
        assert AuditEntry.objects.filter(action="person.reveal", person_id=person.pk, outcome="denied").exists()

    def test_only_masked_fields_can_be_revealed(self, personas, person):
        with pytest.raises(DomainError):
            services.reveal(actor=personas["health"], person=person, field="infectious_disease")


def test_factories_make_valid_people(places):
    p = factories.person(places["township"])
    assert idnumber.is_valid(p.id_number)


class TestTimelineGroups:
    def test_an_event_of_a_hidden_group_never_reaches_that_role(self, personas, person):
        from liangyi.people import selectors

        services.timeline_add(person=person, kind="test.recorded", summary="尿检阳性（海洛因）", group="drug_history")
        services.timeline_add(person=person, kind="visit", summary="家访")
        worker_sees = [e.summary for e in selectors.timeline_for(user=personas["worker"], person=person)]
        officer_sees = [e.summary for e in selectors.timeline_for(user=personas["job_officer"], person=person)]
        assert "尿检阳性（海洛因）" in worker_sees and "家访" in worker_sees
        assert "家访" in officer_sees and "尿检阳性（海洛因）" not in officer_sees

    def test_an_unknown_group_is_refused(self, person):
        with pytest.raises(ValueError):
            services.timeline_add(person=person, kind="x", summary="x", group="secrets")


class TestLimits:
    def test_an_overlong_name_is_a_field_error_not_a_database_error(self, personas):
        with pytest.raises(DomainError) as exc:
            services.person_create(actor=personas["worker"], data=data(name="王" * 61))
        assert "name" in exc.value.errors

    def test_an_outsider_cannot_update_even_into_their_own_township(self, personas, person, places):
        with pytest.raises(DomainError):
            services.person_update(actor=personas["neighbour"], person=person,
                                   data={"residence_jurisdiction": places["neighbour"].code})
        person.refresh_from_db()
        assert person.jurisdiction_id == places["township"].code
