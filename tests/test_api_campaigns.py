"""API for flash sales: create / read with live numbers / edit / publish / cancel; head office only for
changes, store scope for reading; junk input answers a 4xx JSON error and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from siyu.campaigns.models import Campaign
from siyu.campaigns.services import flash_sales
from siyu.org.models import AuditEntry
from tests.api_support import ApiClient, assert_error
from tests.factories import buy, running_sale, sale_data

BASE = "/campaigns/flash-sales"


pytestmark = pytest.mark.usefixtures("database_admission")


def body(skus, **overrides: Any) -> dict[str, Any]:
    now = timezone.now()
    data: dict[str, Any] = {
        "title": "周五秒杀",
        "starts_at": (now + timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(),
        "items": [
            {"sku_id": skus["CUP-W"].pk, "price_fen": 990, "stock": 100, "per_member_limit": 2},
            {"sku_id": skus["CUP-B"].pk, "price_fen": 1990, "stock": 50},
        ],
    }
    data.update(overrides)
    return data


def test_create_publish_read_cancel(hq_operator, skus, store_a, member_a, group_a):
    api = ApiClient(hq_operator)
    created = api.post(BASE, body(skus, community_ids=[group_a.pk], store_ids=[store_a.pk]))
    assert created.status_code == 201, created.content
    sale = created.json()
    assert sale["status"] == "draft" and sale["phase"] == "draft" and sale["kind"] == "flash_sale"
    assert sale["store_ids"] == [store_a.pk] and sale["community_ids"] == [group_a.pk]
    assert [
        (i["sku_code"], i["price_fen"], i["normal_price_fen"], i["per_member_limit"]) for i in sale["items"]
    ] == [
        ("CUP-W", 990, 3900, 2),
        ("CUP-B", 1990, 3900, 1),
    ]
    assert sale["stock_total"] == 150 and sale["live"]["orders_written"] == 0
    sale_id = sale["id"]
    patched = api.patch(f"{BASE}/{sale_id}", {"title": "周六秒杀", "starts_at": timezone.now().isoformat()})
    assert patched.status_code == 200, patched.content
    assert patched.json()["title"] == "周六秒杀" and patched.json()["phase"] == "draft"
    published = api.post(f"{BASE}/{sale_id}/publish")
    assert published.status_code == 200, published.content
    assert published.json()["status"] == "published" and published.json()["phase"] == "running"
    assert published.json()["admission_backend"] == "database"
    buy(Campaign.objects.get(pk=sale_id), member_a, store_a, quantity=2)
    detail = api.get(f"{BASE}/{sale_id}").json()
    live = detail["live"]
    assert live["orders_written"] == 1 and live["orders_last_10s"] == 1 and live["scoped"] is False
    assert [i["remaining"] for i in live["items"]] == [98, 50] and [i["sold"] for i in live["items"]] == [
        2,
        0,
    ]
    assert len(live["orders_per_10s"]) == flash_sales.BUCKETS and sum(live["orders_per_10s"]) == 1
    assert detail["sold_total"] == 2
    listing = api.get(BASE).json()
    assert listing["count"] == 1 and listing["items"][0]["sold_total"] == 2
    assert api.get(BASE, {"status": "draft"}).json()["count"] == 0
    fixed = api.patch(
        f"{BASE}/{sale_id}", {"items": [{"sku_id": skus["CUP-W"].pk, "price_fen": 1, "stock": 1}]}
    )
    assert_error(fixed, 409, "published", "items")
    cancelled = api.post(f"{BASE}/{sale_id}/cancel", {"reason": "缺货"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"{BASE}/{sale_id}/cancel", {}).status_code == 200
    assert_error(api.post(f"{BASE}/{sale_id}/publish"), 409, "cancelled")
    actions = set(AuditEntry.objects.filter(target_type="campaign").values_list("action", flat=True))
    assert actions == {"campaign.create", "campaign.update", "campaign.publish", "campaign.cancel"}


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"starts_at": "2030-01-01T20:00:00"}, 400, "starts_at"),  # no time zone
        ({"starts_at": "soon"}, 400, "starts_at"),
        ({"ends_at": (timezone.now() - timedelta(days=1)).isoformat()}, 400, "ends_at"),
        ({"items": []}, 400, "items"),
        ({"items": [{"sku_id": 1, "price_fen": "9.9", "stock": 1}]}, 400, "items.0.price_fen"),
        ({"items": [{"sku_id": 987654, "price_fen": 990, "stock": 1}]}, 400, "items.0.sku_id"),
        ({"items": [{"sku_id": 0, "price_fen": 990, "stock": 1}]}, 400, "items.0.sku_id"),
        ({"store_ids": [987654]}, 400, "store_ids"),
        ({"colour": "red"}, 400, "colour"),
        ({"title": "x" * 101}, 400, "title"),
    ],
)
def test_refused_input(hq_admin, skus, overrides, status, field):
    response = ApiClient(hq_admin).post(BASE, body(skus, **overrides))
    assert_error(response, status, field=field)
    assert not Campaign.objects.exists()


def test_price_and_stock_ranges_name_the_item(hq_admin, skus):
    api = ApiClient(hq_admin)
    for item, field in (
        ({"price_fen": 99999}, "items.1.price_fen"),
        ({"stock": 0}, "items.1.stock"),
        ({"per_member_limit": 100}, "items.1.per_member_limit"),
    ):
        items = body(skus)["items"]
        items[1].update(item)
        assert_error(api.post(BASE, body(skus, items=items)), 400, "invalid", field)
    assert not Campaign.objects.exists()


def test_store_staff_read_their_stores_only(hq_admin, clerk_a, skus, store_a, store_b, member_a, member_b):
    everywhere = running_sale(hq_admin, skus)
    only_b = running_sale(hq_admin, skus, store_ids=[store_b.pk])
    flash_sales.create_flash_sale(hq_admin, sale_data(skus, title="草稿"))
    buy(everywhere, member_a, store_a, quantity=1)
    buy(everywhere, member_b, store_b, quantity=2)
    api = ApiClient(clerk_a)
    listing = api.get(BASE).json()
    assert [s["id"] for s in listing["items"]] == [everywhere.pk]
    assert listing["items"][0]["sold_total"] == 1
    detail = api.get(f"{BASE}/{everywhere.pk}").json()
    assert detail["live"]["scoped"] is True and detail["live"]["orders_written"] == 1
    assert [i["sold"] for i in detail["live"]["items"]] == [1, 0]
    assert_error(api.get(f"{BASE}/{only_b.pk}"), 404, "not_found")
    assert_error(api.post(BASE, body(skus)), 403, "forbidden")
    assert_error(api.post(f"{BASE}/{everywhere.pk}/cancel", {}), 403, "forbidden")
    assert_error(api.patch(f"{BASE}/{everywhere.pk}", {"description": "x"}), 403, "forbidden")
    assert Campaign.objects.get(pk=everywhere.pk).status == "published"


def test_no_token_is_401(skus):
    assert_error(ApiClient().get(BASE), 401)


JUNK = [
    b"{",
    b"[]",
    b"null",
    b"42",
    b'"x"',
    b"\xff\xfe",
    b'{"items": [[1, 2, 3, 4]]}',
    b'{"items": "all"}',
    b'{"items": [{"sku_id": 1e400}]}',
    b'{"starts_at": "9999-12-31T23:59:59-14:00", "ends_at": "9999-12-31T23:59:59-14:00"}',
    b'{"starts_at": 1e308}',
    b'{"store_ids": [null]}',
    b'{"reason": ' + b'"x"' * 3 + b"}",
    b'{"reason": "' + b"x" * 500 + b'"}',
    b'{"relay_enabled": "maybe"}',
]


def test_junk_bodies_never_fail(hq_admin, skus):
    api = ApiClient(hq_admin)
    campaign = running_sale(hq_admin, skus)
    draft = flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    before = (Campaign.objects.count(),)
    for method, path in (
        ("POST", BASE),
        ("PATCH", f"{BASE}/{draft.pk}"),
        ("PATCH", f"{BASE}/{campaign.pk}"),
        ("POST", f"{BASE}/{campaign.pk}/cancel"),
        ("POST", f"{BASE}/{draft.pk}/publish"),
    ):
        for raw in JUNK:
            response = api.send(method, path, raw=raw)
            if path.endswith("/publish"):
                continue  # takes no body; it may well succeed, checked below
            assert 400 <= response.status_code < 500, (method, path, raw[:40], response.content[:200])
            assert_error(response, response.status_code)
    for path in (f"{BASE}/0", f"{BASE}/99999999999999999999", f"{BASE}/abc", f"{BASE}/9223372036854775807"):
        assert 400 <= api.get(path).status_code < 500
    for params in ({"limit": "0"}, {"offset": "-1"}, {"status": "x" * 50}, {"status": "nope"}):
        assert_error(api.get(BASE, params), 400)
    # Nothing but the publish (which takes no body) changed anything.
    assert Campaign.objects.count() == before[0]
    assert not AuditEntry.objects.filter(action__in=["campaign.update", "campaign.cancel"]).exists()
    assert Campaign.objects.get(pk=campaign.pk).status == "published"
