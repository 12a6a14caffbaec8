"""Matching a police export against the registry, without ever guessing.

The registry is read once per run into an in-memory ``Index`` (no ID number is decrypted: the
index holds each person's keyed hash, masked number, name, birth date, gender, jurisdiction and
status). ``compare`` is then pure over that index and the export's rows.

How a row finds its person:

1. Exact: the export's number, normalised (full-width digits, lowercase x, spaces, dashes), is a
   valid 18-character number whose keyed hash is registered.
2. Recovery, for a damaged number. Candidate corrections of the number are generated (the check
   character recomputed; each single-digit substitution that satisfies the given check
   character; each adjacent transposition that validates; a 15-digit legacy number upgraded) and
   each is looked up by its keyed hash. An Excel float (``5.30302E+17``) has lost digits for
   good: the candidates are the registered persons of the export's birth date and gender whose
   number agrees with the float's digits. A recovery is accepted only when exactly one registered
   person is found **and** the evidence corroborates it: the name equal (after traditional →
   simplified conversion, or by toned pinyin), the export's birth date and gender (when given)
   equal to the person's; for an Excel float the place of control must agree too, because the
   number itself says little. Anything else is reported unmatched (``invalid_row`` for an
   unreadable number, ``missing_in_registry`` for a valid one), the candidates listed in
   ``detail`` for the officer to decide.

Places of control: the police code (管辖地代码) is usually a township (9 digits) while the
registry may place a person in a village (12 digits). The two agree when one code is a prefix of
the other (the same place, or one inside the other); a blank police code is not compared.

Statuses (INTERFACES.md): 拘留 / 逮捕 → ``suspended``; a registry person ``awaiting_report``
agrees with either community status. The registry's own labels and codes are accepted too. A
blank police status is not compared; an unknown one is reported as a status mismatch.

Duplicates: the first row of a person is compared; each later row of the same person (or of the
same valid unregistered number) is one ``duplicate_in_police`` finding and nothing else.
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, lru_cache
from types import ModuleType
from typing import Any

from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils.translation import gettext

from liangyi.core import crypto, idnumber
from liangyi.people.models import ACTIVE_STATUSES, STATUS_LABELS_ZH, Person, Status

from .reading import PoliceRow

MATCHED = "matched"
MATCHED_CORRECTED_ID = "matched_corrected_id"
STATUS_MISMATCH = "status_mismatch"
JURISDICTION_MISMATCH = "jurisdiction_mismatch"
NAME_MISMATCH = "name_mismatch"
MISSING_IN_REGISTRY = "missing_in_registry"
MISSING_IN_POLICE = "missing_in_police"
DUPLICATE_IN_POLICE = "duplicate_in_police"
INVALID_ROW = "invalid_row"
CATEGORIES = (MATCHED, MATCHED_CORRECTED_ID, STATUS_MISMATCH, JURISDICTION_MISMATCH, NAME_MISMATCH,
              MISSING_IN_REGISTRY, MISSING_IN_POLICE, DUPLICATE_IN_POLICE, INVALID_ROW)

# 管控状态 -> registry status (INTERFACES.md)
POLICE_STATUS = {
    "强制隔离戒毒": Status.ISOLATION,
    "社区戒毒": Status.COMMUNITY_DRUG_REHAB,
    "社区康复": Status.COMMUNITY_REHAB,
    "戒断三年未发现复吸": Status.ABSTINENT_3Y,
    "拘留": Status.SUSPENDED,
    "逮捕": Status.SUSPENDED,
    "服刑": Status.IMPRISONED,
    "死亡": Status.DECEASED,
    "失控": Status.WHEREABOUTS_UNKNOWN,
}
COMMUNITY = (Status.COMMUNITY_DRUG_REHAB, Status.COMMUNITY_REHAB)
GENDERS = {"男": "M", "女": "F", "M": "M", "F": "F", "MALE": "M", "FEMALE": "F"}
MAX_CANDIDATES_SHOWN = 5
FIELDS = ("id_number", "name", "gender", "birth_date", "jurisdiction", "status")  # the export's fields compared
_FLOAT_TEXT = re.compile(r"^(\d)(?:\.(\d+))?E\+?(\d+)$")
_NAME_NOISE = re.compile(r"[\s·•．.]+")
_ALL_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")
_PLAIN_NUMBER = re.compile(r"[0-9]{17}[0-9X]")
_EXCEL_EPOCH = date(1899, 12, 30)
_EIGHT_DIGITS = re.compile(r"\d{8}")
_EXCEL_DAY = re.compile(r"\d{1,5}(?:\.0+)?")


# --- the registry index ------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Entry:  # one per registered person; compared and hashed by identity
    pk: str
    id_hash: str
    masked: str
    name: str
    birth_date: date
    gender: str
    jurisdiction: str
    status: str


_ENTRY_FIELDS = ("id_number_hash", "id_number_masked", "name", "birth_date", "gender", "jurisdiction_id", "status")


_freezing: ContextVar[bool] = ContextVar("reconcile_freezing", default=False)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a large structure without cycles is built (it would
    otherwise walk the growing index again and again: a third of the build's time). Inside
    ``index_frozen`` what was built is frozen before the collector is back on: its first
    collection would otherwise walk all of it once more (0.2 s for the index of 300 000)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _freezing.get():
            gc.freeze()
        if enabled:
            gc.enable()


@contextmanager
def index_frozen() -> Iterator[None]:
    """``gc.freeze()`` for a run: the collector keeps collecting the run's garbage but stops
    re-walking what lives as long as the run (the modules loaded so far, then whatever
    ``collector_paused`` builds inside: the index of hundreds of thousands of entries, its groups,
    the name dictionaries). Skipped when something else already froze objects (unfreezing would
    undo its freeze)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    token = _freezing.set(True)
    try:
        yield
    finally:
        _freezing.reset(token)
        gc.unfreeze()


