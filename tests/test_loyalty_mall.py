"""The points mall: points and stock move together or not at all; per-member limits in the database; product
items are orders paid with points that go through the usual pickup and give everything back when not picked
up; and 50 simultaneous exchanges against a balance that covers 10 make exactly 10."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from siyu.common.errors import Conflict, NotFound
from siyu.loyalty.models import Coupon, CouponSource, Exchange, MallItem, PointsEntry
from siyu.loyalty.services import mall, points, tiers
from siyu.loyalty.services.points import InsufficientPoints
from siyu.orders.models import OrderStatus, PaymentMethod
from siyu.orders.services import transitions
from siyu.orders.services.pickup import verify_pickup
from tests.factories import (
    MemberFactory,
    credit_points,
    make_coupon_template,
    mall_product_item,
    purchase_rule,
    set_stock,
    stock_of,
    three_tiers,
    two_cups_at,
)
from tests.race_support import needs_postgres, run_pooled


@pytest.fixture
def cups(hq_admin, store_a):
    return two_cups_at(hq_admin, store_a)


@pytest.fixture
def item(brand, cups):
    return mall_product_item(brand, cups[0].sku, points_price=100, stock=3)


def item_stock(item):
    return MallItem.objects.get(pk=item.pk).stock


def test_exchange_for_a_product_places_a_zero_total_order_picked_up_as_usual(
    brand, store_a, clerk_a, member_a, item, cups, settings
):
    settings.SIYU_PAYMENT_PROVIDER = "sandbox"  # even with online payment, nothing is left to pay online
    purchase_rule(brand, 1)
    credit_points(member_a, 250)
    row = mall.exchange(member_a, item.pk, key="x1")
    order = row.order
    assert order.source == "points_mall" and order.total_fen == 0
    assert order.payment_method == PaymentMethod.PAY_AT_PICKUP
    assert [a.kind for a in order.adjustments.all()] == ["member_price", "points"]
    assert points.balance_of(member_a).shown == 150
    assert item_stock(item) == 2 and stock_of(cups[0]) == 9
    verify_pickup(clerk_a, order.pickup_code.short_code)
    order.refresh_from_db()
    assert order.status == OrderStatus.PICKED_UP
    # Paid with points: it earns no purchase points.
    assert points.balance_of(member_a).shown == 150
    assert not PointsEntry.objects.filter(source_type="order").exists()


def test_same_key_answers_the_same_exchange(member_a, item, brand, cups):
    credit_points(member_a, 500)
    first = mall.exchange(member_a, item.pk, key="k")
    assert mall.exchange(member_a, item.pk, key="k").pk == first.pk
    other = mall_product_item(brand, cups[1].sku, points_price=10)
    with pytest.raises(Conflict) as info:
        mall.exchange(member_a, other.pk, key="k")
    assert info.value.code == "idempotency_mismatch"
    assert points.balance_of(member_a).shown == 400 and item_stock(item) == 2


def test_too_few_points_changes_nothing(member_a, item):
    credit_points(member_a, 99)
    with pytest.raises(InsufficientPoints):
        mall.exchange(member_a, item.pk, key="k")
    assert item_stock(item) == 3 and not Exchange.objects.exists()
    assert points.balance_of(member_a).shown == 99


def test_sold_out_rolls_the_spend_back(member_a, item):
    MallItem.objects.filter(pk=item.pk).update(stock=0)
    credit_points(member_a, 500)
    with pytest.raises(mall.SoldOut):
        mall.exchange(member_a, item.pk, key="k")
    assert points.balance_of(member_a).shown == 500
    assert not PointsEntry.objects.filter(kind=PointsEntry.Kind.SPEND).exists()


def test_store_out_of_stock_rolls_back_points_and_mall_stock(hq_admin, member_a, item, cups):
    set_stock(hq_admin, cups[0], 0)
    credit_points(member_a, 500)
    with pytest.raises(Conflict):
        mall.exchange(member_a, item.pk, key="k")
    assert points.balance_of(member_a).shown == 500 and item_stock(item) == 3
    assert not Exchange.objects.exists()


def test_per_member_limit_and_a_returned_exchange_frees_its_slot(member_a, member_b, brand, cups):
    limited = mall_product_item(brand, cups[0].sku, points_price=10, stock=10, member_limit=1)
    credit_points(member_a, 100)
    first = mall.exchange(member_a, limited.pk, key="a")
    with pytest.raises(mall.LimitReached):
        mall.exchange(member_a, limited.pk, key="b")
    transitions.cancel(first.order.pk, member=member_a)  # released → returned
    again = mall.exchange(member_a, limited.pk, key="c")
    assert again.slot == 1


def test_the_database_refuses_a_second_live_slot(member_a, brand, cups):
    limited = mall_product_item(brand, cups[0].sku, points_price=10, stock=10, member_limit=1)
    credit_points(member_a, 100)
    row = mall.exchange(member_a, limited.pk, key="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        Exchange.objects.create(
            item=limited, member=member_a, points=10, slot=1, member_limit=1, idempotency_key="x"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Exchange.objects.create(
            item=limited, member=member_a, points=10, slot=2, member_limit=1, idempotency_key="y"
        )
    assert row.slot == 1


def test_an_order_not_picked_up_gives_points_and_stock_back(brand, member_a, item, cups):
    three_tiers(brand)
    credit_points(member_a, 100)
    row = mall.exchange(member_a, item.pk, key="k")
    transitions.cancel(row.order.pk, member=member_a)
    row.refresh_from_db()
    assert row.status == Exchange.Status.RETURNED
    assert row.returned_entry.kind == PointsEntry.Kind.RETURN
    assert points.balance_of(member_a).shown == 100
    assert item_stock(item) == 3 and stock_of(cups[0]) == 10
    # Returned points are not earned points: no tier progress from them.
    assert tiers.earned_in_window(member_a) == 100
    mall.return_for_order(row.order)  # twice: nothing more
    assert points.balance_of(member_a).shown == 100


def test_items_of_other_stores_are_not_offered(brand, store_b, member_a, cups):
    elsewhere = mall_product_item(brand, cups[0].sku)
    elsewhere.stores.set([store_b])
    credit_points(member_a, 500)
    assert elsewhere not in mall.open_items(member_a)
    with pytest.raises(NotFound):
        mall.exchange(member_a, elsewhere.pk, key="k")


def test_exchange_for_a_coupon_and_the_coupons_refusal_rolls_back(brand, member_a, member_b):
    template = make_coupon_template(brand, name="满50减10", member_limit=1)
    coupon_item = MallItem.objects.create(
        brand=brand, kind=MallItem.Kind.COUPON, name="满50减10", points=50, stock=5, coupon_template=template
    )
    credit_points(member_a, 100)
    row = mall.exchange(member_a, coupon_item.pk, key="k")
    assert row.coupon is not None and row.coupon.member_id == member_a.pk
    assert row.coupon.source == CouponSource.EXCHANGE and row.coupon.source_ref == str(row.pk)
    assert points.balance_of(member_a).shown == 50 and item_stock(coupon_item) == 4
    # The coupon's own per-member limit refuses a second one: points and stock stay.
    with pytest.raises(Conflict):
        mall.exchange(member_a, coupon_item.pk, key="k2")
    assert points.balance_of(member_a).shown == 50 and item_stock(coupon_item) == 4
    assert Coupon.objects.filter(member=member_a).count() == 1


@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_exchanges_against_a_balance_for_ten(brand, store_a, hq_admin):
    needs_postgres()
    cups = two_cups_at(hq_admin, store_a)
    set_stock(hq_admin, cups[1], 100)
    item = mall_product_item(brand, cups[1].sku, points_price=10, stock=100)
    member = MemberFactory(brand=brand, home_store=store_a)
    credit_points(member, 100)
    outcomes = run_pooled(50, lambda i: mall.exchange(member, item.pk, key=f"race-{i}"), threads=16)
    done = [o for o in outcomes if isinstance(o, Exchange)]
    assert len(done) == 10, outcomes
    assert all(isinstance(o, Exchange | InsufficientPoints) for o in outcomes), outcomes
    assert points.balance_of(member).shown == 0
    assert item_stock(item) == 90 and stock_of(cups[1]) == 90
    assert Exchange.objects.count() == 10
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.SPEND).count() == 10


@pytest.mark.django_db(transaction=True)
def test_fifty_members_racing_for_ten_units(brand, store_a, hq_admin):
    needs_postgres()
    cups = two_cups_at(hq_admin, store_a)
    set_stock(hq_admin, cups[1], 100)
    item = mall_product_item(brand, cups[1].sku, points_price=10, stock=10)
    members = [MemberFactory(brand=brand, home_store=store_a) for _ in range(50)]
    for member in members:
        credit_points(member, 10)
    outcomes = run_pooled(50, lambda i: mall.exchange(members[i], item.pk, key="buy"), threads=16)
    assert sum(isinstance(o, Exchange) for o in outcomes) == 10, outcomes
    assert all(isinstance(o, Exchange | mall.SoldOut) for o in outcomes), outcomes
    assert item_stock(item) == 0 and stock_of(cups[1]) == 90
    assert sum(points.balance_of(m).shown for m in members) == 400
