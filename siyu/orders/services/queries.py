"""Reads of orders. Staff reads are store-scoped: a store role sees only its stores' orders; another store's
order looks like it does not exist (NotFound). Member reads see only the member's own orders (another
member's order: NotFound). Nothing here writes."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import optional_id
from siyu.members.models import Member
from siyu.orders.models import Order, OrderLine, OrderStatus
from siyu.org.models import Staff, Store
from siyu.org.services.access import store_scope
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import open_stores


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


MEMBER_ORDERS_LIMIT = 100


def pickup_stores(member: Member) -> QuerySet[Store]:
    """The stores ``member`` may order for pickup at: the open stores of their brand, by name."""
    return open_stores(member.brand_id).order_by("name", "id")


def pickup_store(member: Member, store_id: Any) -> Store | None:
    """The open store ``store_id`` of ``member``'s brand, or None (unknown, closed, another brand, bad id)."""
    pk = optional_id(store_id)
    return pickup_stores(member).filter(pk=pk).first() if pk is not None else None


def member_orders(member: Member, *, limit: int = MEMBER_ORDERS_LIMIT) -> list[Order]:
    """``member``'s own most recent orders (at most ``limit``), newest first, with their store."""
    return list(
        Order.objects.filter(member=member).select_related("store").order_by("-created_at", "-id")[:limit]
    )


def member_order(member: Member, order_id: Any) -> Order:
    """``member``'s own order ``order_id`` with store and lines; NotFound for any other order or a bad id."""
    pk = optional_id(order_id)
    order = (
        Order.objects.select_related("store")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
        .filter(pk=pk, member=member)
        .first()
        if pk is not None
        else None
    )
    if order is None:
        raise NotFound(_("No such order."), field="order")
    return order
