"""The worklist page (the home page of staff) and the worklist / obligations API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.obligations import engine
from liangyi.people.models import Measure, MeasureKind, Status


@pytest.fixture
def supervised(places, personas):
    """A person 100 days into community drug rehab: three tests overdue, one due now."""
    person = factories.person(places["village"], name="李四", status=Status.COMMUNITY_DRUG_REHAB,
                              responsible_worker=personas["worker"])
    Measure.objects.create(person=person, kind=MeasureKind.COMMUNITY_DRUG_REHAB,
                           start_on=timezone.localdate() - timedelta(days=100))
    engine.sync(person)
    return person


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


class TestWorklistPage:
    def test_it_is_the_home_page_of_a_worker(self, personas, client_as):
        response = client_as(personas["worker"]).get("/")
        assert response.status_code == 302
        assert response.url == reverse("obligations:worklist")

    def test_an_auditor_starts_at_the_audit_log(self, personas, client_as):
        assert client_as(personas["auditor"]).get("/").url == reverse("core:audit")

    def test_the_worker_sees_overdue_tests_first_with_their_word(self, personas, supervised, client_as):
        html = client_as(personas["worker"]).get(reverse("obligations:worklist")).content.decode()
        assert "李四" in html
        assert html.count('class="badge state-overdue">Overdue') == 3
        assert html.index("badge state-overdue") < html.index("badge state-due")
        assert supervised.id_number_masked in html
        assert supervised.id_number not in html

    def test_the_neighbouring_worker_sees_nothing_of_it(self, personas, supervised, client_as):
        html = client_as(personas["neighbour"]).get(reverse("obligations:worklist")).content.decode()
        assert "李四" not in html
        assert "Nothing is overdue" in html

    def test_the_county_leader_sees_overdue_counts_by_township(self, personas, supervised, client_as, places):
        response = client_as(personas["leader"]).get(reverse("obligations:worklist"))
        rows = list(response.context["overdue_by_office"])
        assert rows == [{"office__code": places["township"].code, "office__name": places["township"].name, "n": 3}]

    def test_roles_without_persons_get_403_and_anonymous_goes_to_login(self, personas, client_as):
        assert client_as(personas["auditor"]).get(reverse("obligations:worklist")).status_code == 403
        assert client_as(None).get(reverse("obligations:worklist")).status_code == 302

    def test_the_query_count_does_not_grow_with_the_list(self, personas, places, client_as,
                                                          django_assert_max_num_queries):
        for i in range(5):
            p = factories.person(places["township"], name=f"人员{i}", status=Status.COMMUNITY_DRUG_REHAB)
            Measure.objects.create(person=p, kind=MeasureKind.COMMUNITY_DRUG_REHAB,
                                   start_on=timezone.localdate() - timedelta(days=100))
            engine.sync(p)
        client = client_as(personas["worker"])
        with django_assert_max_num_queries(10):
            assert client.get(reverse("obligations:worklist")).status_code == 200


class TestWorklistApi:
    def test_it_lists_the_callers_open_obligations_most_urgent_first(self, personas, supervised):
        body = api_for(personas["worker"]).get("/api/v1/worklist/").json()
        states = [o["state"] for o in body["results"]]
        assert states[:3] == ["overdue", "overdue", "overdue"]
        assert "due" in states
        dues = [o["due_on"] for o in body["results"]]
        assert dues == sorted(dues)
        assert {o["kind"] for o in body["results"]} == {"drug_test"}

    def test_an_outsider_gets_an_empty_worklist(self, personas, supervised):
        assert api_for(personas["neighbour"]).get("/api/v1/worklist/").json()["count"] == 0

    def test_a_persons_obligations_are_listed_and_the_read_audited(self, personas, supervised):
        response = api_for(personas["worker"]).get(f"/api/v1/persons/{supervised.pk}/obligations/")
        assert response.status_code == 200
        assert response.json()["count"] >= 4
        assert AuditEntry.objects.filter(action="person.viewed", person_id=supervised.pk,
                                         detail__section="obligations").exists()

    def test_a_person_out_of_reach_is_404(self, personas, supervised):
        assert api_for(personas["neighbour"]).get(
            f"/api/v1/persons/{supervised.pk}/obligations/").status_code == 404
