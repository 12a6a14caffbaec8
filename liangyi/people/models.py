"""The person master record ("the one file"), family and contacts, measures, and the timeline."""

from __future__ import annotations

import uuid
from datetime import date

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from liangyi.core import rules
from liangyi.core.fields import EncryptedTextField
from liangyi.core.models import Jurisdiction, User


class Status(models.TextChoices):
    ISOLATION = "isolation", _("Compulsory isolation")
    AWAITING_REPORT = "awaiting_report", _("Awaiting report")
    COMMUNITY_DRUG_REHAB = "community_drug_rehab", _("Community drug rehab")
    COMMUNITY_REHAB = "community_rehab", _("Community rehab")
    SUSPENDED = "suspended", _("Suspended")
    COMPLETED = "completed", _("Term completed")
    ABSTINENT_3Y = "abstinent_3y", _("Three years without relapse")
    IMPRISONED = "imprisoned", _("Serving a sentence")
    DECEASED = "deceased", _("Deceased")
    WHEREABOUTS_UNKNOWN = "whereabouts_unknown", _("Whereabouts unknown")


# The Chinese labels of the interface contract (INTERFACES.md): spreadsheets use these whatever
# the interface language is.
STATUS_LABELS_ZH = {
    Status.ISOLATION: "强制隔离戒毒",
    Status.AWAITING_REPORT: "待报到",
    Status.COMMUNITY_DRUG_REHAB: "社区戒毒",
    Status.COMMUNITY_REHAB: "社区康复",
    Status.SUSPENDED: "中止",
    Status.COMPLETED: "期满解除",
    Status.ABSTINENT_3Y: "戒断三年未复吸",
    Status.IMPRISONED: "服刑",
    Status.DECEASED: "死亡",
    Status.WHEREABOUTS_UNKNOWN: "下落不明",
}

# Statuses under an active measure (the reconciliation's "missing_in_police" uses these too).
ACTIVE_STATUSES = (
    Status.ISOLATION, Status.AWAITING_REPORT, Status.COMMUNITY_DRUG_REHAB, Status.COMMUNITY_REHAB, Status.SUSPENDED,
)


