"""Automatic refunds: late payments (a paid notice for an order that already expired or was cancelled) are
refunded once whatever the number of deliveries, an unreachable provider leaves the refund to a later retry,
and the refund number is one per order (staff and automatic refunds alike)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siyu.analytics.models import Event
from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.common.errors import Conflict, ValidationFailed
from siyu.common.periodic import run_job
from siyu.orders.models import Order, OrderTransition, PaymentNotification
from siyu.orders.services import expiry, payments, refunds, transitions
from siyu.org.models import AuditEntry
from tests.factories import place_order, stock_of, two_cups_at


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    """CUP-W (39.00, member 35.00) and CUP-B (20.00) at store A, 10 in stock each (store B lists them too)."""
    return two_cups_at(hq_admin, store_a)


NOTIFY = "https://shop.example.com/hooks/pay/wechat/"


def _wechat_order(member, store, listing, qty=1):
    order = place_order(member, store, [(listing.pk, qty)])
    payments.start_payment(order, notify_url=NOTIFY, payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    return order


def _post(client, headers, body):
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    return client.post("/hooks/pay/wechat/", body, content_type="application/json", **meta)


def _refund_calls(fake) -> list[dict]:
    return [r.json() for r in fake.requests if r.path == "/v3/refund/domestic/refunds"]


def test_late_payment_after_expiry_refunded_once_for_three_deliveries(
    wechatpay, client, member_a, store_a, listings
):
    order = _wechat_order(member_a, store_a, listings[0], qty=2)
    assert expiry.expire_due(now=order.expires_at + timedelta(seconds=1)) == 1
    assert stock_of(listings[0]) == 10
    # The member paid in WeChat just as the order expired: the notice arrives late, three times.
    headers, body = wechatpay.build_notification(wechatpay.pay(order.out_trade_no))
    for _ in range(3):
        assert _post(client, headers, body).status_code == 204
    order.refresh_from_db()
    assert order.status == "refunded" and order.paid_at is None
    calls = _refund_calls(wechatpay)
    assert len(calls) == 1 and calls[0]["out_trade_no"] == order.out_trade_no
    assert calls[0]["amount"]["refund"] == order.total_fen and len(calls[0]["out_refund_no"]) <= 32
    assert PaymentNotification.objects.filter(order=order).count() == 1
    assert list(OrderTransition.objects.filter(order=order).values_list("from_status", "to_status")) == [
        ("pending_payment", "expired"),
        ("expired", "refunded"),
    ]
    assert stock_of(listings[0]) == 10  # given back once, at expiry
    audit = AuditEntry.objects.get(action="order.auto_refund", target_id=str(order.pk))
    assert audit.actor is None and audit.detail["late_payment"] is True
    # Not counted as spend: no order.paid, and a distinct event for the refund.
    assert not Event.objects.filter(type="order.paid").exists()
    assert Event.objects.filter(type="order.late_payment_refunded").count() == 1
    assert not Event.objects.filter(type="order.refunded").exists()


def test_late_payment_after_cancel_refunded(sandbox, member_a, store_a, listings):
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    payments.start_payment(order, notify_url=NOTIFY)
    notice = confirm_sandbox_payment(order.out_trade_no)  # paid in the cashier…
    transitions.cancel(order.pk, member=member_a)  # …while the member cancelled in another tab
    done = payments.apply_payment_notice(notice)
    assert done.status == "refunded"
    assert payments.apply_payment_notice(notice).status == "refunded"
    assert OrderTransition.objects.filter(order=order, to_status="refunded").count() == 1


def test_unreachable_provider_is_retried_by_the_job(wechatpay, member_a, store_a, listings):
    order = _wechat_order(member_a, store_a, listings[0])
    later = order.expires_at + timedelta(seconds=1)
    expiry.expire_due(now=later)
    headers, body = wechatpay.build_notification(wechatpay.pay(order.out_trade_no))
    wechatpay.fail_next = (503, "SYSTEM_ERROR", "busy")
    # The notice itself is accepted (recorded); the refund waits.
    assert payments.handle_payment_notification(headers, body).status == "expired"
    assert PaymentNotification.objects.filter(order=order).count() == 1
    assert refunds.retry_late_refunds(now=later) == 1
    order.refresh_from_db()
    assert order.status == "refunded"
    assert refunds.retry_late_refunds(now=later) == 0
    assert len(wechatpay.refunds) == 1


def test_orders_job_retries_late_refunds(wechatpay, member_a, store_a, listings):
    # orders' own periodic job (``order-late-refunds``), not a campaign's, retries late refunds.
    order = _wechat_order(member_a, store_a, listings[0])
    later = order.expires_at + timedelta(seconds=1)
    expiry.expire_due(now=later)
    headers, body = wechatpay.build_notification(wechatpay.pay(order.out_trade_no))
    wechatpay.fail_next = (503, "SYSTEM_ERROR", "busy")
    payments.handle_payment_notification(headers, body)
    assert Order.objects.get(pk=order.pk).status == "expired"
    assert run_job("order-late-refunds") == 1
    assert Order.objects.get(pk=order.pk).status == "refunded"


def test_refund_automatically_rules(sandbox, member_a, store_a, listings, clerk_a):
    order = place_order(member_a, store_a, [(listings[0].pk, 2)])
    with pytest.raises(Conflict) as unpaid:
        refunds.refund_automatically(order, reason="test")
    assert unpaid.value.code == "not_refundable"
    with pytest.raises(ValidationFailed):
        refunds.refund_automatically(order, reason=" ")
    payments.start_payment(order, notify_url=NOTIFY)
    payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))
    assert stock_of(listings[0]) == 8
    done = refunds.refund_automatically(order, reason="test")
    assert done.status == "refunded" and stock_of(listings[0]) == 10
    again = refunds.refund_automatically(order, reason="test")  # idempotent: nothing more happens
    assert again.status == "refunded" and stock_of(listings[0]) == 10
    assert OrderTransition.objects.filter(order=order, to_status="refunded").count() == 1
    assert Event.objects.filter(type="order.refunded").count() == 1
    # Staff cannot refund it a second time either.
    with pytest.raises(Conflict):
        transitions.refund(clerk_a, order.pk, "again")


def test_pay_at_pickup_orders_are_not_refunded_online(member_a, store_a, listings, clerk_a):
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    transitions.mark_paid(order, actor=clerk_a, at_counter=True)
    with pytest.raises(Conflict) as counter:
        refunds.refund_automatically(order, reason="test")
    assert counter.value.code == "refund_at_counter"


def test_refund_number_is_fixed_and_short(member_a, store_a, listings):
    order = place_order(member_a, store_a, [(listings[0].pk, 1)])
    assert len(order.out_trade_no) == 32
    number = refunds.refund_number(order)
    assert number == refunds.refund_number(order) and len(number) <= 32 and number != order.out_trade_no
    order.out_trade_no = "SY123"
    assert refunds.refund_number(order) == "SY123R"


def test_staff_refund_through_wechatpay_uses_the_same_number(wechatpay, member_a, store_a, listings, clerk_a):
    order = _wechat_order(member_a, store_a, listings[0])
    headers, body = wechatpay.build_notification(wechatpay.pay(order.out_trade_no))
    payments.handle_payment_notification(headers, body)
    transitions.refund(clerk_a, order.pk, "customer changed mind")
    assert [c["out_refund_no"] for c in _refund_calls(wechatpay)] == [refunds.refund_number(order)]
    assert refunds.refund_automatically(order, reason="test").status == "refunded"
    assert len(_refund_calls(wechatpay)) == 1
