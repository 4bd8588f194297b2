"""Order state machine.

Guarantees: a transition happens only from its allowed states, decided by one conditional UPDATE
(``UPDATE … WHERE status = <current>``), so two concurrent transitions of one order never both succeed.
Each successful transition writes an ``OrderTransition`` and an event in the same transaction; a refused
one changes nothing. Stock reserved by an order goes back exactly once when it is cancelled, expires or is
refunded (idempotent release keys per line).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.catalog.services.stock import release_stock
from siyu.channels.payments import PaymentError, PaymentNotice, get_payment_provider
from siyu.common.errors import ChannelUnavailable, Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import system_key
from siyu.members.models import Member
from siyu.orders import hooks
from siyu.orders.models import Order, OrderStatus, OrderTransition
from siyu.orders.services.pickup_codes import CLOSING_STATUSES, close_pickup_code, issue_pickup_code
from siyu.orders.services.queries import get_order
from siyu.orders.services.refund_provider import refund_through_provider
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit

logger = logging.getLogger("siyu.orders")

S = OrderStatus
MAX_REASON = 200


def _illegal(order: Order, to: str) -> Conflict:
    return Conflict(
        _("This order cannot go from %(from)s to %(to)s.") % {"from": order.status, "to": to},
        field="status",
        code="illegal_transition",
    )


def transition(
    order: Order,
    to: str,
    *,
    allowed_from: tuple[str, ...],
    actor: Staff | None = None,
    reason: str = "",
    extra: dict[str, Any] | None = None,
    where: dict[str, Any] | None = None,
) -> Order:
    """Move ``order`` to ``to`` if it is (still) in one of ``allowed_from``; Conflict otherwise.

    The status is re-read and claimed with a conditional UPDATE; ``order`` is refreshed in place."""
    with transaction.atomic():
        current = Order.objects.filter(pk=order.pk).values_list("status", flat=True).first()
        if current is None:
            raise NotFound(_("No such order."), field="order")
        order.status = current
        if current not in allowed_from:
            raise _illegal(order, to)
        now = timezone.now()
        updated = Order.objects.filter(pk=order.pk, status=current, **(where or {})).update(
            status=to, updated_at=now, **(extra or {})
        )
        if not updated:
            # Someone else changed the order between our read and our UPDATE.
            order.refresh_from_db()
            raise _illegal(order, to)
        OrderTransition.objects.create(
            order=order, from_status=current, to_status=to, actor=actor, reason=reason[:MAX_REASON]
        )
        if to in CLOSING_STATUSES:
            close_pickup_code(order)  # the short code is free for another pickup of the store
        order.refresh_from_db()
    return order


def release_order_stock(order: Order) -> None:
    """Give back what the order still holds (ordered minus picked up), once per line: the store listing's
    stock when the order reserved it (``holds_listing_stock``), then the ``released`` hooks — the selling
    app gives back what it holds itself (a flash sale's units). Call inside the ending transition's
    transaction."""
    if order.holds_listing_stock:
        for line in order.lines.order_by("listing_id", "id"):
            left = line.quantity - line.picked_quantity
            if left > 0:
                release_stock(
                    line.listing_id,
                    left,
                    ref=f"order:{order.pk}",
                    idempotency_key=system_key("order", order.pk, "line", line.pk, "release"),
                )
    hooks.fire("released", order)


def mark_paid(
    order: Order,
    *,
    notice: PaymentNotice | None = None,
    actor: Staff | None = None,
    at_counter: bool = False,
    tender: str | None = None,
) -> Order:
    """pending_payment → paid, once (Conflict otherwise). From a verified provider ``notice`` (whose amount
    the caller checked), for pay-at-pickup orders ``at_counter`` by the verifying clerk, or by a ``tender``
    (``siyu.orders.tenders``; only ``tender_pay.pay_with_tender`` passes it, after the tender took the money:
    the order's ``payment_method`` becomes the tender's). Issues the pickup code; runs the ``paid`` hooks;
    records ``order.paid`` with ``amount_fen``."""
    if notice is None and not at_counter and tender is None:
        raise ValidationFailed(_("A payment notice is required."), field="notice")
    with transaction.atomic():
        paid_at = (notice.success_time if notice else None) or timezone.now()
        if tender is not None:
            reason = f"paid by {tender}"
        elif at_counter:
            reason = "paid at counter"
        else:
            reason = f"notification {notice.notification_id if notice else ''}"
        transition(
            order,
            S.PAID,
            allowed_from=(S.PENDING_PAYMENT,),
            actor=actor,
            reason=reason,
            extra={"paid_at": paid_at, **({"payment_method": tender} if tender else {})},
        )
        issue_pickup_code(order)
        hooks.fire("paid", order)
        record_event(
            "order.paid",
            member_id=order.member_id,
            store_id=order.store_id,
            community_id=order.community_id,
            payload={
                "order_id": order.pk,
                "amount_fen": order.total_fen,
                "method": order.payment_method,
                "transaction_id": notice.transaction_id if notice else "",
                "at_counter": at_counter,
            },
        )
    return order


def mark_ready(staff: Staff, order_id: Any) -> Order:
    """paid → ready (goods put aside at the counter), by staff of the pickup store (NotFound otherwise).
    Audited; records ``order.ready``."""
    with transaction.atomic():
        order = get_order(staff, order_id)
        transition(order, S.READY, allowed_from=(S.PAID,), actor=staff, reason="ready")
        record_audit(staff, "order.ready", target_type="order", target_id=order.pk, store_id=order.store_id)
        record_event(
            "order.ready", member_id=order.member_id, store_id=order.store_id, payload={"order_id": order.pk}
        )
    return order


def _close_online_trade(order: Order) -> None:
    if not order.paid_online:
        return
    try:
        get_payment_provider().close_payment(order.out_trade_no)
    except PaymentError as exc:
        if exc.code in {"RESOURCE_NOT_EXISTS", "ORDER_NOT_EXIST", "ORDER_CLOSED"}:
            return  # never opened or already closed: nothing can be paid any more
        raise ChannelUnavailable(_("The payment could not be closed; try again later.")) from exc


def cancel(
    order_id: Any, *, member: Member | None = None, staff: Staff | None = None, reason: str = ""
) -> Order:
    """Cancel an unpaid order (pending_payment → cancelled), by its member or by staff of its store (another
    member's or store's order: NotFound). An online trade is closed first so it can no longer be paid.
    Stock goes back; records ``order.cancelled``."""
    if (member is None) == (staff is None):
        raise ValidationFailed(_("Give either the member or the staff member."), field="actor")
    if staff is not None:
        order = get_order(staff, order_id)
    else:
        assert member is not None
        found = (
            Order.objects.filter(pk=order_id, member=member).first() if isinstance(order_id, int) else None
        )
        if found is None:
            raise NotFound(_("No such order."), field="order")
        order = found
    if order.status != S.PENDING_PAYMENT:
        raise _illegal(order, S.CANCELLED)
    _close_online_trade(order)
    with transaction.atomic():
        transition(
            order,
            S.CANCELLED,
            allowed_from=(S.PENDING_PAYMENT,),
            actor=staff,
            reason=reason or ("cancelled by member" if member else "cancelled by staff"),
        )
        release_order_stock(order)
        hooks.fire("closed", order)
        if staff is not None:
            record_audit(
                staff, "order.cancel", target_type="order", target_id=order.pk, store_id=order.store_id
            )
        record_event(
            "order.cancelled",
            member_id=order.member_id,
            store_id=order.store_id,
            payload={"order_id": order.pk},
        )
    return order


def expire_order(order: Order, now: datetime) -> bool:
    """pending_payment past ``expires_at`` → expired with its stock released; False if someone else got
    there first (paid, cancelled or already expired)."""
    with transaction.atomic():
        updated = Order.objects.filter(pk=order.pk, status=S.PENDING_PAYMENT, expires_at__lte=now).update(
            status=S.EXPIRED, updated_at=now
        )
        if not updated:
            return False
        OrderTransition.objects.create(
            order=order, from_status=S.PENDING_PAYMENT, to_status=S.EXPIRED, reason="payment deadline passed"
        )
        order.status = S.EXPIRED
        release_order_stock(order)
        hooks.fire("closed", order)
        record_event(
            "order.expired",
            member_id=order.member_id,
            store_id=order.store_id,
            payload={"order_id": order.pk},
        )
    return True


def refund(staff: Staff, order_id: Any, reason: str) -> Order:
    """Refund a paid online order not yet picked up (paid/ready → refunded) through the payment provider, by
    staff of its store (NotFound otherwise). Pay-at-pickup orders are settled at the counter (Conflict).
    The status is claimed before the provider is called, so concurrent refunds call it once; a provider
    refusal rolls everything back. Stock goes back; runs the ``refunded`` hooks; audited; records
    ``order.refunded``."""

    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise ValidationFailed(_("Give a reason (up to 200 characters)."), field="reason")
    with transaction.atomic():
        order = get_order(staff, order_id)
        if not order.paid_online:
            raise Conflict(
                _("Orders paid at pickup are refunded at the counter."),
                field="order",
                code="refund_at_counter",
            )
        if order.lines.filter(picked_quantity__gt=0).exists():
            raise Conflict(_("Part of this order was already picked up."), field="order", code="picked_up")
        transition(order, S.REFUNDED, allowed_from=(S.PAID, S.READY), actor=staff, reason=reason.strip())
        result = refund_through_provider(order, reason.strip())
        release_order_stock(order)
        hooks.fire("refunded", order)
        record_audit(
            staff,
            "order.refund",
            target_type="order",
            target_id=order.pk,
            store_id=order.store_id,
            detail={"amount_fen": order.total_fen, "reason": reason.strip(), "refund_status": result.status},
        )
        record_event(
            "order.refunded",
            member_id=order.member_id,
            store_id=order.store_id,
            payload={"order_id": order.pk, "amount_fen": order.total_fen},
        )
    return order
