"""The active rule set: versioned data files with a source and grade for every value.

Services ask ``rules.current().value("report_deadline_days")``; no deadline, frequency or
threshold lives in code. A province override file may change values; changing a ``law`` value
needs a ``why``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
GRADES = {"law", "local", "open"}


class RuleSetError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    key: str
    value: Any
    unit: str
    grade: str
    source: str
    why: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = {"key": self.key, "value": self.value, "unit": self.unit, "grade": self.grade, "source": self.source}
        if self.why:
            data["why"] = self.why
        return data


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: str
    rules: dict[str, Rule]

    def rule(self, key: str) -> Rule:
        try:
            return self.rules[key]
        except KeyError:
            raise RuleSetError(f"rule set {self.name!r} has no rule {key!r}") from None

    def value(self, key: str) -> Any:
        return self.rule(key).value


def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise RuleSetError(f"rule file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleSetError(f"{path}: {exc}") from None


def load(name: str, override: str = "") -> RuleSet:
    base = _load(RULES_DIR / f"{name}.toml")
    rules: dict[str, Rule] = {}
    for key, entry in base.get("rules", {}).items():
        missing = {"value", "unit", "grade", "source"} - set(entry)
        if missing:
            raise RuleSetError(f"{name}.toml: rule {key!r} lacks {sorted(missing)}")
        if entry["grade"] not in GRADES:
            raise RuleSetError(f"{name}.toml: rule {key!r} has grade {entry['grade']!r}; use one of {sorted(GRADES)}")
        rules[key] = Rule(key, entry["value"], entry["unit"], entry["grade"], entry["source"])
    version = str(base.get("meta", {}).get("version", "0"))
    if override:
        path = Path(override) if "/" in override else RULES_DIR / f"{override}.toml"
        data = _load(path)
        for key, entry in data.get("rules", {}).items():
            if key not in rules:
                raise RuleSetError(f"{path.name}: overrides unknown rule {key!r}")
            old = rules[key]
            changes = any(entry.get(f, getattr(old, f)) != getattr(old, f) for f in ("value", "unit", "grade"))
            if old.grade == "law" and changes and not entry.get("why"):
                raise RuleSetError(f"{path.name}: {key!r} is fixed by law; an override must say why (why = \"...\")")
            rules[key] = Rule(key, entry.get("value", old.value), entry.get("unit", old.unit),
                              entry.get("grade", old.grade), entry.get("source", old.source), entry.get("why", ""))
        version += "+" + str(data.get("meta", {}).get("version", path.stem))
    return RuleSet(name=name, version=version, rules=rules)


@cache
def current() -> RuleSet:
    return load(settings.RULESET, settings.RULESET_OVERRIDE)
