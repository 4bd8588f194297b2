"""Order services: idempotent checkout with stock reservation, the state machine, expiry, payment
notifications, pickup verification by the right store only, partial pickup, and PostgreSQL races."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siyu.catalog.services.stock import InsufficientStock
from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.orders.models import Order, OrderTransition, PaymentNotification, PickupCode
from siyu.orders.services import expiry, payments, pickup, transitions
from siyu.org.models import AuditEntry
from tests.factories import MemberFactory, StaffFactory, new_key, place_order, stock_of, two_cups_at
from tests.race_support import is_postgres, run_threads


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    """CUP-W (39.00, member 35.00) and CUP-B (20.00) at store A, 10 in stock each (store B lists them too)."""
    return two_cups_at(hq_admin, store_a)


# --- checkout ----------------------------------------------------------------------------------


def test_create_is_idempotent_and_reserves_stock(member_a, store_a, listings):
    w, b = listings
    k = new_key()
    order = place_order(member_a, store_a, [(w.pk, 2), (b.pk, 1)], k)
    again = place_order(member_a, store_a, [(w.pk, 2), (b.pk, 1)], k)
    assert again.pk == order.pk and Order.objects.count() == 1
    assert order.total_fen == 2 * 3500 + 2000  # member price when set
    assert order.status == "pending_payment" and order.payment_method == "pay_at_pickup"
    assert stock_of(w) == 8 and stock_of(b) == 9
    assert PickupCode.objects.filter(order=order).exists()  # pay at pickup: code from creation


def test_insufficient_stock_rolls_back_everything(member_a, store_a, listings):
    w, b = listings
    with pytest.raises(InsufficientStock):
        place_order(member_a, store_a, [(w.pk, 2), (b.pk, 11)])
    assert Order.objects.count() == 0 and stock_of(w) == 10 and stock_of(b) == 10


def test_listing_of_other_store_is_unavailable(member_a, store_b, listings):
    with pytest.raises(Conflict):
        place_order(member_a, store_b, [(listings[0].pk, 1)])


# --- state machine ---------------------------------------------------------------------------------


def test_illegal_transitions_refused(member_a, store_a, listings, clerk_a):
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    with pytest.raises(Conflict):
        transitions.mark_ready(clerk_a, order.pk)  # not paid yet
    transitions.cancel(order.pk, member=member_a)
    assert stock_of(listings[0]) == 10
    with pytest.raises(Conflict):
        transitions.cancel(order.pk, member=member_a)
    with pytest.raises(Conflict):
        transitions.mark_paid(order, at_counter=True)
    assert stock_of(listings[0]) == 10
    assert list(OrderTransition.objects.filter(order=order).values_list("from_status", "to_status")) == [
        ("pending_payment", "cancelled")
    ]


def test_expiry_returns_stock_exactly_once(member_a, store_a, listings):
    order = place_order(member_a, store_a, [(listings[0].pk, 3)])
    assert stock_of(listings[0]) == 7
    later = order.expires_at + timedelta(seconds=1)
    assert expiry.expire_due(now=later) == 1
    assert expiry.expire_due(now=later) == 0
    order.refresh_from_db()
    assert order.status == "expired" and stock_of(listings[0]) == 10


# --- payments --------------------------------------------------------------------------------------


def test_notification_paid_once_for_three_deliveries(sandbox, member_a, store_a, listings):
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    assert order.payment_method == "sandbox"
    payments.start_payment(order, notify_url="https://example.invalid/hooks/pay/wechat/")
    notice = confirm_sandbox_payment(order.out_trade_no)
    for _ in range(3):
        assert payments.apply_payment_notice(notice).status == "paid"
    assert PaymentNotification.objects.filter(order=order).count() == 1
    assert OrderTransition.objects.filter(order=order, to_status="paid").count() == 1
    assert pickup.pickup_code_for(Order.objects.get(pk=order.pk))


def test_amount_mismatch_refused(sandbox, member_a, store_a, listings):
    import dataclasses

    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    payments.start_payment(order, notify_url="https://example.invalid/")
    notice = dataclasses.replace(confirm_sandbox_payment(order.out_trade_no), amount_fen=1)
    with pytest.raises(Conflict):
        payments.apply_payment_notice(notice)
    order.refresh_from_db()
    assert order.status == "pending_payment" and not PaymentNotification.objects.exists()


def test_refund_online_order_returns_stock(sandbox, member_a, store_a, listings, clerk_a):
    order = place_order(member_a, store_a, [(listings[0].pk, 2)])
    payments.start_payment(order, notify_url="https://example.invalid/")
    payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))
    transitions.refund(clerk_a, order.pk, "customer changed mind")
    order.refresh_from_db()
    assert order.status == "refunded" and stock_of(listings[0]) == 10
    with pytest.raises(Conflict):
        transitions.refund(clerk_a, order.pk, "again")


def test_webhook_rejects_unverifiable(client, db):
    response = client.post("/hooks/pay/wechat/", b"{}", content_type="application/json")
    assert response.status_code == 400


# --- pickup --------------------------------------------------------------------------------------


def test_pickup_only_by_pickup_store(member_a, store_a, store_b, listings, clerk_a, brand):
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    code = pickup.pickup_code_for(order)
    clerk_b = StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])
    with pytest.raises(NotFound):
        pickup.verify_pickup(clerk_b, code)
    with pytest.raises(NotFound):
        pickup.verify_pickup(clerk_a, code + "x")
    result = pickup.verify_pickup(clerk_a, code)
    assert result.completed and result.order.status == "picked_up" and result.order.paid_at
    with pytest.raises(Conflict):
        pickup.verify_pickup(clerk_a, code)
    assert AuditEntry.objects.filter(action="order.pickup", target_id=str(order.pk)).count() == 1
    assert AuditEntry.objects.filter(action="order.pickup_refused", target_id=str(order.pk)).count() == 2
    assert stock_of(listings[0]) == 9


def test_partial_pickup(member_a, store_a, listings, clerk_a):
    w, b = listings
    order = place_order(member_a, store_a, [(w.pk, 2), (b.pk, 1)])
    lw, lb = list(order.lines.order_by("listing_id"))
    code = pickup.pickup_code_for(order)
    first = pickup.verify_pickup(clerk_a, code, lines={lw.pk: 1})
    assert not first.completed and first.order.status == "paid"
    with pytest.raises(ValidationFailed):  # more than remains
        pickup.verify_pickup(clerk_a, code, lines={lw.pk: 2})
    done = pickup.verify_pickup(clerk_a, code)
    assert done.completed and done.picked == {lw.pk: 1, lb.pk: 1}
    assert done.order.status == "picked_up"


# --- PostgreSQL races ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_race_two_scans_one_success(member_a, store_a, listings, clerk_a):
    if not is_postgres():
        pytest.skip("needs PostgreSQL")
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    code = pickup.pickup_code_for(order)
    results = run_threads(2, lambda i: pickup.verify_pickup(clerk_a, code))
    assert sum(isinstance(r, pickup.PickupResult) for r in results) == 1, results
    # The loser is told "already used", whichever order the two scans ran in.
    losers = [r for r in results if not isinstance(r, pickup.PickupResult)]
    assert len(losers) == 1 and isinstance(losers[0], Conflict), results
    assert losers[0].code == "already_used", results
    assert OrderTransition.objects.filter(order=order, to_status="picked_up").count() == 1


@pytest.mark.django_db(transaction=True)
def test_race_two_typed_short_codes_one_success(member_a, store_a, listings, clerk_a):
    if not is_postgres():
        pytest.skip("needs PostgreSQL")
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    short = PickupCode.objects.get(order=order).short_code
    results = run_threads(2, lambda i: pickup.verify_pickup(clerk_a, short.lower()))
    assert sum(isinstance(r, pickup.PickupResult) for r in results) == 1, results
    losers = [r for r in results if not isinstance(r, pickup.PickupResult)]
    assert len(losers) == 1 and isinstance(losers[0], Conflict), results
    assert losers[0].code == "already_used", results


@pytest.mark.django_db(transaction=True)
def test_race_30_buyers_10_units(brand, store_a, listings, hq_admin):
    if not is_postgres():
        pytest.skip("needs PostgreSQL")
    listing = listings[0]
    members = [MemberFactory(brand=brand, home_store=store_a) for _ in range(30)]
    results = run_threads(30, lambda i: place_order(members[i], store_a, [(listing.pk, 1)]))
    assert sum(isinstance(r, Order) for r in results) == 10
    assert all(isinstance(r, Order | InsufficientStock) for r in results), results
    assert Order.objects.count() == 10 and stock_of(listing) == 0


# --- WeChat Pay notifications over HTTP (fake server) ----------------------------------------------


def _wechat_order(member, store, listing):
    order = place_order(member, store, [(listing.pk, 1)])
    assert order.payment_method == "wechatpay"
    payments.start_payment(
        order,
        notify_url="https://shop.example.com/hooks/pay/wechat/",
        payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    )
    return order


def _post(client, headers, body):
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    return client.post("/hooks/pay/wechat/", body, content_type="application/json", **meta)


def test_webhook_three_deliveries_paid_once(wechatpay, client, member_a, store_a, listings):
    order = _wechat_order(member_a, store_a, listings[0])
    headers, body = wechatpay.build_notification(wechatpay.pay(order.out_trade_no))
    for _ in range(3):
        assert _post(client, headers, body).status_code == 204
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_at is not None
    assert PaymentNotification.objects.filter(order=order).count() == 1
    assert OrderTransition.objects.filter(order=order, to_status="paid").count() == 1


def test_webhook_amount_mismatch_refused(wechatpay, client, member_a, store_a, listings):
    order = _wechat_order(member_a, store_a, listings[0])
    transaction = wechatpay.pay(order.out_trade_no)
    transaction["amount"]["total"] = transaction["amount"]["payer_total"] = 1
    headers, body = wechatpay.build_notification(transaction)
    assert _post(client, headers, body).status_code == 400
    order.refresh_from_db()
    assert order.status == "pending_payment" and not PaymentNotification.objects.exists()


def test_webhook_forged_refused(wechatpay, client, member_a, store_a, listings):
    order = _wechat_order(member_a, store_a, listings[0])
    headers, body = wechatpay.build_notification(
        wechatpay.pay(order.out_trade_no), tamper_body_after_signing=True
    )
    assert _post(client, headers, body).status_code == 400
    order.refresh_from_db()
    assert order.status == "pending_payment"
