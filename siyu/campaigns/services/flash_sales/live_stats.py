"""The live numbers of a running sale: units sold and left, orders, orders per second, relay log.

See ``siyu.campaigns.services.flash_sales`` for the rules."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from siyu.campaigns.models import (
    Campaign,
    CampaignStatus,
    FlashReservation,
    FlashSaleItem,
    RelayPost,
)
from siyu.campaigns.services import flash_admission
from siyu.campaigns.services.flash_sales.phases import BUCKET, BUCKETS, RATE_WINDOW, RELAY_LOG_SIZE, phase
from siyu.campaigns.services.flash_sales.visibility import get_campaign
from siyu.orders.models import Order, OrderSource
from siyu.org.models import Staff
from siyu.org.services.access import store_scope

logger = logging.getLogger("siyu.campaigns.setup")


# --- live numbers ---------------------------------------------------------------------------------------


@dataclass
class ItemStats:
    item: FlashSaleItem
    stock: int
    remaining: int | None  # the sale's shared pool; None when the counters cannot be read
    sold: int  # units held by written orders (store staff: picked up at their stores)

    @property
    def admitted(self) -> int | None:
        """Units admitted so far, written or not (stock − remaining)."""
        return None if self.remaining is None else self.stock - self.remaining


@dataclass
class RelayLine:
    post: RelayPost
    group: str
    text: str


@dataclass
class LiveStats:
    campaign: Campaign
    phase: str
    scoped: bool  # numbers limited to the caller's stores
    items: list[ItemStats]
    orders_written: int
    orders_last_window: int
    orders_per_second: float
    series_labels: list[str]
    series_counts: list[int]
    relay: list[RelayLine]
    remaining_known: bool = True
    now: datetime = field(default_factory=timezone.now)

    @property
    def stock_total(self) -> int:
        return sum(i.stock for i in self.items)

    @property
    def sold_total(self) -> int:
        return sum(i.sold for i in self.items)

    @property
    def remaining_total(self) -> int | None:
        if not self.remaining_known:
            return None
        return sum(i.remaining or 0 for i in self.items)


def units_left(campaign: Campaign, items: list[FlashSaleItem]) -> dict[int, int] | None:
    """Units left per item of ``items`` (the sale's shared pool, ``flash_admission.remaining_units``; a
    draft: its stock), or None when the counters cannot be read — pages showing it must not fail."""
    if campaign.status == CampaignStatus.DRAFT:
        return {i.pk: i.stock for i in items}
    try:
        left = flash_admission.remaining_units(campaign.pk)
    except Exception:
        logger.exception("remaining units of campaign %s unavailable", campaign.pk)
        return None
    return {i.pk: left.get(i.pk, 0) for i in items}


def live_stats(staff: Staff, campaign_id: Any, *, now: datetime | None = None) -> LiveStats:
    """The live numbers of a flash sale for ``staff`` (NotFound when it may not see it): per item stock,
    units left (the shared pool, from ``flash_admission.remaining_units``) and units sold by written
    orders; orders written; orders per second over the last 10 seconds; orders per 10 seconds over the
    last 10 minutes; and the latest relay posts. For store staff every count (not the units left) covers
    only their stores, and the relay log only their stores' groups. Reads only."""
    campaign = get_campaign(staff, campaign_id)
    now = now or timezone.now()
    scope = store_scope(staff)
    items = list(campaign.flash_items.select_related("sku__product").order_by("position", "id"))
    left = units_left(campaign, items)
    if scope is None:
        sold = {i.pk: i.sold for i in items}
    else:
        sold = dict(
            FlashReservation.objects.filter(
                campaign=campaign, status=FlashReservation.Status.ACTIVE, store_id__in=scope
            )
            .order_by()
            .values("item_id")
            .annotate(total=Sum("quantity"))
            .values_list("item_id", "total")
        )
    item_stats = [
        ItemStats(
            item=i,
            stock=i.stock,
            remaining=None if left is None else left.get(i.pk, 0),
            sold=int(sold.get(i.pk) or 0),
        )
        for i in items
    ]
    orders = Order.objects.filter(campaign_id=campaign.pk, source=OrderSource.FLASH_SALE)
    if scope is not None:
        orders = orders.filter(store_id__in=scope)
    start = now - BUCKET * BUCKETS
    aggregates: dict[str, Any] = {
        "total": Count("id"),
        "recent": Count("id", filter=Q(created_at__gt=now - RATE_WINDOW, created_at__lte=now)),
    }
    edges = [start + BUCKET * i for i in range(BUCKETS + 1)]
    for i in range(BUCKETS):
        aggregates[f"b{i}"] = Count("id", filter=Q(created_at__gt=edges[i], created_at__lte=edges[i + 1]))
    counts = orders.aggregate(**aggregates)
    relay_qs = RelayPost.objects.filter(campaign=campaign).select_related("community", "message")
    if scope is not None:
        relay_qs = relay_qs.filter(community__store_id__in=scope)
    relay = [
        RelayLine(
            post=p,
            group=p.community.name,
            text=(p.message.text or (p.message.card or {}).get("title", "")) if p.message else "",
        )
        for p in relay_qs.order_by("-created_at", "-id")[:RELAY_LOG_SIZE]
    ]
    recent = int(counts["recent"] or 0)
    return LiveStats(
        campaign=campaign,
        phase=phase(campaign, now),
        scoped=scope is not None,
        items=item_stats,
        orders_written=int(counts["total"] or 0),
        orders_last_window=recent,
        orders_per_second=round(recent / RATE_WINDOW.total_seconds(), 1),
        series_labels=[timezone.localtime(edges[i + 1]).strftime("%H:%M:%S") for i in range(BUCKETS)],
        series_counts=[int(counts[f"b{i}"] or 0) for i in range(BUCKETS)],
        relay=relay,
        remaining_known=left is not None,
        now=now,
    )
