"""Pure rules of the stay: the diagnostic assessment scored from the rule data, and the planned
release date from the decision date and the stay's events. No database access here."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from django.utils.translation import gettext as _

from liangyi.core import periods
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError

ASSESSMENT_FILE = core_rules.RULES_DIR / "diagnostic_assessment.toml"


@dataclass(frozen=True)
class Item:
    key: str
    name_zh: str
    max: int


@dataclass(frozen=True)
class Domain:
    key: str
    name_zh: str
    grading: str  # "pass_fail" or "good_fair"
    pass_total: int
    zero_item_fails: bool
    items: tuple[Item, ...]
    grade: str
    source: str

    @property
    def max_total(self) -> int:
        return sum(i.max for i in self.items)


@dataclass(frozen=True)
class Scheme:
    version: str
    points: tuple[str, ...]
    domains: tuple[Domain, ...]


def scheme_from_data(data: Mapping[str, Any]) -> Scheme:
    domains = []
    for key, entry in data["domains"].items():
        if entry["grading"] not in ("pass_fail", "good_fair"):
            raise core_rules.RuleSetError(f"diagnostic_assessment.toml: {key}: unknown grading {entry['grading']!r}")
        if entry.get("grade") not in core_rules.GRADES or not entry.get("source"):
            raise core_rules.RuleSetError(f"diagnostic_assessment.toml: {key}: needs a grade and a source")
        items = tuple(Item(i["key"], i["name_zh"], int(i["max"])) for i in entry["items"])
        domains.append(Domain(key, entry["name_zh"], entry["grading"], int(entry["pass_total"]),
                              bool(entry.get("zero_item_fails", False)), items, entry["grade"], entry["source"]))
    meta = data.get("meta", {})
    return Scheme(str(meta.get("version", "0")), tuple(meta.get("points", ())), tuple(domains))


@cache
def scheme() -> Scheme:
    with ASSESSMENT_FILE.open("rb") as fh:
        return scheme_from_data(tomllib.load(fh))


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def domain_result(domain: Domain, scores: Mapping[str, int]) -> dict[str, Any]:
    total = sum(scores[i.key] for i in domain.items)
    ok = total >= domain.pass_total and not (domain.zero_item_fails and any(scores[i.key] == 0 for i in domain.items))
    if domain.grading == "good_fair":
        return {"total": total, "result": "good" if ok else "fair"}
    return {"total": total, "result": "pass" if ok else "fail"}


def score(raw: Mapping[str, Mapping[str, Any]], the_scheme: Scheme | None = None
          ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Any]], bool]:
    """Check every item's score against the rule data; return (scores, results, all passed).

    "All passed" means the three pass/fail domains pass; the social domain (good / fair) informs the
    recommendation, not the pass.
    """
    the_scheme = the_scheme or scheme()
    errors: dict[str, list[str]] = {}
    clean: dict[str, dict[str, int]] = {}
    for domain in the_scheme.domains:
        given = raw.get(domain.key) or {}
        clean[domain.key] = {}
        for item in domain.items:
            field = f"{domain.key}.{item.key}"
            number = _as_int(given.get(item.key))
            if number is None or not 0 <= number <= item.max:
                errors[field] = [_("Enter a whole number from 0 to %(max)s.") % {"max": item.max}]
                continue
            clean[domain.key][item.key] = number
        unknown = set(given) - {i.key for i in domain.items}
        if unknown:
            errors[domain.key] = [_("Unknown items: %(items)s.") % {"items": ", ".join(sorted(unknown))}]
    unknown_domains = set(raw) - {d.key for d in the_scheme.domains}
    if unknown_domains:
        errors["scores"] = [_("Unknown domains: %(domains)s.") % {"domains": ", ".join(sorted(unknown_domains))}]
    if errors:
        raise DomainError(errors=errors)
    results = {d.key: domain_result(d, clean[d.key]) for d in the_scheme.domains}
    passed = all(r["result"] == "pass" for d, r in zip(the_scheme.domains, results.values(), strict=True)
                 if d.grading == "pass_fail")
    return clean, results, passed


@dataclass(frozen=True)
class Event:
    kind: str
    on: date
    months: int | None = None
    release_on: date | None = None


def days_escaped(events: Iterable[Event]) -> int:
    """Days away between each escape and the return (the day of escape not counted, as every period)."""
    total, away_since = 0, None
    for e in sorted(events, key=lambda e: e.on):
        if e.kind == "escape":
            away_since = e.on
        elif e.kind == "return" and away_since is not None:
            total += (e.on - away_since).days
            away_since = None
    return total


def planned_release(decided_on: date, events: Iterable[Event], ruleset: core_rules.RuleSet) -> date:
    """The last day of the isolation term: 2 years (rule) from the decision date, plus extensions,
    plus days away after an escape (Reg 32: they do not count); medical leave counts (Reg 31), so it
    moves nothing. An early-release decision fixes the day outright."""
    events = list(events)
    early = [e for e in events if e.kind == "early_release"]
    if early:
        return early[-1].release_on  # type: ignore[return-value]
    months = 12 * int(ruleset.value("isolation_term_years")) + sum(e.months or 0 for e in events
                                                                   if e.kind == "extension")
    return periods.term_end(decided_on, months=months) + timedelta(days=days_escaped(events))


def served_days(decided_on: date, on: date, events: Iterable[Event]) -> int:
    """Days of the term served by ``on``, escape time not counted."""
    return (on - decided_on).days - days_escaped([e for e in events if e.on <= on])
