"""The supervision chain's REST endpoints (INTERFACES.md): 201, 400 per field, 403, 404."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from rest_framework.test import APIClient

from liangyi.core.models import AuditEntry
from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import Status, TimelineEvent
from liangyi.supervision.models import CommunityOrder, Escalation, EscalationState, OrderState

TODAY = date.today()


def api_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def url(person, what: str) -> str:
    return f"/api/v1/persons/{person.pk}/{what}/"


def decide_and_report(client, person, *, reported_days_ago: int = 60) -> None:
    reported = TODAY - timedelta(days=reported_days_ago)
    received = reported - timedelta(days=3)
    assert client.post(url(person, "decisions"), {"kind": "community_drug_rehab", "received_on": received},
                       format="json").status_code == 201
    assert client.post(url(person, "reports"), {"reported_on": reported}, format="json").status_code == 201


@pytest.mark.django_db
class TestDecisionsAndReports:
    def test_a_decision_opens_the_report_obligation(self, person, personas):
        response = api_for(personas["worker"]).post(url(person, "decisions"), {
            "kind": "community_drug_rehab", "received_on": "2024-09-16"}, format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["report_deadline"] == "2024-10-08"
        assert Obligation.objects.filter(person=person, kind=Kind.REPORT, due_on=date(2024, 10, 8)).exists()

    def test_bad_input_answers_400_per_field(self, person, personas):
        response = api_for(personas["worker"]).post(url(person, "decisions"), {
            "kind": "nonsense", "received_on": "not a date"}, format="json")
        assert response.status_code == 400
        assert set(response.json()) == {"kind", "received_on"}

    def test_a_future_date_answers_400_on_its_field(self, person, personas):
        response = api_for(personas["worker"]).post(url(person, "decisions"), {
            "kind": "community_rehab", "received_on": str(TODAY + timedelta(days=3))}, format="json")
        assert response.status_code == 400 and "received_on" in response.json()

    def test_the_report_starts_the_term(self, person, personas):
        client = api_for(personas["worker"])
        decide_and_report(client, person)
        order = CommunityOrder.objects.get(person=person)
        assert order.state == OrderState.ACTIVE
        body = client.get(url(person, "supervision")).json()
        assert body["orders"][0]["term_ends_on"] == f"{order.term_ends_on:%Y-%m-%d}"
        assert body["abstinence_clock"]["basis"] == "report"

    def test_a_report_without_a_decision_is_400(self, person, personas):
        response = api_for(personas["worker"]).post(url(person, "reports"), {"reported_on": str(TODAY)},
                                                    format="json")
        assert response.status_code == 400 and "non_field_errors" in response.json()

    def test_the_neighbouring_worker_gets_404_and_anonymous_401(self, person, personas):
        body = {"kind": "community_drug_rehab", "received_on": str(TODAY)}
        assert api_for(personas["neighbour"]).post(url(person, "decisions"), body, format="json").status_code == 404
        assert api_for(None).post(url(person, "decisions"), body, format="json").status_code in (401, 403)

    def test_a_role_without_supervise_gets_403_audited(self, person, personas):
        response = api_for(personas["health"]).post(url(person, "decisions"), {
            "kind": "community_drug_rehab", "received_on": str(TODAY)}, format="json")
        assert response.status_code == 403
        assert AuditEntry.objects.filter(action="access.denied", actor=personas["health"]).exists()


@pytest.mark.django_db
class TestTestsAndEscalations:
    def test_a_positive_test_opens_a_relapse_case_the_police_decide(self, person, personas):
        worker = api_for(personas["worker"])
        decide_and_report(worker, person)
        response = worker.post(url(person, "tests"), {
            "tested_on": str(TODAY - timedelta(days=5)), "sample": "urine", "method": "onsite", "result": "positive",
            "substances": ["甲基苯丙胺"], "second_collector": "colleague"}, format="json")
        assert response.status_code == 201, response.json()
        assert response.json()["second_collector"] == "colleague"
        cases = worker.get(url(person, "escalations")).json()["results"]
        assert [c["reason"] for c in cases] == ["relapse"]
        # the worker may not decide; the police may
        decision = f"/api/v1/escalations/{cases[0]['id']}/decision/"
        assert worker.post(decision, {"decision": "compulsory_isolation"}, format="json").status_code == 403
        police = api_for(personas["police"])
        assert [c["id"] for c in police.get("/api/v1/escalations/").json()["results"]] == [cases[0]["id"]]
        response = police.post(decision, {"decision": "compulsory_isolation", "notes": "决定强制隔离戒毒"},
                               format="json")
        assert response.status_code == 200, response.json()
        assert Escalation.objects.get().state == EscalationState.DECIDED
        assert TimelineEvent.objects.filter(person=person, kind="escalation.decided").exists()

    def test_a_test_with_an_unknown_collector_is_400_on_that_field(self, person, personas):
        worker = api_for(personas["worker"])
        decide_and_report(worker, person)
        response = worker.post(url(person, "tests"), {"tested_on": str(TODAY), "sample": "urine", "result": "negative",
                                                      "second_collector": "neighbour"}, format="json")
        assert response.status_code == 400 and "second_collector" in response.json()

    def test_the_tests_list_is_404_for_an_outsider(self, person, personas):
        assert api_for(personas["neighbour"]).get(url(person, "tests")).status_code == 404


@pytest.mark.django_db
class TestTheRestOfTheTerm:
    def test_suspend_resume_leave_absence_contact_and_terminate(self, person, personas, places):
        worker = api_for(personas["worker"])
        decide_and_report(worker, person, reported_days_ago=200)
        r = worker.post(url(person, "suspensions"), {"start": str(TODAY - timedelta(days=100)),
                                                     "reason": "detention"}, format="json")
        assert r.status_code == 201, r.json()
        person.refresh_from_db()
        assert person.status == Status.SUSPENDED
        r = worker.post(url(person, "resumption"), {"on": str(TODAY - timedelta(days=80))}, format="json")
        assert r.status_code == 200, r.json()
        r = worker.post(url(person, "leave"), {"from_on": str(TODAY - timedelta(days=40)),
                                               "to_on": str(TODAY - timedelta(days=30)), "destination": "昆明"},
                        format="json")
        assert r.status_code == 201
        assert worker.post(f"/api/v1/leave/{r.json()['id']}/approval/",
                           {"approved_on": str(TODAY - timedelta(days=41))}, format="json").status_code == 200
        r = worker.post(url(person, "absences"), {"left_on": str(TODAY - timedelta(days=40))}, format="json")
        assert r.status_code == 201
        r = worker.post(f"/api/v1/absences/{r.json()['id']}/return/", {"returned_on": str(TODAY - timedelta(days=32))},
                        format="json")
        assert r.status_code == 200 and r.json()["authorised"] is True
        r = worker.post(url(person, "contacts"), {"kind": "home_visit", "on": str(TODAY - timedelta(days=2)),
                                                  "notes": "家中整洁"}, format="json")
        assert r.status_code == 201
        assert Obligation.objects.filter(person=person, kind=Kind.HOME_VISIT).exclude(done_on=None).exists()
        r = worker.post(url(person, "termination"), {"on": str(TODAY), "reason": "prison_sentence"}, format="json")
        assert r.status_code == 200 and r.json()["state"] == "terminated"
        person.refresh_from_db()
        assert person.status == Status.IMPRISONED

    def test_a_random_draw_is_recorded_before_it_answers(self, person, personas):
        worker = api_for(personas["worker"])
        decide_and_report(worker, person)
        r = worker.post("/api/v1/draws/", {"office": "530302001", "count": 1}, format="json")
        assert r.status_code == 201, r.json()
        assert r.json()["drawn"] == [str(person.pk)]
        assert AuditEntry.objects.get(action="random_draw.made").detail["seed"] == r.json()["seed"]
        assert worker.post("/api/v1/draws/", {"office": "530381001"}, format="json").status_code == 400
        assert api_for(personas["health"]).post("/api/v1/draws/", {"office": "530302001"},
                                                format="json").status_code == 403
