"""orders: orders placed through the real checkout service."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.orders.services import checkout
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
