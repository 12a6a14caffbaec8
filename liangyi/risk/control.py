"""Graded control: how a person's risk level tightens their schedules (rule data per level).

The obligations generators ask this module; they never read risk levels themselves. A level can
only tighten a schedule, never loosen it below the rule set's default. The intervals per level
are the ``[control.<level>]`` tables of the grading rule set (``liangyi/rules/risk_grading_*.toml``).
"""

from __future__ import annotations

from datetime import date
from typing import Any


def level_interval(person: Any, key: str, on: date) -> int | None:
    """The ``key`` interval (months) the person's effective level on ``on`` sets, or None if ungraded."""
    from liangyi.risk import selectors

    effective = selectors.effective(person, on)
    level = effective.level_key
    if level is None or effective.rules is None:
        return None
    return effective.rules.control.get(level, {}).get(key)


def test_interval_months(person: Any, default: int, on: date) -> int:
    """The drug-test interval (months) for ``person`` on ``on``: ``default``, or tighter by level."""
    interval = level_interval(person, "test_interval_months", on)
    return default if interval is None else min(default, interval)


def contact_interval_months(person: Any, default: int, on: date) -> int:
    """The face-to-face contact interval (months): ``default``, or tighter by level."""
    interval = level_interval(person, "contact_interval_months", on)
    return default if interval is None else min(default, interval)
