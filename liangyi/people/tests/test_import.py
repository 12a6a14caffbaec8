"""The person import: the engine, the ``import_persons`` command, the upload page and the template."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook, load_workbook

from liangyi.core import idnumber
from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.people import importer, views_import
from liangyi.people.importer import ImportFileError, import_persons
from liangyi.people.models import Person, TimelineEvent

DATA = Path(__file__).with_name("data")
SAMPLE = DATA / "persons_import_sample.csv"
HEADER = list(importer.COLUMNS)  # the Chinese headers, in the template's order


@pytest.fixture
def sample_places(places):
    """The sample's four townships: small_tree() has three of them."""
    factories.jurisdiction("530381002", "双河街道", places["other_county"])
    return places


@pytest.fixture
def admin(personas):
    return personas["admin"]


def person_row(*, name="刘红", birth=date(1988, 4, 2), seq=21, place="530302001", status="社区康复",
               **overrides) -> dict[str, object]:
    """A valid row of the template, by field name; ``seq`` odd = male."""
    number = idnumber.build(place[:6], birth, seq)
    row = {
        "name": name, "id_number": number, "gender": "男" if seq % 2 else "女", "birth_date": birth.isoformat(),
        "ethnicity": "彝族", "household_jurisdiction": place, "household_address": "某街道某路1号",
        "residence_jurisdiction": place, "residence_address": "某街道某路1号", "phone": "13900001111",
        "status": status,
    }
    row.update(overrides)
    return row


