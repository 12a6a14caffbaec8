"""The community term (社区戒毒 / 社区康复): orders, suspensions, drug tests, absences, leave,
the violations derived from them, and the escalations opened for the police.

Violations are derived (``violations.derive``), never typed by hand: they follow from the tests
and absences recorded, so the serious-violation thresholds of Reg 20 are always counted from
facts.
"""

from __future__ import annotations

from datetime import date

from django.db import models
from django.utils.translation import gettext_lazy as _

from liangyi.core.models import Jurisdiction, User
from liangyi.people.models import Measure, Person


class OrderKind(models.TextChoices):
    COMMUNITY_DRUG_REHAB = "community_drug_rehab", _("Community drug rehab")
    COMMUNITY_REHAB = "community_rehab", _("Community rehab")


class OrderState(models.TextChoices):
    AWAITING_REPORT = "awaiting_report", _("Awaiting report")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    TERMINATED = "terminated", _("Terminated")
    COMPLETED = "completed", _("Completed")
    TRANSFERRED = "transferred", _("Transferred")


class EndReason(models.TextChoices):
    """Why a term ended early (Reg 24 termination) or at all."""

    PRISON_SENTENCE = "prison_sentence", _("Prison sentence")
    EDUCATIONAL_MEASURE = "educational_measure", _("Compulsory educational measure")
    DEATH = "death", _("Death")


# States in which the term has not ended: one such order per person at a time.
RUNNING_STATES = (OrderState.AWAITING_REPORT, OrderState.ACTIVE, OrderState.SUSPENDED)


