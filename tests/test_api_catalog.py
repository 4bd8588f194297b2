"""The catalog API: products (HQ-only changes), publication, store listings and idempotent stock changes,
with another store's listing answering 404."""

from __future__ import annotations

import pytest

from siyu.catalog.models import StockMovement, StoreListing
from siyu.catalog.services import publication
from tests.api_support import ApiClient, assert_error
from tests.factories import make_product


@pytest.fixture
def product(hq_admin, store_a, store_b):
    product = make_product(hq_admin, codes=("CUP-W", "CUP-B"))
    publication.publish(hq_admin, product.pk, scope="all")
    return product


@pytest.fixture
def listing_a(product, store_a):
    return StoreListing.objects.filter(store=store_a).order_by("sku_id").first()


@pytest.fixture
def listing_b(product, store_b):
    return StoreListing.objects.filter(store=store_b).order_by("sku_id").first()


PRODUCT = {
    "name": "香薰蜡烛",
    "subtitle": "大豆蜡",
    "tags": ["香氛"],
    "is_hot": True,
    "skus": [{"code": "CANDLE-1", "spec": "白茶", "price_fen": 6900, "member_price_fen": 5900}],
}


def test_hq_creates_reads_and_updates_product(as_operator, store_a):
    r = as_operator.post("/products", PRODUCT)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["name"] == "香薰蜡烛" and body["skus"][0]["price_fen"] == 6900 and body["publications"] == []
    pid = body["id"]
    r = as_operator.patch(f"/products/{pid}", {"subtitle": "燃烧 40 小时"})
    assert r.status_code == 200 and r.json()["subtitle"] == "燃烧 40 小时"
    r = as_operator.post(f"/products/{pid}/skus", {"code": "CANDLE-2", "spec": "雪松", "price_fen": 6900})
    assert r.status_code == 201
    r = as_operator.get("/products", {"q": "香薰"})
    assert r.json()["count"] == 1 and len(r.json()["items"][0]["skus"]) == 2
    r = as_operator.post(f"/products/{pid}/publish", {"scope": "stores", "store_ids": [store_a.pk]})
    assert r.status_code == 201 and r.json()["store_ids"] == [store_a.pk]
    assert StoreListing.objects.filter(store=store_a).count() == 2
    detail = as_operator.get(f"/products/{pid}").json()
    assert len(detail["publications"]) == 1


def test_clerk_gets_403_on_product_management(as_clerk, product):
    assert_error(as_clerk.post("/products", PRODUCT), 403, "forbidden")
    assert_error(as_clerk.patch(f"/products/{product.pk}", {"name": "x"}), 403, "forbidden")
    assert_error(as_clerk.post(f"/products/{product.pk}/skus", {"code": "Z", "price_fen": 1}), 403)
    assert_error(as_clerk.post(f"/products/{product.pk}/publish", {"scope": "all"}), 403)
    assert as_clerk.get(f"/products/{product.pk}").status_code == 200  # reading is fine


@pytest.mark.parametrize(
    ("sku", "field"),
    [
        ({"code": "X", "price_fen": 0}, "skus.0.price_fen"),  # the schema's minimum (OpenAPI says so)
        ({"code": "X", "price_fen": 12.5}, "skus.0.price_fen"),
        ({"code": "X", "price_fen": 100, "member_price_fen": 200}, "member_price_fen"),
    ],
)
def test_price_validation(as_admin, sku, field):
    body = dict(PRODUCT, skus=[sku])
    assert_error(as_admin.post("/products", body), 400, "invalid", field)


def test_duplicate_sku_code_is_409(as_admin, product):
    body = dict(PRODUCT, skus=[{"code": "cup-w", "price_fen": 100}])
    assert_error(as_admin.post("/products", body), 409, "conflict", "code")


