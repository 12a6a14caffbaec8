"""The police-export reconciliation: reading, matching without guessing, the report and the command."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook

from liangyi.core import idnumber
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.people.importer import import_persons
from liangyi.people.models import Person, Status
from liangyi.reconcile import matching, report
from liangyi.reconcile.matching import CATEGORIES
from liangyi.reconcile.reading import DEFAULT_COLUMNS, ReconcileFileError, read_export

DATA = Path(__file__).with_name("data")
HEADER = list(DEFAULT_COLUMNS.values())


# --- helpers -----------------------------------------------------------------------------------


def export_row(person: Person | None = None, **values) -> dict[str, object]:
    """A clean export row for a registered person (or an empty one), by field name."""
    row = dict.fromkeys(DEFAULT_COLUMNS, "")
    if person is not None:
        row.update(name=person.name, gender="男" if person.gender == "M" else "女", id_number=person.id_number,
                   birth_date=person.birth_date.isoformat(), unit="示例派出所", jurisdiction=person.jurisdiction_id,
                   status={Status.AWAITING_REPORT: "社区戒毒", Status.SUSPENDED: "拘留"}.get(person.status)
                   or matching_label(person.status),
                   updated_at="2026-11-20 09:00:00")
    row.update(values)
    return row


def matching_label(status: str) -> str:
    return next(label for label, code in matching.POLICE_STATUS.items() if code == status)


def write_export(path: Path, rows: list[dict | None], *, encoding: str = "gb18030", header=HEADER) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for i, row in enumerate(rows, start=1):
        if row is None:
            buffer.write("\r\n")  # a blank line
            continue
        writer.writerow([i if name == "seq" else row.get(name, "") for name in DEFAULT_COLUMNS])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def compare(tmp_path: Path, rows: list[dict | None], **kw) -> list[matching.Finding]:
    path = write_export(tmp_path / "export.csv", rows)
    result = report.run(path, out=tmp_path / "report.csv", **kw)
    return result.findings


def cats(findings, row: int | None = None) -> list[str]:
    return [f.category for f in findings if row is None or f.police_row == row]


def read_report(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


@pytest.fixture
def admin(personas):
    return personas["admin"]


@pytest.fixture
def registry(places, admin):
    """The shared sample's five persons, imported through the person importer (so through the services)."""
    factories.jurisdiction("530381002", "双河街道", places["other_county"])
    result = import_persons(DATA / "persons_import_sample.csv", actor=admin)
    assert result.created == 5 and result.rejected == 0
    return {p.name: p for p in Person.objects.all()}


@pytest.fixture
def someone(places):
    return factories.person(places["township"], name="王建国", birth=date(1970, 3, 12),
                            id_number="530302197003121014", status=Status.COMMUNITY_REHAB)


# --- the shared sample, row by row -------------------------------------------------------------


