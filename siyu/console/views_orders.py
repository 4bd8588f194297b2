"""Console pages for orders: the store's order list and detail (mark ready, refund, cancel), and the
scan-to-verify (核销) page used at the counter on a phone.

Thin callers: ``siyu.orders.services`` decide scope (another store's order answers 404) and every
transition. The pickup page works without JavaScript (a plain form) and without a camera; with both,
``pickup.js`` decodes the member's QR with jsQR and posts the code here with ``fetch``, getting back the
same HTML fragment the plain form shows.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from siyu.common.errors import NotFound, RateLimited, ServiceError, ValidationFailed
from siyu.common.validators import fen_to_yuan as yuan
from siyu.orders.models import Order, OrderStatus, PaymentMethod
from siyu.orders.services import pickup as pickup_services
from siyu.orders.services import queries, returns, transitions
from siyu.org.services.access import visible_stores

from . import views_coupons_counter as counter_coupons
from .helpers import console_view, current_staff, request_ip

PAGE_SIZE = 30
MAX_CODE_LENGTH = pickup_services.MAX_CODE_LENGTH


def _date_param(raw: str | None, field: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(_("Give a date as YYYY-MM-DD."), field=field) from None


def _int_param(raw: str | None, field: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(_("Choose a store from the list."), field=field) from None


def _line_rows(order: Order) -> list[dict[str, Any]]:
    return [
        {
            "line": line,
            "unit_price": yuan(line.unit_price_fen),
            "subtotal": yuan(line.unit_price_fen * line.quantity),
            "remaining": line.remaining,
        }
        for line in order.lines.all()
    ]


# --- orders --------------------------------------------------------------------------------------


@require_GET
@console_view()
def orders(request: HttpRequest) -> HttpResponse:
    """Orders of the stores I serve (HQ: all), filtered by status, store and creation day."""
    staff = current_staff(request)
    status = (request.GET.get("status") or "").strip()
    store_id = _int_param(request.GET.get("store"), "store")
    date_from = _date_param(request.GET.get("from"), "from")
    date_to = _date_param(request.GET.get("to"), "to")
    qs = queries.list_orders(staff, status=status, store_id=store_id, date_from=date_from, date_to=date_to)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"order": o, "total": yuan(o.total_fen)} for o in page.object_list]
    context = {
        "page": page,
        "rows": rows,
        "stores": list(visible_stores(staff)),
        "statuses": OrderStatus.choices,
        "f_status": status,
        "f_store": store_id,
        "f_from": date_from.isoformat() if date_from else "",
        "f_to": date_to.isoformat() if date_to else "",
    }
    return render(request, "console/orders/list.html", context)


@require_GET
@console_view()
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    staff = current_staff(request)
    order = queries.get_order(staff, order_id)
    rows = _line_rows(order)
    # Offer only what the state machine would accept; the services still decide on every POST.
    active = order.status in (OrderStatus.PAID, OrderStatus.READY)
    context = {
        "order": order,
        "rows": rows,
        "total": yuan(order.total_fen),
        "history": list(order.transitions.select_related("actor").order_by("created_at", "id")),
        "can_ready": order.status == OrderStatus.PAID,
        "can_refund": order.paid_online and active and not any(r["line"].picked_quantity for r in rows),
        "can_cancel": order.status == OrderStatus.PENDING_PAYMENT,
        "can_hand_over": _can_hand_over(staff, order),
        "can_return": returns.can_return(staff, order),
        "return_key": uuid.uuid4().hex,
        "order_return": getattr(order, "order_return", None)
        if order.status == OrderStatus.REFUNDED
        else None,
    }
    return render(request, "console/orders/detail.html", context)


def _can_hand_over(staff: Any, order: Order) -> bool:
    """Offer the hand-over form to staff serving the pickup store while something is still due."""
    due = order.status in (OrderStatus.PAID, OrderStatus.READY) or (
        order.status == OrderStatus.PENDING_PAYMENT and order.payment_method == PaymentMethod.PAY_AT_PICKUP
    )
    return due and staff.stores.filter(pk=order.store_id).exists()


@require_POST
@console_view()
def order_hand_over(request: HttpRequest, order_id: int) -> HttpResponse:
    """Hand over from the order's page: the member's pickup code (short or long) must be this order's;
    ``qty-<line id>`` are the quantities handed over now. The service decides everything."""
    staff = current_staff(request)
    order = queries.get_order(staff, order_id)
    code = (request.POST.get("code") or "").strip()[: MAX_CODE_LENGTH + 1]
    try:
        lines = _lines_from_post(request, order)
        result = pickup_services.verify_pickup(
            staff, code, lines=lines, ip=request_ip(request), order_id=order.pk
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect("console:order_detail", order_id=order.pk)
    if result.completed:
        messages.success(request, _("Picked up. All items handed over."))
    else:
        messages.success(request, _("Partly picked up."))
    return redirect("console:order_detail", order_id=order.pk)


@require_POST
@console_view()
def order_ready(request: HttpRequest, order_id: int) -> HttpResponse:
    order = transitions.mark_ready(current_staff(request), order_id)
    messages.success(request, _("Order #%(id)s is ready for pickup.") % {"id": order.pk})
    return redirect("console:order_detail", order_id=order.pk)


@require_POST
@console_view()
def order_refund(request: HttpRequest, order_id: int) -> HttpResponse:
    reason = (request.POST.get("reason") or "").strip()
    order = transitions.refund(current_staff(request), order_id, reason)
    messages.success(request, _("Order #%(id)s was refunded.") % {"id": order.pk})
    return redirect("console:order_detail", order_id=order.pk)


@require_POST
@console_view()
def order_return(request: HttpRequest, order_id: int) -> HttpResponse:
    """退货退款: the manager confirms that the goods came back and the money goes back (the service decides
    who may, and refuses a second return; the form's key makes a double tap the same return)."""
    staff = current_staff(request)
    if not request.POST.get("confirm"):
        messages.error(request, _("Tick the box to confirm the goods came back."))
        return redirect("console:order_detail", order_id=queries.get_order(staff, order_id).pk)
    made = returns.return_order(
        staff, order_id, request.POST.get("reason") or "", key=request.POST.get("key") or ""
    )
    if made.method == made.Method.COUNTER:
        messages.success(
            request,
            _("Order #%(id)s was returned. Give the member ¥%(amount)s back in cash at the counter.")
            % {"id": made.order_id, "amount": yuan(made.amount_fen)},
        )
    else:
        messages.success(
            request,
            _("Order #%(id)s was returned. ¥%(amount)s goes back to the member's payment.")
            % {"id": made.order_id, "amount": yuan(made.amount_fen)},
        )
    return redirect("console:order_detail", order_id=made.order_id)


@require_POST
@console_view()
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    reason = (request.POST.get("reason") or "").strip()[: transitions.MAX_REASON]
    order = transitions.cancel(order_id, staff=current_staff(request), reason=reason)
    messages.success(request, _("Order #%(id)s was cancelled.") % {"id": order.pk})
    return redirect("console:order_detail", order_id=order.pk)


# --- pickup (核销) --------------------------------------------------------------------------------


def _wants_fragment(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch" or request.headers.get("HX-Request") == "true"


def _pickup_response(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    template = (
        "console/orders/_pickup_result.html" if _wants_fragment(request) else "console/orders/pickup.html"
    )
    return render(request, template, context, status=status)


@require_GET
@console_view()
def pickup(request: HttpRequest) -> HttpResponse:
    """The counter's scan-to-verify page: camera (when the browser allows it) and a typed-code fallback."""
    current_staff(request)
    return render(request, "console/orders/pickup.html", {"code": ""})


def _preview(request: HttpRequest, code: str) -> HttpResponse:
    staff = current_staff(request)
    # Nothing is handed over until the clerk confirms the quantities.
    order = queries.get_order(staff, pickup_services.find_pickup(staff, code, ip=request_ip(request)).pk)
    rows = _line_rows(order)
    pay_at_counter = (
        order.status == OrderStatus.PENDING_PAYMENT and order.payment_method == PaymentMethod.PAY_AT_PICKUP
    )
    context = {
        "step": "confirm",
        "code": code,
        "order": order,
        "rows": rows,
        "total": yuan(order.total_fen),
        "pay_at_counter": pay_at_counter,
    }
    return _pickup_response(request, context)


def _lines_from_post(request: HttpRequest, order: Order) -> dict[int, int]:
    lines: dict[int, int] = {}
    for line in order.lines.all():
        raw = (request.POST.get(f"qty-{line.pk}") or "").strip()
        if not raw:
            continue
        try:
            n = int(raw)
        except ValueError:
            raise ValidationFailed(_("Give a whole number."), field="lines") from None
        if n:
            lines[line.pk] = n
    return lines


@require_POST
@console_view()
def pickup_verify(request: HttpRequest) -> HttpResponse:
    """POST ``code`` → the order's lines with quantities to hand over; POST again with ``confirm`` and
    ``qty-<line id>`` → ``verify_pickup``. Refusals come back as a message on the same fragment/page,
    never as an error page, so the clerk can scan the next code at once."""
    staff = current_staff(request)
    code = (request.POST.get("code") or "").strip()[: MAX_CODE_LENGTH + 1]
    try:
        coupon_step = request.POST.get("coupon")
        if coupon_step in ("quote", "confirm"):
            return _pickup_response(request, counter_coupons.step(request, staff, code, coupon_step))
        if counter_coupons.is_coupon_qr(code):
            return _pickup_response(request, counter_coupons.preview(staff, code, counted=False))
        if not request.POST.get("confirm"):
            try:
                return _preview(request, code)
            except NotFound:
                # The same field takes coupon codes: a typed code that names no pickup may name a coupon
                # (this attempt was counted once, by the pickup lookup).
                if not counter_coupons.might_be_coupon(code):
                    raise
                try:
                    found = counter_coupons.preview(staff, code, counted=True)
                except NotFound:
                    raise NotFound(_("No pickup or coupon with this code."), field="code") from None
                return _pickup_response(request, found)
        order_found = pickup_services.find_pickup(staff, code, ip=request_ip(request))
        lines = _lines_from_post(request, queries.get_order(staff, order_found.pk))
        result = pickup_services.verify_pickup(staff, code, lines=lines, ip=request_ip(request))
    except ServiceError as exc:
        status = 404 if isinstance(exc, NotFound) else 429 if isinstance(exc, RateLimited) else 400
        response = _pickup_response(
            request, {"step": "refused", "error": str(exc.message), "code": ""}, status
        )
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response["Retry-After"] = str(retry_after)
        return response
    order = result.order
    picked = [
        {"line": line, "now": result.picked.get(line.pk, 0), "remaining": line.remaining}
        for line in order.lines.all()
    ]
    context = {
        "step": "done",
        "code": "",
        "order": order,
        "picked": picked,
        "completed": result.completed,
        "total": yuan(order.total_fen),
    }
    return _pickup_response(request, context)
