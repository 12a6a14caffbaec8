"""Recording a year of medical insurance: audited, on the timeline, and meeting the renewal."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import audit
from liangyi.core.errors import DomainError
from liangyi.core.models import User
from liangyi.medical import plans
from liangyi.medical.models import InsuranceYear, Scheme
from liangyi.obligations import engine
from liangyi.obligations.models import Kind, Obligation
from liangyi.people.models import Person
from liangyi.people.services import timeline_add

# How far from today a year on record may lie: the past years a file is completed with, and the
# next year, which is paid in advance. A sanity bound on typing, not a rule.
YEARS_BACK, YEARS_AHEAD = 10, 1


def _check(year: int, scheme: str, paid_on: date | None, today: date) -> None:
    errors: dict[str, list[str]] = {}
    if not today.year - YEARS_BACK <= year <= today.year + YEARS_AHEAD:
        errors["year"] = [_("Enter a year from %(first)s to %(last)s.") % {
            "first": today.year - YEARS_BACK, "last": today.year + YEARS_AHEAD}]
    if scheme not in Scheme.values:
        errors["scheme"] = [_("Choose the scheme.")]
    if paid_on is not None:
        if paid_on > today:
            errors["paid_on"] = [_("The date lies in the future. Enter the day it was paid.")]
        elif scheme == Scheme.NONE:
            errors["paid_on"] = [_("A person who is not insured has paid nothing: leave the date empty.")]
        elif paid_on.year > year:
            errors["paid_on"] = [_("A year is paid before or during it, not after: check the year and the date.")]
    elif scheme == Scheme.RESIDENT:
        errors["paid_on"] = [_("Enter the day the contribution was paid, or choose 'Not insured'.")]
    if errors:
        raise DomainError(errors=errors)


@transaction.atomic
def year_record(*, person: Person, year: int, scheme: str, paid_on: date | None, actor: User,
                subsidised: bool = False, notes: str = "") -> InsuranceYear:
    """Record (or correct) the person's insurance for ``year``. A paid year meets its open renewal."""
    _check(year, scheme, paid_on, timezone.localdate())
    record, created = InsuranceYear.objects.update_or_create(
        person=person, year=year,
        defaults={"scheme": scheme, "paid_on": paid_on, "subsidised": subsidised, "notes": notes.strip()[:200],
                  "recorded_by": actor})
    audit.record(actor, "insurance.recorded", record, person_id=person.pk, year=year, scheme=scheme,
                 paid_on=paid_on, subsidised=subsidised, created=created)
    summary = (_("Insurance for %(year)s: %(scheme)s, paid on %(on)s") if paid_on else
               _("Insurance for %(year)s: %(scheme)s")) % {
        "year": year, "scheme": record.get_scheme_display(), "on": f"{paid_on:%Y-%m-%d}" if paid_on else ""}
    timeline_add(person=person, kind="insurance.recorded", actor=actor, ref=record, summary=summary)
    if record.insured and paid_on is not None:
        renewal = (Obligation.objects.filter(person=person, source=plans.SOURCE, kind=Kind.INSURANCE_RENEWAL,
                                             key__endswith=f":{year}", done_at=None).order_by("due_on").first())
        if renewal is not None:
            engine.fulfil(renewal, by=record, on=paid_on, actor=actor)
    engine.sync(person, actor=actor, only=[plans.SOURCE])
    return record
