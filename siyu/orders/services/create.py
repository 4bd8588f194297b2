"""The one place orders are made: every sale (mall checkout, flash sales, group buys…) builds its order here.

``create_order_record`` makes one order and ``create_order_records`` a batch (the flash-sale write-behind:
hundreds per transaction, bulk inserts). Both decide the same things the same way:

- the payment method (``payment_method``: the configured provider's, else pay at pickup) and the payment
  deadline (``expires_at_for``: online orders within ``PAYMENT_TIMEOUT`` of being placed, pay-at-pickup
  orders by the end of their pickup window);
- the price (``siyu.orders.pricing``: base prices, then the registered adjusters, stored as
  ``OrderAdjustment`` rows);
- the lines (in listing-id order), the listing stock each line reserves when the order holds listing stock
  (``catalog.services.stock.reserve_stock`` with system keys), the pickup code of pay-at-pickup orders;
- the ``created`` hooks and the ``order.created`` event.

They do not check who may buy what (the selling app did) nor answer idempotent retries (the caller looks the
key up first: ``checkout.create_order`` by (member, key) + request hash, the flash writer by reservation).
Call inside the caller's transaction; a failure leaves nothing behind.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from siyu.analytics.models import Event
from siyu.analytics.services.events import bulk_record_events, record_event
from siyu.catalog.models import Sku
from siyu.catalog.services.stock import reserve_stock
from siyu.channels.payments import get_payment_provider
from siyu.common.idempotency import system_key
from siyu.orders import hooks, pricing
from siyu.orders.models import Order, OrderAdjustment, OrderLine, OrderStatus, PaymentMethod, PickupCode
from siyu.orders.services.pickup_codes import issue_pickup_code, new_pickup_codes

# How long an online order may stay unpaid before ``expire_due`` gives its stock back.
PAYMENT_TIMEOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class LineRequest:
    """One line to put on an order: a store listing of ``sku`` (product loaded), how many, and the unit
    price when the selling campaign fixed it (None: the list price, then the adjusters)."""

    listing_id: int
    sku: Sku
    quantity: int
    unit_price_fen: int | None = None


@dataclass(frozen=True)
class OrderRequest:
    """Everything an order is made of, decided by the selling app."""

    member_id: int
    brand_id: int
    store_id: int
    lines: Sequence[LineRequest]
    pickup_window: tuple[datetime, datetime]
    idempotency_key: str
    request_hash: str = ""
    source: str = "mall"
    community_id: int | None = None
    campaign_id: int | None = None
    placed_at: datetime | None = None  # default: now
    holds_listing_stock: bool = True  # False: the selling app holds the units (a flash sale's allotment)
    event_extra: dict[str, Any] = field(default_factory=dict)  # more fields for ``order.created``
    options: dict[str, str] = field(default_factory=dict)  # the buyer's choices for price adjusters


def new_out_trade_no() -> str:
    """A random merchant trade number (WeChat Pay allows 6–32 characters of [A-Za-z0-9_-*])."""
    return "SY" + secrets.token_hex(15)


def payment_method() -> str:
    """How orders placed now are paid: the configured provider's method, else at pickup."""
    provider = get_payment_provider()
    return provider.name if provider.name in PaymentMethod.values else PaymentMethod.PAY_AT_PICKUP


def expires_at_for(method: str, placed_at: datetime, window_end: datetime) -> datetime:
    """When an unpaid order expires: online within PAYMENT_TIMEOUT, at pickup by the window's end."""
    return window_end if method == PaymentMethod.PAY_AT_PICKUP else placed_at + PAYMENT_TIMEOUT


def line_name(sku: Sku) -> str:
    return f"{sku.product.name} {sku.spec}".strip()[:200]


def _check(request: OrderRequest) -> None:
    if request.source not in hooks.known_sources():
        raise ValueError(f"unknown order source {request.source!r}: register it (siyu.orders.hooks)")
    listing_ids = [line.listing_id for line in request.lines]
    if not listing_ids or len(set(listing_ids)) != len(listing_ids):
        raise ValueError("an order has at least one line and one line per listing")
    start, end = request.pickup_window
    if end <= start:
        # A caller's bug (the constraint ``order_pickup_window_ordered`` would refuse it too).
        raise ValueError(f"a pickup window ends after it starts: {start.isoformat()} – {end.isoformat()}")


def _priced(request: OrderRequest) -> pricing.Priced:
    return pricing.price(
        member_id=request.member_id,
        store_id=request.store_id,
        source=request.source,
        campaign_id=request.campaign_id,
        lines=[
            pricing.PricedLine(
                listing_id=line.listing_id,
                sku=line.sku,
                quantity=line.quantity,
                base_unit_fen=line.sku.price_fen if line.unit_price_fen is None else line.unit_price_fen,
                campaign_priced=line.unit_price_fen is not None,
            )
            for line in request.lines
        ],
        options=request.options,
    )


