"""Earn rules: which rule applies to a member now, and awarding its points within its caps.

Guarantees: a rule applies only inside its window, in its stores (none = every store) and while active; the
caps (times per member per local day, times per member in all) are counted under the member's account lock
(``points.lock_account``), so parallel awards cannot exceed them; an award is once per key (the ledger's).
Reversed earnings still count towards the caps, so refunding and buying again does not farm points.

**The tier multiplier, in one place.** Every earning under a rule — daily check-in (with its streak bonus and
make-up days), purchases, taking part — is ``tier_points`` of its base: base × the member's tier multiplier
(``tiers.multiplier_percent``, 100 without a level), rounded down. ``award`` applies it; check-in (which
holds the account lock itself) calls ``tier_points`` directly. Points that are not earned under a rule (red
packets, points returned from an exchange, staff adjustments) are never multiplied.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict
from siyu.loyalty.models import EarnRule, PointsEntry
from siyu.loyalty.services import points, tiers
from siyu.members.models import Member


class CapReached(Conflict):
    code = "cap_reached"


def active_rules(brand_id: int, kind: str, *, store_id: int | None, now: datetime) -> QuerySet[EarnRule]:
    rules = EarnRule.objects.filter(brand_id=brand_id, kind=kind, active=True).filter(
        Q(starts_at__isnull=True) | Q(starts_at__lte=now), Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )
    if store_id is None:
        return rules.filter(stores__isnull=True)
    return rules.filter(Q(stores__isnull=True) | Q(stores=store_id)).distinct()


def rule_for(member: Member, kind: str, *, now: datetime) -> EarnRule | None:
    """The member's rule of ``kind`` now (their home store's, else the chain's), the newest first."""
    return active_rules(member.brand_id, kind, store_id=member.home_store_id, now=now).order_by("-id").first()


def local_day_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def tier_points(member: Member, base: int, *, scale: int = 1) -> int:
    """``base / scale`` points times the member's tier multiplier, rounded down once (``scale`` lets a caller
    keep fractions, e.g. purchases pass fen × points per yuan with ``scale=100``)."""
    return base * tiers.multiplier_percent(member) // (100 * scale)


def award(
    member: Member,
    rule: EarnRule,
    base: int,
    *,
    key: str,
    now: datetime,
    reason: str = "",
    source: tuple[str, str] = ("", ""),
    scale: int = 1,
) -> PointsEntry:
    """Credit ``tier_points(member, base, scale=scale)`` points under ``rule``; ``CapReached`` (nothing
    written) past one of its caps; ``ValidationFailed`` when that comes to no points."""
    with transaction.atomic():
        account = points.lock_account(member)
        existing = PointsEntry.objects.filter(account=account, idempotency_key=key).first()
        if existing is None:
            earned = PointsEntry.objects.filter(account=account, rule=rule, points__gt=0)
            if rule.member_cap is not None and earned.count() >= rule.member_cap:
                raise CapReached(_("You have already earned all the points this rule gives."), field="rule")
            if rule.daily_cap is not None:
                start, end = local_day_bounds(now)
                if earned.filter(created_at__gte=start, created_at__lt=end).count() >= rule.daily_cap:
                    raise CapReached(_("You have earned today's points for this already."), field="rule")
        amount = tier_points(member, base, scale=scale) if existing is None else existing.points
        return points.earn(
            member, amount, key=key, reason=reason or rule.name, source=source, now=now, rule_id=rule.pk
        )
