"""The demo chain's staff incentives: the standard reward rules (¥1 each for a month's first 50 members
brought in, ¥2 beyond; 1% of attributed sales), attributions from the demo's memberships that name an
inviting staff member (and those members' paid orders within 90 days), and last month's and this month's
draft statements. Created once per brand, through the incentives services."""

from __future__ import annotations

from datetime import datetime, timedelta

from siyu.communities.models import CommunityMembership
from siyu.incentives.models import Attribution, AttributionKind, IncentiveRule, IncentiveTier
from siyu.incentives.services import bulk as incentives_bulk
from siyu.incentives.services import statements
from siyu.incentives.services.attribution import ORDER_WINDOW_DAYS
from siyu.incentives.services.months import month_of, previous_month
from siyu.orders.models import Order
from siyu.org.models import Brand


def seed_demo_incentives(brand: Brand, now: datetime) -> None:
    if IncentiveRule.objects.filter(brand=brand).exists():
        return
    since = previous_month(previous_month(month_of(now)))
    incentives_bulk.add_rule(
        brand,
        IncentiveRule(name="拉新奖励", kind="invite", valid_from=since),
        [
            IncentiveTier(from_units=0, to_units=50, fen_per_unit=100),
            IncentiveTier(from_units=50, fen_per_unit=200),
        ],
    )
    incentives_bulk.add_rule(
        brand,
        IncentiveRule(name="业绩提成", kind="gmv_share", valid_from=since),
        [IncentiveTier(from_units=0, basis_points=100)],
    )
    first: dict[int, tuple[int, int, datetime, int]] = {}
    joins = (
        CommunityMembership.objects.filter(
            community__brand=brand, member__isnull=False, inviter__isnull=False, inviter__brand=brand
        )
        .order_by("joined_at", "id")
        .values_list("member_id", "inviter_id", "community__store_id", "joined_at", "id", "scene")
    )
    scenes: dict[int, str] = {}
    for member_id, staff_id, store_id, joined_at, membership_id, scene in joins:
        first.setdefault(member_id, (staff_id, store_id, joined_at, membership_id))
        scenes.setdefault(member_id, scene)
    rows = [
        Attribution(
            staff_id=staff_id,
            store_id=store_id,
            member_id=member_id,
            kind=AttributionKind.MEMBER,
            membership_id=membership_id,
            scene=scenes.get(member_id, ""),
            occurred_at=joined_at,
        )
        for member_id, (staff_id, store_id, joined_at, membership_id) in first.items()
    ]
    paid = Order.objects.filter(member_id__in=first, paid_at__isnull=False).values_list(
        "id", "member_id", "total_fen", "created_at", "paid_at"
    )
    for order_id, member_id, total_fen, created_at, paid_at in paid:
        staff_id, store_id, joined_at, _m = first[member_id]
        if joined_at <= created_at <= joined_at + timedelta(days=ORDER_WINDOW_DAYS):
            rows.append(
                Attribution(
                    staff_id=staff_id,
                    store_id=store_id,
                    member_id=member_id,
                    kind=AttributionKind.ORDER,
                    order_id=order_id,
                    amount_fen=total_fen,
                    occurred_at=paid_at or created_at,
                    month=month_of(created_at),
                )
            )
    incentives_bulk.add_attributions(brand, rows)
    for month in (previous_month(month_of(now)), month_of(now)):
        statements.generate_month(brand.pk, month)
