"""Catalog services: HQ-only products and SKUs, publication targeting, store opt-out, stock that never
goes negative, idempotent stock changes, store scope; a stateful hypothesis test and a PostgreSQL race."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from siyu.catalog.models import Product, Publication, Sku, StockMovement, StoreListing
from siyu.catalog.services import products as product_services
from siyu.catalog.services import publication, queries, stock
from siyu.catalog.services.stock import InsufficientStock
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.common.idempotency import system_key
from siyu.org.models import AuditEntry
from siyu.tooling.demo.catalog import seed_catalog_demo
from tests.factories import BrandFactory, RegionFactory, StaffFactory, StoreFactory, listing_for, make_product


def key() -> str:
    return uuid.uuid4().hex


def skey() -> str:
    """A key as Siyu makes for its own reservations and releases."""
    return system_key("test", uuid.uuid4().hex)


@pytest.fixture
def product(hq_admin):
    return make_product(hq_admin, codes=("CUP-W", "CUP-B"))


@pytest.fixture
def published(hq_admin, product, store_a, store_b):
    publication.publish(hq_admin, product.pk, scope="all")
    return product


@pytest.fixture
def listing_a(published, store_a):
    return listing_for(store_a, published.skus.order_by("id").first())


@pytest.fixture
def listing_b(published, store_b):
    return listing_for(store_b, published.skus.order_by("id").first())


def movement_sum(listing) -> int:
    return StockMovement.objects.filter(listing=listing).aggregate(s=Sum("delta"))["s"] or 0


# --- products and SKUs ---------------------------------------------------------------------------


def test_hq_creates_product_with_skus_audited(hq_operator, brand):
    product = make_product(hq_operator, codes=("A1", "A2"))
    assert product.brand == brand and product.is_hot and product.tags == ["北欧"]
    assert list(product.skus.values_list("code", flat=True)) == ["A1", "A2"]
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"product.create", "sku.create"} <= actions


@pytest.mark.parametrize("role_fixture", ["clerk_a", "manager_a"])
def test_store_roles_cannot_manage_products(request, role_fixture, product):
    staff = request.getfixturevalue(role_fixture)
    with pytest.raises(PermissionDenied):
        make_product(staff, codes=("X1",))
    with pytest.raises(PermissionDenied):
        product_services.update_product(staff, product.pk, {"name": "改名"})
    with pytest.raises(PermissionDenied):
        product_services.create_sku(staff, product.pk, {"code": "X2", "price_fen": 100})
    with pytest.raises(PermissionDenied):
        publication.publish(staff, product.pk, scope="all")
    # but they may read the catalog
    assert queries.products(staff).filter(pk=product.pk).exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"code": "P1", "price_fen": 0}, "price_fen"),
        ({"code": "P1", "price_fen": 39.9}, "price_fen"),
        ({"code": "P1", "price_fen": "3990"}, "price_fen"),
        ({"code": "P1", "price_fen": True}, "price_fen"),
        ({"code": "P1", "price_fen": 100, "member_price_fen": 101}, "member_price_fen"),
        ({"code": "bad code", "price_fen": 100}, "code"),
        ({"code": "P1", "price_fen": 100, "colour": "red"}, "colour"),
    ],
)
def test_sku_validation(hq_admin, product, data, field):
    with pytest.raises(ValidationFailed) as exc:
        product_services.create_sku(hq_admin, product.pk, data)
    assert exc.value.field == field
    assert not Sku.objects.filter(code="P1").exists()


def test_sku_code_unique_and_nothing_written(hq_admin, product):
    with pytest.raises(Conflict):
        product_services.create_sku(hq_admin, product.pk, {"code": "cup-w", "price_fen": 100})
    with pytest.raises(Conflict):
        make_product(hq_admin, "另一个", codes=("NEW-1", "CUP-B"))
    assert not Product.objects.filter(name="另一个").exists()
    assert not Sku.objects.filter(code="NEW-1").exists()


def test_update_sku_member_price_checked_against_new_price(hq_admin, product):
    sku = product.skus.first()
    with pytest.raises(ValidationFailed):
        product_services.update_sku(hq_admin, sku.pk, {"price_fen": 100})  # member price 3500 > 100
    updated = product_services.update_sku(hq_admin, sku.pk, {"price_fen": 4900, "member_price_fen": None})
    assert updated.price_fen == 4900 and updated.member_price_fen is None


def test_product_validation(hq_admin):
    with pytest.raises(ValidationFailed) as exc:
        product_services.create_product(hq_admin, {"name": "x" * 101})
    assert exc.value.field == "name"
    with pytest.raises(ValidationFailed) as exc:
        product_services.create_product(hq_admin, {"name": "杯", "tags": "北欧"})
    assert exc.value.field == "tags"
    with pytest.raises(ValidationFailed) as exc:
        product_services.create_product(hq_admin, {"name": "杯", "image_url": "javascript:alert(1)"})
    assert exc.value.field == "image_url"


# --- publication ----------------------------------------------------------------------------------


def test_publish_all_creates_listings_idempotently(hq_admin, product, store_a, store_b):
    publication.publish(hq_admin, product.pk, scope="all")
    assert StoreListing.objects.count() == 4  # 2 SKUs × 2 stores
    listing = StoreListing.objects.first()
    assert listing is not None and listing.listed and listing.stock == 0
    stock.set_stock(hq_admin, listing.pk, 7, idempotency_key=key())
    publication.publish(hq_admin, product.pk, scope="all")
    assert StoreListing.objects.count() == 4
    listing.refresh_from_db()
    assert listing.stock == 7  # publishing again keeps the store's stock


def test_publish_to_region(hq_admin, product, brand):
    east = RegionFactory(brand=brand, code="east")
    west = RegionFactory(brand=brand, code="west")
    s_east = StoreFactory(brand=brand, region=east)
    s_west = StoreFactory(brand=brand, region=west)
    publication.publish(hq_admin, product.pk, scope="region", region_id=east.pk)
    assert set(StoreListing.objects.values_list("store_id", flat=True)) == {s_east.pk}
    assert queries.available_listings(s_east.pk).count() == 2
    assert queries.available_listings(s_west.pk).count() == 0


def test_publish_to_chosen_stores(hq_admin, product, store_a, store_b):
    publication.publish(hq_admin, product.pk, scope="stores", store_ids=[store_b.pk])
    assert set(StoreListing.objects.values_list("store_id", flat=True)) == {store_b.pk}
    assert queries.available_listings(store_a.pk).count() == 0
    assert queries.available_listings(store_b.pk).count() == 2


def test_publish_validation(hq_admin, product, store_a):
    other_brand_store = StoreFactory(brand=BrandFactory(code="other"))
    with pytest.raises(ValidationFailed):
        publication.publish(hq_admin, product.pk, scope="everywhere")
    with pytest.raises(ValidationFailed):
        publication.publish(hq_admin, product.pk, scope="region", region_id=None)
    with pytest.raises(ValidationFailed):
        publication.publish(hq_admin, product.pk, scope="stores", store_ids=[])
    with pytest.raises(ValidationFailed):
        publication.publish(
            hq_admin, product.pk, scope="stores", store_ids=[store_a.pk, other_brand_store.pk]
        )
    assert not Publication.objects.exists() and not StoreListing.objects.exists()


def test_new_sku_of_published_product_gets_listings(hq_admin, published, store_a, store_b):
    sku = product_services.create_sku(hq_admin, published.pk, {"code": "CUP-G", "price_fen": 4200})
    assert set(StoreListing.objects.filter(sku=sku).values_list("store_id", flat=True)) == {
        store_a.pk,
        store_b.pk,
    }


def test_withdraw_hides_but_keeps_stock(hq_admin, published, store_a, listing_a):
    stock.set_stock(hq_admin, listing_a.pk, 5, idempotency_key=key())
    pub = Publication.objects.get()
    publication.withdraw(hq_admin, pub.pk)
    assert queries.available_listings(store_a.pk).count() == 0
    listing_a.refresh_from_db()
    assert listing_a.stock == 5
    publication.withdraw(hq_admin, pub.pk)  # idempotent
    publication.publish(hq_admin, published.pk, scope="stores", store_ids=[store_a.pk])
    assert queries.available_listings(store_a.pk).count() == 2


# --- availability ---------------------------------------------------------------------------------


def test_store_opt_out_hides_from_available(clerk_a, published, store_a, store_b, listing_a):
    assert listing_a in queries.available_listings(store_a.pk)
    stock.set_listed(clerk_a, listing_a.pk, False)
    assert listing_a not in queries.available_listings(store_a.pk)
    assert queries.available_listings(store_a.pk).count() == 1
    assert queries.available_listings(store_b.pk).count() == 2  # only store A opted out
    assert AuditEntry.objects.filter(action="listing.delist", store_id=store_a.pk).count() == 1
    stock.set_listed(clerk_a, listing_a.pk, False)  # unchanged: no second audit row
    assert AuditEntry.objects.filter(action="listing.delist").count() == 1


def test_inactive_product_or_sku_not_available(hq_admin, published, store_a, listing_a):
    product_services.update_sku(hq_admin, listing_a.sku_id, {"active": False})
    assert queries.available_listings(store_a.pk).count() == 1
    product_services.update_product(hq_admin, published.pk, {"active": False})
    assert queries.available_listings(store_a.pk).count() == 0


def test_available_in_stock_only(hq_admin, published, store_a, listing_a):
    stock.set_stock(hq_admin, listing_a.pk, 3, idempotency_key=key())
    assert list(queries.available_listings(store_a.pk, in_stock_only=True)) == [listing_a]
    assert queries.available_listings(999_999).count() == 0


# --- stock ---------------------------------------------------------------------------------------


def test_adjust_never_negative(clerk_a, listing_a):
    stock.set_stock(clerk_a, listing_a.pk, 2, idempotency_key=key())
    with pytest.raises(InsufficientStock) as exc:
        stock.adjust_stock(clerk_a, listing_a.pk, -3, reason="adjust", idempotency_key=key())
    assert exc.value.status == 409 and exc.value.code == "insufficient_stock"
    listing_a.refresh_from_db()
    assert listing_a.stock == 2
    movement = stock.adjust_stock(clerk_a, listing_a.pk, -2, reason="sale", idempotency_key=key())
    assert movement.stock_after == 0 and movement.staff == clerk_a
    assert StockMovement.objects.filter(listing=listing_a).count() == 2
    assert movement_sum(listing_a) == 0


def test_set_and_adjust_are_idempotent(clerk_a, listing_a):
    k = key()
    first = stock.set_stock(clerk_a, listing_a.pk, 10, idempotency_key=k)
    again = stock.set_stock(clerk_a, listing_a.pk, 10, idempotency_key=k)
    assert first.pk == again.pk
    k2 = key()
    a1 = stock.adjust_stock(clerk_a, listing_a.pk, -4, reason="adjust", idempotency_key=k2)
    a2 = stock.adjust_stock(clerk_a, listing_a.pk, -4, reason="adjust", idempotency_key=k2)
    assert a1.pk == a2.pk and a1.stock_after == 6
    listing_a.refresh_from_db()
    assert listing_a.stock == 6 and StockMovement.objects.filter(listing=listing_a).count() == 2
    with pytest.raises(Conflict) as exc:
        stock.adjust_stock(clerk_a, listing_a.pk, -5, reason="adjust", idempotency_key=k2)
    assert exc.value.code == "idempotency_mismatch"


def test_stock_validation(clerk_a, listing_a):
    with pytest.raises(ValidationFailed):
        stock.set_stock(clerk_a, listing_a.pk, -1, idempotency_key=key())
    with pytest.raises(ValidationFailed):
        stock.set_stock(clerk_a, listing_a.pk, 5, idempotency_key="")
    with pytest.raises(ValidationFailed):
        stock.adjust_stock(clerk_a, listing_a.pk, 0, reason="adjust", idempotency_key=key())
    with pytest.raises(ValidationFailed):
        stock.adjust_stock(clerk_a, listing_a.pk, 2, reason="sale", idempotency_key=key())
    with pytest.raises(ValidationFailed):
        stock.adjust_stock(clerk_a, listing_a.pk, 2, reason="reserve", idempotency_key=key())
    assert not StockMovement.objects.exists()


def test_clerk_cannot_touch_other_store(clerk_a, listing_b):
    with pytest.raises(NotFound):
        stock.set_listed(clerk_a, listing_b.pk, False)
    with pytest.raises(NotFound):
        stock.set_stock(clerk_a, listing_b.pk, 5, idempotency_key=key())
    with pytest.raises(NotFound):
        stock.adjust_stock(clerk_a, listing_b.pk, 5, reason="adjust", idempotency_key=key())
    with pytest.raises(NotFound):
        queries.store_listings(clerk_a, listing_b.store_id)
    listing_b.refresh_from_db()
    assert listing_b.listed and listing_b.stock == 0


def test_reserve_and_release(hq_admin, listing_a):
    stock.set_stock(hq_admin, listing_a.pk, 3, idempotency_key=key())
    k = skey()
    m = stock.reserve_stock(listing_a.pk, 2, ref="order-1", idempotency_key=k)
    assert m.delta == -2 and m.stock_after == 1 and m.ref == "order-1" and m.staff is None
    assert stock.reserve_stock(listing_a.pk, 2, ref="order-1", idempotency_key=k).pk == m.pk
    with pytest.raises(InsufficientStock):
        stock.reserve_stock(listing_a.pk, 2, ref="order-2", idempotency_key=skey())
    r = stock.release_stock(listing_a.pk, 2, ref="order-1", idempotency_key=skey())
    assert r.stock_after == 3
    listing_a.refresh_from_db()
    assert listing_a.stock == 3 == movement_sum(listing_a)


def test_reserve_refuses_unavailable(clerk_a, hq_admin, listing_a):
    stock.set_stock(hq_admin, listing_a.pk, 3, idempotency_key=key())
    stock.set_listed(clerk_a, listing_a.pk, False)
    with pytest.raises(Conflict) as exc:
        stock.reserve_stock(listing_a.pk, 1, ref="o", idempotency_key=skey())
    assert exc.value.code == "unavailable"
    with pytest.raises(NotFound):
        stock.reserve_stock(10**9, 1, ref="o", idempotency_key=skey())


# --- demo ----------------------------------------------------------------------------------------


def test_seed_catalog_demo(brand, store_a, store_b):
    summary = seed_catalog_demo(brand, seed=3)
    assert 25 <= summary.products <= 35 and summary.skus >= summary.products
    assert Product.objects.filter(is_hot=True).count() >= 3
    prices = list(Sku.objects.values_list("price_fen", flat=True))
    assert min(prices) >= 990 and max(prices) <= 39900
    assert StoreListing.objects.filter(listed=False).count() == 2
    assert StoreListing.objects.filter(stock__gt=80).count() == 0
    for listing in StoreListing.objects.all()[:20]:
        assert listing.stock == movement_sum(listing)
    available_a = queries.available_listings(store_a.pk).count()
    available_b = queries.available_listings(store_b.pk).count()
    assert available_a + 2 == available_b == summary.skus
    assert seed_catalog_demo(brand, seed=3).products == 0  # second run does nothing


# --- stateful: stock equals the sum of movements and never goes negative -------------------------


@pytest.mark.django_db
def test_stock_state_machine(brand, hq_admin, store_a):
    product = make_product(hq_admin, "状态机杯", codes=("SM-1",))
    publication.publish(hq_admin, product.pk, scope="all")
    listing = StoreListing.objects.get(store=store_a)

    class StockMachine(RuleBasedStateMachine):
        @initialize()
        def reset(self) -> None:
            StockMovement.objects.filter(listing=listing).delete()
            StoreListing.objects.filter(pk=listing.pk).update(stock=0)
            self.model = 0
            self.keys: list[tuple[str, str, int]] = []

        def _do(self, kind: str, amount: int, k: str):
            if kind == "adjust":
                return stock.adjust_stock(hq_admin, listing.pk, amount, reason="adjust", idempotency_key=k)
            if kind == "reserve":
                return stock.reserve_stock(listing.pk, amount, ref="o", idempotency_key=k)
            return stock.release_stock(listing.pk, amount, ref="o", idempotency_key=k)

        def _key(self, kind: str) -> str:
            return key() if kind == "adjust" else skey()

        @rule(
            kind=st.sampled_from(["adjust", "reserve", "release"]),
            amount=st.integers(min_value=-20, max_value=20).filter(bool),
        )
        def change(self, kind: str, amount: int) -> None:
            if kind != "adjust":
                amount = abs(amount)
            delta = -amount if kind == "reserve" else amount
            k = self._key(kind)
            try:
                self._do(kind, amount, k)
            except InsufficientStock:
                assert self.model + delta < 0
                return
            assert self.model + delta >= 0
            self.model += delta
            self.keys.append((kind, k, amount))

        @rule(data=st.data())
        def retry(self, data) -> None:
            if not self.keys:
                return
            kind, k, amount = data.draw(st.sampled_from(self.keys))
            self._do(kind, amount, k)  # a retry changes nothing

        @invariant()
        def consistent(self) -> None:
            current = StoreListing.objects.get(pk=listing.pk).stock
            assert current == self.model
            assert current >= 0
            assert current == movement_sum(listing)

    StockMachine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    StockMachine.TestCase().runTest()


# --- PostgreSQL: concurrent reservations never oversell ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_oversell():
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency needs PostgreSQL")
    brand = BrandFactory()
    store = StoreFactory(brand=brand)
    admin = StaffFactory(brand=brand, role="hq_admin")
    product = make_product(admin, "抢购杯", codes=("RACE-1",))
    publication.publish(admin, product.pk, scope="all")
    listing = StoreListing.objects.get(store=store)
    stock.set_stock(admin, listing.pk, 10, idempotency_key=key())

    threads_n = 20
    barrier = threading.Barrier(threads_n)
    results: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            barrier.wait()
            try:
                stock.reserve_stock(listing.pk, 1, ref=f"order-{i}", idempotency_key=system_key("race", i))
                outcome = "ok"
            except InsufficientStock:
                outcome = "insufficient"
            except Exception as exc:  # reported in the assertion below
                outcome = f"error: {exc!r}"
            with lock:
                results.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results).count("ok") == 10, results
    assert results.count("insufficient") == 10, results
    listing.refresh_from_db()
    assert listing.stock == 0
    assert StockMovement.objects.filter(listing=listing, reason="reserve").count() == 10
    assert movement_sum(listing) == 0
