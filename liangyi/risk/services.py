"""Writes of the risk chain: record an assessment, grade, regrade on new facts, override a level."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from liangyi.core import access, audit
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import Outcome, User
from liangyi.obligations import engine
from liangyi.obligations.models import Kind
from liangyi.people.models import Person
from liangyi.people.services import timeline_add
from liangyi.risk import facts, grading, instruments, selectors
from liangyi.risk.models import Assessment, Grading, Override
from liangyi.supervision.models import RUNNING_STATES, CommunityOrder

log = logging.getLogger(__name__)

# Timeline events about gradings name facts from the drug history (tests, measures).
GROUP = "drug_history"


def _require(request: HttpRequest | None, actor: User, action: str, person: Person) -> None:
    """403 (audited) unless the role may ``action`` and the person is in the actor's reach."""
    access.require(request, actor, action, person)


def _not_future(field: str, day: date) -> None:
    if day > timezone.localdate():
        raise DomainError(errors={field: [_("The date lies in the future. Enter the day it was done.")]})


def assessment_record(
    *, person: Person, instrument: str, answers: Mapping[str, Any], actor: User, assessed_on: date | None = None,
    request: HttpRequest | None = None, regrade_after: bool = True,
) -> Assessment:
    """Score and keep one filled-in instrument, then regrade the person on the new facts."""
    # Refusals are checked (and audited) outside the transaction, so their audit entry stays.
    _require(request, actor, "assess_risk", person)
    spec = instruments.get(instrument)
    if spec is None:
        raise DomainError(errors={"instrument": [_("There is no such instrument. Choose one from the list.")]})
    if spec.group and not access.sees(actor, spec.group):
        audit.record(actor, "access.denied", person, request=request, outcome=Outcome.DENIED,
                     action_name="assess_risk", instrument=instrument)
        raise PermissionDenied
    with transaction.atomic():
        return _assessment_record(person=person, spec=spec, answers=answers, actor=actor, assessed_on=assessed_on,
                                  request=request, regrade_after=regrade_after)


def _assessment_record(*, person: Person, spec: instruments.Instrument, answers: Mapping[str, Any], actor: User,
                       assessed_on: date | None, request: HttpRequest | None, regrade_after: bool) -> Assessment:
    assessed_on = assessed_on or timezone.localdate()
    _not_future("assessed_on", assessed_on)
    try:
        result = instruments.score(spec, answers)
    except instruments.ScoringRefused as exc:
        raise DomainError(errors=exc.errors) from None
    kept = {k: (int(v) if v not in (None, "") else None) for k, v in answers.items()}
    assessment = Assessment.objects.create(
        person=person, instrument=spec.key, instrument_version=spec.version, assessed_on=assessed_on, answers=kept,
        total=result.total, band=result.band, subscales=result.subscales, subscale_bands=result.subscale_bands,
        flags=list(result.flags), prorated=result.prorated, skipped=list(result.skipped), group=spec.group,
        assessor=actor,
    )
    audit.record(actor, "risk.assessment_recorded", assessment, request=request, person_id=person.pk,
                 instrument=spec.key, version=spec.version, total=result.total, band=result.band,
                 flags=list(result.flags))
    band = spec.band(result.band)
    timeline_add(person=person, kind="risk.assessment_recorded", actor=actor, ref=assessment, group=spec.group,
                 summary=_("%(instrument)s: %(total)s of %(max)s (%(band)s)") % {
                     "instrument": spec.label, "total": result.total, "max": spec.max_total,
                     "band": band.label if band else result.band})
    if regrade_after:
        regrade(person=person, actor=actor, reason=_("New assessment: %(instrument)s") % {"instrument": spec.label})
    return assessment


def _grade(*, person: Person, actor: User | None, reason: str, on: date, sync: bool = True) -> Grading:
    rules = grading.current()
    before = selectors.effective(person, on)
    known = facts.collect(person, rules, on)
    result = grading.grade(known, rules)
    g = Grading.objects.create(
        person=person, graded_on=on, ruleset=rules.key, ruleset_version=rules.version, level=result.level,
        points=result.points, facts=known, factors=[f.as_dict() for f in result.factors],
        by_floor=result.by_floor or "", reason=reason[:200], actor=actor if actor and actor.pk else None,
    )
    level = rules.level(result.level)
    audit.record(actor, "risk.graded", g, person_id=person.pk, ruleset=rules.key, version=rules.version,
                 level=result.level, points=result.points, reason=g.reason)
    previous = before.computed
    if previous is not None and before.grading.ruleset == rules.key and previous.key != result.level:
        summary = _("Risk level changed from %(old)s to %(new)s (%(points)s points): %(reason)s") % {
            "old": previous.label, "new": level.label, "points": result.points, "reason": g.reason}
    else:
        summary = _("Risk level %(level)s (%(points)s points): %(reason)s") % {
            "level": level.label, "points": result.points, "reason": g.reason}
    # A grading dated in the past (the demo's history) sits on the timeline on its own day.
    at = None if on >= timezone.localdate() else timezone.make_aware(datetime.combine(on, time(12)))
    timeline_add(person=person, kind="risk.graded", actor=actor, ref=g, group=GROUP, summary=summary, at=at)
    if sync:
        # Any grading is a reassessment; then a changed level reschedules what is not yet done.
        engine.fulfil_matching(person, Kind.REASSESSMENT, on, g, actor)
        resync(person, actor)
    return g


