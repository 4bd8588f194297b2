"""Demo data: one running group buy (拼团) on a demo SKU, so the H5 page and the console show something.
Written through ``siyu.campaigns.services.group_buy_system``."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from siyu.campaigns.models import Campaign, CampaignKind
from siyu.campaigns.services import group_buy_system
from siyu.catalog.models import Sku
from siyu.catalog.services.queries import member_unit_fen
from siyu.org.models import Brand
from siyu.tooling.demo.catalog import seed_catalog_demo

DEMO_TITLE = "三人成团 · 香薰蜡烛"
DEMO_DESCRIPTION = "邀请好友一起拼，3 人成团享拼团价，24 小时内未成团自动退款。"
DEMO_PRODUCT = "香薰蜡烛"
RUNS_FOR = timedelta(days=7)
PICKUP_AFTER = timedelta(days=3)


def _demo_sku(brand: Brand) -> Sku:
    skus = Sku.objects.filter(product__brand=brand, active=True, product__active=True).select_related(
        "product"
    )
    sku = skus.filter(product__name=DEMO_PRODUCT).order_by("id").first()
    sku = sku or skus.order_by("-product__is_hot", "id").first()
    if sku is None:
        seed_catalog_demo(brand)
        return _demo_sku(brand)
    return sku


def _group_price(sku: Sku) -> int:
    """About 70 % of the usual price, in whole yuan (never below 1 yuan nor above the member price)."""
    usual = member_unit_fen(sku)
    return max(100, min(usual, (usual * 7 // 10) // 100 * 100)) if usual >= 100 else usual


@transaction.atomic
def seed_demo_group_buy(brand: Brand, now: datetime) -> Campaign:
    """One published group buy of ``brand`` running at ``now``: a demo SKU (the 香薰蜡烛 when the demo
    catalog is there) at about 70 % of its price, teams of 3 (at most 10) within 24 hours, in every store.
    Idempotent: running it again returns the same campaign (its window moved so it runs at ``now``)."""
    existing = (
        Campaign.objects.filter(brand=brand, kind=CampaignKind.GROUP_BUY, title=DEMO_TITLE)
        .order_by("id")
        .first()
    )
    if existing is not None:
        ends_at = max(existing.ends_at, now + RUNS_FOR)
        return group_buy_system.keep_running_as_system(
            existing,
            starts_by=now - timedelta(hours=1),
            ends_after=now + RUNS_FOR,
            pickup_until=ends_at + PICKUP_AFTER,
            now=now,
        )
    sku = _demo_sku(brand)
    return group_buy_system.create_published_as_system(
        brand,
        sku=sku,
        title=DEMO_TITLE,
        description=DEMO_DESCRIPTION,
        price_fen=_group_price(sku),
        min_size=3,
        max_size=10,
        team_hours=24,
        starts_at=now - timedelta(hours=1),
        ends_at=now + RUNS_FOR,
        pickup_until=now + RUNS_FOR + PICKUP_AFTER,
        now=now,
    )
