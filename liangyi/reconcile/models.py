"""A reconciliation run (one uploaded police export) and its findings, which officers work."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from liangyi.core.fields import EncryptedTextField

from .matching import CATEGORIES

CATEGORY_LABELS = {
    "matched": _("Matched"),
    "matched_corrected_id": _("Matched, ID number corrected"),
    "status_mismatch": _("Status differs"),
    "jurisdiction_mismatch": _("Place of control differs"),
    "name_mismatch": _("Name differs"),
    "missing_in_registry": _("Not in the registry"),
    "missing_in_police": _("Not in the police list"),
    "duplicate_in_police": _("Duplicate in the police list"),
    "invalid_row": _("Unreadable row"),
}
assert set(CATEGORY_LABELS) == set(CATEGORIES)


class RunState(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class Resolution(models.TextChoices):
    OPEN = "open", _("open")
    ACCEPTED_POLICE = "accepted_police", _("police value accepted")
    KEPT_OURS = "kept_ours", _("registry kept; police record to be corrected")
    LINKED = "linked", _("linked to a person")
    DISMISSED = "dismissed", _("dismissed")


class ReconcileRun(models.Model):
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), null=True,
                                    on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    file_name = models.CharField(_("file name"), max_length=255)
    file_sha256 = models.CharField(max_length=64, db_index=True)
    stored_path = models.CharField(max_length=500, blank=True)
    # The jurisdiction the comparison covers ('' = everywhere): missing_in_police is limited to it,
    # and only users whose subtree contains it see the run.
    scope = models.CharField(_("scope"), max_length=12, blank=True, db_index=True)
    state = models.CharField(_("state"), max_length=10, choices=RunState.choices, default=RunState.QUEUED)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    # The last sign of life of the comparison (set as it starts and with every progress update): a
    # run queued or running whose heartbeat is older than services.STALE_AFTER was stopped.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        verbose_name = _("reconciliation run")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.uploaded_at:%Y-%m-%d %H:%M})"

    @property
    def active(self) -> bool:
        return self.state in (RunState.QUEUED, RunState.RUNNING)

    @property
    def percent(self) -> int:
        if self.state == RunState.DONE:
            return 100
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0


class Finding(models.Model):
    run = models.ForeignKey(ReconcileRun, on_delete=models.CASCADE, related_name="findings")
    category = models.CharField(_("category"), max_length=30, choices=[(c, CATEGORY_LABELS[c]) for c in CATEGORIES])
    police_row = models.PositiveIntegerField(_("police row"), null=True, blank=True)
    person = models.ForeignKey("people.Person", verbose_name=_("person"), null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    id_number = EncryptedTextField(_("ID number"), blank=True)
    id_number_masked = models.CharField(_("ID number"), max_length=40, blank=True)
    # Where the finding lies, for filtering: the person's jurisdiction, else the export's code.
    jurisdiction_code = models.CharField(max_length=12, blank=True, db_index=True)
    field = models.CharField(_("field"), max_length=30, blank=True)
    registry_value = EncryptedTextField(_("registry value"), blank=True)
    police_value = EncryptedTextField(_("police value"), blank=True)
    detail = EncryptedTextField(_("detail"), blank=True)
    order = models.PositiveIntegerField(default=0)
    fingerprint = models.CharField(max_length=64, db_index=True)
    resolution = models.CharField(_("resolution"), max_length=20, choices=Resolution.choices,
                                  default=Resolution.OPEN)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    carried_over = models.BooleanField(default=False)

    class Meta:
        ordering = ["run", "order"]
        indexes = [models.Index(fields=["run", "category"]), models.Index(fields=["run", "order"])]

    def __str__(self) -> str:
        return f"{self.category} #{self.police_row or '-'}"
