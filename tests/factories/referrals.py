"""referrals: a campaign on a store's live code (through the services), members joining through an
invite link and the invite recorded as the H5 join page does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from siyu.communities.models import GroupTemplate, JoinScene
from siyu.communities.services.livecodes import create_live_code, join_via_live_code
from siyu.members.models import Member
from siyu.org.models import Staff, Store
from siyu.referrals.models import Invite, ReferralCampaign
from siyu.referrals.services import campaigns, invites

DEFAULT_TIERS = [{"from": 1, "points": 50}, {"from": 6, "points": 80}]


def make_referral_campaign(
    staff: Staff, store: Store, template: GroupTemplate, **data: Any
) -> ReferralCampaign:
    """A referral campaign on ``store``'s web live code of ``template`` (50 points each, 80 from the 6th)."""
    code = create_live_code(staff, store_id=store.pk, template_id=template.pk)
    values: dict[str, Any] = {"name": "邀好友进群", "live_code_id": code.pk, "tiers": DEFAULT_TIERS, **data}
    return campaigns.create_campaign(staff, values)


def invite_join(
    campaign: ReferralCampaign,
    inviter: Member,
    invitee: Member,
    *,
    device_id: str = "",
    user_agent: str = "Mozilla/5.0 (iPhone)",
    ip: str | None = None,
    now: datetime | None = None,
) -> Invite | None:
    """``invitee`` joins through ``inviter``'s link: the live code join, then the invite row."""
    result = join_via_live_code(
        campaign.live_code.token, invitee, scene=JoinScene.MEMBER_SHARE, referrer_member_id=inviter.pk
    )
    assert result.membership is not None
    return invites.record_invite(
        result.membership,
        campaign_id=campaign.pk,
        inviter_id=inviter.pk,
        device_id=device_id,
        user_agent=user_agent,
        ip=ip,
        now=now,
    )
