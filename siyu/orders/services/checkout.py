"""Placing an order in the member mall.

Guarantees of ``create_order``: the same (member, idempotency key) always answers the same order, even for
concurrent retries (the unique constraint decides); every line's stock is reserved through the catalog's
``reserve_stock`` in listing-id order inside one transaction, so the order exists with all its stock or not
at all — one short line (InsufficientStock) leaves nothing behind.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.catalog.services.queries import available_listings, member_unit_fen
from siyu.catalog.services.stock import reserve_stock
from siyu.channels.payments import get_payment_provider
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import system_key
from siyu.members.models import Member
from siyu.orders.models import Order, OrderLine, OrderSource, PaymentMethod
from siyu.orders.services.queries import pickup_store

# How long an online order may stay unpaid before ``expire_due`` gives its stock back.
PAYMENT_TIMEOUT = timedelta(minutes=15)
MAX_LINES = 50
MAX_QUANTITY = 99
MAX_KEY_LENGTH = 100
MAX_PICKUP_DAYS = 14


def _clean_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ValidationFailed(_("An idempotency key is required."), field="idempotency_key")
    key = key.strip()
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationFailed(
            _("An idempotency key has 1 to %(n)s printable ASCII characters.") % {"n": MAX_KEY_LENGTH},
            field="idempotency_key",
        )
    return key


def _clean_items(items: Any) -> dict[int, int]:
    if not isinstance(items, list | tuple) or not items:
        raise ValidationFailed(_("Choose at least one item."), field="items")
    if len(items) > MAX_LINES:
        raise ValidationFailed(_("Too many items in one order."), field="items")
    wanted: dict[int, int] = {}
    for item in items:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ValidationFailed(_("Each item is a listing and a quantity."), field="items")
        listing_id, qty = item
        for value in (listing_id, qty):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationFailed(_("Give whole numbers."), field="items")
        if not 0 < listing_id < 2**63:
            raise NotFound(_("No such item."), field="items")
        if not 1 <= qty <= MAX_QUANTITY:
            raise ValidationFailed(
                _("Quantities are between 1 and %(n)s.") % {"n": MAX_QUANTITY}, field="items"
            )
        wanted[listing_id] = wanted.get(listing_id, 0) + qty
        if wanted[listing_id] > MAX_QUANTITY:
            raise ValidationFailed(
                _("Quantities are between 1 and %(n)s.") % {"n": MAX_QUANTITY}, field="items"
            )
    return wanted


def _clean_window(window: Any, now: datetime) -> tuple[datetime, datetime]:
    if not isinstance(window, list | tuple) or len(window) != 2:
        raise ValidationFailed(_("Choose a pickup time."), field="pickup_window")
    start, end = window
    if (
        not (isinstance(start, datetime) and isinstance(end, datetime))
        or timezone.is_naive(start)
        or (timezone.is_naive(end))
    ):
        raise ValidationFailed(_("Choose a pickup time."), field="pickup_window")
    if not start < end or end <= now or start > now + timedelta(days=MAX_PICKUP_DAYS):
        raise ValidationFailed(_("Choose a pickup time in the next two weeks."), field="pickup_window")
    return start, end


def new_out_trade_no() -> str:
    """A random merchant trade number (WeChat Pay allows 6–32 characters of [A-Za-z0-9_-*])."""
    return "SY" + secrets.token_hex(15)


def create_order(
    member: Member,
    *,
    store_id: Any,
    items: Iterable[tuple[int, int]] | Any,
    pickup_window: tuple[datetime, datetime] | Any,
    idempotency_key: Any,
    community_id: int | None = None,
    campaign_id: int | None = None,
    unit_prices: dict[int, int] | None = None,
    source: str = OrderSource.MALL,
) -> Order:
    """Place ``member``'s order of ``items`` ([(listing_id, quantity)…]) for pickup at ``store_id`` within
    ``pickup_window`` (start, end). Prices are the SKU's member price when set; a campaign passes its own
    ``unit_prices`` ({listing id: fen}, positive) and ``source``. The payment method is the
    configured provider's; online orders must be paid within PAYMENT_TIMEOUT, pay-at-pickup orders by the end
    of the pickup window (then ``expire_due`` releases their stock). Idempotent by (member, key); refused
    requests (unknown store or item, unavailable item: NotFound/Conflict; not enough stock: InsufficientStock)
    change nothing. Records ``order.created``."""
    key = _clean_key(idempotency_key)
    existing = Order.objects.filter(member=member, idempotency_key=key).first()
    if existing is not None:
        return existing
    if member.erased_at is not None:
        raise NotFound(_("No such member."), field="member")
    now = timezone.now()
    wanted = _clean_items(list(items) if isinstance(items, list | tuple) else items)
    start, end = _clean_window(pickup_window, now)
    store = pickup_store(member, store_id) if isinstance(store_id, int) else None
    if store is None:
        raise NotFound(_("No such store."), field="store")
    listings = {lst.pk: lst for lst in available_listings(store.pk).filter(pk__in=list(wanted))}
    missing = set(wanted) - set(listings)
    if missing:
        raise Conflict(_("Some items are not available at this store."), field="items", code="unavailable")
    provider = get_payment_provider()
    method = provider.name if provider.name in PaymentMethod.values else PaymentMethod.PAY_AT_PICKUP
    expires_at = end if method == PaymentMethod.PAY_AT_PICKUP else now + PAYMENT_TIMEOUT
    if source not in OrderSource.values:
        raise ValidationFailed(_("Unknown order source."), field="source")
    prices = {pk: member_unit_fen(lst.sku) for pk, lst in listings.items()}
    for pk, fen in (unit_prices or {}).items():
        if pk not in prices or isinstance(fen, bool) or not isinstance(fen, int) or not 0 < fen < 2**31:
            raise ValidationFailed(_("Invalid price."), field="unit_prices")
        prices[pk] = fen
    total = sum(prices[pk] * qty for pk, qty in wanted.items())
    try:
        with transaction.atomic():
            order = Order.objects.create(
                brand_id=member.brand_id,
                member=member,
                store=store,
                payment_method=method,
                total_fen=total,
                pickup_window_start=start,
                pickup_window_end=end,
                idempotency_key=key,
                out_trade_no=new_out_trade_no(),
                expires_at=expires_at,
                community_id=community_id,
                campaign_id=campaign_id,
                source=source,
            )
            # Fixed listing-id order: concurrent multi-line orders lock rows in the same order (no deadlock).
            for listing_id in sorted(wanted):
                listing = listings[listing_id]
                line = OrderLine.objects.create(
                    order=order,
                    listing=listing,
                    sku=listing.sku,
                    name=f"{listing.sku.product.name} {listing.sku.spec}".strip()[:200],
                    unit_price_fen=prices[listing_id],
                    quantity=wanted[listing_id],
                )
                reserve_stock(
                    listing_id,
                    wanted[listing_id],
                    ref=f"order:{order.pk}",
                    idempotency_key=system_key("order", order.pk, "line", line.pk, "reserve"),
                )
            if method == PaymentMethod.PAY_AT_PICKUP:
                from siyu.orders.services.pickup import issue_pickup_code

                issue_pickup_code(order)
            record_event(
                "order.created",
                member_id=member.pk,
                store_id=store.pk,
                community_id=community_id,
                payload={"order_id": order.pk, "total_fen": total, "method": method, "lines": len(wanted)},
            )
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its order.
        existing = Order.objects.filter(member=member, idempotency_key=key).first()
        if existing is None:
            raise
        return existing
    return order
