"""Group buys (拼团) for staff: head office sets up, publishes and cancels group-buy campaigns; everyone reads
the campaigns and the teams of their stores (another store's team answers 404)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api import idempotency
from siyu.api.auth import current_staff
from siyu.api.presenters import store_ref
from siyu.api.schemas import Id, In, PageParams, StoreRef, paginate
from siyu.campaigns.models import Campaign, GroupBuyTeam
from siyu.campaigns.services import group_buys
from siyu.org.models import Staff
from siyu.org.services.login import client_ip

router = Router()


class GroupBuyIn(In):
    title: str = Field(max_length=100)
    description: str = Field("", max_length=2000)
    sku: Id
    price_fen: int = Field(ge=1, le=2**31 - 1, description="Group price in fen.")
    min_size: int = Field(3, ge=2, le=group_buys.MAX_TEAM_SIZE)
    max_size: int = Field(10, ge=2, le=group_buys.MAX_TEAM_SIZE)
    team_hours: int = Field(24, ge=1, le=group_buys.MAX_TEAM_HOURS)
    starts_at: datetime
    ends_at: datetime
    pickup_until: datetime
    stores: list[Id] = Field(default_factory=list, max_length=1000, description="None: every open store.")
    communities: list[Id] = Field(
        default_factory=list, max_length=1000, description="Groups the robot posts in."
    )


class GroupBuyOut(Schema):
    id: int
    title: str
    description: str
    status: str
    running: bool
    starts_at: datetime
    ends_at: datetime
    pickup_until: datetime
    sku_id: int
    sku_name: str
    price_fen: int
    normal_price_fen: int
    min_size: int
    max_size: int
    team_hours: int
    stores: list[int]
    communities: list[int]
    teams: dict[str, int]
    published_at: datetime | None
    created_at: datetime


class GroupBuyPage(Schema):
    count: int
    items: list[GroupBuyOut]


class GroupBuyParams(Schema):
    status: str | None = Field(None, max_length=16)


class TeamMemberOut(Schema):
    member_id: int
    name: str
    status: str
    order_id: int | None
    order_status: str | None
    joined_at: datetime


class TeamOut(Schema):
    id: int
    campaign_id: int
    status: str
    store: StoreRef
    community_id: int | None
    leader_id: int
    leader_name: str
    joined_count: int
    paid_count: int
    min_size: int
    max_size: int
    deadline: datetime
    formed_at: datetime | None
    closed_at: datetime | None
    created_at: datetime


class TeamDetailOut(TeamOut):
    members: list[TeamMemberOut]


class TeamPage(Schema):
    count: int
    items: list[TeamOut]


class TeamParams(Schema):
    status: str | None = Field(None, max_length=16)
    store: Id | None = Field(None, description="Store id.")
    campaign: Id | None = Field(None, description="Group-buy campaign id.")


def group_buy_out(campaign: Campaign, staff: Staff) -> dict[str, Any]:
    offer = campaign.group_buy
    sku = offer.sku
    return {
        "id": campaign.pk,
        "title": campaign.title,
        "description": campaign.description,
        "status": campaign.status,
        "running": group_buys.is_running(campaign),
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "pickup_until": campaign.pickup_until,
        "sku_id": sku.pk,
        "sku_name": f"{sku.product.name} {sku.spec}".strip(),
        "price_fen": offer.price_fen,
        "normal_price_fen": sku.price_fen,
        "min_size": offer.min_size,
        "max_size": offer.max_size,
        "team_hours": offer.team_hours,
        "stores": sorted(campaign.stores.values_list("id", flat=True)),
        "communities": sorted(campaign.communities.values_list("id", flat=True)),
        "teams": group_buys.team_counts(campaign, staff),
        "published_at": campaign.published_at,
        "created_at": campaign.created_at,
    }


def team_out(team: GroupBuyTeam) -> dict[str, Any]:
    offer = team.campaign.group_buy
    return {
        "id": team.pk,
        "campaign_id": team.campaign_id,
        "status": team.status,
        "store": store_ref(team.store),
        "community_id": team.community_id,
        "leader_id": team.leader_id,
        "leader_name": group_buys.masked_name(team.leader),
        "joined_count": team.joined_count,
        "paid_count": team.paid_count,
        "min_size": offer.min_size,
        "max_size": offer.max_size,
        "deadline": team.deadline,
        "formed_at": team.formed_at,
        "closed_at": team.closed_at,
        "created_at": team.created_at,
    }


def _fresh(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    staff = current_staff(request)
    return group_buy_out(group_buys.get_group_buy(staff, campaign_id), staff)


@router.get("/campaigns/group-buys", response=GroupBuyPage)
def list_group_buys(
    request: HttpRequest, params: Query[GroupBuyParams], page: Query[PageParams]
) -> dict[str, Any]:
    """Group-buy campaigns (a store role: those running in its stores), newest first."""
    staff = current_staff(request)
    qs = group_buys.list_group_buys(staff, status=params.status)
    count, items = paginate(qs, page)
    return {"count": count, "items": [group_buy_out(c, staff) for c in items]}


@router.post("/campaigns/group-buys", response={200: GroupBuyOut, 201: GroupBuyOut})
def create_group_buy(
    request: HttpRequest,
    payload: GroupBuyIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="Retry-safe creation: the same key from the same staff returns the same group buy.",
    ),
) -> Status:
    """Head office creates a draft group buy (201); store roles 403. A time without an offset is read in the
    chain's time zone (Asia/Shanghai). With an Idempotency-Key a retry answers 200 with the same body."""
    staff = current_staff(request)
    data = payload.model_dump()
    for name in ("starts_at", "ends_at", "pickup_until"):
        if timezone.is_naive(data[name]):
            data[name] = timezone.make_aware(data[name])

    def create() -> tuple[int, Any]:
        campaign = group_buys.create_group_buy(staff, data, ip=client_ip(request))
        return 201, group_buy_out(group_buys.get_group_buy(staff, campaign.pk), staff)

    status, body = idempotency.run_idempotent(
        request,
        idempotency_key,
        body=payload.model_dump(mode="json"),
        action=create,
    )
    return Status(status, body)


