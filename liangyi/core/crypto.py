"""Encryption of sensitive fields at rest, and keyed hashes for exact lookup.

The key comes from ``LIANGYI_FIELD_KEY`` (hex). Two sub-keys are derived from it, one to encrypt
and one to hash, so the lookup hash never reveals the encryption key. The cipher is SM4-GCM by
default (GB/T 32907, what government buyers expect) or AES-256-GCM; each stored value names its
cipher, so a deployment can change cipher and old values still read.
"""

from __future__ import annotations

import base64
import hmac as std_hmac
import os
from functools import cache
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

SM4 = "sm4gcm"
AES = "aesgcm"
_NONCE = 12
_TAG = 16


class DecryptionError(ValueError):
    pass


@cache
def _master() -> bytes:
    try:
        key = bytes.fromhex(settings.FIELD_KEY)
    except ValueError:
        raise ValueError("LIANGYI_FIELD_KEY must be hexadecimal (32 or 64 hex digits).") from None
    if len(key) < 16:
        raise ValueError("LIANGYI_FIELD_KEY must be at least 16 bytes (32 hex digits).")
    return key


def _subkey(label: str, length: int) -> bytes:
    return std_hmac.new(_master(), label.encode(), sha256).digest()[:length]


def _cipher_name() -> str:
    return AES if settings.FIELD_CIPHER.lower().replace("-", "") == AES else SM4


def encrypt(plaintext: str) -> str:
    data = plaintext.encode("utf-8")
    nonce = os.urandom(_NONCE)
    name = _cipher_name()
    if name == SM4:
        enc = Cipher(algorithms.SM4(_subkey("enc-sm4", 16)), modes.GCM(nonce)).encryptor()
        body = enc.update(data) + enc.finalize() + enc.tag
    else:
        body = AESGCM(_subkey("enc-aes", 32)).encrypt(nonce, data, None)
    return f"{name}:{base64.b64encode(nonce + body).decode('ascii')}"


def decrypt(token: str) -> str:
    try:
        name, payload = token.split(":", 1)
        raw = base64.b64decode(payload)
        nonce, body = raw[:_NONCE], raw[_NONCE:]
        if name == SM4:
            dec = Cipher(algorithms.SM4(_subkey("enc-sm4", 16)), modes.GCM(nonce, body[-_TAG:])).decryptor()
            data = dec.update(body[:-_TAG]) + dec.finalize()
        elif name == AES:
            data = AESGCM(_subkey("enc-aes", 32)).decrypt(nonce, body, None)
        else:
            raise DecryptionError(f"unknown cipher {name!r}")
    except DecryptionError:
        raise
    except Exception as exc:  # wrong key, corrupted value
        raise DecryptionError("a sensitive field could not be decrypted: wrong LIANGYI_FIELD_KEY?") from exc
    return data.decode("utf-8")


def lookup_hash(value: str) -> str:
    """Keyed hash (HMAC-SM3) of a normalised value, for exact lookup without decrypting."""
    mac = crypto_hmac.HMAC(_subkey("lookup", 32), hashes.SM3())
    mac.update(value.encode("utf-8"))
    return mac.finalize().hex()
