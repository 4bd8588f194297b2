"""Points for taking part (参与): answering a group poll, joining a campaign — under the brand's
``participation`` earn rule.

Guarantees: once per (member, occasion, reference) — the key is
``sys:participation:<member>:<occasion>:<ref>``, so answering the same poll twice or joining the same
campaign again earns nothing more; within the rule's window, stores and caps (``rules.award``); multiplied by
the member's tier multiplier like every earning (``rules.tier_points``). No rule open: nothing is credited
(``None``), the taking part itself is unaffected.

Callers: the layers above (campaigns on join; a poll answer through a hook) call ``take_part``; wiring those
occasions is the callers' part.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.common.idempotency import system_key
from siyu.loyalty.models import EarnRule, PointsEntry
from siyu.loyalty.services import rules, tiers
from siyu.members.models import Member

OCCASIONS = {"poll": _("Answered a group poll"), "campaign": _("Joined a campaign")}


def take_part(member: Member, occasion: str, ref: str, *, now: datetime | None = None) -> PointsEntry | None:
    """Credit the participation rule's points for ``occasion`` (``poll``/``campaign``) ``ref``; ``None`` when
    no rule is open, the rule gives nothing, or one of its caps is reached."""
    now = now or timezone.now()
    if occasion not in OCCASIONS:
        raise ValueError(f"unknown occasion {occasion!r}")
    rule = rules.rule_for(member, EarnRule.Kind.PARTICIPATION, now=now)
    if rule is None or rule.points <= 0:
        return None
    try:
        entry = rules.award(
            member,
            rule,
            rule.points,
            key=system_key("participation", member.pk, occasion, ref),
            now=now,
            reason=str(OCCASIONS[occasion]),
            source=(occasion, str(ref)),
        )
    except rules.CapReached:
        return None
    tiers.evaluate(member, now=now)
    return entry
