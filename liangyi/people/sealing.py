"""Sealed records: public-security punishments for drug use (治安管理处罚法, art. 136).

The law says such records "shall be sealed" (应当予以封存): no discretion, no request, so sealing
is automatic. A punishment recorded once sealing is in force (rule ``sealing_in_force_from``) is
sealed in the same transaction as it is written; ``seal_due`` stamps any row of a sealed kind that
another path wrote unsealed (the daily job ``people.seal_records``), and the default managers of
``Measure`` and ``TimelineEvent`` leave sealed rows out of every ordinary read meanwhile, so
nothing that lists, shows, exports or serialises them can forget. Only a role with
``open_sealed`` opens them, stating the legal basis the article allows and a case or reference
number; each opening and each view is audited. See docs/security.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import access, audit, rules
from liangyi.core.errors import DomainError
from liangyi.core.models import Outcome, User
from liangyi.people import services
from liangyi.people.models import (
    Measure,
    MeasureKind,
    Person,
    SealedBasis,
    SealedOpening,
    TimelineEvent,
    sealed_kinds,
    sealed_measures_q,
    sealing_in_force,
)


def basis_text() -> str:
    """What a sealing stamped by the rule names as its legal basis."""
    return "治安管理处罚法 第一百三十六条 (rule sealed_measure_kinds)"


def _seal(measures: QuerySet[Measure], now: Any) -> int:
    ids = list(measures.filter(sealed_at__isnull=True).values_list("pk", flat=True))
    if not ids:
        return 0
    Measure.with_sealed.filter(pk__in=ids).update(sealed_at=now, sealed_basis=basis_text())
    TimelineEvent.with_sealed.filter(ref_type="people.measure", ref_id__in=[str(i) for i in ids],
                                     sealed_at__isnull=True).update(sealed_at=now)
    return len(ids)


@transaction.atomic
def punishment_record(*, person: Person, kind: str, start_on: date, actor: User, end_on: date | None = None,
                      authority: str = "", notes: str = "", request: HttpRequest | None = None) -> Measure:
    """Record a public-security punishment for drug use; sealed at once when sealing is in force."""
    if not (access.can(actor, "edit", person) and access.sees(actor, "drug_history")):
        raise DomainError(_("Your role may not record measures."))
    if kind not in (MeasureKind.PS_DETENTION, MeasureKind.PS_FINE):
        raise DomainError(errors={"kind": [_("Choose administrative detention or a fine.")]})
    measure = Measure.with_sealed.create(person=person, kind=kind, start_on=start_on, end_on=end_on,
                                         authority=authority, notes=notes)
    services.timeline_add(person=person, kind="person.measure_added", actor=actor, ref=measure,
                          group="drug_history",
                          summary=_("Measure recorded: %(kind)s from %(start)s")
                          % {"kind": MeasureKind(kind).label, "start": start_on.isoformat()})
    sealed = sealing_in_force() and kind in sealed_kinds() and _seal(
        Measure.with_sealed.filter(pk=measure.pk), timezone.now()) > 0
    audit.record(actor, "person.punishment_recorded", person, request=request, measure=measure.pk, kind=kind,
                 sealed=sealed)
    measure.refresh_from_db()
    return measure


@transaction.atomic
def seal_due(*, on: date | None = None) -> int:
    """Stamp every row of a sealed kind not yet stamped (idempotent). Returns how many were sealed."""
    if not sealing_in_force(on):
        return 0
    due = Measure.with_sealed.filter(kind__in=sealed_kinds())
    if not rules.current().value("sealing_covers_earlier_records"):
        due = due.filter(start_on__gte=date.fromisoformat(rules.current().value("sealing_in_force_from")))
    count = _seal(due, timezone.now())
    if count:
        audit.record(None, "sealed.sealed_by_rule", None, username="system", count=count, basis=basis_text())
    return count


def sealed_measures(person: Person) -> QuerySet[Measure]:
    return Measure.with_sealed.filter(sealed_measures_q(), person=person).order_by("-start_on")


def sealed_events(person: Person) -> QuerySet[TimelineEvent]:
    return TimelineEvent.with_sealed.filter(person=person, sealed_at__isnull=False).select_related("actor")


def sealed_count(person: Person) -> int:
    return sealed_measures(person).count()


def opening_for(user: User, person: Person) -> SealedOpening | None:
    """The user's opening of this person's sealed records in force now, if any."""
    if not access.has_action(user, "open_sealed"):
        return None
    now = timezone.now()
    return (SealedOpening.objects.filter(user=user, person=person, starts_at__lte=now, ends_at__gt=now)
            .order_by("-ends_at").first())


@transaction.atomic
def sealed_open(*, user: User, person: Person, basis: str, reference: str, note: str = "",
                request: HttpRequest | None = None) -> SealedOpening:
    """Open the sealed records for ``sealed_open_minutes``, on a stated legal basis (audited)."""
    if not access.has_action(user, "open_sealed"):
        audit.record(user, "access.denied", person, request=request, outcome=Outcome.DENIED, action_name="open_sealed")
        raise PermissionDenied
    reference = (reference or "").strip()
    errors: dict[str, list[str]] = {}
    if basis not in SealedBasis.values:
        errors["basis"] = [_("Choose the legal basis of the query.")]
    if len(reference) < 4:
        errors["reference"] = [_("Give the case number or the reference of the query (at least 4 characters).")]
    if errors:
        raise DomainError(errors=errors)
    now = timezone.now()
    opening = SealedOpening.objects.create(
        user=user, person=person, basis=basis, reference=reference, note=(note or "").strip(), starts_at=now,
        ends_at=now + timedelta(minutes=int(rules.current().value("sealed_open_minutes"))))
    audit.record(user, "sealed.opened", opening, request=request, person_id=person.pk, basis=basis,
                 reference=reference, note=opening.note, ends_at=opening.ends_at.isoformat())
    return opening
