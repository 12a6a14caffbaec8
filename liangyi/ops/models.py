"""What the scheduler and the operators ran: one row per job and day (per hour for hourly jobs)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class RunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class JobRun(models.Model):
    """A periodic job's run for one day: the unique row is what keeps two schedulers from doubling it."""

    name = models.CharField(_("job"), max_length=100)
    day = models.DateField(_("day"))
    slot = models.PositiveSmallIntegerField(default=0, help_text="the hour, for hourly jobs; 0 for daily ones")
    state = models.CharField(_("state"), max_length=10, choices=RunState.choices, default=RunState.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    queued_at = models.DateTimeField(_("queued"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day", "name"]
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        constraints = [models.UniqueConstraint(fields=["name", "day", "slot"], name="ops_jobrun_once_per_slot")]

    def __str__(self) -> str:
        return f"{self.name} {self.day} [{self.state}]"