def resync(person: Person, actor: User | None) -> None:
    """Re-plan every source for the person, far enough to cover a running term to its end, so a
    changed level reschedules every open test and reassessment (done ones never move)."""
    horizon = timezone.localdate() + timedelta(days=engine.DEFAULT_HORIZON_DAYS)
    ends = (CommunityOrder.objects.filter(person=person, state__in=RUNNING_STATES, term_ends_on__isnull=False)
            .order_by("-term_ends_on").values_list("term_ends_on", flat=True).first())
    engine.sync(person, horizon=max(horizon, ends) if ends else horizon, actor=actor)


def grade(*, person: Person, actor: User, reason: str = "", request: HttpRequest | None = None) -> Grading:
    """A worker grades (or regrades) the person now."""
    _require(request, actor, "assess_risk", person)
    with transaction.atomic():
        return _grade(person=person, actor=actor, reason=reason.strip() or _("Graded by a worker"),
                      on=timezone.localdate())


@transaction.atomic
def regrade(*, person: Person, actor: User | None, reason: str, on: date | None = None,
            sync: bool = True) -> Grading:
    """Regrade because a fact changed (a positive test, a lost job, a new assessment).

    Called by this chain's signal receivers and services; no access check, since it follows from a
    record someone was allowed to make.
    """
    return _grade(person=person, actor=actor, reason=reason, on=on or timezone.localdate(), sync=sync)


def override_set(
    *, person: Person, level: str, reason: str, expires_on: date, actor: User, request: HttpRequest | None = None,
) -> Override:
    """Put a supervisor's level in place of the computed one until ``expires_on``."""
    _require(request, actor, "override_risk", person)
    with transaction.atomic():
        return _override_set(person=person, level=level, reason=reason, expires_on=expires_on, actor=actor,
                             request=request)


def _override_set(*, person: Person, level: str, reason: str, expires_on: date, actor: User,
                  request: HttpRequest | None) -> Override:
    today = timezone.localdate()
    current = selectors.grading_on(person, today)
    if current is None:
        raise DomainError(_("This person has not been graded yet. Grade the person before overriding the level."))
    rules = selectors.rules_of(current.ruleset)
    errors: dict[str, list[str]] = {}
    if rules is None or rules.level(level) is None:
        errors["level"] = [_("Choose one of the levels of the rule set.")]
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [_("Say why the computed level does not fit this person.")]
    longest = int(core_rules.current().value("risk_override_max_days"))
    if expires_on <= today:
        errors["expires_on"] = [_("The override must expire after today.")]
    elif expires_on > today + timedelta(days=longest):
        errors["expires_on"] = [_("An override may last at most %(days)s days. Choose an earlier date.")
                                % {"days": longest}]
    if errors:
        raise DomainError(errors=errors)
    for old in Override.objects.select_for_update().filter(person=person, ended_on=None, expires_on__gte=today):
        old.ended_on = today
        old.save(update_fields=["ended_on"])
    override = Override.objects.create(person=person, grading=current, ruleset=current.ruleset, level=level,
                                       reason=reason[:300], starts_on=today, expires_on=expires_on, actor=actor)
    audit.record(actor, "risk.overridden", override, request=request, person_id=person.pk, computed=current.level,
                 level=level, reason=override.reason, expires_on=expires_on)
    assert rules is not None
    timeline_add(person=person, kind="risk.overridden", actor=actor, ref=override, group=GROUP,
                 summary=_("Risk level set to %(level)s by a supervisor until %(until)s (computed: %(computed)s): "
                           "%(reason)s") % {
                     "level": rules.level(level).label, "until": f"{expires_on:%Y-%m-%d}",
                     "computed": rules.level(current.level).label, "reason": override.reason})
    resync(person, actor)
    return override


def regrade_after_commit(person_id: Any, actor_id: int | None, reason: str) -> None:
    """Regrade once the caller's transaction has committed (the signal receivers use this)."""

    def run() -> None:
        person = Person.objects.filter(pk=person_id).first()
        if person is None:
            return
        actor = User.objects.filter(pk=actor_id).first() if actor_id else None
        regrade(person=person, actor=actor, reason=reason)

    transaction.on_commit(run, robust=True)
