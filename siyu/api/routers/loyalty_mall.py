"""Loyalty for staff: the points mall's items (with stock added under an ``Idempotency-Key`` scoped to the
caller), member tiers with a preview, and a member's tier. Changes need ``loyalty.manage`` (head office);
every staff member of the brand reads. Same error shape as every router."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Header, Path, Router, Schema
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In
from siyu.loyalty.models import MallItem, Tier
from siyu.loyalty.services import mall_admin, tier_admin

router = Router()


# --- points mall items ---------------------------------------------------------------------------------


class MallItemOut(Schema):
    id: int
    kind: str
    name: str
    description: str
    points: int
    stock: int
    member_limit: int | None
    coupon_template_id: int | None
    sku_id: int | None
    image_id: int | None
    picture_url: str
    store_ids: list[int]
    starts_at: datetime | None
    ends_at: datetime | None
    position: int
    active: bool
    exchanges: int = Field(description="Live exchanges (not returned).")


class MallItemIn(In):
    kind: Literal["coupon", "product"]
    name: str = Field(max_length=60)
    description: str = Field("", max_length=200)
    points: int = Field(ge=1, le=1_000_000, description="The item's price in points.")
    stock: int = Field(0, ge=0, le=1_000_000, description="The first stock; later, add stock.")
    member_limit: int | None = Field(None, ge=1, le=1000, description="Per member; null: no limit.")
    coupon_template_id: Id | None = Field(None, description="Coupon items: the coupon given.")
    sku_id: Id | None = Field(None, description="Product items: the SKU picked up.")
    image_id: Id | None = Field(None, description="One of the product's pictures (null: its main one).")
    store_ids: list[Id] = Field(default_factory=list, max_length=500, description="Empty: every store.")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    position: int = Field(0, ge=0, le=1000)
    active: bool = True


class MallItemUpdateIn(In):
    name: str | None = Field(None, max_length=60)
    description: str | None = Field(None, max_length=200)
    points: int | None = Field(None, ge=1, le=1_000_000)
    member_limit: int | None = Field(None, ge=1, le=1000)
    coupon_template_id: Id | None = None
    sku_id: Id | None = None
    image_id: Id | None = None
    store_ids: list[Id] | None = Field(None, max_length=500)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    position: int | None = Field(None, ge=0, le=1000)
    active: bool | None = None


class MallStockIn(In):
    amount: int = Field(ge=1, le=1_000_000, description="Units to add to the stock.")


def item_out(item: MallItem) -> dict[str, Any]:
    return {
        "id": item.pk,
        "kind": item.kind,
        "name": item.name,
        "description": item.description,
        "points": item.points,
        "stock": item.stock,
        "member_limit": item.member_limit,
        "coupon_template_id": item.coupon_template_id,
        "sku_id": item.sku_id,
        "image_id": item.image_id,
        "picture_url": mall_admin.picture_url(item),
        "store_ids": sorted(s.pk for s in item.stores.all()),
        "starts_at": item.starts_at,
        "ends_at": item.ends_at,
        "position": item.position,
        "active": item.active,
        "exchanges": getattr(item, "exchanges_count", 0),
    }


def _partial(payload: Schema, clearable: tuple[str, ...]) -> dict[str, Any]:
    """The fields sent; an explicit null clears the ``clearable`` ones, other nulls leave the field."""
    data = payload.model_dump(exclude_unset=True)
    return {k: v for k, v in data.items() if v is not None or k in clearable}


@router.get("/loyalty/mall/items", response=list[MallItemOut])
def list_mall_items(request: HttpRequest) -> list[dict[str, Any]]:
    """The brand's points-mall items (active first) with how many live exchanges each has."""
    return [item_out(i) for i in mall_admin.list_items(current_staff(request))]


@router.post("/loyalty/mall/items", response={201: MallItemOut})
def create_mall_item(request: HttpRequest, payload: MallItemIn) -> Status:
    """A new item: a coupon (``coupon_template_id``) or a product for pickup (``sku_id``)."""
    data = payload.model_dump()
    data = {k: v for k, v in data.items() if v is not None or k in ("member_limit",)}
    return Status(201, item_out(mall_admin.create_item(current_staff(request), data)))


@router.get("/loyalty/mall/items/{int:item_id}", response=MallItemOut)
def get_mall_item(request: HttpRequest, item_id: Path[Id]) -> dict[str, Any]:
    """One item."""
    return item_out(mall_admin.get_item(current_staff(request), item_id))


@router.patch("/loyalty/mall/items/{int:item_id}", response=MallItemOut)
def update_mall_item(request: HttpRequest, item_id: Path[Id], payload: MallItemUpdateIn) -> dict[str, Any]:
    """Change the fields given; ``active: false`` takes the item out of the mall (items are never deleted:
    exchanges name them). Stock is not set here: add stock."""
    data = _partial(payload, ("member_limit", "image_id", "starts_at", "ends_at"))
    return item_out(mall_admin.update_item(current_staff(request), item_id, data))


