"""Flash-sale (秒杀) admission: deciding, under any load, who gets the sale's units — never more than stock.

Two backends, fixed per sale when it is published (``open_sale``):

- **redis** (``settings.REDIS_URL`` set): one Lua script decides atomically in Redis — idempotency lookup,
  units left, the member's limit — takes the units and appends the reservation to the sale's stream. The
  purchase request touches no database (sale configuration and member checks are cached per process, see
  ``flash_config``); the writer (``flash_writer.drain_all``, every second) turns stream entries into
  reservations and orders.
- **database**: the request writes the reservation and its order itself, in one transaction guarded by
  conditional updates (``sold + q <= stock``; the quota upsert ``taken + q <= limit``).

Either way the same (campaign, member, key) answers the same reservation, a refused request changes
nothing, and ``flash_release.release_for_order`` gives units back exactly once.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.campaigns.models import Campaign, CampaignKind, CampaignStatus, FlashReservation, FlashSaleItem
from siyu.campaigns.services import flash_config as fc
from siyu.campaigns.services import flash_writer
from siyu.common.errors import ChannelUnavailable, Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import mismatch
from siyu.common.validators import clean_idempotency_key, optional_id

logger = logging.getLogger("siyu.campaigns.flash")

KEY_TTL_AFTER_PICKUP = timedelta(days=7)
LOCK_MS = 30_000
LOCK_WAIT_SECONDS = 10.0
PLACEHOLDER = "_"  # never a member id, "member:key" field or reservation id


class SaleNotRunning(Conflict):
    """The campaign is not a flash sale that is published and running now."""

    code = "not_running"


class SoldOut(Conflict):
    code = "sold_out"


class NotEnoughLeft(Conflict):
    """Fewer units left than asked for, but not none."""

    code = "not_enough_left"


class LimitReached(Conflict):
    """The member would hold more than the item's per-member limit."""

    code = "limit_reached"


class SaleUnavailable(ChannelUnavailable):
    """The sale's Redis could not be reached (or its counters could not be rebuilt): try again."""

    code = "unavailable"


class VolatileRedis(Conflict):
    """The flash-sale Redis has no append-only file: admitted purchases would be lost if it restarted."""

    code = "redis_not_persistent"


@dataclass(frozen=True)
class Admission:
    key: str
    item_id: int
    quantity: int
    remaining: int
    order_id: int | None
    backend: str  # "redis" | "database"
    store_id: int | None = None  # the pickup store, when known (older Redis entries lack it)


def backend_name() -> str:
    """What admission of a sale published now uses: "redis", else the database ("postgresql"/"sqlite")."""
    if fc.redis_url():
        return "redis"
    return str(connection.vendor)


def _check_same(previous: Admission, item_id: Any, quantity: Any, store_id: int | None) -> Admission:
    """``previous`` when this retry asks for what the key's first request asked; 409 otherwise."""
    same_store = previous.store_id is None or previous.store_id == store_id
    if (previous.item_id, previous.quantity) != (item_id, quantity) or not same_store:
        raise mismatch("key")
    return previous


def _not_running() -> SaleNotRunning:
    return SaleNotRunning(_("This flash sale is not running."), field="campaign")


def _fix_backend(campaign_id: int) -> str:
    """Choose the sale's backend once (an empty ``admission_backend`` is claimed by a conditional UPDATE)."""
    choice = "redis" if fc.redis_url() else "database"
    Campaign.objects.filter(pk=campaign_id, admission_backend="").update(admission_backend=choice)
    fc.invalidate(campaign_id)
    return Campaign.objects.filter(pk=campaign_id).values_list("admission_backend", flat=True).get()


def _client() -> Any:
    if not fc.redis_url():
        raise SaleUnavailable(_("The sale is busy; try again in a moment."))
    return fc.redis_client()


# --- Redis counters: loading and rebuilding ---------------------------------------------------------


def _loaded(client: Any, keys: fc.Keys, item_ids: list[int]) -> bool:
    values = client.mget([keys.ready] + [keys.left(i) for i in item_ids])
    return all(v is not None for v in values)


