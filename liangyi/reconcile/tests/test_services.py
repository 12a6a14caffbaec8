"""The reconciliation services: runs in the background, findings worked, work carried over."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from liangyi.core.errors import DomainError
from liangyi.core.models import AuditEntry
from liangyi.demo import factories
from liangyi.people.importer import import_persons
from liangyi.people.models import Person, Status, TimelineEvent
from liangyi.reconcile import services
from liangyi.reconcile.models import Finding, Resolution, RunState

DATA = Path(__file__).with_name("data")


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


@pytest.fixture
def registry(places, personas):
    factories.jurisdiction("530381002", "双河街道", places["other_county"])
    result = import_persons(DATA / "persons_import_sample.csv", actor=personas["admin"])
    assert result.created == 5
    return {p.name: p for p in Person.objects.all()}


@pytest.fixture
def city_worker(places):
    return factories.user("city_worker", "community_worker", places["city"], full_name="市专干")


def sample() -> SimpleUploadedFile:
    return SimpleUploadedFile("police_export_sample.csv", (DATA / "police_export_sample.csv").read_bytes())


def start(actor, upload=None, scope="", capture=None):
    with capture(execute=True):
        run = services.run_start(actor, upload or sample(), scope)
    run.refresh_from_db()
    return run


def test_a_run_stores_every_finding_and_counts(registry, city_worker, django_capture_on_commit_callbacks):
    run = start(city_worker, capture=django_capture_on_commit_callbacks)
    assert run.state == RunState.DONE and run.scope == "5303"
    assert run.counts["status_mismatch"] == 1 and run.counts["matched_corrected_id"] == 2
    assert run.findings.count() == sum(run.counts.values()) == 8
    assert (run.rows_done, run.rows_total) == (8, 8)
    assert stat.S_IMODE(os.stat(run.stored_path).st_mode) == 0o600
    assert Path(run.stored_path).parent == Path(services.upload_dir())
    # the ID number and the values are encrypted at rest; the masked form is kept beside them
    f = run.findings.get(category="status_mismatch")
    assert f.id_number == "530302198511201023" and f.id_number_masked == "530302********1023"
    from django.db import connection
    with connection.cursor() as cur:
        cur.execute("SELECT id_number, police_value FROM reconcile_finding WHERE id = %s", [f.pk])
        raw_number, raw_police = cur.fetchone()
    assert "530302198511201023" not in raw_number and "社区康复" not in raw_police
    assert AuditEntry.objects.filter(action="reconcile.run", actor=city_worker).exists()


def test_matched_persons_count_as_fresh(registry, city_worker, django_capture_on_commit_callbacks):
    start(city_worker, capture=django_capture_on_commit_callbacks)
    fresh = set(Person.objects.filter(verified_at__isnull=False).values_list("name", flat=True))
    assert fresh == {"王建国", "张伟", "赵强"}  # matched and matched_corrected_id; not the mismatches


def test_progress_is_reported_while_comparing(registry, city_worker, monkeypatch,
                                              django_capture_on_commit_callbacks):
    seen = []
    original = services.ReconcileRun.objects.filter

    def spy(*args, **kwargs):
        qs = original(*args, **kwargs)
        update = qs.update

        def recording_update(**values):
            if "rows_done" in values:
                seen.append(values["rows_done"])
            return update(**values)
        qs.update = recording_update
        return qs

    monkeypatch.setattr(services, "PROGRESS_EVERY", 3)
    monkeypatch.setattr(services.ReconcileRun.objects, "filter", spy)
    start(city_worker, capture=django_capture_on_commit_callbacks)
    assert seen[:1] == [0] and 3 in seen and 6 in seen and seen[-1] == 8


def test_a_broken_file_fails_the_run_with_the_reason(registry, city_worker, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("empty.csv", b"")
    run = start(city_worker, upload, capture=django_capture_on_commit_callbacks)
    assert run.state == RunState.FAILED
    assert run.error.startswith("The file is empty (0 bytes).")
    assert not run.findings.exists()
    assert AuditEntry.objects.filter(action="reconcile.failed").exists()


def test_scope_must_be_in_reach(registry, personas, django_capture_on_commit_callbacks):
    with pytest.raises(DomainError) as exc:
        services.run_start(personas["worker"], sample(), "530381")
    assert "outside your jurisdiction" in str(exc.value)
    with pytest.raises(DomainError):
        services.run_start(personas["worker"], sample(), "999999")


def test_accept_police_status_updates_the_person(registry, city_worker, django_capture_on_commit_callbacks):
    run = start(city_worker, capture=django_capture_on_commit_callbacks)
    f = run.findings.get(category="status_mismatch")
    services.finding_accept_police(f, city_worker)
    li = Person.objects.get(name="李秀英")
    assert li.status == Status.COMMUNITY_REHAB and li.verified_at is not None
    f.refresh_from_db()
    assert (f.resolution, f.resolved_by) == (Resolution.ACCEPTED_POLICE, city_worker)
    assert AuditEntry.objects.filter(action="reconcile.accepted_police", person_id=li.pk).exists()
    assert TimelineEvent.objects.filter(person=li, kind="reconcile.accepted_police").exists()
    with pytest.raises(DomainError, match="already been worked"):
        services.finding_accept_police(f, city_worker)


def test_accept_police_place_of_control_moves_the_person(registry, city_worker, django_capture_on_commit_callbacks):
    run = start(city_worker, capture=django_capture_on_commit_callbacks)
    f = run.findings.get(category="jurisdiction_mismatch")
    services.finding_accept_police(f, city_worker)
    chen = Person.objects.get(name="陈丽")
    assert chen.jurisdiction_id == "530381001"


def test_keep_ours_and_dismiss_and_link(registry, city_worker, django_capture_on_commit_callbacks):
    run = start(city_worker, capture=django_capture_on_commit_callbacks)
    kept = services.finding_keep_ours(run.findings.get(category="jurisdiction_mismatch"), city_worker, "请更正")
    assert kept.resolution == Resolution.KEPT_OURS and kept.reason == "请更正"
    assert Person.objects.get(name="陈丽").verified_at is not None
    dup = run.findings.get(category="duplicate_in_police")
    with pytest.raises(DomainError, match="Say why"):
        services.finding_dismiss(dup, city_worker, "  ")
    assert services.finding_dismiss(dup, city_worker, "已核实").resolution == Resolution.DISMISSED
    with pytest.raises(DomainError, match="cannot be"):
        services.finding_dismiss(run.findings.get(category="matched"), city_worker, "x")
    missing = run.findings.get(category="missing_in_registry")
    wang = Person.objects.get(name="王建国")
    linked = services.finding_link(missing, city_worker, wang)
    assert (linked.resolution, linked.person) == (Resolution.LINKED, wang)
    assert TimelineEvent.objects.filter(person=wang, kind="reconcile.linked").exists()


def test_link_needs_a_person_in_reach(registry, personas, places, django_capture_on_commit_callbacks):
    run = start(personas["admin"], capture=django_capture_on_commit_callbacks)
    outsider = Person.objects.get(name="张伟")  # Xuanwei: outside the township worker's reach
    with pytest.raises(DomainError, match="outside your jurisdiction"):
        services.finding_link(run.findings.get(category="invalid_row"), personas["worker"], outsider)


def test_a_second_run_of_the_same_export_keeps_the_work(registry, city_worker, django_capture_on_commit_callbacks):
    first = start(city_worker, capture=django_capture_on_commit_callbacks)
    services.finding_dismiss(first.findings.get(category="duplicate_in_police"), city_worker, "已核实")
    services.finding_keep_ours(first.findings.get(category="jurisdiction_mismatch"), city_worker)
    second = start(city_worker, capture=django_capture_on_commit_callbacks)
    assert second.pk != first.pk and second.counts == first.counts
    dup = second.findings.get(category="duplicate_in_police")
    assert (dup.resolution, dup.reason, dup.carried_over, dup.resolved_by) == (
        Resolution.DISMISSED, "已核实", True, city_worker)
    assert second.findings.get(category="jurisdiction_mismatch").resolution == Resolution.KEPT_OURS
    assert second.findings.get(category="status_mismatch").resolution == Resolution.OPEN
    assert Finding.objects.filter(run=second, carried_over=True).count() == 2


def test_fingerprint_ignores_the_row_and_spacing():
    assert services.fingerprint("status_mismatch", "person:1", "status", "社区 康复") == services.fingerprint(
        "status_mismatch", "person:1", "status", " 社区  康复")
    assert services.fingerprint("status_mismatch", "person:1", "status", "a") != services.fingerprint(
        "status_mismatch", "person:2", "status", "a")


def test_mask_text_masks_id_numbers_in_details():
    text = "15-digit number upgraded to 530381199201012032; candidate 53038119780805028x."
    masked = services.mask_text(text)
    assert "530381199201012032" not in masked and "530381********2032" in masked
    assert "53038119780805028x" not in masked
