"""Assessments (instrument answers and their computed scores), gradings, and overrides."""

from __future__ import annotations

from datetime import date

from django.db import models
from django.utils.translation import gettext_lazy as _

from liangyi.core.models import User
from liangyi.people.models import Person


class Assessment(models.Model):
    """One instrument filled in for a person. The score fields are computed by
    ``instruments.score`` from ``answers``, never typed."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="risk_assessments")
    instrument = models.CharField(_("instrument"), max_length=40)
    instrument_version = models.CharField(max_length=20)
    assessed_on = models.DateField(_("assessed on"))
    answers = models.JSONField(default=dict)
    total = models.PositiveSmallIntegerField(_("total score"))
    band = models.CharField(_("band"), max_length=40)
    subscales = models.JSONField(default=dict)
    subscale_bands = models.JSONField(default=dict)
    flags = models.JSONField(default=list)
    prorated = models.BooleanField(default=False)
    skipped = models.JSONField(default=list)
    # The field group a reader must see (from the instrument file at the time of scoring).
    group = models.CharField(max_length=30, blank=True)
    assessor = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-assessed_on", "-id"]
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")
        indexes = [models.Index(fields=["person", "instrument", "-assessed_on"])]


class Grading(models.Model):
    """A computed risk level, with the facts it rested on and each factor's share.

    The newest (by ``graded_on``, then id) is the person's current grading.
    """

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="risk_gradings")
    graded_on = models.DateField(_("graded on"))
    ruleset = models.CharField(_("rule set"), max_length=60)
    ruleset_version = models.CharField(max_length=20)
    level = models.CharField(_("level"), max_length=20)
    points = models.PositiveSmallIntegerField(_("points"))
    facts = models.JSONField(default=dict)
    factors = models.JSONField(default=list)
    by_floor = models.CharField(max_length=40, blank=True)
    reason = models.CharField(_("reason"), max_length=200)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-graded_on", "-id"]
        verbose_name = _("risk grading")
        verbose_name_plural = _("risk gradings")
        indexes = [models.Index(fields=["person", "-graded_on"])]


class Override(models.Model):
    """A supervisor's level in place of the computed one, with a reason, until it expires."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="risk_overrides")
    grading = models.ForeignKey(Grading, on_delete=models.PROTECT, related_name="overrides")
    ruleset = models.CharField(max_length=60)
    level = models.CharField(_("level"), max_length=20)
    reason = models.CharField(_("reason"), max_length=300)
    starts_on = models.DateField(_("from"))
    expires_on = models.DateField(_("expires on"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    actor = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("risk level override")
        verbose_name_plural = _("risk level overrides")
        constraints = [
            models.CheckConstraint(condition=models.Q(expires_on__gte=models.F("starts_on")),
                                   name="risk_override_expires_after_start"),
        ]

    def active_on(self, day: date) -> bool:
        return self.starts_on <= day <= self.expires_on and (self.ended_on is None or day < self.ended_on)
