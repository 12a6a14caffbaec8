"""Issue 6 polish: the fast paths agree with the plain ones, streaming and batches, access through
the matrix, stuck runs, labels, and exports nobody planned for (each read right or refused with a
clear message, never a false match)."""

from __future__ import annotations

import copy
import csv
import gc
import io
import itertools
import random
import unicodedata
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from openpyxl import Workbook

from liangyi.conftest import client_for
from liangyi.core import access, crypto, idnumber
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.people.models import STATUS_LABELS_ZH, Person, Status
from liangyi.reconcile import matching, reading, report, services
from liangyi.reconcile.models import Finding, ReconcileRun, RunState
from liangyi.reconcile.reading import DEFAULT_COLUMNS, ReconcileFileError, read_export

from .test_reconcile import HEADER, export_row, write_export

DATA = Path(__file__).with_name("data")


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


@pytest.fixture
def someone(places):
    return factories.person(places["township"], name="王建国", birth=date(1970, 3, 12),
                            id_number="530302197003121014", status=Status.COMMUNITY_REHAB)


def run_on(tmp_path: Path, path: Path) -> list[matching.Finding]:
    return report.run(path, out=tmp_path / "report.csv").findings


def persons_of(findings) -> set[tuple[int | None, str]]:
    return {(f.police_row, f.person_id) for f in findings if f.police_row is not None and f.person_id}


# --- the fast paths are the plain ones ---------------------------------------------------------


def test_fast_check_character_and_validity_agree_with_idnumber():
    rng = random.Random(6)
    for _ in range(20000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        assert matching._check_character(first17) == idnumber.check_character(first17)
        number = first17 + rng.choice("0123456789X")
        assert matching._plain_valid(number) == idnumber.is_valid(number), number
        plausible = "5303" + first17[4:6] + rng.choice(["1970", "1899", "1879", "2001"]) + first17[10:]
        plausible += matching._check_character(plausible)
        assert matching._plain_valid(plausible) == idnumber.is_valid(plausible), plausible
    for birth in (date(1970, 3, 12), date(2001, 2, 28), date(1950, 12, 31)):
        number = idnumber.build("530302", birth, 101)
        assert matching._plain_valid(number) and idnumber.is_valid(number)
    future = idnumber.build("530302", date.today() + timedelta(days=3), 101)
    assert not matching._plain_valid(future) and not idnumber.is_valid(future)
    assert not matching._PLAIN_NUMBER.fullmatch("５30302197003121014")  # full-width: the slow path


@pytest.mark.django_db
def test_fast_hash_is_the_lookup_hash(places):
    index = matching.Index()
    for value in ("530302197003121014", "11010519491231002X", "x"):
        assert index.hash(value) == crypto.lookup_hash(value)


def _corrections_by_trying_every_digit(text: str) -> list[tuple[str, tuple]]:
    """The corrections as first written (every digit value tried at every position): the reference."""
    if len(text) != 18 or not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        return []
    found: dict[str, tuple] = {}
    first17, check = text[:17], text[17]
    if idnumber.check_character(first17) != check:
        found.setdefault(first17 + idnumber.check_character(first17), ("check", check,
                                                                       idnumber.check_character(first17)))
    for i in range(17):
        for new in "0123456789":
            candidate = first17[:i] + new + first17[i + 1:]
            if new != first17[i] and idnumber.check_character(candidate) == check:
                found.setdefault(candidate + check, ("digit", i + 1, first17[i], new))
    for i in range(17):
        swapped = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        if text[i] != text[i + 1] and swapped[:17].isdigit() and idnumber.check_character(swapped[:17]) == swapped[17]:
            found.setdefault(swapped, ("swap", i + 1))
    found.pop(text, None)
    return sorted((number, change) for number, change in found.items() if idnumber.is_valid(number))


def test_corrections_are_those_found_by_trying_every_digit():
    rng = random.Random(61)
    found = 0
    for _ in range(3000):
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(25000))
        number = idnumber.build(rng.choice(["530302", "110105", "532101"]), birth, rng.randrange(1, 999))
        damaged = list(number)
        for _typo in range(rng.choice([1, 1, 2])):
            i = rng.randrange(18)
            damaged[i] = rng.choice("0123456789X" if i == 17 else "0123456789")
        if rng.random() < 0.2:
            i = rng.randrange(17)
            damaged[i], damaged[i + 1] = damaged[i + 1], damaged[i]
        text = "".join(damaged)
        assert matching._corrections(text) == _corrections_by_trying_every_digit(text), text
        found += bool(matching._corrections(text))
    assert found > 2000  # most damaged numbers have candidates: the comparison is not of empty lists


