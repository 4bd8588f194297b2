"""Automatic refunds: money paid online goes back without a staff member pressing a button.

Callers: apps above orders (e.g. a team purchase that did not come together) and a late payment — a paid
notice for an order that had already expired or was cancelled
(``siyu.orders.services.payments.apply_payment_notice``), retried by the ``order-late-refunds`` job.

Guarantees of ``refund_automatically``: the order's status is claimed by a conditional UPDATE before the
provider is called, inside one transaction with the order row locked, so concurrent callers call the provider
once; the provider's ``out_refund_no`` is fixed per order (``refund_number``), so even a repeated call after a
crash cannot refund twice; a provider failure rolls everything back (the order keeps its status and the next
attempt retries). Every refund leaves an ``OrderTransition`` with its reason, an audit entry without actor
(``order.auto_refund``) and an event.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, ServiceError, ValidationFailed
from siyu.orders import hooks
from siyu.orders.models import Order, OrderStatus, PaymentMethod, PaymentNotification
from siyu.orders.services.refund_provider import refund_number, refund_through_provider
from siyu.orders.services.transitions import MAX_REASON, release_order_stock, transition
from siyu.org.services.audit import record_audit

logger = logging.getLogger("siyu.orders")

S = OrderStatus
# Late payments are retried for this long; after that staff refund by hand (the order is logged each run).
LATE_REFUND_RETRY_WINDOW = timedelta(days=7)
BATCH = 200


def _late_payment(order: Order) -> bool:
    """Money arrived for an order that had already closed without being paid."""
    return (
        order.status in (S.CANCELLED, S.EXPIRED)
        and order.paid_at is None
        and PaymentNotification.objects.filter(order=order).exists()
    )


def refund_automatically(order: Order, *, reason: str) -> Order:
    """Refund an online-paid order in full through the payment provider, without a staff actor.

    From paid/ready (stock goes back, event ``order.refunded``) or, for a late payment, from
    cancelled/expired (the stock went back already; event ``order.late_payment_refunded``) → refunded.
    Idempotent: an order already refunded is returned unchanged. Conflict when nothing was paid online
    (``not_refundable``, ``refund_at_counter``), part of it was picked up (``picked_up``) or the provider
    refused (``refund_refused``); ChannelUnavailable when the provider could not be reached — then nothing
    changed and a later call retries."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed(_("Give a reason (up to 200 characters)."), field="reason")
    reason = reason.strip()[:MAX_REASON]
    with transaction.atomic():
        # The row lock makes a concurrent caller wait here and then see "refunded".
        locked = Order.objects.select_for_update().filter(pk=order.pk).first()
        if locked is None:
            raise NotFound(_("No such order."), field="order")
        order = locked
        if order.status == S.REFUNDED:
            return order
        late = _late_payment(order)
        if order.status not in (S.PAID, S.READY) and not late:
            raise Conflict(_("This order has no payment to refund."), field="order", code="not_refundable")
        if order.payment_method == PaymentMethod.PAY_AT_PICKUP:
            raise Conflict(
                _("Orders paid at pickup are refunded at the counter."),
                field="order",
                code="refund_at_counter",
            )
        if order.lines.filter(picked_quantity__gt=0).exists():
            raise Conflict(_("Part of this order was already picked up."), field="order", code="picked_up")
        from_status = order.status
        transition(order, S.REFUNDED, allowed_from=(from_status,), reason=reason)
        result = refund_through_provider(order, reason)
        release_order_stock(order)  # idempotent per line: a no-op when expiry/cancel gave it back already
        hooks.fire("refunded", order)
        record_audit(
            None,
            "order.auto_refund",
            target_type="order",
            target_id=order.pk,
            store_id=order.store_id,
            detail={
                "amount_fen": order.total_fen,
                "reason": reason,
                "from_status": from_status,
                "late_payment": late,
                "refund_status": result.status,
                "out_refund_no": refund_number(order),
            },
        )
        record_event(
            "order.late_payment_refunded" if late else "order.refunded",
            member_id=order.member_id,
            store_id=order.store_id,
            payload={"order_id": order.pk, "amount_fen": order.total_fen, "automatic": True},
        )
    return order


def refund_late_payment(order: Order) -> Order:
    """Refund a payment that arrived after ``order`` expired or was cancelled. A failure is logged, not
    raised (the payment notice itself was applied); ``retry_late_refunds`` tries again later."""
    try:
        return refund_automatically(order, reason="payment arrived after the order was closed")
    except ServiceError as exc:
        logger.error(
            "late payment of order %s not refunded yet (%s): %s; retried by the order-late-refunds job",
            order.pk,
            exc.code,
            exc.message,
        )
        order.refresh_from_db()
        return order


def retry_late_refunds(now: datetime | None = None) -> int:
    """Refund late payments still waiting (provider unreachable at the first attempt), notified within the
    last ``LATE_REFUND_RETRY_WINDOW``; returns how many were refunded now. Safe to run concurrently (see
    ``refund_automatically``). Run by the ``order-late-refunds`` periodic job."""
    now = now or timezone.now()
    waiting = (
        Order.objects.filter(
            status__in=(S.CANCELLED, S.EXPIRED),
            paid_at__isnull=True,
            payment_notifications__received_at__gte=now - LATE_REFUND_RETRY_WINDOW,
        )
        .exclude(payment_method=PaymentMethod.PAY_AT_PICKUP)
        .order_by("pk")
        .values_list("pk", flat=True)
        .distinct()
    )
    done = 0
    for order_id in list(waiting[:BATCH]):
        order = Order.objects.get(pk=order_id)
        if refund_late_payment(order).status == S.REFUNDED:
            done += 1
    return done
