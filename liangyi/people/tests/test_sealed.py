"""Sealed records: public-security punishments for drug use, hidden from every ordinary read."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from liangyi.conftest import client_for
from liangyi.core import glass
from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.people import sealing, selectors, services
from liangyi.people.models import Measure, MeasureKind, SealedOpening, TimelineEvent

NOTE = "曲公（麒）行罚决字〔2025〕0815号"


@pytest.fixture
def punished(person, personas):
    """The township person, with a community measure and a sealed detention for drug use."""
    services.measure_add(actor=personas["police"], person=person, kind=MeasureKind.COMMUNITY_REHAB,
                         start_on=date(2024, 3, 1), authority="麒麟分局")
    sealing.punishment_record(person=person, kind=MeasureKind.PS_DETENTION, start_on=date(2025, 6, 2),
                              end_on=date(2025, 6, 12), authority="曲靖市公安局麒麟分局", notes=NOTE,
                              actor=personas["police"])
    return person


def file_text(client, person, tab):
    return client.get(reverse("people:detail", args=[person.pk]), {"tab": tab}).content.decode()


class TestSealing:
    def test_a_punishment_is_sealed_when_recorded(self, punished):
        measure = Measure.with_sealed.get(kind=MeasureKind.PS_DETENTION)
        assert measure.sealed_at is not None and measure.sealed_by is None
        assert "136" in measure.sealed_basis or "一百三十六" in measure.sealed_basis
        event = TimelineEvent.with_sealed.get(ref_type="people.measure", ref_id=str(measure.pk))
        assert event.sealed_at is not None

    def test_the_default_managers_leave_sealed_rows_out(self, punished):
        assert list(punished.measures.values_list("kind", flat=True)) == [MeasureKind.COMMUNITY_REHAB]
        assert not Measure.objects.filter(kind=MeasureKind.PS_DETENTION).exists()
        assert Measure.with_sealed.filter(kind=MeasureKind.PS_DETENTION).count() == 1
        assert all(NOTE not in e.summary and "detention" not in e.summary for e in punished.timeline.all())

    def test_a_row_written_unsealed_is_hidden_all_the_same_and_the_job_stamps_it(self, person, personas):
        measure = Measure.with_sealed.create(person=person, kind=MeasureKind.PS_FINE, start_on=date(2023, 1, 5),
                                             notes=NOTE)
        services.timeline_add(person=person, kind="person.measure_added", ref=measure, group="drug_history",
                              summary="罚款 " + NOTE)
        assert not person.measures.filter(pk=measure.pk).exists()
        timeline = selectors.timeline_for(user=personas["worker"], person=person)
        assert all(NOTE not in e.summary for e in timeline)
        assert sealing.seal_due() == 1
        assert sealing.seal_due() == 0  # idempotent
        measure = Measure.with_sealed.get(pk=measure.pk)
        assert measure.sealed_at is not None
        assert TimelineEvent.with_sealed.get(ref_id=str(measure.pk)).sealed_at is not None

    def test_nothing_is_sealed_before_the_law_is_in_force(self, person, settings):
        from liangyi.people.models import sealing_in_force

        assert not sealing_in_force(date(2025, 12, 31))
        assert sealing_in_force(date(2026, 1, 1))
        Measure.with_sealed.create(person=person, kind=MeasureKind.PS_FINE, start_on=date(2023, 1, 5))
        assert sealing.seal_due(on=date(2025, 12, 31)) == 0

    def test_isolation_and_community_measures_are_not_sealed(self, punished):
        assert set(Measure.objects.values_list("kind", flat=True)) == {MeasureKind.COMMUNITY_REHAB}

    def test_only_a_role_that_records_measures_may_record_a_punishment(self, person, personas):
        with pytest.raises(DomainError):
            sealing.punishment_record(person=person, kind=MeasureKind.PS_FINE, start_on=date(2025, 1, 1),
                                      actor=personas["job_officer"])


class TestHiddenEverywhere:
    @pytest.mark.parametrize("who", ["worker", "police", "health", "leader"])
    def test_file_timeline_and_api_show_no_sealed_record(self, punished, personas, who):
        client = client_for(personas[who])
        for tab in ("overview", "measures", "timeline"):
            body = file_text(client, punished, tab)
            assert NOTE not in body and "Administrative detention for drug use" not in body
        api = client.get(reverse("api-person-timeline", args=[punished.pk])).json()
        assert all("detention" not in row["summary"] and NOTE not in row["summary"] for row in api["results"])
        assert "detention" not in client.get(reverse("api-person", args=[punished.pk])).content.decode()

    def test_the_community_measure_still_shows(self, punished, personas):
        body = file_text(client_for(personas["worker"]), punished, "measures")
        assert "Community rehab" in body

    def test_only_roles_that_may_open_see_the_marker(self, punished, personas):
        marker = 'data-testid="sealed-marker"'
        police = file_text(client_for(personas["police"]), punished, "overview")
        assert marker in police and "Sealed records: 1" in police
        for who in ("worker", "health", "leader", "job_officer", "admin"):
            assert marker not in file_text(client_for(personas[who]), punished, "overview"), who

    def test_no_marker_when_nothing_is_sealed(self, person, personas):
        assert 'data-testid="sealed-marker"' not in file_text(client_for(personas["police"]), person, "overview")


class TestOpening:
    def test_opening_needs_a_basis_and_a_reference(self, punished, personas):
        client = client_for(personas["police"])
        url = reverse("people:sealed", args=[punished.pk])
        page = client.get(url)
        assert page.status_code == 200 and NOTE not in page.content.decode()
        for data in ({"basis": "", "reference": "A2026-01"}, {"basis": "case", "reference": ""},
                     {"basis": "whim", "reference": "A2026-01"}):
            response = client.post(url, data)
            assert response.status_code == 400 and NOTE not in response.content.decode()
        assert not SealedOpening.objects.exists()
        assert not AuditEntry.objects.filter(action="sealed.opened").exists()

    def test_an_opening_shows_the_records_for_a_short_time_each_view_audited(self, punished, personas):
        client = client_for(personas["police"])
        url = reverse("people:sealed", args=[punished.pk])
        response = client.post(url, {"basis": "case", "reference": "A5303020000002026010001", "note": "盗窃案串并"})
        assert response.status_code == 302
        opening = SealedOpening.objects.get()
        assert opening.ends_at - opening.starts_at == timedelta(minutes=30)
        opened = AuditEntry.objects.get(action="sealed.opened")
        assert opened.person_id == punished.pk and opened.detail["reference"] == "A5303020000002026010001"
        for _ in range(2):
            body = client.get(url).content.decode()
            assert NOTE in body and 'data-testid="sealed-open"' in body
        assert AuditEntry.objects.filter(action="sealed.viewed", person_id=punished.pk).count() == 2
        # The ordinary file still leaves them out while the opening lasts.
        assert NOTE not in file_text(client, punished, "measures")
        SealedOpening.objects.filter(pk=opening.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
        body = client.get(url).content.decode()
        assert NOTE not in body and 'data-testid="sealed-form"' in body
        assert AuditEntry.objects.filter(action="sealed.viewed").count() == 2

    def test_an_opening_belongs_to_its_user(self, punished, personas, places):
        client_for(personas["police"]).post(reverse("people:sealed", args=[punished.pk]),
                                            {"basis": "regulation", "reference": "查询函2026-17"})
        other_police = factories.user("police2", "police", places["township"])
        body = client_for(other_police).get(reverse("people:sealed", args=[punished.pk])).content.decode()
        assert NOTE not in body

    @pytest.mark.parametrize("who", ["worker", "health", "leader", "job_officer", "admin", "auditor"])
    def test_roles_without_the_action_are_refused(self, punished, personas, who):
        client = client_for(personas[who])
        url = reverse("people:sealed", args=[punished.pk])
        assert client.get(url).status_code in (403, 404)
        assert client.post(url, {"basis": "case", "reference": "A2026-0001"}).status_code in (403, 404)
        assert not SealedOpening.objects.exists()
        with pytest.raises(PermissionDenied):
            sealing.sealed_open(user=personas[who], person=punished, basis="case", reference="A2026-0001")

    def test_police_elsewhere_get_404(self, punished, places):
        far = factories.user("far_police", "police", places["other_township"])
        client = client_for(far)
        assert client.get(reverse("people:sealed", args=[punished.pk])).status_code == 404
        assert client.post(reverse("people:sealed", args=[punished.pk]),
                           {"basis": "case", "reference": "A2026-0001"}).status_code == 404

    def test_police_under_break_the_glass_may_open_on_a_basis(self, punished, places):
        far = factories.user("far_police2", "police", places["other_township"])
        glass.grant_open(user=far, person=punished, category="case", reason="串并案件需要核查该人员违法记录")
        client = client_for(far)
        url = reverse("people:sealed", args=[punished.pk])
        client.post(url, {"basis": "case", "reference": "A5303810000002026110003"})
        assert NOTE in client.get(url).content.decode()
        viewed = AuditEntry.objects.filter(action="sealed.viewed").get()
        assert "glass_grant" in viewed.detail
