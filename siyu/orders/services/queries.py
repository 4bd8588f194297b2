"""Staff reads of orders, store-scoped: a store role sees only its stores' orders; another store's order
looks like it does not exist (NotFound). Nothing here writes."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, ValidationFailed
from siyu.orders.models import Order, OrderLine, OrderStatus
from siyu.org.models import Staff
from siyu.org.services.access import store_scope
from siyu.org.services.brand import current_brand_id


def scoped_orders(staff: Staff) -> QuerySet[Order]:
    """The orders ``staff`` may see (HQ: the whole brand), newest first, lines prefetched."""
    scope = store_scope(staff)
    qs = Order.objects.filter(brand_id=current_brand_id(staff))
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    return qs.select_related("store", "member").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
    )


def list_orders(
    staff: Staff,
    *,
    status: str | None = None,
    store_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Order]:
    """Orders in scope filtered by status, pickup store and creation day (local dates, inclusive)."""
    qs = scoped_orders(staff)
    if status:
        if status not in OrderStatus.values:
            raise ValidationFailed(_("Unknown order status."), field="status")
        qs = qs.filter(status=status)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    if date_from:
        qs = qs.filter(created_at__date__gte=date_from)
    if date_to:
        qs = qs.filter(created_at__date__lte=date_to)
    return qs.order_by("-created_at", "-id")


def get_order(staff: Staff, order_id: Any) -> Order:
    """The order ``order_id`` if in ``staff``'s scope; NotFound otherwise."""
    try:
        pk = int(order_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such order."), field="order") from None
    order = scoped_orders(staff).filter(pk=pk).first() if 0 < pk < 2**63 else None
    if order is None:
        raise NotFound(_("No such order."), field="order")
    return order
