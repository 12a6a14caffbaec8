"""The person pages: who may open what, what each role's page contains, audit of reads, and the forms."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from liangyi.core import idnumber
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.people.models import FamilyMember, Person, Plan

TABS = ["overview", "measures", "family", "plan", "timeline"]
FULL_PHONE = "13812345678"
FULL_ADDRESS = "南宁街道幸福路1号"


def detail(person, tab=""):
    return reverse("people:detail", args=[person.pk]) + (f"?tab={tab}" if tab else "")


def views_count(person) -> int:
    return AuditEntry.objects.filter(action="person.viewed", person_id=person.pk).count()


def html(response) -> str:
    return response.content.decode()


def create_data(**overrides):
    data = {
        "name": "李秀英",
        "id_number": idnumber.build("530302", date(1985, 11, 20), 102),
        "status": "community_drug_rehab",
        "household_jurisdiction": "530302001",
        "residence_jurisdiction": "",
        "phone": "13800001234",
    }
    data.update(overrides)
    return data


def edit_data(person, **overrides):
    data = {
        "version": str(person.version), "name": person.name, "status": person.status,
        "household_jurisdiction": person.household_jurisdiction_id, "residence_jurisdiction": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def education(places):
    return factories.user("teacher", "education", places["township"], full_name="孙老师")


PERSON_VIEWS = [
    ("get", "people:detail", ()), ("get", "people:edit", ()), ("post", "people:reveal", ("id_number",)),
    ("get", "people:family_add", ()), ("get", "people:plan_add", ()),
]


@pytest.mark.parametrize(("method", "name", "extra"), PERSON_VIEWS)
def test_roles_without_view_persons_get_404_on_every_person_page(client_as, personas, person, education,
                                                                 method, name, extra):
    url = reverse(name, args=[person.pk, *extra])
    for who in (personas["auditor"], education):
        response = getattr(client_as(who), method)(url)
        assert response.status_code == 404
        assert person.name not in html(response)
    assert not AuditEntry.objects.filter(action__in=["person.viewed", "person.reveal"]).exists()


@pytest.mark.parametrize(("method", "name", "extra"), PERSON_VIEWS)
def test_anonymous_is_sent_to_the_login_page_from_every_person_page(client_as, person, method, name, extra):
    response = getattr(client_as(None), method)(reverse(name, args=[person.pk, *extra]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("core:login"))


class TestPersonList:
    def test_anonymous_is_sent_to_the_login_page(self, client_as, personas):
        response = client_as(None).get(reverse("people:list"))
        assert response.status_code == 302
        assert response.url.startswith(reverse("core:login"))

    def test_auditor_and_education_officer_are_refused(self, client_as, personas, education):
        assert client_as(personas["auditor"]).get(reverse("people:list")).status_code == 403
        assert client_as(education).get(reverse("people:list")).status_code == 403

    def test_worker_finds_the_person_by_name_with_the_masked_id(self, client_as, personas, person):
        response = client_as(personas["worker"]).get(reverse("people:list"), {"q": "王建"})
        assert response.status_code == 200
        assert "王建国" in html(response)
        assert person.id_number_masked in html(response)
        assert person.id_number not in html(response)

    def test_neighbouring_worker_does_not_find_the_person(self, client_as, personas, person):
        response = client_as(personas["neighbour"]).get(reverse("people:list"), {"q": "王建国"})
        assert response.status_code == 200
        assert person.id_number_masked not in html(response)
        assert reverse("people:detail", args=[person.pk]) not in html(response)

    def test_htmx_search_returns_only_the_rows(self, client_as, personas, person):
        response = client_as(personas["worker"]).get(reverse("people:list"), {"q": "王建"},
                                                     headers={"HX-Request": "true"})
        assert "王建国" in html(response)
        assert "<html" not in html(response)

    def test_queries_do_not_grow_with_the_number_of_persons(self, client_as, personas, places,
                                                             django_assert_max_num_queries):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client = client_as(personas["worker"])
        factories.person(places["township"], name="甲")
        factories.person(places["village"], name="乙")
        with CaptureQueriesContext(connection) as few:
            assert client.get(reverse("people:list")).status_code == 200
        for i in range(30):
            factories.person(places["village" if i % 2 else "township"], name=f"丙{i:02d}")
        with django_assert_max_num_queries(len(few.captured_queries)):
            response = client.get(reverse("people:list"))
        assert "丙29" in html(response)


class TestPersonDetail:
    def test_anonymous_is_sent_to_the_login_page(self, client_as, person):
        response = client_as(None).get(detail(person))
        assert response.status_code == 302
        assert response.url.startswith(reverse("core:login"))

    def test_outsider_gets_404_and_the_attempt_is_audited(self, client_as, personas, person):
        response = client_as(personas["neighbour"]).get(detail(person))
        assert response.status_code == 404
        assert AuditEntry.objects.filter(action="access.denied", actor=personas["neighbour"]).exists()
        assert views_count(person) == 0

    def test_roles_without_view_persons_get_404(self, client_as, personas, person, education):
        assert client_as(personas["auditor"]).get(detail(person)).status_code == 404
        assert client_as(education).get(detail(person)).status_code == 404

    def test_worker_sees_whose_file_it_is(self, client_as, personas, person):
        person.responsible_worker = personas["worker"]
        person.save(update_fields=["responsible_worker"])
        response = client_as(personas["worker"]).get(detail(person))
        assert response.status_code == 200
        page = html(response)
        header = page[page.index('data-testid="person-header"'):page.index('id="file-body"')]
        for text in ("王建国", person.id_number_masked, "南宁街道", "张专干"):
            assert text in header

    def test_possible_duplicate_is_flagged_in_the_header(self, client_as, personas, places, person):
        twin = factories.person(places["township"], name="王建国", possible_duplicate_of=person)
        page = html(client_as(personas["worker"]).get(detail(twin)))
        assert 'data-testid="duplicate"' in page
        assert reverse("people:detail", args=[person.pk]) in page

    def test_a_village_person_shows_township_and_village(self, client_as, personas, places):
        villager = factories.person(places["village"], name="赵村民")
        page = html(client_as(personas["worker"]).get(detail(villager)))
        assert "南宁街道 · 南关社区" in page

    @pytest.mark.parametrize("tab", TABS)
    def test_each_tab_is_audited(self, client_as, personas, person, tab):
        client = client_as(personas["worker"])
        before = views_count(person)
        response = client.get(detail(person, tab))
        assert response.status_code == 200
        assert f'data-testid="section-{tab}"' in html(response)
        assert views_count(person) == before + 1
        entry = AuditEntry.objects.filter(action="person.viewed", person_id=person.pk).order_by("-id").first()
        assert entry.detail == {"section": tab}
        assert entry.actor == personas["worker"]

    @pytest.mark.parametrize("tab", TABS)
    def test_htmx_tab_load_is_a_fragment_and_is_audited(self, client_as, personas, person, tab):
        before = views_count(person)
        response = client_as(personas["worker"]).get(detail(person, tab), headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert "<html" not in html(response)
        assert 'id="file-body"' in html(response)
        assert views_count(person) == before + 1

    def test_htmx_history_restore_gets_the_whole_page(self, client_as, personas, person):
        response = client_as(personas["worker"]).get(
            detail(person), headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
        assert "<html" in html(response)

    def test_unknown_tab_is_404(self, client_as, personas, person):
        assert client_as(personas["worker"]).get(detail(person, "nonsense")).status_code == 404

    def test_job_officer_sees_no_medical_police_or_drug_data(self, client_as, personas, person):
        client = client_as(personas["job_officer"])
        pages = [html(client.get(detail(person, tab))) for tab in ("overview", "family", "plan", "timeline")]
        for page in pages:
            for secret in ("HIV阳性", "乙肝携带", "曾有贩毒前科", "海洛因"):
                assert secret not in page
        assert 'data-testid="tab-measures"' not in pages[0]

    def test_job_officer_cannot_open_the_measures_tab(self, client_as, personas, person):
        assert client_as(personas["job_officer"]).get(detail(person, "measures")).status_code == 404

    def test_health_worker_sees_the_infectious_disease_status_but_not_police_notes(self, client_as, personas,
                                                                                   person):
        page = html(client_as(personas["health"]).get(detail(person)))
        assert "HIV阳性" in page
        assert "乙肝携带" in page
        assert "曾有贩毒前科" not in page

    def test_worker_sees_health_notes_but_not_hiv_status_or_police_notes(self, client_as, personas, person):
        page = html(client_as(personas["worker"]).get(detail(person)))
        assert "乙肝携带" in page
        assert "海洛因" in page
        assert "HIV阳性" not in page
        assert "曾有贩毒前科" not in page

    def test_police_officer_sees_police_notes(self, client_as, personas, person):
        page = html(client_as(personas["police"]).get(detail(person)))
        assert "曾有贩毒前科" in page
        assert "HIV阳性" not in page

    @pytest.mark.parametrize("tab", TABS)
    def test_full_values_of_masked_fields_never_appear(self, client_as, personas, person, tab):
        page = html(client_as(personas["worker"]).get(detail(person, tab)))
        assert person.id_number not in page
        assert FULL_PHONE not in page
        assert FULL_ADDRESS not in page

    def test_masked_values_are_shown_with_a_show_button_for_a_worker(self, client_as, personas, person):
        page = html(client_as(personas["worker"]).get(detail(person)))
        assert person.id_number_masked in page
        assert "138****5678" in page
        for field in ("id_number", "phone", "household_address", "residence_address"):
            assert reverse("people:reveal", args=[person.pk, field]) in page

    def test_job_officer_gets_no_show_button(self, client_as, personas, person):
        page = html(client_as(personas["job_officer"]).get(detail(person)))
        assert person.id_number_masked in page
        assert "/reveal/" not in page


class TestPersonReveal:
    def url(self, person, field="id_number"):
        return reverse("people:reveal", args=[person.pk, field])

    def test_anonymous_is_sent_to_the_login_page(self, client_as, person):
        response = client_as(None).post(self.url(person))
        assert response.status_code == 302
        assert person.id_number not in html(response)

    def test_outsider_gets_404(self, client_as, personas, person):
        response = client_as(personas["neighbour"]).post(self.url(person))
        assert response.status_code == 404
        assert person.id_number not in html(response)

    def test_get_is_not_allowed(self, client_as, personas, person):
        assert client_as(personas["worker"]).get(self.url(person)).status_code == 405

    def test_worker_gets_the_full_number_and_it_is_audited(self, client_as, personas, person):
        response = client_as(personas["worker"]).post(self.url(person), headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert person.id_number in html(response)
        assert 'id="reveal-id_number"' in html(response)
        entry = AuditEntry.objects.get(action="person.reveal", person_id=person.pk)
        assert entry.outcome == "ok"
        assert entry.actor == personas["worker"]
        assert entry.detail["field"] == "id_number"

    def test_worker_reveals_the_phone(self, client_as, personas, person):
        response = client_as(personas["worker"]).post(self.url(person, "phone"))
        assert FULL_PHONE in html(response)

    def test_job_officer_is_refused_and_the_refusal_is_audited(self, client_as, personas, person):
        response = client_as(personas["job_officer"]).post(self.url(person))
        assert response.status_code == 403
        assert person.id_number not in html(response)
        entry = AuditEntry.objects.get(action="person.reveal", person_id=person.pk)
        assert entry.outcome == "denied"
        assert entry.actor == personas["job_officer"]

    def test_a_field_that_is_not_masked_cannot_be_revealed(self, client_as, personas, person):
        response = client_as(personas["police"]).post(self.url(person, "infectious_disease"))
        assert response.status_code == 403
        assert "HIV阳性" not in html(response)


class TestPersonCreate:
    @property
    def url(self):
        return reverse("people:create")

    def test_anonymous_is_sent_to_the_login_page(self, client_as, personas):
        assert client_as(None).get(self.url).status_code == 302

    def test_roles_that_may_not_create_are_refused(self, client_as, personas, education):
        for who in (personas["job_officer"], personas["health"], personas["leader"], personas["auditor"], education):
            assert client_as(who).get(self.url).status_code == 403
            assert client_as(who).post(self.url, create_data()).status_code == 403
        assert not Person.objects.exists()

    def test_the_form_offers_only_the_fields_and_places_the_worker_may_use(self, client_as, personas):
        page = html(client_as(personas["worker"]).get(self.url))
        assert 'name="health_notes"' in page
        assert 'name="infectious_disease"' not in page
        assert 'name="police_notes"' not in page
        assert 'value="530302001"' in page
        assert 'value="530302001001"' in page
        assert 'value="530302002"' not in page  # the neighbouring township
        assert '<option value="worker" selected>' in page  # the registering worker, until changed

    def test_police_form_has_police_notes_but_no_health_fields(self, client_as, personas):
        page = html(client_as(personas["police"]).get(self.url))
        assert 'name="police_notes"' in page
        assert 'name="health_notes"' not in page

    def test_worker_registers_a_person(self, client_as, personas):
        response = client_as(personas["worker"]).post(self.url, create_data(responsible_worker="worker"))
        person = Person.objects.get(name="李秀英")
        assert response.status_code == 302
        assert response.url == reverse("people:detail", args=[person.pk])
        assert person.status == "community_drug_rehab"
        assert person.responsible_worker == personas["worker"]
        assert AuditEntry.objects.filter(action="person.created", person_id=person.pk).exists()

    def test_a_wrong_check_character_is_named_and_the_input_kept(self, client_as, personas):
        good = create_data()["id_number"]
        wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
        response = client_as(personas["worker"]).post(self.url, create_data(id_number=wrong))
        assert response.status_code == 200
        page = html(response)
        assert "check character" in page
        assert 'value="李秀英"' in page
        assert f'value="{wrong}"' in page
        assert not Person.objects.exists()

    def test_all_missing_fields_are_named_at_once(self, client_as, personas):
        response = client_as(personas["worker"]).post(self.url, {"name": "", "id_number": "", "status": "",
                                                                 "household_jurisdiction": ""})
        page = html(response)
        for message in ("The name is required.", "The ID number is required.", "The status is required."):
            assert message in page

    def test_a_place_out_of_reach_is_refused(self, client_as, personas):
        response = client_as(personas["worker"]).post(self.url, create_data(household_jurisdiction="530302002"))
        assert response.status_code == 200
        assert 'value="李秀英"' in html(response)
        assert not Person.objects.exists()

    def test_a_registered_id_number_is_refused(self, client_as, personas, person):
        response = client_as(personas["worker"]).post(self.url, create_data(id_number=person.id_number))
        assert "already registered" in html(response)
        assert Person.objects.count() == 1


class TestPersonEdit:
    def url(self, person):
        return reverse("people:edit", args=[person.pk])

    def test_anonymous_is_sent_to_the_login_page(self, client_as, person):
        assert client_as(None).get(self.url(person)).status_code == 302

    def test_outsider_gets_404(self, client_as, personas, person):
        assert client_as(personas["neighbour"]).get(self.url(person)).status_code == 404
        assert client_as(personas["neighbour"]).post(self.url(person), edit_data(person)).status_code == 404

    def test_roles_that_may_not_edit_are_refused(self, client_as, personas, person):
        for who in (personas["job_officer"], personas["leader"]):
            assert client_as(who).get(self.url(person)).status_code == 403
            assert client_as(who).post(self.url(person), edit_data(person, name="改名")).status_code == 403
        person.refresh_from_db()
        assert person.name == "王建国"

    def test_auditor_gets_404(self, client_as, personas, person):
        assert client_as(personas["auditor"]).get(self.url(person)).status_code == 404

    def test_the_form_is_prefilled_but_masked_fields_stay_masked(self, client_as, personas, person):
        before = views_count(person)
        page = html(client_as(personas["worker"]).get(self.url(person)))
        assert 'value="王建国"' in page
        assert "乙肝携带" in page
        assert person.id_number not in page
        assert FULL_PHONE not in page
        assert FULL_ADDRESS not in page
        assert person.id_number_masked in page
        assert 'name="police_notes"' not in page
        assert views_count(person) == before + 1

    def test_worker_changes_the_record(self, client_as, personas, person):
        response = client_as(personas["worker"]).post(self.url(person), edit_data(
            person, name="王建民", status="community_drug_rehab", health_notes="已康复", phone=""))
        assert response.status_code == 302
        person.refresh_from_db()
        assert person.name == "王建民"
        assert person.health_notes == "已康复"
        assert person.phone == FULL_PHONE  # left empty: kept
        assert person.version == 2
        assert person.infectious_disease == "HIV阳性"  # not a field of the worker's form: untouched

    def test_a_stale_version_shows_the_conflict_and_keeps_the_input(self, client_as, personas, person):
        stale = edit_data(person, name="王建民")
        Person.objects.filter(pk=person.pk).update(version=person.version + 1, name="王建设")
        response = client_as(personas["worker"]).post(self.url(person), stale)
        assert response.status_code == 200
        page = html(response)
        assert "Someone else changed this record" in page
        assert 'value="王建民"' in page
        assert f'name="version" value="{person.version + 1}"' in page  # saving again now works
        person.refresh_from_db()
        assert person.name == "王建设"

    def test_saving_again_after_a_conflict_succeeds(self, client_as, personas, person):
        Person.objects.filter(pk=person.pk).update(version=person.version + 1)
        client = client_as(personas["worker"])
        client.post(self.url(person), edit_data(person, name="王建民"))
        response = client.post(self.url(person), edit_data(person, name="王建民", version=str(person.version + 1)))
        assert response.status_code == 302
        person.refresh_from_db()
        assert person.name == "王建民"

    def test_health_worker_edits_the_infectious_disease_status(self, client_as, personas, person):
        client = client_as(personas["health"])
        page = html(client.get(self.url(person)))
        assert 'name="police_notes"' not in page
        response = client.post(self.url(person), edit_data(person, infectious_disease="HIV阳性，规律服药"))
        assert response.status_code == 302
        person.refresh_from_db()
        assert person.infectious_disease == "HIV阳性，规律服药"
        assert person.police_notes == "曾有贩毒前科"


class TestFamilyAdd:
    def url(self, person):
        return reverse("people:family_add", args=[person.pk])

    def test_anonymous_is_sent_to_the_login_page(self, client_as, person):
        assert client_as(None).get(self.url(person)).status_code == 302

    def test_outsider_gets_404(self, client_as, personas, person):
        assert client_as(personas["neighbour"]).post(self.url(person), {"relation": "母亲", "name": "某"}
                                                     ).status_code == 404

    def test_job_officer_is_refused(self, client_as, personas, person):
        assert client_as(personas["job_officer"]).get(self.url(person)).status_code == 403
        assert not FamilyMember.objects.exists()

    def test_worker_adds_an_emergency_contact(self, client_as, personas, person):
        response = client_as(personas["worker"]).post(self.url(person), {
            "relation": "母亲", "name": "李桂兰", "phone": "139 0000 1111", "is_emergency_contact": "on"})
        assert response.status_code == 302
        assert response.url.endswith("?tab=family")
        member = FamilyMember.objects.get(person=person)
        assert (member.name, member.phone, member.is_emergency_contact) == ("李桂兰", "13900001111", True)
        page = html(client_as(personas["worker"]).get(detail(person, "family")))
        assert "李桂兰" in page
        assert "139****1111" in page
        assert "13900001111" not in page

    def test_a_missing_name_is_shown_and_the_input_kept(self, client_as, personas, person):
        response = client_as(personas["worker"]).post(self.url(person), {"relation": "母亲", "name": ""})
        assert response.status_code == 200
        assert 'value="母亲"' in html(response)
        assert not FamilyMember.objects.exists()


class TestPlanAdd:
    def url(self, person):
        return reverse("people:plan_add", args=[person.pk])

    def test_anonymous_is_sent_to_the_login_page(self, client_as, person):
        assert client_as(None).get(self.url(person)).status_code == 302

    def test_outsider_gets_404(self, client_as, personas, person):
        assert client_as(personas["neighbour"]).post(self.url(person), {"summary": "x"}).status_code == 404

    def test_roles_that_may_not_edit_are_refused(self, client_as, personas, person):
        assert client_as(personas["job_officer"]).post(self.url(person), {"summary": "x"}).status_code == 403
        assert client_as(personas["leader"]).get(self.url(person)).status_code == 403
        assert not Plan.objects.exists()

    def test_worker_sets_a_plan_and_the_previous_one_is_kept(self, client_as, personas, person):
        client = client_as(personas["worker"])
        client.post(self.url(person), {"summary": "第一版：每月尿检", "review_on": ""})
        response = client.post(self.url(person), {"summary": "第二版：推荐就业", "review_on": "2026-11-28"})
        assert response.status_code == 302
        assert response.url.endswith("?tab=plan")
        page = html(client.get(detail(person, "plan")))
        assert "第二版：推荐就业" in page
        assert "2026-11-28" in page
        assert "第一版：每月尿检" in page  # among the earlier plans
        assert page.index("第二版") < page.index("第一版")

    def test_an_empty_plan_is_refused_with_a_message(self, client_as, personas, person):
        response = client_as(personas["worker"]).post(self.url(person), {"summary": "  ", "review_on": "2026-11-28"})
        assert response.status_code == 200
        assert 'value="2026-11-28"' in html(response)
        assert not Plan.objects.exists()


class TestBirthDateMasking:
    """Digits 7-14 of the ID number are the birth date: the file must not show both in full."""

    def test_the_file_shows_the_birth_year_only_until_revealed(self, personas, person, client_as):
        html = client_as(personas["worker"]).get(reverse("people:detail", args=[person.pk])).content.decode()
        assert person.birth_date.isoformat() not in html
        assert f"{person.birth_date:%Y}-**-**" in html

    def test_the_edit_form_does_not_prefill_it(self, personas, person, client_as):
        html = client_as(personas["worker"]).get(reverse("people:edit", args=[person.pk])).content.decode()
        assert person.birth_date.isoformat() not in html

    def test_revealing_it_is_audited(self, personas, person, client_as):
        response = client_as(personas["worker"]).post(reverse("people:reveal", args=[person.pk, "birth_date"]))
        assert person.birth_date.isoformat() in response.content.decode()
        assert AuditEntry.objects.filter(action="person.reveal", person_id=person.pk,
                                         detail__field="birth_date").exists()
