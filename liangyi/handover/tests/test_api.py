"""The handover endpoints: the whole path over the API, 400 per field, 403, 404, 401."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from liangyi.handover.models import Handover
from liangyi.handover.tests.conftest import PASSING

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


STAY = {
    "decision_number": "曲公强戒决字〔2022〕9号",
    "decided_on": "2022-02-21",
    "authority": "曲靖市公安局",
    "facility": "曲靖市强制隔离戒毒所",
    "admitted_on": "2022-02-22",
}


def record_stay(facility, inmate) -> dict:
    response = api_for(facility).post(f"/api/v1/persons/{inmate.pk}/stays/", STAY, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


class TestTheWholePath:
    def test_release_to_signed_agreement(self, facility, inmate, personas):
        fac, worker = api_for(facility), api_for(personas["worker"])
        stay = record_stay(facility, inmate)
        assert stay["planned_release_on"] == "2024-02-20"
        assessment = fac.post(
            f"/api/v1/stays/{stay['id']}/assessments/",
            {
                "point": "pre_release",
                "assessed_on": "2024-02-01",
                "scores": PASSING,
                "doctor": "刘医生",
                "psychologist": "陈咨询师",
                "social_worker": "王社工",
                "outcome": "on_time",
                "recommend_community_rehab": True,
                "physical_state": "良好",
                "psychological_state": "稳定",
                "social_adaptability": "较好",
            },
            format="json",
        )
        assert assessment.status_code == 201 and assessment.json()["results"]["physical_detox"]["result"] == "pass"
        packet = fac.post(
            f"/api/v1/handovers/{stay['handover']}/packet/",
            {"health_summary": "乙肝携带", "risk_notes": "家庭关系紧张", "recommended_plan": "社区康复三年"},
            format="json",
        )
        assert packet.status_code == 200
        inbox = worker.get("/api/v1/handovers/").json()
        item = inbox["results"][0] if isinstance(inbox, dict) else inbox[0]
        assert item["id"] == stay["handover"] and item["assessment"]["recommend_community_rehab"] is True
        assert item["health_summary"] == "乙肝携带"
        released = fac.post(
            f"/api/v1/stays/{stay['id']}/release/",
            {"released_on": "2024-02-20", "certificate": "解除001"},
            format="json",
        )
        assert released.status_code == 200 and released.json()["release_kind"] == "on_time"
        h = f"/api/v1/handovers/{stay['handover']}"
        assert worker.post(f"{h}/acknowledge/").status_code == 200
        pickup = worker.post(
            f"{h}/pickup/",
            {"collector_kind": "police_station", "collector_name": "南宁派出所 周警官", "collected_on": "2024-02-20"},
            format="json",
        )
        assert pickup.status_code == 200 and pickup.json()["state"] == "picked_up"
        decision = worker.post(
            f"{h}/decision/",
            {"kind": "community_rehab", "decided_on": "2024-02-20", "received_on": "2024-02-20", "term_months": 36},
            format="json",
        )
        assert decision.status_code == 201, decision.json()
        report = worker.post(f"{h}/report/", {"reported_on": "2024-03-01"}, format="json")
        assert report.status_code == 201
        agreement = report.json()
        assert "社区康复协议书" in agreement["text"]
        signed = worker.post(f"/api/v1/agreements/{agreement['id']}/sign/", {"signed_on": "2024-03-01"}, format="json")
        assert signed.status_code == 200 and signed.json()["signed_on"] == "2024-03-01"
        assert worker.get(f"{h}/").json()["state"] == "agreement_signed"


class TestRefusals:
    def test_bad_scores_answer_400_per_item(self, facility, inmate):
        stay = record_stay(facility, inmate)
        scores = {**PASSING, "physical_detox": {**PASSING["physical_detox"], "negative_test": 25}}
        response = api_for(facility).post(
            f"/api/v1/stays/{stay['id']}/assessments/",
            {
                "point": "one_year",
                "assessed_on": "2023-03-01",
                "scores": scores,
                "doctor": "a",
                "psychologist": "b",
                "social_worker": "c",
                "outcome": "continue",
            },
            format="json",
        )
        assert response.status_code == 400 and "physical_detox.negative_test" in response.json()

    def test_a_community_worker_may_not_record_a_stay(self, personas, inmate):
        response = api_for(personas["worker"]).post(f"/api/v1/persons/{inmate.pk}/stays/", STAY, format="json")
        assert response.status_code == 403

    def test_a_facility_officer_may_not_acknowledge(self, facility, inmate):
        stay = record_stay(facility, inmate)
        assert api_for(facility).post(f"/api/v1/handovers/{stay['handover']}/acknowledge/").status_code == 403

    def test_outsider_gets_404(self, facility, inmate, personas):
        stay = record_stay(facility, inmate)
        neighbour = api_for(personas["neighbour"])
        assert neighbour.get(f"/api/v1/handovers/{stay['handover']}/").status_code == 404
        assert neighbour.post(f"/api/v1/handovers/{stay['handover']}/acknowledge/").status_code == 404
        assert neighbour.get(f"/api/v1/persons/{inmate.pk}/stays/").status_code == 404

    def test_anonymous_is_refused(self, facility, inmate):
        stay = record_stay(facility, inmate)
        assert api_for(None).get(f"/api/v1/handovers/{stay['handover']}/").status_code in (401, 403)
        assert api_for(None).get("/api/v1/handovers/").status_code in (401, 403)

    def test_the_inbox_hides_the_health_summary_from_the_police(self, facility, inmate, personas):
        stay = record_stay(facility, inmate)
        Handover.objects.filter(pk=stay["handover"]).update(health_summary="乙肝携带")
        body = api_for(personas["police"]).get(f"/api/v1/handovers/{stay['handover']}/").json()
        assert body["health_summary"] is None

    def test_figures_need_the_action_and_a_valid_period(self, personas):
        assert api_for(personas["health"]).get("/api/v1/handovers/figures/").status_code == 403
        leader = api_for(personas["leader"])
        assert leader.get("/api/v1/handovers/figures/?start=2024-02-01&end=2024-01-01").status_code == 400
        rows = leader.get("/api/v1/handovers/figures/?start=2024-01-01&end=2024-12-31").json()
        assert rows[-1]["jurisdiction"] is None and rows[-1]["released"] == 0


def test_the_schema_lists_the_endpoints(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    for endpoint in (
        "persons/{id}/stays/",
        "stays/{id}/assessments/",
        "handovers/",
        "handovers/{id}/acknowledge/",
        "handovers/{id}/pickup/",
        "handovers/{id}/decision/",
        "handovers/{id}/report/",
        "agreements/{id}/sign/",
        "handovers/figures/",
    ):
        assert f"/api/v1/{endpoint}" in paths
