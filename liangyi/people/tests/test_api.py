"""The person REST API: scoping, filters, masking and reveal, field groups, writes, versions, timeline."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from liangyi.core import idnumber
from liangyi.core.models import ApiToken, AuditEntry, User
from liangyi.demo import factories
from liangyi.people import services
from liangyi.people.api import MASKS
from liangyi.people.fieldgroups import FIELD_GROUP, REVEALABLE
from liangyi.people.models import Person, TimelineEvent

PERSONS_URL = "/api/v1/persons/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The personas' passwords are hashed for every test; the production hasher takes ~0.4 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def api_for(user: User | None) -> APIClient:
    """A client with a bearer token of ``user``; messages in English (the msgids) for the assertions."""
    client = APIClient()
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"  # the interface is Chinese unless one chooses
    if user is not None:
        _, key = ApiToken.issue(user, 1)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def detail_url(person: Person) -> str:
    return f"{PERSONS_URL}{person.pk}/"


def listed(user: User | None, **params) -> list[str]:
    response = api_for(user).get(PERSONS_URL, params)
    assert response.status_code == 200
    return [p["id"] for p in response.json()["results"]]


def new_person(**overrides):
    data = {
        "name": "李秀英",
        "id_number": idnumber.build("530302", date(1985, 11, 20), 102),
        "household_jurisdiction": "530302001",
        "status": "community_drug_rehab",
        "phone": "13800001234",
    }
    data.update(overrides)
    return data


def wrong_check_character(number: str) -> str:
    return number[:-1] + ("0" if number[-1] != "0" else "1")


def reveals(person: Person) -> list[str]:
    return sorted(e.detail["field"] for e in AuditEntry.objects.filter(action="person.reveal", person_id=person.pk))


@pytest.fixture
def teacher(places):
    return factories.user("teacher", "education", places["township"])


class TestPersonList:
    def test_a_worker_finds_the_person_in_their_township(self, personas, person):
        assert listed(personas["worker"]) == [str(person.pk)]

    def test_a_worker_in_the_neighbouring_township_does_not(self, personas, person):
        assert listed(personas["neighbour"]) == []

    def test_the_county_leader_does(self, personas, person):
        assert listed(personas["leader"]) == [str(person.pk)]

    def test_a_person_lies_where_they_reside(self, personas, places):
        moved = factories.person(places["township"], residence_jurisdiction=places["neighbour"],
                                 jurisdiction=places["neighbour"])
        assert listed(personas["worker"]) == []
        assert listed(personas["neighbour"]) == [str(moved.pk)]

    @pytest.mark.parametrize("who", ["auditor", "teacher"])
    def test_roles_without_persons_see_none(self, personas, person, teacher, who):
        user = teacher if who == "teacher" else personas[who]
        response = api_for(user).get(PERSONS_URL)
        assert response.status_code == 200
        assert response.json()["count"] == 0

    def test_anonymous_gets_401(self, personas, person):
        assert api_for(None).get(PERSONS_URL).status_code == 401

    def test_it_filters_by_status(self, personas, places, person):
        other = factories.person(places["township"], name="赵六", status="isolation")
        assert listed(personas["worker"], status="isolation") == [str(other.pk)]

    def test_an_unknown_status_is_a_400(self, personas, person):
        response = api_for(personas["worker"]).get(PERSONS_URL, {"status": "on_holiday"})
        assert response.status_code == 400
        assert list(response.json()) == ["status"]

    def test_it_filters_by_jurisdiction_prefix(self, personas, places, person):
        in_village = factories.person(places["village"], name="钱七")
        factories.person(places["neighbour"], name="孙八")
        assert listed(personas["leader"], jurisdiction="530302001001") == [str(in_village.pk)]
        assert set(listed(personas["leader"], jurisdiction="530302001")) == {str(person.pk), str(in_village.pk)}

    def test_it_finds_by_part_of_the_name(self, personas, places, person):
        factories.person(places["township"], name="赵六")
        assert listed(personas["worker"], q="建国") == [str(person.pk)]

    def test_it_finds_by_the_id_number_in_any_spelling(self, personas, places, person):
        factories.person(places["township"], name="赵六")
        spaced = " ".join([person.id_number[:6], person.id_number[6:14], person.id_number[14:]]).lower()
        assert listed(personas["worker"], q=spaced) == [str(person.pk)]

    def test_it_masks_the_id_number_and_phone_even_when_asked_to_reveal(self, personas, person):
        response = api_for(personas["worker"]).get(PERSONS_URL, {"reveal": "1"})
        entry = response.json()["results"][0]
        assert entry["id_number"] == person.id_number_masked
        assert entry["phone"] == "138****5678"
        assert reveals(person) == []

    def test_it_pages_with_limit_and_offset(self, personas, places):
        for i in range(3):
            factories.person(places["township"], name=f"测试{i}")
        body = api_for(personas["worker"]).get(PERSONS_URL, {"limit": 2}).json()
        assert body["count"] == 3
        assert len(body["results"]) == 2
        assert "offset=2" in body["next"]

    def test_a_huge_limit_gets_the_largest_page_and_a_huge_offset_is_refused(self, personas, person):
        from liangyi.core.pagination import StrictLimitOffsetPagination as Paging

        client = api_for(personas["worker"])
        huge = str(2**80)
        answer = client.get(PERSONS_URL, {"limit": huge})
        assert answer.status_code == 200 and answer.json()["count"] == 1
        assert f"limit={Paging.max_limit}" not in (answer.json()["next"] or "")
        refused = client.get(PERSONS_URL, {"offset": huge})
        assert refused.status_code == 400 and "offset" in refused.json()
        assert client.get(PERSONS_URL, {"offset": str(Paging.MAX_OFFSET)}).status_code == 200

    def test_its_query_count_does_not_grow_with_the_number_of_persons(self, personas, places,
                                                                      django_assert_max_num_queries):
        def add(n: int) -> None:
            for i in range(n):
                factories.person(places["township"], name=f"测试{i}", residence_jurisdiction=places["village"],
                                 jurisdiction=places["village"], responsible_worker=personas["worker"])

        client = api_for(personas["worker"])
        add(2)
        with CaptureQueriesContext(connection) as two:
            assert client.get(PERSONS_URL).json()["count"] == 2
        add(18)
        with django_assert_max_num_queries(len(two.captured_queries)):
            body = client.get(PERSONS_URL).json()
        assert body["count"] == 20
        assert {p["responsible_worker"] for p in body["results"]} == {"worker"}
        assert {p["jurisdiction_name"] for p in body["results"]} == {"南关社区"}


class TestPersonDetail:
    def test_it_shows_the_person_and_audits_the_view(self, personas, person):
        response = api_for(personas["worker"]).get(detail_url(person))
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == str(person.pk)
        assert body["name"] == "王建国"
        assert body["jurisdiction"] == "530302001"
        assert body["jurisdiction_name"] == "南宁街道"
        assert body["status"] == "community_rehab"
        assert body["status_label"] == "Community rehab"
        assert body["version"] == 1
        assert AuditEntry.objects.filter(action="person.viewed", person_id=person.pk,
                                         actor=personas["worker"]).count() == 1

    def test_the_record_is_not_cached(self, personas, person):
        assert "no-store" in api_for(personas["worker"]).get(detail_url(person))["Cache-Control"]

    def test_a_neighbouring_worker_gets_404_like_for_a_missing_person(self, personas, person):
        client = api_for(personas["neighbour"])
        out_of_reach = client.get(detail_url(person))
        missing = client.get(f"{PERSONS_URL}{uuid.uuid4()}/")
        assert out_of_reach.status_code == missing.status_code == 404
        assert out_of_reach.json() == missing.json()
        assert not AuditEntry.objects.filter(action="person.viewed").exists()
        assert AuditEntry.objects.filter(action="access.denied", actor=personas["neighbour"]).count() == 1

    def test_a_role_without_persons_gets_404(self, teacher, person):
        assert api_for(teacher).get(detail_url(person)).status_code == 404

    def test_anonymous_gets_401(self, personas, person):
        assert api_for(None).get(detail_url(person)).status_code == 401

    def test_it_masks_the_id_number_phone_and_addresses(self, personas, person):
        body = api_for(personas["worker"]).get(detail_url(person)).json()
        number = person.id_number
        assert body["id_number"] == number[:6] + "********" + number[-4:]
        assert body["phone"] == "138****5678"
        assert body["household_address"] != person.household_address
        assert body["household_address"].endswith("****")
        assert reveals(person) == []

    def test_a_worker_who_asks_sees_them_in_full_and_each_reveal_is_audited(self, personas, person):
        body = api_for(personas["worker"]).get(detail_url(person), {"reveal": "1"}).json()
        assert body["id_number"] == person.id_number
        assert body["phone"] == "13812345678"
        assert body["residence_address"] == "南宁街道幸福路1号"
        assert reveals(person) == ["birth_date", "household_address", "id_number", "phone", "residence_address"]
        assert body["birth_date"] == person.birth_date.isoformat()

    def test_the_health_worker_may_reveal_too(self, personas, person):
        body = api_for(personas["health"]).get(detail_url(person), {"reveal": "1"}).json()
        assert body["id_number"] == person.id_number

    @pytest.mark.parametrize("role", ["leader", "job_officer"])
    def test_roles_without_reveal_still_get_the_masked_number(self, personas, person, role):
        response = api_for(personas[role]).get(detail_url(person), {"reveal": "1"})
        assert response.status_code == 200
        assert response.json()["id_number"] == person.id_number_masked
        assert reveals(person) == []

    def test_the_job_officer_does_not_get_the_medical_police_or_drug_fields(self, personas, person):
        body = api_for(personas["job_officer"]).get(detail_url(person)).json()
        for hidden in ("infectious_disease", "police_notes", "substances", "health_notes", "manner_of_use"):
            assert hidden not in body
        assert body["phone"] == "138****5678"
        # the year only: the full date plus the masked ID number would give the number away
        assert body["birth_date"] == "1980-**-**"

    def test_the_health_worker_gets_the_infectious_disease_status_but_not_police_notes(self, personas, person):
        body = api_for(personas["health"]).get(detail_url(person)).json()
        assert body["infectious_disease"] == "HIV阳性"
        assert body["health_notes"] == "乙肝携带"
        assert "police_notes" not in body

    def test_the_police_get_police_notes_but_not_the_infectious_disease_status(self, personas, person):
        body = api_for(personas["police"]).get(detail_url(person)).json()
        assert body["police_notes"] == "曾有贩毒前科"
        assert body["substances"] == ["海洛因"]
        assert "infectious_disease" not in body
        assert "health_notes" not in body

    def test_the_leader_gets_no_contact_fields(self, personas, person):
        body = api_for(personas["leader"]).get(detail_url(person)).json()
        for hidden in ("phone", "household_address", "residence_address", "health_notes"):
            assert hidden not in body
        assert body["id_number"] == person.id_number_masked

    def test_a_browser_gets_json_never_a_form_filled_with_the_full_values(self, personas, person):
        response = api_for(personas["worker"]).get(detail_url(person), HTTP_ACCEPT="text/html,*/*;q=0.8")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert person.id_number not in response.content.decode()
        assert "police_notes" not in response.content.decode()

    def test_options_describes_the_fields_to_register(self, personas):
        response = api_for(personas["worker"]).options(PERSONS_URL)
        assert response.status_code == 200
        assert {"name", "id_number", "household_jurisdiction", "status"} <= set(response.json()["actions"]["POST"])

    def test_every_revealable_field_has_a_mask(self):
        assert set(MASKS) == set(REVEALABLE)

    def test_the_schema_documents_every_field_as_optional_when_it_belongs_to_a_group(self, db):
        schema = APIClient().get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]["Person"]
        assert set(FIELD_GROUP) <= set(schema["properties"])
        assert not set(FIELD_GROUP) & set(schema["required"])
        assert {"id", "name", "status", "status_label", "jurisdiction", "jurisdiction_name"} <= set(schema["required"])


class TestPersonCreate:
    def test_a_worker_registers_a_person(self, personas):
        response = api_for(personas["worker"]).post(PERSONS_URL, new_person(), format="json")
        assert response.status_code == 201
        body = response.json()
        person = Person.objects.get(pk=body["id"])
        assert person.id_number == new_person()["id_number"]
        assert body["id_number"] == person.id_number_masked
        assert body["gender"] == "F"
        assert body["birth_date"] == "1985-**-**"
        assert body["phone"] == "138****1234"
        entry = AuditEntry.objects.get(action="person.created", person_id=person.pk)
        assert entry.detail["via"] == "api"
        assert entry.actor == personas["worker"]

    def test_a_wrong_check_character_is_named(self, personas):
        number = wrong_check_character(new_person()["id_number"])
        response = api_for(personas["worker"]).post(PERSONS_URL, new_person(id_number=number), format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["id_number"]
        assert "check character" in response.json()["id_number"][0]
        assert not Person.objects.exists()

    def test_a_wrong_length_is_named(self, personas):
        response = api_for(personas["worker"]).post(PERSONS_URL, new_person(id_number="53030219851120"),
                                                    format="json")
        assert response.status_code == 400
        assert "18 characters" in response.json()["id_number"][0]

    def test_an_impossible_birth_date_is_named(self, personas):
        first17 = "53030219851320102"  # month 13
        number = first17 + idnumber.check_character(first17)
        response = api_for(personas["worker"]).post(PERSONS_URL, new_person(id_number=number), format="json")
        assert response.status_code == 400
        assert "birth date" in response.json()["id_number"][0]

    def test_a_registered_id_number_is_refused(self, personas, person):
        response = api_for(personas["worker"]).post(PERSONS_URL, new_person(id_number=person.id_number),
                                                    format="json")
        assert response.status_code == 400
        assert "already registered" in response.json()["id_number"][0]
        assert Person.objects.count() == 1

    def test_missing_required_fields_are_each_named(self, personas):
        response = api_for(personas["worker"]).post(PERSONS_URL, {"name": "李秀英"}, format="json")
        assert response.status_code == 400
        assert set(response.json()) == {"id_number", "household_jurisdiction", "status"}

    def test_a_gender_that_disagrees_with_the_id_number_is_refused(self, personas):
        response = api_for(personas["worker"]).post(PERSONS_URL, new_person(gender="M"), format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["gender"]

    def test_an_unknown_jurisdiction_code_is_named(self, personas):
        response = api_for(personas["worker"]).post(PERSONS_URL, new_person(household_jurisdiction="539999"),
                                                    format="json")
        assert response.status_code == 400
        assert "539999" in response.json()["household_jurisdiction"][0]

    def test_a_worker_cannot_register_outside_their_township(self, personas):
        response = api_for(personas["neighbour"]).post(PERSONS_URL, new_person(), format="json")
        assert response.status_code == 400
        assert "outside" in " ".join(sum(response.json().values(), []))
        assert not Person.objects.exists()

    def test_a_field_the_role_does_not_see_cannot_be_set(self, personas):
        response = api_for(personas["worker"]).post(PERSONS_URL, new_person(police_notes="线索"), format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["police_notes"]

    def test_unknown_fields_are_refused(self, personas):
        response = api_for(personas["worker"]).post(PERSONS_URL, new_person(phon="13800001234"), format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["phon"]

    @pytest.mark.parametrize("role", ["leader", "job_officer", "health"])
    def test_roles_without_create_get_403(self, personas, role):
        response = api_for(personas[role]).post(PERSONS_URL, new_person(), format="json")
        assert response.status_code == 403
        assert not Person.objects.exists()

    def test_anonymous_gets_401(self, personas):
        assert api_for(None).post(PERSONS_URL, new_person(), format="json").status_code == 401


class TestPersonUpdate:
    def test_a_worker_changes_the_phone(self, personas, person):
        response = api_for(personas["worker"]).patch(detail_url(person), {"phone": "13900001111", "version": 1},
                                                     format="json")
        assert response.status_code == 200
        assert response.json()["phone"] == "139****1111"
        assert response.json()["version"] == 2
        person.refresh_from_db()
        assert person.phone == "13900001111"
        assert person.name == "王建国"  # fields not sent are kept
        entry = AuditEntry.objects.get(action="person.updated", person_id=person.pk)
        assert entry.detail == {"fields": ["phone"], "via": "api"}

    def test_a_stale_version_answers_409_and_changes_nothing(self, personas, person):
        client = api_for(personas["worker"])
        assert client.patch(detail_url(person), {"phone": "13900001111"}, format="json").status_code == 200
        response = client.patch(detail_url(person), {"phone": "13700002222", "version": 1}, format="json")
        assert response.status_code == 409
        assert "version 2" in response.json()["version"][0]
        person.refresh_from_db()
        assert person.phone == "13900001111"

    def test_moving_the_residence_moves_the_person_out_of_reach(self, personas, person):
        response = api_for(personas["worker"]).patch(
            detail_url(person), {"residence_jurisdiction": "530302001001"}, format="json")
        assert response.status_code == 200
        assert response.json()["jurisdiction"] == "530302001001"
        outside = api_for(personas["worker"]).patch(detail_url(person), {"residence_jurisdiction": "530381001"},
                                                    format="json")
        assert outside.status_code == 400
        person.refresh_from_db()
        assert person.jurisdiction_id == "530302001001"

    def test_an_invalid_id_number_is_named(self, personas, person):
        response = api_for(personas["worker"]).patch(
            detail_url(person), {"id_number": wrong_check_character(person.id_number)}, format="json")
        assert response.status_code == 400
        assert "check character" in response.json()["id_number"][0]

    def test_a_neighbouring_worker_gets_404(self, personas, person):
        response = api_for(personas["neighbour"]).patch(detail_url(person), {"phone": "13900001111"}, format="json")
        assert response.status_code == 404
        person.refresh_from_db()
        assert person.phone == "13812345678"

    @pytest.mark.parametrize("role", ["leader", "job_officer"])
    def test_roles_without_edit_get_403(self, personas, person, role):
        response = api_for(personas[role]).patch(detail_url(person), {"name": "王建军"}, format="json")
        assert response.status_code == 403
        person.refresh_from_db()
        assert person.name == "王建国"

    def test_anonymous_gets_401(self, personas, person):
        assert api_for(None).patch(detail_url(person), {"name": "王建军"}, format="json").status_code == 401


class TestPersonTimeline:
    def test_it_lists_events_newest_first_and_audits_the_view(self, personas, person):
        now = timezone.now()
        services.timeline_add(person=person, kind="note", summary="oldest", at=now - timedelta(days=2))
        services.timeline_add(person=person, kind="note", summary="newest", at=now)
        services.timeline_add(person=person, kind="note", summary="middle", actor=personas["worker"],
                              at=now - timedelta(days=1))
        response = api_for(personas["worker"]).get(f"{detail_url(person)}timeline/")
        assert response.status_code == 200
        results = response.json()["results"]
        assert [e["summary"] for e in results] == ["newest", "middle", "oldest"]
        assert results[1]["actor"] == "worker"
        assert results[0]["actor"] is None
        entry = AuditEntry.objects.get(action="person.viewed", person_id=person.pk)
        assert entry.detail == {"section": "timeline"}

    def test_a_neighbouring_worker_gets_404(self, personas, person):
        TimelineEvent.objects.create(person=person, kind="note", summary="x", occurred_at=timezone.now())
        assert api_for(personas["neighbour"]).get(f"{detail_url(person)}timeline/").status_code == 404

    def test_anonymous_gets_401(self, personas, person):
        assert api_for(None).get(f"{detail_url(person)}timeline/").status_code == 401
