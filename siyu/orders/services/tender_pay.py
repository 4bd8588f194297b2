"""Paying an order with a tender (``siyu.orders.tenders``), e.g. the member's stored-value balance.

Guarantees of ``pay_with_tender``:
- **Together or not at all.** Inside one transaction with the order's row locked: the tender takes the money
  (its ``settle``), then the order goes pending_payment → paid through ``transitions.mark_paid`` (conditional
  UPDATE, ``OrderTransition``, pickup code, ``paid`` hooks, event ``order.paid``) with ``payment_method`` set
  to the tender's. A refusal of either (not enough balance, the order no longer awaiting payment) rolls both
  back. Callers that create the order in the same transaction (``checkout.create_order(tender=…)``) get "order
  placed and paid, or nothing".
- **Once.** The tender's key is fixed per order (``sys:order:<id>:tender:pay``) and the status is claimed by
  the conditional UPDATE: a second call for an order already paid by the same tender answers the order
  unchanged; two concurrent calls queue on the row lock and the second sees it paid.
- Offered before any online payment of the order started (at checkout): a trade opened at the provider is
  not closed here.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import system_key
from siyu.orders.models import Order, OrderStatus
from siyu.orders.services.transitions import mark_paid
from siyu.orders.tenders import tender_for

S = OrderStatus


def check_tender(method: str) -> None:
    """ValidationFailed unless ``method`` is a registered tender."""
    if not isinstance(method, str) or tender_for(method) is None:
        raise ValidationFailed(_("This way of paying is not available."), field="tender")


def pay_with_tender(order: Order, method: str) -> Order:
    """Pay ``order`` in full with the tender ``method`` (see module guarantees); Conflict when the order
    is not awaiting payment (``illegal_transition``) or has nothing to pay (``nothing_to_pay``), and what
    the tender raises (e.g. ``insufficient_balance``)."""
    check_tender(method)
    tender = tender_for(method)
    assert tender is not None
    with transaction.atomic():
        locked = Order.objects.select_for_update().filter(pk=order.pk).first()
        if locked is None:
            raise NotFound(_("No such order."), field="order")
        if locked.status in (S.PAID, S.READY, S.PICKED_UP) and locked.payment_method == method:
            return locked  # paid by this tender already (a retry)
        if locked.status != S.PENDING_PAYMENT:
            raise Conflict(_("This order is not awaiting payment."), field="order", code="illegal_transition")
        if locked.total_fen <= 0:
            raise Conflict(_("There is nothing to pay for this order."), field="order", code="nothing_to_pay")
        tender.settle(locked, system_key("order", locked.pk, "tender", "pay"))
        mark_paid(locked, tender=method)
    order.refresh_from_db()
    return order
