"""The one file: a registry of sections (tabs) that chains add to the person page.

Each chain registers its section in its ``apps.py``; the person page shows the sections the user
may see, in order. No person template knows the chains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from liangyi.core import access

_registry: dict[str, Section] = {}


@dataclass(frozen=True)
class Section:
    key: str
    title: Any  # a lazy translation
    template: str
    order: int = 100
    group: str | None = None  # the field group the user must see; None = anyone who sees the person
    context: Callable[[HttpRequest, Any], dict[str, Any]] | None = field(default=None, compare=False)

    def visible_to(self, user) -> bool:
        return self.group is None or access.sees(user, self.group)


def register(section: Section) -> None:
    _registry[section.key] = section


def for_user(user) -> list[Section]:
    return sorted((s for s in _registry.values() if s.visible_to(user)), key=lambda s: (s.order, s.key))


def get(key: str) -> Section | None:
    return _registry.get(key)
