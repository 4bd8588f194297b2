"""Writing flash-sale reservations to the database: the one writer both admission backends use, the
write-behind drain of the Redis stream, recovery of entries a dead writer left behind, and the audit.

``write_entries`` is the only code that turns admitted reservations into rows: ``FlashReservation``, the
per-member ``FlashQuota`` and the item's ``sold`` counter, and the orders — made by orders' batch
constructor (``siyu.orders.services.create.create_order_records``: order, line, pickup code, events) —
all in one transaction. The counters change by
conditional statements (``sold + n <= stock``; quota upsert ``taken + n <= limit``), so the database never
holds more than the sale's stock even if the Redis counters were wrong. Replaying an entry writes nothing
twice: reservations are unique by (campaign, member, client key) and by stream id, orders by
(member, idempotency key).

On the Redis backend ``drain`` reads new stream entries with XREADGROUP, writes a batch in one
transaction, then XACKs and deletes them (the stream only holds what is not written yet). A writer that dies
between reading and acknowledging leaves its entries pending; ``recover`` claims entries idle longer than
``idle_ms`` (XAUTOCLAIM) and writes them. ``drain_all`` (periodic job ``flash-writer``, every second)
recovers and drains.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Any

from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from siyu.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    FlashQuota,
    FlashReservation,
    FlashSaleItem,
)
from siyu.campaigns.services import flash_config as fc
from siyu.catalog.models import StoreListing
from siyu.common.idempotency import system_key
from siyu.orders.models import OrderSource, OrderStatus
from siyu.orders.services.create import LineRequest, OrderRequest, create_order_records

logger = logging.getLogger("siyu.campaigns.flash")

BATCH = 500
MAX_ROUNDS = 20  # drain_all writes at most MAX_ROUNDS batches per stream and run
RECOVER_IDLE_MS = 30_000
_QUOTA_CHUNK = 300


@dataclass(frozen=True)
class Entry:
    """One admitted reservation, from the Redis stream (``stream_id`` set) or inline (database backend)."""

    campaign_id: int
    item_id: int
    member_id: int
    store_id: int
    quantity: int
    key: str
    admitted_at: datetime
    stream_id: str | None = None  # "<campaign id>/<stream entry id>"


@dataclass(frozen=True)
class Written:
    """An entry's reservation in the database: written now (``created``) or found from an earlier write."""

    entry: Entry
    reservation_id: int
    item_id: int
    quantity: int
    order_id: int | None
    created: bool
    store_id: int | None = None  # the reservation's pickup store (None: the entry's)

    @property
    def same_request(self) -> bool:
        """Whether the reservation found is what the entry asked for (same item, quantity and store)."""
        store = self.entry.store_id if self.store_id is None else self.store_id
        return (self.item_id, self.quantity, store) == (
            self.entry.item_id,
            self.entry.quantity,
            self.entry.store_id,
        )


class GuardFailed(Exception):
    """A database counter refused the entry: ``reason`` "stock" (``left`` units left) or "limit"."""

    def __init__(self, item_id: int, reason: str, left: int) -> None:
        super().__init__(f"item {item_id}: {reason} (left {left})")
        self.item_id = item_id
        self.reason = reason
        self.left = left


def order_key(campaign_id: int, key: str) -> str:
    """The order's idempotency key for a reservation's client key: a system key (``sys:``, which no
    client can send) of the sale and a digest of the client's key."""
    return system_key("flash", campaign_id, sha256(key.encode()).hexdigest()[:40])


def stream_ref(campaign_id: int, entry_id: str) -> str:
    """``FlashReservation.stream_id`` of a stream entry (stream ids are per sale, the column is global)."""
    return f"{campaign_id}/{entry_id}"


# --- the one writer ---------------------------------------------------------------------------------


