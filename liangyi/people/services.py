"""Every write to the person registry: one function per business action, one transaction each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import access, audit, crypto, idnumber
from liangyi.core.errors import ConflictError, DomainError
from liangyi.core.models import Jurisdiction, User
from liangyi.people.fieldgroups import FIELD_GROUP
from liangyi.people.models import (
    STATUS_LABELS_ZH,
    Education,
    Employment,
    FamilyMember,
    MannerOfUse,
    Marital,
    Measure,
    Person,
    Plan,
    Status,
    TimelineEvent,
)

GENDER_WORDS = {"M": "M", "F": "F", "男": "M", "女": "F", "MALE": "M", "FEMALE": "F"}


def id_hash(number: str) -> str:
    return crypto.lookup_hash(number)


def find_by_id_number(raw: str) -> Person | None:
    """Exact lookup by ID number (any accepted spelling), without decrypting anything."""
    try:
        number = idnumber.parse(raw).number
    except idnumber.IdNumberError:
        return None
    return Person.objects.filter(id_number_hash=id_hash(number)).first()


def parse_status(raw: Any) -> str:
    text = str(raw or "").strip()
    if text in Status.values:
        return text
    for code, label in STATUS_LABELS_ZH.items():
        if text == label:
            return code
    for code, label in Status.choices:
        if text.lower() == str(label).lower():
            return code
    raise ValueError(_("Unknown status %(value)r: use a status code or its Chinese label, e.g. 社区康复.")
                     % {"value": text})


def _parse_date(raw: Any) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip().replace("/", "-").replace(".", "-")
    try:
        return date.fromisoformat(text)
    except ValueError:
        try:
            return datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            raise ValueError(_("%(value)r is not a date: write it as 2026-11-28.") % {"value": raw}) from None


def _choice(raw: Any, choices: type, field: str) -> str:
    text = str(raw).strip()
    if text in choices.values:
        return text
    for value, label in choices.choices:
        if text.lower() == str(label).lower():
            return value
    raise ValueError(_("%(value)r is not one of: %(options)s.")
                     % {"value": text, "options": ", ".join(choices.values)})


def _list(raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list | tuple):
        return [str(x).strip() for x in raw if str(x).strip()]
    for sep in "、，,;；":
        raw = str(raw).replace(sep, ",")
    return [x.strip() for x in str(raw).split(",") if x.strip()]


def _jurisdiction(raw: Any) -> Jurisdiction:
    if isinstance(raw, Jurisdiction):
        return raw
    code = str(raw).strip()
    found = Jurisdiction.objects.filter(code=code).first()
    if found is None:
        raise ValueError(_("%(code)s is not a known jurisdiction code.") % {"code": code})
    return found


def clean(data: dict[str, Any], *, existing: Person | None = None) -> dict[str, Any]:
    """Validate raw input (from a form, the API or a spreadsheet) into model values.

    Raises DomainError naming every field that is wrong and what to write instead.
    """
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    def present(field: str) -> bool:
        return field in data and data[field] is not None and str(data[field]).strip() != ""

    if present("name"):
        out["name"] = " ".join(str(data["name"]).split())
    elif existing is None or "name" in data:
        fail("name", _("The name is required."))

    parsed: idnumber.IdNumber | None = None
    if present("id_number"):
        try:
            parsed = idnumber.parse(data["id_number"])
            out["id_number"] = parsed.number
        except idnumber.IdNumberError as exc:
            fail("id_number", exc.message)
    elif existing is None or "id_number" in data:
        fail("id_number", _("The ID number is required."))

    if present("gender"):
        gender = GENDER_WORDS.get(str(data["gender"]).strip().upper())
        if gender is None:
            fail("gender", _("Gender must be 男 or 女 (M or F)."))
        else:
            out["gender"] = gender
    if present("birth_date"):
        try:
            out["birth_date"] = _parse_date(data["birth_date"])
        except ValueError as exc:
            fail("birth_date", str(exc))
    if parsed is not None:
        if "gender" in out and out["gender"] != parsed.gender:
            fail("gender", _("The gender does not agree with the ID number (its 17th digit says %(g)s).")
                 % {"g": "男" if parsed.gender == "M" else "女"})
        if "birth_date" in out and out["birth_date"] != parsed.birth_date:
            fail("birth_date", _("The birth date does not agree with the ID number (it says %(d)s).")
                 % {"d": parsed.birth_date.isoformat()})
        out.setdefault("gender", parsed.gender)
        out.setdefault("birth_date", parsed.birth_date)

    for field in ("household_jurisdiction", "residence_jurisdiction"):
        if present(field):
            try:
                out[field] = _jurisdiction(data[field])
            except ValueError as exc:
                fail(field, str(exc))
        elif field in data and field == "residence_jurisdiction":
            out[field] = None
    if existing is None and "household_jurisdiction" not in out and "household_jurisdiction" not in errors:
        fail("household_jurisdiction", _("The household-registration jurisdiction code is required."))

    if present("status"):
        try:
            out["status"] = parse_status(data["status"])
        except ValueError as exc:
            fail("status", str(exc))
    elif existing is None:
        fail("status", _("The status is required."))

    for field, choices in (("education", Education), ("marital_status", Marital), ("employment", Employment),
                           ("manner_of_use", MannerOfUse)):
        if present(field):
            try:
                out[field] = _choice(data[field], choices, field)
            except ValueError as exc:
                fail(field, str(exc))
        elif field in data:
            out[field] = ""

    for field in ("ethnicity", "household_address", "residence_address", "phone", "health_notes",
                  "infectious_disease", "police_notes"):
        if field in data:
            out[field] = " ".join(str(data[field] or "").split()) if field != "police_notes" else str(
                data[field] or "").strip()
    if out.get("phone"):
        digits = out["phone"].replace(" ", "").replace("-", "")
        if not digits.lstrip("+").isdigit() or not 7 <= len(digits.lstrip("+")) <= 15:
            fail("phone", _("The phone number may contain only digits (7 to 15 of them)."))
        out["phone"] = digits
    for field in ("aliases", "substances"):
        if field in data:
            out[field] = _list(data[field])
    if "has_skill" in data:
        value = data["has_skill"]
        out["has_skill"] = None if value in (None, "") else str(value).lower() in {"1", "true", "yes", "是", "有"}
    if present("first_use_year"):
        try:
            year = int(str(data["first_use_year"]).strip())
            if not 1900 <= year <= timezone.localdate().year:
                raise ValueError
            out["first_use_year"] = year
        except ValueError:
            fail("first_use_year", _("The first-use year must be a year such as 2015."))
    elif "first_use_year" in data:
        out["first_use_year"] = None
    if "responsible_worker" in data:
        worker = data["responsible_worker"]
        if worker in (None, ""):
            out["responsible_worker"] = None
        elif isinstance(worker, User):
            out["responsible_worker"] = worker
        else:
            found = User.objects.filter(username=str(worker)).first()
            if found is None:
                fail("responsible_worker", _("No user is called %(u)s.") % {"u": worker})
            out["responsible_worker"] = found

    for field, value in out.items():
        limit = getattr(Person._meta.get_field(field), "max_length", None) if field != "id_number" else None
        if limit and isinstance(value, str) and len(value) > limit:
            fail(field, _("At most %(n)d characters, please.") % {"n": limit})

    if errors:
        raise DomainError(errors=errors)
    return out


def _place(values: dict[str, Any], existing: Person | None) -> tuple[Jurisdiction, str]:
    """Where the person lies (residence, else household), and which field decided it."""
    residence = values.get("residence_jurisdiction", existing.residence_jurisdiction if existing else None)
    if residence is not None:
        return residence, "residence_jurisdiction"
    household = values.get("household_jurisdiction", existing.household_jurisdiction if existing else None)
    return household, "household_jurisdiction"


def _check_may_write(actor: User, values: dict[str, Any], where: tuple[Jurisdiction, str], action: str) -> None:
    if not access.has_action(actor, action):
        raise DomainError(_("Your role may not do this."))
    place, field = where
    if not access.in_reach(actor, place.code):
        raise DomainError(errors={field: [_("%(place)s is outside your jurisdiction.") % {"place": place}]})
    hidden = sorted(f for f in values if f in FIELD_GROUP and not access.sees(actor, FIELD_GROUP[f]))
    if hidden:
        raise DomainError(errors={f: [_("Your role may not set this field.")] for f in hidden})


# A demo history written today through the chains' services must not read as if it happened
# today: the demo generator sets this clock (see ``timeline_clock``); real use never does.
_timeline_clock: ContextVar[datetime | None] = ContextVar("timeline_clock", default=None)


@contextmanager
def timeline_clock(at: datetime) -> Iterator[None]:
    """Within this block, timeline events without an explicit time are stamped ``at``."""
    token = _timeline_clock.set(at)
    try:
        yield
    finally:
        _timeline_clock.reset(token)


def timeline_add(
    *, person: Person, kind: str, summary: str, actor: User | None = None, ref: Any = None,
    at: datetime | None = None, group: str = "",
) -> TimelineEvent:
    """Append to the person's timeline. Chains call this inside their own transaction.

    ``group`` is the field group a reader needs to see this event (see core/access_matrix.toml).
    """
    if group and group not in access.field_groups():
        raise ValueError(f"unknown field group {group!r}")
    return TimelineEvent.objects.create(
        person=person, kind=kind, summary=summary[:300], actor=actor if actor and actor.pk else None, group=group,
        occurred_at=at or _timeline_clock.get() or timezone.now(),
        ref_type=ref._meta.label_lower if ref is not None else "", ref_id=str(ref.pk) if ref is not None else "",
    )


def _flag_duplicate(person: Person) -> None:
    twin = (Person.objects.filter(name=person.name, birth_date=person.birth_date)
            .exclude(pk=person.pk).order_by("created_at").first())
    if twin is not None and person.possible_duplicate_of_id != twin.pk:
        person.possible_duplicate_of = twin
        person.save(update_fields=["possible_duplicate_of"])


@transaction.atomic
def person_create(*, actor: User, data: dict[str, Any], request: HttpRequest | None = None,
                  via: str = "form") -> Person:
    """Register a new person. The ID number must not be registered already."""
    values = clean(data)
    where = _place(values, None)
    _check_may_write(actor, values, where, "create")
    place = where[0]
    number = values.pop("id_number")
    if Person.objects.filter(id_number_hash=id_hash(number)).exists():
        raise DomainError(errors={"id_number": [_("A person with this ID number is already registered.")]})
    person = Person(
        **values, id_number=number, id_number_hash=id_hash(number), id_number_masked=idnumber.mask(number),
        jurisdiction=place,
    )
    person.save(force_insert=True)
    _flag_duplicate(person)
    audit.record(actor, "person.created", person, request=request, via=via)
    timeline_add(person=person, kind="person.created", actor=actor, ref=person,
                 summary=_("Registered by %(who)s") % {"who": actor.display_name})
    return person


@transaction.atomic
def person_update(
    *, actor: User, person: Person, data: dict[str, Any], request: HttpRequest | None = None,
    expected_version: int | None = None, via: str = "form",
) -> list[str]:
    """Change a person's record; returns the names of the fields that changed (none: nothing written)."""
    if not access.in_reach(actor, person.jurisdiction_id):
        raise DomainError(_("This person is outside your jurisdiction."))
    values = clean(data, existing=person)
    where = _place(values, person)
    _check_may_write(actor, values, where, "edit")
    place = where[0]
    if expected_version is not None and expected_version != person.version:
        raise ConflictError(_("Someone else changed this record while you were editing it. "
                              "Your input is kept below: check the current record and save again."))
    if "id_number" in values:
        number = values.pop("id_number")
        if number != person.id_number:
            if Person.objects.filter(id_number_hash=id_hash(number)).exclude(pk=person.pk).exists():
                raise DomainError(errors={"id_number": [_("Another person has this ID number.")]})
            values.update(id_number=number, id_number_hash=id_hash(number), id_number_masked=idnumber.mask(number))
    changed = [f for f, v in values.items() if getattr(person, f) != v]
    if place.code != person.jurisdiction_id:
        values["jurisdiction"] = place
        changed.append("jurisdiction")
    if not changed:
        return []
    for field in changed:
        setattr(person, field, values[field])
    updated = Person.objects.filter(pk=person.pk, version=person.version).update(version=F("version") + 1)
    if not updated:
        raise ConflictError(_("Someone else changed this record at the same moment. Reload it and save again."))
    person.version += 1
    person.save(update_fields=[*changed, "updated_at"])
    public = sorted({f for f in changed if f not in ("id_number_hash", "id_number_masked")})
    audit.record(actor, "person.updated", person, request=request, fields=public, via=via)
    labels = ", ".join(str(Person._meta.get_field(f).verbose_name) for f in public if f != "jurisdiction")
    timeline_add(person=person, kind="person.updated", actor=actor, ref=person,
                 summary=_("%(who)s changed: %(fields)s") % {"who": actor.display_name, "fields": labels or "—"})
    return public


