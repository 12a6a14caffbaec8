"""Errors a service raises for the user to fix; views and the API turn them into messages."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the action. ``errors`` maps field names ('' = whole record) to messages."""

    def __init__(self, message: str = "", *, errors: dict[str, list[str]] | None = None):
        self.errors = errors or ({"": [message]} if message else {})
        super().__init__(message or "; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))


class ConflictError(DomainError):
    """Someone else changed the record since it was read (version check)."""
