"""Pickup codes: the signed code in the member's QR and the stored SHA-256 of it.

The code is ``<out_trade_no>:<HMAC>`` signed with the secret key (salted), so it cannot be guessed from
order data; only its SHA-256 is stored. Verification at the counter is ``siyu.orders.services.pickup``.
"""

from __future__ import annotations

import hashlib

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict
from siyu.orders.models import Order, OrderStatus, PaymentMethod, PickupCode

_SALT = "siyu.orders.pickup-code"
S = OrderStatus


def signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)


def code_of(order: Order) -> str:
    return signer().sign(order.out_trade_no)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def new_pickup_code(order: Order) -> PickupCode:
    """The (unsaved) pickup code record of ``order`` — for writers that create many orders in one batch and
    save the records with ``bulk_create``; ``issue_pickup_code`` saves one."""
    return PickupCode(order=order, code_hash=code_hash(code_of(order)))


def issue_pickup_code(order: Order) -> PickupCode:
    """Create the order's pickup code record (idempotent)."""
    try:
        with transaction.atomic():
            row, _created = PickupCode.objects.get_or_create(
                order=order, defaults={"code_hash": code_hash(code_of(order))}
            )
    except IntegrityError:
        row = PickupCode.objects.get(order=order)
    return row


def pickup_code_for(order: Order) -> str:
    """The code to show as the member's pickup QR. Available once the order is paid (or, paying at pickup,
    from creation) until it is picked up; Conflict otherwise."""
    usable = order.status in (S.PAID, S.READY) or (
        order.status == S.PENDING_PAYMENT and order.payment_method == PaymentMethod.PAY_AT_PICKUP
    )
    if not usable:
        raise Conflict(_("This order has no pickup code now."), field="order", code="no_pickup_code")
    issue_pickup_code(order)
    code = code_of(order)
    # After a secret-key rotation the stored hash is of the old code: the member's page shows the new one.
    PickupCode.objects.filter(order=order, used_at__isnull=True).exclude(code_hash=code_hash(code)).update(
        code_hash=code_hash(code)
    )
    return code
