"""One table for everything due by a date, for every chain.

Only the closing facts are stored (``done_at`` with the fulfilment or the waiver). Whether an open
obligation is upcoming, due or overdue is derived from its dates at read time
(``selectors.state_of`` / ``selectors.with_state``), so no nightly job has to update any row.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Coalesce, Least
from django.utils.translation import gettext_lazy as _

from liangyi.core.models import Jurisdiction, User
from liangyi.people.models import Person

# The issue fixes the worklist's look-ahead at 7 days: obligations due within a week are listed.
# ``Obligation.listed_from`` is computed by the database from it; changing it needs a migration.
WORKLIST_DAYS = 7


class DaysBefore(models.Func):
    """``date - n days`` as a date, in a form both databases accept in a stored generated column."""

    output_field = models.DateField()

    def __init__(self, expression, days: int) -> None:
        super().__init__(expression)
        self.days = int(days)

    def as_sql(self, compiler, connection, **extra):  # noqa: ARG002
        raise NotImplementedError(f"DaysBefore is not written for {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} - {self.days})", params

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"date({sql}, '-{self.days} days')", params


class Kind(models.TextChoices):
    REPORT = "report", _("Report after release")
    DRUG_TEST = "drug_test", _("Drug test")
    CHECK_IN = "check_in", _("Face-to-face check")
    HOME_VISIT = "home_visit", _("Home visit")
    REASSESSMENT = "reassessment", _("Reassessment")
    PLAN_REVIEW = "plan_review", _("Plan review")
    INSURANCE_RENEWAL = "insurance_renewal", _("Insurance renewal")


class State(models.TextChoices):
    UPCOMING = "upcoming", _("Upcoming")
    DUE = "due", _("Due")
    OVERDUE = "overdue", _("Overdue")
    DONE = "done", _("Done")
    WAIVED = "waived", _("Waived")


class Obligation(models.Model):
    """Something a person (and the office responsible for them) must do by a date."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="obligations")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    due_on = models.DateField(_("due on"))
    # The period in which doing it counts (a test "this month"); empty = only the due date.
    window_start = models.DateField(_("from"), null=True, blank=True)
    window_end = models.DateField(_("until"), null=True, blank=True)
    office = models.ForeignKey(
        Jurisdiction, verbose_name=_("responsible office"), on_delete=models.PROTECT, related_name="+"
    )
    worker = models.ForeignKey(
        User, verbose_name=_("responsible worker"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who made it: the generator key ("supervision.drug_tests"), a natural key stable across
    # re-runs within that generator, and the rule-set version that planned its current dates.
    source = models.CharField(max_length=60)
    key = models.CharField(max_length=100)
    ruleset_version = models.CharField(max_length=40)
    # Closing facts. done_at is set when the obligation is closed, fulfilled or waived alike, so
    # "open" is simply done_at IS NULL (the partial index below relies on it).
    done_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    done_on = models.DateField(_("done on"), null=True, blank=True)
    done_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    fulfilled_by_type = models.CharField(max_length=60, blank=True)
    fulfilled_by_id = models.CharField(max_length=64, blank=True)
    waived_reason = models.CharField(_("reason for waiving"), max_length=300, blank=True)
    waived_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Read-side copies, kept by the database so the worklist needs no join and one index range:
    # person_place is the person's Person.jurisdiction, set on insert and whenever the person moves
    # (triggers, see ``placing``); listed_from is the first day the obligation is on the worklist
    # (WORKLIST_DAYS before it is due, or when its window opens if that is earlier).
    person_place = models.CharField(max_length=12, editable=False, default="")
    listed_from = models.GeneratedField(
        expression=Least(DaysBefore("due_on", WORKLIST_DAYS), Coalesce("window_start", "due_on")),
        output_field=models.DateField(), db_persist=True, editable=False,
    )

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("obligation")
        verbose_name_plural = _("obligations")
        constraints = [
            models.UniqueConstraint(fields=["person", "source", "key"], name="obligation_unique_key"),
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True) | models.Q(window_start__lte=models.F("due_on")),
                name="obligation_window_starts_before_due",
            ),
        ]
        indexes = [
            models.Index(fields=["office", "due_on"], name="obligation_office_open",
                         condition=models.Q(done_at__isnull=True)),
            models.Index(fields=["worker", "due_on"], name="obligation_worker_due"),
            models.Index(fields=["person", "kind", "due_on"], name="obligation_person_kind"),
            # The worklist: counted per place (one range per place, index only), paged by due date.
            # (Trailing key columns rather than INCLUDE, which SQLite lacks: the same index-only reads.)
            models.Index(fields=["person_place", "listed_from", "due_on"], name="obligation_place_listed",
                         condition=models.Q(done_at__isnull=True)),
            models.Index(fields=["due_on", "listed_from", "person_place"], name="obligation_open_due",
                         condition=models.Q(done_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.due_on:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.done_at is None

    @property
    def is_waived(self) -> bool:
        return self.done_at is not None and bool(self.waived_reason)


class CalendarToken(models.Model):
    """The secret in a worker's calendar-feed URL (``/worklist/calendar/<token>.ics``).

    Calendar apps cannot log in, so the URL is the credential: only its SHA-256 is stored, issuing a
    new one revokes the old, and the feed shows no more than a surname and the kind of obligation.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="calendar_token")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)


class GenerationRun(models.Model):
    """One nightly generation (``obligations.nightly``): how far it planned and with what, so the next
    night knows whether planning only the new window is enough or everything must be planned again."""

    class Mode(models.TextChoices):
        FULL = "full", _("Everything planned again")
        WINDOW = "window", _("The new window only")

    today = models.DateField()
    mode = models.CharField(max_length=10, choices=Mode.choices)
    reason = models.CharField(max_length=200, blank=True)  # why a full run, in English (an operator's log)
    since = models.DateField(null=True, blank=True)  # a window run plans what falls due after this
    horizon = models.DateField()
    ruleset_version = models.CharField(max_length=64)
    fingerprint = models.CharField(max_length=64)  # engine.planner_fingerprint
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # empty: cut off, or still running
    replanned = models.PositiveIntegerField(default=0)  # persons planned whole in a window run
    created = models.PositiveIntegerField(default=0)
    rescheduled = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["finished_at"], name="generation_run_finished")]

    def __str__(self) -> str:
        return f"{self.today} {self.mode} → {self.horizon}"
