"""The import page's background path: a queued run, its progress, its result, through Redis too."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.tasks import task_backends
from django.urls import reverse

from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.people import importer
from liangyi.people.models import ImportRun, Person
from liangyi.people.tests.test_import import csv_bytes, person_row

URL = reverse("people:import")


@pytest.fixture(autouse=True)
def uploads_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path / "imports"


def rows(n: int) -> bytes:
    return csv_bytes([person_row(name=f"刘{i}", seq=21 + 2 * i) for i in range(n)])


def start(actor, content: bytes, name: str = "名单.csv", **kwargs) -> ImportRun:
    return importer.import_start(actor=actor, upload=io.BytesIO(content), file_name=name, **kwargs)


class TestImportStart:
    def test_it_keeps_the_upload_privately_and_queues_the_run(self, personas, places, uploads_in_tmp):
        run = start(personas["worker"], rows(2))
        assert run.state == ImportRun.State.QUEUED
        stored = Path(run.stored_path)
        assert stored.parent == uploads_in_tmp
        assert stored.stat().st_mode & 0o777 == 0o600
        assert AuditEntry.objects.filter(action="person.import_queued", object_id=str(run.pk)).exists()
        assert not Person.objects.exists()  # not run yet: the task runs when the upload commits

    def test_a_role_without_import_is_refused_and_nothing_is_kept(self, personas, places, uploads_in_tmp):
        with pytest.raises(DomainError):
            start(personas["job_officer"], rows(1))
        assert not ImportRun.objects.exists()
        assert not uploads_in_tmp.exists() or not any(uploads_in_tmp.iterdir())


class TestImportExecute:
    def test_it_imports_records_the_result_and_deletes_the_upload(self, personas, places):
        run = start(personas["worker"], rows(5))
        assert importer.import_execute(str(run.pk)) == ImportRun.State.DONE
        run.refresh_from_db()
        assert (run.state, run.rows_done, run.rows_total) == (ImportRun.State.DONE, 5, 5)
        assert (run.result["created"], run.result["rejected"]) == (5, 0)
        assert Person.objects.count() == 5
        assert not Path(importer.uploads_dir(), f"{run.pk}.upload").exists()
        assert run.stored_path == ""

    def test_the_total_comes_first_then_progress_after_each_committed_batch(self, personas, places,
                                                                            monkeypatch):
        monkeypatch.setattr(importer, "PROGRESS_EVERY", 2)
        events: list[tuple[str, int, int]] = []
        importer.import_persons(io.BytesIO(rows(5)), actor=personas["worker"],
                                total=lambda n: events.append(("total", n, Person.objects.count())),
                                progress=lambda n: events.append(("done", n, Person.objects.count())))
        assert events == [("total", 5, 0), ("done", 2, 2), ("done", 4, 4), ("done", 5, 5)]

    def test_a_second_delivery_of_the_task_does_nothing(self, personas, places, monkeypatch):
        run = start(personas["worker"], rows(1))
        importer.import_execute(str(run.pk))
        finished = ImportRun.objects.get(pk=run.pk).finished_at

        def must_not_run(*args, **kwargs):
            raise AssertionError("imported twice")

        monkeypatch.setattr(importer, "import_persons", must_not_run)
        assert importer.import_execute(str(run.pk)) == ImportRun.State.DONE
        assert ImportRun.objects.get(pk=run.pk).finished_at == finished

    def test_an_unreadable_file_fails_the_run_with_the_reason(self, personas, places):
        run = start(personas["worker"], b"\x00\xff" * 300)
        assert importer.import_execute(str(run.pk)) == ImportRun.State.FAILED
        run.refresh_from_db()
        assert "neither UTF-8 nor GB18030" in run.error
        assert not Path(importer.uploads_dir(), f"{run.pk}.upload").exists()

    def test_a_bad_row_never_undoes_the_rows_saved_beside_it(self, personas, places, monkeypatch):
        monkeypatch.setattr(importer, "PROGRESS_EVERY", 3)  # the bad row sits inside a batch
        content = csv_bytes([person_row(seq=21), person_row(name="错状态", seq=23, status="nonsense"),
                             person_row(name="王五", seq=25), person_row(name="赵六", seq=27)])
        run = start(personas["worker"], content)
        importer.import_execute(str(run.pk))
        run.refresh_from_db()
        assert (run.result["created"], run.result["rejected"]) == (3, 1)
        assert run.result["rejections"][0]["row"] == 3
        assert Person.objects.count() == 3


class TestImportRunPage:
    def url(self, run: ImportRun) -> str:
        return reverse("people:import_run", args=[run.pk])

    def test_while_queued_the_page_polls_its_progress(self, client_as, personas, places):
        client = client_as(personas["worker"])
        response = client.post(URL, {"file": SimpleUploadedFile("名单.csv", rows(2))})  # the task waits for commit
        run = ImportRun.objects.get()
        assert response.url == self.url(run)
        page = client.get(self.url(run)).content.decode()
        assert 'data-testid="import-progress"' in page
        assert f'hx-get="{self.url(run)}"' in page
        partial = client.get(self.url(run), headers={"HX-Request": "true"})
        assert partial.status_code == 200
        assert "Waiting to start" in partial.content.decode()

    def test_the_progress_shows_rows_done_of_the_total(self, client_as, personas, places):
        run = start(personas["worker"], rows(2))
        ImportRun.objects.filter(pk=run.pk).update(state=ImportRun.State.RUNNING, rows_done=400, rows_total=1000)
        partial = client_as(personas["worker"]).get(self.url(run), headers={"HX-Request": "true"}).content.decode()
        assert "Importing: 400 of 1000 rows" in partial and 'value="40"' in partial

    def test_when_it_ends_the_poll_reloads_the_page_which_shows_the_result(self, client_as, personas,
                                                                          places):
        run = start(personas["worker"], rows(2))
        importer.import_execute(str(run.pk))
        client = client_as(personas["worker"])
        assert client.get(self.url(run), headers={"HX-Request": "true"}).headers["HX-Refresh"] == "true"
        page = client.get(self.url(run)).content.decode()
        assert 'data-testid="import-result"' in page and 'data-testid="import-progress"' not in page

    def test_another_user_gets_404(self, client_as, personas, places):
        run = start(personas["worker"], rows(1))
        assert client_as(personas["colleague"]).get(self.url(run)).status_code == 404
        assert client_as(personas["worker"]).get(
            reverse("people:import_run", args=[uuid.uuid4()])).status_code == 404

    def test_anonymous_is_sent_to_the_login_page(self, client_as, personas, places):
        run = start(personas["worker"], rows(1))
        response = client_as(None).get(self.url(run))
        assert response.status_code == 302 and response.url.startswith(reverse("core:login"))


def test_through_redis_the_worker_imports_the_upload(personas, places, settings):
    from liangyi.ops.management.commands.ops_worker import work

    queue = f"test-{uuid.uuid4().hex[:12]}"
    settings.TASKS = {"default": {"BACKEND": "liangyi.ops.backends.RQBackend", "QUEUES": ["imports", queue],
                                  "OPTIONS": {"URL": "redis://127.0.0.1:6379/15"}}}
    from liangyi.people.tasks import import_run

    run = start(personas["worker"], rows(3))
    import_run.using(queue_name=queue).enqueue(str(run.pk))  # what the upload's commit does, on a test queue
    backend = task_backends["default"]
    try:
        assert ImportRun.objects.get(pk=run.pk).state == ImportRun.State.QUEUED
        work(backend, queues=[queue], burst=True, in_process=True)
        assert ImportRun.objects.get(pk=run.pk).state == ImportRun.State.DONE
        assert Person.objects.count() == 3
    finally:
        backend.queue(queue).delete(delete_jobs=True)
        for key in backend.connection.scan_iter(f"rq:*{queue}*"):
            backend.connection.delete(key)
