"""Flash-sale configuration for the hot purchase path, and the Redis wiring of flash-sale admission.

``sale_config(campaign_id)`` answers a sale's items, limits, pickup stores, window and brand from an
in-process cache (``CONFIG_TTL`` seconds, 2 s), so the purchase path reads the database at most once per
process every two seconds per sale. ``member_brand(member_id)`` caches positive member checks (exists, not
erased) per process in a bounded LRU for ``MEMBER_TTL`` seconds: a member erased meanwhile can still be
admitted by a process that checked them within that time (the purchase ticket was issued to them anyway).

Redis keys of one sale share the hash tag ``{<campaign id>}``: on a Redis Cluster they all live in one
slot, so the Lua scripts and MULTI blocks that touch them together run on one node, and different sales
spread over the cluster's slots. The prefix is ``settings.SIYU_FLASH_REDIS_PREFIX`` (default ``siyu:fs``;
it may not contain ``{`` or ``}``, which would move the hash tag)::

    <prefix>:{<cid>}:ready           set once the counters are loaded (absent: rebuild from the database)
    <prefix>:{<cid>}:left:<item>     units left to admit
    <prefix>:{<cid>}:taken:<item>    hash member id -> units the member holds
    <prefix>:{<cid>}:keys            hash "<member>:<key>" -> "<stream id>|<item>|<qty>",
                                     and "o:<member>:<key>" -> order id once written
    <prefix>:{<cid>}:released        set of reservation ids whose units went back (release guard)
    <prefix>:{<cid>}:stream          admitted reservations waiting for the writer (consumer group "writers")
    <prefix>:{<cid>}:lock            held while the counters are rebuilt
    <prefix>:sales                   ids of the sales that have a stream (the writer's work list; its own
                                     slot, never touched together with a sale's keys)

``redis_client()`` is a plain ``redis.Redis`` for ``settings.REDIS_URL``, or a ``redis.cluster.RedisCluster``
seeded from that URL when ``settings.SIYU_REDIS_CLUSTER`` is on (docs/scaling.md).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from siyu.campaigns.models import Campaign, CampaignKind, CampaignStatus, FlashSaleItem
from siyu.catalog.models import Publication
from siyu.members.models import Member
from siyu.org.models import Store
from siyu.org.services.stores import open_stores

CONFIG_TTL = 2.0
MEMBER_TTL = 300.0
MEMBER_CACHE_SIZE = 100_000
DEFAULT_PREFIX = "siyu:fs"
GROUP = "writers"


# --- sale configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemConfig:
    id: int
    sku_id: int
    name: str
    price_fen: int
    stock: int
    limit: int
    store_ids: frozenset[int]


@dataclass(frozen=True)
class SaleConfig:
    id: int
    brand_id: int
    kind: str
    status: str
    backend: str  # "redis" | "database" | "" (not opened yet)
    starts_at: datetime
    ends_at: datetime
    pickup_until: datetime
    items: dict[int, ItemConfig] = field(default_factory=dict)

    @property
    def is_flash_sale(self) -> bool:
        return self.kind == CampaignKind.FLASH_SALE

    def running(self, now: datetime) -> bool:
        return (
            self.is_flash_sale
            and self.status == CampaignStatus.PUBLISHED
            and self.starts_at <= now < self.ends_at
        )


_configs: dict[int, tuple[float, SaleConfig | None]] = {}
_configs_lock = threading.Lock()


def _pickup_stores(campaign: Campaign) -> list[Store]:
    chosen = list(campaign.stores.filter(status=Store.Status.OPEN))
    if chosen or campaign.stores.exists():
        return chosen
    return list(open_stores(campaign.brand_id))


def _published_stores(product_ids: set[int], stores: list[Store]) -> dict[int, set[int]]:
    """product id -> ids of ``stores`` a live publication of the product reaches."""
    reach: dict[int, set[int]] = {pid: set() for pid in product_ids}
    if not stores:
        return reach
    store_ids = {s.pk for s in stores}
    pubs = Publication.objects.filter(product_id__in=product_ids, withdrawn_at__isnull=True).prefetch_related(
        "stores"
    )
    for pub in pubs:
        if pub.scope == Publication.Scope.ALL:
            reach[pub.product_id] |= store_ids
        elif pub.scope == Publication.Scope.REGION:
            reach[pub.product_id] |= {s.pk for s in stores if s.region_id == pub.region_id}
        else:
            reach[pub.product_id] |= {s.pk for s in pub.stores.all()} & store_ids
    return reach


def load_sale_config(campaign_id: int) -> SaleConfig | None:
    """Read one sale's configuration from the database (None: no such campaign)."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return None
    items: dict[int, ItemConfig] = {}
    if campaign.kind == CampaignKind.FLASH_SALE:
        rows = list(FlashSaleItem.objects.filter(campaign=campaign).select_related("sku__product"))
        stores = _pickup_stores(campaign)
        reach = _published_stores({row.sku.product_id for row in rows}, stores)
        for row in rows:
            items[row.pk] = ItemConfig(
                id=row.pk,
                sku_id=row.sku_id,
                name=f"{row.sku.product.name} {row.sku.spec}".strip()[:200],
                price_fen=row.price_fen,
                stock=row.stock,
                limit=row.per_member_limit,
                store_ids=frozenset(reach.get(row.sku.product_id, set())),
            )
    return SaleConfig(
        id=campaign.pk,
        brand_id=campaign.brand_id,
        kind=campaign.kind,
        status=campaign.status,
        backend=campaign.admission_backend,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        pickup_until=campaign.pickup_until,
        items=items,
    )


