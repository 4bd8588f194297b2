"""Member tiers (会员等级): decided by points *earned* in a rolling 12 months, never by the balance.

Guarantees:
- **Earned, not held.** ``earned_in_window`` sums the member's ``earn`` entries of the last 365 days minus the
  reversals of those earnings (refund clawbacks); spending, expiry, staff adjustments and points returned from
  a cancelled exchange do not count. Spending everything keeps the level; earning promotes.
- **Up at once, down by the rule.** ``evaluate`` promotes as soon as the total reaches a higher level; when it
  falls below the current level the member keeps it for the level's ``grace_days`` (counted from the first
  check that found them below), then drops to the level the total now reaches (possibly several at once).
  The ``loyalty-tiers`` periodic job evaluates the members who hold a level or earned lately.
- **Serialised per member.** ``evaluate`` runs under the member's points-account lock (the same lock every
  earning takes), and changes the level with one conditional UPDATE on the level it read.
- **Events.** Every change is an event ``loyalty.tier_up`` / ``loyalty.tier_down`` (payload: the new and the
  old level's names), in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from siyu.analytics.services.events import record_event
from siyu.loyalty.models import MemberTier, PointsAccount, PointsEntry, Tier
from siyu.loyalty.services import points
from siyu.members.models import Member

WINDOW = timedelta(days=365)
RECENT = timedelta(days=2)  # the periodic job also looks at members who earned this recently
JOB_CHUNK = 500


def earned_in_window(member: Member, *, now: datetime | None = None) -> int:
    """Points the member earned in the 365 days up to ``now``, less what refunds took back of them."""
    now = now or timezone.now()
    since = now - WINDOW
    account_id = PointsAccount.objects.filter(member=member).values_list("pk", flat=True).first()
    if account_id is None:
        return 0
    earned = PointsEntry.objects.filter(
        account_id=account_id, kind=PointsEntry.Kind.EARN, created_at__gt=since, created_at__lte=now
    ).aggregate(n=Coalesce(Sum("points"), 0))["n"]
    reversed_ = PointsEntry.objects.filter(
        account_id=account_id,
        kind=PointsEntry.Kind.REVERSE,
        reverses__kind=PointsEntry.Kind.EARN,
        reverses__created_at__gt=since,
        reverses__created_at__lte=now,
    ).aggregate(n=Coalesce(Sum("points"), 0))["n"]
    return max(0, int(earned) + int(reversed_))


def tiers_of(brand_id: int) -> list[Tier]:
    return list(Tier.objects.filter(brand_id=brand_id).order_by("threshold"))


def tier_for_total(tiers: list[Tier], total: int) -> Tier | None:
    """The highest level whose threshold ``total`` reaches (``tiers`` ordered by threshold)."""
    reached = None
    for tier in tiers:
        if total >= tier.threshold:
            reached = tier
    return reached


def current_tier(member: Member) -> Tier | None:
    row = MemberTier.objects.filter(member=member).select_related("tier").first()
    return row.tier if row is not None else None


def member_price_allowed(member_id: int) -> bool:
    """Whether the member may buy at member prices: always when the brand has no levels; otherwise only
    when the member's level grants it (``Tier.member_price``) — below the first level, no. Answers the
    orders question ``member_price_eligible`` (registered in ``siyu.loyalty.order_hooks``)."""
    brand_id = Member.objects.filter(pk=member_id).values_list("brand_id", flat=True).first()
    if brand_id is None or not Tier.objects.filter(brand_id=brand_id).exists():
        return True
    return MemberTier.objects.filter(member_id=member_id, tier__member_price=True).exists()


def multiplier_percent(member: Member) -> int:
    """The member's points multiplier in percent (100 without a level)."""
    tier = current_tier(member)
    return tier.multiplier_percent if tier is not None else 100


@dataclass(frozen=True)
class TierCard:
    """What the member's tier card shows."""

    tier: Tier | None
    earned: int
    next_tier: Tier | None
    to_next: int
    progress_percent: int
    tiers: list[Tier]
    grace_until: datetime | None


