"""The nightly generation (liangyi/ops/jobs.py): every person's obligations planned to the new horizon.

``obligations.nightly`` decides between planning only what the night changed (the new window, and
the persons the calendar or a changed record moved) and planning everything again. Either way it
works a chunk of persons at a time, each chunk in its own transaction: a second run on the same
day changes nothing, and a run cut off half-way is finished by the next one without doubling
anything.
"""

from __future__ import annotations

from datetime import date

from liangyi.obligations import nightly
from liangyi.ops.jobs import job


@job("obligations.generate", schedule="daily")
def generate(today: date) -> dict:
    """Plan every person's obligations up to today + the engine's horizon (only the difference is written)."""
    return nightly.run(today)
