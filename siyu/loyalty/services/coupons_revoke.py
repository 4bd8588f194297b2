"""Taking back a coupon that was given for something undone (a referral reversed).

Guarantees: only an unused coupon still available is voided — one conditional UPDATE
(``status = void WHERE status = available``), so a coupon used at the counter or at checkout meanwhile is
never touched, and a second call changes nothing (returns False); the member's ``coupon.revoked`` event is
written in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from siyu.analytics.services.events import record_event
from siyu.loyalty.models import Coupon, CouponStatus


def revoke_unused(coupon_id: int, *, reason: str, now: datetime | None = None) -> bool:
    """Void coupon ``coupon_id`` if it is still unused; True when this call voided it."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = Coupon.objects.filter(pk=coupon_id, status=CouponStatus.AVAILABLE).update(
            status=CouponStatus.VOID
        )
        if changed:
            coupon = Coupon.objects.only("member_id", "template_id").get(pk=coupon_id)
            record_event(
                "coupon.revoked",
                member_id=coupon.member_id,
                occurred_at=now,
                payload={"coupon_id": coupon_id, "template_id": coupon.template_id, "reason": reason[:40]},
            )
    return bool(changed)
