"""The facility side and the handover: a stay in compulsory isolation (强制隔离戒毒), its events,
diagnostic assessments (诊断评估), the release, the handover packet the receiving township sees,
and the community agreement (协议) signed on reporting.

The planned release date is stored but always recomputed by the services from the decision date,
the rule set and the stay's events (``assessment.planned_release``); domain results of an
assessment are computed from the item scores, never typed.
"""

from __future__ import annotations

from datetime import date

from django.db import models
from django.utils.translation import gettext_lazy as _

from liangyi.core.models import Jurisdiction, User
from liangyi.people.models import Person


class StayState(models.TextChoices):
    IN_CUSTODY = "in_custody", _("In custody")
    ESCAPED = "escaped", _("Escaped")
    MEDICAL_LEAVE = "medical_leave", _("On medical leave outside")
    RELEASED = "released", _("Released")


class ReleaseKind(models.TextChoices):
    ON_TIME = "on_time", _("Released on time")
    EARLY = "early", _("Released early")
    EXTENDED = "extended", _("Released after extension")


class IsolationStay(models.Model):
    """One compulsory-isolation decision and the person's stay in the facility."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="isolation_stays")
    decision_number = models.CharField(_("decision number"), max_length=60)
    decided_on = models.DateField(_("decided on"))
    authority = models.CharField(_("decided by"), max_length=100)
    facility = models.CharField(_("facility"), max_length=100)
    facility_jurisdiction = models.ForeignKey(Jurisdiction, verbose_name=_("facility's jurisdiction"), null=True,
                                              blank=True, on_delete=models.PROTECT, related_name="+")
    admitted_on = models.DateField(_("admitted on"))
    # Reg 38: an isolation that followed refusal of community rehab, a serious violation or a
    # relapse cannot end early.
    no_early_release = models.BooleanField(_("follows refusal, serious violation or relapse (no early release)"),
                                           default=False)
    planned_release_on = models.DateField(_("planned release"))
    state = models.CharField(_("state"), max_length=15, choices=StayState.choices, default=StayState.IN_CUSTODY)
    released_on = models.DateField(_("released on"), null=True, blank=True)
    release_certificate = models.CharField(_("release certificate number"), max_length=60, blank=True)
    release_kind = models.CharField(_("release"), max_length=10, choices=ReleaseKind.choices, blank=True)
    ruleset_version = models.CharField(max_length=40)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-decided_on", "-id"]
        verbose_name = _("isolation stay")
        verbose_name_plural = _("isolation stays")
        constraints = [
            models.UniqueConstraint(fields=["person"], condition=~models.Q(state="released"),
                                    name="isolation_one_open_stay_per_person"),
            models.CheckConstraint(condition=models.Q(admitted_on__gte=models.F("decided_on")),
                                   name="isolation_admitted_after_decision"),
        ]

    def __str__(self) -> str:
        return f"{self.facility} {self.decided_on:%Y-%m-%d}"


class EventKind(models.TextChoices):
    ESCAPE = "escape", _("Escape")
    RETURN = "return", _("Returned after escape")
    MEDICAL_OUT = "medical_out", _("Medical leave outside (所外就医) began")
    MEDICAL_BACK = "medical_back", _("Back from medical leave")
    EARLY_RELEASE = "early_release", _("Early release decided")
    EXTENSION = "extension", _("Extension decided")


class StayEvent(models.Model):
    """Something that happened during the stay and may move the release date."""

    stay = models.ForeignKey(IsolationStay, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("event"), max_length=15, choices=EventKind.choices)
    on = models.DateField(_("on"))
    # Extension: months added; early release: the new release day.
    months = models.PositiveSmallIntegerField(_("months"), null=True, blank=True)
    release_on = models.DateField(_("release on"), null=True, blank=True)
    assessment = models.ForeignKey("DiagnosticAssessment", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    notes = models.CharField(_("notes"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["on", "id"]


class AssessmentPoint(models.TextChoices):
    ADMISSION = "admission", _("On admission")
    AFTER_DETOX = "after_detox", _("After the detox stage")
    ONE_YEAR = "one_year", _("After one year")
    PRE_RELEASE = "pre_release", _("Before release")


class Outcome(models.TextChoices):
    ON_TIME = "on_time", _("Release on time")
    PROPOSE_EARLY = "propose_early", _("Propose early release")
    PROPOSE_EXTENSION = "propose_extension", _("Propose extension")
    CONTINUE = "continue", _("Continue the stay")


class DiagnosticAssessment(models.Model):
    stay = models.ForeignKey(IsolationStay, on_delete=models.CASCADE, related_name="assessments")
    point = models.CharField(_("assessment point"), max_length=15, choices=AssessmentPoint.choices)
    assessed_on = models.DateField(_("assessed on"))
    # {domain: {item: score}}, checked against liangyi/rules/diagnostic_assessment.toml.
    scores = models.JSONField(_("item scores"), default=dict)
    # {domain: {"total": n, "result": "pass"|"fail"|"good"|"fair"}}: computed by the service.
    results = models.JSONField(_("domain results"), default=dict)
    passed = models.BooleanField(_("all domains passed"), default=False)
    doctor = models.CharField(_("doctor"), max_length=60)
    psychologist = models.CharField(_("psychologist"), max_length=60)
    social_worker = models.CharField(_("social worker"), max_length=60)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    recommend_community_rehab = models.BooleanField(_("community rehab recommended"), default=False)
    physical_state = models.CharField(_("physical state"), max_length=500, blank=True)
    psychological_state = models.CharField(_("psychological state"), max_length=500, blank=True)
    social_adaptability = models.CharField(_("social adaptability"), max_length=500, blank=True)
    assessment_version = models.CharField(max_length=40)
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-assessed_on", "-id"]
        verbose_name = _("diagnostic assessment")
        verbose_name_plural = _("diagnostic assessments")


class CollectorKind(models.TextChoices):
    FAMILY = "family", _("Family")
    EMPLOYER = "employer", _("Employer")
    POLICE_STATION = "police_station", _("Police station")
    COMMUNITY_STAFF = "community_staff", _("Community staff")


class HandoverState(models.TextChoices):
    UPCOMING = "upcoming", _("Upcoming")
    IN_INBOX = "in_inbox", _("In the inbox")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    PICKED_UP = "picked_up", _("Picked up")
    DECISION_RECORDED = "decision_recorded", _("Decision recorded")
    OVERDUE = "overdue", _("Report overdue")
    REPORTED = "reported", _("Reported")
    AGREEMENT_SIGNED = "agreement_signed", _("Agreement signed")


class Handover(models.Model):
    """The packet the receiving township sees before the release, and what it records after."""

    stay = models.OneToOneField(IsolationStay, on_delete=models.CASCADE, related_name="handover")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="handovers")
    township = models.ForeignKey(Jurisdiction, verbose_name=_("receiving township"), on_delete=models.PROTECT,
                                 related_name="+")
    visible_from = models.DateField(_("in the inbox from"))
    health_summary = models.TextField(_("health summary"), blank=True)
    risk_notes = models.TextField(_("risk notes"), blank=True)
    recommended_plan = models.TextField(_("recommended plan"), blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    collector_kind = models.CharField(_("collected by"), max_length=20, choices=CollectorKind.choices, blank=True)
    collector_name = models.CharField(_("collector's name"), max_length=100, blank=True)
    collected_on = models.DateField(_("collected on"), null=True, blank=True)
    collected_from = models.CharField(_("collected from"), max_length=100, blank=True)
    pickup_recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    order = models.OneToOneField("supervision.CommunityOrder", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="handover")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["visible_from", "id"]
        verbose_name = _("handover")
        verbose_name_plural = _("handovers")

    def state_on(self, today: date) -> str:
        """Derived from the facts, never stored (as obligation states are)."""
        from liangyi.supervision.models import OrderState

        order = self.order
        if order is not None:
            if order.reported_on:
                # Over .all() so a list that prefetched the agreements asks nothing more.
                agreement = any(a.signed_on for a in order.agreements.all())
                return HandoverState.AGREEMENT_SIGNED if agreement else HandoverState.REPORTED
            if order.state == OrderState.AWAITING_REPORT and today > order.report_deadline:
                return HandoverState.OVERDUE
            return HandoverState.DECISION_RECORDED
        if self.collected_on:
            return HandoverState.PICKED_UP
        if self.acknowledged_at:
            return HandoverState.ACKNOWLEDGED
        if today >= self.visible_from:
            return HandoverState.IN_INBOX
        return HandoverState.UPCOMING


class AgreementReason(models.TextChoices):
    INITIAL = "initial", _("First report")
    TRANSFER = "transfer", _("Change of execution place")


class Agreement(models.Model):
    """The community (drug) rehab agreement: the text as generated from the rule set's template,
    kept as signed."""

    order = models.ForeignKey("supervision.CommunityOrder", on_delete=models.PROTECT, related_name="agreements")
    reason = models.CharField(_("reason"), max_length=10, choices=AgreementReason.choices)
    text = models.TextField(_("agreement text"))
    template_version = models.CharField(max_length=80)
    prepared_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    prepared_at = models.DateTimeField(auto_now_add=True)
    signed_on = models.DateField(_("signed on"), null=True, blank=True)
    signed_recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-prepared_at", "-id"]
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")