@transaction.atomic
def family_member_add(*, actor: User, person: Person, relation: str, name: str, phone: str = "",
                      is_emergency_contact: bool = False, request: HttpRequest | None = None) -> FamilyMember:
    if not (access.can(actor, "edit", person) and access.sees(actor, "contact")):
        raise DomainError(_("Your role may not change this person's contacts."))
    if not name.strip() or not relation.strip():
        raise DomainError(errors={"name": [_("Give the contact's name and relation.")]})
    member = FamilyMember.objects.create(person=person, relation=relation.strip(), name=name.strip(),
                                         phone=phone.strip(), is_emergency_contact=is_emergency_contact)
    audit.record(actor, "person.family_added", member, request=request, person_id=person.pk)
    timeline_add(person=person, kind="person.family_added", actor=actor, ref=member,
                 summary=_("Contact added: %(relation)s") % {"relation": member.relation})
    return member


@transaction.atomic
def measure_add(*, actor: User, person: Person, kind: str, start_on: date, end_on: date | None = None,
                authority: str = "", request: HttpRequest | None = None) -> Measure:
    if not (access.can(actor, "edit", person) and access.sees(actor, "drug_history")):
        raise DomainError(_("Your role may not record measures."))
    if end_on and end_on < start_on:
        raise DomainError(errors={"end_on": [_("The end date is before the start date.")]})
    measure = Measure.objects.create(person=person, kind=kind, start_on=start_on, end_on=end_on, authority=authority)
    # A measure can start a schedule (obligations.schedules.drug_tests): the nightly run plans
    # whole the persons whose record changed since its last run.
    Person.objects.filter(pk=person.pk).update(updated_at=timezone.now())
    audit.record(actor, "person.measure_added", measure, request=request, person_id=person.pk)
    timeline_add(person=person, kind="person.measure_added", actor=actor, ref=measure, group="drug_history",
                 summary=_("Measure recorded: %(kind)s from %(start)s")
                 % {"kind": measure.get_kind_display(), "start": start_on.isoformat()})
    return measure


