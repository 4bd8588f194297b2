"""The database steps of ``siyu bench flash-sale``, each run as ``siyu bench flash-sale --inner --step …``
inside the benchmark's environment (see ``flash_sale_run``):

- ``seed``: a brand, a store, one SKU, ``buyers`` members and a published flash sale of ``stock`` units with
  a per-member limit, all written through the owning apps' services; writes each buyer's ticket to a file.
- ``baseline``: how fast the underlying store takes reservations in a tight single-client loop: the
  admission Lua script on Redis, the conditional UPDATE on PostgreSQL or SQLite.
- ``audit``: only reads. Waits (at most ``--audit-timeout`` seconds) until every purchase the clients were
  told was reserved has its reservation in the database and nothing waits in the sale's stream — the
  server's own write-behind must do that; the audit never writes anything itself — then counts from the
  database: orders, units, oversold, duplicates, limit violations, and ``unwritten`` (admitted, no
  reservation in the database) of which ``lost`` (not even waiting in Redis any more).

Every run makes its own brand, store code and buyers' mobile numbers (a run id), so runs can follow each
other against one running server and database (``--url``).
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from siyu.campaigns.models import FlashReservation, FlashSaleItem
from siyu.campaigns.services import flash_admission, flash_config, flash_sales, flash_writer
from siyu.campaigns.services.recharge_slots import setup as recharge_slots
from siyu.campaigns.tickets import issue_ticket
from siyu.catalog.models import Product, Sku, StoreListing
from siyu.catalog.services import bulk as catalog_bulk
from siyu.common.errors import ValidationFailed
from siyu.members.models import Member
from siyu.members.services import bulk as members_bulk
from siyu.orders.models import Order
from siyu.org.models import Store
from siyu.org.services import bulk as org_bulk

LIMIT = 1
SLOT_DEPOSIT_FEN = 1100  # siyu bench slots: ¥11 deposits
MAX_BUYERS = 100_000  # five digits of the mobile number count the buyers
MOBILE_HEAD = "186"


def _run_block() -> int:
    """A three-digit block of mobile numbers (``186 <block> <5 digits>``) no member has yet: this run's."""
    for _attempt in range(50):
        block = secrets.randbelow(1000)
        if not Member.objects.filter(mobile__startswith=f"{MOBILE_HEAD}{block:03d}").exists():
            return block
    raise ValidationFailed("No free block of benchmark mobile numbers is left in this database.")


