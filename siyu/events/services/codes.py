"""Ticket codes: the signed long code in the member's QR and the short code read aloud at the door.

The same scheme as pickup codes (ADR 0011, ``siyu.orders.services.pickup_codes``): the **long code** is
``t<ticket id>:<HMAC>`` signed with the secret key (its own salt), only its SHA-256 stored; the **short code**
is 8 characters of the pickup alphabet (no 0/O, 1/I/L, U) drawn from a CSPRNG, unique among the store's open
tickets (partial unique index ``ticket_open_short_code_unique``) and typed in any case, dashes and spaces
ignored. The alphabet, drawing, normalising and grouping are the pickup codes' own functions.
"""

from __future__ import annotations

import hashlib

from django.core import signing

from siyu.events.models import Ticket
from siyu.orders.services.pickup_codes import draw_short_code, format_short_code, normalise_short_code

__all__ = [
    "code_hash",
    "draw_short_code",
    "format_short_code",
    "long_code",
    "normalise_short_code",
    "ticket_id",
]

_SALT = "siyu.events.ticket-code"
PREFIX = "t"
MAX_CODE_LENGTH = 200


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)


def long_code(ticket: Ticket) -> str:
    """The QR content of ``ticket``: ``t<id>:<signature>``."""
    return _signer().sign(f"{PREFIX}{ticket.pk}")


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def ticket_id(code: str) -> int | None:
    """The ticket id a genuine long code names, or None (not signed by us, not a ticket code)."""
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH or not code.startswith(PREFIX):
        return None
    try:
        value = _signer().unsign(code.strip())
    except signing.BadSignature:
        return None
    digits = value[len(PREFIX) :]
    return int(digits) if digits.isdigit() and len(digits) < 19 else None