def _unsaved(request: OrderRequest, priced: pricing.Priced, method: str, now: datetime) -> Order:
    placed_at = request.placed_at or now
    start, end = request.pickup_window
    return Order(
        brand_id=request.brand_id,
        member_id=request.member_id,
        store_id=request.store_id,
        status=OrderStatus.PENDING_PAYMENT,
        payment_method=method,
        total_fen=priced.total_fen,
        pickup_window_start=start,
        pickup_window_end=end,
        idempotency_key=request.idempotency_key,
        request_hash=request.request_hash,
        out_trade_no=new_out_trade_no(),
        expires_at=expires_at_for(method, placed_at, end),
        community_id=request.community_id,
        campaign_id=request.campaign_id,
        source=request.source,
        holds_listing_stock=request.holds_listing_stock,
    )


def _lines(order: Order, request: OrderRequest, priced: pricing.Priced) -> list[OrderLine]:
    # Fixed listing-id order: concurrent multi-line orders lock stock rows in the same order (no deadlock).
    return [
        OrderLine(
            order=order,
            listing_id=line.listing_id,
            sku=line.sku,
            name=line_name(line.sku),
            unit_price_fen=priced.unit_fen[line.listing_id],
            quantity=line.quantity,
        )
        for line in sorted(request.lines, key=lambda x: x.listing_id)
    ]


def _adjustments(order: Order, lines: list[OrderLine], priced: pricing.Priced) -> list[OrderAdjustment]:
    by_listing = {line.listing_id: line for line in lines}
    return [
        OrderAdjustment(
            order=order,
            line=by_listing[a.listing_id] if a.listing_id is not None else None,
            position=position,
            kind=a.kind,
            label=a.label,
            amount_fen=a.amount_fen,
            reference=a.reference,
        )
        for position, a in enumerate(priced.adjustments, start=1)
    ]


def _reserve(order: Order, lines: list[OrderLine]) -> None:
    for line in lines:
        reserve_stock(
            line.listing_id,
            line.quantity,
            ref=f"order:{order.pk}",
            idempotency_key=system_key("order", order.pk, "line", line.pk, "reserve"),
        )


def _payload(order: Order, request: OrderRequest) -> dict[str, Any]:
    return {
        "order_id": order.pk,
        "total_fen": order.total_fen,
        "method": order.payment_method,
        "lines": len(request.lines),
        **request.event_extra,
    }


def create_order_record(request: OrderRequest) -> Order:
    """Make one order (see module guarantees). Raises what ``reserve_stock`` raises (InsufficientStock…)
    and Conflict ``negative_total`` from pricing; then nothing was written."""
    _check(request)
    priced = _priced(request)
    method = payment_method()
    with transaction.atomic():
        order = _unsaved(request, priced, method, timezone.now())
        order.save(force_insert=True)
        lines = _lines(order, request, priced)
        for line in lines:
            line.save(force_insert=True)
        if request.holds_listing_stock:
            _reserve(order, lines)
        OrderAdjustment.objects.bulk_create(_adjustments(order, lines, priced))
        if method == PaymentMethod.PAY_AT_PICKUP:
            issue_pickup_code(order)
        hooks.fire("created", order)
        record_event(
            "order.created",
            member_id=order.member_id,
            store_id=order.store_id,
            community_id=order.community_id,
            occurred_at=request.placed_at,
            payload=_payload(order, request),
        )
    return order


def create_order_records(requests: Sequence[OrderRequest]) -> list[Order]:
    """Make many orders in one transaction with bulk inserts (the flash-sale write-behind); the same
    decisions as ``create_order_record``, the payment method decided once for the batch. Orders come back
    in the order of ``requests``. Events are added ordered by store (concurrent writers bump the daily
    counts' rows in the same order)."""
    if not requests:
        return []
    for request in requests:
        _check(request)
    method = payment_method()
    now = timezone.now()
    priced = [_priced(request) for request in requests]
    with transaction.atomic():
        orders = [_unsaved(r, p, method, now) for r, p in zip(requests, priced, strict=True)]
        Order.objects.bulk_create(orders)
        lines = [_lines(o, r, p) for o, r, p in zip(orders, requests, priced, strict=True)]
        OrderLine.objects.bulk_create([line for group in lines for line in group])
        holding = [(o, g) for o, r, g in zip(orders, requests, lines, strict=True) if r.holds_listing_stock]
        for order, group in sorted(holding, key=lambda pair: pair[1][0].listing_id):
            _reserve(order, group)
        adjustments = [
            a for o, g, p in zip(orders, lines, priced, strict=True) for a in _adjustments(o, g, p)
        ]
        if adjustments:
            OrderAdjustment.objects.bulk_create(adjustments)
        if method == PaymentMethod.PAY_AT_PICKUP:
            # The same record issue_pickup_code makes, for the whole batch at once.
            PickupCode.objects.bulk_create(new_pickup_codes(orders))
        for order in orders:
            if hooks.has_handlers("created", order.source):
                hooks.fire("created", order)
        bulk_record_events(
            [
                Event(
                    type="order.created",
                    member_id=order.member_id,
                    store_id=order.store_id,
                    community_id=order.community_id,
                    occurred_at=request.placed_at or now,
                    payload=_payload(order, request),
                )
                for request, order in sorted(
                    zip(requests, orders, strict=True), key=lambda pair: pair[1].store_id
                )
            ]
        )
    return orders