def seed(*, buyers: int, stock: int, tickets_path: str, slots: bool = False) -> dict[str, Any]:
    """Create the benchmark's sale and buyers; write ``[[member_id, ticket], …]`` to ``tickets_path``.
    The brand, the store code and the buyers' mobile numbers are this run's own (``run``). With ``slots``
    (``siyu bench slots``) the sale sells ¥11 recharge-slot deposits: its single item is a deposit SKU and
    the campaign gets its slot settings (``recharge_slots.setup.attach_as_system``)."""
    if buyers > MAX_BUYERS:
        raise ValidationFailed(f"At most {MAX_BUYERS} buyers per run.", field="buyers")
    now = timezone.now()
    block = _run_block()
    run = f"{block:03d}{secrets.token_hex(3)}"
    with transaction.atomic():
        brand = org_bulk.create_brand(f"fsb-{run}", "Flash bench")
        [store] = org_bulk.bulk_create_stores(brand, [Store(code=f"FS-{run}", name="Flash bench store")])
        if slots:
            product = Product(name="充值名额 ¥11")
            skus = [Sku(code=f"SLOT-{brand.pk}", price_fen=SLOT_DEPOSIT_FEN)]
        else:
            product = Product(name="北欧陶瓷杯", is_hot=True)
            skus = [Sku(code=f"FSB-{brand.pk}", price_fen=5900, member_price_fen=4900)]
        [sku] = catalog_bulk.add_products(brand, [(product, skus)])
        catalog_bulk.publish_to_all_stores([product])
        catalog_bulk.open_listings([StoreListing(store=store, sku=sku, stock=0)])
        members_bulk.bulk_add_members(
            brand,
            [
                Member(home_store=store, name=f"买家{i}", mobile=f"{MOBILE_HEAD}{block:03d}{i:05d}")
                for i in range(buyers)
            ],
        )
        campaign = flash_sales.create_as_system(
            brand.pk,
            {
                "title": "Bench recharge slots" if slots else "Bench flash sale",
                "starts_at": now - timedelta(minutes=1),
                "ends_at": now + timedelta(hours=2),
                "pickup_until": now + timedelta(days=3),
                "store_ids": [store.pk],
                "community_ids": [],
                "relay_enabled": False,
                "items": [
                    {
                        "sku_id": sku.pk,
                        "price_fen": SLOT_DEPOSIT_FEN if slots else 990,
                        "stock": stock,
                        "per_member_limit": LIMIT,
                    }
                ],
            },
            now=now,
        )
        if slots:
            recharge_slots.attach_as_system(
                campaign, threshold_fen=300_000, gift_text="空气净化器", unused_policy="refund"
            )
    campaign = flash_sales.publish_as_system(campaign, now=now)  # opens admission (loads Redis counters)
    item = FlashSaleItem.objects.get(campaign=campaign)
    member_ids = list(Member.objects.filter(brand=brand).order_by("pk").values_list("pk", flat=True))
    with open(tickets_path, "w") as fh:
        json.dump([[pk, issue_ticket(pk, campaign.pk)] for pk in member_ids], fh)
    return {
        "run": run,
        "campaign": campaign.pk,
        "item": item.pk,
        "store": store.pk,
        "stock": stock,
        "limit": LIMIT,
    }


def baseline(*, seconds: float = 2.0) -> dict[str, Any]:
    """Raw single-client rate of the store admission rests on, measured on a scratch counter."""
    return flash_admission.baseline_rate(seconds=seconds)


def _waiting_in_stream(campaign_id: int) -> set[str]:
    """Client keys of the sale's admitted purchases still waiting in its Redis stream (read only)."""
    if not flash_config.redis_url():
        return set()
    return {entry.key for entry in flash_writer.pending_entries(campaign_id)}


def audit(campaign_id: int, reserved_keys: list[str], *, wait_seconds: float = 60.0) -> dict[str, Any]:
    """Count from the database, reading only. First waits, up to ``wait_seconds``, for the server's
    write-behind: until every purchase in ``reserved_keys`` (those the clients were told were reserved)
    has its reservation and nothing of the sale waits in Redis. ``unwritten``: reserved purchases without a
    reservation when the audit stopped waiting; ``lost``: those of them not waiting in Redis either (no
    writer will ever write them). Both must be 0; ``reconciled`` is False otherwise."""
    reserved = set(reserved_keys)
    deadline = time.monotonic() + wait_seconds
    waited = time.monotonic()
    while True:
        written_keys = set(
            FlashReservation.objects.filter(campaign_id=campaign_id).values_list("client_key", flat=True)
        )
        waiting = _waiting_in_stream(campaign_id)
        unwritten = reserved - written_keys
        if (not unwritten and not waiting) or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    waited = time.monotonic() - waited
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
    reconcile = flash_writer.reconcile(campaign_id)
    return {
        "orders": orders.count(),
        "unwritten": len(unwritten),
        "lost": len(unwritten - waiting),
        "waiting_in_redis": len(waiting),
        "audit_waited_s": round(waited, 2),
        "units_sold": units,
        "stock": stock,
        "oversold": max(0, units - stock),
        "duplicates": duplicate_keys + orphans,
        "limit_violations": limit_violations,
        "sold_counter": sum(i.sold for i in items),
        "reconciled": bool(reconcile["ok"]) and not unwritten and not waiting,
        "reconcile": reconcile,
    }
