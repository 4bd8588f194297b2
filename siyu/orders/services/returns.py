"""Returns (退货退款): a store manager (or HQ) takes back an order that was already picked up, in whole.

An order picked up (in whole or in part) can no longer be refunded the ordinary way (``transitions.refund``
refuses with ``picked_up``); a return is how its money comes back, and with it what the purchase earned.

Guarantees of ``return_order``:
- **Who.** Capability ``orders.return`` (HQ roles and store managers; clerks: PermissionDenied), on orders
  of the stores the caller serves (another store's order: NotFound).
- **What.** An order that was handed over (``picked_up``, or ``paid``/``ready`` with some line already
  picked up), with something paid (``total_fen`` > 0). The whole order is returned; there is no per-line
  return. The money goes back the way it came: online orders through the payment provider with the order's
  fixed refund number (``refund_provider.refund_number``: the provider refunds an order at most once); orders
  paid by a tender (the stored-value balance) go back to it through the tender (``siyu.orders.tenders``);
  orders paid at pickup are "refunded at the counter" — the clerk gives the cash back and the return
  records it.
- **Stock.** Goods handed over and brought back are *not* put back into stock automatically: staff check
  them and correct the stock by hand (catalog stock adjustment). What was never handed over (a part-picked
  order's remainder) goes back as on any ending (``release_order_stock``).
- **Once.** The order's row is locked and its status claimed by a conditional UPDATE (→ ``refunded``);
  ``OrderReturn`` is one-to-one with the order, so two managers returning at once give one return and one
  provider call; the second gets Conflict ``already_returned``. The same staff member's retry with the same
  idempotency key (``client_key``: scoped to that staff member and order) answers the first return; the same
  key for a different request is Conflict ``idempotency_mismatch``.
- **Together.** The ``refunded`` hooks run inside the same transaction (loyalty claws back the purchase
  points, spent ones becoming debt; coupons come back when their rule allows), with an ``OrderTransition``,
  an audit entry ``order.return`` and the event ``order.returned``. A provider refusal or outage rolls all of
  it back (Conflict ``refund_refused`` / ChannelUnavailable) and a later attempt retries.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch, request_hash
from siyu.common.validators import clean_idempotency_key
from siyu.orders import hooks
from siyu.orders.models import Order, OrderReturn, OrderStatus
from siyu.orders.services.queries import get_order
from siyu.orders.services.refund_provider import refund_number, refund_through_provider
from siyu.orders.services.transitions import MAX_REASON, release_order_stock, transition
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, has_capability
from siyu.org.services.audit import record_audit

S = OrderStatus
RETURNABLE_FROM = (S.PICKED_UP, S.PAID, S.READY)


def _clean_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason.strip()) > MAX_REASON:
        raise ValidationFailed(_("Give a reason (up to 200 characters)."), field="reason")
    return reason.strip()


def returnable(order: Order) -> bool:
    """Whether ``order`` may be returned now (a page uses it to offer the action; the service decides)."""
    return (
        order.total_fen > 0
        and order.status in RETURNABLE_FROM
        and (order.status == S.PICKED_UP or order.lines.filter(picked_quantity__gt=0).exists())
    )


def can_return(staff: Staff, order: Order) -> bool:
    return has_capability(staff, "orders.return") and returnable(order)


def return_order(staff: Staff, order_id: Any, reason: Any, *, key: Any) -> OrderReturn:
    """Return ``order_id`` in whole and give its money back (see module guarantees)."""
    check_capability(staff, "orders.return")
    reason = _clean_reason(reason)
    clean_key = clean_idempotency_key(key)
    order = get_order(staff, order_id)  # NotFound outside the caller's stores
    stored_key = client_key(actor_ref("staff", staff.pk), "order.return", order.pk, clean_key)
    digest = request_hash(order.pk, reason)
    with transaction.atomic():
        # Concurrent returns of one order queue here, then see the first one's result.
        locked = Order.objects.select_for_update().filter(pk=order.pk).first()
        if locked is None:
            raise NotFound(_("No such order."), field="order")
        order = locked
        existing = OrderReturn.objects.filter(order=order).first()
        if existing is not None:
            if existing.idempotency_key == stored_key:
                if existing.request_hash != digest:
                    raise mismatch()
                return existing
            raise Conflict(_("This order was already returned."), field="order", code="already_returned")
        if OrderReturn.objects.filter(idempotency_key=stored_key).exists():
            raise mismatch()
        if order.total_fen <= 0:
            raise Conflict(
                _("Nothing was paid for this order, so there is no money to give back."),
                field="order",
                code="nothing_paid",
            )
        picked = order.lines.filter(picked_quantity__gt=0).exists()
        if order.status not in RETURNABLE_FROM:
            raise Conflict(
                _("Only orders that were picked up can be returned."), field="order", code="not_returnable"
            )
        if not picked:
            raise Conflict(
                _("Nothing of this order was picked up yet: refund it instead of returning it."),
                field="order",
                code="not_picked_up",
            )
        from_status = order.status
        transition(order, S.REFUNDED, allowed_from=(from_status,), actor=staff, reason=reason)
        if order.paid_by_tender:
            method = OrderReturn.Method.TENDER
        else:
            method = OrderReturn.Method.PROVIDER if order.paid_online else OrderReturn.Method.COUNTER
        refund_status = ""
        if method != OrderReturn.Method.COUNTER:
            result = refund_through_provider(order, reason)
            refund_status = str(getattr(result, "status", ""))[:32]
        made = OrderReturn.objects.create(
            order=order,
            staff=staff,
            reason=reason,
            method=method,
            amount_fen=order.total_fen,
            refund_status=refund_status,
            idempotency_key=stored_key,
            request_hash=digest,
        )
        if order.lines.filter(picked_quantity__lt=F("quantity")).exists():
            release_order_stock(order)  # only what was never handed over
        hooks.fire("refunded", order)
        record_audit(
            staff,
            "order.return",
            target_type="order",
            target_id=order.pk,
            store_id=order.store_id,
            detail={
                "amount_fen": order.total_fen,
                "reason": reason,
                "from_status": from_status,
                "method": method,
                "refund_status": refund_status,
                "out_refund_no": refund_number(order) if method == OrderReturn.Method.PROVIDER else "",
            },
        )
        record_event(
            "order.returned",
            member_id=order.member_id,
            store_id=order.store_id,
            payload={"order_id": order.pk, "amount_fen": order.total_fen, "method": method},
        )
    return made
