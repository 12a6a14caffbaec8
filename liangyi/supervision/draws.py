"""Random (unannounced) drug-test draws: reproducible and audited before anyone is told.

The seed is chosen (or given), the candidates are listed in a fixed order (the persons with an
active order at the office, by id), ``random.Random(seed)`` samples ``count`` of them, and the
``RandomDraw`` row and its audit entry are written in the same transaction *before* the list is
returned. Anyone can re-run ``draw_persons(seed, candidates, count)`` and get the same persons.
"""

from __future__ import annotations

import math
import random
import secrets
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from liangyi.core import access, audit
from liangyi.core import rules as core_rules
from liangyi.core.errors import DomainError
from liangyi.core.models import Jurisdiction, User
from liangyi.supervision.models import CommunityOrder, OrderState, RandomDraw


def draw_persons(seed: str, candidates: list[str], count: int) -> list[str]:
    """The pure draw: the same seed and candidate list always give the same persons, in order."""
    return random.Random(seed).sample(sorted(candidates), min(count, len(candidates)))


def default_count(candidates: int, share: float) -> int:
    """The rule set's share of the candidates, rounded up, so a small office still draws one."""
    return math.ceil(candidates * share) if candidates else 0


@transaction.atomic
def random_draw(*, on: date, office: Jurisdiction, actor: User, count: int | None = None,
                seed: str | None = None) -> RandomDraw:
    """Draw persons for unannounced tests among the office's active orders; recorded, then returned."""
    if not access.has_action(actor, "supervise") or not access.in_reach(actor, office.code):
        raise DomainError(_("Your role may not draw persons for tests at this office."))
    if count is not None and count < 0:
        raise DomainError(errors={"count": [_("Enter a number of persons, 0 or more.")]})
    ruleset = core_rules.current()
    candidates = sorted(str(pk) for pk in CommunityOrder.objects.filter(
        office=office, state=OrderState.ACTIVE).values_list("person_id", flat=True))
    share = float(ruleset.value("random_test_share"))
    if count is None:
        count = default_count(len(candidates), share)
    seed = seed or secrets.token_hex(16)
    drawn = draw_persons(seed, candidates, count)
    draw = RandomDraw.objects.create(on=on, office=office, seed=seed, share=Decimal(str(share)), count=count,
                                     candidates=candidates, drawn=drawn, ruleset_version=ruleset.version,
                                     created_by=actor)
    # The audit entry holds everything needed to re-run the draw, written before the list is shown.
    audit.record(actor, "random_draw.made", draw, on=on, office=office.code, seed=seed, count=count,
                 candidates=candidates, drawn=drawn, ruleset_version=ruleset.version)
    return draw
