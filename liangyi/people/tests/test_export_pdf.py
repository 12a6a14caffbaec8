"""The person's file as a PDF: only the field groups the role sees, masked, watermarked on every page, audited."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.people.models import FamilyMember, Measure, Plan, TimelineEvent

FULL_PHONE = "13812345678"
FULL_ADDRESS = "南宁街道幸福路1号"

# The text that each field group puts into the file of the `person` fixture (liangyi/conftest.py).
GROUP_TEXT = {
    "identity": ["1980-**-**", "ID number"],
    "contact": ["138****5678", "南宁街****", "Household address", "Family and contacts"],
    "drug_history": ["海洛因", "2005", "Drug history"],
    "medical": ["乙肝携带", "Health notes"],
    "infectious_disease": ["HIV阳性", "Infectious-disease status"],
    "police_notes": ["曾有贩毒前科", "Police notes"],
}
ROLE_GROUPS = {
    "worker": {"identity", "contact", "drug_history", "medical"},
    "health": {"identity", "contact", "drug_history", "medical", "infectious_disease"},
    "police": {"identity", "contact", "drug_history", "police_notes"},
    "leader": {"identity", "drug_history"},
    "job_officer": {"identity", "contact"},
}


def url(person) -> str:
    return reverse("people:pdf", args=[person.pk])


def pages(response) -> list[str]:
    reader = PdfReader(io.BytesIO(response.content))
    return [page.extract_text() for page in reader.pages]


@pytest.fixture
def filed(person, personas):
    """The fixture's person with family, a measure, a plan and timeline events of several groups."""
    FamilyMember.objects.create(person=person, relation="母亲", name="王母", phone="13900001111",
                                is_emergency_contact=True)
    Measure.objects.create(person=person, kind="community_drug_rehab", start_on=date(2025, 3, 1), authority="麒麟分局")
    Plan.objects.create(person=person, summary="每月两次尿检，协助就业", author=personas["worker"])
    now = timezone.now()
    TimelineEvent.objects.create(person=person, kind="note", occurred_at=now, summary="家访一次")
    TimelineEvent.objects.create(person=person, kind="test", occurred_at=now, summary="艾滋病复查",
                                 group="infectious_disease")
    return person


@pytest.mark.django_db
class TestWhatEachRoleGets:
    @pytest.mark.parametrize("who", sorted(ROLE_GROUPS))
    def test_only_the_groups_the_role_sees_are_in_the_file(self, who, filed, personas, client_as):
        response = client_as(personas[who]).get(url(filed))
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        text = "\n".join(pages(response))
        assert filed.name in text and "Status and place" in text  # always there
        for group, needles in GROUP_TEXT.items():
            for needle in needles:
                if group in ROLE_GROUPS[who]:
                    assert needle in text, (who, group, needle)
                else:
                    assert needle not in text, (who, group, needle)  # absent, not a blank under a heading
        # the timeline is filtered like the page's
        assert ("艾滋病复查" in text) == ("infectious_disease" in ROLE_GROUPS[who])

    def test_masked_values_stay_masked(self, filed, personas, client_as):
        text = "\n".join(pages(client_as(personas["worker"]).get(url(filed))))
        assert filed.id_number_masked in text
        assert filed.id_number not in text
        assert FULL_PHONE not in text and "13900001111" not in text and FULL_ADDRESS not in text
        assert f"{filed.birth_date:%Y-%m-%d}" not in text

    def test_a_role_without_the_health_groups_never_sees_hiv_status(self, filed, personas, client_as):
        for who in ("worker", "police", "leader", "job_officer"):
            text = "\n".join(pages(client_as(personas[who]).get(url(filed))))
            assert "HIV" not in text and "艾滋病" not in text, who


