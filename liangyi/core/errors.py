"""Errors a service raises for the user to fix; views and the API turn them into messages."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the action. ``errors`` maps field names ('' = whole record) to messages."""

    def __init__(self, message: str = "", *, errors: dict[str, list[str]] | None = None):
        self.errors = errors or ({"": [message]} if message else {})
        super().__init__(message or "; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items()))

    def add_to(self, form) -> None:
        """Show the messages on ``form``: each beside its field, the rest above the form."""
        for field, problems in self.errors.items():
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)
        if not self.errors:
            form.add_error(None, str(self))


class ConflictError(DomainError):
    """Someone else changed the record since it was read (version check)."""
