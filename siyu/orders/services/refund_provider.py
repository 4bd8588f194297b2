"""Asking the payment provider for an order's (single, full) refund."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from siyu.channels.payments import PaymentError, get_payment_provider
from siyu.common.errors import ChannelUnavailable, Conflict
from siyu.common.idempotency import system_key
from siyu.orders.models import Order, PaymentMethod
from siyu.orders.tenders import tender_for

logger = logging.getLogger("siyu.orders")

_MAX_REFUND_NO = 32  # WeChat Pay: 6–32 characters of [0-9A-Za-z_-*]


def refund_number(order: Order) -> str:
    """The provider's ``out_refund_no`` of the order's (single, full) refund: the same for every attempt,
    staff or automatic, so the provider refunds an order at most once."""
    candidate = f"{order.out_trade_no}R"
    if len(candidate) <= _MAX_REFUND_NO:
        return candidate
    return "R" + hashlib.sha256(order.out_trade_no.encode()).hexdigest()[: _MAX_REFUND_NO - 1]


@dataclass(frozen=True)
class TenderRefund:
    """What a tender's refund answers (the provider's refund result has the same ``status``)."""

    status: str = "SUCCESS"


def refund_through_provider(order: Order, reason: str) -> Any:
    """Give ``order``'s money back in full through the way it was paid. An order paid by a tender
    (``siyu.orders.tenders``, e.g. the stored-value balance) is refunded by the tender, with a key fixed per
    order (``sys:order:<id>:tender:refund``), in the caller's transaction. Otherwise the payment provider is
    asked; the refund number is fixed per order (``refund_number``), so asking again is the same refund,
    never a second one. Raises ChannelUnavailable when the provider could not be reached (retry later) and
    Conflict ``refund_refused`` when it refused (or what the tender raised)."""
    tender = tender_for(order.payment_method)
    if tender is not None:
        tender.refund(order, system_key("order", order.pk, "tender", "refund"))
        return TenderRefund()
    if order.payment_method == PaymentMethod.BALANCE:
        # Paid by a tender that is not registered any more: never send this to the provider.
        raise Conflict(_("This payment cannot be refunded now."), field="order", code="refund_refused")
    try:
        return get_payment_provider().refund(
            out_trade_no=order.out_trade_no,
            out_refund_no=refund_number(order),
            amount_fen=order.total_fen,
            total_fen=order.total_fen,
            reason=reason,
            notify_url="",
        )
    except PaymentError as exc:
        logger.warning("refund of order %s refused: %r", order.pk, exc)
        if exc.retryable:
            raise ChannelUnavailable(
                _("The payment provider could not be reached; try again later.")
            ) from exc
        raise Conflict(
            _("The payment provider refused the refund."), field="order", code="refund_refused"
        ) from exc
