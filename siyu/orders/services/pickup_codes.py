"""Pickup codes: the signed code in the member's QR and the short code a person reads aloud and types.

- The **long code** (the QR) is ``<out_trade_no>:<HMAC>`` signed with the secret key (salted), so it cannot be
  guessed from order data; only its SHA-256 is stored.
- The **short code** (ADR 0011) is 8 characters of ``ALPHABET`` (Crockford's base 32 without 0 and 1: no
  0/O, 1/I/L, U), drawn from a CSPRNG (``secrets``): 30⁸ ≈ 6.6 × 10¹¹ codes. It is shown grouped
  (``K7Q4-9XMP``) and typed case-insensitively, spaces and dashes ignored (``normalise_short_code``). An open
  short code is unique within its store (partial unique index ``pickupcode_open_short_code_unique``); a code
  closes when it is used or its order ends, and may then be drawn again.

Verification at the counter is ``siyu.orders.services.pickup``; attempt limits ``pickup_limits``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict
from siyu.orders import hooks
from siyu.orders.models import Order, OrderStatus, PaymentMethod, PickupCode

_SALT = "siyu.orders.pickup-code"
S = OrderStatus
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
SHORT_CODE_LENGTH = 8
_DRAWS = 8  # attempts to draw a short code not open in the store (a clash is ~1 in 10⁸ even then)
_IGNORED = str.maketrans("", "", " -\u2010\u2011\u2012\u2013\u2014\u3000\t")
# Statuses in which an order's pickup code can no longer be used: its code is closed.
CLOSING_STATUSES = (S.PICKED_UP, S.CANCELLED, S.EXPIRED, S.REFUNDED)


def signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)


def code_of(order: Order) -> str:
    return signer().sign(order.out_trade_no)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def draw_short_code() -> str:
    """A fresh random short code (CSPRNG)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(SHORT_CODE_LENGTH))


def normalise_short_code(raw: str) -> str | None:
    """What a clerk typed, as a short code (upper case, spaces and dashes removed), or None when it cannot be
    one (wrong length or a character outside the alphabet — such as 0, O, 1, I, L)."""
    if not isinstance(raw, str) or len(raw) > 4 * SHORT_CODE_LENGTH:
        return None
    code = raw.translate(_IGNORED).upper()
    if len(code) != SHORT_CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def format_short_code(code: str) -> str:
    """``K7Q49XMP`` → ``K7Q4-9XMP`` (two groups of four, easy to read aloud)."""
    half = SHORT_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}" if len(code) == SHORT_CODE_LENGTH else code


def _open_codes(store_ids: set[int], codes: set[str]) -> set[tuple[int, str]]:
    rows = PickupCode.objects.filter(store_id__in=store_ids, short_code__in=codes, closed_at__isnull=True)
    return set(rows.values_list("store_id", "short_code"))


def new_pickup_codes(orders: Sequence[Order]) -> list[PickupCode]:
    """The (unsaved) pickup code records of ``orders`` — for writers that create many orders in one batch and
    save them with ``bulk_create``; ``issue_pickup_code`` saves one. Short codes are drawn unique within the
    batch and against the open codes of the stores (one query per redraw round); a code taken by a concurrent
    writer in between makes the batch's insert fail as a whole (its caller retries the batch)."""
    chosen: dict[int, str] = {}
    pending = list(range(len(orders)))
    for _round in range(_DRAWS):
        if not pending:
            break
        for i in pending:
            chosen[i] = draw_short_code()
        taken = _open_codes({orders[i].store_id for i in pending}, {chosen[i] for i in pending})
        seen: set[tuple[int, str]] = set()
        retry = []
        for i, order in enumerate(orders):
            pair = (order.store_id, chosen[i])
            if pair in seen or (i in pending and pair in taken):
                retry.append(i)
            seen.add(pair)
        pending = retry
    return [
        PickupCode(
            order=order, store_id=order.store_id, code_hash=code_hash(code_of(order)), short_code=chosen[i]
        )
        for i, order in enumerate(orders)
    ]


def new_pickup_code(order: Order) -> PickupCode:
    """The (unsaved) pickup code record of one order."""
    return new_pickup_codes([order])[0]


def issue_pickup_code(order: Order) -> PickupCode:
    """Create the order's pickup code record (idempotent). A short code that another open pickup of the store
    took meanwhile is drawn again."""
    existing = PickupCode.objects.filter(order=order).first()
    if existing is not None:
        return existing
    for _attempt in range(_DRAWS):
        try:
            with transaction.atomic():
                return PickupCode.objects.create(
                    order=order,
                    store_id=order.store_id,
                    code_hash=code_hash(code_of(order)),
                    short_code=draw_short_code(),
                )
        except IntegrityError:
            existing = PickupCode.objects.filter(order=order).first()
            if existing is not None:
                return existing  # a concurrent call issued it
    raise Conflict(_("No pickup code could be issued; try again."), field="order", code="no_pickup_code")


def close_pickup_code(order: Order) -> None:
    """The order was picked up or ended: its codes can no longer be used and the short code is free again."""
    PickupCode.objects.filter(order_id=order.pk, closed_at__isnull=True).update(closed_at=timezone.now())


@dataclass(frozen=True)
class PickupDisplay:
    """What the member's order page shows for pickup: the QR content and the short code, or why not yet."""

    code: str = ""  # QR content (long code); empty when none is shown
    short_code: str = ""  # grouped for reading, e.g. K7Q4-9XMP
    reason: str = ""  # why no code is shown although the order is paid (a pickup guard's message)


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


def pickup_display(order: Order) -> PickupDisplay:
    """The member's pickup QR and short code, asking the registered pickup guards first: an order they would
    refuse at the counter (a group buy whose team has not formed) shows their reason instead of a code."""
    try:
        code = pickup_code_for(order)
    except Conflict:
        return PickupDisplay()
    refusal = hooks.pickup_refusal(order)
    if refusal is not None:
        return PickupDisplay(reason=refusal.message)
    row = PickupCode.objects.get(order=order)
    return PickupDisplay(code=code, short_code=format_short_code(row.short_code))
