"""Attribution: which staff member brought a member in, and which sales follow them.

- **Members.** When a member joins a group with an inviting staff member (their live code or share link:
  ``CommunityMembership.inviter``), that staff member is credited once per member and brand — the first one
  keeps them (``attribution_member_once``), in the store of the group, in the month of the join.
- **Sales.** An order placed by such a member within ``ORDER_WINDOW_DAYS`` of the join is credited to the same
  staff member and store when it is paid (amount = the order total, month = the month it was placed); its
  refund writes a negative line for the same month. Each order is credited once and refunded once
  (``attribution_order_once``), so hook retries and duplicate notices change nothing.

Statements read these rows; they never re-derive who brought whom. A row for a month whose statement is
already approved is not lost: the next generation takes it into the next open month as an adjustment.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from siyu.analytics.services.events import record_event
from siyu.communities.hooks import MemberJoined
from siyu.incentives.models import Attribution, AttributionKind
from siyu.incentives.services.months import month_of
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.org.models import Staff

logger = logging.getLogger("siyu.incentives")

ORDER_WINDOW_DAYS = 90


def _insert(row: Attribution) -> bool:
    """Insert once; False when the unique constraint says it is already there."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def credit_member_join(joined: MemberJoined) -> Attribution | None:
    """Credit the inviting staff member with a member who joined (idempotent; None when nothing to credit:
    no inviter, an inviter of another brand, or the member already credited to someone)."""
    if joined.inviter_id is None:
        return None
    if not Staff.objects.filter(pk=joined.inviter_id, brand_id=joined.brand_id, is_active=True).exists():
        return None
    row = Attribution(
        brand_id=joined.brand_id,
        staff_id=joined.inviter_id,
        store_id=joined.store_id,
        member_id=joined.member_id,
        kind=AttributionKind.MEMBER,
        membership_id=joined.membership_id,
        scene=joined.scene[:16],
        live_code_id=joined.live_code_id,
        occurred_at=joined.joined_at,
        month=month_of(joined.joined_at),
    )
    try:
        with transaction.atomic():
            row.save(force_insert=True)
            record_event(
                "incentives.member_attributed",
                member_id=joined.member_id,
                store_id=joined.store_id,
                community_id=joined.community_id,
                payload={"staff_id": joined.inviter_id, "membership_id": joined.membership_id},
            )
    except IntegrityError:
        return None
    return row


def _member_credit(order: Order) -> Attribution | None:
    brand_id = Member.objects.filter(pk=order.member_id).values_list("brand_id", flat=True).first()
    if brand_id is None:
        return None
    return (
        # (brand, member) for members: the ``attribution_member_once`` index.
        Attribution.objects.filter(brand_id=brand_id, member_id=order.member_id, kind=AttributionKind.MEMBER)
        .only("staff_id", "store_id", "brand_id", "occurred_at")
        .first()
    )


def in_window(joined_at: datetime, placed_at: datetime) -> bool:
    return joined_at <= placed_at <= joined_at + timedelta(days=ORDER_WINDOW_DAYS)


def credit_paid_order(order: Order) -> Attribution | None:
    """Credit a paid order to the staff member who brought its member in, when it was placed within the
    window (idempotent per order)."""
    credit = _member_credit(order)
    if credit is None or not in_window(credit.occurred_at, order.created_at):
        return None
    row = Attribution(
        brand_id=credit.brand_id,
        staff_id=credit.staff_id,
        store_id=credit.store_id,
        member_id=order.member_id,
        kind=AttributionKind.ORDER,
        order_id=order.pk,
        amount_fen=order.total_fen,
        occurred_at=order.paid_at or timezone.now(),
        month=month_of(order.created_at),
    )
    return row if _insert(row) else None


def debit_refunded_order(order: Order) -> Attribution | None:
    """Write the negative line of a refunded order that was credited (idempotent per order); the line
    belongs to the order's month, so a refund of an approved month's order becomes next month's adjustment."""
    sale = Attribution.objects.filter(kind=AttributionKind.ORDER, order_id=order.pk).first()
    if sale is None:
        return None
    row = Attribution(
        brand_id=sale.brand_id,
        staff_id=sale.staff_id,
        store_id=sale.store_id,
        member_id=sale.member_id,
        kind=AttributionKind.REFUND,
        order_id=order.pk,
        amount_fen=-sale.amount_fen,
        occurred_at=timezone.now(),
        month=sale.month,
    )
    return row if _insert(row) else None
