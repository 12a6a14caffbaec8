"""Assessment instruments as data (``liangyi/rules/instruments/*.toml``) and their scoring.

An instrument file holds its items, options (each with the score it carries), subscales, bands
(cut-offs), flags, the rule for missing answers, and its version, source and licence. Scores are
computed here from the answers, never typed. Answers map an item key to the ``value`` of the
option chosen (``None`` or absent = not answered).

Missing answers follow the file's ``[missing] rule``:

- ``refuse``: any unanswered item refuses the score (``ScoringRefused`` names the items);
- ``prorate``: up to ``max_missing`` items may be missing; the total is the answered sum times
  items / answered, rounded half up; subscales are not prorated (left empty when incomplete);
- ``skip_rules``: the instrument's own skip rules (AUDIT): when the ``when`` items total
  ``total``, the ``skip`` items are not asked and score 0; any other gap refuses.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from django.utils.translation import get_language

INSTRUMENTS_DIR = Path(__file__).resolve().parent.parent / "rules" / "instruments"
MISSING_RULES = {"refuse", "prorate", "skip_rules"}


class InstrumentError(ValueError):
    """The instrument file itself is wrong (a deployment error, not the user's)."""


class ScoringRefused(ValueError):
    """The answers cannot be scored; ``errors`` maps item keys ('' = the whole form) to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


def localised(entry: Mapping[str, Any], name: str = "text") -> str:
    """``text_zh`` when the interface speaks Chinese, else ``text``."""
    if (get_language() or "").startswith("zh") and entry.get(f"{name}_zh"):
        return entry[f"{name}_zh"]
    return entry.get(name, "")


@dataclass(frozen=True)
class Option:
    value: int
    score: int
    text: str
    text_zh: str

    @property
    def label(self) -> str:
        return localised({"text": self.text, "text_zh": self.text_zh})


@dataclass(frozen=True)
class Item:
    key: str
    text: str
    text_zh: str
    options: tuple[Option, ...]

    @property
    def label(self) -> str:
        return localised({"text": self.text, "text_zh": self.text_zh})

    def option(self, value: int) -> Option | None:
        return next((o for o in self.options if o.value == value), None)


@dataclass(frozen=True)
class Band:
    key: str
    min: int
    text: str
    text_zh: str

    @property
    def label(self) -> str:
        return localised({"text": self.text, "text_zh": self.text_zh})


@dataclass(frozen=True)
class Subscale:
    key: str
    items: tuple[str, ...]
    text: str
    text_zh: str
    bands: tuple[Band, ...] = ()

    @property
    def label(self) -> str:
        return localised({"text": self.text, "text_zh": self.text_zh})


@dataclass(frozen=True)
class Flag:
    key: str
    item: str
    min_score: int
    text: str
    text_zh: str

    @property
    def label(self) -> str:
        return localised({"text": self.text, "text_zh": self.text_zh})


@dataclass(frozen=True)
class Skip:
    when: tuple[str, ...]
    total: int
    skip: tuple[str, ...]


@dataclass(frozen=True)
class Instrument:
    key: str
    version: str
    title: str
    title_zh: str
    source: str
    licence: str
    group: str
    stem: str
    stem_zh: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    subscales: tuple[Subscale, ...] = ()
    flags: tuple[Flag, ...] = ()
    missing_rule: str = "refuse"
    max_missing: int = 0
    skips: tuple[Skip, ...] = ()

    @property
    def label(self) -> str:
        return localised({"text": self.title, "text_zh": self.title_zh})

    @property
    def stem_label(self) -> str:
        return localised({"text": self.stem, "text_zh": self.stem_zh})

    def item(self, key: str) -> Item:
        return next(i for i in self.items if i.key == key)

    @property
    def max_total(self) -> int:
        return sum(max(o.score for o in i.options) for i in self.items)

    def band(self, key: str) -> Band | None:
        return next((b for b in self.bands if b.key == key), None)


def _bands(raw: list[dict[str, Any]], where: str) -> tuple[Band, ...]:
    bands = tuple(Band(b["key"], int(b["min"]), b["text"], b.get("text_zh", "")) for b in raw)
    if bands and (bands[0].min != 0 or any(a.min >= b.min for a, b in zip(bands, bands[1:], strict=False))):
        raise InstrumentError(f"{where}: bands must start at 0 and rise")
    return bands


def parse(data: dict[str, Any], where: str = "instrument") -> Instrument:
    try:
        meta = data["meta"]
        sets = {name: tuple(Option(int(o["value"]), int(o["score"]), o["text"], o.get("text_zh", "")) for o in opts)
                for name, opts in data.get("option_sets", {}).items()}
        items = tuple(Item(i["key"], i["text"], i.get("text_zh", ""), sets[i["options"]]) for i in data["items"])
        keys = {i.key for i in items}
        if len(keys) != len(items):
            raise InstrumentError(f"{where}: item keys repeat")
        subscales = tuple(Subscale(s["key"], tuple(s["items"]), s["text"], s.get("text_zh", ""),
                                   _bands(s.get("bands", []), f"{where} subscale {s['key']}"))
                          for s in data.get("subscales", []))
        flags = tuple(Flag(f["key"], f["item"], int(f["min_score"]), f["text"], f.get("text_zh", ""))
                      for f in data.get("flags", []))
        skips = tuple(Skip(tuple(s["when"]), int(s["total"]), tuple(s["skip"])) for s in data.get("skips", []))
        missing = data.get("missing", {})
        instrument = Instrument(
            key=meta["key"], version=str(meta["version"]), title=meta["title"], title_zh=meta.get("title_zh", ""),
            source=meta["source"], licence=meta["licence"], group=meta.get("group", ""), stem=meta.get("stem", ""),
            stem_zh=meta.get("stem_zh", ""), items=items, bands=_bands(data.get("bands", []), where),
            subscales=subscales, flags=flags, missing_rule=missing.get("rule", "refuse"),
            max_missing=int(missing.get("max_missing", 0)), skips=skips,
        )
    except KeyError as exc:
        raise InstrumentError(f"{where}: missing {exc}") from None
    named = {k for s in subscales for k in s.items} | {f.item for f in flags} | {
        k for s in skips for k in (*s.when, *s.skip)}
    if named - keys:
        raise InstrumentError(f"{where}: names unknown items {sorted(named - keys)}")
    if instrument.missing_rule not in MISSING_RULES:
        raise InstrumentError(f"{where}: missing rule must be one of {sorted(MISSING_RULES)}")
    if not instrument.source or not instrument.licence:
        raise InstrumentError(f"{where}: an instrument must name its source and licence")
    return instrument


@cache
def all_instruments() -> dict[str, Instrument]:
    found: dict[str, Instrument] = {}
    for path in sorted(INSTRUMENTS_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            instrument = parse(tomllib.load(fh), path.name)
        if instrument.key != path.stem:
            raise InstrumentError(f"{path.name}: meta.key must be {path.stem!r}")
        found[instrument.key] = instrument
    return found


def get(key: str) -> Instrument | None:
    return all_instruments().get(key)


@dataclass(frozen=True)
class Score:
    """The outcome of scoring one set of answers."""

    total: int
    band: str
    subscales: dict[str, int | None] = field(default_factory=dict)
    subscale_bands: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    prorated: bool = False
    missing: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def _band_of(bands: tuple[Band, ...], value: int) -> str:
    chosen = ""
    for band in bands:
        if value >= band.min:
            chosen = band.key
    return chosen


def _round_half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


def score(instrument: Instrument, answers: Mapping[str, Any]) -> Score:
    """Score ``answers`` by the instrument's published rules; ScoringRefused when they cannot be."""
    from django.utils.translation import gettext as _

    errors: dict[str, list[str]] = {}
    unknown = sorted(set(answers) - {i.key for i in instrument.items})
    for key in unknown:
        errors[key] = [_("This instrument has no such item.")]
    scores: dict[str, int] = {}
    for item in instrument.items:
        raw = answers.get(item.key)
        if raw is None or raw == "":
            continue
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = None
        option = item.option(value) if value is not None and not isinstance(raw, bool) else None
        if option is None:
            errors[item.key] = [_("Choose one of the listed answers.")]
        else:
            scores[item.key] = option.score
    if errors:
        raise ScoringRefused(errors)

    skipped: list[str] = []
    if instrument.missing_rule == "skip_rules":
        for rule in instrument.skips:
            if all(k in scores for k in rule.when) and sum(scores[k] for k in rule.when) == rule.total:
                for key in rule.skip:
                    if key not in skipped:
                        skipped.append(key)
        for key in skipped:
            scores[key] = 0  # not asked: scores 0 by the manual, whatever was ticked
    missing = tuple(i.key for i in instrument.items if i.key not in scores)
    prorated = False
    total = sum(scores.values())
    if missing:
        allowed = instrument.max_missing if instrument.missing_rule == "prorate" else 0
        if len(missing) > allowed:
            message = (_("Every item must be answered before this instrument can be scored.")
                       if allowed == 0 else
                       _("At most %(n)s items may be left unanswered for this instrument to be scored.")
                       % {"n": allowed})
            raise ScoringRefused({"": [message], **{k: [_("Not answered.")] for k in missing}})
        total = _round_half_up(Fraction(total * len(instrument.items), len(instrument.items) - len(missing)))
        prorated = True
    subscales: dict[str, int | None] = {}
    subscale_bands: dict[str, str] = {}
    for sub in instrument.subscales:
        value = None if any(k in missing for k in sub.items) else sum(scores[k] for k in sub.items)
        subscales[sub.key] = value
        if value is not None and sub.bands:
            subscale_bands[sub.key] = _band_of(sub.bands, value)
    flags = tuple(f.key for f in instrument.flags if scores.get(f.item, 0) >= f.min_score)
    return Score(total=total, band=_band_of(instrument.bands, total), subscales=subscales,
                 subscale_bands=subscale_bands, flags=flags, prorated=prorated, missing=missing,
                 skipped=tuple(skipped))
