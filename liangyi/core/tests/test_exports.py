"""Every export is audited, stamped with who exported it and when, and masked per role (core/exports.py)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from liangyi.conftest import client_for
from liangyi.core import exports
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.obligations.models import CalendarToken, Obligation
from liangyi.obligations.views import _hash
from liangyi.reconcile.models import Finding
from liangyi.reconcile.report import HEADER
from liangyi.reconcile.tests.test_views import city, registry, upload, var_dir  # noqa: F401 (fixtures)
from liangyi.supervision.tests.test_views import running


def local(entry: AuditEntry) -> str:
    return timezone.localtime(datetime.fromisoformat(entry.detail["exported_at"])).strftime("%Y-%m-%d %H:%M:%S %z")


class TestStamp:
    def test_it_names_the_user_and_the_local_time(self, personas):
        at = datetime(2026, 11, 28, 16, 5, 9, tzinfo=timezone.get_fixed_timezone(0))
        st = exports.stamp(personas["worker"], at)
        assert st.who == "张专干 (worker)"
        assert st.when == "2026-11-29 00:05:09 +0800"  # Asia/Shanghai
        assert st.slug == "worker-20261129-0005"
        assert st.text == "Exported by 张专干 (worker) at 2026-11-29 00:05:09 +0800"

    def test_a_user_without_a_full_name_is_named_by_username(self, places):
        user = factories.user("bare", "community_worker", places["township"], full_name="")
        assert exports.stamp(user).who == "bare"


class TestMasking:
    def test_a_group_the_role_does_not_see_is_emptied(self, personas, places):
        teacher = factories.user("teacher", "education", places["township"])
        assert exports.cell(personas["worker"], "identity", "530302********0236") == "530302********0236"
        assert exports.cell(teacher, "identity", "530302********0236") == ""
        assert exports.cell(personas["worker"], "infectious_disease", "HIV阳性") == ""
        assert exports.cell(personas["health"], "infectious_disease", "HIV阳性") == "HIV阳性"
        assert exports.cell(teacher, None, "王建国") == "王建国"  # always-visible fields


class TestReconcileDownload:
    def test_csv_keeps_the_contract_columns_and_stamps_every_row(self, registry, city, upload):  # noqa: F811
        _client, run = upload(city["worker"])
        response = client_for(city["leader"]).get(reverse("reconcile:download", args=[run.pk, "csv"]))
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert tuple(rows[0][:len(HEADER)]) == HEADER  # the contract's columns, in place and in order
        assert rows[0][-2:] == ["exported_by", "exported_at"]
        entry = AuditEntry.objects.get(action="reconcile.exported", actor=city["leader"])
        assert len(rows) - 1 == Finding.objects.filter(run=run).count() == entry.detail["rows"]
        for row in rows[1:]:
            assert row[-2:] == ["市领导 (city_leader)", local(entry)]
        assert entry.detail["format"] == "csv" and entry.detail["persons"] == len({r[3] for r in rows[1:] if r[3]})
        assert entry.detail["persons"] > 0
        name = entry.detail["file"]
        assert name.startswith(f"reconcile-{run.pk}-city_leader-") and name.endswith(".csv")
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'
        assert "no-store" in response["Cache-Control"]

    def test_xlsx_is_stamped_in_its_properties_header_footer_and_an_info_sheet(self, registry, city, upload):  # noqa: F811
        client, run = upload(city["worker"])
        response = client.get(reverse("reconcile:download", args=[run.pk, "xlsx"]))
        book = load_workbook(io.BytesIO(response.content))
        entry = AuditEntry.objects.get(action="reconcile.exported", detail__format="xlsx")
        data = book.active
        assert book.sheetnames == ["reconcile", exports.INFO_SHEET] and data.title == "reconcile"
        header = next(data.iter_rows(values_only=True))
        assert header[:len(HEADER)] == HEADER
        assert book.properties.creator == "市专干 (city_worker)"
        assert "city_worker" in book.properties.keywords
        assert f"Exported by 市专干 (city_worker) at {local(entry)}" in data.oddFooter.left.text
        assert "city_worker" in data.oddHeader.right.text
        info = {row[0]: row[1] for row in book[exports.INFO_SHEET].iter_rows(values_only=True)}
        assert info["Username"] == "city_worker" and info["Exported at"] == local(entry)
        assert data.cell(row=2, column=3).number_format == "@"  # ID numbers stay text

    def test_an_outsider_gets_404_and_no_export_is_audited(self, registry, city, upload, places):  # noqa: F811
        _client, run = upload(city["worker"])
        outsider = factories.user("xuanwei", "community_worker", places["other_county"])
        assert client_for(outsider).get(reverse("reconcile:download", args=[run.pk, "csv"])).status_code == 404
        assert not AuditEntry.objects.filter(action="reconcile.exported").exists()


class TestImportTemplate:
    def test_csv_is_stamped_in_the_file_name_only_and_audited(self, personas, client_as):
        response = client_as(personas["worker"]).get(reverse("people:import_template", args=["csv"]))
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert "exported_by" not in rows[0] and len(rows) == 2  # imported back as it stands
        entry = AuditEntry.objects.get(action="import_template.exported", actor=personas["worker"])
        assert entry.detail["format"] == "csv" and entry.detail["persons"] == 0
        assert entry.detail["file"].startswith("persons_import_template-worker-")
        assert entry.detail["file"] in response["Content-Disposition"]

    def test_xlsx_keeps_the_template_first_and_adds_the_info_sheet(self, personas, client_as):
        response = client_as(personas["worker"]).get(reverse("people:import_template", args=["xlsx"]))
        book = load_workbook(io.BytesIO(response.content))
        assert book.sheetnames == ["persons", exports.INFO_SHEET]
        assert book.properties.creator == "张专干 (worker)"
        assert AuditEntry.objects.filter(action="import_template.exported", detail__format="xlsx").exists()


@pytest.mark.django_db
class TestCalendarFeed:
    def test_each_fetch_is_audited_and_the_calendar_names_its_owner(self, person, personas, client_as):
        running(person, personas["worker"], days=20)
        Obligation.objects.filter(person=person).update(worker=personas["worker"])
        CalendarToken.objects.create(user=personas["worker"], key_hash=_hash("k" * 40))
        response = client_as(None).get(reverse("obligations:calendar_feed", args=["k" * 40]))
        assert response.status_code == 200
        body = response.content.decode()
        unfolded = body.replace("\r\n ", "")
        assert "X-WR-CALDESC:Exported by 张专干 (worker) at " in unfolded
        assert "X-LIANGYI-EXPORTED-BY:worker" in body
        assert all(len(line.encode()) <= 75 for line in body.split("\r\n") if line.startswith("X-"))
        entry = AuditEntry.objects.get(action="calendar.exported")
        assert entry.actor == personas["worker"] and entry.detail["format"] == "ics"
        assert entry.detail["rows"] == body.count("BEGIN:VEVENT") > 0 and entry.detail["persons"] == 1
        assert person.name not in body  # still the surname only

    def test_a_wrong_key_exports_nothing(self, client_as, db):
        assert client_as(None).get(reverse("obligations:calendar_feed", args=["nope"])).status_code == 404
        assert not AuditEntry.objects.filter(action="calendar.exported").exists()
