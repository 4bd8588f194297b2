"""Pickup verification (核销) at the store counter.

The clerk scans the member's QR (``<out_trade_no>:<HMAC>`` signed with the secret key, so it cannot be guessed
from order data; only its SHA-256 is stored) or types the short code shown beside it (``K7Q4-9XMP``, any case,
spaces and dashes ignored; ADR 0011). A short code is looked up only among the open codes of the stores the
clerk serves. Attempts that find nothing are limited per clerk and per store (``pickup_limits``: counted
before the lookup, RateLimited with ``retry_after``). Guarantees of ``verify_pickup``: only staff serving the
order's pickup store can use it (anyone else: NotFound, revealing nothing); every picked quantity is claimed
with a conditional UPDATE (``picked_quantity + n <= quantity``), so two simultaneous scans of one code give
exactly one success; a code stays usable until every line is picked up, then it is spent and the order is
picked_up. Every verification is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.orders import hooks
from siyu.orders.models import Order, OrderLine, OrderStatus, PaymentMethod, PickupCode
from siyu.orders.services import pickup_limits
from siyu.orders.services.pickup_codes import PickupDisplay as PickupDisplay
from siyu.orders.services.pickup_codes import code_hash, normalise_short_code, signer
from siyu.orders.services.pickup_codes import pickup_code_for as pickup_code_for
from siyu.orders.services.pickup_codes import pickup_display as pickup_display
from siyu.orders.services.transitions import mark_paid, transition
from siyu.org.models import Staff
from siyu.org.services.access import require_staff
from siyu.org.services.audit import record_audit

MAX_CODE_LENGTH = 200
S = OrderStatus


@dataclass
class PickupResult:
    order: Order
    picked: dict[int, int] = field(default_factory=dict)  # line id → quantity handed over now
    completed: bool = False  # every line is now picked up


def _find(staff: Staff, code: Any, ip: str | None, order_id: int | None = None) -> PickupCode:
    not_found = NotFound(_("No such pickup code."), field="code")
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE_LENGTH:
        raise not_found
    store_ids = list(staff.stores.values_list("pk", flat=True))
    # Counted before the lookup, so parallel guesses cannot outrun the limit; a hit gives its slot back.
    reservation = pickup_limits.reserve(staff, store_ids)
    short = normalise_short_code(code)
    if short is not None:
        row = _by_short_code(short, store_ids)
        if row is None:
            raise not_found
    else:
        row = _by_long_code(code.strip())
        if row is None:
            raise not_found
        # Serving the store is required even of HQ: handing goods over is a counter action.
        if row.order.store_id not in store_ids:
            # A genuine code scanned at the wrong store: head office should see it, the clerk learns nothing.
            record_audit(
                staff,
                "order.pickup_refused",
                target_type="order",
                target_id=row.order_id,
                detail={"reason": "other_store"},
                ip=ip,
            )
            raise not_found
    if order_id is not None and row.order_id != order_id:
        # Handing over from an order's page: the member's code must be this order's.
        raise NotFound(_("This code belongs to another order."), field="code")
    if row.closed_at is None:
        pickup_limits.release(reservation)
    return row


def _by_short_code(short: str, store_ids: list[int]) -> PickupCode | None:
    """The open pickup with this short code at one of ``store_ids``; else the latest used one (so a second
    try says "already used"); else None. Two stores of one clerk with the same open code (odds ~10⁻⁹):
    None — the QR still works."""
    rows = list(
        PickupCode.objects.select_related("order").filter(
            short_code=short, store_id__in=store_ids, closed_at__isnull=True
        )[:2]
    )
    if len(rows) == 1:
        return rows[0]
    if rows:
        return None
    return (
        PickupCode.objects.select_related("order")
        .filter(short_code=short, store_id__in=store_ids, used_at__isnull=False)
        .order_by("-used_at", "-pk")
        .first()
    )


def _by_long_code(code: str) -> PickupCode | None:
    try:
        signer().unsign(code)
    except signing.BadSignature:
        return None
    return PickupCode.objects.select_related("order").filter(code_hash=code_hash(code)).first()


def _wanted(order: Order, lines: Any) -> dict[int, int]:
    remaining = {line.pk: line.quantity - line.picked_quantity for line in order.lines.all()}
    if lines is None:
        wanted = {pk: n for pk, n in remaining.items() if n > 0}
    else:
        if not isinstance(lines, dict) or not lines:
            raise ValidationFailed(_("Choose the lines handed over."), field="lines")
        wanted = {}
        for pk, n in lines.items():
            if isinstance(pk, bool) or not isinstance(pk, int) or pk not in remaining:
                raise ValidationFailed(_("This line is not part of the order."), field="lines")
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= remaining[pk]:
                raise ValidationFailed(
                    _("Hand over between 1 and the quantity still to pick up."), field="lines"
                )
            wanted[pk] = n
    if not wanted:
        raise Conflict(_("This order was already picked up."), field="code", code="already_used")
    return wanted


def verify_pickup(
    staff: Staff,
    code: Any,
    *,
    lines: dict[int, int] | None = None,
    ip: str | None = None,
    order_id: int | None = None,
) -> PickupResult:
    """Hand over ``lines`` ({line id: quantity}; None = everything still due) of the order behind ``code``
    (the QR's long code or the short code). With ``order_id`` (the console's order page) the code must be
    that order's (NotFound otherwise). Too many attempts that found nothing: RateLimited (``pickup_limits``).

    Staff of another store: NotFound. The order must be paid or ready, or awaiting payment at pickup (then
    this also records the counter payment). A spent code, a cancelled/expired/refunded order, a refusal of a
    registered pickup guard (``siyu.orders.hooks``: its code) or a lost race with a simultaneous scan:
    Conflict, nothing changed. Completing the order runs the ``picked_up`` hooks. Audited as
    ``order.pickup``; refusals of a genuine code as ``order.pickup_refused``."""
    require_staff(staff)
    row = _find(staff, code, ip, order_id)
    try:
        return _verify(staff, row, lines, ip)
    except (Conflict, ValidationFailed) as exc:
        # The refusal changed nothing; it is still worth a line in the audit log (written after rollback).
        record_audit(
            staff,
            "order.pickup_refused",
            target_type="order",
            target_id=row.order_id,
            store_id=row.order.store_id,
            detail={"reason": exc.code},
            ip=ip,
        )
        raise


def _check_pickable(row: PickupCode) -> bool:
    """Raise Conflict unless the code's order can be handed over now; True if it is paid at the counter."""
    order = row.order
    if row.used_at is not None:
        raise Conflict(_("This pickup code was already used."), field="code", code="already_used")
    at_counter = order.status == S.PENDING_PAYMENT and order.payment_method == PaymentMethod.PAY_AT_PICKUP
    if order.status not in (S.PAID, S.READY) and not at_counter:
        raise Conflict(_("This order cannot be picked up now."), field="code", code="not_pickable")
    refusal = hooks.pickup_refusal(order)
    if refusal is not None:
        raise Conflict(refusal.message, field="code", code=refusal.code)
    return at_counter


