"""``siyu bench flash-sale``: many members buy in one flash sale over real HTTP.

The pieces, each run where it belongs (see ``siyu.org.management.commands.bench``):

- ``seed`` (in the benchmark's database): a brand, a store, one SKU, ``buyers`` members and a published
  flash sale of ``stock`` units with a per-member limit; writes each buyer's ticket to a file.
- ``load`` (in the parent process, no database): an asyncio HTTP/1.1 keep-alive client with
  ``concurrency`` connections that sends every buyer's purchase — plus, for every tenth buyer, the same
  request again (a retry: must not buy twice) and a second purchase with a new key (over the limit) — to
  ``POST /h5/flash/<id>/buy/`` and times each answer.
- ``baseline`` (in the database's environment): how fast the underlying store takes reservations in a tight
  single-client loop: the admission Lua script on Redis, the conditional UPDATE on PostgreSQL or SQLite.
- ``audit`` (in the database): waits until the write-behind has written everything, then counts from the
  database: orders, units, oversold, duplicates and limit violations.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

LIMIT = 1
RETRY_EVERY = 10


# --- seed ------------------------------------------------------------------------------------------


def seed(*, buyers: int, stock: int, tickets_path: str) -> dict[str, Any]:
    """Create the benchmark's sale and buyers; write ``[[member_id, ticket], …]`` to ``tickets_path``."""
    from django.db import transaction
    from django.utils import timezone

    from siyu.campaigns.models import Campaign, CampaignKind, CampaignStatus, FlashSaleItem
    from siyu.campaigns.services.flash_admission import open_sale
    from siyu.campaigns.tickets import issue_ticket
    from siyu.catalog.models import Product, Publication, Sku, StoreListing
    from siyu.members.models import Member
    from siyu.org.models import Brand, Store

    now = timezone.now()
    with transaction.atomic():
        brand = Brand.objects.create(code=f"fsb{int(time.time())}", name="Flash bench")
        store = Store.objects.create(brand=brand, code="FS001", name="Flash bench store")
        product = Product.objects.create(brand=brand, name="北欧陶瓷杯", is_hot=True)
        sku = Sku.objects.create(
            product=product, code=f"FSB-{brand.pk}", price_fen=5900, member_price_fen=4900
        )
        Publication.objects.create(product=product, scope=Publication.Scope.ALL)
        StoreListing.objects.create(store=store, sku=sku, stock=0)
        Member.objects.bulk_create(
            [
                Member(brand=brand, home_store=store, name=f"买家{i}", mobile=f"186{i:08d}")
                for i in range(buyers)
            ],
            batch_size=2000,
        )
        campaign = Campaign.objects.create(
            brand=brand,
            kind=CampaignKind.FLASH_SALE,
            title="Bench flash sale",
            status=CampaignStatus.PUBLISHED,
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=2),
            pickup_until=now + timedelta(days=3),
            relay_enabled=False,
            published_at=now,
        )
        campaign.stores.set([store])
        item = FlashSaleItem.objects.create(
            campaign=campaign, sku=sku, price_fen=990, stock=stock, per_member_limit=LIMIT
        )
    open_sale(campaign)
    member_ids = list(Member.objects.filter(brand=brand).order_by("pk").values_list("pk", flat=True))
    with open(tickets_path, "w") as fh:
        json.dump([[pk, issue_ticket(pk, campaign.pk)] for pk in member_ids], fh)
    return {"campaign": campaign.pk, "item": item.pk, "store": store.pk, "stock": stock, "limit": LIMIT}


# --- load ------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    reserved_keys: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def count(self, code: str) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1