@pytest.mark.django_db
def test_the_shared_sample_row_by_row(registry, tmp_path):
    out = tmp_path / "sample.reconcile.csv"
    result = report.run(DATA / "police_export_sample.csv", out=out)
    assert result.export.encoding == "gb18030"
    rows = read_report(out)
    by_row: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_row.setdefault(r["police_row"], []).append(r)
    wang, li, zhang, chen, zhao = (registry[n] for n in ("王建国", "李秀英", "张伟", "陈丽", "赵强"))

    def one(row: str) -> dict[str, str]:
        assert len(by_row[row]) == 1, by_row[row]
        return by_row[row][0]

    # 1: clean and agreeing
    assert one("1") | {} == {**one("1"), "category": "matched", "person_id": str(wang.pk),
                             "id_number": "530302197003121014"}
    # 2: full-width digits are only spelling: an exact match; the status disagrees (社区戒毒 vs 社区康复)
    r = one("2")
    assert (r["category"], r["person_id"], r["field"], r["registry_value"], r["police_value"]) == (
        "status_mismatch", str(li.pk), "status", "community_drug_rehab", "社区康复")
    assert r["id_number"] == "530302198511201023"
    # 3: 15-digit legacy number, traditional-character name 張偉; awaiting_report agrees with 社区康复
    r = one("3")
    assert (r["category"], r["person_id"], r["id_number"], r["police_value"]) == (
        "matched_corrected_id", str(zhang.pk), "530381199201012032", "530381920101203")
    assert "15-digit number upgraded" in r["detail"]
    # 4: lowercase x is only spelling; the place of control disagrees
    r = one("4")
    assert (r["category"], r["person_id"], r["registry_value"], r["police_value"], r["id_number"]) == (
        "jurisdiction_mismatch", str(chen.pk), "530381002", "530381001", "53038119780805028X")
    # 5: an Excel float; found by name, birth date, gender and place; status 戒断三年未发现复吸 agrees
    r = one("5")
    assert (r["category"], r["person_id"], r["id_number"], r["police_value"]) == (
        "matched_corrected_id", str(zhao.pk), "530302196506303050", "5.30302E+17")
    assert "Excel number" in r["detail"]
    # 6: a valid number nobody is registered under
    r = one("6")
    assert (r["category"], r["person_id"], r["id_number"]) == ("missing_in_registry", "", "530302198801014111")
    # 7: row 1 again
    r = one("7")
    assert (r["category"], r["person_id"]) == ("duplicate_in_police", str(wang.pk))
    assert "row 1" in r["detail"]
    # 8: the (almost) blank row: no name, ID "不详"
    r = one("8")
    assert r["category"] == "invalid_row" and r["id_number"] == "不详"
    assert r["detail"].startswith("The ID number cannot be read: The ID number must have 18 characters")
    assert "  " not in r["detail"]
    # nobody under active measures is missing (赵强 is abstinent_3y, not active)
    assert "" not in by_row
    assert result.counts == {"matched": 1, "matched_corrected_id": 2, "status_mismatch": 1,
                             "jurisdiction_mismatch": 1, "name_mismatch": 0, "missing_in_registry": 1,
                             "missing_in_police": 0, "duplicate_in_police": 1, "invalid_row": 1}


# --- recovery of damaged numbers ---------------------------------------------------------------


@pytest.mark.django_db
def test_wrong_check_character_is_recovered_with_corroboration(someone, tmp_path):
    damaged = "53030219700312101X"
    findings = compare(tmp_path, [export_row(someone, id_number=damaged)])
    assert cats(findings) == ["matched_corrected_id"]
    f = findings[0]
    assert (f.person_id, f.id_number, f.police_value) == (str(someone.pk), "530302197003121014", damaged)
    assert "check character corrected" in f.detail


@pytest.mark.django_db
def test_one_mistyped_digit_is_recovered(someone, tmp_path):
    damaged = "530302197003121" + "9" + "14"  # digit 16 (0 → 9); check character kept
    assert not idnumber.is_valid(damaged)
    findings = compare(tmp_path, [export_row(someone, id_number=damaged)])
    assert cats(findings) == ["matched_corrected_id"]
    assert "digit 16 corrected (9 → 0)" in findings[0].detail


@pytest.mark.django_db
def test_transposed_digits_are_recovered(places, tmp_path):
    number = idnumber.build("530302", date(1983, 7, 14), 215)
    person = factories.person(places["township"], name="刘红", birth=date(1983, 7, 14), id_number=number)
    damaged = number[:6] + number[7] + number[6] + number[8:]
    assert not idnumber.is_valid(damaged)
    findings = compare(tmp_path, [export_row(person, id_number=damaged)])
    assert cats(findings) == ["matched_corrected_id"]
    assert "digits 7 and 8 transposed" in findings[0].detail


@pytest.mark.django_db
def test_a_damaged_number_with_a_different_name_is_not_matched(someone, tmp_path):
    findings = compare(tmp_path, [export_row(someone, id_number="53030219700312101X", name="李四")])
    assert cats(findings, 1) == ["invalid_row"]
    assert findings[0].person_id == ""
    assert "names differ" in findings[0].detail and str(someone.pk) in findings[0].detail
    # and the registry person is therefore missing from the police list
    assert cats(findings, None)[-1] == "missing_in_police"


@pytest.mark.django_db
def test_a_damaged_number_with_a_different_birth_date_or_gender_is_not_matched(someone, tmp_path):
    findings = compare(tmp_path, [export_row(someone, id_number="53030219700312101X", birth_date="1971-03-12"),
                                  export_row(someone, id_number="53030219700312101X", gender="女")])
    assert cats(findings, 1) == ["invalid_row"] and "birth dates differ" in findings[0].detail
    assert cats(findings, 2) == ["invalid_row"] and "genders differ" in findings[1].detail


