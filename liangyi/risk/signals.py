"""Regrade at once when a fact changes: a positive, refused or evaded drug test; a change of
employment. Receivers, not calls from the supervision and people chains, because those chains
lie below or beside this one and must not know it; the regrade runs after the record commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.utils.translation import gettext as _

_paused: ContextVar[bool] = ContextVar("risk_signals_paused", default=False)


@contextmanager
def paused() -> Iterator[None]:
    """No automatic regrading inside (the demo builds history with its own dates)."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


def drug_test_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    from liangyi.risk import services
    from liangyi.risk.facts import BAD_RESULTS

    if raw or not created or _paused.get() or instance.result not in BAD_RESULTS:
        return
    services.regrade_after_commit(instance.person_id, instance.recorded_by_id, _("Drug test on %(on)s: %(result)s") % {
        "on": f"{instance.tested_on:%Y-%m-%d}", "result": instance.get_result_display()})


def person_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    from liangyi.risk import selectors
    from liangyi.risk.grading import current

    if raw or created or _paused.get():
        return
    latest = selectors.history(instance, limit=1).first()
    if latest is None:
        return  # never graded: the first grading is an obligation, not a reaction
    rules = selectors.rules_of(latest.ruleset) or current()
    keys = [f.key for f in rules.factors if f.fact == "employment"]
    now = instance.employment or None
    if any(latest.facts.get(k, now) != now for k in keys):
        from liangyi.risk import services

        services.regrade_after_commit(instance.pk, None, _("Employment changed"))
