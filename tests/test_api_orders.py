"""Staff order API: scoped list/detail, ready, refund, pickup verification, junk input → 4xx."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.catalog.models import StoreListing
from siyu.catalog.services import products as product_services
from siyu.catalog.services import publication, stock
from siyu.orders.services import checkout, pickup
from tests.api_support import ApiClient, assert_error
from tests.factories import StaffFactory


@pytest.fixture
def order(hq_admin, store_a, store_b, member_a):
    product = product_services.create_product(
        hq_admin, {"name": "杯"}, skus=[{"code": "C1", "price_fen": 1000}, {"code": "C2", "price_fen": 500}]
    )
    publication.publish(hq_admin, product.pk, scope="all")
    rows = list(StoreListing.objects.filter(store=store_a).order_by("sku_id"))
    for row in rows:
        stock.set_stock(hq_admin, row.pk, 5, idempotency_key=uuid.uuid4().hex)
    now = timezone.now()
    return checkout.create_order(
        member_a,
        store_id=store_a.pk,
        items=[(rows[0].pk, 2), (rows[1].pk, 1)],
        pickup_window=(now + timedelta(hours=1), now + timedelta(hours=3)),
        idempotency_key="k1",
    )


@pytest.fixture
def as_clerk_b(brand, store_b):
    return ApiClient(StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b]))


def test_list_and_detail_scoped(as_clerk, as_clerk_b, as_admin, order):
    body = as_clerk.get("/orders").json()
    assert body["count"] == 1 and body["items"][0]["total_fen"] == 2500
    assert as_clerk.get("/orders", {"status": "paid"}).json()["count"] == 0
    assert as_clerk_b.get("/orders").json()["count"] == 0
    assert as_admin.get("/orders").json()["count"] == 1
    assert as_clerk.get(f"/orders/{order.pk}").json()["id"] == order.pk
    assert_error(as_clerk_b.get(f"/orders/{order.pk}"), 404)


def test_ready_refused_before_payment(as_clerk, order):
    assert_error(as_clerk.post(f"/orders/{order.pk}/ready"), 409)
    assert_error(as_clerk.post(f"/orders/{order.pk}/refund", {"reason": "x"}), 409)


def test_pickup_verify_partial_then_complete(as_clerk, as_clerk_b, order):
    code = pickup.pickup_code_for(order)
    assert_error(as_clerk_b.post("/pickup/verify", {"code": code}), 404)
    first_line = order.lines.order_by("id").first()
    r = as_clerk.post("/pickup/verify", {"code": code, "lines": {str(first_line.pk): 1}})
    assert r.status_code == 200, r.content
    assert r.json()["completed"] is False and r.json()["order"]["status"] == "paid"
    r = as_clerk.post("/pickup/verify", {"code": code})
    assert r.json()["completed"] is True and r.json()["order"]["status"] == "picked_up"
    assert_error(as_clerk.post("/pickup/verify", {"code": code}), 409)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": 5},
        {"code": "nope"},
        {"code": "x" * 500},
        {"code": "a", "lines": {"abc": 1}},
        {"code": "a", "lines": [1, 2]},
        {"code": "a", "extra": 1},
    ],
)
def test_pickup_junk(as_clerk, order, body):
    r = as_clerk.post("/pickup/verify", body)
    assert 400 <= r.status_code < 500, r.content


def test_junk_ids_and_filters(as_clerk, order, anonymous):
    assert as_clerk.get("/orders/0").status_code in (404, 422, 400)
    assert as_clerk.get("/orders/99999999999999999999").status_code in (404, 422, 400)
    assert_error(as_clerk.get("/orders", {"status": "bogus"}), 400)
    assert 400 <= as_clerk.get("/orders", {"date_from": "yesterday"}).status_code < 500
    assert 400 <= as_clerk.post(f"/orders/{order.pk}/refund", {"reason": 3}).status_code < 500
    assert as_clerk.post("/pickup/verify", raw=b"{bad", content_type="application/json").status_code == 400
    assert anonymous.get("/orders").status_code == 401