@pytest.mark.django_db
def test_near_twins_are_never_matched_and_both_are_listed(places, tmp_path):
    """Two registered persons whose numbers differ in one digit (and so in the check character too):
    a damaged number one typo from each of them is ambiguous, whatever the names say."""
    born = date(1990, 2, 3)
    a_number, b_number = idnumber.build("530302", born, 101), idnumber.build("530302", born, 103)
    assert a_number[:16] == b_number[:16] and a_number[17] != b_number[17]
    a = factories.person(places["township"], name="杨帆", birth=born, id_number=a_number)
    b = factories.person(places["township"], name="杨帆", birth=born, id_number=b_number)
    damaged = a_number[:17] + b_number[17]  # a's digits with b's check character
    assert not idnumber.is_valid(damaged)
    findings = compare(tmp_path, [export_row(a, id_number=damaged)])
    row = [f for f in findings if f.police_row == 1]
    assert [f.category for f in row] == ["invalid_row"]
    assert row[0].person_id == ""
    assert "ambiguous" in row[0].detail
    assert str(a.pk) in row[0].detail and str(b.pk) in row[0].detail
    assert sorted(f.person_id for f in findings if f.category == "missing_in_police") == sorted([str(a.pk),
                                                                                                 str(b.pk)])


@pytest.mark.django_db
def test_near_twins_with_different_names_are_still_ambiguous(places, tmp_path):
    born = date(1990, 2, 3)
    a_number, b_number = idnumber.build("530302", born, 101), idnumber.build("530302", born, 103)
    a = factories.person(places["township"], name="杨帆", birth=born, id_number=a_number)
    factories.person(places["township"], name="周杰", birth=born, id_number=b_number)
    findings = compare(tmp_path, [export_row(a, id_number=a_number[:17] + b_number[17])])
    assert cats(findings, 1) == ["invalid_row"]


@pytest.mark.django_db
def test_a_damaged_number_one_typo_from_nobody_is_an_invalid_row(someone, tmp_path):
    findings = compare(tmp_path, [export_row(name="孙明", id_number="11010519491231002X".replace("X", "1"))])
    assert cats(findings, 1) == ["invalid_row"]
    assert "check character" in findings[0].detail


@pytest.mark.django_db
def test_legacy_number_with_a_different_name_is_not_matched(places, tmp_path):
    person = factories.person(places["township"], name="张伟", birth=date(1992, 1, 1),
                              id_number="530381199201012032")
    findings = compare(tmp_path, [export_row(person, id_number="530381920101203", name="李强")])
    assert cats(findings, 1) == ["missing_in_registry"]
    assert str(person.pk) in findings[0].detail


@pytest.mark.django_db
def test_pinyin_equal_name_corroborates_but_is_reported(someone, tmp_path):
    findings = compare(tmp_path, [export_row(someone, id_number="53030219700312101X", name="汪建国")])
    # 王 wang2 / 汪 wang1 differ in tone: toned pinyin does not confirm it
    assert cats(findings) == ["invalid_row", "missing_in_police"]
    # 囯 (a variant, not a traditional form) reads guo2 like 国: confirmed, and the spelling reported
    findings = compare(tmp_path, [export_row(someone, id_number="53030219700312101X", name="王建囯")])
    assert cats(findings) == ["matched_corrected_id", "name_mismatch"]
    assert findings[1].detail == "The names sound alike but are written differently."


# --- Excel floats ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_excel_float_needs_the_place_to_agree(someone, tmp_path):
    findings = compare(tmp_path, [export_row(someone, id_number="5.30302E+17", jurisdiction="530381001")])
    assert cats(findings, 1) == ["invalid_row"]
    assert "place of control does not confirm" in findings[0].detail