_texts: ContextVar[dict[str, str] | None] = ContextVar("reconcile_texts", default=None)


def _(message: str) -> str:
    """``gettext``, remembered inside ``texts_remembered()``."""
    texts = _texts.get()
    if texts is None:
        return gettext(message)
    text = texts.get(message)
    if text is None:
        text = texts[message] = gettext(message)
    return text


@contextmanager
def texts_remembered() -> Iterator[None]:
    """Translate each message once for a run instead of once per finding: ``gettext`` reads the
    active language through Django's thread- and task-local state, a few microseconds a call, and a
    run translates the same few dozen messages tens of thousands of times. The language must not
    change inside (it does not: a run is one request's or one command's)."""
    token = _texts.set({})
    try:
        yield
    finally:
        _texts.reset(token)


class Index:
    """The registry by keyed hash (and, built on first use, by birth date and gender, and by name)."""

    def __init__(self) -> None:
        self.by_hash: dict[str, Entry] = {}
        self._by_birth_gender: dict[tuple[date, str], list[Entry]] | None = None
        self._by_name: dict[str, list[Entry]] | None = None
        self.hash = _hasher()

    @classmethod
    def build(cls, entries: Iterable[Entry]) -> Index:
        index = cls()
        shared: dict[str, str] = {}  # one string per distinct status, gender and place, not one per person
        by_hash = index.by_hash
        for entry in entries:
            entry.status = shared.setdefault(entry.status, entry.status)
            entry.gender = shared.setdefault(entry.gender, entry.gender)
            entry.jurisdiction = shared.setdefault(entry.jurisdiction, entry.jurisdiction)
            by_hash[entry.id_hash] = entry
        return index

    @classmethod
    def from_db(cls) -> Index:
        """The whole registry, read once (values only: nothing is decrypted)."""
        people = Person.objects.order_by()
        with collector_paused():
            if connection.vendor == "postgresql":
                # the primary key as text in SQL: no UUID object per person, then a str() of it
                rows = people.annotate(pk_text=Cast("pk", TextField())).values_list("pk_text", *_ENTRY_FIELDS)
                # In a transaction the server-side cursor is not WITH HOLD, so PostgreSQL hands out
                # the rows as it reads them instead of first copying all of them aside (0.4 s of
                # waiting at 300 000 persons).
                with transaction.atomic():
                    return cls.build(Entry(*row) for row in rows.iterator(10000))
            rows = people.values_list("pk", *_ENTRY_FIELDS)
            return cls.build(Entry(str(pk), h, m, n, b, g, j, s) for pk, h, m, n, b, g, j, s in rows.iterator(10000))

    @property
    def by_birth_gender(self) -> dict[tuple[date, str], list[Entry]]:
        if self._by_birth_gender is None:
            groups: dict[tuple[date, str], list[Entry]] = defaultdict(list)
            with collector_paused():
                for entry in self.by_hash.values():
                    groups[(entry.birth_date, entry.gender)].append(entry)
                self._by_birth_gender = dict(groups)
        return self._by_birth_gender

    @property
    def by_name(self) -> dict[str, list[Entry]]:
        if self._by_name is None:
            groups: dict[str, list[Entry]] = defaultdict(list)
            with collector_paused():
                for entry in self.by_hash.values():
                    groups[name_key(entry.name)].append(entry)
                self._by_name = dict(groups)
        return self._by_name

    def __len__(self) -> int:
        return len(self.by_hash)


