"""Recording who brought whom (the invite tree) when an invitee joins through a personal invite link.

Guarantees: one ``Invite`` per (campaign, invitee), also under concurrency (a unique constraint; a second
call returns the first row); never the inviter themself, never an inviter of another brand, only when the
membership really names the inviter as its referrer and was made through the campaign's live code set; the
fraud rules (``fraud.evaluate``) run under the campaign's row lock, and a tripped rule stores the invite as
``held`` with its evidence (and holds the rest of the cluster); the invitee's ``referral.joined`` event is
written in the same transaction. Nothing is paid here: the counting job pays once an invite counts.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from siyu.analytics.services.events import record_event
from siyu.communities.models import CommunityMembership
from siyu.members.models import Member
from siyu.referrals.models import Invite, InviteStatus, ReferralCampaign
from siyu.referrals.services import fraud
from siyu.referrals.services.links import device_hash, ip_prefix


def record_invite(
    membership: CommunityMembership,
    *,
    campaign_id: int,
    inviter_id: int,
    device_id: str = "",
    user_agent: str = "",
    ip: str | None = None,
    now: datetime | None = None,
) -> Invite | None:
    """The invite row for ``membership`` (just made by joining through the campaign's link), or None when
    the join does not qualify (see module guarantees)."""
    now = now or timezone.now()
    if (
        membership.member_id is None
        or membership.referrer_id != inviter_id
        or inviter_id == membership.member_id
    ):
        return None
    with transaction.atomic():
        campaign = ReferralCampaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or not campaign.active:
            return None
        existing = Invite.objects.filter(campaign=campaign, invitee_id=membership.member_id).first()
        if existing is not None:
            return existing
        community = membership.community
        code = campaign.live_code
        if (
            community.store_id != code.store_id
            or community.template_id != code.template_id
            or community.brand_id != campaign.brand_id
        ):
            return None
        invitee = Member.objects.filter(pk=membership.member_id).only("mobile", "brand_id").first()
        if invitee is None or not Member.objects.filter(pk=inviter_id, brand_id=campaign.brand_id).exists():
            return None
        device = device_hash(device_id, user_agent)
        network = ip_prefix(ip)
        mobile = invitee.mobile or ""
        live_code_id = membership.live_code_id or code.pk
        evidence = fraud.evaluate(
            campaign,
            inviter_id=inviter_id,
            live_code_id=live_code_id,
            device_hash=device,
            ip_prefix=network,
            mobile=mobile,
            now=now,
        )
        try:
            with transaction.atomic():
                invite = Invite.objects.create(
                    brand_id=campaign.brand_id,
                    campaign=campaign,
                    inviter_id=inviter_id,
                    invitee_id=membership.member_id,
                    store_id=community.store_id,
                    community=community,
                    membership_id=membership.pk,
                    staff_id=membership.inviter_id,
                    live_code_id=live_code_id,
                    scene=membership.scene,
                    device_hash=device,
                    ip_prefix=network,
                    invitee_mobile=mobile[:11],
                    status=InviteStatus.HELD if evidence else InviteStatus.PENDING,
                    evidence=evidence,
                    created_at=now,
                )
        except IntegrityError:
            return Invite.objects.filter(campaign=campaign, invitee_id=membership.member_id).first()
        if evidence:
            fraud.hold_clusters(invite, evidence)
            Invite.objects.filter(pk=invite.pk).update(evidence=evidence)
        record_event(
            "referral.joined",
            member_id=membership.member_id,
            store_id=community.store_id,
            community_id=community.pk,
            occurred_at=now,
            payload={"invite_id": invite.pk, "inviter_id": inviter_id, "campaign_id": campaign.pk},
        )
    invite.refresh_from_db()
    return invite