def _upsert_quotas(rows: list[tuple[int, int, int]]) -> None:
    """Add (item, member, n) to the members' quotas; GuardFailed if any would pass its item's limit."""
    qn = connection.ops.quote_name
    quota, item = qn(FlashQuota._meta.db_table), qn(FlashSaleItem._meta.db_table)
    for start in range(0, len(rows), _QUOTA_CHUNK):
        chunk = rows[start : start + _QUOTA_CHUNK]
        values = ", ".join(["(%s, %s, %s)"] * len(chunk))
        sql = (
            f"INSERT INTO {quota} (item_id, member_id, taken) VALUES {values} "  # noqa: S608 (table names)
            f"ON CONFLICT (item_id, member_id) DO UPDATE SET taken = {quota}.taken + excluded.taken "
            f"WHERE {quota}.taken + excluded.taken <= "
            f"(SELECT per_member_limit FROM {item} WHERE {item}.id = excluded.item_id)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [v for row in chunk for v in row])
            if cursor.rowcount != len(chunk):
                raise GuardFailed(chunk[0][0], "limit", -1)


def _listings(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """(store, sku) -> listing id, creating missing listings unlisted with no stock of their own."""

    def fetch() -> dict[tuple[int, int], int]:
        rows = StoreListing.objects.filter(
            store_id__in={s for s, _ in pairs}, sku_id__in={k for _, k in pairs}
        ).values_list("pk", "store_id", "sku_id")
        return {(s, k): pk for pk, s, k in rows if (s, k) in pairs}

    found = fetch()
    missing = pairs - found.keys()
    if missing:
        StoreListing.objects.bulk_create(
            [StoreListing(store_id=s, sku_id=k, listed=False, stock=0) for s, k in sorted(missing)],
            ignore_conflicts=True,
        )
        found = fetch()
    return found


def write_entries(entries: Sequence[Entry]) -> list[Written]:
    """Write admitted reservations of ONE campaign, all or nothing, and answer each entry's reservation.

    Entries already written (same stream id, or same member and client key) are answered from the
    database and write nothing. For the others, in one transaction: ``sold += n`` per item guarded by
    ``sold + n <= stock`` and the quotas guarded by the per-member limit (GuardFailed, nothing written, when
    one refuses), then orders (pending payment; pay-at-pickup ones with their pickup code), order lines,
    reservations and ``order.created`` events. An IntegrityError means a concurrent writer wrote some of
    them first: retry, they are then answered as already written."""
    if not entries:
        return []
    cid = entries[0].campaign_id
    if any(e.campaign_id != cid for e in entries):
        raise ValueError("write_entries takes the entries of one campaign")
    with transaction.atomic():
        campaign = Campaign.objects.only("id", "brand_id", "pickup_until").get(pk=cid)
        stream_ids = [e.stream_id for e in entries if e.stream_id]
        rows = (
            FlashReservation.objects.filter(campaign_id=cid)
            .filter(Q(client_key__in={e.key for e in entries}) | Q(stream_id__in=stream_ids))
            .values_list(
                "pk", "member_id", "client_key", "stream_id", "item_id", "quantity", "order_id", "store_id"
            )
        )
        by_key: dict[tuple[int, str], tuple[int, int, int, int | None, int]] = {}
        by_stream: dict[str, tuple[int, int, int, int | None, int]] = {}
        for pk, member_id, client_key, sid, item_id, qty, order_id, store_id in rows:
            by_key[(member_id, client_key)] = (pk, item_id, qty, order_id, store_id)
            if sid:
                by_stream[sid] = by_key[(member_id, client_key)]
        done: list[Written] = []
        fresh: list[Entry] = []
        twins: list[Entry] = []
        seen: set[tuple[int, str]] = set()
        for e in entries:
            hit = (by_stream.get(e.stream_id) if e.stream_id else None) or by_key.get((e.member_id, e.key))
            if hit is not None:
                done.append(Written(e, hit[0], hit[1], hit[2], hit[3], created=False, store_id=hit[4]))
            elif (e.member_id, e.key) in seen:
                twins.append(e)  # same key twice in one batch (should not happen): answered by the first
            else:
                seen.add((e.member_id, e.key))
                fresh.append(e)
        if not fresh:
            return done
        items = {
            row.pk: row
            for row in FlashSaleItem.objects.filter(
                campaign_id=cid, pk__in={e.item_id for e in fresh}
            ).select_related("sku__product")
        }
        if {e.item_id for e in fresh} - items.keys():
            raise ValueError(f"entries of campaign {cid} name items it does not have")

        # The sale's counters: one conditional UPDATE per item, then the quotas, in id order (no deadlock).
        per_item: Counter[int] = Counter()
        per_pair: Counter[tuple[int, int]] = Counter()
        for e in fresh:
            per_item[e.item_id] += e.quantity
            per_pair[(e.item_id, e.member_id)] += e.quantity
        for item_id in sorted(per_item):
            n = per_item[item_id]
            if not FlashSaleItem.objects.filter(pk=item_id, sold__lte=F("stock") - n).update(
                sold=F("sold") + n
            ):
                stock, sold = FlashSaleItem.objects.filter(pk=item_id).values_list("stock", "sold").get()
                raise GuardFailed(item_id, "stock", stock - sold)
        for (item_id, _member_id), n in per_pair.items():
            if n > items[item_id].per_member_limit:
                raise GuardFailed(item_id, "limit", -1)
        _upsert_quotas([(i, m, n) for (i, m), n in sorted(per_pair.items())])

        listings = _listings({(e.store_id, items[e.item_id].sku_id) for e in fresh})
        orders = create_order_records(
            [
                OrderRequest(
                    member_id=e.member_id,
                    brand_id=campaign.brand_id,
                    store_id=e.store_id,
                    lines=[
                        LineRequest(
                            listing_id=listings[(e.store_id, items[e.item_id].sku_id)],
                            sku=items[e.item_id].sku,
                            quantity=e.quantity,
                            unit_price_fen=items[e.item_id].price_fen,
                        )
                    ],
                    pickup_window=(e.admitted_at, campaign.pickup_until),
                    idempotency_key=order_key(cid, e.key),
                    source=OrderSource.FLASH_SALE,
                    campaign_id=cid,
                    placed_at=e.admitted_at,
                    holds_listing_stock=False,  # the units are the sale's (FlashSaleItem.sold above)
                    event_extra={"campaign_id": cid, "item_id": e.item_id, "quantity": e.quantity},
                )
                for e in fresh
            ]
        )
        reservations = [
            FlashReservation(
                campaign_id=cid,
                item_id=e.item_id,
                member_id=e.member_id,
                store_id=e.store_id,
                quantity=e.quantity,
                client_key=e.key,
                stream_id=e.stream_id,
                order=order,
                admitted_at=e.admitted_at,
            )
            for e, order in zip(fresh, orders, strict=True)
        ]
        FlashReservation.objects.bulk_create(reservations)
        written = {
            (e.member_id, e.key): Written(e, res.pk, e.item_id, e.quantity, order.pk, created=True)
            for e, res, order in zip(fresh, reservations, orders, strict=True)
        }
        for e in twins:
            first = written[(e.member_id, e.key)]
            logger.error("flash sale %s: key %r of member %s admitted twice", cid, e.key, e.member_id)
            done.append(
                Written(e, first.reservation_id, first.item_id, first.quantity, first.order_id, False)
            )
    return done + list(written.values())


# --- the Redis write-behind -------------------------------------------------------------------------


def _consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def parse_entry(campaign_id: int, entry_id: str, fields: dict[str, str] | None) -> Entry | None:
    """The Entry a stream entry describes, or None when it is unreadable."""
    if not fields:
        return None
    try:
        entry = Entry(
            campaign_id=int(fields["campaign"]),
            item_id=int(fields["item"]),
            member_id=int(fields["member"]),
            store_id=int(fields["store"]),
            quantity=int(fields["qty"]),
            key=fields["key"],
            admitted_at=datetime.fromisoformat(fields["admitted_at"]),
            stream_id=stream_ref(campaign_id, entry_id),
        )
    except (KeyError, ValueError, TypeError):
        return None
    if entry.campaign_id != campaign_id or entry.quantity <= 0 or timezone.is_naive(entry.admitted_at):
        return None
    return entry


def ensure_group(client: Any, keys: fc.Keys) -> None:
    """Create the writers' consumer group on the sale's stream (and the stream) unless it exists."""
    import redis

    try:
        client.xgroup_create(keys.stream, fc.GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _sales(client: Any) -> list[int]:
    """The Redis-backed sales that may have entries to write: the registered ones (``<prefix>:sales``)
    and, should that set be lost, those that ended less than a day ago."""
    registered = {int(v) for v in client.smembers(fc.sales_key()) if str(v).isdigit()}
    recent = Campaign.objects.filter(
        kind=CampaignKind.FLASH_SALE,
        admission_backend="redis",
        ends_at__gte=timezone.now() - timedelta(days=1),
    ).exclude(status=CampaignStatus.DRAFT)
    return sorted(registered | set(recent.values_list("pk", flat=True)))


def _write_with_retry(entries: list[Entry]) -> list[Written]:
    for attempt in range(3):
        try:
            return write_entries(entries)
        except (IntegrityError, OperationalError):
            # IntegrityError: a concurrent writer (a recovery racing a slow drain) wrote some of them first;
            # OperationalError: a deadlock or serialization failure — both pass on a second try.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _write(campaign_id: int, entries: list[Entry]) -> tuple[list[Written], list[Entry], list[Entry]]:
    """Write a batch; on failure entry by entry. Answers (written, rejected by a guard, failed)."""
    try:
        return _write_with_retry(entries), [], []
    except (OperationalError, InterfaceError):
        # The database is unavailable: everything stays pending for the next run or for recover().
        logger.warning("flash sale %s: database unavailable, %s entries wait", campaign_id, len(entries))
        return [], [], list(entries)
    except Exception:
        logger.warning("flash sale %s: batch of %s failed, writing one by one", campaign_id, len(entries))
    written: list[Written] = []
    rejected: list[Entry] = []
    failed: list[Entry] = []
    for e in entries:
        try:
            written += _write_with_retry([e])
        except GuardFailed as exc:
            # Redis admitted what the database refuses: its counters were wrong (reconcile, rebuild).
            logger.error("flash sale %s: entry %s refused by the database: %s", campaign_id, e.stream_id, exc)
            rejected.append(e)
        except Exception:
            logger.exception("flash sale %s: entry %s could not be written", campaign_id, e.stream_id)
            failed.append(e)
    return written, rejected, failed


def _process(client: Any, campaign_id: int, messages: Iterable[Any]) -> int:
    """Write stream messages of one sale; acknowledge and delete what is settled. Returns rows written."""
    keys = fc.Keys(campaign_id)
    entries: list[Entry] = []
    settled: list[str] = []
    for entry_id, fields in messages:
        entry = parse_entry(campaign_id, entry_id, fields)
        if entry is None:
            if fields:
                logger.error("flash sale %s: unreadable stream entry %s: %r", campaign_id, entry_id, fields)
            settled.append(entry_id)
        else:
            entries.append(entry)
    written, rejected, _failed = _write(campaign_id, entries) if entries else ([], [], [])
    prefix = f"{campaign_id}/"
    settled += [w.entry.stream_id[len(prefix) :] for w in written if w.entry.stream_id]
    settled += [e.stream_id[len(prefix) :] for e in rejected if e.stream_id]
    if settled:
        pipe = client.pipeline(transaction=False)
        pipe.xack(keys.stream, fc.GROUP, *settled)
        pipe.xdel(keys.stream, *settled)
        known = {
            "o:" + fc.idem_field(w.entry.member_id, w.entry.key): str(w.order_id)
            for w in written
            if w.order_id
        }
        if known:
            pipe.hset(keys.idem, mapping=known)
        pipe.execute()
    return sum(1 for w in written if w.created)


def _drain(batch: int, consumer: str, block_ms: int) -> tuple[int, int]:
    import redis

    client = fc.redis_client()
    sales = _sales(client)
    read = wrote = 0
    for cid in sales:
        keys = fc.Keys(cid)
        block = block_ms if block_ms > 0 and len(sales) == 1 else None
        try:
            response = client.xreadgroup(fc.GROUP, consumer, {keys.stream: ">"}, count=batch, block=block)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            if not client.exists(keys.stream):
                client.srem(fc.sales_key(), cid)  # the sale's keys expired: nothing left to write
                continue
            ensure_group(client, keys)
            continue
        messages = response[0][1] if response else []
        read += len(messages)
        wrote += _process(client, cid, messages)
    return read, wrote


def drain(*, batch: int = BATCH, consumer: str | None = None, block_ms: int = 0) -> int:
    """Read up to ``batch`` new admitted reservations of every Redis-backed sale (XREADGROUP as
    ``consumer``; block up to ``block_ms`` when there is one sale and nothing new), write them in one
    transaction per sale and acknowledge them. Entries whose write fails stay pending for ``recover``.
    Returns how many reservations were written. Nothing to do without REDIS_URL."""
    if not fc.redis_url():
        return 0
    return _drain(batch, consumer or _consumer(), block_ms)[1]


def recover(*, idle_ms: int = RECOVER_IDLE_MS, batch: int = BATCH, consumer: str | None = None) -> int:
    """Claim the entries a writer read but did not acknowledge for ``idle_ms`` (it died, or its write
    failed) with XAUTOCLAIM and write them; returns how many reservations were written. Entries already
    written by that writer are recognised (unique stream id) and only acknowledged."""
    if not fc.redis_url():
        return 0
    client = fc.redis_client()
    consumer = consumer or _consumer()
    wrote = 0
    for cid in _sales(client):
        keys = fc.Keys(cid)
        start = "0-0"
        for _round in range(MAX_ROUNDS):
            try:
                response = client.xautoclaim(
                    keys.stream, fc.GROUP, consumer, min_idle_time=idle_ms, start_id=start, count=batch
                )
            except Exception as exc:
                if "NOGROUP" in str(exc):
                    break
                raise
            start, messages = response[0], response[1]
            wrote += _process(client, cid, [(m[0], m[1]) for m in messages if m and m[1]])
            if start in ("0-0", "0"):
                break
    return wrote


def drain_all(now: datetime | None = None) -> int:
    """Periodic job ``flash-writer``: recover entries idle for 30 s, then write admitted reservations in
    batches until the streams are empty (at most MAX_ROUNDS batches). Returns reservations written.
    Safe to run concurrently (the consumer group hands each entry to one writer; replays write nothing)."""
    if not fc.redis_url():
        return 0
    wrote = recover()
    consumer = _consumer()
    for _round in range(MAX_ROUNDS):
        read, n = _drain(BATCH, consumer, 0)
        wrote += n
        if read == 0:
            break
    return wrote


# --- audit ------------------------------------------------------------------------------------------


def pending_entries(campaign_id: int) -> list[Entry]:
    """The sale's stream entries not written to the database yet (Redis backend)."""
    client = fc.redis_client()
    keys = fc.Keys(campaign_id)
    entries = [
        e
        for e in (parse_entry(campaign_id, eid, fields) for eid, fields in client.xrange(keys.stream))
        if e is not None
    ]
    if not entries:
        return []
    written = set(
        FlashReservation.objects.filter(stream_id__in=[e.stream_id for e in entries]).values_list(
            "stream_id", flat=True
        )
    )
    return [e for e in entries if e.stream_id not in written]


def reconcile(campaign_id: int) -> dict[str, Any]:
    """Audit one flash sale's counters; ``ok`` is True when they all agree.

    ``items`` has one row per item: ``item_id``, ``stock``, ``sold_db`` (item.sold), ``active_units``
    (units of active reservations), ``quota_units`` (sum of member quotas), ``pending_in_stream`` (admitted
    in Redis, not written yet), ``redis_left`` (Redis backend, else None) and ``ok``: sold_db ==
    active_units == quota_units within [0, stock] and, on Redis, stock == redis_left + active_units +
    pending_in_stream. Also ``stale_active`` (active reservations whose order was cancelled, expired or
    refunded) and ``missing_orders``. Counters of a sale under way may differ for a moment (a write or a
    release between the reads); run it again when the sale is quiet."""
    campaign = Campaign.objects.get(pk=campaign_id)
    redis_backed = campaign.admission_backend == "redis" and bool(fc.redis_url())
    items = list(FlashSaleItem.objects.filter(campaign_id=campaign_id).order_by("pk"))
    left: dict[int, int | None] = {}
    stream: list[Entry] = []
    if redis_backed:
        keys = fc.Keys(campaign_id)
        pipe = fc.redis_client().pipeline(transaction=True)
        for item in items:
            pipe.get(keys.left(item.pk))  # GETs, not MGET: a Redis Cluster pipeline refuses MGET
        pipe.xrange(keys.stream)
        *values, raw = pipe.execute()
        left = {item.pk: (int(v) if v is not None else None) for item, v in zip(items, values, strict=False)}
        stream = [e for e in (parse_entry(campaign_id, i, f) for i, f in raw) if e is not None]
    # One read of the reservations: active units and written stream ids from the same snapshot.
    active: dict[int, int] = defaultdict(int)
    written: set[str] = set()
    rows = FlashReservation.objects.filter(campaign_id=campaign_id).values_list(
        "item_id", "quantity", "status", "stream_id"
    )
    for item_id, qty, status, sid in rows.iterator():
        if status == FlashReservation.Status.ACTIVE:
            active[item_id] += qty
        if sid:
            written.add(sid)
    pending: dict[int, int] = defaultdict(int)
    for e in stream:
        if e.stream_id not in written:
            pending[e.item_id] += e.quantity
    quotas = dict(
        FlashQuota.objects.filter(item__campaign_id=campaign_id)
        .order_by()
        .values_list("item_id")
        .annotate(n=Sum("taken"))
    )
    report: list[dict[str, Any]] = []
    for item in items:
        row: dict[str, Any] = {
            "item_id": item.pk,
            "stock": item.stock,
            "sold_db": item.sold,
            "active_units": active.get(item.pk, 0),
            "quota_units": int(quotas.get(item.pk) or 0),
            "pending_in_stream": pending.get(item.pk, 0),
            "redis_left": left.get(item.pk),
        }
        ok = row["sold_db"] == row["active_units"] == row["quota_units"] and 0 <= item.sold <= item.stock
        if redis_backed:
            accounted = (row["redis_left"] or 0) + row["active_units"] + row["pending_in_stream"]
            ok = ok and row["redis_left"] is not None and accounted == item.stock
        row["ok"] = ok
        report.append(row)
    ended = (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REFUNDED)
    live = FlashReservation.objects.filter(campaign_id=campaign_id, status=FlashReservation.Status.ACTIVE)
    stale = live.filter(order__status__in=ended).count()
    missing = live.filter(order__isnull=True).count()
    return {
        "campaign_id": campaign_id,
        "backend": campaign.admission_backend or "",
        "items": report,
        "stale_active": stale,
        "missing_orders": missing,
        "ok": all(r["ok"] for r in report) and stale == 0 and missing == 0,
    }
