"""What a member's H5 home shows of group buys: the offers running now and the member's own live places.

See ``siyu.campaigns.services.group_buys`` for the rules of group buys."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from siyu.campaigns.models import Campaign, CampaignKind, CampaignStatus, GroupBuyMember
from siyu.campaigns.services.group_buys.rules import LIVE
from siyu.members.models import Member


def running_group_buys(member: Member, *, now: datetime | None = None, limit: int = 20) -> list[Campaign]:
    """The group buys of the member's brand running now (published, now in [start, end)), ending soonest
    first, with their offer and product."""
    now = now or timezone.now()
    return list(
        Campaign.objects.filter(
            brand_id=member.brand_id,
            kind=CampaignKind.GROUP_BUY,
            status=CampaignStatus.PUBLISHED,
            starts_at__lte=now,
            ends_at__gt=now,
        )
        .select_related("group_buy", "group_buy__sku", "group_buy__sku__product")
        .order_by("ends_at", "id")[:limit]
    )


def my_live_places(member: Member, *, limit: int = 10) -> list[GroupBuyMember]:
    """The member's live places (awaiting payment or paid) in teams, newest first, with team and campaign."""
    return list(
        GroupBuyMember.objects.filter(member=member, status__in=LIVE)
        .select_related("team", "campaign")
        .order_by("-id")[:limit]
    )