def rebuild_counters(campaign_id: int, *, force: bool = True) -> bool:
    """(Re)load a Redis-backed sale's counters from the database; True if this call rebuilt them.

    Under a lock (SET NX): the ready flag is removed first, so no admission runs meanwhile; then
    ``left = stock - active units written - units still in the stream``, each member's taken units,
    the idempotency keys (so retries after a rebuild answer the same) and the released reservations are
    written in one MULTI, the flag last. Without ``force`` nothing happens if the counters are complete.
    Safe at any time; a release committed while the rebuild reads can leave its units unsold (never
    oversold): ``flash_writer.reconcile`` shows it and another rebuild fixes it."""
    import redis

    config = fc.load_sale_config(campaign_id)
    if config is None or not config.is_flash_sale:
        return False
    client = _client()
    keys = fc.Keys(campaign_id)
    item_ids = sorted(config.items)
    token = secrets.token_hex(8)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    try:
        while not client.set(keys.lock, token, nx=True, px=LOCK_MS):
            if not force and _loaded(client, keys, item_ids):
                return False
            if time.monotonic() > deadline:
                raise SaleUnavailable(_("The sale is busy; try again in a moment."))
            time.sleep(0.02)
        try:
            if not force and _loaded(client, keys, item_ids):
                return False
            client.delete(keys.ready)
            flash_writer.ensure_group(client, keys)
            _write_counters(client, keys, config)
        finally:
            fc.script("unlock")(keys=[keys.lock], args=[token])
    except redis.RedisError as exc:
        logger.exception("flash sale %s: counters could not be loaded", campaign_id)
        raise SaleUnavailable(_("The sale is busy; try again in a moment.")) from exc
    logger.info("flash sale %s: Redis counters loaded", campaign_id)
    return True


def _write_counters(client: Any, keys: fc.Keys, config: fc.SaleConfig) -> None:
    cid = config.id
    pending = flash_writer.pending_entries(cid)  # read after the flag is gone: no admission adds more
    left = {i: item.stock for i, item in config.items.items()}
    taken: dict[int, dict[int, int]] = {i: {} for i in config.items}
    idem: dict[str, str] = {}
    released: list[str] = []
    rows = FlashReservation.objects.filter(campaign_id=cid).values_list(
        "pk", "item_id", "member_id", "client_key", "stream_id", "quantity", "status", "order_id", "store_id"
    )
    for pk, item_id, member_id, key, stream_id, qty, status, order_id, store_id in rows.iterator():
        field = fc.idem_field(member_id, key)
        entry_id = stream_id.split("/", 1)[1] if stream_id and "/" in stream_id else "-"
        idem[field] = f"{entry_id}|{item_id}|{qty}|{store_id}"
        if order_id:
            idem["o:" + field] = str(order_id)
        if status == FlashReservation.Status.ACTIVE:
            if item_id in left:
                left[item_id] -= qty
                taken[item_id][member_id] = taken[item_id].get(member_id, 0) + qty
        else:
            released.append(str(pk))
    for e in pending:
        field = fc.idem_field(e.member_id, e.key)
        entry_id = (e.stream_id or "/-").split("/", 1)[1]
        idem.setdefault(field, f"{entry_id}|{e.item_id}|{e.quantity}|{e.store_id}")
        if e.item_id in left:
            left[e.item_id] -= e.quantity
            taken[e.item_id][e.member_id] = taken[e.item_id].get(e.member_id, 0) + e.quantity
    expire_at = int((max(config.pickup_until, config.ends_at) + KEY_TTL_AFTER_PICKUP).timestamp())
    pipe = client.pipeline(transaction=True)
    pipe.delete(
        *[keys.left(i) for i in config.items],
        *[keys.taken(i) for i in config.items],
        keys.idem,
        keys.released,
    )
    for item_id, n in left.items():
        if n < 0:
            logger.error("flash sale %s: item %s is oversold by %s", cid, item_id, -n)
        pipe.set(keys.left(item_id), max(n, 0))
        # A placeholder field/member keeps each hash and set in existence, so the expiry set below holds
        # for the keys the scripts fill later.
        holders = {PLACEHOLDER: "0", **{str(m): str(t) for m, t in taken[item_id].items()}}
        pipe.hset(keys.taken(item_id), mapping=holders)
    idem[PLACEHOLDER] = ""
    released.append(PLACEHOLDER)
    fields = list(idem.items())
    for start in range(0, len(fields), 1000):
        pipe.hset(keys.idem, mapping=dict(fields[start : start + 1000]))
    for start in range(0, len(released), 1000):
        pipe.sadd(keys.released, *released[start : start + 1000])
    pipe.set(keys.ready, "1")
    for name in [keys.ready, keys.idem, keys.released, keys.stream]:
        pipe.expireat(name, expire_at)
    for item_id in config.items:
        pipe.expireat(keys.left(item_id), expire_at)
        pipe.expireat(keys.taken(item_id), expire_at)
    pipe.execute()
    client.sadd(fc.sales_key(), cid)  # the writer's work list (another slot: outside the MULTI)


