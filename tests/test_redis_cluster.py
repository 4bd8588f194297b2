"""Flash sales on a real three-master Redis Cluster, started once per session (redis_cluster_support.py).

What it proves: every key of one sale hashes to one slot (the admission script and the counters' MULTI run on
one node), different sales spread over the masters, the purchase race on a cluster admits exactly the stock
and never more than a member's limit, and the writer writes every admission once. Also Django's cache on
the cluster. The race needs PostgreSQL (parallel connections) and runs in the PostgreSQL run of
``make test``; the rest runs in both runs. Skips only when ``redis-server`` is not installed.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
import redis
import redis.cluster
from django.core.exceptions import ImproperlyConfigured
from redis.crc import key_slot

from siyu.campaigns.models import FlashQuota, FlashReservation
from siyu.campaigns.services import flash_admission, flash_config, flash_writer
from siyu.campaigns.services.flash_admission import Admission, LimitReached, SoldOut
from siyu.common.redis_cluster_cache import RedisClusterCache
from siyu.orders.models import Order
from tests.factories import MemberFactory, admit, make_sale, settle
from tests.race_support import needs_postgres, run_pooled
from tests.redis_cluster_support import LocalCluster, missing_tools, start_cluster
from tests.redis_support import unique_prefix

pytestmark = pytest.mark.usefixtures("flash_caches")


@pytest.fixture(scope="session")
def redis_cluster():
    reason = missing_tools()
    if reason:
        pytest.skip(f"no local Redis Cluster: {reason}")
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_backend(settings, redis_cluster: LocalCluster):
    settings.REDIS_URL = redis_cluster.url
    settings.SIYU_REDIS_CLUSTER = True
    settings.SIYU_FLASH_REDIS_PREFIX = unique_prefix()
    client = flash_config.redis_client()
    yield client
    names = list(client.scan_iter(match=f"{settings.SIYU_FLASH_REDIS_PREFIX}:*", count=1000))
    for name in names:
        client.delete(name)


def node_of(client, key: str) -> str:
    node = client.get_node_from_key(key)
    return f"{node.host}:{node.port}"


# --- key layout (no cluster needed) -------------------------------------------------------------------


def test_every_key_of_a_sale_shares_one_slot(settings):
    settings.SIYU_FLASH_REDIS_PREFIX = "siyu:fs"
    for cid in (1, 7, 12345, 10**9):
        keys = flash_config.Keys(cid)
        names = keys.all([3, 4, 99])
        assert all(f"{{{cid}}}" in n for n in names)
        assert {key_slot(n.encode()) for n in names} == {key_slot(str(cid).encode())}
    # The writer's work list is outside every sale's slot and is never touched in a sale's script.
    assert "{" not in flash_config.sales_key()


def test_a_prefix_with_braces_is_refused(settings):
    settings.SIYU_FLASH_REDIS_PREFIX = "siyu:{fs}"
    with pytest.raises(ImproperlyConfigured):
        flash_config.Keys(1)


def test_a_single_redis_gets_a_plain_client(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # a plain client connects on first use: never here
    settings.SIYU_REDIS_CLUSTER = False
    assert type(flash_config.redis_client()) is redis.Redis


# --- on the cluster ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sales_spread_over_the_masters_and_each_is_written(cluster_backend, brand, sku, store_a):
    client = cluster_backend
    assert isinstance(client, redis.cluster.RedisCluster)
    assert len(client.get_primaries()) == 3
    members = MemberFactory.create_batch(3, brand=brand, home_store=store_a)
    sales = [make_sale(sku, stock=5, limit=2) for _ in range(9)]
    for campaign, item in sales:
        keys = flash_config.Keys(campaign.pk)
        assert len({node_of(client, name) for name in keys.all([item.pk])}) == 1
        for member in members:
            assert isinstance(admit(campaign, item, member, store_a, quantity=1), Admission)
    assert len({node_of(client, flash_config.Keys(c.pk).stream) for c, _i in sales}) >= 2
    assert flash_writer.drain_all() == 27
    for campaign, item in sales:
        assert Order.objects.filter(campaign_id=campaign.pk, source="flash_sale").count() == 3
        assert flash_admission.remaining_units(campaign.pk) == {item.pk: 2}
        report = flash_writer.reconcile(campaign.pk)
        assert report["ok"], report
    assert flash_writer.drain_all() == 0


@pytest.mark.django_db(transaction=True)
def test_purchase_race_on_the_cluster(cluster_backend, brand, sku, store_a):
    """200 members each try three purchases at once (600 attempts, limit 2 each) for 60 units."""
    needs_postgres()
    stock, limit, buyers, tries = 60, 2, 200, 3
    campaign, item = make_sale(sku, stock=stock, limit=limit)
    members = MemberFactory.create_batch(buyers, brand=brand, home_store=store_a)

    def attempt(i: int) -> object:
        member = members[i % buyers]
        return admit(campaign, item, member, store_a, key=f"try-{i}")

    results = run_pooled(buyers * tries, attempt, threads=24)
    unexpected = [r for r in results if not isinstance(r, Admission | SoldOut | LimitReached)]
    assert not unexpected, unexpected[:3]
    admitted = [(i, r) for i, r in enumerate(results) if isinstance(r, Admission)]
    assert len(admitted) == stock
    assert sorted(r.remaining for _i, r in admitted) == list(range(stock))  # each unit once, never below 0
    per_member = Counter(members[i % buyers].pk for i, _r in admitted)
    assert max(per_member.values()) <= limit

    settle()
    written = FlashReservation.objects.filter(campaign=campaign)
    assert written.count() == stock
    assert len(set(written.values_list("stream_id", flat=True))) == stock  # each admission written once
    assert Order.objects.filter(campaign_id=campaign.pk, source="flash_sale").count() == stock
    for member_id, n in per_member.items():
        assert FlashQuota.objects.get(item=item, member_id=member_id).taken == n
    item.refresh_from_db()
    assert item.sold == stock
    assert flash_admission.remaining_units(campaign.pk) == {item.pk: 0}
    report = flash_writer.reconcile(campaign.pk)
    assert report["ok"], report
    assert flash_writer.drain_all() == 0  # nothing written twice


# --- Django's cache on the cluster --------------------------------------------------------------------


def test_cache_on_the_cluster(redis_cluster: LocalCluster):
    cache = RedisClusterCache(redis_cluster.url, {"KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}"})
    data = {f"k{i}": {"n": i} for i in range(30)}  # keys on every master
    cache.set_many(data, timeout=60)
    assert cache.get_many(list(data)) == data
    assert cache.get("k3") == {"n": 3}
    assert cache.add("counter", 1) and not cache.add("counter", 5)
    assert cache.incr("counter", 4) == 5
    cache.delete_many(list(data))
    assert cache.get_many(list(data)) == {}
    cache.set("gone", 1, timeout=0)
    assert cache.get("gone") is None
    client = cache._cache.get_client()
    assert len({f"{n.host}:{n.port}" for n in client.get_primaries()}) == 3
