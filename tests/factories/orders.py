"""orders: orders placed through the real checkout service."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.orders.services import checkout, payments
from siyu.orders.services.pickup import verify_pickup
from siyu.org.models import Store
from tests.factories.catalog import new_key


def pickup_window() -> tuple[datetime, datetime]:
    """A pickup window from one to five hours from now."""
    now = timezone.now()
    return (now + timedelta(hours=1), now + timedelta(hours=5))


def place_order(member: Member, store: Store, items: list[tuple[int, int]], k: str | None = None) -> Order:
    """Check out ``items`` (listing id, quantity) at ``store`` for ``member`` (a fresh key unless ``k``)."""
    return checkout.create_order(
        member, store_id=store.pk, items=items, pickup_window=pickup_window(), idempotency_key=k or new_key()
    )


# --- returns helper: orders picked up at the counter --------------------------------------------------


def picked_up_order(
    clerk: Any, member: Member, store: Store, items: list[tuple[int, int]], **kw: Any
) -> Order:
    """An order checked out (``kw`` go to ``checkout.create_order``, e.g. ``options``), paid — online in the
    SANDBOX cashier when that is the provider (the ``sandbox`` fixture), else at the counter — and picked
    up by ``clerk``."""
    order = checkout.create_order(
        member,
        store_id=store.pk,
        items=items,
        pickup_window=pickup_window(),
        idempotency_key=new_key(),
        **kw,
    )
    if order.paid_online:
        payments.start_payment(order, notify_url="https://example.invalid/")
        payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))
        order.refresh_from_db()
    verify_pickup(clerk, order.pickup_code.short_code)
    order.refresh_from_db()
    return order