def _hasher() -> Callable[[str], str]:
    """``crypto.lookup_hash`` without re-keying the HMAC for every number (a keyed copy per call,
    ~3x faster); checked against ``crypto.lookup_hash`` once, falling back to it if they differ."""
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives import hmac as crypto_hmac

        keyed = crypto_hmac.HMAC(crypto._subkey("lookup", 32), hashes.SM3())

        def fast(value: str) -> str:
            mac = keyed.copy()
            mac.update(value.encode("utf-8"))
            return mac.finalize().hex()

        probe = "110105194912310029"
        if fast(probe) == crypto.lookup_hash(probe):
            return fast
    except Exception:  # noqa: BLE001,S110 - any surprise: the plain function is always right
        pass
    return crypto.lookup_hash


# --- findings ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Finding:
    category: str
    police_row: int | None
    id_number: str  # the registry's number where known (see ``registry_number_known``), else the export's
    person_id: str = ""
    field: str = ""
    registry_value: str = ""
    police_value: str = ""
    detail: str = ""
    # False when a person was found but the matcher does not hold their number (an Excel float
    # recovery, missing_in_police): the caller fills it in from the registry.
    registry_number_known: bool = True


# --- names -------------------------------------------------------------------------------------


@cache
def _t2s() -> Callable[[str], str]:
    with collector_paused():  # its dictionaries: thousands of objects that live as long as the process
        from opencc import OpenCC

        return OpenCC("t2s").convert


@cache
def _pypinyin() -> ModuleType:
    """pypinyin, imported once with the collector paused: the import loads its dictionaries
    (hundreds of thousands of objects that live as long as the process)."""
    with collector_paused():
        import pypinyin
    return pypinyin


def name_key(name: str) -> str:
    """NFKC, without spaces or middle dots (少数民族 names are written with and without them)."""
    name = name or ""
    if name.isalpha() and unicodedata.is_normalized("NFKC", name):
        return name  # nearly every name: letters only (no space or dot is a letter), already NFKC
    return _NAME_NOISE.sub("", unicodedata.normalize("NFKC", name))


@lru_cache(maxsize=65536)
def simplified(name: str) -> str:
    return _t2s()(name_key(name))


@lru_cache(maxsize=65536)
def _pinyin(name: str) -> tuple[str, ...]:
    pypinyin = _pypinyin()
    return tuple(pypinyin.lazy_pinyin(simplified(name), style=pypinyin.Style.TONE3))


def name_agreement(registry: str, police: str) -> str | None:
    """'same', 'traditional' (equal after t2s), 'pinyin' (equal toned pinyin) or None."""
    a, b = name_key(registry), name_key(police)
    if not a or not b:
        return None
    if a == b:
        return "same"
    sa, sb = simplified(a), simplified(b)
    if sa == sb:
        return "traditional"
    # Each Han character reads as one syllable, so two all-Han names of different lengths cannot
    # sound alike: skip pypinyin (the costly part) for them.
    if len(sa) != len(sb) and _ALL_HAN.fullmatch(sa) and _ALL_HAN.fullmatch(sb):
        return None
    if _pinyin(a) == _pinyin(b):
        return "pinyin"
    return None


# --- export values ------------------------------------------------------------------------------


def police_gender(row: PoliceRow) -> str | None:
    return _gender(row.get("gender"))


@lru_cache(maxsize=256)
def _gender(text: str) -> str | None:
    return GENDERS.get(unicodedata.normalize("NFKC", text).strip().upper())


def police_birth(row: PoliceRow) -> date | None:
    return _birth(row.get("birth_date"))