def check_redis_durable() -> None:
    """VolatileRedis unless the flash-sale Redis keeps admitted purchases across a restart (AOF on) or
    ``SIYU_FLASH_ALLOW_VOLATILE_REDIS`` accepts the risk; SaleUnavailable when Redis cannot be asked."""
    if fc.volatile_redis_allowed():
        return
    try:
        durable = fc.redis_is_durable()
    except Exception as exc:
        logger.warning("flash sales: could not ask Redis about persistence: %s", exc)
        raise SaleUnavailable(_("Redis cannot be reached; try again in a moment.")) from exc
    if not durable:
        raise VolatileRedis(
            _(
                "Redis has no persistence (AOF is off): purchases admitted during the sale would be lost if "
                "Redis restarted, so the sale cannot start. Turn on appendonly in Redis, or set "
                "SIYU_FLASH_ALLOW_VOLATILE_REDIS=1 to accept that risk."
            ),
            field="status",
        )


def open_sale(campaign: Campaign) -> None:
    """Prepare a flash sale for admission; call when it is published, and again whenever needed.

    Fixes ``campaign.admission_backend`` once ("redis" when REDIS_URL is set, else "database"); a sale
    about to use Redis is refused (VolatileRedis) when Redis has no AOF, unless
    ``SIYU_FLASH_ALLOW_VOLATILE_REDIS`` is set (``check_redis_durable``). On Redis it
    (re)loads the counters from the database (``rebuild_counters``), e.g. after stock edits or after Redis
    lost its data; SaleUnavailable if Redis cannot be reached. Idempotent."""
    if campaign.kind != CampaignKind.FLASH_SALE:
        return
    if not campaign.admission_backend:
        if fc.redis_url():
            check_redis_durable()
        campaign.admission_backend = _fix_backend(campaign.pk)
    fc.invalidate(campaign.pk)
    if campaign.admission_backend == "redis":
        rebuild_counters(campaign.pk, force=True)


# --- admission ---------------------------------------------------------------------------------------


def admit(
    campaign_id: int,
    *,
    item_id: int,
    member_id: int,
    store_id: int,
    quantity: int,
    key: str,
    now: datetime | None = None,
    ticket_checked: bool = False,
) -> Admission:
    """Admit ``member_id``'s purchase of ``quantity`` units of flash item ``item_id``, picked up at
    ``store_id``. Never admits more than the item's stock, nor more than its per-member limit to one member,
    even under concurrent requests.

    Refusals change nothing: SaleNotRunning (not a published flash sale running now), NotFound (field item,
    store — not a pickup store of the sale where the SKU is published —, or member), ValidationFailed (key
    of 1–100 printable ASCII characters, quantity), LimitReached, SoldOut, NotEnoughLeft; SaleUnavailable when
    Redis cannot be reached. The same (campaign, member, key) answers the first admission again when
    the later request asks the same (another item, quantity or store with the same key: Conflict
    ``idempotency_mismatch``, nothing taken). On Redis the order is written within seconds (``order_id``
    None until then, see ``written_order_id``); on the database it is written before this returns.

    ``ticket_checked``: the caller verified a purchase ticket (``siyu.campaigns.tickets``), which the sale
    page issues only to a signed-in member of the sale's brand — the member lookup is skipped, so the hot
    path reads nothing from the database. (A member erased during the ticket's life can still buy.)"""
    now = now or timezone.now()
    cid = optional_id(campaign_id, ints_only=True)
    config = fc.sale_config(cid) if cid else None
    if config is None or not config.is_flash_sale:
        raise _not_running()
    key = clean_idempotency_key(key, "key")
    mid = optional_id(member_id, ints_only=True)
    if mid is None or (not ticket_checked and fc.member_brand(mid) != config.brand_id):
        raise NotFound(_("No such member."), field="member")
    if not config.running(now):
        again = _previous(config, config.backend, mid, key)
        if again is not None:
            return _check_same(
                again, optional_id(item_id, ints_only=True), quantity, optional_id(store_id, ints_only=True)
            )
        raise _not_running()
    backend = config.backend or _fix_backend(config.id)  # published without open_sale: fixed now
    iid = optional_id(item_id, ints_only=True)
    item = config.items.get(iid) if iid else None
    if item is None:
        raise NotFound(_("No such item in this sale."), field="item")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValidationFailed(_("Buy at least one."), field="quantity")
    if quantity > item.limit:
        raise LimitReached(_("At most %(n)s per member.") % {"n": item.limit}, field="quantity")
    sid = optional_id(store_id, ints_only=True)
    if sid is None or sid not in item.store_ids:
        raise NotFound(_("No such pickup store for this item."), field="store")
    entry = flash_writer.Entry(
        campaign_id=config.id,
        item_id=item.id,
        member_id=mid,
        store_id=sid,
        quantity=quantity,
        key=key,
        admitted_at=now,
    )
    if backend == "redis":
        return _admit_redis(entry, item.limit)
    return _admit_database(entry)


