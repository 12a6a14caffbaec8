"""Unified social credit codes of employers (GB 32100-2015)."""

from __future__ import annotations

import unicodedata

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


class CreditCodeError(ValueError):
    pass


def check_character(first17: str) -> str:
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def parse(raw: str) -> str:
    """Normalise (full width, spaces, lower case) and check; return the 18-character code."""
    text = "".join(unicodedata.normalize("NFKC", raw or "").split()).upper()
    if len(text) != 18:
        raise CreditCodeError(f"length: {len(text)} characters, 18 expected")
    bad = sorted({c for c in text if c not in ALPHABET})
    if bad:
        raise CreditCodeError(f"characters: {''.join(bad)} not allowed (I, O, Z, S, V are never used)")
    expected = check_character(text[:17])
    if text[17] != expected:
        raise CreditCodeError(f"check character: {text[17]} ≠ {expected}")
    return text