def sale_config(campaign_id: int) -> SaleConfig | None:
    """The sale's configuration, cached in this process for CONFIG_TTL seconds (None: no such campaign)."""
    now = time.monotonic()
    cached = _configs.get(campaign_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    config = load_sale_config(campaign_id)
    with _configs_lock:
        _configs[campaign_id] = (now + CONFIG_TTL, config)
        if len(_configs) > 1000:
            for cid in [cid for cid, (until, _c) in _configs.items() if until <= now]:
                _configs.pop(cid, None)
    return config


def invalidate(campaign_id: int | None = None) -> None:
    """Forget the cached configuration of one sale (or of all), in this process only; other processes
    see a change within CONFIG_TTL seconds."""
    with _configs_lock:
        if campaign_id is None:
            _configs.clear()
        else:
            _configs.pop(campaign_id, None)


# --- member checks ----------------------------------------------------------------------------------

_members: OrderedDict[int, tuple[float, int]] = OrderedDict()
_members_lock = threading.Lock()


def member_brand(member_id: int) -> int | None:
    """The brand of member ``member_id`` if it exists and is not erased; None otherwise. Positive answers
    are cached per process (LRU of MEMBER_CACHE_SIZE, MEMBER_TTL seconds); negative ones are not."""
    now = time.monotonic()
    with _members_lock:
        hit = _members.get(member_id)
        if hit is not None and hit[0] > now:
            _members.move_to_end(member_id)
            return hit[1]
    brand_id = (
        Member.objects.filter(pk=member_id, erased_at__isnull=True).values_list("brand_id", flat=True).first()
    )
    if brand_id is None:
        return None
    with _members_lock:
        _members[member_id] = (now + MEMBER_TTL, brand_id)
        _members.move_to_end(member_id)
        while len(_members) > MEMBER_CACHE_SIZE:
            _members.popitem(last=False)
    return brand_id


def forget_member(member_id: int | None = None) -> None:
    """Drop a cached member check (e.g. right after erasing the member), or all of them."""
    with _members_lock:
        if member_id is None:
            _members.clear()
        else:
            _members.pop(member_id, None)


def clear_caches() -> None:
    """Forget every cached sale configuration and member check of this process (tests, after setup)."""
    invalidate()
    forget_member()


# --- Redis ------------------------------------------------------------------------------------------


def redis_url() -> str:
    return str(getattr(settings, "REDIS_URL", "") or "")


def redis_cluster() -> bool:
    """Whether ``REDIS_URL`` names a node of a Redis Cluster (``settings.SIYU_REDIS_CLUSTER``)."""
    return bool(getattr(settings, "SIYU_REDIS_CLUSTER", False))


def prefix() -> str:
    value = str(getattr(settings, "SIYU_FLASH_REDIS_PREFIX", "") or DEFAULT_PREFIX)
    if "{" in value or "}" in value:
        # A brace in the prefix would become the Redis Cluster hash tag: a sale's keys would spread
        # over several slots and the admission script would fail with CROSSSLOT.
        raise ImproperlyConfigured("SIYU_FLASH_REDIS_PREFIX may not contain '{' or '}'")
    return value


_clients: dict[tuple[str, bool], Any] = {}
_clients_lock = threading.Lock()


def connect(url: str, *, cluster: bool) -> Any:
    """A new Redis client for ``url`` (strings decoded, 5 s timeouts): a ``RedisCluster`` that discovers
    the cluster's nodes from ``url`` when ``cluster``, else a plain ``Redis``."""
    import redis
    import redis.cluster

    options: dict[str, Any] = {"decode_responses": True, "socket_timeout": 5, "socket_connect_timeout": 5}
    if cluster:
        return redis.cluster.RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def redis_client() -> Any:
    """The process's Redis client for ``settings.REDIS_URL`` (see ``connect``), created once per URL."""
    url = redis_url()
    if not url:
        raise RuntimeError("REDIS_URL is not configured")
    cache_key = (url, redis_cluster())
    client = _clients.get(cache_key)
    if client is None:
        with _clients_lock:
            client = _clients.get(cache_key)
            if client is None:
                client = connect(url, cluster=cache_key[1])
                _clients[cache_key] = client
    return client


def redis_is_durable() -> bool:
    """Whether the flash-sale Redis keeps what it admitted across a restart: the append-only file (AOF) is
    on (``INFO persistence`` → ``aof_enabled:1``; every node's, on a cluster). RDB snapshots alone do not
    count: a restart loses everything since the last snapshot."""
    info = redis_client().info("persistence")
    nodes = list(info.values()) if info and all(isinstance(v, dict) for v in info.values()) else [info]
    return bool(nodes) and all(str(node.get("aof_enabled", "0")) == "1" for node in nodes)


def volatile_redis_allowed() -> bool:
    """``SIYU_FLASH_ALLOW_VOLATILE_REDIS``: open flash sales on a Redis without AOF anyway (tests)."""
    return bool(getattr(settings, "SIYU_FLASH_ALLOW_VOLATILE_REDIS", False))


class Keys:
    """The Redis key names of one sale (all with the hash tag ``{<cid>}``: one Redis Cluster slot)."""

    def __init__(self, campaign_id: int, base: str | None = None) -> None:
        self.campaign_id = campaign_id
        self.base = f"{base or prefix()}:{{{campaign_id}}}"

    def all(self, item_ids: list[int]) -> list[str]:
        """Every key of the sale with items ``item_ids`` (all in one slot)."""
        per_item = [name for i in item_ids for name in (self.left(i), self.taken(i))]
        return [self.ready, self.idem, self.released, self.stream, self.lock, *per_item]

    @property
    def ready(self) -> str:
        return f"{self.base}:ready"

    def left(self, item_id: int) -> str:
        return f"{self.base}:left:{item_id}"

    def taken(self, item_id: int) -> str:
        return f"{self.base}:taken:{item_id}"

    @property
    def idem(self) -> str:
        return f"{self.base}:keys"

    @property
    def released(self) -> str:
        return f"{self.base}:released"

    @property
    def stream(self) -> str:
        return f"{self.base}:stream"

    @property
    def lock(self) -> str:
        return f"{self.base}:lock"


def sales_key() -> str:
    return f"{prefix()}:sales"


def idem_field(member_id: int, key: str) -> str:
    return f"{member_id}:{key}"


# Admission, atomically: idempotency lookup, stock and per-member checks, then take the units and queue
# the reservation for the writer.
# KEYS: ready, left:<item>, taken:<item>, keys, stream
# ARGV: idem field, qty, limit, member, campaign, item, store, client key, admitted_at
ADMIT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unloaded'} end
local prev = redis.call('HMGET', KEYS[4], ARGV[1], 'o:' .. ARGV[1])
if prev[1] then return {'dup', prev[1], prev[2] or ''} end
local left = redis.call('GET', KEYS[2])
if not left then return {'unloaded'} end
left = tonumber(left)
local qty = tonumber(ARGV[2])
if left <= 0 then return {'sold_out', '0'} end
if left < qty then return {'not_enough', tostring(left)} end
local taken = tonumber(redis.call('HGET', KEYS[3], ARGV[4]) or '0')
if taken + qty > tonumber(ARGV[3]) then return {'limit', tostring(left)} end
local rest = redis.call('DECRBY', KEYS[2], qty)
redis.call('HINCRBY', KEYS[3], ARGV[4], qty)
local id = redis.call('XADD', KEYS[5], '*', 'campaign', ARGV[5], 'item', ARGV[6], 'member', ARGV[4],
  'store', ARGV[7], 'qty', ARGV[2], 'key', ARGV[8], 'admitted_at', ARGV[9])
redis.call('HSET', KEYS[4], ARGV[1], id .. '|' .. ARGV[6] .. '|' .. ARGV[2] .. '|' .. ARGV[7])
return {'ok', id, tostring(rest)}
"""

# Give a released reservation's units back, once per reservation (the SADD is the guard). Does nothing
# while the counters are not loaded: a rebuild counts them from the database.
# KEYS: ready, left:<item>, taken:<item>, released    ARGV: reservation id, qty, member
RELEASE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if redis.call('SADD', KEYS[4], ARGV[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[2], ARGV[2])
local t = redis.call('HINCRBY', KEYS[3], ARGV[3], -tonumber(ARGV[2]))
if t <= 0 then redis.call('HDEL', KEYS[3], ARGV[3]) end
return 1
"""

# Delete a lock only if we still hold it.  KEYS: lock   ARGV: token
UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_scripts: dict[tuple[int, str], Any] = {}


def script(name: str) -> Any:
    """A registered Lua script (EVALSHA, reloaded by redis-py on NOSCRIPT) on the process's client."""
    client = redis_client()
    cache_key = (id(client), name)
    found = _scripts.get(cache_key)
    if found is None:
        source = {"admit": ADMIT_LUA, "release": RELEASE_LUA, "unlock": UNLOCK_LUA}[name]
        found = client.register_script(source)
        _scripts[cache_key] = found
    return found