def _refusal(status: str, left: int) -> Conflict:
    if status == "sold_out":
        return SoldOut(_("Sold out."), field="item")
    if status == "not_enough":
        return NotEnoughLeft(_("Only %(n)s left.") % {"n": left}, field="quantity")
    return LimitReached(_("You have reached the limit for this item."), field="quantity")


def _admit_redis(entry: flash_writer.Entry, limit: int) -> Admission:
    import redis

    client = _client()
    keys = fc.Keys(entry.campaign_id)
    field = fc.idem_field(entry.member_id, entry.key)
    args = [
        field,
        entry.quantity,
        limit,
        entry.member_id,
        entry.campaign_id,
        entry.item_id,
        entry.store_id,
        entry.key,
        entry.admitted_at.isoformat(),
    ]
    redis_keys = [keys.ready, keys.left(entry.item_id), keys.taken(entry.item_id), keys.idem, keys.stream]
    for attempt in range(2):
        try:
            result = fc.script("admit")(keys=redis_keys, args=args)
        except redis.RedisError as exc:
            logger.warning("flash sale %s: Redis unavailable: %r", entry.campaign_id, exc)
            raise SaleUnavailable(_("The sale is busy; try again in a moment.")) from exc
        status = result[0]
        if status == "unloaded":
            if attempt == 0:
                rebuild_counters(entry.campaign_id, force=False)
                continue
            raise SaleUnavailable(_("The sale is busy; try again in a moment."))
        if status == "ok":
            return Admission(
                entry.key, entry.item_id, entry.quantity, int(result[2]), None, "redis", entry.store_id
            )
        if status == "dup":
            again = _from_idem(client, keys, entry.key, result[1], result[2])
            return _check_same(again, entry.item_id, entry.quantity, entry.store_id)
        raise _refusal(status, int(result[1]))
    raise AssertionError("unreachable")


def _from_idem(client: Any, keys: fc.Keys, key: str, value: str, order_id: str | None) -> Admission:
    # "<stream entry id>|<item>|<quantity>|<store>" (entries admitted before the store was kept: 3 parts)
    _entry_id, item, qty, *store = value.split("|")
    left = client.get(keys.left(int(item)))
    return Admission(
        key=key,
        item_id=int(item),
        quantity=int(qty),
        remaining=max(int(left or 0), 0),
        order_id=int(order_id) if order_id else None,
        backend="redis",
        store_id=int(store[0]) if store and store[0].isdigit() else None,
    )


def _from_db(config: fc.SaleConfig, member_id: int, key: str, backend: str) -> Admission | None:
    row = (
        FlashReservation.objects.filter(campaign_id=config.id, member_id=member_id, client_key=key)
        .values_list("item_id", "quantity", "order_id", "item__stock", "item__sold", "store_id")
        .first()
    )
    if row is None:
        return None
    item_id, qty, order_id, stock, sold, store_id = row
    return Admission(key, item_id, qty, max(stock - sold, 0), order_id, backend, store_id)