class Gender(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class Education(models.TextChoices):
    NONE = "none", _("No schooling")
    PRIMARY = "primary", _("Primary school")
    JUNIOR = "junior", _("Junior middle school")
    SENIOR = "senior", _("Senior middle / vocational school")
    COLLEGE = "college", _("College or above")


class Marital(models.TextChoices):
    SINGLE = "single", _("Single")
    MARRIED = "married", _("Married")
    DIVORCED = "divorced", _("Divorced")
    WIDOWED = "widowed", _("Widowed")


class Employment(models.TextChoices):
    EMPLOYED = "employed", _("Employed")
    SELF_EMPLOYED = "self_employed", _("Self-employed / farming")
    UNEMPLOYED = "unemployed", _("Not employed")
    RETIRED = "retired", _("Retired / unable to work")


class MannerOfUse(models.TextChoices):
    SMOKING = "smoking", _("Smoking / inhaling")
    INJECTING = "injecting", _("Injecting")
    ORAL = "oral", _("Oral")
    NASAL = "nasal", _("Snorting")
    MIXED = "mixed", _("Mixed")


class Person(models.Model):
    """One record per real person, keyed by the keyed hash of their ID number."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=60, db_index=True)
    aliases = models.JSONField(_("aliases"), default=list, blank=True)
    # identity: the number is encrypted; the keyed hash finds it, the masked form lists it.
    id_number = EncryptedTextField(_("ID number"))
    id_number_hash = models.CharField(max_length=64, unique=True)
    id_number_masked = models.CharField(_("ID number"), max_length=18)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices)
    birth_date = models.DateField(_("birth date"))
    ethnicity = models.CharField(_("ethnicity"), max_length=20, blank=True)
    education = models.CharField(_("education"), max_length=10, choices=Education.choices, blank=True)
    marital_status = models.CharField(_("marital status"), max_length=10, choices=Marital.choices, blank=True)
    employment = models.CharField(_("employment"), max_length=15, choices=Employment.choices, blank=True)
    has_skill = models.BooleanField(_("has a skill or trade"), null=True, blank=True)
    # where: a person lies in the residence jurisdiction, or else the household one (`jurisdiction`).
    household_jurisdiction = models.ForeignKey(
        Jurisdiction, verbose_name=_("household registration"), on_delete=models.PROTECT, related_name="+"
    )
    household_address = EncryptedTextField(_("household address"), blank=True)
    residence_jurisdiction = models.ForeignKey(
        Jurisdiction, verbose_name=_("residence"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    residence_address = EncryptedTextField(_("residence address"), blank=True)
    jurisdiction = models.ForeignKey(
        Jurisdiction, verbose_name=_("jurisdiction"), on_delete=models.PROTECT, related_name="persons", editable=False
    )
    phone = EncryptedTextField(_("phone"), blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    responsible_worker = models.ForeignKey(
        User, verbose_name=_("responsible worker"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # drug history
    substances = models.JSONField(_("substances"), default=list, blank=True)
    first_use_year = models.PositiveSmallIntegerField(_("first-use year"), null=True, blank=True)
    manner_of_use = models.CharField(_("manner of use"), max_length=10, choices=MannerOfUse.choices, blank=True)
    # medical / infectious disease / police notes: encrypted, each its own field group
    health_notes = EncryptedTextField(_("health notes"), blank=True)
    infectious_disease = EncryptedTextField(_("infectious-disease status"), blank=True)
    police_notes = EncryptedTextField(_("police notes"), blank=True)
    # bookkeeping
    possible_duplicate_of = models.ForeignKey(
        "self", verbose_name=_("possible duplicate of"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    verified_at = models.DateTimeField(_("information verified"), null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        indexes = [
            models.Index(fields=["jurisdiction", "status"]),
            models.Index(fields=["name", "birth_date"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id_number_masked})"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def masked_birth_date(self) -> str:
        """The year only: with the masked ID number (which keeps digits 1-6 and 15-18) the full
        date would give away the whole number (digits 7-14) without an audited reveal."""
        return f"{self.birth_date:%Y}-**-**" if self.birth_date else ""


def mask_phone(phone: str) -> str:
    if not phone:
        return ""
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


def mask_address(address: str) -> str:
    if not address:
        return ""
    keep = min(6, max(len(address) // 3, 1))
    return address[:keep] + "****"


class FamilyMember(models.Model):
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="family")
    relation = models.CharField(_("relation"), max_length=20)
    name = models.CharField(_("name"), max_length=60)
    phone = EncryptedTextField(_("phone"), blank=True)
    is_emergency_contact = models.BooleanField(_("emergency contact"), default=False)
    notes = models.CharField(_("notes"), max_length=200, blank=True)

    class Meta:
        ordering = ["-is_emergency_contact", "id"]
        verbose_name = _("family member or contact")
        verbose_name_plural = _("family members and contacts")

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


class MeasureKind(models.TextChoices):
    ISOLATION = "isolation", _("Compulsory isolation")
    COMMUNITY_DRUG_REHAB = "community_drug_rehab", _("Community drug rehab")
    COMMUNITY_REHAB = "community_rehab", _("Community rehab")
    VOLUNTARY = "voluntary", _("Voluntary rehab")
    # Public-security punishments for drug use (治安管理处罚法): sealed by its article 136.
    PS_DETENTION = "ps_detention", _("Administrative detention for drug use")
    PS_FINE = "ps_fine", _("Fine for drug use")


def sealing_in_force(on: date | None = None) -> bool:
    return (on or timezone.localdate()) >= date.fromisoformat(rules.current().value("sealing_in_force_from"))


def sealed_kinds() -> list[str]:
    return list(rules.current().value("sealed_measure_kinds"))


def sealed_measures_q() -> Q:
    """The measures the law seals: stamped sealed, or of a sealed kind once sealing is in force
    (so a row written by a path that did not stamp it is hidden all the same)."""
    q = Q(sealed_at__isnull=False)
    if sealing_in_force() and rules.current().value("sealing_covers_earlier_records"):
        q |= Q(kind__in=sealed_kinds())
    return q


class MeasureManager(models.Manager):
    """The default manager (and so ``person.measures``): sealed measures are left out."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().exclude(sealed_measures_q())


class Measure(models.Model):
    """A rehab measure the person has been under (the history; the chains keep the details)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="measures")
    kind = models.CharField(_("measure"), max_length=25, choices=MeasureKind.choices)
    start_on = models.DateField(_("from"))
    end_on = models.DateField(_("until"), null=True, blank=True)
    authority = models.CharField(_("decided by"), max_length=100, blank=True)
    notes = models.CharField(_("notes"), max_length=200, blank=True)
    # Sealed by law (治安管理处罚法 art. 136): kept, but out of every ordinary read. sealed_by is
    # empty when the rule sealed it; sealed_basis names the rule and its source.
    sealed_at = models.DateTimeField(_("sealed"), null=True, blank=True)
    sealed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sealed_basis = models.CharField(_("legal basis of the sealing"), max_length=200, blank=True)

    objects = MeasureManager()  # first: the default manager, so related managers leave sealed rows out
    with_sealed = models.Manager()  # noqa: DJ012 (a manager, not a field): only people.sealing uses it

    class Meta:
        default_manager_name = "objects"
        ordering = ["-start_on"]
        verbose_name = _("measure")
        verbose_name_plural = _("measures")


class Plan(models.Model):
    """The person's individual plan ("one person, one file, one plan"); the newest is current."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="plans")
    summary = models.TextField(_("plan"))
    review_on = models.DateField(_("review on"), null=True, blank=True)
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("individual plan")
        verbose_name_plural = _("individual plans")


class TimelineManager(models.Manager):
    """The default manager (and so ``person.timeline``): events of sealed records are left out."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(sealed_at__isnull=True)


class TimelineEvent(models.Model):
    """Everything recorded about a person, newest first. Chains append; it never reads them."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=60)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    summary = models.CharField(max_length=300)
    # The field group a reader must see for this event ("" = anyone who sees the person), so a
    # summary about a drug test or a diagnosis never reaches a role without that group.
    group = models.CharField(max_length=30, blank=True)
    ref_type = models.CharField(max_length=60, blank=True)
    ref_id = models.CharField(max_length=64, blank=True)
    # Set with the sealed record the event is about (people.sealing): out of every ordinary read.
    sealed_at = models.DateTimeField(null=True, blank=True)

    objects = TimelineManager()
    with_sealed = models.Manager()  # noqa: DJ012 (a manager, not a field): only people.sealing uses it

    class Meta:
        default_manager_name = "objects"
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["person", "-occurred_at"])]


class SealedBasis(models.TextChoices):
    CASE = "case", _("Case handling by a state organ (办案需要)")
    REGULATION = "regulation", _("Query under national regulations (根据国家规定查询)")


class SealedOpening(models.Model):
    """One opening of a person's sealed records, with its stated legal basis; shown for a short time."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="sealed_openings")
    basis = models.CharField(_("legal basis"), max_length=20, choices=SealedBasis.choices)
    reference = models.CharField(_("case or reference number"), max_length=100)
    note = models.CharField(_("note"), max_length=300, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["-starts_at"]




class ImportRun(models.Model):
    """One upload on the import page, read by a background task; the page polls its progress."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting to start")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    actor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=255)
    # The upload waits here (LIANGYI_VAR_DIR/imports/) until the task has read it, then is deleted.
    stored_path = models.CharField(max_length=500, blank=True)
    dry_run = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    rows_done = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)  # rows below the header, blank ones included
    result = models.JSONField(default=dict, blank=True)  # counts and the first rejected rows
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def active(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    @property
    def percent(self) -> int:
        return min(100, self.rows_done * 100 // self.rows_total) if self.rows_total else 0