def card(member: Member, *, now: datetime | None = None) -> TierCard:
    now = now or timezone.now()
    tiers = tiers_of(member.brand_id)
    row = MemberTier.objects.filter(member=member).select_related("tier").first()
    earned = earned_in_window(member, now=now)
    # Not evaluated yet (no earning since tiers were set up): the level the total reaches.
    tier = row.tier if row is not None else tier_for_total(tiers, earned)
    floor = tier.threshold if tier is not None else 0
    next_tier = next((t for t in tiers if t.threshold > max(earned, floor)), None)
    to_next = max(0, next_tier.threshold - earned) if next_tier is not None else 0
    if next_tier is None:
        progress = 100
    else:
        span = max(1, next_tier.threshold - floor)
        progress = max(0, min(100, (earned - floor) * 100 // span))
    grace_until = None
    if row is not None and row.below_since is not None and tier is not None:
        grace_until = row.below_since + timedelta(days=tier.grace_days)
    return TierCard(tier, earned, next_tier, to_next, progress, tiers, grace_until)


def _threshold(tier: Tier | None) -> int:
    return tier.threshold if tier is not None else -1


def evaluate(member: Member, *, now: datetime | None = None) -> Tier | None:
    """Decide the member's level now (see module guarantees) and return it."""
    now = now or timezone.now()
    tiers = tiers_of(member.brand_id)
    with transaction.atomic():
        points.lock_account(member)
        row, _created = MemberTier.objects.get_or_create(member=member, defaults={"since": now})
        row = MemberTier.objects.select_related("tier").get(pk=row.pk)
        current = row.tier
        target = tier_for_total(tiers, earned_in_window(member, now=now))
        if _threshold(target) == _threshold(current):
            if row.below_since is not None:
                MemberTier.objects.filter(pk=row.pk).update(below_since=None, checked_at=now)
            else:
                MemberTier.objects.filter(pk=row.pk).update(checked_at=now)
            return current
        if _threshold(target) < _threshold(current):
            assert current is not None
            if current.grace_days:
                if row.below_since is None:
                    MemberTier.objects.filter(pk=row.pk).update(below_since=now, checked_at=now)
                    return current
                if now < row.below_since + timedelta(days=current.grace_days):
                    MemberTier.objects.filter(pk=row.pk).update(checked_at=now)
                    return current
        changed = MemberTier.objects.filter(pk=row.pk, tier=current).update(
            tier=target, since=now, below_since=None, checked_at=now
        )
        if changed:
            up = _threshold(target) > _threshold(current)
            record_event(
                "loyalty.tier_up" if up else "loyalty.tier_down",
                member_id=member.pk,
                store_id=member.home_store_id,
                occurred_at=now,
                payload={
                    **({"tier": target.name} if target is not None else {}),
                    **({"from_tier": current.name} if current is not None else {}),
                },
            )
        return target


def evaluate_due(*, now: datetime | None = None) -> int:
    """The ``loyalty-tiers`` job: evaluate every member who holds a level (they may move down) or earned in
    the last two days (they may move up); returns how many changed level."""
    now = now or timezone.now()
    holding = MemberTier.objects.filter(tier__isnull=False).values_list("member_id", flat=True)
    earning = PointsEntry.objects.filter(
        kind=PointsEntry.Kind.EARN, created_at__gte=now - RECENT
    ).values_list("account__member_id", flat=True)
    member_ids = sorted(set(holding) | set(earning))
    brands_with_tiers = set(Tier.objects.values_list("brand_id", flat=True).distinct())
    changed = 0
    for start in range(0, len(member_ids), JOB_CHUNK):
        chunk = member_ids[start : start + JOB_CHUNK]
        for member in Member.objects.filter(pk__in=chunk, brand_id__in=brands_with_tiers).filter(
            Q(erased_at__isnull=True)
        ):
            before = current_tier(member)
            after = evaluate(member, now=now)
            if _threshold(before) != _threshold(after):
                changed += 1
    return changed