def find_pickup(staff: Staff, code: Any, *, ip: str | None = None) -> Order:
    """The order a pickup code belongs to, for the counter to show before handing anything over.

    Same checks as ``verify_pickup`` without claiming anything: NotFound for a bad code or another store's
    order (audited), Conflict when it was already picked up or cannot be picked up now, RateLimited after
    too many attempts that found nothing."""
    require_staff(staff)
    row = _find(staff, code, ip)
    row = PickupCode.objects.select_related("order").get(pk=row.pk)
    _check_pickable(row)
    return row.order


def _verify(staff: Staff, row: PickupCode, lines: Any, ip: str | None) -> PickupResult:
    with transaction.atomic():
        row = PickupCode.objects.select_related("order").get(pk=row.pk)
        order = row.order
        at_counter = _check_pickable(row)
        wanted = _wanted(order, lines)
        for line_id in sorted(wanted):
            n = wanted[line_id]
            claimed = OrderLine.objects.filter(
                pk=line_id, order=order, picked_quantity__lte=F("quantity") - n
            ).update(picked_quantity=F("picked_quantity") + n)
            if not claimed:
                # A simultaneous scan handed these over first.
                raise Conflict(_("This pickup code was already used."), field="code", code="already_used")
        if at_counter:
            mark_paid(order, actor=staff, at_counter=True)
        completed = not OrderLine.objects.filter(order=order, picked_quantity__lt=F("quantity")).exists()
        if completed:
            if not PickupCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=timezone.now()):
                raise Conflict(_("This pickup code was already used."), field="code", code="already_used")
            transition(order, S.PICKED_UP, allowed_from=(S.PAID, S.READY), actor=staff, reason="picked up")
            hooks.fire("picked_up", order)
            record_event(
                "order.picked_up",
                member_id=order.member_id,
                store_id=order.store_id,
                payload={"order_id": order.pk, "amount_fen": order.total_fen},
            )
        record_audit(
            staff,
            "order.pickup",
            target_type="order",
            target_id=order.pk,
            store_id=order.store_id,
            detail={
                "lines": {str(k): v for k, v in wanted.items()},
                "completed": completed,
                "paid_at_counter": at_counter,
            },
            ip=ip,
        )
        order.refresh_from_db()
    return PickupResult(order=order, picked=wanted, completed=completed)
