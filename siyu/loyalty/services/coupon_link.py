"""The one place the points mall and tier birthdays call the coupons service (``coupons.issue``)."""

from __future__ import annotations

from siyu.loyalty.models import Coupon, CouponSource, CouponTemplate
from siyu.loyalty.services import coupons
from siyu.members.models import Member


def issue_for_exchange(template: CouponTemplate, member: Member, *, source_ref: str, key: str) -> Coupon:
    """Issue the exchanged coupon; the coupons' refusals (sold out, limit, ended) roll the exchange back."""
    return coupons.issue(template, member, source=CouponSource.EXCHANGE, source_ref=source_ref, key=key)


def issue_birthday(template: CouponTemplate, member: Member, *, source_ref: str, key: str) -> bool:
    """Issue a tier's birthday coupon (a campaign of Siyu's own); whether this call issued it (False: already
    issued under ``key``)."""
    return coupons.issue_once(template, member, source=CouponSource.CAMPAIGN, source_ref=source_ref, key=key)[
        1
    ]
