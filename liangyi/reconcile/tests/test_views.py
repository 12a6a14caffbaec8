"""The comparison pages: upload, progress, counts, working findings, downloads, and who may see them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from liangyi.conftest import client_for
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.people.importer import import_persons
from liangyi.people.models import Person, Status, TimelineEvent
from liangyi.reconcile.models import Finding, ReconcileRun, Resolution, RunState

DATA = Path(__file__).with_name("data")


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


@pytest.fixture
def registry(places, personas):
    factories.jurisdiction("530381002", "双河街道", places["other_county"])
    assert import_persons(DATA / "persons_import_sample.csv", actor=personas["admin"]).created == 5
    return {p.name: p for p in Person.objects.all()}


@pytest.fixture
def city(places):
    return {
        "worker": factories.user("city_worker", "community_worker", places["city"], full_name="市专干"),
        "leader": factories.user("city_leader", "leader", places["city"], full_name="市领导"),
        "hr": factories.user("city_hr", "hr", places["city"], full_name="市人社"),
    }


def sample(name: str = "police_export_sample.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (DATA / "police_export_sample.csv").read_bytes())


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    def do(user, file=None, scope=""):
        client = client_for(user)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("reconcile:index"), {"file": file or sample(), "scope": scope})
        assert response.status_code == 302, response.content.decode()[:2000]
        return client, ReconcileRun.objects.latest("id")
    return do


def test_upload_runs_and_the_run_page_shows_counts(registry, city, upload):
    client, run = upload(city["worker"])
    assert run.state == RunState.DONE
    page = client.get(reverse("reconcile:run", args=[run.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="count-status_mismatch">1<' in html
    assert 'data-testid="count-matched_corrected_id">2<' in html
    assert 'data-testid="count-missing_in_police">0<' in html
    assert "530302********1023" in html and "530302198511201023" not in html  # masked on the page
    assert 'hx-trigger="every 1s"' not in html  # done: nothing to poll
    assert "<script" not in html.split("</head>")[1]  # no inline script (CSP)


def test_filter_by_category_and_jurisdiction(registry, city, upload):
    client, run = upload(city["worker"])
    html = client.get(reverse("reconcile:run", args=[run.pk]), {"category": "status_mismatch"}).content.decode()
    assert html.count('data-category="status_mismatch"') == 1 and 'data-category="matched"' not in html
    html = client.get(reverse("reconcile:run", args=[run.pk]), {"place": "530381"}).content.decode()
    categories = {c.split('"')[0] for c in html.split('data-category="')[1:]}
    assert categories == {"matched_corrected_id", "jurisdiction_mismatch"}  # 张伟 and 陈丽, in Xuanwei


def test_progress_fragment_polls_while_running(registry, city):
    run = ReconcileRun.objects.create(uploaded_by=city["worker"], file_name="x.csv", file_sha256="0" * 64,
                                      scope="5303", state=RunState.RUNNING, rows_done=500, rows_total=2000)
    client = client_for(city["worker"])
    html = client.get(reverse("reconcile:progress", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in html and 'value="25"' in html and "500 of 2000 rows" in html
    assert 'hx-trigger="every 1s"' in client.get(reverse("reconcile:run", args=[run.pk])).content.decode()
    ReconcileRun.objects.filter(pk=run.pk).update(state=RunState.DONE)
    done = client.get(reverse("reconcile:progress", args=[run.pk]), headers={"HX-Request": "true"})
    assert done.headers.get("HX-Refresh") == "true"


def test_accept_police_status_through_the_page(registry, city, upload):
    client, run = upload(city["worker"])
    f = run.findings.get(category="status_mismatch")
    response = client.post(reverse("reconcile:work", args=[f.pk, "accept"]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith(f'<tr id="finding-{f.pk}"') and 'data-resolution="accepted_police"' in html
    li = Person.objects.get(name="李秀英")
    assert li.status == Status.COMMUNITY_REHAB and li.verified_at is not None
    assert AuditEntry.objects.filter(action="reconcile.accepted_police", person_id=li.pk, actor=city["worker"]).exists()
    assert TimelineEvent.objects.filter(person=li, kind="reconcile.accepted_police").exists()


def test_dismiss_needs_a_reason(registry, city, upload):
    client, run = upload(city["worker"])
    f = run.findings.get(category="duplicate_in_police")
    url = reverse("reconcile:work", args=[f.pk, "dismiss"])
    html = client.post(url, {"reason": ""}, headers={"HX-Request": "true"}).content.decode()
    assert "Say why the finding is dismissed." in html
    f.refresh_from_db()
    assert f.resolution == Resolution.OPEN
    html = client.post(url, {"reason": "已与派出所核实"}, headers={"HX-Request": "true"}).content.decode()
    f.refresh_from_db()
    assert f.resolution == Resolution.DISMISSED and f.reason == "已与派出所核实" and "已与派出所核实" in html
    assert AuditEntry.objects.filter(action="reconcile.dismissed").exists()


def test_keep_ours_sets_verified_at(registry, city, upload):
    client, run = upload(city["worker"])
    f = run.findings.get(category="jurisdiction_mismatch")
    assert Person.objects.get(name="陈丽").verified_at is None
    client.post(reverse("reconcile:work", args=[f.pk, "keep"]), {"note": "派出所更正"}, headers={"HX-Request": "true"})
    f.refresh_from_db()
    assert f.resolution == Resolution.KEPT_OURS
    chen = Person.objects.get(name="陈丽")
    assert chen.verified_at is not None and chen.jurisdiction_id == "530381002"
    assert TimelineEvent.objects.filter(person=chen, kind="reconcile.kept_ours").exists()


def test_link_by_id_number(registry, city, upload):
    client, run = upload(city["worker"])
    f = run.findings.get(category="missing_in_registry")
    client.post(reverse("reconcile:work", args=[f.pk, "link"]), {"person": "530302197003121014"},
                headers={"HX-Request": "true"})
    f.refresh_from_db()
    assert f.resolution == Resolution.LINKED and f.person.name == "王建国"


def test_a_second_upload_carries_the_work_over(registry, city, upload):
    client, first = upload(city["worker"])
    f = first.findings.get(category="duplicate_in_police")
    client.post(reverse("reconcile:work", args=[f.pk, "dismiss"]), {"reason": "重复录入"})
    _client, second = upload(city["worker"])
    assert second.pk != first.pk
    again = second.findings.get(category="duplicate_in_police")
    assert (again.resolution, again.reason, again.carried_over) == (Resolution.DISMISSED, "重复录入", True)
    html = client.get(reverse("reconcile:run", args=[second.pk])).content.decode()
    assert "from an earlier comparison" in html


def test_csv_download_has_a_bom_and_masks_for_a_role_without_reveal(registry, city, upload):
    _client, run = upload(city["worker"])
    leader = client_for(city["leader"])
    response = leader.get(reverse("reconcile:download", args=[run.pk, "csv"]))
    assert response.status_code == 200
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert text.splitlines()[0] == ("category,police_row,id_number,person_id,field,registry_value,police_value,"
                                    "detail,resolution,reason,exported_by,exported_at")
    assert "530302198511201023" not in text and "530302********1023" in text
    assert "530381199201012032" not in text  # nor inside a detail or a value
    assert AuditEntry.objects.filter(action="reconcile.exported", actor=city["leader"]).exists()
    # a role that may reveal gets the numbers in full
    full = client_for(city["worker"]).get(reverse("reconcile:download", args=[run.pk, "csv"]))
    assert "530302198511201023" in full.content.decode("utf-8-sig")


def test_xlsx_download_opens(registry, city, upload):
    client, run = upload(city["worker"])
    response = client.get(reverse("reconcile:download", args=[run.pk, "xlsx"]))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("category", "police_row", "id_number")
    assert len(rows) == 1 + Finding.objects.filter(run=run).count()
    assert AuditEntry.objects.filter(action="reconcile.exported", detail__format="xlsx").exists()


def test_who_may_see_a_run(registry, city, personas, places, upload):
    _client, run = upload(city["worker"])
    url = reverse("reconcile:run", args=[run.pk])
    outsider = factories.user("xuanwei", "community_worker", places["other_county"])
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(outsider).get(reverse("reconcile:download", args=[run.pk, "csv"])).status_code == 404
    assert client_for(None).get(url).status_code == 302
    assert client_for(city["hr"]).get(url).status_code == 403
    assert client_for(city["hr"]).get(reverse("reconcile:index")).status_code == 403
    assert client_for(city["leader"]).get(url).status_code == 200
    f = run.findings.get(category="status_mismatch")
    assert client_for(city["leader"]).post(reverse("reconcile:work", args=[f.pk, "accept"])).status_code == 403
    assert client_for(outsider).post(reverse("reconcile:work", args=[f.pk, "accept"])).status_code == 404
    assert client_for(personas["admin"]).get(url).status_code == 200


def test_persons_out_of_reach_are_not_linked(registry, personas, upload):
    client, run = upload(personas["admin"])
    township_leader = factories.user("t_leader", "leader", personas["worker"].jurisdiction)
    run.scope = "530302001"  # seen by the township, though the export names Xuanwei persons too
    run.save(update_fields=["scope"])
    html = client_for(township_leader).get(reverse("reconcile:run", args=[run.pk])).content.decode()
    zhang = Person.objects.get(name="张伟")
    assert str(zhang.pk) not in html and "outside your jurisdiction" in html
    assert str(Person.objects.get(name="王建国").pk) in html


def test_a_broken_file_gives_a_failed_run(registry, city, upload):
    client, run = upload(city["worker"], SimpleUploadedFile("broken.csv", "姓名,性别\n张三,男\n".encode()))
    assert run.state == RunState.FAILED and not run.findings.exists()
    html = client.get(reverse("reconcile:run", args=[run.pk])).content.decode()
    assert "The header row lacks the required column(s)" in html
    assert 'data-testid="counts"' not in html


def test_upload_form_rejects_other_files(registry, city):
    client = client_for(city["worker"])
    response = client.post(reverse("reconcile:index"), {"file": SimpleUploadedFile("a.xls", b"x")})
    assert response.status_code == 200 and "old Excel file" in response.content.decode()
    response = client.post(reverse("reconcile:index"), {"file": sample(), "scope": "530381999"})
    assert "not a known jurisdiction code" in response.content.decode()
    assert not ReconcileRun.objects.exists()