@pytest.mark.django_db
def test_excel_float_with_two_fitting_persons_is_ambiguous(places, tmp_path):
    born = date(1970, 3, 12)
    # sequences whose check characters are digits: a number ending in X is never turned into a float
    a = factories.person(places["township"], name="王建国", birth=born, id_number=idnumber.build("530302", born, 201))
    b = factories.person(places["township"], name="王建國", birth=born, id_number=idnumber.build("530302", born, 303))
    findings = compare(tmp_path, [export_row(a, id_number="5.30302E+17")])
    assert cats(findings, 1) == ["invalid_row"]
    assert "2 registered persons fit" in findings[0].detail
    assert str(a.pk) in findings[0].detail and str(b.pk) in findings[0].detail


@pytest.mark.django_db
def test_excel_float_whose_digits_disagree_is_not_matched(someone, tmp_path):
    findings = compare(tmp_path, [export_row(someone, id_number="5.30381E+17")])
    assert cats(findings, 1) == ["invalid_row"]


@pytest.mark.django_db
def test_xlsx_export_with_a_numeric_id_cell(someone, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    row = export_row(someone)
    row["id_number"] = float(someone.id_number)  # what Excel stores
    sheet.append([1 if n == "seq" else row[n] for n in DEFAULT_COLUMNS])
    path = tmp_path / "export.xlsx"
    book.save(path)
    result = report.run(path, out=tmp_path / "r.csv")
    assert result.export.file_format == "xlsx"
    assert [(f.category, f.person_id, f.id_number) for f in result.findings] == [
        ("matched_corrected_id", str(someone.pk), "530302197003121014")]


# --- exact matches and their comparisons -------------------------------------------------------


@pytest.mark.django_db
def test_spelling_of_the_number_is_not_damage(someone, tmp_path):
    findings = compare(tmp_path, [export_row(someone, id_number="５３０３０２ 1970 0312 1014", name="王 建國")])
    assert cats(findings) == ["matched"]


@pytest.mark.django_db
def test_same_number_different_name(someone, tmp_path):
    findings = compare(tmp_path, [export_row(someone, name="王建军")])
    assert [(f.category, f.registry_value, f.police_value) for f in findings] == [
        ("name_mismatch", "王建国", "王建军")]


@pytest.mark.django_db
@pytest.mark.parametrize(("registry", "police", "agrees"), [
    (Status.SUSPENDED, "拘留", True), (Status.SUSPENDED, "逮捕", True), (Status.AWAITING_REPORT, "社区戒毒", True),
    (Status.AWAITING_REPORT, "社区康复", True), (Status.ISOLATION, "社区戒毒", False),
    (Status.WHEREABOUTS_UNKNOWN, "失控", True), (Status.COMMUNITY_REHAB, "死亡", False),
    (Status.COMMUNITY_REHAB, "不明状态", False), (Status.COMMUNITY_REHAB, "", True),
])
def test_status_mapping(places, tmp_path, registry, police, agrees):
    person = factories.person(places["township"], status=registry)
    findings = compare(tmp_path, [export_row(person, status=police)])
    assert cats(findings) == (["matched"] if agrees else ["status_mismatch"])


@pytest.mark.django_db
@pytest.mark.parametrize(("police", "agrees"), [
    ("530302001", True), ("530302001001", True), ("530302", True), ("", True), ("530302002", False),
    ("530302002001", False),
])
def test_place_of_control_prefix_rule(places, tmp_path, police, agrees):
    person = factories.person(places["village"])  # registry: village 530302001001
    findings = compare(tmp_path, [export_row(person, jurisdiction=police)])
    assert cats(findings) == (["matched"] if agrees else ["jurisdiction_mismatch"])


@pytest.mark.django_db
def test_several_findings_for_one_person(someone, tmp_path):
    findings = compare(tmp_path, [export_row(someone, status="服刑", jurisdiction="530381001", name="王建军")])
    assert cats(findings) == ["status_mismatch", "jurisdiction_mismatch", "name_mismatch"]


# --- the registry side -------------------------------------------------------------------------


@pytest.mark.django_db
def test_missing_in_police_only_active_and_within_scope(places, someone, tmp_path):
    other = factories.person(places["other_township"], name="刘洋", status=Status.ISOLATION)
    factories.person(places["township"], name="周敏", status=Status.COMPLETED)
    factories.person(places["township"], name="吴刚", status=Status.DECEASED)
    findings = compare(tmp_path, [export_row(someone)])
    missing = [f for f in findings if f.category == "missing_in_police"]
    assert [(f.person_id, f.police_row, f.id_number) for f in missing] == [(str(other.pk), None, other.id_number)]
    findings = compare(tmp_path, [export_row(someone)], scope="530302")
    assert cats(findings) == ["matched"]


@pytest.mark.django_db
def test_duplicates_report_the_later_rows(someone, places, tmp_path):
    findings = compare(tmp_path, [export_row(someone), export_row(name="孙明", id_number="530302198801014111"),
                                  export_row(someone, id_number="53030219700312101x"),
                                  export_row(name="孙明", id_number="530302198801014111")])
    assert [(f.police_row, f.category) for f in findings] == [
        (1, "matched"), (2, "missing_in_registry"), (3, "duplicate_in_police"), (4, "duplicate_in_police")]
    assert "row 1" in findings[2].detail and "row 2" in findings[3].detail


@pytest.mark.django_db
def test_invalid_rows(someone, tmp_path):
    findings = compare(tmp_path, [export_row(someone), None, export_row(name="某人", id_number="abc")])
    assert [(f.police_row, f.category) for f in findings] == [(1, "matched"), (3, "invalid_row")]
    assert "characters" in findings[1].detail
    # a row with cells (its 序号, a status) but neither name nor number
    findings = compare(tmp_path, [export_row(someone), export_row(status="社区戒毒")])
    assert [(f.police_row, f.category) for f in findings] == [(1, "matched"), (2, "invalid_row")]
    assert "neither an ID number nor a name" in findings[1].detail


@pytest.mark.django_db
def test_blank_lines_are_counted_in_police_row(someone, places, tmp_path):
    other = factories.person(places["township"], name="刘洋")
    findings = compare(tmp_path, [export_row(someone), None, None, export_row(other)])
    assert [(f.police_row, f.person_id) for f in findings] == [(1, str(someone.pk)), (4, str(other.pk))]


@pytest.mark.django_db
def test_utf8_with_and_without_bom(someone, tmp_path):
    for encoding in ("utf-8", "utf-8-sig"):
        path = write_export(tmp_path / f"{encoding}.csv", [export_row(someone)], encoding=encoding)
        result = report.run(path)
        assert result.export.encoding == encoding and cats(result.findings) == ["matched"]


@pytest.mark.django_db
def test_configured_column_names(someone, tmp_path, settings):
    settings.RECONCILE_COLUMNS = {"id_number": "身份证号", "status": "人员状态"}
    header = [{"公民身份号码": "身份证号", "管控状态": "人员状态"}.get(h, h) for h in HEADER]
    path = write_export(tmp_path / "e.csv", [export_row(someone)], header=header)
    assert cats(report.run(path).findings) == ["matched"]
    with pytest.raises(ReconcileFileError, match="身份证号"):
        report.run(write_export(tmp_path / "d.csv", [export_row(someone)]))


# --- files that cannot be read -----------------------------------------------------------------


BAD_FILES = {
    "empty": (b"", "empty"),
    "header only": (",".join(HEADER).encode("gb18030") + b"\r\n\r\n", "no data rows"),
    "utf-16": (",".join(HEADER).encode("utf-16") + "\r\n1,王建国".encode("utf-16-le"), "UTF-16"),
    "not text": (",".join(HEADER).encode() + b"\r\n1,\x80\x80\xff,\r\n", "neither UTF-8 nor GB18030"),
    "missing column": (",".join(h for h in HEADER if h != "管控状态").encode("gb18030") + b"\r\n1,x,y\r\n",
                       "管控状态"),
    "blank lines only": (b"\r\n\r\n", "empty"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_unreadable_files_are_refused_and_nothing_is_written(someone, tmp_path, case):
    content, message = BAD_FILES[case]
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ReconcileFileError, match=message):
        read_export(path)
    out = tmp_path / "report.csv"
    audits = AuditEntry.objects.count()
    with pytest.raises(CommandError) as caught:
        call_command("reconcile", str(path), "--out", str(out), stdout=io.StringIO(), stderr=io.StringIO())
    assert caught.value.returncode == 2
    assert message in str(caught.value)
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.csv"]
    assert AuditEntry.objects.count() == audits


# --- the report and the command ----------------------------------------------------------------


@pytest.mark.django_db
def test_report_format_mode_and_rerun_is_byte_identical(registry, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    report.run(DATA / "police_export_sample.csv", out=first)
    report.run(DATA / "police_export_sample.csv", out=second)
    assert first.read_bytes() == second.read_bytes()
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    raw = first.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert header == ["category", "police_row", "id_number", "person_id", "field", "registry_value",
                      "police_value", "detail"]
    # an existing, world-readable file is replaced by an owner-only one
    first.chmod(0o644)
    report.run(DATA / "police_export_sample.csv", out=first)
    assert stat.S_IMODE(first.stat().st_mode) == 0o600 and first.read_bytes() == second.read_bytes()


@pytest.mark.django_db
def test_the_streamed_report_is_the_csv_module_s(registry, tmp_path):
    result = report.run(DATA / "police_export_sample.csv", out=tmp_path / "r.csv")
    assert "matched" in {f.category for f in result.findings}
    assert (tmp_path / "r.csv").read_bytes() == report.render(result.findings)
    odd = [matching.Finding("matched", 7, "5303,02", 'a"b'), matching.Finding("matched", 8, "5303", "e1", detail="x"),
           matching.Finding("matched", 9, "530302197003121014", "8f0c-4e"), matching.Finding("matched", None, "X", "y")]
    with report._ReportFile(tmp_path / "odd.csv") as out:
        for f in odd:
            out.write([f])
    assert (tmp_path / "odd.csv").read_bytes() == report.render(odd)


@pytest.mark.django_db
def test_report_orders_missing_in_police_last(places, someone, tmp_path):
    factories.person(places["other_township"], name="刘洋", status=Status.ISOLATION)
    out = tmp_path / "r.csv"
    write_export(tmp_path / "e.csv", [export_row(name="孙明", id_number="530302198801014111"), export_row(someone)])
    report.run(tmp_path / "e.csv", out=out)
    assert [(r["category"], r["police_row"]) for r in read_report(out)] == [
        ("missing_in_registry", "1"), ("matched", "2"), ("missing_in_police", "")]


@pytest.mark.django_db
def test_command_prints_json_last_and_audits(registry, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    report_path = tmp_path / "report.csv"
    call_command("reconcile", str(DATA / "police_export_sample.csv"), "--out", str(report_path), stdout=out,
                 stderr=err)
    last = out.getvalue().strip().splitlines()[-1]
    counts = json.loads(last)
    assert list(counts) == list(CATEGORIES)
    assert counts["matched_corrected_id"] == 2 and counts["name_mismatch"] == 0
    assert "registry index" in err.getvalue()
    assert report_path.exists()
    entry = AuditEntry.objects.filter(action="reconcile.run").latest("pk")
    assert entry.actor_username == "reconcile"
    assert entry.detail["counts"] == counts


@pytest.mark.django_db
def test_command_default_report_path(someone, tmp_path):
    path = write_export(tmp_path / "export.csv", [export_row(someone)])
    call_command("reconcile", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert (tmp_path / "export.reconcile.csv").exists()


@pytest.mark.django_db
def test_command_missing_file(tmp_path):
    with pytest.raises(CommandError) as caught:
        call_command("reconcile", str(tmp_path / "nope.csv"), stdout=io.StringIO(), stderr=io.StringIO())
    assert caught.value.returncode == 2


# --- pure helpers ------------------------------------------------------------------------------


def test_corrections_cover_check_substitution_and_transposition():
    number = "530302197003121014"
    damaged = number[:17] + "X"
    found = dict(matching.corrections(damaged))
    assert number in found and "check character" in found[number]
    swapped = number[:9] + number[10] + number[9] + number[11:]
    if not idnumber.is_valid(swapped):
        assert number in dict(matching.corrections(swapped))
    # every candidate is a valid number one edit away
    for candidate, _how in matching.corrections("530302197003121914"):
        assert idnumber.is_valid(candidate)
        assert sum(a != b for a, b in zip(candidate, "530302197003121914", strict=True)) in (1, 2)


def test_excel_float_ranges():
    assert matching._excel_float("5.30302E+17") == (530302 * 10**12, 10**12)
    assert matching._excel_float("530302197003121014") is None
    value, unit = matching._excel_float(530302197003121014.0)
    assert unit == 1000 and abs(value - 530302197003121014) < unit