def test_a_clean_valid_number_parses_to_itself():
    # _resolve takes idnumber.IdNumber(text) for such a number instead of calling idnumber.parse
    rng = random.Random(62)
    for _ in range(2000):
        birth = date(1930, 1, 1) + timedelta(days=rng.randrange(30000))
        number = idnumber.build("530302", birth, rng.randrange(1, 999))
        assert matching._PLAIN_NUMBER.fullmatch(number) and matching._plain_valid(number)
        assert idnumber.parse(number) == idnumber.IdNumber(number)


def test_the_agreeing_statuses_are_status_agrees():
    texts = [*matching.POLICE_STATUS, *STATUS_LABELS_ZH.values(), *(str(s) for s in Status), "未知", "", " 社区康复"]
    for text in texts:
        mapped = matching.police_status(text)
        for registry in Status:
            expected = mapped is not None and matching.status_agrees(str(registry), mapped)
            assert (str(registry) in matching._agreeing_statuses(text)) == expected, (text, registry)


@pytest.mark.django_db
def test_the_index_holds_what_the_orm_reads(someone, places):
    factories.person(places["township"], name="阿卜杜·热合曼", status=Status.ISOLATION)
    factories.person(places["neighbour"], name="刘洋", status=Status.DECEASED)
    index = matching.Index.from_db()
    expected = {h: (str(pk), h, m, n, b, g, j, st) for pk, h, m, n, b, g, j, st in Person.objects.values_list(
        "pk", "id_number_hash", "id_number_masked", "name", "birth_date", "gender", "jurisdiction_id", "status")}
    held = {h: (e.pk, e.id_hash, e.masked, e.name, e.birth_date, e.gender, e.jurisdiction, e.status)
            for h, e in index.by_hash.items()}
    assert held == expected and len(held) == 3
    assert all(type(value) is str for entry in held.values() for value in entry[:4] + entry[5:])


@pytest.mark.django_db
def test_a_run_leaves_the_garbage_collector_as_it_found_it(someone, tmp_path):
    path = write_export(tmp_path / "e.csv", [export_row(someone)])
    assert gc.isenabled() and gc.get_freeze_count() == 0
    report.run(path, out=tmp_path / "r.csv")
    assert gc.isenabled() and gc.get_freeze_count() == 0
    kept = [object()]  # something frozen before the run (a pre-forking server does this) stays frozen
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with matching.index_frozen():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    assert kept
    gc.disable()
    try:
        with matching.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_is_built_for_a_run_is_frozen_before_the_collector_is_back_on():
    with matching.collector_paused():
        outside = [[i] for i in range(100)]
    assert gc.get_freeze_count() == 0 and gc.isenabled() and outside  # outside a run nothing is frozen
    with matching.index_frozen():
        before = gc.get_freeze_count()
        with matching.collector_paused():
            built = [[i] for i in range(100)]
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() >= before + len(built)
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_fields_limit_the_values_but_not_the_header(tmp_path):
    path = write_export(tmp_path / "e.csv", [export_row(name="孙明", id_number="530302198801014111")])
    with reading.open_export(path, fields=("gender",)) as reader:
        rows = list(reader)
        assert set(reader.export.headers) == set(DEFAULT_COLUMNS)
    assert set(rows[0].values) == {"gender", *reading.REQUIRED}
    assert rows[0].values == {k: v for k, v in read_export(path).rows[0].values.items() if k in rows[0].values}


def test_the_name_key_shortcut_is_the_plain_clean_up():
    names = ["王建国", "阿卜杜·热合曼", "阿卜杜.热合曼", "阿卜杜．热合曼", "王 建国", "王\u3000建国", "Ｗａｎｇ",
             "Wang Jianguo", "ﾜﾝ", "㍿", "王建国\t", "", "李•强", "ǅ", "x\u0301", "é", "𠀀𠀁"]
    for name in names:
        assert matching.name_key(name) == matching._NAME_NOISE.sub("", unicodedata.normalize("NFKC", name)), name


