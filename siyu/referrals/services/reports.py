"""What members and staff read about referrals: a member's invites and rewards; the KOL reach report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, Sum

from siyu.communities.services.roles import appointed
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.org.models import Staff
from siyu.org.services.access import require_staff, store_scope
from siyu.org.services.brand import current_brand_id
from siyu.referrals.models import Invite, InviteStatus, ReferralCampaign
from siyu.referrals.services.counting import PAID_STATUSES


@dataclass
class MemberSummary:
    invites: list[Invite]
    counted: int
    waiting: int
    points: int
    coupons: int


def member_invites(member: Member, campaign: ReferralCampaign) -> MemberSummary:
    """The member's invitees in ``campaign`` (newest first) and what they earned (reversed ones excluded)."""
    invites = list(
        Invite.objects.select_related("invitee")
        .filter(campaign=campaign, inviter=member)
        .order_by("-created_at")
    )
    paid = [i for i in invites if i.status == InviteStatus.COUNTED]
    return MemberSummary(
        invites=invites,
        counted=len(paid),
        waiting=sum(1 for i in invites if i.status in (InviteStatus.PENDING, InviteStatus.HELD)),
        points=sum(i.reward_points for i in paid),
        coupons=sum(1 for i in paid if i.reward_coupon_id),
    )


@dataclass
class KolRow:
    member_id: int
    name: str
    role: str
    community_id: int
    community: str
    store: str
    invites: int
    counted: int
    orders: int
    gmv_fen: int


def kol_reach(staff: Staff, *, store_id: int | None = None) -> list[KolRow]:
    """Per KOL / seed user of the groups ``staff`` serves: their invites (all, counted) and their invitees'
    paid orders since being invited (count and GMV in fen)."""
    require_staff(staff)
    scope = store_scope(staff)
    rows: list[KolRow] = []
    for membership in appointed(None, brand_id=current_brand_id(staff)):
        community = membership.community
        if scope is not None and community.store_id not in scope:
            continue
        if store_id is not None and community.store_id != store_id:
            continue
        member = membership.member
        if member is None:
            continue
        invites = Invite.objects.filter(inviter=member, brand_id=community.brand_id)
        totals: dict[str, Any] = invites.aggregate(
            n=Count("id"), counted=Count("id", filter=Q(status=InviteStatus.COUNTED))
        )
        order_count, gmv = 0, 0
        for invitee_id, since in invites.values_list("invitee_id", "created_at"):
            agg = Order.objects.filter(
                member_id=invitee_id, status__in=PAID_STATUSES, created_at__gte=since
            ).aggregate(n=Count("id"), fen=Sum("total_fen"))
            order_count += agg["n"] or 0
            gmv += agg["fen"] or 0
        rows.append(
            KolRow(
                member_id=member.pk,
                name=member.nickname or member.name or f"#{member.pk}",
                role=membership.role,
                community_id=community.pk,
                community=community.name,
                store=community.store.name,
                invites=totals["n"] or 0,
                counted=totals["counted"] or 0,
                orders=order_count,
                gmv_fen=gmv,
            )
        )
    return rows
