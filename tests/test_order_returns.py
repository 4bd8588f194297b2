"""Returns (退货退款) of picked-up orders: the money goes back the way it came, the order becomes refunded and
loyalty hears it — purchase points clawed back (spent ones become debt the member sees), the coupon back or
not per its rule. Managers and HQ only, their stores only; once, even from two phones at the same instant."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.urls import reverse

from siyu.analytics.models import Event
from siyu.analytics.services.descriptions import describe_event
from siyu.catalog.models import StoreListing
from siyu.channels.payments.sandbox import _load as sandbox_trade
from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.loyalty.models import PointsEntry
from siyu.loyalty.services import points, tiers
from siyu.orders.models import Order, OrderReturn, OrderStatus, OrderTransition
from siyu.orders.services import payments, returns
from siyu.orders.services.pickup import verify_pickup
from siyu.org.models import AuditEntry
from tests.api_support import ApiClient, assert_error
from tests.factories import (
    StaffFactory,
    give_coupon,
    make_coupon_template,
    picked_up_order,
    place_order,
    purchase_rule,
    three_tiers,
    two_cups_at,
)
from tests.h5_support import member_client
from tests.race_support import needs_postgres, run_threads


@pytest.fixture
def cups(hq_admin, store_a):
    """CUP-W (39.00, member 35.00) and CUP-B (20.00) at store A, 10 in stock each."""
    return two_cups_at(hq_admin, store_a)


def key() -> str:
    return uuid.uuid4().hex


def stock(listing) -> int:
    return StoreListing.objects.get(pk=listing.pk).stock


def test_return_claws_back_spent_points_as_debt_and_refunds_online(
    sandbox, brand, store_a, clerk_a, manager_a, member_a, cups
):
    purchase_rule(brand, 1)
    coupon = give_coupon(make_coupon_template(brand, amount_fen=500, return_on_refund=True), member_a)
    order = picked_up_order(
        clerk_a, member_a, store_a, [(cups[0].pk, 2)], options={"coupons": str(coupon.pk)}
    )
    assert order.status == OrderStatus.PICKED_UP and order.total_fen == 6500  # 2 × 35.00 − 5.00
    assert points.balance_of(member_a).shown == 65
    points.spend(member_a, 40, key="sys:test:spend")  # the member spent most of it
    stock_after_pickup = stock(cups[0])

    made = returns.return_order(manager_a, order.pk, "杯子有裂纹", key=key())

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert (made.method, made.amount_fen, made.staff_id) == ("provider", 6500, manager_a.pk)
    assert sandbox_trade(order.out_trade_no)["refunded_fen"] == 6500  # one full refund, online
    balance = points.balance_of(member_a)
    assert (balance.balance, balance.debt, balance.shown) == (0, 40, -40)
    assert PointsEntry.objects.get(kind=PointsEntry.Kind.REVERSE).points == -65
    coupon.refresh_from_db()
    assert coupon.status == "available"  # its template returns it on refund
    assert stock(cups[0]) == stock_after_pickup  # returned goods are checked by staff, not restocked
    assert OrderTransition.objects.filter(order=order, to_status="refunded", actor=manager_a).exists()
    audit = AuditEntry.objects.get(action="order.return", target_id=str(order.pk))
    assert audit.actor == manager_a and audit.detail["reason"] == "杯子有裂纹"
    event = Event.objects.get(type="order.returned")
    assert describe_event(event.type, event.payload) == f"Returned order #{order.pk}; ¥65.00 given back"
    # The member sees the debt on 我的积分.
    html = member_client(member_a).get(reverse("h5:points")).content.decode()
    assert 'data-testid="points-owed"' in html and "40" in html


def test_a_coupon_whose_rule_keeps_it_is_not_given_back(
    sandbox, brand, store_a, clerk_a, manager_a, member_a, cups
):
    coupon = give_coupon(make_coupon_template(brand, amount_fen=500, return_on_refund=False), member_a)
    order = picked_up_order(
        clerk_a, member_a, store_a, [(cups[0].pk, 1)], options={"coupons": str(coupon.pk)}
    )
    returns.return_order(manager_a, order.pk, "不喜欢", key=key())
    coupon.refresh_from_db()
    assert coupon.status == "used"


def test_pay_at_pickup_order_is_refunded_at_the_counter(brand, store_a, clerk_a, manager_a, member_a, cups):
    purchase_rule(brand, 1)
    order = picked_up_order(clerk_a, member_a, store_a, [(cups[1].pk, 1)])
    assert order.payment_method == "pay_at_pickup" and points.balance_of(member_a).shown == 20
    made = returns.return_order(manager_a, order.pk, "退货", key=key())
    assert made.method == OrderReturn.Method.COUNTER and made.amount_fen == 2000
    assert points.balance_of(member_a).shown == 0


def test_part_picked_order_returns_and_gives_back_the_rest_of_the_stock(
    brand, store_a, clerk_a, manager_a, member_a, cups
):
    order = place_order(member_a, store_a, [(cups[1].pk, 3)])
    line = order.lines.get()
    verify_pickup(clerk_a, order.pickup_code.short_code, lines={line.pk: 1})
    assert stock(cups[1]) == 7
    returns.return_order(manager_a, order.pk, "退货", key=key())
    assert stock(cups[1]) == 9  # the two never handed over go back; the one returned is checked by hand


def test_hq_may_return_clerk_may_not_and_another_store_sees_nothing(
    brand, store_a, store_b, clerk_a, hq_operator, member_a, cups
):
    order = picked_up_order(clerk_a, member_a, store_a, [(cups[1].pk, 1)])
    manager_b = StaffFactory(brand=brand, username="managerb", role="store_manager", stores=[store_b])
    with pytest.raises(PermissionDenied):
        returns.return_order(clerk_a, order.pk, "退货", key=key())
    with pytest.raises(NotFound):
        returns.return_order(manager_b, order.pk, "退货", key=key())
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PICKED_UP
    returns.return_order(hq_operator, order.pk, "总部处理", key=key())
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED


def test_twice_same_key_is_the_same_return_other_key_is_refused(
    sandbox, brand, store_a, clerk_a, manager_a, member_a, cups
):
    purchase_rule(brand, 1)
    order = picked_up_order(clerk_a, member_a, store_a, [(cups[1].pk, 1)])
    k = key()
    first = returns.return_order(manager_a, order.pk, "退货", key=k)
    assert returns.return_order(manager_a, order.pk, "退货", key=k).pk == first.pk
    with pytest.raises(Conflict) as mismatch:
        returns.return_order(manager_a, order.pk, "别的理由", key=k)
    assert mismatch.value.code == "idempotency_mismatch"
    with pytest.raises(Conflict) as again:
        returns.return_order(manager_a, order.pk, "退货", key=key())
    assert again.value.code == "already_returned"
    assert sandbox_trade(order.out_trade_no)["refunded_fen"] == 2000
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.REVERSE).count() == 1
    assert Event.objects.filter(type="order.returned").count() == 1


def test_refused_returns(sandbox, brand, store_a, clerk_a, manager_a, member_a, cups):
    unpaid = place_order(member_a, store_a, [(cups[1].pk, 1)])
    with pytest.raises(Conflict) as exc:
        returns.return_order(manager_a, unpaid.pk, "退货", key=key())
    assert exc.value.code == "not_returnable"
    paid = place_order(member_a, store_a, [(cups[1].pk, 1)])
    payments.start_payment(paid, notify_url="https://example.invalid/")
    payments.apply_payment_notice(confirm_sandbox_payment(paid.out_trade_no))
    with pytest.raises(Conflict) as exc:
        returns.return_order(manager_a, paid.pk, "退货", key=key())
    assert exc.value.code == "not_picked_up"  # refund it instead
    order = picked_up_order(clerk_a, member_a, store_a, [(cups[1].pk, 1)])
    with pytest.raises(ValidationFailed):
        returns.return_order(manager_a, order.pk, "  ", key=key())
    with pytest.raises(ValidationFailed):
        returns.return_order(manager_a, order.pk, "退货", key="")


def test_console_return_on_the_order_page(client, brand, store_a, clerk_a, manager_a, member_a, cups):
    order = picked_up_order(clerk_a, member_a, store_a, [(cups[1].pk, 1)])
    client.force_login(clerk_a)
    assert (
        'data-testid="return-form"'
        not in client.get(reverse("console:order_detail", args=[order.pk])).content.decode()
    )
    client.force_login(manager_a)
    page = client.get(reverse("console:order_detail", args=[order.pk])).content.decode()
    assert 'data-testid="return-form"' in page
    url = reverse("console:order_return", args=[order.pk])
    unconfirmed = client.post(url, {"reason": "退货", "key": "k1"})
    assert unconfirmed.status_code == 302 and Order.objects.get(pk=order.pk).status == OrderStatus.PICKED_UP
    for _ in range(2):  # a double tap is the same return
        done = client.post(url, {"reason": "退货", "key": "k2", "confirm": "1"}, follow=True)
        assert done.status_code == 200
    html = done.content.decode()
    assert 'data-testid="return-done"' in html and "20.00" in html
    assert OrderReturn.objects.filter(order=order).count() == 1


def test_api_return(sandbox, brand, store_a, clerk_a, manager_a, member_a, cups):
    order = picked_up_order(clerk_a, member_a, store_a, [(cups[1].pk, 1)])
    path = f"/orders/{order.pk}/return"
    assert_error(ApiClient(clerk_a).post(path, {"reason": "x"}, headers={"Idempotency-Key": "a"}), 403)
    assert_error(ApiClient(manager_a).post(path, {"reason": "x"}), 400, field="Idempotency-Key")
    ok = ApiClient(manager_a).post(path, {"reason": "坏了"}, headers={"Idempotency-Key": "a"})
    assert ok.status_code == 200, ok.content
    body = ok.json()
    assert (
        body["order"]["status"] == "refunded" and body["method"] == "provider" and body["amount_fen"] == 2000
    )
    again = ApiClient(manager_a).post(path, {"reason": "坏了"}, headers={"Idempotency-Key": "b"})
    assert_error(again, 409, "already_returned")


@pytest.mark.django_db(transaction=True)
def test_two_managers_returning_at_once_give_one_refund(sandbox, brand, store_a, clerk_a, member_a, hq_admin):
    needs_postgres()
    cups = two_cups_at(hq_admin, store_a)
    purchase_rule(brand, 1)
    managers = [
        StaffFactory(brand=brand, username=f"mgr{i}", role="store_manager", stores=[store_a])
        for i in range(2)
    ]
    order = picked_up_order(clerk_a, member_a, store_a, [(cups[1].pk, 1)])

    def work(i: int) -> object:
        try:
            return returns.return_order(managers[i], order.pk, "退货", key=key()).pk
        finally:
            connection.close()

    outcomes = run_threads(2, work)
    done = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(done) == 1 and len(refused) == 1, outcomes
    assert refused[0].code in {"already_returned", "illegal_transition"}
    assert OrderReturn.objects.count() == 1
    assert sandbox_trade(order.out_trade_no)["refunded_fen"] == 2000
    assert PointsEntry.objects.filter(kind=PointsEntry.Kind.REVERSE).count() == 1
    assert points.balance_of(member_a).shown == 0


# --- member price by tier -----------------------------------------------------------------------------


def test_member_price_applies_without_tiers(brand, store_a, member_a, cups):
    assert place_order(member_a, store_a, [(cups[0].pk, 1)]).total_fen == 3500


def test_member_price_only_for_tiers_that_grant_it(brand, store_a, member_a, member_b, cups):
    three_tiers(brand)  # 银卡 (threshold 0) has no member prices; 金卡 and 钻石 do
    tiers.evaluate(member_a)
    assert tiers.current_tier(member_a).name == "银卡"
    assert place_order(member_a, store_a, [(cups[0].pk, 1)]).total_fen == 3900  # list price
    points.earn(member_a, 1000, key="sys:test:gold")
    assert tiers.evaluate(member_a).name == "金卡"
    order = place_order(member_a, store_a, [(cups[0].pk, 1)])
    assert order.total_fen == 3500
    assert order.adjustments.get().kind == "member_price"
    # No level held at all while the brand has levels: list price.
    assert not tiers.member_price_allowed(member_b.pk)