def _requests(setup: dict[str, Any], tickets: list[list[Any]], seed_: int) -> list[bytes]:
    path = f"/h5/flash/{setup['campaign']}/buy/"
    out: list[bytes] = []
    for i, (_member_id, ticket) in enumerate(tickets):
        keys = [f"b{i}-1"]
        if i % RETRY_EVERY == 0:
            keys += [f"b{i}-1", f"b{i}-2"]  # a retry of the same purchase, then a second purchase
        for key in keys:
            body = json.dumps(
                {"item": setup["item"], "quantity": 1, "store": setup["store"], "key": key}
            ).encode()
            out.append(
                b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                b"X-Siyu-Ticket: %s\r\nContent-Length: %d\r\n\r\n%s"
                % (path.encode(), ticket.encode(), len(body), body)
            )
    random.Random(seed_).shuffle(out)
    return out


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bool]:
    """Send one request on a keep-alive connection; (status, body, server closes)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _sep, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    body = await reader.readexactly(length) if length else b""
    return int(head[9:12]), body, close


async def _client(
    host: str, port: int, queue: list[bytes], result: LoadResult, warmup: bytes, ready: asyncio.Barrier
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        # Connected and warmed up (a purchase of an unknown item: ticket, config, no stock) before the clock.
        await _exchange(reader, writer, warmup)
        await ready.wait()
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            try:
                status, body, close = await _exchange(reader, writer, request)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                result.count("transport_error")
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            result.latencies.append(time.perf_counter() - started)
            if status == 200:
                result.count("reserved")
                result.reserved_keys.add(json.loads(body)["key"])
            else:
                try:
                    code = str(json.loads(body).get("code", status))
                except ValueError:
                    code = str(status)
                result.count(code)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def load(url: str, setup: dict[str, Any], tickets: list[list[Any]], *, concurrency: int) -> LoadResult:
    """Send every purchase over ``concurrency`` keep-alive connections; return codes and latencies."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError("only http:// URLs can be benchmarked")
    queue = _requests(setup, tickets, seed_=1)
    result = LoadResult()

    warmup = _requests({**setup, "item": 2**62}, tickets[:1], seed_=1)[0]

    async def run() -> None:
        ready = asyncio.Barrier(concurrency + 1)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        clients = [
            asyncio.create_task(_client(host, port, queue, result, warmup, ready)) for _ in range(concurrency)
        ]
        await ready.wait()
        started = time.perf_counter()
        await asyncio.gather(*clients)
        result.seconds = time.perf_counter() - started

    asyncio.run(run())
    return result


def summarise(result: LoadResult) -> dict[str, Any]:
    lat = sorted(result.latencies)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else None

    answered = sum(
        result.codes.get(c, 0) for c in ("reserved", "sold_out", "not_enough_left", "limit_reached")
    )
    attempts = sum(result.codes.values())
    return {
        "attempts": attempts,
        "answered": answered,
        "client_reserved": result.codes.get("reserved", 0),
        "sold_out": result.codes.get("sold_out", 0) + result.codes.get("not_enough_left", 0),
        "limit_refused": result.codes.get("limit_reached", 0),
        "errors": attempts - answered,
        "error_codes": {
            k: v
            for k, v in result.codes.items()
            if k not in ("reserved", "sold_out", "not_enough_left", "limit_reached")
        },
        "seconds": round(result.seconds, 2),
        "attempts_per_s": round(answered / result.seconds, 1) if result.seconds else None,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


# --- baseline --------------------------------------------------------------------------------------


def baseline(*, seconds: float = 2.0) -> dict[str, Any]:
    """Raw single-client rate of the store admission rests on, measured on a scratch counter."""
    from siyu.campaigns.services import flash_admission

    return flash_admission.baseline_rate(seconds=seconds)


# --- audit -----------------------------------------------------------------------------------------


def audit(campaign_id: int, reserved_keys: list[str], *, wait_seconds: float = 60.0) -> dict[str, Any]:
    """Wait for the write-behind to finish, then count from the database. ``lost``: purchases the client
    was told were reserved that have no reservation in the database (must be 0)."""
    from django.db.models import Count, Sum

    from siyu.campaigns.models import FlashReservation, FlashSaleItem
    from siyu.campaigns.services import flash_writer
    from siyu.orders.models import Order

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
