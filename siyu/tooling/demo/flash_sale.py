"""A demo flash sale for ``siyu demo``: three popular items of the demo catalog, running for a week.
Created and published through the campaigns' own ``flash_sales.create_as_system``/``publish_as_system``."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from siyu.campaigns.models import Campaign, CampaignKind
from siyu.campaigns.services import flash_sales
from siyu.catalog.models import Publication, Sku
from siyu.communities.models import Community
from siyu.org.models import Brand, Store

DEMO_TITLE = "限时秒杀 · 人气好物"
DEMO_DESCRIPTION = "会员专享：人气好物限时秒杀，每人每款限购 2 件，下单后到所选门店自提。"
DEMO_STOCKS = (200, 300, 500)
DEMO_LIMIT = 2
DEMO_DAYS = 7


def _flash_price(price_fen: int) -> int:
    """About 45% of the normal price, ending in .90 yuan, never above the normal price."""
    price = (price_fen * 45 // 100) // 100 * 100 + 90
    return max(1, min(price, price_fen))


def _popular_skus(brand: Brand) -> list[Sku]:
    """The first SKU of the first three products published to every store, hot products first."""
    skus: list[Sku] = []
    seen: set[int] = set()
    candidates = (
        Sku.objects.filter(
            product__brand=brand,
            active=True,
            product__active=True,
            product__publications__scope=Publication.Scope.ALL,
            product__publications__withdrawn_at__isnull=True,
        )
        .select_related("product")
        .distinct()
        .order_by("-product__is_hot", "product__name", "product_id", "id")
    )
    for sku in candidates:
        if sku.product_id in seen:
            continue
        seen.add(sku.product_id)
        skus.append(sku)
        if len(skus) == len(DEMO_STOCKS):
            break
    return skus


def _first_web_groups(brand: Brand) -> list[int]:
    first: dict[int, int] = {}
    rows = (
        Community.objects.filter(brand=brand, channel="web", status=Community.Status.OPEN)
        .filter(store__status=Store.Status.OPEN)
        .order_by("store_id", "sequence", "id")
        .values_list("store_id", "id")
    )
    for store_id, community_id in rows:
        first.setdefault(store_id, community_id)
    return sorted(first.values())


def seed_demo_flash_sale(brand: Brand, now: datetime) -> Campaign | None:
    """Create and publish the demo flash sale of ``brand``: from ``now`` for 7 days, three popular SKUs
    (hot products first) with stock 200/300/500 and a limit of 2 per member, in every open store, posting
    into each store's first web group. Idempotent: returns the existing demo sale if there is one (in any
    status). Returns None when the brand has no catalog yet. Written like any sale (validated, audited
    without an actor, admission opened)."""
    existing = (
        Campaign.objects.filter(brand=brand, kind=CampaignKind.FLASH_SALE, title=DEMO_TITLE)
        .order_by("id")
        .first()
    )
    if existing is not None:
        return existing
    skus = _popular_skus(brand)
    if not skus:
        return None
    data = {
        "title": DEMO_TITLE,
        "description": DEMO_DESCRIPTION,
        "starts_at": now,
        "ends_at": now + timedelta(days=DEMO_DAYS),
        "store_ids": [],
        "community_ids": _first_web_groups(brand),
        "relay_enabled": True,
        "items": [
            {
                "sku_id": sku.pk,
                "price_fen": _flash_price(sku.price_fen),
                "stock": stock,
                "per_member_limit": DEMO_LIMIT,
            }
            for sku, stock in zip(skus, DEMO_STOCKS, strict=False)
        ],
    }
    with transaction.atomic():
        campaign = flash_sales.create_as_system(brand.pk, data, now=now)
        return flash_sales.publish_as_system(campaign, now=now)