def test_store_listings_scoped(as_clerk, as_admin, store_a, store_b, listing_a):
    r = as_clerk.get(f"/stores/{store_a.pk}/listings")
    assert r.status_code == 200 and r.json()["count"] == 2
    item = r.json()["items"][0]
    assert item["published"] is True and item["stock"] == 0 and item["store"]["id"] == store_a.pk
    assert_error(as_clerk.get(f"/stores/{store_b.pk}/listings"), 404)
    assert as_admin.get(f"/stores/{store_b.pk}/listings").json()["count"] == 2


def test_clerk_lists_and_delists(as_clerk, listing_a):
    r = as_clerk.patch(f"/listings/{listing_a.pk}", {"listed": False})
    assert r.status_code == 200 and r.json()["listed"] is False
    assert_error(as_clerk.patch(f"/listings/{listing_a.pk}", {"listed": "nope"}), 400)


def test_stock_changes_idempotent(as_clerk, listing_a):
    headers = {"Idempotency-Key": "count-1"}
    r = as_clerk.post(f"/listings/{listing_a.pk}/stock", {"set": 10}, headers=headers)
    assert r.status_code == 200, r.content
    assert r.json()["listing"]["stock"] == 10 and r.json()["movement"]["delta"] == 10
    again = as_clerk.post(f"/listings/{listing_a.pk}/stock", {"set": 10}, headers=headers)
    assert again.json()["movement"]["id"] == r.json()["movement"]["id"]
    r = as_clerk.post(
        f"/listings/{listing_a.pk}/stock", {"delta": -3, "reason": "sale"}, headers={"Idempotency-Key": "s-1"}
    )
    assert r.json()["listing"]["stock"] == 7
    as_clerk.post(
        f"/listings/{listing_a.pk}/stock", {"delta": -3, "reason": "sale"}, headers={"Idempotency-Key": "s-1"}
    )
    listing_a.refresh_from_db()
    assert listing_a.stock == 7 and StockMovement.objects.filter(listing=listing_a).count() == 2
    body = assert_error(
        as_clerk.post(f"/listings/{listing_a.pk}/stock", {"delta": -8}, headers={"Idempotency-Key": "s-2"}),
        409,
    )
    assert body["code"] == "insufficient_stock"
    mismatch = as_clerk.post(
        f"/listings/{listing_a.pk}/stock", {"delta": 5}, headers={"Idempotency-Key": "s-1"}
    )
    assert_error(mismatch, 409, "idempotency_mismatch")


def test_stock_requires_key_and_one_of_set_delta(as_clerk, listing_a):
    assert_error(
        as_clerk.post(f"/listings/{listing_a.pk}/stock", {"set": 1}), 400, "invalid", "Idempotency-Key"
    )
    k = {"Idempotency-Key": "k"}
    assert_error(as_clerk.post(f"/listings/{listing_a.pk}/stock", {}, headers=k), 400)
    assert_error(as_clerk.post(f"/listings/{listing_a.pk}/stock", {"set": 1, "delta": 1}, headers=k), 400)
    assert_error(as_clerk.post(f"/listings/{listing_a.pk}/stock", {"set": -1}, headers=k), 400)
    assert not StockMovement.objects.exists()


def test_clerk_cannot_touch_other_store_listing(as_clerk, listing_b):
    assert_error(as_clerk.patch(f"/listings/{listing_b.pk}", {"listed": False}), 404)
    assert_error(
        as_clerk.post(f"/listings/{listing_b.pk}/stock", {"set": 5}, headers={"Idempotency-Key": "x"}), 404
    )
    listing_b.refresh_from_db()
    assert listing_b.listed and listing_b.stock == 0


def test_withdraw(as_admin, product):
    pub_id = as_admin.get(f"/products/{product.pk}").json()["publications"][0]["id"]
    r = as_admin.post(f"/publications/{pub_id}/withdraw")
    assert r.status_code == 200 and r.json()["withdrawn_at"]


def test_anonymous_refused(anonymous, product):
    assert anonymous.get("/products").status_code == 401


def test_openapi_lists_catalog(as_admin):
    schema = ApiClient(as_admin.staff).get("/openapi.json").json()
    assert "/api/v1/listings/{listing_id}/stock" in schema["paths"]
