"""Writes for tooling (demo seeding): referral campaigns made by the system, without a staff member."""

from __future__ import annotations

from typing import Any

from siyu.communities.models import LiveCode
from siyu.referrals.models import ReferralCampaign
from siyu.referrals.services.campaigns import clean_tiers


def add_campaign_as_system(
    code: LiveCode, *, name: str, tiers: list[dict[str, Any]], **fields: Any
) -> ReferralCampaign:
    """A running campaign on ``code`` (tiers validated as in the console; no audit: no staff acted)."""
    return ReferralCampaign.objects.create(
        brand_id=code.brand_id,
        store_id=code.store_id,
        live_code=code,
        name=name[:60],
        tiers=clean_tiers(code.brand_id, tiers),
        **fields,
    )
