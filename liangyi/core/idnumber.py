"""Resident ID numbers (GB 11643-1999): normalise, check, convert, and read what they encode.

Input from offices and police exports is messy: full-width digits, a lowercase ``x``, spaces
and dashes, 15-digit legacy numbers, and numbers Excel turned into floats. ``normalise`` cleans
what can be cleaned without guessing; ``parse`` then says exactly which check failed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext_lazy as _

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # index = weighted sum mod 11

# Which check failed; stable codes for programs, translated messages for people.
ERR_EMPTY = "empty"
ERR_LENGTH = "length"
ERR_CHARACTERS = "characters"
ERR_ADDRESS = "address"
ERR_BIRTH_DATE = "birth_date"
ERR_CHECK = "check_character"
ERR_FLOAT = "spreadsheet_float"

MESSAGES = {
    ERR_EMPTY: _("The ID number is empty."),
    ERR_LENGTH: _("The ID number must have 18 characters (or 15 for a legacy number)."),
    ERR_CHARACTERS: _("The ID number may contain only digits, with X allowed as the last character."),
    ERR_ADDRESS: _("The first six digits are not a known address code."),
    ERR_BIRTH_DATE: _("The birth date inside the ID number (digits 7–14) is not a real date."),
    ERR_CHECK: _("The last character does not match the check character computed from the first 17 digits."),
    ERR_FLOAT: _("A spreadsheet turned this ID number into a number (like 5.30302E+17) and lost its last digits: "
                 "format the column as text and type the number again."),
}


class IdNumberError(ValueError):
    """Raised with ``code`` naming the failed check (one of the ERR_* constants)."""

    def __init__(self, code: str, detail: str = ""):
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)

    @property
    def message(self) -> str:
        text = str(MESSAGES[self.code])
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True)
class IdNumber:
    number: str  # 18 characters, uppercase X
    converted_from_legacy: bool = False

    @property
    def address_code(self) -> str:
        return self.number[:6]

    @property
    def birth_date(self) -> date:
        return _birth_date(self.number[6:14])  # type: ignore[return-value]

    @property
    def gender(self) -> str:
        """'M' for an odd sequence digit, 'F' for an even one."""
        return "M" if int(self.number[16]) % 2 else "F"

    @property
    def masked(self) -> str:
        return mask(self.number)

    def __str__(self) -> str:
        return self.number


_FLOAT = re.compile(r"^(\d)(?:\.(\d+))?E\+?(\d+)$")
_SEPARATORS = re.compile(r"[\s\-_'\"‘’“”]+")


def normalise(raw: object) -> str:
    """Fold full-width characters, drop spaces, dashes and quotes, upper-case the X.

    An Excel float such as ``5.30302197003121E+17`` is expanded to its digits; it has lost its
    last digits, so it will then fail a check rather than be silently accepted.
    """
    if raw is None:
        return ""
    if isinstance(raw, float):
        raw = f"{raw:.0f}"
    text = unicodedata.normalize("NFKC", str(raw))
    text = _SEPARATORS.sub("", text).upper()
    match = _FLOAT.match(text)
    if match:
        lead, frac, exp = match.group(1), match.group(2) or "", int(match.group(3))
        digits = lead + frac
        if exp + 1 >= len(digits):
            text = digits + "0" * (exp + 1 - len(digits))
    elif text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text


def looks_like_float(raw: object) -> bool:
    """A float, or text in Excel's scientific notation: an ID number that has lost digits."""
    if isinstance(raw, float):
        return True
    if raw is None:
        return False
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", str(raw))).upper()
    return bool(_FLOAT.match(text))


def check_character(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def upgrade_legacy(number15: str) -> str:
    """A 15-digit number: insert '19' after the address code and append the check character."""
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + check_character(first17)


def _birth_date(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def parse(
    raw: object,
    *,
    today: date | None = None,
    address_known: Callable[[str], bool] | None = None,
) -> IdNumber:
    """Normalise and check; return the 18-character number or raise ``IdNumberError``.

    ``address_known`` is consulted when a dated address-code table is loaded; without it the
    address code is only checked for shape (six digits, a plausible province prefix).
    """
    if looks_like_float(raw):
        # Its last digits are gone; the expansion could even pass the check by chance and
        # name someone else. Never accept it.
        raise IdNumberError(ERR_FLOAT)
    text = normalise(raw)
    if not text:
        raise IdNumberError(ERR_EMPTY)
    legacy = False
    if len(text) == 15:
        if not text.isdigit():
            raise IdNumberError(ERR_CHARACTERS)
        legacy = True
    elif len(text) != 18:
        raise IdNumberError(ERR_LENGTH, str(len(text)))
    elif not (text[:17].isdigit() and (text[17].isdigit() or text[17] == "X")):
        raise IdNumberError(ERR_CHARACTERS)

    birth_digits = ("19" + text[6:12]) if legacy else text[6:14]
    birth = _birth_date(birth_digits)
    today = today or date.today()
    if birth is None or birth > today or birth.year < 1880:
        raise IdNumberError(ERR_BIRTH_DATE, birth_digits)

    province = int(text[:2])
    if not 11 <= province <= 82 or (address_known is not None and not address_known(text[:6])):
        raise IdNumberError(ERR_ADDRESS, text[:6])

    if legacy:
        return IdNumber(upgrade_legacy(text), converted_from_legacy=True)
    expected = check_character(text[:17])
    if text[17] != expected:
        raise IdNumberError(ERR_CHECK, f"{text[17]} ≠ {expected}")
    return IdNumber(text)


def is_valid(raw: object) -> bool:
    try:
        parse(raw)
    except IdNumberError:
        return False
    return True


def mask(number: str) -> str:
    """Keep the address code and the last four characters: 530302********123X."""
    if len(number) < 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def build(address_code: str, birth: date, sequence: int) -> str:
    """Make a valid 18-character number (the demo city and the tests' factories use this)."""
    first17 = f"{address_code}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