class CommunityOrder(models.Model):
    """A decision ordering community drug rehab or community rehab, and the term it runs."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="community_orders")
    kind = models.CharField(_("measure"), max_length=25, choices=OrderKind.choices)
    decided_on = models.DateField(_("decided on"))
    received_on = models.DateField(_("decision received on"))
    report_deadline = models.DateField(_("report by"))
    # True when the holiday calendar could not settle the deadline (a year without a confirmed
    # notice): the deadline is then plain calendar days and must be checked by hand.
    report_deadline_unconfirmed = models.BooleanField(_("report deadline not checked against holidays"),
                                                      default=False)
    report_deadline_note = models.CharField(max_length=300, blank=True)
    reported_on = models.DateField(_("reported on"), null=True, blank=True)
    term_months = models.PositiveSmallIntegerField(_("term (months)"))
    term_ends_on = models.DateField(_("term ends on"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=20, choices=OrderState.choices,
                             default=OrderState.AWAITING_REPORT)
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    end_reason = models.CharField(_("why it ended"), max_length=25, blank=True,
                                  choices=EndReason.choices)
    # Set by the missed-report job when the report deadline passed without a report; kept after a
    # late report so the trail shows it.
    report_overdue_since = models.DateField(_("report overdue since"), null=True, blank=True)
    office = models.ForeignKey(Jurisdiction, verbose_name=_("responsible office"), on_delete=models.PROTECT,
                               related_name="+")
    worker = models.ForeignKey(User, verbose_name=_("responsible worker"), null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    authority = models.CharField(_("decided by"), max_length=100, blank=True)
    measure = models.OneToOneField(Measure, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ruleset_version = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        verbose_name = _("community order")
        verbose_name_plural = _("community orders")
        constraints = [
            models.UniqueConstraint(fields=["person"], condition=models.Q(state__in=RUNNING_STATES),
                                    name="community_order_one_running_per_person"),
            models.CheckConstraint(condition=models.Q(received_on__gte=models.F("decided_on")),
                                   name="community_order_received_after_decision"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.received_on:%Y-%m-%d}"

    @property
    def is_running(self) -> bool:
        return self.state in RUNNING_STATES


class SuspensionReason(models.TextChoices):
    DETENTION = "detention", _("Detention")
    ARREST = "arrest", _("Arrest")


class Suspension(models.Model):
    """The term stops while the person is detained or arrested (Reg 24) and resumes on release.

    It covers ``start`` <= day < ``end``: the term resumes on the day of release.
    """

    order = models.ForeignKey(CommunityOrder, on_delete=models.CASCADE, related_name="suspensions")
    start = models.DateField(_("from"))
    end = models.DateField(_("released on"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=20, choices=SuspensionReason.choices)
    notes = models.CharField(_("notes"), max_length=300, blank=True)

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(end__isnull=True) | models.Q(end__gte=models.F("start")),
                                   name="suspension_ends_after_start"),
        ]

    @property
    def days(self) -> int | None:
        return (self.end - self.start).days if self.end else None


class Sample(models.TextChoices):
    URINE = "urine", _("Urine")
    BLOOD = "blood", _("Blood")
    HAIR = "hair", _("Hair")
    SALIVA = "saliva", _("Saliva")


class Method(models.TextChoices):
    ONSITE = "onsite", _("On-site test")
    LAB = "lab", _("Laboratory test")
    RETEST = "retest", _("Retest")


class Result(models.TextChoices):
    NEGATIVE = "negative", _("Negative")
    POSITIVE = "positive", _("Positive")
    REFUSED = "refused", _("Refused")
    EVADED = "evaded", _("Evaded")


class DrugTest(models.Model):
    order = models.ForeignKey(CommunityOrder, on_delete=models.PROTECT, related_name="tests")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="drug_tests")
    tested_on = models.DateField(_("tested on"))
    sample = models.CharField(_("sample"), max_length=10, choices=Sample.choices, blank=True)
    method = models.CharField(_("method"), max_length=10, choices=Method.choices, blank=True)
    result = models.CharField(_("result"), max_length=10, choices=Result.choices)
    substances = models.JSONField(_("substances found"), default=list, blank=True)
    collector = models.ForeignKey(User, verbose_name=_("collected by"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    second_collector = models.ForeignKey(User, verbose_name=_("second collector"), null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="+")
    collector_names = models.CharField(_("collectors (names)"), max_length=120, blank=True)
    random = models.BooleanField(_("random test"), default=False)
    notes = models.CharField(_("notes"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-tested_on", "-id"]
        verbose_name = _("drug test")
        verbose_name_plural = _("drug tests")
        indexes = [models.Index(fields=["order", "result"])]


class LeaveRequest(models.Model):
    """A written report before leaving the county (Reg 19), and its approval."""

    order = models.ForeignKey(CommunityOrder, on_delete=models.CASCADE, related_name="leave_requests")
    from_on = models.DateField(_("from"))
    to_on = models.DateField(_("until"))
    destination = models.CharField(_("destination"), max_length=200)
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_on = models.DateField(_("approved on"), null=True, blank=True)

    class Meta:
        ordering = ["-from_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(to_on__gte=models.F("from_on")), name="leave_ends_after_start"),
        ]

    def covers(self, left_on: date, returned_on: date | None) -> bool:
        """Approved on or before the day of leaving, and spanning the whole absence."""
        return (self.approved_on is not None and self.approved_on <= left_on and self.from_on <= left_on
                and returned_on is not None and returned_on <= self.to_on)


class Absence(models.Model):
    """A time the person was away from the county. ``days`` counts the days away, the day of
    leaving not counted (as every period here); an open absence counts up to the day asked."""

    order = models.ForeignKey(CommunityOrder, on_delete=models.CASCADE, related_name="absences")
    left_on = models.DateField(_("left on"))
    returned_on = models.DateField(_("returned on"), null=True, blank=True)
    destination = models.CharField(_("destination"), max_length=200, blank=True)
    authorised = models.BooleanField(_("authorised"), default=False)
    leave_request = models.ForeignKey(LeaveRequest, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="absences")
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-left_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(returned_on__isnull=True) | models.Q(returned_on__gte=models.F("left_on")),
                name="absence_returns_after_leaving"),
        ]

    def days(self, on: date | None = None) -> int:
        end = self.returned_on or on or self.left_on
        return max((end - self.left_on).days, 0)


class ViolationKind(models.TextChoices):
    REFUSED_TEST = "refused_test", _("Refused a drug test")
    EVADED_TEST = "evaded_test", _("Evaded a drug test")
    POSITIVE_TEST = "positive_test", _("Positive drug test")
    UNAUTHORISED_ABSENCE = "unauthorised_absence", _("Left the county without permission")


class Violation(models.Model):
    """Derived from a test or an absence; one per source record."""

    order = models.ForeignKey(CommunityOrder, on_delete=models.CASCADE, related_name="violations")
    kind = models.CharField(_("kind"), max_length=25, choices=ViolationKind.choices)
    on = models.DateField(_("on"))
    source_type = models.CharField(max_length=60)
    source_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source_type", "source_id"], name="violation_one_per_source"),
        ]


class EscalationReason(models.TextChoices):
    MISSED_REPORT = "missed_report", _("Did not report")
    SERIOUS_VIOLATION = "serious_violation", _("Serious violation of the agreement")
    RELAPSE = "relapse", _("Relapse")


class EscalationState(models.TextChoices):
    OPEN = "open", _("Open")
    DECIDED = "decided", _("Decided")
    CLOSED = "closed", _("Closed")


class PoliceDecision(models.TextChoices):
    COMPULSORY_ISOLATION = "compulsory_isolation", _("Compulsory isolation")
    CONTINUE = "continue", _("Continue the community term")
    OTHER = "other", _("Other")


class Escalation(models.Model):
    """A case the community worker reports to the police (Reg 21); the police record their decision."""

    order = models.ForeignKey(CommunityOrder, on_delete=models.PROTECT, related_name="escalations")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="escalations")
    reason = models.CharField(_("reason"), max_length=20, choices=EscalationReason.choices)
    opened_on = models.DateField(_("opened on"))
    state = models.CharField(_("state"), max_length=10, choices=EscalationState.choices,
                             default=EscalationState.OPEN)
    # {"violations": [ids], "tests": [ids], "absences": [ids], "thresholds": [...]}: what the case rests on.
    evidence = models.JSONField(default=dict)
    decision = models.CharField(_("decision"), max_length=25, choices=PoliceDecision.choices, blank=True)
    decision_notes = models.CharField(_("notes"), max_length=500, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_on = models.DateField(_("decided on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-opened_on", "-id"]
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        constraints = [
            models.UniqueConstraint(fields=["order", "reason"], condition=models.Q(state="open"),
                                    name="escalation_one_open_per_reason"),
        ]


class OrderTransfer(models.Model):
    """A change of execution place (变更执行地, Reg 22): the file goes to the new township, which
    must receive the person within the rule set's days; the term runs on."""

    order = models.ForeignKey(CommunityOrder, on_delete=models.CASCADE, related_name="transfers")
    on = models.DateField(_("forwarded on"))
    from_office = models.ForeignKey(Jurisdiction, verbose_name=_("from"), on_delete=models.PROTECT, related_name="+")
    to_office = models.ForeignKey(Jurisdiction, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+")
    report_by = models.DateField(_("report to the new township by"))
    reported_on = models.DateField(_("received by the new township on"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-on", "-id"]
        verbose_name = _("change of execution place")
        verbose_name_plural = _("changes of execution place")


class ContactKind(models.TextChoices):
    CHECK_IN = "check_in", _("Face-to-face check")
    HOME_VISIT = "home_visit", _("Home visit")
    PLAN_REVIEW = "plan_review", _("Plan review")


class Contact(models.Model):
    """A face-to-face check, a home visit or a review of the person's plan, with the worker's notes."""

    order = models.ForeignKey(CommunityOrder, on_delete=models.PROTECT, related_name="contacts")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="supervision_contacts")
    kind = models.CharField(_("kind"), max_length=12, choices=ContactKind.choices)
    on = models.DateField(_("on"))
    notes = models.CharField(_("notes"), max_length=1000, blank=True)
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-on", "-id"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")


class RandomDraw(models.Model):
    """An unannounced-test draw: seeded and stored before anyone sees whom it picked, so anyone can
    re-run it from ``seed`` and ``candidates`` and get the same ``drawn``."""

    on = models.DateField(_("for the day"))
    office = models.ForeignKey(Jurisdiction, verbose_name=_("office"), on_delete=models.PROTECT, related_name="+")
    seed = models.CharField(max_length=64)
    share = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    count = models.PositiveIntegerField()
    # The candidate orders' person ids in a fixed (sorted) order, and the ones drawn.
    candidates = models.JSONField(default=list)
    drawn = models.JSONField(default=list)
    ruleset_version = models.CharField(max_length=40)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-on", "-id"]
        verbose_name = _("random test draw")
        verbose_name_plural = _("random test draws")
