"""Pages: the Supervision section and its forms, the escalations page, worklist one-click, the ICS feed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse

from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import TimelineEvent
from liangyi.supervision import services
from liangyi.supervision.models import DrugTest, Escalation, EscalationState, OrderKind

TODAY = date.today()


def running(person, actor, days: int = 40):
    reported = TODAY - timedelta(days=days)
    order = services.order_create(person=person, kind=OrderKind.COMMUNITY_DRUG_REHAB, decided_on=reported,
                                  received_on=reported, actor=actor)
    return services.report_receive(order=order, reported_on=reported, actor=actor)


def file_url(person) -> str:
    return reverse("people:detail", args=[person.pk]) + "?tab=supervision"


@pytest.mark.django_db
class TestSection:
    def test_the_worker_sees_the_term_clock_and_forms(self, person, personas, client_as):
        running(person, personas["worker"])
        html = client_as(personas["worker"]).get(file_url(person)).content.decode()
        for testid in ("sv-order", "sv-term", "sv-clock", "sv-form-test", "sv-form-transfer"):
            assert f'data-testid="{testid}"' in html

    def test_a_person_without_an_order_offers_the_decision(self, person, personas, client_as):
        html = client_as(personas["worker"]).get(file_url(person)).content.decode()
        assert 'data-testid="sv-none"' in html and 'data-testid="sv-form-decision"' in html

    def test_a_role_without_supervise_sees_no_forms(self, person, personas, client_as):
        running(person, personas["worker"])
        html = client_as(personas["health"]).get(file_url(person)).content.decode()
        assert 'data-testid="sv-order"' in html and 'data-testid="sv-forms"' not in html

    def test_a_role_without_drug_history_has_no_such_tab(self, person, personas, client_as):
        assert client_as(personas["job_officer"]).get(file_url(person)).status_code == 404

    def test_recording_a_test_through_the_form(self, person, personas, client_as):
        running(person, personas["worker"])
        url = reverse("supervision:record", args=[person.pk, "test"])
        response = client_as(personas["worker"]).post(url, {"tested_on": str(TODAY), "sample": "urine",
                                                             "method": "onsite", "result": "negative",
                                                             "collector_names": "张专干 李专干"})
        assert response.status_code == 302 and response.url == file_url(person)
        assert DrugTest.objects.get(person=person).collector_names == "张专干 李专干"

    def test_a_refused_form_keeps_the_input_and_says_why(self, person, personas, client_as):
        running(person, personas["worker"])
        url = reverse("supervision:record", args=[person.pk, "test"])
        response = client_as(personas["worker"]).post(url, {"tested_on": str(TODAY + timedelta(days=2)),
                                                             "sample": "urine", "result": "negative",
                                                             "notes": "保留"})
        assert response.status_code == 400
        html = response.content.decode()
        assert "future" in html and "保留" in html

    def test_outsider_404_forbidden_403_anonymous_login(self, person, personas, client_as):
        url = reverse("supervision:record", args=[person.pk, "contact"])
        assert client_as(personas["neighbour"]).get(url).status_code == 404
        assert client_as(personas["health"]).get(url).status_code == 403
        assert client_as(None).get(url).status_code == 302


@pytest.mark.django_db
class TestEscalationsPage:
    def test_the_police_decide_on_the_page(self, person, personas, client_as):
        order = running(person, personas["worker"])
        services.test_record(order=order, tested_on=TODAY, result="positive", sample="urine",
                             actor=personas["worker"])
        case = Escalation.objects.get()
        police = client_as(personas["police"])
        html = police.get(reverse("supervision:escalations")).content.decode()
        assert f'data-testid="decide-{case.pk}"' in html
        response = police.post(reverse("supervision:decide", args=[case.pk]),
                               {"decision": "continue", "decided_on": str(TODAY), "notes": ""})
        assert response.status_code == 302
        case.refresh_from_db()
        assert case.state == EscalationState.DECIDED

    def test_the_worker_sees_the_case_but_may_not_decide(self, person, personas, client_as):
        order = running(person, personas["worker"])
        services.test_record(order=order, tested_on=TODAY, result="positive", sample="urine",
                             actor=personas["worker"])
        case = Escalation.objects.get()
        worker = client_as(personas["worker"])
        html = worker.get(reverse("supervision:escalations")).content.decode()
        assert f'data-testid="escalation-{case.pk}"' in html and f'data-testid="decide-{case.pk}"' not in html
        assert worker.post(reverse("supervision:decide", args=[case.pk]),
                           {"decision": "continue", "decided_on": str(TODAY)}).status_code == 403
        assert client_as(personas["neighbour"]).post(reverse("supervision:decide", args=[case.pk]),
                                                     {"decision": "continue"}).status_code == 404


@pytest.mark.django_db
class TestWorklistOneClick:
    def test_one_click_records_a_urine_test_and_swaps_the_row(self, person, personas, client_as):
        running(person, personas["worker"])
        due = Obligation.objects.filter(person=person, kind=Kind.DRUG_TEST, done_at=None).order_by("due_on").first()
        client = client_as(personas["worker"])
        assert f'data-testid="record-{due.pk}"' in client.get(reverse("obligations:worklist")).content.decode()
        response = client.post(reverse("supervision:worklist_record", args=[due.pk]), {"result": "negative"},
                               HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert f'id="obligation-{due.pk}"' in response.content.decode()
        due.refresh_from_db()
        assert due.done_on == TODAY
        assert TimelineEvent.objects.filter(person=person, kind="drug_test.recorded").exists()

    def test_outsiders_cannot(self, person, personas, client_as):
        running(person, personas["worker"])
        due = Obligation.objects.filter(person=person, kind=Kind.CHECK_IN).first()
        url = reverse("supervision:worklist_record", args=[due.pk])
        assert client_as(personas["neighbour"]).post(url).status_code == 404
        assert client_as(personas["health"]).post(url).status_code == 403


@pytest.mark.django_db
class TestCalendarFeed:
    def test_the_feed_shows_surname_and_kind_only(self, person, personas, client_as):
        running(person, personas["worker"], days=20)
        Obligation.objects.filter(person=person).update(worker=personas["worker"])
        client = client_as(personas["worker"])
        html = client.post(reverse("obligations:calendar")).content.decode()
        url = html.split("<code>")[1].split("</code>")[0]
        key = url.rsplit("/", 1)[1].removesuffix(".ics")
        feed = client_as(None).get(reverse("obligations:calendar_feed", args=[key]))
        assert feed.status_code == 200 and feed["Content-Type"].startswith("text/calendar")
        body = feed.content.decode()
        assert "BEGIN:VEVENT" in body and "王某" in body
        assert person.name not in body and person.id_number_masked not in body
        # a new address stops the old one
        client.post(reverse("obligations:calendar"))
        assert client_as(None).get(reverse("obligations:calendar_feed", args=[key])).status_code == 404

    def test_a_wrong_key_is_404(self, db, client_as):
        assert client_as(None).get(reverse("obligations:calendar_feed", args=["nope"])).status_code == 404