@pytest.mark.django_db
class TestWatermark:
    def test_every_page_carries_the_user_and_the_time(self, filed, personas, client_as):
        for i in range(90):  # enough to fill more than one page
            TimelineEvent.objects.create(person=filed, kind="note", occurred_at=timezone.now() - timedelta(days=i),
                                         summary=f"第{i}次谈话记录，" + "内容" * 30)
        Plan.objects.create(person=filed, summary="长计划。" * 400, author=personas["worker"])
        response = client_as(personas["worker"]).get(url(filed))
        entry = AuditEntry.objects.get(action="person.exported", person_id=filed.pk)
        when = timezone.localtime(datetime.fromisoformat(entry.detail["exported_at"])).strftime("%Y-%m-%d %H:%M:%S %z")
        texts = pages(response)
        assert len(texts) >= 2
        for text in texts:
            assert f"张专干 (worker) {when}" in text  # the diagonal watermark
            assert f"Exported by 张专干 (worker) at {when}" in text  # the footer
        assert response["Content-Disposition"].startswith('attachment; filename="person-')
        assert "worker-" in response["Content-Disposition"]
        assert "no-store" in response["Cache-Control"]

    def test_a_text_longer_than_a_page_flows_over_pages(self, filed, personas, client_as):
        summary = "\n".join(f"第{i}条：每周家访并记录。" for i in range(400)) + "\n计划结束"
        Plan.objects.create(person=filed, summary=summary, author=personas["worker"])
        texts = pages(client_as(personas["worker"]).get(url(filed)))
        assert len(texts) >= 3 and all("张专干 (worker)" in text for text in texts)
        assert "计划结束" in texts[-1] or "计划结束" in texts[-2]

    def test_chinese_is_drawn_with_the_cid_font(self, filed, personas, client_as):
        reader = PdfReader(io.BytesIO(client_as(personas["worker"]).get(url(filed)).content))
        fonts = {str(f["/BaseFont"]) for f in reader.pages[0]["/Resources"]["/Font"].values()}
        assert any("STSong-Light" in name for name in fonts)
        assert reader.metadata.author == "张专干 (worker)"


@pytest.mark.django_db
class TestAccessAndAudit:
    def test_it_is_audited_as_a_read_and_as_an_export(self, filed, personas, client_as):
        client_as(personas["worker"]).get(url(filed))
        read = AuditEntry.objects.get(action="person.viewed", person_id=filed.pk)
        assert read.detail == {"section": "pdf"} and read.actor == personas["worker"]
        export = AuditEntry.objects.get(action="person.exported", person_id=filed.pk)
        assert export.actor == personas["worker"] and export.object_id == str(filed.pk)
        assert export.detail["format"] == "pdf" and export.detail["rows"] == 1 and export.detail["persons"] == 1
        assert export.detail["groups"] == ["identity", "contact", "drug_history", "medical"]
        assert export.detail["file"].startswith(f"person-{filed.pk}-worker-")

    def test_out_of_reach_is_404_and_audited_as_denied(self, filed, personas, places, client_as):
        outsider = factories.user("xuanwei", "community_worker", places["other_county"])
        for user in (personas["neighbour"], outsider, personas["auditor"]):
            assert client_as(user).get(url(filed)).status_code == 404
        assert not AuditEntry.objects.filter(action__in=["person.exported", "person.viewed"]).exists()
        assert AuditEntry.objects.filter(action="access.denied", actor=personas["neighbour"]).exists()

    def test_an_unknown_person_is_404(self, personas, client_as, db):
        missing = reverse("people:pdf", args=["00000000-0000-0000-0000-000000000000"])
        assert client_as(personas["worker"]).get(missing).status_code == 404

    def test_anonymous_is_sent_to_the_login_page(self, filed, client_as):
        response = client_as(None).get(url(filed))
        assert response.status_code == 302 and "login" in response["Location"]
        assert not AuditEntry.objects.filter(action="person.exported").exists()

    def test_post_is_refused(self, filed, personas, client_as):
        assert client_as(personas["worker"]).post(url(filed)).status_code == 405


@pytest.mark.django_db
def test_the_person_page_links_to_the_pdf(person, personas, client_as):
    html = client_as(personas["health"]).get(reverse("people:detail", args=[person.pk])).content.decode()
    assert f'href="{url(person)}"' in html and 'data-testid="print-pdf"' in html
