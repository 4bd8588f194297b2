"""Idempotency keys are scoped to who sent them (ADR 0009), tried as an attacker would.

- A clerk of store A who sends stock movements on A's own listings with every key format Siyu uses for its own
  writes cannot make store B's checkout, cancellation or expiry fail.
- Two staff members (or two API tokens) that happen to use one client key do not replay each other's results.
- The same actor's same key with a different request is 409 ``idempotency_mismatch``.
- Concurrent identical requests have one effect (PostgreSQL, real parallel connections).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from siyu.catalog.models import StockMovement, StoreListing
from siyu.catalog.services import products as product_services
from siyu.catalog.services import publication, stock
from siyu.common.errors import Conflict
from siyu.members.models import Member
from siyu.orders.models import Order, OrderLine
from siyu.orders.services import checkout, expiry, transitions
from tests.api_support import ApiClient, assert_error
from tests.factories import BrandFactory, MemberFactory, StaffFactory, StoreFactory
from tests.race_support import run_threads


def key() -> str:
    return uuid.uuid4().hex


def _chain():
    brand = BrandFactory()
    store_a = StoreFactory(brand=brand, code="A001")
    store_b = StoreFactory(brand=brand, code="B001")
    admin = StaffFactory(brand=brand, username="hq", role="hq_admin")
    clerk_a = StaffFactory(brand=brand, username="clerk-a", role="clerk", stores=[store_a])
    clerk_a2 = StaffFactory(brand=brand, username="clerk-a2", role="clerk", stores=[store_a])
    product = product_services.create_product(
        admin, {"name": "陶瓷杯"}, skus=[{"code": "CUP-1", "spec": "白", "price_fen": 3900}]
    )
    publication.publish(admin, product.pk, scope="all")
    listing_a = StoreListing.objects.get(store=store_a)
    listing_b = StoreListing.objects.get(store=store_b)
    stock.set_stock(admin, listing_a.pk, 1000, idempotency_key=key())
    stock.set_stock(admin, listing_b.pk, 10, idempotency_key=key())
    member_b = MemberFactory(brand=brand, home_store=store_b, mobile="13900001111")
    return store_a, store_b, clerk_a, clerk_a2, listing_a, listing_b, member_b


def _internal_key_shapes(order_id: int, line_id: int) -> list[str]:
    """Every shape of key Siyu has used for its own stock writes, today's and earlier ones."""
    return [
        f"order-{order_id}-line-{line_id}-reserve",
        f"order-{order_id}-line-{line_id}-release",
        f"sys:order:{order_id}:line:{line_id}:reserve",
        f"sys:order:{order_id}:line:{line_id}:release",
    ]


def _next_id(model) -> int:
    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def _stock(listing) -> int:
    return StoreListing.objects.get(pk=listing.pk).stock


def _window():
    now = timezone.now()
    return (now + timedelta(hours=1), now + timedelta(hours=5))


@pytest.mark.django_db(transaction=True)
def test_clerk_of_store_a_cannot_break_store_b_with_internal_key_shapes():
    _store_a, store_b, clerk_a, _clerk_a2, listing_a, listing_b, member_b = _chain()
    api = ApiClient(clerk_a)
    # The attacker predicts the next order and line ids and sends every internal key shape as its own key,
    # through the API and straight through the service.
    next_order, next_line = _next_id(Order), _next_id(OrderLine)
    sent = 0
    for order_id in range(next_order, next_order + 4):
        for line_id in range(next_line, next_line + 4):
            for shape in _internal_key_shapes(order_id, line_id):
                r = api.post(
                    f"/listings/{listing_a.pk}/stock",
                    {"delta": -1, "reason": "adjust"},
                    headers={"Idempotency-Key": shape},
                )
                assert r.status_code == 200, r.content
                sent += 1
    assert _stock(listing_a) == 1000 - sent
    # No stored key of the attacker's lies in the system's namespace.
    stored = StockMovement.objects.filter(staff=clerk_a).values_list("idempotency_key", flat=True)
    assert stored and all(k.startswith("c:") for k in stored)

    # Store B's checkout, cancellation and expiry work as if nothing had happened.
    placed = checkout.create_order(
        member_b,
        store_id=store_b.pk,
        items=[(listing_b.pk, 2)],
        pickup_window=_window(),
        idempotency_key=key(),
    )
    assert placed.pk in range(next_order, next_order + 4)
    assert _stock(listing_b) == 8
    transitions.cancel(placed.pk, member=member_b)
    assert Order.objects.get(pk=placed.pk).status == "cancelled"
    assert _stock(listing_b) == 10

    due = checkout.create_order(
        member_b,
        store_id=store_b.pk,
        items=[(listing_b.pk, 3)],
        pickup_window=_window(),
        idempotency_key=key(),
    )
    assert _stock(listing_b) == 7
    assert expiry.expire_due(timezone.now() + timedelta(days=30)) >= 1
    assert Order.objects.get(pk=due.pk).status == "expired"
    assert _stock(listing_b) == 10
    # Store A's stock shows only the attacker's own movements: B's orders never touched it.
    assert _stock(listing_a) == 1000 - sent