@router.get("/campaigns/group-buys/{int:campaign_id}", response=GroupBuyOut)
def get_group_buy(request: HttpRequest, campaign_id: Path[Id]) -> dict[str, Any]:
    """One group buy with its team counts."""
    return _fresh(request, campaign_id)


@router.post("/campaigns/group-buys/{int:campaign_id}/publish", response=GroupBuyOut)
def publish_group_buy(request: HttpRequest, campaign_id: Path[Id]) -> dict[str, Any]:
    """Draft → published (head office). 409 ``not_draft`` otherwise."""
    group_buys.publish_group_buy(current_staff(request), campaign_id, ip=client_ip(request))
    return _fresh(request, campaign_id)


@router.post("/campaigns/group-buys/{int:campaign_id}/cancel", response=GroupBuyOut)
def cancel_group_buy(request: HttpRequest, campaign_id: Path[Id]) -> dict[str, Any]:
    """Cancel (head office): open teams fail; their orders are cancelled or refunded automatically."""
    group_buys.cancel_group_buy(current_staff(request), campaign_id, ip=client_ip(request))
    return _fresh(request, campaign_id)


@router.get("/group-buy-teams", response=TeamPage)
def list_group_buy_teams(
    request: HttpRequest, params: Query[TeamParams], page: Query[PageParams]
) -> dict[str, Any]:
    """Teams of the caller's stores (HQ: all), newest first, filtered by status, store and campaign."""
    qs = group_buys.list_teams(
        current_staff(request), status=params.status, store_id=params.store, campaign_id=params.campaign
    )
    count, items = paginate(qs, page)
    return {"count": count, "items": [team_out(t) for t in items]}


@router.get("/group-buy-teams/{int:team_id}", response=TeamDetailOut)
def get_group_buy_team(request: HttpRequest, team_id: Path[Id]) -> dict[str, Any]:
    """One team with its members (names masked) and their orders."""
    team = group_buys.get_team(current_staff(request), team_id)
    return {
        **team_out(team),
        "members": [
            {
                "member_id": p.member_id,
                "name": group_buys.masked_name(p.member),
                "status": p.status,
                "order_id": p.order_id,
                "order_status": p.order.status if p.order else None,
                "joined_at": p.joined_at,
            }
            for p in group_buys.team_members(team)
        ],
    }
