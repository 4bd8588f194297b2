"""Online payment of orders: opening the provider's trade and applying its notifications.

Guarantees of ``apply_payment_notice`` / ``handle_payment_notification``: a notice is applied once per
``notification_id`` (duplicate deliveries answer the same order and change nothing), an order is marked
paid at most once, and a notice whose amount differs from the order total is refused (nothing recorded).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from siyu.channels.payments import PaymentKind, PaymentNotice, PaymentRequest, get_payment_provider
from siyu.common.errors import Conflict, NotFound
from siyu.orders import hooks
from siyu.orders.models import Order, OrderStatus, PaymentNotification
from siyu.orders.services.refunds import refund_late_payment
from siyu.orders.services.transitions import mark_paid

logger = logging.getLogger("siyu.orders")


def start_payment(
    order: Order,
    *,
    notify_url: str,
    payer_openid: str | None = None,
    client_ip: str | None = None,
    kind: PaymentKind = "jsapi",
) -> PaymentRequest:
    """Open (or re-open, same trade number) the provider's payment for an unpaid order and return what the
    member's page needs. Conflict when the order is no longer awaiting payment. Raises PaymentError."""
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise Conflict(_("This order is not awaiting payment."), field="order", code="not_payable")
    return get_payment_provider().create_payment(
        out_trade_no=order.out_trade_no,
        amount_fen=order.total_fen,
        description=_("Order %(id)s") % {"id": order.pk},
        payer_openid=payer_openid,
        client_ip=client_ip,
        notify_url=notify_url,
        expires_at=order.expires_at,
        kind=kind,
    )


def apply_payment_notice(notice: PaymentNotice) -> Order:
    """Apply a verified payment notice to its order (see module guarantees). NotFound for an unknown trade,
    Conflict ``amount_mismatch`` when the amount differs. A paid notice for an order that can no longer be
    paid (expired, cancelled) is recorded and refunded automatically (``refunds.refund_late_payment``: once,
    retried later by the ``order-late-refunds`` job if the provider cannot be reached); the ``late_payment``
    hooks run when such a notice is first recorded."""
    order = Order.objects.filter(out_trade_no=notice.out_trade_no).first()
    if order is None:
        raise NotFound(_("No such order."), field="out_trade_no")
    if not notice.paid:
        return order
    amount = notice.payer_total_fen if notice.amount_fen is None else notice.amount_fen
    if amount != order.total_fen:
        logger.warning(
            "payment notice %s for order %s: amount %s, total %s — refused",
            notice.notification_id,
            order.pk,
            amount,
            order.total_fen,
        )
        raise Conflict(
            _("The paid amount differs from the order total."), field="amount", code="amount_mismatch"
        )
    if not notice.notification_id:
        raise Conflict(_("The notice has no id."), field="notification_id", code="invalid_notification")
    try:
        with transaction.atomic():
            PaymentNotification.objects.create(
                provider=notice.provider,
                notification_id=notice.notification_id,
                order=order,
                amount_fen=amount,
                transaction_id=notice.transaction_id[:64],
            )
            # Locked by our insert's transaction; a concurrent different notice for the same trade loses in
            # mark_paid's conditional UPDATE and is just recorded.
            order.refresh_from_db()
            if order.status == OrderStatus.PENDING_PAYMENT:
                mark_paid(order, notice=notice)
            elif order.paid_at is None:
                logger.warning(
                    "order %s paid (notice %s) while %s: refunding automatically",
                    order.pk,
                    notice.notification_id,
                    order.status,
                )
                hooks.fire("late_payment", order)
    except IntegrityError:
        # Duplicate delivery (possibly concurrent): the first one was applied.
        if not PaymentNotification.objects.filter(notification_id=notice.notification_id).exists():
            raise
    order.refresh_from_db()
    if order.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED) and order.paid_at is None:
        # A late payment (also on a redelivery, if the first refund attempt failed): give the money back.
        order = refund_late_payment(order)
    return order


def handle_payment_notification(headers: Mapping[str, str], body: bytes) -> Order:
    """Verify a provider's HTTP notification (InvalidNotification if not genuine) and apply it."""
    notice = get_payment_provider().parse_notification(headers, body)
    return apply_payment_notice(notice)
