"""Demo data: one running recharge-slot campaign (双十一 ¥11 充值名额), so a member can buy a slot in the H5
(paid in the SANDBOX cashier) and a clerk can convert it with an in-store recharge at the counter. The deposit
product is written through ``siyu.catalog.services.bulk``; the sale through the flash-sale services."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from siyu.campaigns.models import Campaign, CampaignKind
from siyu.campaigns.services import flash_sales
from siyu.campaigns.services.recharge_slots import setup as recharge_slots
from siyu.catalog.models import Product, Sku, StoreListing
from siyu.catalog.services import bulk as catalog_bulk
from siyu.org.models import Brand, Store

DEMO_TITLE = "双十一 ¥11 充值名额"
DEMO_DESCRIPTION = "¥11 抢充值名额，7 天内到店充值满 ¥3,000 送空气净化器，¥11 定金抵充值。"
DEPOSIT_FEN = 1100
SLOTS = 500
THRESHOLD_FEN = 300_000  # matches the demo's 充3000送空气净化器 recharge tier


def seed_demo_slots(brand: Brand, now: datetime) -> Campaign:
    """The demo slot campaign: on sale for 3 days from ``now`` in every open store, 500 slots of ¥11, to be
    used within 7 days after the sale; unused deposits refunded. Idempotent: the existing one is returned."""
    existing = (
        Campaign.objects.filter(brand=brand, kind=CampaignKind.FLASH_SALE, title=DEMO_TITLE)
        .order_by("id")
        .first()
    )
    if existing is not None:
        return existing
    stores = list(Store.objects.filter(brand=brand).exclude(status=Store.Status.CLOSED))
    with transaction.atomic():
        product = Product(name="充值名额 ¥11", subtitle=DEMO_TITLE)
        [sku] = catalog_bulk.add_products(
            brand, [(product, [Sku(code=f"{brand.code[:20]}-SLOT11", price_fen=DEPOSIT_FEN)])]
        )
        catalog_bulk.publish_to_all_stores([product])
        catalog_bulk.open_listings([StoreListing(store=s, sku=sku, stock=0, listed=False) for s in stores])
        campaign = flash_sales.create_as_system(
            brand.pk,
            {
                "title": DEMO_TITLE,
                "description": DEMO_DESCRIPTION,
                "starts_at": now,
                "ends_at": now + timedelta(days=3),
                "pickup_until": now + timedelta(days=10),
                "store_ids": [],
                "community_ids": [],
                "relay_enabled": False,
                "items": [
                    {"sku_id": sku.pk, "price_fen": DEPOSIT_FEN, "stock": SLOTS, "per_member_limit": 1}
                ],
            },
            now=now,
        )
        recharge_slots.attach_as_system(
            campaign, threshold_fen=THRESHOLD_FEN, gift_text="空气净化器", unused_policy="refund"
        )
        return flash_sales.publish_as_system(campaign, now=now)