@pytest.mark.django_db
def test_remembered_texts_are_gettext_in_the_language_of_the_run():
    message = "The places of control differ."
    for language in ("zh-hans", "en", "zh-hans"):
        with translation.override(language):
            with matching.texts_remembered():
                assert matching._(message) == matching._(message) == gettext(message)
            assert matching._(message) == gettext(message)
    with translation.override("zh-hans"):
        assert matching._(message) != message  # the catalogue has it: the test compares two languages


def test_the_pinyin_screen_only_skips_names_that_cannot_agree():
    pairs = [("王建国", "汪建国"), ("张伟", "章伟"), ("李强", "李强强"), ("陈丽", "程丽"), ("刘洋", "刘阳"),
             ("赵强", "周强")]
    for a, b in pairs:
        if not matching._may_sound_alike(a, b):
            assert matching.name_agreement(a, b) is None


# --- streaming and batches -----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8", "utf-8-sig"])
def test_blocks_cut_anywhere_give_the_lines_of_the_whole_file(encoding):
    text = ("序号,姓名,备注\r\n1,王建国,\"两行\r\n的备注\"\r\n\r\n2,𠀀𠀁,x\n3,阿卜杜·热合曼,\"a\rb\"\r4,李,\r\n"
            "5,张,\"\"\"引号\"\"\"\r\r\n6,刘,最后一行没有换行")
    data = text.encode(encoding)
    whole = list(csv.reader(io.StringIO(data.decode(encoding), newline="")))
    for size in (1, 2, 3, 5, 7, 64, 1 << 18):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(reading, "BLOCK_BYTES", size)
            rows = list(csv.reader(itertools.chain.from_iterable(reading._text(io.BytesIO(data), encoding))))
        assert rows == whole, size
    cr_only = "\r".join(f"{i},王{i}" for i in range(100)).encode(encoding)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reading, "BLOCK_BYTES", 16)
        blocks = list(reading._text(io.BytesIO(cr_only), encoding))
    assert max(len(block.getvalue()) for block in blocks) < 32  # a file with CR line ends is not held whole
    assert list(csv.reader(itertools.chain.from_iterable(blocks))) == [[str(i), f"王{i}"] for i in range(100)]


def test_a_nul_byte_late_in_the_file_refuses_it(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "SNIFF_BYTES", 256)
    monkeypatch.setattr(reading, "BLOCK_BYTES", 512)
    rows = [export_row(name=f"某{i}", id_number="530302198801014111") for i in range(50)]
    path = write_export(tmp_path / "e.csv", rows)
    path.write_bytes(path.read_bytes() + b"51,\x00\x00,\r\n")
    with reading.open_export(path) as reader, pytest.raises(ReconcileFileError) as caught:
        for _row in reader:
            pass
    assert caught.value.message == reading._NOT_BINARY


@pytest.mark.django_db
def test_the_command_keeps_no_finding_in_memory_and_writes_the_same_report(someone, places, tmp_path):
    other = factories.person(places["township"], name="刘洋", status=Status.ISOLATION)
    path = write_export(tmp_path / "e.csv", [export_row(someone), None, export_row(name="孙明",
                                                                                  id_number="530302198801014111")])
    kept = report.run(path, out=tmp_path / "a.csv")
    streamed = report.run(path, out=tmp_path / "b.csv", keep_findings=False)
    assert streamed.findings == [] and streamed.counts == kept.counts
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert kept.counts["missing_in_police"] == 1 and (None, str(other.pk)) in {
        (f.police_row, f.person_id) for f in kept.findings}
    assert streamed.export.row_count == 2