@transaction.atomic
def plan_set(*, actor: User, person: Person, summary: str, review_on: date | None,
             request: HttpRequest | None = None) -> Plan:
    """Record the person's current individual plan (一人一档一策); the previous one is kept."""
    if not access.can(actor, "edit", person):
        raise DomainError(_("Your role may not change this person's plan."))
    if not summary.strip():
        raise DomainError(errors={"summary": [_("Write what the plan is.")]})
    plan = Plan.objects.create(person=person, summary=summary.strip(), review_on=review_on, author=actor)
    audit.record(actor, "person.plan_set", plan, request=request, person_id=person.pk)
    timeline_add(person=person, kind="person.plan_set", actor=actor, ref=plan, summary=_("New individual plan"))
    return plan


def reveal(*, actor: User, person: Person, field: str, request: HttpRequest | None = None) -> str:
    """The full value of a masked field, for a role allowed to see it; every reveal is audited."""
    from liangyi.people.fieldgroups import REVEALABLE

    group = REVEALABLE.get(field)
    if group is None or not access.sees(actor, group) or not access.can(actor, "reveal", person):
        audit.record(actor, "person.reveal", person, request=request, outcome="denied", field=field)
        raise DomainError(_("Your role may not see this field in full."))
    audit.record(actor, "person.reveal", person, request=request, field=field)
    value = getattr(person, field)
    return value.isoformat() if isinstance(value, date) else (value or "")