def _previous(config: fc.SaleConfig, backend: str, member_id: int, key: str) -> Admission | None:
    """The earlier admission of this key, if any (for retries arriving after the sale stopped)."""
    if backend == "redis" and fc.redis_url():
        import redis

        keys = fc.Keys(config.id)
        field = fc.idem_field(member_id, key)
        try:
            client = fc.redis_client()
            value, order_id = client.hmget(keys.idem, [field, "o:" + field])
            if value:
                return _from_idem(client, keys, key, value, order_id)
        except redis.RedisError:
            logger.warning("flash sale %s: Redis unavailable for a retry lookup", config.id)
    return _from_db(config, member_id, key, backend)


def _admit_database(entry: flash_writer.Entry) -> Admission:
    config = fc.sale_config(entry.campaign_id)
    assert config is not None
    # Once the units are gone "sold out" is most buyers' answer: give it from two plain reads (this key's
    # earlier admission first, so a retry still gets its own answer) without taking the write lock. A stale
    # read can only answer "sold out" a moment after a released unit came back; it never oversells.
    counts = FlashSaleItem.objects.filter(pk=entry.item_id).values_list("stock", "sold").first()
    if counts is not None and counts[0] <= counts[1]:
        again = _from_db(config, entry.member_id, entry.key, "database")
        if again is not None:
            return _check_same(again, entry.item_id, entry.quantity, entry.store_id)
        raise _refusal("sold_out", 0)
    try:
        with transaction.atomic():
            written = flash_writer.write_entries([entry])[0]
            stock, sold = FlashSaleItem.objects.filter(pk=written.item_id).values_list("stock", "sold").get()
    except flash_writer.GuardFailed as exc:
        if exc.reason == "limit":
            raise _refusal("limit", 0) from None
        raise _refusal("sold_out" if exc.left <= 0 else "not_enough", exc.left) from None
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its reservation.
        again = _from_db(config, entry.member_id, entry.key, "database")
        if again is None:
            raise
        return _check_same(again, entry.item_id, entry.quantity, entry.store_id)
    if not written.same_request:
        raise mismatch("key")  # nothing was written: the key's reservation asked for something else
    return Admission(
        entry.key,
        written.item_id,
        written.quantity,
        max(stock - sold, 0),
        written.order_id,
        "database",
        entry.store_id,
    )


# --- reads ------------------------------------------------------------------------------------------


def written_order_id(campaign_id: int, member_id: int, key: str) -> int | None:
    """The id of the order written for this admission, or None while it waits for the writer (or when
    there is no such admission). On Redis, answers from Redis while the entry is still in the stream."""
    cid, mid = optional_id(campaign_id, ints_only=True), optional_id(member_id, ints_only=True)
    if cid is None or mid is None or not isinstance(key, str) or not key.strip():
        return None
    key = key.strip()
    config = fc.sale_config(cid)
    if config is None:
        return None
    redis_backed = config.backend == "redis" and bool(fc.redis_url())
    if redis_backed:
        import redis

        keys = fc.Keys(cid)
        field = fc.idem_field(mid, key)
        try:
            client = fc.redis_client()
            value, order_id = client.hmget(keys.idem, [field, "o:" + field])
            if order_id:
                return int(order_id)
            if value:
                entry_id = value.split("|")[0]
                if entry_id != "-" and client.xrange(keys.stream, entry_id, entry_id, count=1):
                    return None  # still waiting for the writer
        except redis.RedisError:
            logger.warning("flash sale %s: Redis unavailable for a written-order lookup", cid)
    order_id = (
        FlashReservation.objects.filter(campaign_id=cid, member_id=mid, client_key=key)
        .values_list("order_id", flat=True)
        .first()
    )
    return order_id


