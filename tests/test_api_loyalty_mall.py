"""API: points-mall items (CRUD, stock added once per key, scoped to the caller), tiers with a preview, a
member's tier (store-scoped)."""

from __future__ import annotations

import pytest

from siyu.loyalty.models import MallItem, StockAddition, Tier
from siyu.loyalty.services import tiers
from tests.api_support import ApiClient, assert_error
from tests.factories import MemberFactory, credit_points, make_coupon_template, make_product, three_tiers


@pytest.fixture
def as_clerk_a(clerk_a):
    return ApiClient(clerk_a)


def coupon_item(template, **extra):
    return {
        "kind": "coupon",
        "name": "十元券",
        "points": 100,
        "stock": 5,
        "coupon_template_id": template.pk,
        **extra,
    }


def test_mall_items_crud_and_refusals(as_admin, as_manager, brand, hq_admin, store_a):
    template = make_coupon_template(brand)
    created = as_admin.post(
        "/loyalty/mall/items", coupon_item(template, member_limit=2, store_ids=[store_a.pk])
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["stock"] == 5 and body["member_limit"] == 2 and body["store_ids"] == [store_a.pk]
    assert body["exchanges"] == 0 and body["sku_id"] is None
    sku = make_product(hq_admin).skus.first()
    product = as_admin.post(
        "/loyalty/mall/items",
        {"kind": "product", "name": "杯子", "points": 500, "stock": 3, "sku_id": sku.pk},
    )
    assert product.status_code == 201, product.content
    changed = as_admin.patch(f"/loyalty/mall/items/{body['id']}", {"points": 120, "member_limit": None})
    assert changed.status_code == 200 and changed.json()["points"] == 120
    assert changed.json()["member_limit"] is None
    off = as_admin.patch(f"/loyalty/mall/items/{body['id']}", {"active": False})
    assert off.json()["active"] is False
    assert {i["id"] for i in as_manager.get("/loyalty/mall/items").json()} == {
        body["id"],
        product.json()["id"],
    }
    assert_error(as_manager.post("/loyalty/mall/items", coupon_item(template)), 403)
    assert_error(as_admin.post("/loyalty/mall/items", coupon_item(template, coupon_template_id=999999)), 400)
    assert_error(
        as_admin.post("/loyalty/mall/items", {"kind": "product", "name": "x", "points": 1, "sku_id": 999999}),
        400,
        field="sku_id",
    )
    assert_error(
        as_admin.post("/loyalty/mall/items", coupon_item(template, sku_id=sku.pk)), 400, field="sku_id"
    )
    assert_error(as_admin.patch(f"/loyalty/mall/items/{body['id']}", {"stock": 50}), 400)
    assert_error(as_admin.get("/loyalty/mall/items/999999"), 404)


def test_stock_is_added_once_per_key_scoped_to_the_caller(as_admin, brand, hq_admin):
    item = as_admin.post("/loyalty/mall/items", coupon_item(make_coupon_template(brand))).json()
    url = f"/loyalty/mall/items/{item['id']}/stock"
    first = as_admin.post(url, {"amount": 10}, headers={"Idempotency-Key": "s1"})
    assert first.status_code == 200 and first.json()["stock"] == 15
    assert as_admin.post(url, {"amount": 10}, headers={"Idempotency-Key": "s1"}).json()["stock"] == 15
    assert_error(as_admin.post(url, {"amount": 11}, headers={"Idempotency-Key": "s1"}), 409)
    assert as_admin.post(url, {"amount": 1}, headers={"Idempotency-Key": "s2"}).json()["stock"] == 16
    assert_error(as_admin.post(url, {"amount": 0}, headers={"Idempotency-Key": "s3"}), 400)
    assert MallItem.objects.get(pk=item["id"]).stock == 16
    assert StockAddition.objects.count() == 2


def test_tiers_crud_preview_and_member_tier(as_admin, as_manager, as_clerk_a, brand, member_a, store_b):
    gold = as_admin.post("/loyalty/tiers", {"name": "金卡", "threshold": 1000, "multiplier_percent": 150})
    assert gold.status_code == 201, gold.content
    as_admin.post("/loyalty/tiers", {"name": "银卡", "threshold": 0, "member_price": False})
    assert_error(
        as_admin.post("/loyalty/tiers", {"name": "又一个", "threshold": 1000}), 400, field="threshold"
    )
    assert_error(as_admin.post("/loyalty/tiers", {"name": "金卡", "threshold": 5}), 400, field="name")
    assert_error(
        as_admin.post("/loyalty/tiers", {"name": "x", "threshold": 5, "multiplier_percent": 99}), 400
    )
    assert_error(as_manager.post("/loyalty/tiers", {"name": "钻石", "threshold": 5000}), 403)
    template = make_coupon_template(brand)
    patched = as_admin.patch(
        f"/loyalty/tiers/{gold.json()['id']}", {"birthday_template_id": template.pk, "grace_days": 30}
    )
    assert patched.json()["birthday_template_id"] == template.pk and patched.json()["grace_days"] == 30
    assert [t["name"] for t in as_manager.get("/loyalty/tiers").json()] == ["银卡", "金卡"]
    credit_points(member_a, 1200)
    preview = {r["name"]: r["members"] for r in as_admin.get("/loyalty/tiers/preview").json()}
    assert preview["金卡"] == 1 and preview["银卡"] >= 0
    tiers.evaluate(member_a)
    mine = as_clerk_a.get(f"/members/{member_a.pk}/tier")
    assert mine.status_code == 200 and mine.json()["tier"]["name"] == "金卡" and mine.json()["earned"] == 1200
    other = MemberFactory(home_store=store_b)
    assert_error(as_clerk_a.get(f"/members/{other.pk}/tier"), 404)
    assert as_admin.get(f"/members/{other.pk}/tier").json()["tier"]["name"] == "银卡"
    assert Tier.objects.filter(brand=brand).count() == 2


def test_preview_counts_by_points_earned_not_balance(as_admin, brand, member_a, member_b):
    three_tiers(brand)
    credit_points(member_a, 1500)
    credit_points(member_b, 200)
    rows = {r["name"]: r["members"] for r in as_admin.get("/loyalty/tiers/preview").json()}
    assert rows["金卡"] == 1 and rows["钻石"] == 0 and rows["银卡"] >= 1
