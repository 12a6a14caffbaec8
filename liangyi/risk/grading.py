"""Risk grading rule sets (``liangyi/rules/risk_grading_*.toml``) and the pure grading function.

``grade(facts, ruleset)`` depends on nothing but its arguments: the same facts and the same rule
set version always give the same level and the same explanation. The active rule set is named by
the national rule ``risk_grading_ruleset`` (a province switches it with the usual rule-set
override, ``LIANGYI_RULESET_OVERRIDE``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from liangyi.core import rules as core_rules
from liangyi.risk.instruments import localised

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
FACTS = {"bad_tests", "missed_obligations", "past_episodes", "months_since_release", "substances", "manner_of_use",
         "age_at_first_use", "employment", "assessment"}
CONTROL_KEYS = ("test_interval_months", "contact_interval_months", "reassessment_interval_months")


class GradingRuleError(ValueError):
    pass


@dataclass(frozen=True)
class Level:
    key: str
    text: str
    text_zh: str
    colour: str

    @property
    def label(self) -> str:
        return localised({"text": self.text, "text_zh": self.text_zh})


@dataclass(frozen=True)
class Factor:
    key: str
    fact: str
    text: str
    text_zh: str
    group: str
    source: str
    bands: tuple[dict[str, Any], ...] = ()
    match: dict[str, Any] = field(default_factory=dict)
    other: int = 0
    unknown: int = 0
    params: dict[str, Any] = field(default_factory=dict)  # window_days, instrument, measure, valid_days

    @property
    def label(self) -> str:
        return localised({"text": self.text, "text_zh": self.text_zh})


@dataclass(frozen=True)
class Threshold:
    level: str
    min_points: int | None = None
    max_points: int | None = None
    when: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class GradingRules:
    key: str
    version: str
    title: str
    title_zh: str
    source: str
    levels: tuple[Level, ...]
    thresholds: tuple[Threshold, ...]
    factors: tuple[Factor, ...]
    control: dict[str, dict[str, int]]

    @property
    def label(self) -> str:
        return localised({"text": self.title, "text_zh": self.title_zh})

    def level(self, key: str) -> Level | None:
        return next((lv for lv in self.levels if lv.key == key), None)

    def rank(self, key: str) -> int:
        """0 = the strictest level."""
        return [lv.key for lv in self.levels].index(key)


def _points(entry: Any) -> tuple[int, str | None]:
    if isinstance(entry, Mapping):
        return int(entry["points"]), entry.get("floor")
    return int(entry), None


def parse(data: dict[str, Any], where: str = "rule set") -> GradingRules:
    try:
        meta = data["meta"]
        levels = tuple(Level(lv["key"], lv["text"], lv.get("text_zh", ""), lv["colour"]) for lv in data["levels"])
        level_keys = {lv.key for lv in levels}
        thresholds = tuple(Threshold(t["level"], t.get("min_points"), t.get("max_points"), tuple(t.get("when", [])))
                           for t in data["thresholds"])
        factors = []
        for f in data["factors"]:
            params = {k: f[k] for k in ("window_days", "instrument", "measure", "valid_days") if k in f}
            factors.append(Factor(
                key=f["key"], fact=f["fact"], text=f["text"], text_zh=f.get("text_zh", ""), group=f.get("group", ""),
                source=f["source"], bands=tuple(f.get("bands", [])), match=dict(f.get("match", {})),
                other=int(f.get("other", 0)), unknown=int(f.get("unknown", 0)), params=params))
        control = {level: {k: int(v[k]) for k in CONTROL_KEYS} for level, v in data.get("control", {}).items()}
        rules = GradingRules(meta["key"], str(meta["version"]), meta["title"], meta.get("title_zh", ""),
                             meta["source"], levels, thresholds, tuple(factors), control)
    except KeyError as exc:
        raise GradingRuleError(f"{where}: missing {exc}") from None
    named = {t.level for t in thresholds} | set(control)
    for f in factors:
        if f.fact not in FACTS:
            raise GradingRuleError(f"{where}: factor {f.key!r} reads unknown fact {f.fact!r}")
        if bool(f.bands) == bool(f.match):
            raise GradingRuleError(f"{where}: factor {f.key!r} needs either bands or match")
        mins = [b["min"] for b in f.bands]
        if mins != sorted(set(mins)):
            raise GradingRuleError(f"{where}: factor {f.key!r} bands must rise")
        named |= {b["floor"] for b in f.bands if "floor" in b}
        named |= {v["floor"] for v in f.match.values() if isinstance(v, Mapping) and "floor" in v}
    if named - level_keys:
        raise GradingRuleError(f"{where}: names unknown levels {sorted(named - level_keys)}")
    if set(control) != level_keys:
        raise GradingRuleError(f"{where}: [control] must give every level")
    last = thresholds[-1]
    if last.min_points is not None or last.max_points is not None or last.when:
        raise GradingRuleError(f"{where}: the last threshold must be the unconditional default")
    factor_keys = {f.key for f in factors}
    for t in thresholds:
        for cond in t.when:
            if cond.get("factor") not in factor_keys:
                raise GradingRuleError(f"{where}: threshold {t.level!r} names unknown factor {cond.get('factor')!r}")
    return rules


@cache
def load(key: str) -> GradingRules:
    path = RULES_DIR / f"{key}.toml"
    try:
        with path.open("rb") as fh:
            rules = parse(tomllib.load(fh), path.name)
    except FileNotFoundError:
        raise GradingRuleError(f"grading rule set not found: {path}") from None
    if rules.key != key:
        raise GradingRuleError(f"{path.name}: meta.key must be {key!r}")
    return rules


def current() -> GradingRules:
    """The grading rule set the active national rule set names."""
    return load(str(core_rules.current().value("risk_grading_ruleset")))


# --- grading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FactorResult:
    key: str
    value: Any
    points: int
    rule: str  # which band or match applied, e.g. ">= 2" or "unemployed" or "unknown"
    floor: str | None
    group: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "points": self.points, "rule": self.rule,
                "floor": self.floor, "group": self.group}


@dataclass(frozen=True)
class Result:
    ruleset: str
    version: str
    level: str
    points: int
    factors: tuple[FactorResult, ...]
    by_floor: str | None = None  # the factor whose floor raised the level, if one did

    def as_dict(self) -> dict[str, Any]:
        return {"ruleset": self.ruleset, "version": self.version, "level": self.level, "points": self.points,
                "by_floor": self.by_floor, "factors": [f.as_dict() for f in self.factors]}


def _is_unknown(value: Any) -> bool:
    return value is None or value == "" or value == []


def score_factor(factor: Factor, value: Any) -> FactorResult:
    if _is_unknown(value):
        return FactorResult(factor.key, value, factor.unknown, "unknown", None, factor.group)
    if factor.bands:
        chosen = None
        for band in factor.bands:
            if value >= band["min"]:
                chosen = band
        if chosen is None:
            return FactorResult(factor.key, value, factor.other, "other", None, factor.group)
        return FactorResult(factor.key, value, int(chosen["points"]), f">= {chosen['min']}", chosen.get("floor"),
                            factor.group)
    values = value if isinstance(value, list) else [value]
    best: tuple[int, str | None, str] | None = None
    for v in values:
        if str(v) in factor.match:
            points, floor = _points(factor.match[str(v)])
            candidate = (points, floor, str(v))
        else:
            candidate = (factor.other, None, "other")
        if best is None or candidate[0] > best[0]:
            best = candidate
    assert best is not None
    return FactorResult(factor.key, value, best[0], best[2], best[1], factor.group)


def _meets(threshold: Threshold, points: int, facts: Mapping[str, Any]) -> bool:
    if threshold.min_points is not None and points < threshold.min_points:
        return False
    if threshold.max_points is not None and points > threshold.max_points:
        return False
    for cond in threshold.when:
        value = facts.get(cond["factor"])
        if _is_unknown(value):
            return False
        if "min" in cond and value < cond["min"]:
            return False
        if "max" in cond and value > cond["max"]:
            return False
    return True


def grade(facts: Mapping[str, Any], rules: GradingRules) -> Result:
    """The level for ``facts`` (factor key -> value) under ``rules``, with every factor's share."""
    results = tuple(score_factor(f, facts.get(f.key)) for f in rules.factors)
    points = sum(r.points for r in results)
    level = next(t.level for t in rules.thresholds if _meets(t, points, facts))
    by_floor = None
    for r in results:
        if r.floor and rules.rank(r.floor) < rules.rank(level):
            level, by_floor = r.floor, r.key
    return Result(rules.key, rules.version, level, points, results, by_floor)
