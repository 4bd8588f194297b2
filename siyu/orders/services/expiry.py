"""Expiring unpaid orders (periodic job ``order-expiry``)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from siyu.orders.models import Order, OrderStatus
from siyu.orders.services.transitions import expire_order

BATCH = 500


def expire_due(now: datetime | None = None) -> int:
    """Expire orders still awaiting payment after ``expires_at`` and give their stock back; returns how
    many this call expired. Safe to run concurrently and repeatedly: each order is claimed by a conditional
    UPDATE, so it expires — and its stock returns — exactly once."""
    now = now or timezone.now()
    done = 0
    candidates = Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, expires_at__lte=now).order_by(
        "expires_at"
    )
    for order in candidates[:BATCH]:
        if expire_order(order, now):
            done += 1
    return done
