"""Placing an order in the member mall (and for apps that sell through it, e.g. team purchases).

Guarantees of ``create_order``: the same (member, idempotency key) always answers the same order, even for
concurrent retries (the unique constraint decides), and the same key with a different request (another
store or cart) is refused with 409 ``idempotency_mismatch`` (the order keeps a ``request_hash``); every
line's stock is reserved through the catalog's ``reserve_stock`` in listing-id order inside one
transaction (``siyu.orders.services.create``), so the order exists with all its stock or not at all — one
short line (InsufficientStock) leaves nothing behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog.services.queries import available_listings
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import mismatch, request_hash
from siyu.common.validators import clean_idempotency_key
from siyu.members.models import Member
from siyu.orders import hooks
from siyu.orders.models import Order
from siyu.orders.services.create import LineRequest, OrderRequest, create_order_record
from siyu.orders.services.queries import pickup_store
from siyu.orders.services.tender_pay import check_tender, pay_with_tender

MAX_LINES = 50
MAX_QUANTITY = 99
MAX_PICKUP_DAYS = 14
MAX_OPTIONS = 8
MAX_OPTION_VALUE = 200
_OPTION_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


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


def clean_options(options: Any) -> dict[str, str]:
    """The buyer's choices for price adjusters (``siyu.orders.pricing``): up to 8 short lower-case keys with
    text values of up to 200 characters; orders does not interpret them."""
    if options is None:
        return {}
    if not isinstance(options, dict) or len(options) > MAX_OPTIONS:
        raise ValidationFailed(_("Invalid checkout options."), field="options")
    for name, value in options.items():
        if not isinstance(name, str) or not _OPTION_KEY.match(name):
            raise ValidationFailed(_("Invalid checkout options."), field="options")
        if not isinstance(value, str) or len(value) > MAX_OPTION_VALUE:
            raise ValidationFailed(_("Invalid checkout options."), field="options")
    return dict(options)


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


def _replay(member: Member, key: str, digest: str) -> Order | None:
    """The order this member's key already placed, if any; 409 when it was for a different request."""
    existing = Order.objects.filter(member=member, idempotency_key=key).first()
    if existing is not None and existing.request_hash and existing.request_hash != digest:
        raise mismatch()
    return existing


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
    source: str = "mall",
    options: dict[str, str] | None = None,
    tender: str | None = None,
) -> Order:
    """Place ``member``'s order of ``items`` ([(listing_id, quantity)…]) for pickup at ``store_id`` within
    ``pickup_window`` (start, end). Prices are the list price and the registered price adjusters (the
    member price first, ``siyu.orders.pricing``); a campaign passes its own ``unit_prices`` ({listing id:
    fen}, positive) and ``source``. The payment method is the configured provider's; online orders must be
    paid within PAYMENT_TIMEOUT, pay-at-pickup orders by the end of the pickup window (then ``expire_due``
    releases their stock). Idempotent by (member, key); the same key with another store or cart: Conflict
    ``idempotency_mismatch``. Refused requests (unknown store or item, unavailable item: NotFound/Conflict;
    not enough stock: InsufficientStock) change nothing. ``options`` are the buyer's choices for the price
    adjusters (e.g. ``{"coupons": "12"}``, see ``siyu.orders.pricing``), part of the request hash; an
    adjuster that refuses one refuses the order. With ``tender`` (a registered tender, e.g. ``"balance"``,
    ``siyu.orders.tenders``) the order is paid by it at once, in the same transaction: placed and paid, or
    nothing (not enough balance: the tender's Conflict, nothing written); the tender is part of the request
    hash. Records ``order.created``."""
    key = clean_idempotency_key(idempotency_key)
    assert key is not None
    wanted = _clean_items(list(items) if isinstance(items, list | tuple) else items)
    chosen = clean_options(options)
    digest = request_hash(
        "order",
        store_id if isinstance(store_id, int) and not isinstance(store_id, bool) else repr(store_id),
        sorted(wanted.items()),
        source,
        campaign_id,
        # Only when given: orders placed without options keep the hash they always had.
        *([sorted(chosen.items())] if chosen else []),
        *([["tender", tender]] if tender is not None else []),
    )
    existing = _replay(member, key, digest)
    if existing is not None:
        return existing
    if member.erased_at is not None:
        raise NotFound(_("No such member."), field="member")
    now = timezone.now()
    start, end = _clean_window(pickup_window, now)
    store = pickup_store(member, store_id) if isinstance(store_id, int) else None
    if store is None:
        raise NotFound(_("No such store."), field="store")
    listings = {
        lst.pk: lst
        for lst in available_listings(store.pk)
        .filter(pk__in=list(wanted))
        .select_related("sku", "sku__product")
    }
    missing = set(wanted) - set(listings)
    if missing:
        raise Conflict(_("Some items are not available at this store."), field="items", code="unavailable")
    if source not in hooks.known_sources():
        raise ValidationFailed(_("Unknown order source."), field="source")
    if tender is not None:
        check_tender(tender)
    prices = unit_prices or {}
    for pk, fen in prices.items():
        if pk not in listings or isinstance(fen, bool) or not isinstance(fen, int) or not 0 < fen < 2**31:
            raise ValidationFailed(_("Invalid price."), field="unit_prices")
    request = OrderRequest(
        member_id=member.pk,
        brand_id=member.brand_id,
        store_id=store.pk,
        lines=[
            LineRequest(listing_id=pk, sku=listings[pk].sku, quantity=qty, unit_price_fen=prices.get(pk))
            for pk, qty in sorted(wanted.items())
        ],
        pickup_window=(start, end),
        idempotency_key=key,
        request_hash=digest,
        source=source,
        community_id=community_id,
        campaign_id=campaign_id,
        placed_at=now,
        options=chosen,
    )
    try:
        with transaction.atomic():
            order = create_order_record(request)
            if tender is not None:
                order = pay_with_tender(order, tender)
            return order
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its order.
        existing = _replay(member, key, digest)
        if existing is None:
            raise
        return existing