@pytest.mark.django_db
def test_two_staff_members_with_one_key_do_not_replay_each_other():
    _a, _b, clerk_a, clerk_a2, listing_a, _lb, _m = _chain()
    shared = "client-key-1"
    first = stock.adjust_stock(clerk_a, listing_a.pk, -1, reason="adjust", idempotency_key=shared)
    second = stock.adjust_stock(clerk_a2, listing_a.pk, -2, reason="adjust", idempotency_key=shared)
    assert first.pk != second.pk and second.delta == -2
    assert _stock(listing_a) == 997
    # Each one's retry replays its own movement.
    assert (
        stock.adjust_stock(clerk_a, listing_a.pk, -1, reason="adjust", idempotency_key=shared).pk == first.pk
    )
    assert (
        stock.adjust_stock(clerk_a2, listing_a.pk, -2, reason="adjust", idempotency_key=shared).pk
        == second.pk
    )
    assert _stock(listing_a) == 997

    # The API's remembered responses are per actor too: two clerks create two members with one key.
    one, two = ApiClient(clerk_a), ApiClient(clerk_a2)
    store_id = listing_a.store_id
    r1 = one.post(
        "/members", {"mobile": "13900002222", "home_store": store_id}, headers={"Idempotency-Key": shared}
    )
    r2 = two.post(
        "/members", {"mobile": "13900003333", "home_store": store_id}, headers={"Idempotency-Key": shared}
    )
    assert r1.status_code == 201 and r2.status_code == 201
    assert r1.json()["id"] != r2.json()["id"]
    assert Member.objects.filter(mobile__in=["13900002222", "13900003333"]).count() == 2


@pytest.mark.django_db
def test_two_tokens_of_one_staff_member_are_two_actors():
    _a, _b, clerk_a, _c2, listing_a, _lb, _m = _chain()
    first, second = ApiClient(clerk_a), ApiClient(clerk_a)  # each creates its own token
    store_id = listing_a.store_id
    r1 = first.post(
        "/members", {"mobile": "13900004444", "home_store": store_id}, headers={"Idempotency-Key": "k"}
    )
    r2 = second.post(
        "/members", {"mobile": "13900005555", "home_store": store_id}, headers={"Idempotency-Key": "k"}
    )
    assert r1.status_code == 201 and r2.status_code == 201 and r1.json()["id"] != r2.json()["id"]


@pytest.mark.django_db
def test_same_key_with_a_different_request_is_409():
    _a, _b, clerk_a, _c2, listing_a, _lb, _m = _chain()
    api = ApiClient(clerk_a)
    path = f"/listings/{listing_a.pk}/stock"
    assert (
        api.post(path, {"delta": -1, "reason": "adjust"}, headers={"Idempotency-Key": "k1"}).status_code
        == 200
    )
    assert (
        api.post(path, {"delta": -1, "reason": "adjust"}, headers={"Idempotency-Key": "k1"}).status_code
        == 200
    )
    assert_error(
        api.post(path, {"delta": -5, "reason": "adjust"}, headers={"Idempotency-Key": "k1"}),
        409,
        "idempotency_mismatch",
    )
    assert _stock(listing_a) == 999

    store_id = listing_a.store_id
    headers = {"Idempotency-Key": "k2"}
    assert (
        api.post("/members", {"mobile": "13900006666", "home_store": store_id}, headers=headers).status_code
        == 201
    )
    assert (
        api.post("/members", {"mobile": "13900006666", "home_store": store_id}, headers=headers).status_code
        == 200
    )
    assert_error(
        api.post("/members", {"mobile": "13900007777", "home_store": store_id}, headers=headers),
        409,
        "idempotency_mismatch",
    )
    assert not Member.objects.filter(mobile="13900007777").exists()


def test_reservations_refuse_keys_outside_the_system_namespace(db):
    with pytest.raises(ValueError):
        stock.reserve_stock(1, 1, ref="o", idempotency_key="order-1-line-1-reserve")
    with pytest.raises(ValueError):
        stock.release_stock(1, 1, ref="o", idempotency_key="c:" + "0" * 64)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_identical_and_cross_actor_requests():
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")
    _a, _b, clerk_a, clerk_a2, listing_a, _lb, _m = _chain()
    shared = "parallel-key"

    def work(i: int):
        staff = clerk_a if i % 2 == 0 else clerk_a2
        return stock.adjust_stock(staff, listing_a.pk, -1, reason="adjust", idempotency_key=shared)

    outcomes = run_threads(12, work)
    errors = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, Conflict)]
    assert not errors, errors
    movements = {o.pk for o in outcomes if isinstance(o, StockMovement)}
    # Six identical requests per clerk: one effect each, two clerks: two effects.
    assert len(movements) == 2
    assert _stock(listing_a) == 998
