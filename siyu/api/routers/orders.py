"""Orders for store staff: list and read (store-scoped; another store's order answers 404), mark ready,
refund online payments, return picked-up orders (退货退款), and verify pickup codes at the counter (核销)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Header, Path, Query, Router, Schema

from siyu.api.auth import current_staff
from siyu.api.presenters import store_ref
from siyu.api.schemas import Id, In, PageParams, StoreRef, paginate
from siyu.orders.models import Order, OrderLine
from siyu.orders.services import pickup, queries, returns, transitions
from siyu.org.services.login import client_ip

router = Router()


class OrderLineOut(Schema):
    id: int
    listing_id: int
    sku_id: int
    name: str
    unit_price_fen: int
    quantity: int
    picked_quantity: int


class OrderOut(Schema):
    id: int
    status: str
    store: StoreRef
    member_id: int
    payment_method: str
    total_fen: int
    pickup_window_start: datetime
    pickup_window_end: datetime
    expires_at: datetime | None
    paid_at: datetime | None
    created_at: datetime
    lines: list[OrderLineOut]


class OrderPage(Schema):
    count: int
    items: list[OrderOut]


class OrderParams(Schema):
    status: str | None = Field(None, max_length=16)
    store: Id | None = Field(None, description="Pickup store id.")
    date_from: date | None = Field(None, description="Created on or after this day.")
    date_to: date | None = Field(None, description="Created on or before this day.")


class RefundIn(In):
    reason: str = Field(max_length=200)


class ReturnIn(In):
    reason: str = Field(max_length=200, description="Why the goods came back (shown in the order's history).")


class ReturnOut(Schema):
    order: OrderOut
    method: str = Field(description="provider: refunded online; counter: cash given back at the counter.")
    amount_fen: int
    reason: str
    staff_id: int
    created_at: datetime


class PickupIn(In):
    code: str = Field(
        max_length=200,
        description="The QR's content, or the short code such as K7Q4-9XMP (case-insensitive).",
    )
    lines: dict[Id, int] | None = Field(
        None, description="Line id → quantity handed over now; omit to hand over everything still due."
    )


class PickupOut(Schema):
    order: OrderOut
    picked: dict[int, int]
    completed: bool


def line_out(line: OrderLine) -> dict[str, Any]:
    return {
        "id": line.pk,
        "listing_id": line.listing_id,
        "sku_id": line.sku_id,
        "name": line.name,
        "unit_price_fen": line.unit_price_fen,
        "quantity": line.quantity,
        "picked_quantity": line.picked_quantity,
    }


def order_out(order: Order) -> dict[str, Any]:
    return {
        "id": order.pk,
        "status": order.status,
        "store": store_ref(order.store),
        "member_id": order.member_id,
        "payment_method": order.payment_method,
        "total_fen": order.total_fen,
        "pickup_window_start": order.pickup_window_start,
        "pickup_window_end": order.pickup_window_end,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "created_at": order.created_at,
        "lines": [line_out(line) for line in order.lines.all()],
    }


def _fresh(request: HttpRequest, order_id: int) -> dict[str, Any]:
    return order_out(queries.get_order(current_staff(request), order_id))


@router.get("/orders", response=OrderPage)
def list_orders(request: HttpRequest, params: Query[OrderParams], page: Query[PageParams]) -> dict[str, Any]:
    """Orders of the caller's stores (HQ: all), newest first, filtered by status, store and day."""
    qs = queries.list_orders(
        current_staff(request),
        status=params.status,
        store_id=params.store,
        date_from=params.date_from,
        date_to=params.date_to,
    )
    count, items = paginate(qs, page)
    return {"count": count, "items": [order_out(o) for o in items]}


@router.get("/orders/{int:order_id}", response=OrderOut)
def get_order(request: HttpRequest, order_id: Path[Id]) -> dict[str, Any]:
    """One order with its lines."""
    return _fresh(request, order_id)


@router.post("/orders/{int:order_id}/ready", response=OrderOut)
def mark_order_ready(request: HttpRequest, order_id: Path[Id]) -> dict[str, Any]:
    """Paid → ready for pickup. 409 from any other status."""
    transitions.mark_ready(current_staff(request), order_id)
    return _fresh(request, order_id)


@router.post("/orders/{int:order_id}/refund", response=OrderOut)
def refund_order(request: HttpRequest, order_id: Path[Id], payload: RefundIn) -> dict[str, Any]:
    """Refund a paid online order not yet picked up, through the payment provider. Stock goes back."""
    transitions.refund(current_staff(request), order_id, payload.reason)
    return _fresh(request, order_id)


@router.post("/orders/{int:order_id}/return", response=ReturnOut)
def return_order(
    request: HttpRequest,
    order_id: Path[Id],
    payload: ReturnIn,
    idempotency_key: str = Header(
        ...,
        alias="Idempotency-Key",
        description="Required. Your retry with the same key answers the first return and changes nothing.",
    ),
) -> dict[str, Any]:
    """Return a picked-up order in whole (store managers and head office; clerks 403, another store's
    order 404): the money goes back through the payment provider (online) or is recorded as given back at
    the counter (paid at pickup); the order becomes ``refunded`` and what it earned is taken back. Returned
    goods are not restocked automatically. 409 ``already_returned``, ``not_picked_up`` (refund it instead),
    ``not_returnable``, ``nothing_paid``, ``refund_refused``."""
    staff = current_staff(request)
    made = returns.return_order(staff, order_id, payload.reason, key=idempotency_key)
    return {
        "order": _fresh(request, order_id),
        "method": made.method,
        "amount_fen": made.amount_fen,
        "reason": made.reason,
        "staff_id": made.staff_id,
        "created_at": made.created_at,
    }


@router.post("/pickup/verify", response=PickupOut)
def verify_pickup(request: HttpRequest, payload: PickupIn) -> dict[str, Any]:
    """Verify a member's pickup code at the counter: the QR's long code or the 8-character short code
    (any case; spaces and dashes ignored). Only staff of the pickup store (others: 404). A code already
    used, or lost to a simultaneous scan, is 409. Too many codes that matched nothing (per staff member
    and per store, each minute): 429 with ``Retry-After``."""
    staff = current_staff(request)
    result = pickup.verify_pickup(
        staff,
        payload.code,
        lines=dict(payload.lines) if payload.lines is not None else None,
        ip=client_ip(request),
    )
    return {
        "order": order_out(queries.get_order(staff, result.order.pk)),
        "picked": result.picked,
        "completed": result.completed,
    }
