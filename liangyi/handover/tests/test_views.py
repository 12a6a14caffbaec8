"""The handover pages: the path through the forms, and the outsider / anonymous / role refusals."""

from __future__ import annotations

from datetime import date

import pytest

from liangyi.conftest import client_for
from liangyi.handover.models import Agreement, Handover, HandoverState
from liangyi.handover.tests.conftest import PASSING, new_stay

pytestmark = pytest.mark.django_db


def released_stay(inmate, facility):
    stay = new_stay(inmate, facility, decided=date(2022, 2, 21))
    response = client_for(facility).post(f"/handover/stays/{stay.pk}/release/",
                                         {"released_on": "2024-02-20", "certificate": "解除001"})
    assert response.status_code == 302
    return stay


class TestFacilityPages:
    def test_recording_a_stay_through_the_form(self, facility, inmate):
        client = client_for(facility)
        page = client.get(f"/handover/persons/{inmate.pk}/stay/")
        assert page.status_code == 200
        response = client.post(f"/handover/persons/{inmate.pk}/stay/", {
            "decision_number": "决字1号", "decided_on": "2024-03-01", "authority": "公安局", "facility": "强戒所",
            "admitted_on": "2024-03-02"})
        assert response.status_code == 302
        assert inmate.isolation_stays.get().planned_release_on == date(2026, 2, 28)
        tab = client.get(f"/persons/{inmate.pk}/?tab=isolation")
        assert tab.status_code == 200 and "2026-02-28" in tab.content.decode()

    def test_the_assessment_form_has_a_field_per_item_and_keeps_input_on_errors(self, facility, inmate):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        client = client_for(facility)
        page = client.get(f"/handover/stays/{stay.pk}/assess/").content.decode()
        assert 'name="physical_detox.negative_test"' in page and 'name="social.family_support"' in page
        data = {f"{d}.{i}": v for d, items in PASSING.items() for i, v in items.items()}
        data.update(point="pre_release", assessed_on="2024-03-01", doctor="刘", psychologist="陈", social_worker="王",
                    outcome="on_time")
        refused = client.post(f"/handover/stays/{stay.pk}/assess/", data)
        assert refused.status_code == 400 and "刘" in refused.content.decode()
        data.update(physical_state="良好", psychological_state="稳定", social_adaptability="好")
        assert client.post(f"/handover/stays/{stay.pk}/assess/", data).status_code == 302
        assert stay.assessments.get().results["physical_detox"]["result"] == "pass"

    def test_a_community_worker_may_not_open_the_forms(self, personas, facility, inmate):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        assert client_for(personas["worker"]).get(f"/handover/stays/{stay.pk}/release/").status_code == 403

    def test_the_facility_list(self, facility, inmate):
        new_stay(inmate, facility, decided=date(2023, 3, 1))
        page = client_for(facility).get("/handover/facility/")
        assert page.status_code == 200 and inmate.name in page.content.decode()


class TestInboxPages:
    def test_the_whole_path_through_the_pages(self, facility, inmate, personas):
        stay = released_stay(inmate, facility)
        client = client_for(personas["worker"])
        inbox = client.get("/handover/")
        assert inbox.status_code == 200 and inmate.name in inbox.content.decode()
        handover = stay.handover
        assert client.post(f"/handover/{handover.pk}/acknowledge/").status_code == 302
        assert client.post(f"/handover/{handover.pk}/pickup/", {
            "collector_kind": "family", "collector_name": "李母", "collected_on": "2024-02-20"}).status_code == 302
        assert client.post(f"/handover/{handover.pk}/decision/", {
            "kind": "community_rehab", "decided_on": "2024-02-20", "received_on": "2024-02-20",
            "term_months": "36"}).status_code == 302
        response = client.post(f"/handover/{handover.pk}/report/", {"reported_on": "2024-03-01"})
        agreement = Agreement.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/handover/agreements/{agreement.pk}/"
        page = client.get(f"/handover/agreements/{agreement.pk}/").content.decode()
        assert "社区康复协议书" in page
        assert client.post(f"/handover/agreements/{agreement.pk}/sign/", {"signed_on": "2024-03-01"}).status_code == 302
        handover = Handover.objects.get()
        assert handover.state_on(date(2024, 3, 1)) == HandoverState.AGREEMENT_SIGNED

    def test_outsider_gets_404(self, facility, inmate, personas):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        client = client_for(personas["neighbour"])
        assert client.get(f"/handover/{stay.handover.pk}/").status_code == 404
        assert client.post(f"/handover/{stay.handover.pk}/acknowledge/").status_code == 404

    def test_anonymous_is_sent_to_login(self, facility, inmate):
        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        for url in ("/handover/", f"/handover/{stay.handover.pk}/", "/handover/figures/"):
            assert client_for(None).get(url).status_code == 302

    def test_a_health_worker_has_no_inbox(self, personas):
        assert client_for(personas["health"]).get("/handover/").status_code == 403

    def test_the_figures_page(self, personas):
        page = client_for(personas["leader"]).get("/handover/figures/?start=2024-01-01&end=2024-12-31")
        assert page.status_code == 200 and "南宁街道" in page.content.decode()
        assert client_for(personas["health"]).get("/handover/figures/").status_code == 403


class TestInboxQueries:
    def test_the_inbox_asks_the_same_number_of_queries_for_one_or_many(self, facility, personas, places,
                                                                       django_assert_max_num_queries):
        from liangyi.demo import factories
        from liangyi.handover import services
        from liangyi.people.models import Status

        worker = personas["worker"]

        def one(name):
            stay = new_stay(factories.person(places["township"], name=name, status=Status.ISOLATION), facility,
                            decided=date(2022, 2, 21))
            services.stay_release(stay=stay, released_on=stay.planned_release_on, certificate="c", actor=facility)
            services.handover_acknowledge(handover=stay.handover, actor=worker)

        one("甲")
        client = client_for(worker)
        with django_assert_max_num_queries(40) as first:
            assert client.get("/handover/").status_code == 200
        for name in ("乙", "丙", "丁", "戊"):
            one(name)
        with django_assert_max_num_queries(len(first.captured_queries)):
            assert client.get("/handover/").status_code == 200


class TestEveryFacilityForm:
    def test_each_form_opens_and_the_extension_offers_its_assessment(self, facility, inmate):
        from liangyi.handover.models import Outcome
        from liangyi.handover.tests.conftest import assess

        stay = new_stay(inmate, facility, decided=date(2023, 3, 1))
        assess(stay, facility, on=date(2024, 12, 1), outcome=Outcome.PROPOSE_EXTENSION)
        client = client_for(facility)
        for action in ("escape", "medical-out", "assess", "early-release", "extension", "packet", "release"):
            assert client.get(f"/handover/stays/{stay.pk}/{action}/").status_code == 200, action
        page = client.get(f"/handover/stays/{stay.pk}/extension/").content.decode()
        assert 'name="months"' in page and 'name="release_on"' not in page and "2024-12-01" in page
        response = client.post(f"/handover/stays/{stay.pk}/extension/", {
            "decided_on": "2024-12-10", "months": "6", "assessment": str(stay.assessments.get().pk)})
        assert response.status_code == 302
        stay.refresh_from_db()
        assert stay.planned_release_on == date(2025, 8, 31)  # 30 months from 2023-03-01
        assert client.get(f"/handover/stays/{stay.pk}/nonsense/").status_code == 404
