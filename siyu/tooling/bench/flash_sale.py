"""The database steps of ``siyu bench flash-sale``, each run as ``siyu bench flash-sale --inner --step …``
inside the benchmark's environment (see ``flash_sale_run``):

- ``seed``: a brand, a store, one SKU, ``buyers`` members and a published flash sale of ``stock`` units with
  a per-member limit, all written through the owning apps' services; writes each buyer's ticket to a file.
- ``baseline``: how fast the underlying store takes reservations in a tight single-client loop: the
  admission Lua script on Redis, the conditional UPDATE on PostgreSQL or SQLite.
- ``audit``: waits until the write-behind has written everything, then counts from the database: orders,
  units, oversold, duplicates and limit violations.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from siyu.campaigns.models import FlashReservation, FlashSaleItem
from siyu.campaigns.services import flash_admission, flash_sales, flash_writer
from siyu.campaigns.tickets import issue_ticket
from siyu.catalog.models import Product, Sku, StoreListing
from siyu.catalog.services import bulk as catalog_bulk
from siyu.members.models import Member
from siyu.members.services import bulk as members_bulk
from siyu.orders.models import Order
from siyu.org.models import Store
from siyu.org.services import bulk as org_bulk

LIMIT = 1


def seed(*, buyers: int, stock: int, tickets_path: str) -> dict[str, Any]:
    """Create the benchmark's sale and buyers; write ``[[member_id, ticket], …]`` to ``tickets_path``."""
    now = timezone.now()
    with transaction.atomic():
        brand = org_bulk.create_brand(f"fsb{int(time.time())}", "Flash bench")
        [store] = org_bulk.bulk_create_stores(brand, [Store(code="FS001", name="Flash bench store")])
        product = Product(name="北欧陶瓷杯", is_hot=True)
        [sku] = catalog_bulk.add_products(
            brand, [(product, [Sku(code=f"FSB-{brand.pk}", price_fen=5900, member_price_fen=4900)])]
        )
        catalog_bulk.publish_to_all_stores([product])
        catalog_bulk.open_listings([StoreListing(store=store, sku=sku, stock=0)])
        members_bulk.bulk_add_members(
            brand,
            [Member(home_store=store, name=f"买家{i}", mobile=f"186{i:08d}") for i in range(buyers)],
        )
        campaign = flash_sales.create_as_system(
            brand.pk,
            {
                "title": "Bench flash sale",
                "starts_at": now - timedelta(minutes=1),
                "ends_at": now + timedelta(hours=2),
                "pickup_until": now + timedelta(days=3),
                "store_ids": [store.pk],
                "community_ids": [],
                "relay_enabled": False,
                "items": [{"sku_id": sku.pk, "price_fen": 990, "stock": stock, "per_member_limit": LIMIT}],
            },
            now=now,
        )
    campaign = flash_sales.publish_as_system(campaign, now=now)  # opens admission (loads Redis counters)
    item = FlashSaleItem.objects.get(campaign=campaign)
    member_ids = list(Member.objects.filter(brand=brand).order_by("pk").values_list("pk", flat=True))
    with open(tickets_path, "w") as fh:
        json.dump([[pk, issue_ticket(pk, campaign.pk)] for pk in member_ids], fh)
    return {"campaign": campaign.pk, "item": item.pk, "store": store.pk, "stock": stock, "limit": LIMIT}


def baseline(*, seconds: float = 2.0) -> dict[str, Any]:
    """Raw single-client rate of the store admission rests on, measured on a scratch counter."""
    return flash_admission.baseline_rate(seconds=seconds)


def audit(campaign_id: int, reserved_keys: list[str], *, wait_seconds: float = 60.0) -> dict[str, Any]:
    """Wait for the write-behind to finish, then count from the database. ``lost``: purchases the client
    was told were reserved that have no reservation in the database (must be 0)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        written = flash_writer.drain_all() + flash_writer.recover(idle_ms=0)
        pending = sum(
            row.get("pending_in_stream", 0) or 0 for row in flash_writer.reconcile(campaign_id)["items"]
        )
        if (not written and not pending) or time.monotonic() > deadline:
            break
    items = list(FlashSaleItem.objects.filter(campaign_id=campaign_id))
    stock = sum(i.stock for i in items)
    reservations = FlashReservation.objects.filter(campaign_id=campaign_id)
    units = reservations.aggregate(n=Sum("quantity"))["n"] or 0
    orders = Order.objects.filter(campaign_id=campaign_id, source="flash_sale")
    per_member = reservations.values("item_id", "member_id").annotate(units=Sum("quantity")).order_by()
    limits = {i.pk: i.per_member_limit for i in items}
    limit_violations = sum(1 for row in per_member if row["units"] > limits[row["item_id"]])
    duplicate_keys = (
        orders.values("member_id", "idempotency_key").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    orphans = orders.filter(flash_reservation__isnull=True).count()
    written_keys = set(reservations.values_list("client_key", flat=True))
    return {
        "orders": orders.count(),
        "lost": len(set(reserved_keys) - written_keys),
        "units_sold": units,
        "stock": stock,
        "oversold": max(0, units - stock),
        "duplicates": duplicate_keys + orphans,
        "limit_violations": limit_violations,
        "sold_counter": sum(i.sold for i in items),
        "reconcile": flash_writer.reconcile(campaign_id),
    }