@router.post("/loyalty/mall/items/{int:item_id}/stock", response=MallItemOut)
def add_mall_stock(
    request: HttpRequest,
    item_id: Path[Id],
    payload: MallStockIn,
    idempotency_key: str = Header(
        ...,
        alias="Idempotency-Key",
        description="Required, scoped to the caller. The same key again adds nothing more (200).",
    ),
) -> dict[str, Any]:
    """Add units to the item's stock (one conditional UPDATE; never set)."""
    return item_out(
        mall_admin.add_stock(current_staff(request), item_id, payload.amount, key=idempotency_key)
    )


# --- tiers ---------------------------------------------------------------------------------------------


class TierOut(Schema):
    id: int
    name: str
    threshold: int = Field(description="Points earned in a rolling 12 months to reach the level.")
    multiplier_percent: int = Field(description="Points multiplier in percent: 150 = 1.5×.")
    member_price: bool
    birthday_template_id: int | None
    grace_days: int


class TierIn(In):
    name: str = Field(max_length=30)
    threshold: int = Field(ge=0, le=10_000_000)
    multiplier_percent: int = Field(100, ge=100, le=1000)
    member_price: bool = True
    birthday_template_id: Id | None = None
    grace_days: int = Field(0, ge=0, le=365)


class TierUpdateIn(In):
    name: str | None = Field(None, max_length=30)
    threshold: int | None = Field(None, ge=0, le=10_000_000)
    multiplier_percent: int | None = Field(None, ge=100, le=1000)
    member_price: bool | None = None
    birthday_template_id: Id | None = None
    grace_days: int | None = Field(None, ge=0, le=365)


class TierPreviewOut(Schema):
    name: str = Field(description="Empty: members below every level.")
    threshold: int
    members: int


class MemberTierOut(Schema):
    member_id: int
    tier: TierOut | None
    earned: int = Field(description="Points earned in the last 12 months (less refund reversals).")
    next_tier: TierOut | None
    to_next: int
    grace_until: datetime | None


def tier_out(tier: Tier) -> dict[str, Any]:
    return {
        "id": tier.pk,
        "name": tier.name,
        "threshold": tier.threshold,
        "multiplier_percent": tier.multiplier_percent,
        "member_price": tier.member_price,
        "birthday_template_id": tier.birthday_template_id,
        "grace_days": tier.grace_days,
    }


@router.get("/loyalty/tiers", response=list[TierOut])
def list_tiers(request: HttpRequest) -> list[dict[str, Any]]:
    """The brand's levels, by threshold."""
    return [tier_out(t) for t in tier_admin.list_tiers(current_staff(request))]


@router.post("/loyalty/tiers", response={201: TierOut})
def create_tier(request: HttpRequest, payload: TierIn) -> Status:
    """A new level (``loyalty.manage``). Members move at their next earning or the nightly evaluation."""
    return Status(201, tier_out(tier_admin.create_tier(current_staff(request), payload.model_dump())))


@router.get("/loyalty/tiers/preview", response=list[TierPreviewOut])
def preview_tiers(request: HttpRequest) -> list[dict[str, Any]]:
    """How many members each level holds by points earned in the last 12 months."""
    return [
        {"name": r.name, "threshold": r.threshold, "members": r.members}
        for r in tier_admin.preview(current_staff(request))
    ]


@router.get("/loyalty/tiers/{int:tier_id}", response=TierOut)
def get_tier(request: HttpRequest, tier_id: Path[Id]) -> dict[str, Any]:
    """One level."""
    return tier_out(tier_admin.get_tier(current_staff(request), tier_id))


@router.patch("/loyalty/tiers/{int:tier_id}", response=TierOut)
def update_tier(request: HttpRequest, tier_id: Path[Id], payload: TierUpdateIn) -> dict[str, Any]:
    """Change the fields given (``birthday_template_id: null`` removes the birthday coupon)."""
    data = _partial(payload, ("birthday_template_id",))
    return tier_out(tier_admin.update_tier(current_staff(request), tier_id, data))


@router.get("/members/{int:member_id}/tier", response=MemberTierOut)
def member_tier(request: HttpRequest, member_id: Path[Id]) -> dict[str, Any]:
    """A member's level, points earned in 12 months, the next level (store staff: their stores' members)."""
    card = tier_admin.member_tier(current_staff(request), member_id)
    return {
        "member_id": int(member_id),
        "tier": tier_out(card.tier) if card.tier is not None else None,
        "earned": card.earned,
        "next_tier": tier_out(card.next_tier) if card.next_tier is not None else None,
        "to_next": card.to_next,
        "grace_until": card.grace_until,
    }