def csv_bytes(rows: list[dict[str, object]], *, encoding: str = "utf-8-sig", header: list[str] | None = None,
              blank_after: int | None = None) -> bytes:
    header = header or HEADER
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    for index, row in enumerate(rows):
        writer.writerow([row.get(importer.COLUMNS.get(h, h), "") for h in header])
        if blank_after is not None and index == blank_after:
            text.write("\r\n")
    return text.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]], header: list[str] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header or HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_sheet_xml(content: bytes, change) -> bytes:
    """The workbook with its first sheet's XML passed through ``change``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                changed = change(data)
                assert changed != data, "the sheet XML did not contain what the test expected"
                data = changed
            target.writestr(item, data)
    return out.getvalue()


def run(content: bytes | Path, actor, **kwargs) -> importer.ImportResult:
    source = content if isinstance(content, Path) else io.BytesIO(content)
    return import_persons(source, actor=actor, **kwargs)


def counts(result) -> tuple[int, int, int, int]:
    return result.created, result.updated, result.unchanged, result.rejected


def rejected(result) -> dict[int, dict[str, list[str]]]:
    return {r.row: r.errors for r in result.rejections}


def sample_with(row_index: int, field: str, value: str) -> bytes:
    """The shared sample with one cell changed (``row_index`` 0 = first data row)."""
    lines = list(csv.reader(io.StringIO(SAMPLE.read_text(encoding="utf-8-sig"))))
    lines[row_index + 1][lines[0].index(importer.HEADERS[field])] = value
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(lines)
    return text.getvalue().encode("utf-8-sig")


class TestTheSharedSample:
    def test_it_imports_five_persons(self, sample_places, admin):
        result = run(SAMPLE, admin)
        assert counts(result) == (5, 0, 0, 0)
        assert (result.file_format, result.encoding, result.rows) == ("csv", "utf-8-sig", 5)
        assert result.file_name == "persons_import_sample.csv"
        assert Person.objects.count() == 5
        statuses = dict(Person.objects.values_list("name", "status"))
        assert statuses == {"王建国": "community_rehab", "李秀英": "community_drug_rehab", "张伟": "awaiting_report",
                            "陈丽": "isolation", "赵强": "abstinent_3y"}
        chen = Person.objects.get(name="陈丽")
        assert (chen.id_number, chen.gender, chen.birth_date) == ("53038119780805028X", "F", date(1978, 8, 5))
        assert chen.jurisdiction_id == "530381002"
        assert TimelineEvent.objects.filter(kind="person.created").count() == 5
        assert AuditEntry.objects.filter(action="person.created", detail__via="import").count() == 5
        entry = AuditEntry.objects.get(action="person.import")
        assert entry.actor == admin
        assert (entry.detail["created"], entry.detail["updated"], entry.detail["rejected"]) == (5, 0, 0)

    def test_importing_it_again_changes_nothing(self, sample_places, admin):
        run(SAMPLE, admin)
        events, versions = TimelineEvent.objects.count(), dict(Person.objects.values_list("name", "version"))
        result = run(SAMPLE, admin)
        assert counts(result) == (0, 0, 5, 0)
        assert Person.objects.count() == 5
        assert TimelineEvent.objects.count() == events
        assert not AuditEntry.objects.filter(action="person.updated").exists()
        assert dict(Person.objects.values_list("name", "version")) == versions

    def test_a_changed_status_updates_exactly_that_person(self, sample_places, admin):
        run(SAMPLE, admin)
        result = run(sample_with(2, "status", "社区戒毒"), admin)
        assert counts(result) == (0, 1, 4, 0)
        zhang = Person.objects.get(name="张伟")
        assert (zhang.status, zhang.version) == ("community_drug_rehab", 2)
        assert set(Person.objects.exclude(pk=zhang.pk).values_list("version", flat=True)) == {1}
        updates = TimelineEvent.objects.filter(kind="person.updated")
        assert [e.person_id for e in updates] == [zhang.pk]
        assert AuditEntry.objects.get(action="person.updated").detail["fields"] == ["status"]

    def test_a_blank_optional_cell_keeps_the_stored_value(self, sample_places, admin):
        run(SAMPLE, admin)
        result = run(sample_with(0, "phone", ""), admin)
        assert counts(result) == (0, 0, 5, 0)
        assert Person.objects.get(name="王建国").phone == "13800000000"

    def test_a_blank_residence_code_means_the_household_one(self, sample_places, admin):
        run(SAMPLE, admin)
        person = Person.objects.get(name="王建国")
        person.residence_jurisdiction_id = person.jurisdiction_id = "530302002"
        person.save()
        result = run(sample_with(0, "residence_jurisdiction", ""), admin)
        assert counts(result) == (0, 1, 4, 0)
        person.refresh_from_db()
        assert (person.residence_jurisdiction_id, person.jurisdiction_id) == (None, "530302001")
        # and once it is so, the same blank is no change
        assert counts(run(sample_with(0, "residence_jurisdiction", ""), admin)) == (0, 0, 5, 0)

    def test_a_blank_residence_code_is_no_change_when_the_residence_is_the_household(self, sample_places, admin):
        run(SAMPLE, admin)  # the sample gives each residence code, equal to the household one
        assert counts(run(sample_with(0, "residence_jurisdiction", ""), admin)) == (0, 0, 5, 0)
        assert Person.objects.get(name="王建国").residence_jurisdiction_id == "530302001"


class TestRejectedRows:
    def test_bad_rows_are_rejected_with_their_row_numbers_and_good_rows_land(self, sample_places, admin):
        good = person_row(name="刘红", seq=21)
        wrong_check = person_row(name="周敏", seq=23)
        number = str(wrong_check["id_number"])
        wrong_check["id_number"] = number[:-1] + ("1" if number[-1] != "1" else "2")
        rows = [
            good,  # row 2
            wrong_check,  # row 3
            person_row(name="吴军", seq=25, household_jurisdiction="530399001", residence_jurisdiction=""),  # 4
            person_row(name="郑芳", seq=27, gender="女"),  # row 5: the ID says male
            person_row(name="孙磊", seq=29, status="在逃"),  # row 6
            person_row(name="钱进", seq=31),  # row 7
            person_row(name="刘红二", seq=21),  # row 8: the same ID as row 2
        ]
        with translation.override("en"):
            result = run(csv_bytes(rows), admin)
        assert counts(result) == (2, 0, 0, 5)
        assert set(Person.objects.values_list("name", flat=True)) == {"刘红", "钱进"}
        reasons = rejected(result)
        assert sorted(reasons) == [3, 4, 5, 6, 8]
        assert list(reasons[3]) == ["id_number"] and "check character" in reasons[3]["id_number"][0]
        assert list(reasons[4]) == ["household_jurisdiction"] and "530399001" in reasons[4]["household_jurisdiction"][0]
        assert list(reasons[5]) == ["gender"] and "does not agree with the ID number" in reasons[5]["gender"][0]
        assert list(reasons[6]) == ["status"] and "在逃" in reasons[6]["status"][0]
        assert list(reasons[8]) == ["id_number"] and "row 2" in reasons[8]["id_number"][0]

    def test_a_reason_names_the_column_as_the_file_does_and_the_id_is_masked(self, sample_places, admin):
        row = person_row(seq=23)
        row["id_number"] = str(row["id_number"])[:-1] + ("1" if str(row["id_number"])[-1] != "1" else "2")
        row["status"] = "?"
        with translation.override("en"):
            result = run(csv_bytes([row]), admin)
        (rejection,) = result.rejections
        assert (rejection.row, rejection.name, rejection.id_masked) == (2, "刘红", "")
        assert rejection.reasons[0].startswith("公民身份号码: The last character does not match")
        assert rejection.reasons[1].startswith("人员状态: Unknown status")

    def test_every_missing_required_cell_is_named(self, sample_places, admin):
        row = person_row(name="", status="", household_jurisdiction="", residence_jurisdiction="")
        result = run(csv_bytes([row]), admin)
        assert set(rejected(result)[2]) == {"name", "household_jurisdiction", "status"}
        assert result.rejections[0].id_masked == idnumber.mask(str(row["id_number"]))

    def test_a_name_longer_than_the_register_holds_is_rejected(self, sample_places, admin):
        result = run(csv_bytes([person_row(name="长" * 61)]), admin)
        assert set(rejected(result)[2]) == {"name"}
        assert not Person.objects.exists()

    def test_blank_rows_are_skipped_and_row_numbers_follow_the_spreadsheet(self, sample_places, admin):
        rows = [person_row(seq=21), person_row(seq=23, status="nonsense")]
        result = run(csv_bytes(rows, blank_after=0), admin)
        assert (result.rows, result.created) == (2, 1)
        assert list(rejected(result)) == [4]  # header 1, first person 2, blank 3

    def test_a_row_outside_the_workers_jurisdiction_is_rejected(self, sample_places, personas):
        rows = [person_row(seq=21), person_row(seq=23, place="530381001")]
        with translation.override("en"):
            result = run(csv_bytes(rows), personas["worker"])
        assert counts(result) == (1, 0, 0, 1)
        errors = rejected(result)[3]
        assert list(errors) == ["residence_jurisdiction"]
        assert "outside your jurisdiction" in errors["residence_jurisdiction"][0]
        assert Person.objects.get().jurisdiction_id == "530302001"

    def test_a_person_registered_outside_reach_is_not_taken_over(self, sample_places, personas):
        elsewhere = factories.person(sample_places["other_township"], name="冯刚")
        row = person_row(name="冯刚", id_number=elsewhere.id_number, gender="", birth_date="")
        with translation.override("en"):
            result = run(csv_bytes([row]), personas["worker"])
        assert counts(result) == (0, 0, 0, 1)
        assert "outside your jurisdiction" in rejected(result)[2]["id_number"][0]
        elsewhere.refresh_from_db()
        assert (elsewhere.jurisdiction_id, elsewhere.version) == ("530381001", 1)

    def test_a_role_without_import_is_refused_before_reading(self, sample_places, personas):
        with pytest.raises(DomainError):
            run(SAMPLE, personas["job_officer"])
        assert not Person.objects.exists()
        assert AuditEntry.objects.get(action="person.import").outcome == "denied"


class TestFormats:
    def test_a_gb18030_csv_without_bom(self, sample_places, admin):
        result = run(csv_bytes([person_row(name="欧阳娜", seq=22)], encoding="gb18030"), admin)
        assert (result.encoding, counts(result)) == ("gb18030", (1, 0, 0, 0))
        assert Person.objects.get().name == "欧阳娜"

    def test_a_utf8_csv_without_bom(self, sample_places, admin):
        result = run(csv_bytes([person_row(name="欧阳娜", seq=22)], encoding="utf-8"), admin)
        assert (result.encoding, counts(result)) == ("utf-8", (1, 0, 0, 0))

    def test_an_xlsx_with_numbers_where_excel_puts_them(self, sample_places, admin):
        number = idnumber.build("530302", date(1975, 6, 1), 33)
        legacy = 530302750601051  # 15 digits, born 1975-06-01: a double holds it exactly
        lost = idnumber.build("530302", date(1979, 9, 9), 35)  # stored as a double: the last digits are gone
        rows = [
            ["马超", "EXACT", "男", datetime(1975, 6, 1), "回族", 530302001, "地址", 530302001.0, "", 13800000001,
             "社区戒毒"],
            ["马云", legacy, "男", None, None, 530302001, None, None, None, None, "社区康复"],
            ["马腾", int(lost), None, None, None, 530302001, None, None, None, None, "社区康复"],
        ]
        # Some programs write an 18-digit number exactly (openpyxl and Excel write a double).
        content = with_sheet_xml(xlsx_bytes(rows), lambda xml: xml.replace(
            b'<c r="B2" t="inlineStr"><is><t>EXACT</t></is></c>', f'<c r="B2" t="n"><v>{number}</v></c>'.encode()))
        with translation.override("en"):
            result = run(content, admin)
        assert (result.file_format, counts(result)) == ("xlsx", (2, 0, 0, 1)), result.rejections
        ma = Person.objects.get(name="马超")
        assert (ma.id_number, ma.birth_date, ma.household_jurisdiction_id, ma.phone) == (
            number, date(1975, 6, 1), "530302001", "13800000001")
        assert Person.objects.get(name="马云").id_number == idnumber.upgrade_legacy(str(legacy))
        reasons = rejected(result)[4]["id_number"]
        assert any("floating-point" in reason for reason in reasons)

    def test_an_xlsx_imported_twice_is_unchanged(self, sample_places, admin):
        number = idnumber.build("530302", date(1975, 6, 1), 33)
        content = xlsx_bytes([["马超", number, "男", datetime(1975, 6, 1), "回族", 530302001, "地址",
                               530302001, "", 13800000001, "社区戒毒"]])
        run(content, admin)
        assert counts(run(content, admin)) == (0, 0, 1, 0)

    def test_lowercase_x_and_full_width_digits_are_normalised(self, sample_places, admin):
        with_x = next(n for seq in range(2, 999, 2)
                      if (n := idnumber.build("530302", date(1978, 8, 5), seq)).endswith("X"))
        plain = idnumber.build("530302", date(1990, 2, 3), 41)
        full_width = plain.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        rows = [person_row(name="甲", id_number=with_x.lower(), gender="女", birth_date=""),
                person_row(name="乙", id_number=full_width, gender="", birth_date="")]
        result = run(csv_bytes(rows), admin)
        assert counts(result) == (2, 0, 0, 0)
        assert dict(Person.objects.values_list("name", "id_number")) == {"甲": with_x, "乙": plain}
        # the same persons spelled the clean way are the same persons
        clean_rows = [dict(rows[0], id_number=with_x), dict(rows[1], id_number=plain)]
        assert counts(run(csv_bytes(clean_rows), admin)) == (0, 0, 2, 0)

    def test_a_fifteen_digit_legacy_number_is_converted(self, sample_places, admin):
        legacy = "530302850101203"
        result = run(csv_bytes([person_row(id_number=legacy, gender="男", birth_date="1985-01-01")]), admin)
        assert counts(result) == (1, 0, 0, 0)
        assert Person.objects.get().id_number == idnumber.upgrade_legacy(legacy)

    def test_english_headers_in_any_order_and_extra_columns_are_reported(self, sample_places, admin):
        header = [" status ", "Name", "备注", "id_number", "household_jurisdiction", "gender"]
        row = person_row(seq=21)
        text = io.StringIO()
        csv.writer(text).writerows([header, [row["status"], row["name"], "说明", row["id_number"],
                                             row["household_jurisdiction"], row["gender"]]])
        result = run(text.getvalue().encode(), admin)
        assert counts(result) == (1, 0, 0, 0)
        assert result.ignored_columns == ["备注"]


class TestUnreadableFiles:
    def test_a_missing_required_column_writes_nothing(self, sample_places, admin):
        header = [h for h in HEADER if h != "人员状态"]
        with pytest.raises(ImportFileError) as exc:
            run(csv_bytes([person_row()], header=header), admin)
        assert "人员状态" in exc.value.message and "status" in exc.value.message
        assert not Person.objects.exists()
        assert not TimelineEvent.objects.exists()
        assert AuditEntry.objects.get(action="person.import").outcome == "failed"

    def test_an_empty_file(self, sample_places, admin):
        for content in (b"", b"\xef\xbb\xbf", b"\r\n\r\n"):
            with pytest.raises(ImportFileError) as exc, translation.override("en"):
                run(content, admin)
            assert "empty" in exc.value.message

    def test_a_header_only_file_reads_as_zero_rows(self, sample_places, admin):
        result = run(csv_bytes([]), admin)
        assert (result.rows, counts(result)) == (0, (0, 0, 0, 0))

    def test_random_bytes_are_not_a_csv(self, sample_places, admin):
        noise = bytes((i * 7919 + 13) % 256 for i in range(4096))
        with pytest.raises(ImportFileError) as exc, translation.override("en"):
            run(noise, admin)
        assert "UTF-8" in exc.value.message or "binary" in exc.value.message
        assert not Person.objects.exists()

    def test_a_bad_byte_late_in_the_file_refuses_the_whole_file(self, sample_places, admin):
        content = csv_bytes([person_row(seq=21)], encoding="utf-8") + "周,".encode("gb18030") + b"\xff\xfe\r\n"
        with pytest.raises(ImportFileError):
            run(content, admin)
        assert not Person.objects.exists()

    def test_a_damaged_workbook(self, sample_places, admin):
        content = xlsx_bytes([])
        with pytest.raises(ImportFileError):
            run(content[: len(content) // 2], admin)

    def test_an_old_xls_file(self, sample_places, admin):
        with pytest.raises(ImportFileError) as exc, translation.override("en"):
            run(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, admin)
        assert ".xlsx" in exc.value.message

    def test_a_column_given_twice(self, sample_places, admin):
        with pytest.raises(ImportFileError) as exc:
            run(csv_bytes([], header=[*HEADER, "name"]), admin)
        assert "姓名" in exc.value.message


class TestDryRun:
    def test_it_counts_what_would_happen_and_writes_nothing(self, sample_places, admin):
        result = run(SAMPLE, admin, dry_run=True)
        assert counts(result) == (5, 0, 0, 0) and result.dry_run
        assert not Person.objects.exists()
        assert not TimelineEvent.objects.exists()
        assert not AuditEntry.objects.filter(action__startswith="person.").exclude(action="person.import").exists()
        assert AuditEntry.objects.get(action="person.import").detail["dry_run"] is True

    def test_it_reports_updates_without_making_them(self, sample_places, admin):
        run(SAMPLE, admin)
        result = run(sample_with(2, "status", "社区戒毒"), admin, dry_run=True)
        assert counts(result) == (0, 1, 4, 0)
        assert Person.objects.get(name="张伟").status == "awaiting_report"
        assert not TimelineEvent.objects.filter(kind="person.updated").exists()

    def test_it_still_rejects_duplicates_within_the_file(self, sample_places, admin):
        result = run(csv_bytes([person_row(seq=21), person_row(seq=21)]), admin, dry_run=True)
        assert counts(result) == (1, 0, 0, 1)


def test_progress_is_reported_in_rows_done(sample_places, admin, monkeypatch):
    monkeypatch.setattr(importer, "PROGRESS_EVERY", 2)
    seen: list[int] = []
    run(csv_bytes([person_row(seq=s) for s in (21, 23, 25)]), admin, progress=seen.append)
    assert seen == [2, 3]


def command(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with translation.override("en"):
        call_command("import_persons", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class TestCommand:
    def test_it_prints_the_counts_and_each_rejected_row_and_exits_0(self, sample_places, admin, tmp_path):
        path = tmp_path / "persons.csv"
        path.write_bytes(csv_bytes([person_row(seq=21), person_row(seq=23, status="nonsense")]))
        out, _err = command(str(path))
        lines = out.splitlines()
        for expected in ("created: 1", "updated: 0", "unchanged: 0", "rejected: 1"):
            assert expected in lines
        (row_line,) = [line for line in lines if line.startswith("row ")]
        assert row_line.startswith("row 3 (刘红 530302********")
        assert "人员状态: Unknown status 'nonsense'" in row_line
        assert Person.objects.count() == 1
        entry = AuditEntry.objects.get(action="person.import")
        assert (entry.actor, entry.detail["created"], entry.detail["rejected"]) == (admin, 1, 1)

    def test_the_dry_run_saves_nothing(self, sample_places, admin):
        out, _err = command(str(SAMPLE), "--dry-run")
        assert "created: 5" in out.splitlines()
        assert not Person.objects.exists()

    def test_user_applies_that_users_jurisdiction(self, sample_places, personas):
        out, _err = command(str(SAMPLE), "--user", "worker")
        assert "created: 2" in out.splitlines() and "rejected: 3" in out.splitlines()
        assert set(Person.objects.values_list("name", flat=True)) == {"王建国", "赵强"}  # the worker's township
        assert [line.split(" ")[1] for line in out.splitlines() if line.startswith("row ")] == ["3", "4", "5"]

    @pytest.mark.parametrize("content", [b"", bytes(range(256)) * 8, "姓名,公民身份号码\r\n".encode()],
                             ids=["empty", "binary", "missing-columns"])
    def test_an_unreadable_file_exits_2(self, sample_places, admin, tmp_path, content):
        path = tmp_path / "bad.csv"
        path.write_bytes(content)
        with pytest.raises(CommandError) as exc:
            command(str(path))
        assert exc.value.returncode == 2
        assert "bad.csv" in str(exc.value)

    def test_a_missing_file_exits_2(self, db, tmp_path):
        with pytest.raises(CommandError) as exc:
            command(str(tmp_path / "nowhere.csv"))
        assert exc.value.returncode == 2 and "nowhere.csv" in str(exc.value)

    def test_without_an_administrator_it_says_how_to_make_one(self, sample_places, tmp_path):
        with pytest.raises(CommandError) as exc:
            command(str(SAMPLE))
        assert exc.value.returncode == 2 and "createsuperuser" in str(exc.value)
        assert not Person.objects.exists()

    def test_an_unknown_user_or_one_without_import_exits_2(self, sample_places, personas):
        for username in ("nobody", "job_officer"):
            with pytest.raises(CommandError) as exc:
                command(str(SAMPLE), "--user", username)
            assert exc.value.returncode == 2
        assert not Person.objects.exists()

    def test_the_process_exit_code_and_stderr(self, tmp_path):
        """The real command line: exit status 2 and the reason on stderr (no database needed for this)."""
        missing = tmp_path / "nowhere.csv"
        env = {**os.environ, "LIANGYI_VAR_DIR": str(tmp_path)}
        done = subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
            [sys.executable, "manage.py", "import_persons", str(missing)], cwd=settings.BASE_DIR,
            capture_output=True, text=True, env=env, timeout=120, check=False)
        assert done.returncode == 2
        assert "nowhere.csv" in done.stderr and done.stdout == ""


def upload(name: str, content: bytes, **extra) -> dict[str, object]:
    return {"file": SimpleUploadedFile(name, content), **extra}


def shown_count(page: str, key: str) -> int:
    found = re.search(rf'data-testid="count-{key}">(?:<span[^>]*>)?(\d+)<', page)
    assert found, f"no {key} count on the page"
    return int(found.group(1))


def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


class TestUploadPage:
    url = reverse("people:import")

    def test_anonymous_is_sent_to_the_login_page(self, client_as, db):
        for response in (client_as(None).get(self.url), client_as(None).post(self.url)):
            assert response.status_code == 302
            assert response.url.startswith(reverse("core:login"))

    def test_a_role_without_import_gets_403(self, client_as, personas):
        client = client_as(personas["job_officer"])
        assert client.get(self.url).status_code == 403
        response = client.post(self.url, upload("a.csv", csv_bytes([person_row()])))
        assert response.status_code == 403
        assert not Person.objects.exists()
        assert client.get(reverse("people:import_template", args=["csv"])).status_code == 403

    @pytest.fixture(autouse=True)
    def _capture(self, django_capture_on_commit_callbacks):
        self.capture = django_capture_on_commit_callbacks

    def upload(self, client, data):
        """Post the file (the import is queued when the upload commits), then open the run's page."""
        with self.capture(execute=True):
            response = client.post(self.url, data)
        assert response.status_code == 302
        assert response.url.startswith(self.url)  # the run's own page
        return client.get(response.url)

    def test_the_page_offers_the_form_and_the_templates(self, client_as, personas):
        page = client_as(personas["worker"]).get(self.url).content.decode()
        assert 'type="file"' in page and 'name="dry_run"' in page
        assert reverse("people:import_template", args=["xlsx"]) in page
        assert reverse("people:import_template", args=["csv"]) in page

    def test_a_worker_uploads_and_sees_the_counts_and_the_rejected_row(self, client_as, personas, sample_places):
        outside = person_row(name="宣威人", seq=23, place="530381001")
        content = csv_bytes([person_row(seq=21), person_row(name="错状态", seq=25, status="nonsense"), outside])
        response = self.upload(english(client_as(personas["worker"])), upload("学员名单.csv", content))
        assert response.status_code == 200
        page = response.content.decode()
        assert "学员名单.csv" in page
        assert [shown_count(page, key) for key in ("created", "updated", "unchanged", "rejected")] == [1, 0, 0, 2]
        assert 'data-row="3"' in page and 'data-row="4"' in page
        assert "错状态" in page and "outside your jurisdiction" in page
        number = str(outside["id_number"])
        assert idnumber.mask(number) in page and number not in page
        assert Person.objects.get().name == "刘红"

    def test_check_only_saves_nothing(self, client_as, personas, sample_places):
        response = self.upload(client_as(personas["worker"]), upload("a.csv", csv_bytes([person_row()]),
                                                                     dry_run="on"))
        assert 'data-testid="dry-run"' in response.content.decode()
        assert shown_count(response.content.decode(), "created") == 1
        assert not Person.objects.exists()

    def test_an_unreadable_upload_is_a_form_error_naming_the_file(self, client_as, personas, sample_places):
        response = self.upload(english(client_as(personas["worker"])), upload("名单.csv", b"\x00\xff" * 300))
        page = response.content.decode()
        assert response.status_code == 200
        assert "名单.csv cannot be imported" in page
        assert 'data-testid="import-result"' not in page

    def test_a_file_over_the_limit_is_refused(self, client_as, personas, sample_places, monkeypatch):
        monkeypatch.setattr(views_import, "MAX_UPLOAD_MB", 0)
        response = english(client_as(personas["worker"])).post(self.url, upload("big.csv", csv_bytes([person_row()])))
        assert "the limit is 0 MB" in response.content.decode()
        assert not Person.objects.exists()

    def test_an_xlsx_upload(self, client_as, personas, sample_places):
        row = person_row(seq=21)
        content = xlsx_bytes([[row[name] for name in importer.FIELDS]])
        response = self.upload(client_as(personas["worker"]), upload("名单.xlsx", content))
        assert shown_count(response.content.decode(), "created") == 1


class TestTemplateDownload:
    def test_the_csv_template_has_a_bom_the_chinese_headers_and_an_example(self, client_as, personas,
                                                                         sample_places):
        response = client_as(personas["worker"]).get(reverse("people:import_template", args=["csv"]))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == HEADER and len(rows) == 2
        # the template imports as it stands
        assert counts(run(response.content, personas["worker"])) == (1, 0, 0, 0)

    def test_the_xlsx_template(self, client_as, personas, sample_places):
        response = client_as(personas["worker"]).get(reverse("people:import_template", args=["xlsx"]))
        assert response.status_code == 200
        sheet = load_workbook(io.BytesIO(response.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == HEADER and len(rows) == 2
        assert isinstance(rows[1][1], str) and len(rows[1][1]) == 18
        assert counts(run(response.content, personas["worker"])) == (1, 0, 0, 0)

    def test_another_format_is_404(self, client_as, personas):
        assert client_as(personas["worker"]).get(reverse("people:import_template", args=["xls"])).status_code == 404

    def test_anonymous_is_sent_to_the_login_page(self, client_as, db):
        response = client_as(None).get(reverse("people:import_template", args=["csv"]))
        assert response.status_code == 302