@pytest.mark.django_db
def test_a_bad_byte_late_in_the_file_refuses_it_whole(someone, tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "SNIFF_BYTES", 256)  # so the bad byte lies beyond what the sniffing reads
    rows = [export_row(someone)] + [export_row(name=f"某{i}", id_number="530302198801014111") for i in range(50)]
    path = write_export(tmp_path / "e.csv", rows, encoding="utf-8")
    path.write_bytes(path.read_bytes() + "51,坏".encode("gb18030") + b"\xff\xfe,\r\n")
    audits = AuditEntry.objects.count()
    with pytest.raises(ReconcileFileError, match="not valid UTF-8"):
        report.run(path, out=tmp_path / "report.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]  # no report, no temporary file
    assert AuditEntry.objects.count() == audits


@pytest.mark.django_db
def test_findings_are_stored_in_batches_and_a_late_failure_removes_them(someone, places, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    worker = factories.user("city_worker", "community_worker", places["city"])
    others = [factories.person(places["township"], name=f"刘{c}") for c in "一二三四五"]
    rows = [export_row(p) for p in [someone, *others]]
    monkeypatch.setattr(services, "BULK", 2)
    monkeypatch.setattr(reading, "SNIFF_BYTES", 256)  # the bad byte lies beyond what the sniffing reads
    good = _csv_bytes(rows)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(worker, SimpleUploadedFile("e.csv", good))
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.findings.count() == 6
    assert list(run.findings.order_by("order").values_list("police_row", flat=True)) == [1, 2, 3, 4, 5, 6]
    bad = good + "7,坏".encode("gb18030") + b"\x80\x80\xff,\r\n"
    with django_capture_on_commit_callbacks(execute=True):
        failed = services.run_start(worker, SimpleUploadedFile("bad.csv", bad))
    failed.refresh_from_db()
    assert failed.state == RunState.FAILED and "GB18030" in failed.error
    assert not Finding.objects.filter(run=failed).exists()


def _csv_bytes(rows: list[dict]) -> bytes:
    import csv

    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(HEADER)
    for i, row in enumerate(rows, start=1):
        writer.writerow([i if name == "seq" else row.get(name, "") for name in DEFAULT_COLUMNS])
    return text.getvalue().encode("gb18030")


# --- access through the matrix --------------------------------------------------------------------


def _without(monkeypatch, role: str, action: str, add: bool = False) -> None:
    changed = copy.deepcopy(access.matrix())
    actions = changed["roles"][role]["actions"]
    if add:
        actions.append(action)
    else:
        actions.remove(action)
    monkeypatch.setattr(access, "matrix", lambda: changed)


@pytest.mark.django_db
def test_the_pages_follow_the_access_matrix(someone, places, monkeypatch, django_capture_on_commit_callbacks):
    worker = factories.user("city_worker", "community_worker", places["city"])
    leader = factories.user("city_leader", "leader", places["city"])
    outsider = factories.user("far_worker", "community_worker", places["other_county"])
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(worker, SimpleUploadedFile("e.csv", _csv_bytes([export_row(someone, status="服刑")])))
    finding = run.findings.get(category="status_mismatch")
    work = reverse("reconcile:work", args=[finding.pk, "dismiss"])
    # a role with run_reconcile but not work_findings: 403, audited
    denied = AuditEntry.objects.filter(action="access.denied").count()
    assert client_for(leader).get(reverse("reconcile:run", args=[run.pk])).status_code == 200
    assert client_for(leader).post(work, {"reason": "x"}).status_code == 403
    assert AuditEntry.objects.filter(action="access.denied").count() == denied + 1
    # out of reach: 404 before any action check
    assert client_for(outsider).get(reverse("reconcile:run", args=[run.pk])).status_code == 404
    assert client_for(outsider).post(work, {"reason": "x"}).status_code == 404
    # the matrix decides, not a list of roles: take run_reconcile from community workers ...
    _without(monkeypatch, "community_worker", "run_reconcile")
    assert client_for(worker).get(reverse("reconcile:index")).status_code == 403
    assert client_for(worker).get(reverse("reconcile:run", args=[run.pk])).status_code == 403
    with pytest.raises(PermissionDenied):
        services.run_start(worker, SimpleUploadedFile("e.csv", b"x"))
    # ... and give work_findings to leaders
    monkeypatch.undo()
    _without(monkeypatch, "leader", "work_findings", add=True)
    assert client_for(leader).post(work, {"reason": "已核实"}).status_code == 302
    finding.refresh_from_db()
    assert finding.resolution == "dismissed"


@pytest.mark.django_db
def test_services_refuse_a_role_without_work_findings(someone, places, django_capture_on_commit_callbacks):
    worker = factories.user("city_worker", "community_worker", places["city"])
    leader = factories.user("city_leader", "leader", places["city"])
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(worker, SimpleUploadedFile("e.csv", _csv_bytes([export_row(someone, status="服刑")])))
    finding = run.findings.get(category="status_mismatch")
    for call in (lambda: services.finding_dismiss(finding, leader, "x"),
                 lambda: services.finding_keep_ours(finding, leader),
                 lambda: services.finding_accept_police(finding, leader)):
        with pytest.raises(PermissionDenied):
            call()
    finding.refresh_from_db()
    assert finding.resolution == "open"


# --- stuck runs, labels -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stuck_run_is_marked_failed_and_can_be_retried(someone, places, django_capture_on_commit_callbacks):
    worker = factories.user("city_worker", "community_worker", places["city"])
    with django_capture_on_commit_callbacks(execute=False):  # queued, never executed: the worker died
        run = services.run_start(worker, SimpleUploadedFile("e.csv", _csv_bytes([export_row(someone)])))
    ReconcileRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, rows_done=1)
    Finding.objects.create(run=run, category="matched", fingerprint="x")  # a batch left behind
    client = client_for(worker)
    page = client.get(reverse("reconcile:run", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page  # recent: still shown as running
    old = timezone.now() - services.STALE_AFTER - timedelta(minutes=1)
    ReconcileRun.objects.filter(pk=run.pk).update(heartbeat_at=old)
    page = client.get(reverse("reconcile:run", args=[run.pk])).content.decode()
    run.refresh_from_db()
    assert run.state == RunState.FAILED and "stopped without finishing" in run.error
    assert 'data-testid="retry"' in page and not run.findings.exists()
    assert AuditEntry.objects.filter(action="reconcile.expired").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reconcile:retry", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.counts["matched"] == 1 and run.findings.count() == 1
    assert AuditEntry.objects.filter(action="reconcile.retried", actor=worker).exists()
    # a done run cannot be retried
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("reconcile:retry", args=[run.pk]))
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.findings.count() == 1


@pytest.mark.django_db
def test_the_run_page_shows_labels_not_codes(someone, places, django_capture_on_commit_callbacks):
    worker = factories.user("city_worker", "community_worker", places["city"])
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_start(worker, SimpleUploadedFile("e.csv", _csv_bytes([export_row(someone, status="服刑")])))
    html = client_for(worker).get(reverse("reconcile:run", args=[run.pk])).content.decode()
    cell = html.split('data-testid="registry-value">')[1].split("<")[0]
    assert cell == str(Status.COMMUNITY_REHAB.label) and "community_rehab" not in cell


# --- exports nobody planned for ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_bom_inside_a_header_cell_and_windows_line_endings(someone, tmp_path):
    header = ["\ufeff" + h if h in ("姓名", "管控状态") else h for h in HEADER]
    path = write_export(tmp_path / "e.csv", [export_row(someone)], encoding="utf-8-sig", header=header)
    assert b"\r\n" in path.read_bytes()
    findings = run_on(tmp_path, path)
    assert [f.category for f in findings] == ["matched"] and persons_of(findings) == {(1, str(someone.pk))}


@pytest.mark.django_db
def test_trailing_empty_columns_and_a_bare_cr(someone, tmp_path):
    row = export_row(someone)
    line = ",".join(["1", *(str(row[name]) for name in list(DEFAULT_COLUMNS)[1:])])
    path = tmp_path / "e.csv"
    path.write_bytes((",".join(HEADER) + ",,,\r\n" + line + ",,,\r").encode("gb18030"))  # the last line: a bare CR
    export = read_export(path)
    assert export.ignored_columns == [] and export.rows[0].get("status") == row["status"]
    assert [f.category for f in run_on(tmp_path, path)] == ["matched"]


def _xlsx(path: Path, rows: list[list], merge: list[str] = (), title: str = "") -> Path:
    book = Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    for cells in merge:
        sheet.merge_cells(cells)
    book.save(path)
    return path


def _cells(row: dict) -> list:
    return [row[name] for name in DEFAULT_COLUMNS]


@pytest.mark.django_db
def test_a_merged_title_row_is_refused_with_a_clear_message(someone, tmp_path):
    path = _xlsx(tmp_path / "e.xlsx", [_cells(export_row(someone))], title="公安动态管控人员名单")
    with pytest.raises(ReconcileFileError, match="姓名"):
        read_export(path)


@pytest.mark.django_db
def test_merged_cells_in_the_data_never_lend_a_value_to_the_next_row(someone, places, tmp_path):
    other = factories.person(places["township"], name="刘洋", status=Status.ISOLATION)
    rows = [_cells(export_row(someone)), _cells(export_row(other, status="", jurisdiction=""))]
    col = "ABCDEFGHIJK"[list(DEFAULT_COLUMNS).index("jurisdiction")]
    path = _xlsx(tmp_path / "e.xlsx", rows, merge=[f"{col}2:{col}3"])
    findings = run_on(tmp_path, path)
    assert persons_of(findings) == {(1, str(someone.pk)), (2, str(other.pk))}
    assert [f.category for f in findings if f.police_row == 2] == ["matched"]  # blank place: not compared


@pytest.mark.django_db
def test_a_birth_date_as_an_excel_serial_number(places, tmp_path):
    zhao = factories.person(places["township"], name="赵强", birth=date(1965, 6, 30), id_number="530302196506303050",
                            status=Status.ABSTINENT_3Y)
    serial = (date(1965, 6, 30) - date(1899, 12, 30)).days
    row = export_row(zhao, id_number="5.30302E+17", birth_date=serial)
    findings = run_on(tmp_path, _xlsx(tmp_path / "e.xlsx", [_cells(row)]))
    assert [(f.category, f.person_id) for f in findings if f.police_row] == [("matched_corrected_id", str(zhao.pk))]
    # the serial of another day does not confirm the person
    wrong = export_row(zhao, id_number="5.30302E+17", birth_date=serial + 1)
    findings = run_on(tmp_path, _xlsx(tmp_path / "f.xlsx", [_cells(wrong)]))
    assert persons_of(findings) == set() and findings[0].category == "invalid_row"


@pytest.mark.django_db
def test_an_id_with_a_lowercase_x(places, tmp_path):
    number = next(n for n in (idnumber.build("530302", date(1978, 8, 5), seq) for seq in range(2, 999, 2))
                  if n.endswith("X"))
    chen = factories.person(places["township"], name="陈丽", birth=date(1978, 8, 5), id_number=number)
    path = write_export(tmp_path / "e.csv", [export_row(chen, id_number=number.lower())])
    findings = run_on(tmp_path, path)
    assert [(f.category, f.person_id) for f in findings if f.police_row] == [("matched", str(chen.pk))]


@pytest.mark.django_db
def test_a_name_with_a_middle_dot(places, tmp_path):
    number = idnumber.build("530302", date(1988, 4, 2), 113)
    abdu = factories.person(places["township"], name="阿卜杜·热合曼", birth=date(1988, 4, 2), id_number=number)
    other_number = idnumber.build("530302", date(1988, 4, 2), 115)
    rows = [export_row(abdu, name="阿卜杜热合曼"),  # written without the dot: the same name
            # a wrong check character, the name with a full stop: corrected, confirmed
            export_row(abdu, name="阿卜杜.热合曼", id_number=number[:17] + ("0" if number[17] != "0" else "1")),
            export_row(name="阿卜杜·热合曼", id_number=other_number, birth_date="1988-04-02", gender="男")]
    findings = run_on(tmp_path, write_export(tmp_path / "e.csv", rows))
    by_row = {r: [f.category for f in findings if f.police_row == r] for r in (1, 2, 3)}
    assert by_row[1] == ["matched"]
    assert by_row[2] == ["duplicate_in_police"]  # the same person again, after correction
    assert by_row[3] == ["missing_in_registry"]  # a namesake with another valid number: never attached
    assert persons_of(findings) == {(1, str(abdu.pk)), (2, str(abdu.pk))}
    assert "阿卜杜·热合曼" in next(f.detail for f in findings if f.police_row == 3)  # listed as a candidate
