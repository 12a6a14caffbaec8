"""Graded control: how a person's risk level tightens their schedules (rule data per level).

The obligations generators ask this module; they never read risk levels themselves. A level can
only tighten a schedule, never loosen it below the rule set's default.
"""

from __future__ import annotations

from datetime import date
from typing import Any


def test_interval_months(person: Any, default: int, on: date) -> int:
    """The drug-test interval (months) for ``person`` on ``on``: ``default``, or tighter by level."""
    return default
