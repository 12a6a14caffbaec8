"""Model fields whose values are encrypted at rest (see crypto.py)."""

from __future__ import annotations

from django.db import models

from liangyi.core import crypto


class EncryptedTextField(models.TextField):
    """Stored as ciphertext; read back as text. Cannot be filtered on: keep a lookup hash beside it."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))
