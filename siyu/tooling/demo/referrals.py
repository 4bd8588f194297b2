"""Demo referral campaign: the first store's first web live code, 50 points a friend, 80 from the 6th."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from siyu.communities.models import LiveCode
from siyu.org.models import Brand, Store
from siyu.referrals.models import ReferralCampaign
from siyu.referrals.services import bulk as referrals_bulk


@transaction.atomic
def seed_demo_referrals(brand: Brand, now: datetime) -> bool:
    """Seed one running referral campaign once; False when the brand already has one (or no live code)."""
    if ReferralCampaign.objects.filter(brand=brand).exists():
        return False
    store = Store.objects.filter(brand=brand).order_by("code", "id").first()
    code = (
        LiveCode.objects.filter(brand=brand, store=store, active=True, channel="web").order_by("id").first()
        if store is not None
        else None
    )
    if code is None:
        return False
    referrals_bulk.add_campaign_as_system(
        code,
        name="邀好友进群",
        headline="邀好友 得积分",
        tiers=[{"from": 1, "points": 50}, {"from": 6, "points": 80}],
        stay_days=3,
        reversal_days=7,
        created_at=now,
    )
    return True