# The same few tens of thousands of dates come again and again (and each row asks up to three times).
@lru_cache(maxsize=1 << 16)
def _birth(text: str) -> date | None:
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return None
    text = text.split(" ")[0].split("T")[0].replace("/", "-").replace(".", "-")
    if _EIGHT_DIGITS.fullmatch(text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    elif _EXCEL_DAY.fullmatch(text):  # an Excel serial day number (1 = 1900-01-01)
        return _EXCEL_EPOCH + timedelta(days=int(text.split(".")[0]))
    try:
        y, m, d = (int(p) for p in text.split("-"))
        return date(y, m, d)
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def police_status(text: str) -> str | None:
    text = unicodedata.normalize("NFKC", text or "").strip()
    if text in POLICE_STATUS:
        return POLICE_STATUS[text]
    for code, label in STATUS_LABELS_ZH.items():
        if text in (label, code):
            return str(code)
    return None


def status_agrees(registry: str, police: str) -> bool:
    return registry == police or (registry == Status.AWAITING_REPORT and police in COMMUNITY)


def place_agrees(registry: str, police: str) -> bool:
    return registry.startswith(police) or police.startswith(registry)


def _excel_float(raw: Any) -> tuple[int, int] | None:
    """(value, unit) of an ID number Excel turned into a number, else None.

    The true number N lies in [value - unit/2, value + unit): Excel rounds to the digits shown (or
    to its 15 significant digits), some exports truncate.
    """
    if isinstance(raw, float):
        value = int(round(raw))
        digits = len(str(value))
        return value, 10 ** max(digits - 15, 0)
    text = unicodedata.normalize("NFKC", str(raw or "")).replace(" ", "").upper()
    match = _FLOAT_TEXT.match(text)
    if not match:
        return None
    lead, frac, exp = match.group(1), match.group(2) or "", int(match.group(3))
    if exp < len(frac):
        return None
    return int(lead + frac) * 10 ** (exp - len(frac)), 10 ** (exp - len(frac))


def registry_number_from_masked(entry: Entry, hash_: Callable[[str], str] = crypto.lookup_hash) -> str | None:
    """The full number rebuilt from the masked form (first 6, last 4) and the birth date, if it
    hashes to the person's keyed hash; None otherwise. Used only for the few Excel-float candidates."""
    if len(entry.masked) != 18:
        return None
    number = f"{entry.masked[:6]}{entry.birth_date:%Y%m%d}{entry.masked[-4:]}"
    return number if hash_(number) == entry.id_hash else None


# --- candidate corrections ---------------------------------------------------------------------


def corrections(text: str) -> list[tuple[str, str]]:
    """Valid numbers one typo away from an 18-character damaged number, each with how it differs."""
    return [(number, _how(*change)) for number, change in _corrections(text)]


def _how(kind: str, *args: object) -> str:
    if kind == "check":
        return _("check character corrected (%(old)s → %(new)s)") % {"old": args[0], "new": args[1]}
    if kind == "digit":
        return _("digit %(pos)d corrected (%(old)s → %(new)s)") % {"pos": args[0], "old": args[1], "new": args[2]}
    return _("digits %(a)d and %(b)d transposed") % {"a": args[0], "b": args[0] + 1}  # type: ignore[operator]


_INVERSE_WEIGHTS = tuple(pow(w, -1, 11) for w in idnumber.WEIGHTS)


def _corrections(text: str) -> list[tuple[str, tuple]]:
    """As ``corrections``, the descriptions left unformatted (this runs for every damaged row)."""
    if len(text) != 18 or not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        return []
    found: dict[str, tuple] = {}
    first17, check = text[:17], text[17]
    digits = [int(c) for c in first17]
    total = sum(d * w for d, w in zip(digits, idnumber.WEIGHTS, strict=True))
    expected = idnumber.CHECK_CHARS[total % 11]
    if expected != check:
        found.setdefault(first17 + expected, ("check", check, expected))
    target = idnumber.CHECK_CHARS.index(check)  # the weighted sum mod 11 that the check character says
    for i, (old, weight, inverse) in enumerate(zip(digits, idnumber.WEIGHTS, _INVERSE_WEIGHTS, strict=True)):
        # the one digit value at i that gives that sum (no weight is 0 mod 11, so it is unique mod 11)
        new = (target - (total - old * weight)) * inverse % 11
        if new != old and new < 10:
            found.setdefault(first17[:i] + str(new) + first17[i + 1:] + check, ("digit", i + 1, str(old), str(new)))
    for i in range(17):
        if text[i] == text[i + 1]:
            continue
        swapped = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        if swapped[:17].isdigit() and _check_character(swapped[:17]) == swapped[17]:
            found.setdefault(swapped, ("swap", i + 1))
    found.pop(text, None)
    return sorted((number, change) for number, change in found.items()
                  if (_plain_valid(number) if _PLAIN_NUMBER.fullmatch(number) else idnumber.is_valid(number)))


# --- comparing ---------------------------------------------------------------------------------


def _describe(entries: Iterable[Entry]) -> str:
    ordered = sorted(set(entries), key=lambda e: (e.name, e.masked, e.pk))
    shown = [f"{e.name} {e.masked} {e.birth_date.isoformat()} {e.jurisdiction} [{e.pk}]"
             for e in ordered[:MAX_CANDIDATES_SHOWN]]
    more = len(ordered) - len(shown)
    if more > 0:
        shown.append(_("and %(n)d more") % {"n": more})
    return "; ".join(shown)


def _with_candidates(reason: str, entries: Iterable[Entry]) -> str:
    listed = _describe(entries)
    if not listed:
        return reason + " " + _("No registered person fits the row's name and birth date.")
    return reason + " " + _("Candidates for the officer to check: %(list)s.") % {"list": listed}


def _corroboration_problem(entry: Entry, row: PoliceRow) -> str | None:
    """Why the row's evidence does not confirm the person (None: it does)."""
    if not name_key(row.get("name")):
        return _("the row has no name to confirm it")
    if name_agreement(entry.name, row.get("name")) is None:
        return _("the names differ (%(registry)s / %(police)s)") % {"registry": entry.name, "police": row.get("name")}
    birth = police_birth(row)
    if birth is not None and birth != entry.birth_date:
        return _("the birth dates differ (%(registry)s / %(police)s)") % {
            "registry": entry.birth_date.isoformat(), "police": birth.isoformat()}
    gender = police_gender(row)
    if gender is not None and gender != entry.gender:
        return _("the genders differ")
    return None


def _name_candidates(index: Index, row: PoliceRow, number: str | None = None) -> list[Entry]:
    """Registered persons an officer might mean: same birth date and gender with an agreeing name,
    or the same name (and birth date if given)."""
    birth, gender = police_birth(row), police_gender(row)
    if number is not None and birth is None:
        try:
            parsed = idnumber.IdNumber(number)
            birth, gender = parsed.birth_date, gender or parsed.gender
        except (ValueError, IndexError):
            pass
    name = row.get("name")
    key = name_key(name)
    found: set[Entry] = set()
    if not key:
        return []
    keys = {key, simplified(name)}
    if birth is not None:
        for g in ("M", "F"):
            for e in index.by_birth_gender.get((birth, g), ()):
                e_key = name_key(e.name)
                if e_key in keys or ((not gender or g == gender) and _may_sound_alike(e_key, key)
                                     and name_agreement(e.name, name) is not None):
                    found.add(e)
    else:  # the same name, any birth date (the name index is built only for this)
        for k in keys:
            found.update(index.by_name.get(k, ()))
    return list(found)


@cache  # bounded by the distinct characters met
def _readings(char: str) -> frozenset[str]:
    pypinyin = _pypinyin()
    return frozenset(pypinyin.pinyin(char, style=pypinyin.Style.TONE3, heteronym=True)[0])


def _may_sound_alike(a: str, b: str) -> bool:
    """A cheap screen before pypinyin on whole names, used only to list candidates: two all-Han
    names can read alike only if they are as long and each pair of characters shares a reading."""
    if a == b or not (_ALL_HAN.fullmatch(a) and _ALL_HAN.fullmatch(b)):
        return True
    return len(a) == len(b) and all(_readings(x) & _readings(y) for x, y in zip(a, b, strict=True))


@dataclass(slots=True)
class _Resolution:
    entry: Entry | None = None
    number: str = ""  # the registry number when known
    how: str = ""  # for a recovery
    unmatched: Finding | None = None
    key: str = ""  # duplicate key: person pk, or a valid unregistered number


_BIRTHS: dict[str, bool] = {}


def _check_character(first17: str) -> str:
    """``idnumber.check_character`` in one C call. The weights are 2**(17-i) mod 11 and 13 ≡ 2
    (mod 11), so the weighted sum is ≡ 2 × (the digits read in base 13) (mod 11)."""
    return idnumber.CHECK_CHARS[2 * int(first17, 13) % 11]


def _plain_valid(text: str) -> bool:
    """``idnumber.is_valid`` for a clean 18-character number (``_PLAIN_NUMBER``), without its
    normalising and exceptions: the same checks (province 11–82, a real birth date from 1880 to
    today, the check character). The tests hold the two equal."""
    if not "11" <= text[:2] <= "82":  # two ASCII digits: as text, the same order as their numbers
        return False
    digits = text[6:14]
    ok = _BIRTHS.get(digits)
    if ok is None:
        try:
            born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            born = None
        ok = born is not None and born.year >= 1880 and born <= date.today()
        if (ok or born is None) and len(_BIRTHS) < 100_000:  # a future date may become valid: not cached
            _BIRTHS[digits] = ok
    return ok and idnumber.CHECK_CHARS[2 * int(text[:17], 13) % 11] == text[17]  # _check_character, inlined


def _resolve(index: Index, row: PoliceRow) -> _Resolution:
    raw = row.values.get("id_number", "")
    if type(raw) is str and _PLAIN_NUMBER.fullmatch(raw) and _plain_valid(raw):
        # The common case, with the same outcome as the full path below when the number is registered.
        entry = index.by_hash.get(index.hash(raw))
        if entry is not None:
            return _Resolution(entry=entry, number=raw, key=entry.pk)
    raw_text = row.get("id_number")
    text = idnumber.normalise(raw)

    def unmatched(category: str, detail: str, key: str = "") -> _Resolution:
        return _Resolution(unmatched=Finding(category, row.row, raw_text, police_value=row.get("name"),
                                             detail=detail), key=key)

    float_value = _excel_float(raw)
    if float_value is not None:
        return _resolve_float(index, row, float_value, unmatched)
    if not text and not name_key(row.get("name")):
        return unmatched(INVALID_ROW, _("The row has neither an ID number nor a name."))
    if _PLAIN_NUMBER.fullmatch(text) and _plain_valid(text):
        parsed = idnumber.IdNumber(text)  # what idnumber.parse gives for it (the tests hold them equal)
    else:
        try:
            parsed = idnumber.parse(text)
        except idnumber.IdNumberError as exc:
            parsed, error = None, exc.with_traceback(None)  # (its traceback would hold this frame: a cycle)
    if parsed is not None and not parsed.converted_from_legacy:
        entry = index.by_hash.get(index.hash(parsed.number))
        if entry is not None:
            return _Resolution(entry=entry, number=parsed.number, key=entry.pk)
        return unmatched(MISSING_IN_REGISTRY, _with_candidates(
            _("No registered person has this ID number."), _name_candidates(index, row, parsed.number)),
            key=parsed.number)
    if parsed is not None:  # a 15-digit legacy number
        entry = index.by_hash.get(index.hash(parsed.number))
        how = _("15-digit number upgraded to %(number)s") % {"number": parsed.number}
        if entry is None:
            return unmatched(MISSING_IN_REGISTRY, _with_candidates(
                _("No registered person has this number (%(how)s).") % {"how": how},
                _name_candidates(index, row, parsed.number)), key=parsed.number)
        problem = _corroboration_problem(entry, row)
        if problem:
            return unmatched(MISSING_IN_REGISTRY, _with_candidates(
                _("The upgraded 15-digit number is registered, but %(problem)s; not matched.") % {"problem": problem},
                [entry]), key=parsed.number)
        return _Resolution(entry=entry, number=parsed.number, how=how, key=entry.pk)

    # A damaged number: try every one-typo correction, look each up by its keyed hash.
    def reason() -> str:  # only for a row left unmatched
        return _("The ID number cannot be read: %(why)s") % {"why": error.message}

    options = _corrections(text)
    hits: dict[str, tuple[Entry, str, str]] = {}
    for number, change in options:
        entry = index.by_hash.get(index.hash(number))
        if entry is not None and entry.pk not in hits:
            hits[entry.pk] = (entry, number, _how(*change))
    if not hits:
        return unmatched(INVALID_ROW, _with_candidates(
            f"{reason()} {_('No registered number is one typo away.')}" if options else reason(),
            _name_candidates(index, row)))
    if len(hits) > 1:
        return unmatched(INVALID_ROW, _with_candidates(
            reason() + " " + _("%(n)d registered numbers are one typo away, so it is ambiguous; not matched.")
            % {"n": len(hits)}, [h[0] for h in hits.values()]))
    entry, number, how = next(iter(hits.values()))
    problem = _corroboration_problem(entry, row)
    if problem:
        return unmatched(INVALID_ROW, _with_candidates(
            reason() + " " + _("One registered number is one typo away (%(how)s), but %(problem)s; not matched.")
            % {"how": how, "problem": problem}, [entry]))
    return _Resolution(entry=entry, number=number, how=how, key=entry.pk)


def _resolve_float(index: Index, row: PoliceRow, float_value: tuple[int, int],
                   unmatched: Callable[..., _Resolution]) -> _Resolution:
    value, unit = float_value
    reason = _("The ID number was turned into a number by a spreadsheet (%(raw)s) and has lost its last digits.") % {
        "raw": row.get("id_number")}
    birth, gender, name = police_birth(row), police_gender(row), row.get("name")
    if birth is None or gender is None or not name_key(name):
        return unmatched(INVALID_ROW, _with_candidates(
            reason + " " + _("Without a name, birth date and gender in the row it cannot be matched."),
            _name_candidates(index, row)))
    pool = []
    born = f"{birth:%Y%m%d}"  # every entry of the group is born that day
    for entry in index.by_birth_gender.get((birth, gender), ()):
        # the number as the masked form and the birth date give it, tested against the float first
        # (cheap), then confirmed by the keyed hash (as registry_number_from_masked does)
        masked = entry.masked
        if len(masked) != 18:
            continue
        number = f"{masked[:6]}{born}{masked[-4:]}"
        if (not number.isdigit() or not value - unit // 2 <= int(number) < value + unit
                or index.hash(number) != entry.id_hash):
            continue
        if name_agreement(entry.name, name) is not None:
            pool.append((entry, number))
    if not pool:
        return unmatched(INVALID_ROW, _with_candidates(
            reason + " " + _("No registered person with this name, birth date and gender has a number "
                             "beginning so."), _name_candidates(index, row)))
    if len(pool) > 1:
        return unmatched(INVALID_ROW, _with_candidates(
            reason + " " + _("%(n)d registered persons fit; not matched.") % {"n": len(pool)}, [p[0] for p in pool]))
    entry, number = pool[0]
    place = row.get("jurisdiction").strip()
    if not place or not place_agrees(entry.jurisdiction, place):
        return unmatched(INVALID_ROW, _with_candidates(
            reason + " " + _("One registered person fits, but the place of control does not confirm it "
                             "(%(registry)s / %(police)s); not matched.")
            % {"registry": entry.jurisdiction, "police": place or "—"}, [entry]))
    how = _("Excel number %(raw)s; found by name, birth date, gender and place of control") % {
        "raw": row.get("id_number")}
    return _Resolution(entry=entry, number=number, how=how, key=entry.pk)


@lru_cache(maxsize=1024)
def _agreeing_statuses(text: str) -> frozenset[str]:
    """The registry statuses that agree with a police status (``status_agrees``); empty if unknown."""
    mapped = police_status(text)
    if mapped is None:
        return frozenset()
    return frozenset({str(mapped), str(Status.AWAITING_REPORT)} if mapped in COMMUNITY else {str(mapped)})


def _agrees_plainly(values: dict[str, Any], entry: Entry) -> bool:
    """True when the row's name is the registry's as written (or blank), and its status and place
    agree without any clean-up: the outcome is one ``matched`` finding. The same tests as the
    general path of ``_compare_found``, inlined for the common case (a False here just means that
    path decides)."""
    name, status, place = values.get("name", ""), values.get("status", ""), values.get("jurisdiction", "")
    return (type(status) is str and type(place) is str
            and (not name or name == entry.name)
            and (not status or (status == status.strip() and entry.status in _agreeing_statuses(status)))
            and (not place or (place == place.strip() and (entry.jurisdiction.startswith(place)
                                                          or place.startswith(entry.jurisdiction)))))


def _compare_found(row: PoliceRow, res: _Resolution) -> list[Finding]:
    entry = res.entry
    assert entry is not None
    if not res.how and _agrees_plainly(row.values, entry):  # the common case first
        return [Finding(MATCHED, row.row, res.number, entry.pk)]

    def finding(category: str, **kw: Any) -> Finding:
        return Finding(category, row.row, res.number, person_id=entry.pk, **kw)

    out = []
    if res.how:
        out.append(finding(MATCHED_CORRECTED_ID, field="id_number", registry_value=res.number,
                           police_value=row.get("id_number"), detail=res.how))
    police_name = row.get("name")
    if police_name == entry.name or not police_name:
        agreement: str | None = "same"
    else:
        agreement = name_agreement(entry.name, police_name) if name_key(police_name) else "same"
    if agreement in (None, "pinyin"):
        out.append(finding(NAME_MISMATCH, field="name", registry_value=entry.name, police_value=row.get("name"),
                           detail=_("The names sound alike but are written differently.") if agreement
                           else _("Same person by ID number, different name.")))
    police_text = row.get("status").strip()
    if police_text:
        mapped = police_status(police_text)
        if mapped is None:
            out.append(finding(STATUS_MISMATCH, field="status", registry_value=entry.status, police_value=police_text,
                               detail=_("The police status %(s)s is not one this comparison knows.")
                               % {"s": police_text}))
        elif not status_agrees(entry.status, mapped):
            out.append(finding(STATUS_MISMATCH, field="status", registry_value=entry.status, police_value=police_text,
                               detail=_("Registry: %(registry)s; police: %(police)s (%(code)s).") % {
                                   "registry": STATUS_LABELS_ZH.get(entry.status, entry.status),
                                   "police": police_text, "code": mapped}))
    place = row.get("jurisdiction").strip()
    if place and not place_agrees(entry.jurisdiction, place):
        out.append(finding(JURISDICTION_MISMATCH, field="jurisdiction", registry_value=entry.jurisdiction,
                           police_value=place, detail=_("The places of control differ.")))
    if not out:
        out.append(finding(MATCHED))
    return out


_CATEGORY_ORDER = {c: i for i, c in enumerate(CATEGORIES)}


def _in_order(findings: list[Finding]) -> list[Finding]:
    if len(findings) > 1:
        findings.sort(key=lambda f: (_CATEGORY_ORDER[f.category], f.field))
    return findings


class Comparison:
    """The comparison of one export, a row at a time (rows are not kept; only which person or
    number each earlier row named, for duplicates).

    ``row(row)`` gives that row's findings in report order (``CATEGORIES`` order); after the last
    row, ``missing_in_police()`` gives the registered persons no row named.
    """

    def __init__(self, index: Index, *, scope: str = ""):
        self.index = index
        self.scope = scope
        self.first_row: dict[str, int] = {}

    def row(self, row: PoliceRow) -> list[Finding]:
        values = row.values
        raw = values.get("id_number", "")
        if type(raw) is str and _PLAIN_NUMBER.fullmatch(raw) and _plain_valid(raw):
            # the common case inlined (the same outcome as _resolve's first branch, then the rest)
            index = self.index
            entry = index.by_hash.get(index.hash(raw))
            if entry is not None:
                pk, first_row = entry.pk, self.first_row
                if pk not in first_row:
                    first_row[pk] = row.row
                    if _agrees_plainly(values, entry):
                        return [Finding(MATCHED, row.row, raw, pk)]
                    return _in_order(_compare_found(row, _Resolution(entry, raw, key=pk)))
        res = _resolve(self.index, row)
        first_row = self.first_row
        if res.key and res.key in first_row:
            return [Finding(DUPLICATE_IN_POLICE, row.row, res.number or row.get("id_number"),
                            person_id=res.entry.pk if res.entry else "", police_value=row.get("name"),
                            detail=_("The same person as in row %(row)d.") % {"row": first_row[res.key]})]
        if res.key:
            first_row[res.key] = row.row
        if res.unmatched is not None:
            return [res.unmatched]
        return _in_order(_compare_found(row, res))

    def missing_in_police(self) -> list[Finding]:
        found = self.first_row
        active = {str(s) for s in ACTIVE_STATUSES}
        findings = []
        for entry in self.index.by_hash.values():
            if entry.status in active and entry.pk not in found and entry.jurisdiction.startswith(self.scope):
                number = registry_number_from_masked(entry, self.index.hash)
                findings.append(Finding(
                    MISSING_IN_POLICE, None, number or "", person_id=entry.pk, field="status",
                    registry_value=entry.status, registry_number_known=number is not None,
                    detail=_("%(name)s, %(status)s in %(place)s: not in the police export.") % {
                        "name": entry.name, "status": STATUS_LABELS_ZH.get(entry.status, entry.status),
                        "place": entry.jurisdiction}))
        return findings


def compare(index: Index, rows: Iterable[PoliceRow], *, scope: str = "") -> list[Finding]:
    """Every finding of the export against the registry, rows in order, then ``missing_in_police``.

    ``scope`` (a jurisdiction code) limits ``missing_in_police`` to the registry persons inside it,
    for an export that covers one county, say.
    """
    comparison = Comparison(index, scope=scope)
    with texts_remembered():
        findings = [f for row in rows for f in comparison.row(row)]
        findings.extend(comparison.missing_in_police())
    return findings