def remaining_units(campaign_id: int) -> dict[int, int]:
    """Units left to admit per item id, each within [0, stock] ({} for an unknown campaign or one that is
    not a flash sale). On Redis read from the counters (rebuilt first if Redis lost them while the sale
    runs); on the database ``stock - sold``. Raises SaleUnavailable when Redis cannot be read."""
    cid = optional_id(campaign_id, ints_only=True)
    config = fc.sale_config(cid) if cid else None
    if config is None or not config.is_flash_sale:
        return {}
    item_ids = sorted(config.items)
    if config.backend == "redis" and fc.redis_url() and item_ids:
        import redis

        keys = fc.Keys(config.id)
        try:
            client = fc.redis_client()
            for attempt in range(2):
                values = client.mget([keys.ready] + [keys.left(i) for i in item_ids])
                if all(v is not None for v in values):
                    return {
                        i: min(max(int(v), 0), config.items[i].stock)
                        for i, v in zip(item_ids, values[1:], strict=True)
                    }
                if attempt or not config.running(timezone.now()):
                    break
                rebuild_counters(config.id, force=False)
        except redis.RedisError as exc:
            raise SaleUnavailable(_("The sale is busy; try again in a moment.")) from exc
    rows = FlashSaleItem.objects.filter(campaign_id=config.id).values_list("pk", "stock", "sold")
    return {pk: min(max(stock - sold, 0), stock) for pk, stock, sold in rows}


STATUS_CACHE_SECONDS = 1.0
_status_cache: dict[int, tuple[float, dict[str, Any]]] = {}


def sale_status(campaign_id: Any) -> dict[str, Any]:
    """What every open sale page polls: ``{"running", "starts_at", "ends_at", "items": [{"id", "stock",
    "remaining"}]}`` (items by id). NotFound for an unknown id, a draft or another kind of campaign;
    SaleUnavailable when Redis cannot be read. Built from the cached sale configuration and
    ``remaining_units``, and cached a further second per process: no database query on most polls."""
    cid = optional_id(campaign_id, ints_only=True)
    config = fc.sale_config(cid) if cid else None
    if cid is None or config is None or not config.is_flash_sale or config.status == CampaignStatus.DRAFT:
        raise NotFound(_("No such sale."), field="campaign")
    clock = time.monotonic()
    cached = _status_cache.get(cid)
    if cached is not None and clock - cached[0] < STATUS_CACHE_SECONDS:
        return cached[1]
    left = remaining_units(cid)
    payload: dict[str, Any] = {
        "running": config.running(timezone.now()),
        "starts_at": config.starts_at.isoformat(),
        "ends_at": config.ends_at.isoformat(),
        "items": [
            {"id": item.id, "stock": item.stock, "remaining": left.get(item.id, 0)}
            for item in sorted(config.items.values(), key=lambda i: i.id)
        ],
    }
    if len(_status_cache) > 1000:
        _status_cache.clear()
    _status_cache[cid] = (clock, payload)
    return payload


# The primitive the Redis admission rests on: a guarded decrement in one script call.
_BASELINE_LUA = """
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left < tonumber(ARGV[1]) then return -1 end
return redis.call('DECRBY', KEYS[1], ARGV[1])
"""


def baseline_rate(*, seconds: float = 2.0) -> dict[str, Any]:
    """For benchmarks: how many times per second one client can run the primitive admission rests on, on a
    scratch counter — a guarded DECRBY script on Redis, a conditional ``UPDATE … WHERE n >= 1`` (autocommit)
    on a scratch table of the database (an ordinary table, so every update commits like a stock row's; dropped
    after). Touches no sale."""
    backend = backend_name()
    done = 0
    started = time.monotonic()
    deadline = started + max(seconds, 0.1)
    if backend == "redis":
        client = fc.redis_client()
        scratch = f"{fc.prefix()}:baseline:{secrets.token_hex(6)}"
        client.set(scratch, 10**12, ex=max(int(seconds) * 10, 60))
        decrement = client.register_script(_BASELINE_LUA)
        try:
            while time.monotonic() < deadline:
                decrement(keys=[scratch], args=[1])
                done += 1
        finally:
            client.delete(scratch)
    else:
        table = f"siyu_flash_baseline_{secrets.token_hex(4)}"
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, n bigint NOT NULL)")
            try:
                cursor.execute(f"INSERT INTO {table} (id, n) VALUES (1, %s)", [10**12])  # noqa: S608
                while time.monotonic() < deadline:
                    cursor.execute(f"UPDATE {table} SET n = n - 1 WHERE id = 1 AND n >= 1")  # noqa: S608
                    done += 1
            finally:
                cursor.execute(f"DROP TABLE {table}")
    elapsed = time.monotonic() - started
    return {
        "backend": backend,
        "baseline_per_s": round(done / elapsed, 1) if elapsed else None,
        "operations": done,
        "seconds": round(elapsed, 2),
    }
