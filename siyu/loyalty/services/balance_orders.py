"""Paying mall orders with stored value: loyalty's "balance" tender (``siyu.orders.tenders``).

orders calls these inside its own transactions (``tender_pay.pay_with_tender`` when the member chose
余额支付 at checkout; ``refund_provider.refund_through_provider`` on a staff refund, a return or an
automatic refund), with keys fixed per order — so the order's status and the balance move together, once:

- ``settle_order``: ``stored_value.pay`` of the order's total (source ``order``, reference the order id) at
  the order's pickup store; InsufficientBalance (409 ``insufficient_balance``) refuses the payment and with
  it the order placed in the same transaction.
- ``refund_order``: ``stored_value.refund_payment`` of that payment in whole — principal back to principal,
  bonus back to bonus (bonus whose grant expired meanwhile is not put back, ADR 0015).
"""

from __future__ import annotations

from siyu.loyalty.services import stored_value
from siyu.orders.models import Order, PaymentMethod

METHOD = PaymentMethod.BALANCE.value
SOURCE = "order"


def settle_order(order: Order, key: str) -> None:
    stored_value.pay(
        order.member,
        order.total_fen,
        key=key,
        store=order.store,
        source=SOURCE,
        source_ref=str(order.pk),
    )


def refund_order(order: Order, key: str) -> None:
    stored_value.refund_payment(
        (SOURCE, order.pk),
        order.total_fen,
        key=key,
        member=order.member,
        reason=f"order {order.pk} refunded",
    )
