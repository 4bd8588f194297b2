"""Purchase points: credited when an order is picked up, taken back when it is refunded (debt when spent)."""

from __future__ import annotations

import pytest
from django.db import transaction

from siyu.loyalty.models import PointsEntry
from siyu.loyalty.services import points, purchase, tiers
from siyu.orders import hooks
from siyu.orders.models import OrderStatus
from siyu.orders.services.pickup import verify_pickup
from siyu.orders.services.transitions import transition
from tests.factories import (
    credit_points,
    make_product,
    place_order,
    purchase_rule,
    three_tiers,
    two_cups_at,
)


def picked_up(clerk, member, store, items):
    order = place_order(member, store, items)
    verify_pickup(clerk, order.pickup_code.short_code)
    order.refresh_from_db()
    assert order.status == OrderStatus.PICKED_UP
    return order


def refunded(order):
    """Orders refunds today only before pickup; a return after pickup will come through the same hook."""
    with transaction.atomic():
        transition(order, OrderStatus.REFUNDED, allowed_from=(OrderStatus.PICKED_UP,), reason="return")
        hooks.fire("refunded", order)


def test_points_are_credited_when_the_order_is_picked_up(brand, store_a, hq_admin, clerk_a, member_a):
    purchase_rule(brand, 2)
    cup_w, _cup_b = two_cups_at(hq_admin, store_a)
    order = place_order(member_a, store_a, [(cup_w.pk, 2)])  # 2 × 35.00 member price
    assert points.balance_of(member_a).shown == 0  # nothing before pickup
    verify_pickup(clerk_a, order.pickup_code.short_code)
    entry = PointsEntry.objects.get(source_type="order", source_id=str(order.pk))
    assert entry.points == 140 and entry.kind == PointsEntry.Kind.EARN
    # A second pickup hook run (a retry) credits nothing more.
    purchase.credit_order(order)
    assert points.balance_of(member_a).shown == 140


def test_points_earned_on_an_order_come_back_on_its_refund(brand, store_a, hq_admin, clerk_a, member_a):
    purchase_rule(brand, 1)
    cup_w, _ = two_cups_at(hq_admin, store_a)
    credit_points(member_a, 30)
    order = picked_up(clerk_a, member_a, store_a, [(cup_w.pk, 2)])
    assert points.balance_of(member_a).shown == 100
    refunded(order)
    assert points.balance_of(member_a).shown == 30
    reversal = PointsEntry.objects.get(kind=PointsEntry.Kind.REVERSE)
    assert reversal.points == -70 and reversal.source_id == str(order.pk)
    refunded_again = purchase.claw_back_order(order)  # once per earning
    assert [e.pk for e in refunded_again] == [reversal.pk]
    assert points.balance_of(member_a).shown == 30


def test_points_already_spent_become_debt_on_refund(brand, store_a, hq_admin, clerk_a, member_a):
    purchase_rule(brand, 1)
    cup_w, _ = two_cups_at(hq_admin, store_a)
    order = picked_up(clerk_a, member_a, store_a, [(cup_w.pk, 2)])
    points.spend(member_a, 50, key="sys:test:spend")
    refunded(order)
    balance = points.balance_of(member_a)
    assert (balance.balance, balance.debt, balance.shown) == (0, 50, -50)
    # The next earning pays the debt first.
    credit_points(member_a, 80)
    assert points.balance_of(member_a).shown == 30


def test_rules_by_product_store_campaign_and_the_best_rule_wins(
    brand, store_a, store_b, hq_admin, clerk_a, member_a
):
    cup_w, cup_b = two_cups_at(hq_admin, store_a)
    other = make_product(hq_admin, "香薰", codes=("AROMA",))
    purchase_rule(brand, 1)
    purchase_rule(brand, 3, name="杯子三倍", products=[cup_w.sku.product])
    purchase_rule(brand, 9, name="别的商品", products=[other])
    purchase_rule(brand, 20, name="B店", stores=[store_b])
    purchase_rule(brand, 50, name="活动", campaign_id=999)
    # CUP-W 35.00 and CUP-B 20.00 are the same product: 3 points a yuan.
    order = picked_up(clerk_a, member_a, store_a, [(cup_w.pk, 1), (cup_b.pk, 1)])
    assert points.balance_of(member_a).shown == 165
    assert PointsEntry.objects.filter(source_id=str(order.pk)).count() == 1


def test_tier_multiplier_applies_to_purchase_points(brand, store_a, hq_admin, clerk_a, member_a):
    three_tiers(brand)
    purchase_rule(brand, 1)
    cup_w, _ = two_cups_at(hq_admin, store_a)
    credit_points(member_a, 1000)
    assert tiers.evaluate(member_a).name == "金卡"
    picked_up(clerk_a, member_a, store_a, [(cup_w.pk, 2)])  # 70 yuan × 1.5
    assert points.balance_of(member_a).shown == 1105


def test_a_rule_past_its_cap_is_skipped_and_the_pickup_still_happens(
    brand, store_a, hq_admin, clerk_a, member_a
):
    purchase_rule(brand, 1, member_cap=1)
    cup_w, _ = two_cups_at(hq_admin, store_a)
    picked_up(clerk_a, member_a, store_a, [(cup_w.pk, 1)])
    second = picked_up(clerk_a, member_a, store_a, [(cup_w.pk, 1)])
    assert second.status == OrderStatus.PICKED_UP
    assert points.balance_of(member_a).shown == 35


@pytest.mark.parametrize("rule_points", [0])
def test_no_rule_no_points(brand, store_a, hq_admin, clerk_a, member_a, rule_points):
    cup_w, _ = two_cups_at(hq_admin, store_a)
    picked_up(clerk_a, member_a, store_a, [(cup_w.pk, 1)])
    assert not PointsEntry.objects.exists()
