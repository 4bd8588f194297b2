"""Flash sales (秒杀): head office sets them up, publishes and cancels them; any staff member reads the
sales running in their stores with live numbers (store staff: counted over their stores only).

A sale is created as a draft (editable in full), then published: its items, prices, stock, limits,
stores, groups and start are then fixed; only the description, a later end and a later pickup deadline
can change. Cancelling stops purchases; orders already placed stay. Money is integer fen; times are
ISO 8601 with a time zone (a time without one is refused).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In, PageParams, paginate
from siyu.campaigns.models import Campaign, CampaignStatus, FlashSaleItem
from siyu.campaigns.services import flash_sales
from siyu.catalog.services.products import MAX_PRICE_FEN
from siyu.common.errors import ValidationFailed
from siyu.org.models import Staff
from siyu.org.services.access import store_scope

router = Router()


# --- shapes -------------------------------------------------------------------------------------


class FlashItemIn(In):
    sku_id: Id
    price_fen: int = Field(
        ge=1, le=MAX_PRICE_FEN, description="Flash price in fen, 1 up to the SKU's normal price."
    )
    stock: int = Field(ge=1, le=flash_sales.MAX_STOCK, description="Units for the sale, 1–100000.")
    per_member_limit: int = Field(
        1, ge=1, le=flash_sales.MAX_PER_MEMBER, description="Units one member may buy, 1–99."
    )


class FlashSaleIn(In):
    title: str = Field(max_length=100)
    description: str = Field("", max_length=2000)
    starts_at: datetime
    ends_at: datetime = Field(description="After the start, in the future, at most 90 days after the start.")
    pickup_until: datetime | None = Field(None, description="Not before the end; default: end + 3 days.")
    store_ids: list[Id] = Field(
        default_factory=list,
        max_length=flash_sales.MAX_STORES,
        description="Pickup stores; none: every open store.",
    )
    community_ids: list[Id] = Field(
        default_factory=list,
        max_length=flash_sales.MAX_COMMUNITIES,
        description="Groups (of the sale's stores) the robot posts into.",
    )
    warmup_at: datetime | None = Field(None, description="When to post the warm-up; before the start.")
    warmup_text: str = Field("", max_length=500)
    start_text: str = Field("", max_length=500)
    relay_enabled: bool = True
    items: list[FlashItemIn] = Field(max_length=flash_sales.MAX_ITEMS)


class FlashSaleUpdateIn(In):
    title: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=2000)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    pickup_until: datetime | None = None
    store_ids: list[Id] | None = Field(None, max_length=flash_sales.MAX_STORES)
    community_ids: list[Id] | None = Field(None, max_length=flash_sales.MAX_COMMUNITIES)
    warmup_at: datetime | None = None
    warmup_text: str | None = Field(None, max_length=500)
    start_text: str | None = Field(None, max_length=500)
    relay_enabled: bool | None = None
    items: list[FlashItemIn] | None = Field(None, max_length=flash_sales.MAX_ITEMS)


class CancelIn(In):
    reason: str = Field("", max_length=200)


class FlashItemOut(Schema):
    id: int
    sku_id: int
    sku_code: str
    name: str
    price_fen: int
    normal_price_fen: int
    stock: int
    per_member_limit: int


class FlashSaleOut(Schema):
    id: int
    kind: str
    status: str
    phase: str = Field(description="draft, scheduled, running, ended or cancelled.")
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    pickup_until: datetime
    store_ids: list[int] = Field(description="Chosen pickup stores; empty: every open store.")
    community_ids: list[int]
    warmup_at: datetime | None
    warmup_text: str
    start_text: str
    relay_enabled: bool
    admission_backend: str
    published_at: datetime | None
    warmup_posted_at: datetime | None
    start_posted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    stock_total: int
    sold_total: int = Field(description="Units held by written orders (store staff: at their stores).")
    items: list[FlashItemOut]


class FlashSalePage(Schema):
    count: int
    items: list[FlashSaleOut]


class LiveItemOut(Schema):
    id: int
    stock: int
    remaining: int | None = Field(description="Units left in the shared pool (null: counters unreadable).")
    sold: int = Field(description="Units held by written orders (store staff: at their stores).")


class RelayPostOut(Schema):
    id: int
    community_id: int
    group: str
    kind: str
    first_seq: int | None
    last_seq: int | None
    text: str
    created_at: datetime


class LiveOut(Schema):
    scoped: bool = Field(description="Counts cover only the caller's stores.")
    orders_written: int
    orders_last_10s: int
    orders_per_second: float
    orders_per_10s: list[int] = Field(
        description="Orders per 10 seconds over the last 10 minutes, oldest first."
    )
    items: list[LiveItemOut]
    relay: list[RelayPostOut]


class FlashSaleDetailOut(FlashSaleOut):
    live: LiveOut


class FlashSaleParams(Schema):
    status: str | None = Field(None, max_length=16, description="draft, published or cancelled.")


# --- presenters -------------------------------------------------------------------------------------


def _item_out(item: FlashSaleItem) -> dict[str, Any]:
    sku = item.sku
    return {
        "id": item.pk,
        "sku_id": sku.pk,
        "sku_code": sku.code,
        "name": f"{sku.product.name} {sku.spec}".strip(),
        "price_fen": item.price_fen,
        "normal_price_fen": sku.price_fen,
        "stock": item.stock,
        "per_member_limit": item.per_member_limit,
    }


def _sale_out(staff: Staff, campaign: Campaign) -> dict[str, Any]:
    items = list(campaign.flash_items.select_related("sku__product").order_by("position", "id"))
    groups = campaign.communities.all()
    scope = store_scope(staff)
    if scope is not None:
        groups = groups.filter(store_id__in=scope)
    return {
        "id": campaign.pk,
        "kind": campaign.kind,
        "status": campaign.status,
        "phase": flash_sales.phase(campaign),
        "title": campaign.title,
        "description": campaign.description,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "pickup_until": campaign.pickup_until,
        "store_ids": sorted(campaign.stores.values_list("pk", flat=True)),
        "community_ids": sorted(groups.values_list("pk", flat=True)),
        "warmup_at": campaign.warmup_at,
        "warmup_text": campaign.warmup_text,
        "start_text": campaign.start_text,
        "relay_enabled": campaign.relay_enabled,
        "admission_backend": campaign.admission_backend,
        "published_at": campaign.published_at,
        "warmup_posted_at": campaign.warmup_posted_at,
        "start_posted_at": campaign.start_posted_at,
        "created_at": campaign.created_at,
        "updated_at": campaign.updated_at,
        "stock_total": getattr(campaign, "stock_total", sum(i.stock for i in items)),
        "sold_total": getattr(campaign, "sold_total", 0),
        "items": [_item_out(i) for i in items],
    }


def _detail(request: HttpRequest, campaign_id: int) -> dict[str, Any]:
    staff = current_staff(request)
    stats = flash_sales.live_stats(staff, campaign_id)
    body = _sale_out(staff, stats.campaign)
    body["sold_total"] = stats.sold_total
    body["live"] = {
        "scoped": stats.scoped,
        "orders_written": stats.orders_written,
        "orders_last_10s": stats.orders_last_window,
        "orders_per_second": stats.orders_per_second,
        "orders_per_10s": stats.series_counts,
        "items": [
            {"id": s.item.pk, "stock": s.stock, "remaining": s.remaining, "sold": s.sold} for s in stats.items
        ],
        "relay": [
            {
                "id": line.post.pk,
                "community_id": line.post.community_id,
                "group": line.group,
                "kind": line.post.kind,
                "first_seq": line.post.first_seq,
                "last_seq": line.post.last_seq,
                "text": line.text,
                "created_at": line.post.created_at,
            }
            for line in stats.relay
        ],
    }
    return body


def _service_data(payload: In, *, partial: bool) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=partial)
    if partial:
        for name in (
            "title",
            "description",
            "starts_at",
            "ends_at",
            "warmup_text",
            "start_text",
            "relay_enabled",
        ):
            if name in data and data[name] is None:
                raise ValidationFailed(_("This field cannot be null."), field=name)
        for name in ("store_ids", "community_ids", "items"):
            if name in data and data[name] is None:
                raise ValidationFailed(_("This field cannot be null."), field=name)
    return data


# --- endpoints ------------------------------------------------------------------------------------


@router.get("/campaigns/flash-sales", response=FlashSalePage)
def list_flash_sales(
    request: HttpRequest, params: Query[FlashSaleParams], page: Query[PageParams]
) -> dict[str, Any]:
    """Flash sales the caller may see, newest start first: head office all of them; store staff the
    published or cancelled sales running in their stores (``sold_total`` counts their stores only)."""
    staff = current_staff(request)
    qs = flash_sales.visible_campaigns(staff)
    if params.status is not None:
        if params.status not in CampaignStatus.values:
            raise ValidationFailed(_("Not a valid status."), field="status")
        qs = qs.filter(status=params.status)
    count, rows = paginate(flash_sales.annotate_totals(staff, qs), page)
    return {"count": count, "items": [_sale_out(staff, c) for c in rows]}


@router.post("/campaigns/flash-sales", response={201: FlashSaleDetailOut})
def create_flash_sale(request: HttpRequest, payload: FlashSaleIn) -> Status:
    """Create a draft flash sale (head office; store roles 403). Every refused field is 400 with
    ``field`` naming it (``items.0.price_fen`` for an item) and nothing is created."""
    campaign = flash_sales.create_flash_sale(current_staff(request), _service_data(payload, partial=False))
    return Status(201, _detail(request, campaign.pk))


@router.get("/campaigns/flash-sales/{int:campaign_id}", response=FlashSaleDetailOut)
def get_flash_sale(request: HttpRequest, campaign_id: Path[Id]) -> dict[str, Any]:
    """One flash sale with its live numbers: units left and sold per item, orders written, orders in the
    last 10 seconds and per 10 seconds over 10 minutes, and the latest relay posts."""
    return _detail(request, campaign_id)


@router.patch("/campaigns/flash-sales/{int:campaign_id}", response=FlashSaleDetailOut)
def update_flash_sale(
    request: HttpRequest, campaign_id: Path[Id], payload: FlashSaleUpdateIn
) -> dict[str, Any]:
    """Change a flash sale (head office). A draft takes any field (``items`` replaces all items); a
    published sale only ``description``, a later ``ends_at`` and a later ``pickup_until`` (else 409
    ``published``); a cancelled one nothing (409 ``cancelled``)."""
    flash_sales.update_flash_sale(current_staff(request), campaign_id, _service_data(payload, partial=True))
    return _detail(request, campaign_id)


@router.post("/campaigns/flash-sales/{int:campaign_id}/publish", response=FlashSaleDetailOut)
def publish_flash_sale(request: HttpRequest, campaign_id: Path[Id]) -> dict[str, Any]:
    """Publish a draft (head office): members can buy from its start. Publishing again changes nothing;
    a cancelled sale is 409 ``cancelled``, an ended one 409 ``ended``."""
    flash_sales.publish_flash_sale(current_staff(request), campaign_id)
    return _detail(request, campaign_id)


@router.post("/campaigns/flash-sales/{int:campaign_id}/cancel", response=FlashSaleDetailOut)
def cancel_flash_sale(request: HttpRequest, campaign_id: Path[Id], payload: CancelIn) -> dict[str, Any]:
    """Cancel a draft or published sale before its end (head office): no more purchases; orders already
    placed stay (cancel or refund them one by one). Send ``{}`` or ``{"reason": "…"}``. Cancelling again
    changes nothing; an ended sale is 409 ``ended``."""
    flash_sales.cancel_flash_sale(current_staff(request), campaign_id, reason=payload.reason)
    return _detail(request, campaign_id)
