"""Reads of group buys and teams: staff (store-scoped) and members.

See ``siyu.campaigns.services.group_buys`` for the rules of group buys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    GroupBuyMember,
    GroupBuyTeam,
)
from siyu.campaigns.services.group_buys.rules import JOINABLE, LIVE, T
from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import optional_id
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.org.models import Staff
from siyu.org.services.access import store_scope
from siyu.org.services.brand import current_brand_id

# --- staff reads ---------------------------------------------------------------------------------------


def scoped_group_buys(staff: Staff) -> QuerySet[Campaign]:
    """Group-buy campaigns ``staff`` may see: HQ all of the brand; a store role those running in one of its
    stores (or in every store). Newest first."""
    scope = store_scope(staff)
    qs = Campaign.objects.filter(brand_id=current_brand_id(staff), kind=CampaignKind.GROUP_BUY)
    if scope is not None:
        qs = qs.filter(Q(stores__isnull=True) | Q(stores__in=scope)).distinct()
    return qs.select_related("group_buy", "group_buy__sku", "group_buy__sku__product").order_by(
        "-starts_at", "-id"
    )


def list_group_buys(staff: Staff, *, status: str | None = None) -> QuerySet[Campaign]:
    """``scoped_group_buys`` filtered by status (ValidationFailed for an unknown one)."""
    qs = scoped_group_buys(staff)
    if status:
        if status not in CampaignStatus.values:
            raise ValidationFailed(_("Unknown status."), field="status")
        qs = qs.filter(status=status)
    return qs


def get_group_buy(staff: Staff, campaign_id: Any) -> Campaign:
    """One group buy in scope; NotFound otherwise."""
    pk = optional_id(campaign_id)
    campaign = scoped_group_buys(staff).filter(pk=pk).first() if pk else None
    if campaign is None:
        raise NotFound(_("No such group buy."), field="campaign")
    return campaign


def scoped_teams(staff: Staff) -> QuerySet[GroupBuyTeam]:
    """Teams ``staff`` may see: HQ all of the brand, a store role only its stores' teams."""
    scope = store_scope(staff)
    qs = GroupBuyTeam.objects.filter(campaign__brand_id=current_brand_id(staff))
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    return qs.select_related("campaign", "campaign__group_buy", "store", "leader", "community")


def list_teams(
    staff: Staff,
    *,
    status: str | None = None,
    store_id: int | None = None,
    campaign_id: int | None = None,
) -> QuerySet[GroupBuyTeam]:
    """Teams in scope, newest first, filtered by status, store and campaign (ValidationFailed for an
    unknown status)."""
    qs = scoped_teams(staff)
    if status:
        if status not in T.values:
            raise ValidationFailed(_("Unknown status."), field="status")
        qs = qs.filter(status=status)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if campaign_id is not None:
        qs = qs.filter(campaign_id=campaign_id)
    return qs.order_by("-created_at", "-id")


def get_team(staff: Staff, team_id: Any) -> GroupBuyTeam:
    """One team in scope (another store's team looks absent: NotFound)."""
    pk = optional_id(team_id)
    team = scoped_teams(staff).filter(pk=pk).first() if pk else None
    if team is None:
        raise NotFound(_("No such team."), field="team")
    return team


def team_counts(campaign: Campaign, staff: Staff | None = None) -> dict[str, int]:
    """How many teams of the campaign are open, formed and failed; with ``staff``, only the teams they may
    see (a store role: its stores' teams)."""
    teams = scoped_teams(staff) if staff is not None else GroupBuyTeam.objects.all()
    counts = dict(
        teams.filter(campaign=campaign)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in T.values}


def team_members(team: GroupBuyTeam) -> list[GroupBuyMember]:
    """The team's places in joining order, with member and order."""
    return list(team.members.select_related("member", "order").order_by("joined_at", "id"))


def pending_settlement(team: GroupBuyTeam) -> int:
    """Live places of a failed team still waiting to be cancelled or refunded."""
    if team.status != T.FAILED:
        return 0
    return team.members.filter(status__in=LIVE).count()


# --- member reads --------------------------------------------------------------------------------------


def offer_for_member(member: Member, campaign_id: Any) -> Campaign:
    """A published (or cancelled) group buy of the member's brand; NotFound for drafts and anything else."""
    pk = optional_id(campaign_id)
    campaign = (
        Campaign.objects.select_related("group_buy", "group_buy__sku", "group_buy__sku__product")
        .filter(
            pk=pk,
            brand_id=member.brand_id,
            kind=CampaignKind.GROUP_BUY,
            status__in=(CampaignStatus.PUBLISHED, CampaignStatus.CANCELLED),
        )
        .first()
        if pk
        else None
    )
    if campaign is None:
        raise NotFound(_("No such group buy."), field="campaign")
    return campaign


def team_for_member(member: Member, team_id: Any) -> GroupBuyTeam:
    """A team of a group buy of the member's brand (any member may look at a shared team); NotFound
    otherwise."""
    pk = optional_id(team_id)
    team = (
        GroupBuyTeam.objects.select_related(
            "campaign", "campaign__group_buy", "campaign__group_buy__sku__product", "store", "leader"
        )
        .filter(
            pk=pk,
            campaign__brand_id=member.brand_id,
            campaign__status__in=(CampaignStatus.PUBLISHED, CampaignStatus.CANCELLED),
        )
        .first()
        if pk
        else None
    )
    if team is None:
        raise NotFound(_("No such team."), field="team")
    return team


def joinable_teams(campaign: Campaign, store_id: int, now: datetime | None = None) -> list[GroupBuyTeam]:
    """Teams of the campaign at ``store_id`` a member could join now (open or formed, before the deadline,
    not full), closest to forming first."""
    now = now or timezone.now()
    max_size = campaign.group_buy.max_size
    return list(
        GroupBuyTeam.objects.filter(
            campaign=campaign,
            store_id=store_id,
            status__in=JOINABLE,
            deadline__gt=now,
            joined_count__lt=max_size,
        )
        .select_related("leader")
        .order_by("status", "-paid_count", "deadline", "id")[:50]
    )


def live_membership(member: Member, campaign_id: int) -> GroupBuyMember | None:
    """The member's live place (awaiting payment or counted) in the campaign, if any."""
    return (
        GroupBuyMember.objects.select_related("team", "order")
        .filter(campaign_id=campaign_id, member=member, status__in=LIVE)
        .first()
    )


def membership_in(member: Member, team: GroupBuyTeam) -> GroupBuyMember | None:
    return GroupBuyMember.objects.select_related("order").filter(team=team, member=member).first()


def team_formed_for(order: Order) -> bool:
    """Whether ``order`` is a place in a formed team (the counter hands over only those)."""
    return GroupBuyMember.objects.filter(order_id=order.pk, team__status=T.FORMED).exists()
