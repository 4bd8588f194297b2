"""Flash-sale tickets: a signed, short-lived pass that lets a signed-in member buy in one sale.

The sale page (a normal session-authenticated view) issues the ticket; the buy endpoint checks it with one
HMAC and no storage lookup, so the hot purchase path never touches the session store or the database.
A ticket is sent in the ``X-Siyu-Ticket`` header, which a cross-site form cannot set: it also serves as
the request's CSRF protection.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

TICKET_TTL_SECONDS = 2 * 3600
HEADER = "HTTP_X_SIYU_TICKET"


@dataclass(frozen=True)
class Ticket:
    member_id: int
    campaign_id: int
    expires: int


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"siyu.flash-ticket:" + secret.encode()).digest()


def _sign(body: str) -> str:
    return hmac.new(_key(settings.SECRET_KEY), body.encode(), hashlib.sha256).hexdigest()[:32]


def issue_ticket(member_id: int, campaign_id: int, *, now: float | None = None) -> str:
    """A ticket for ``member_id`` in ``campaign_id``, valid for TICKET_TTL_SECONDS."""
    expires = int((now if now is not None else time.time()) + TICKET_TTL_SECONDS)
    body = f"{member_id}.{campaign_id}.{expires}"
    return f"{body}.{_sign(body)}"


def read_ticket(value: str | None, campaign_id: int, *, now: float | None = None) -> Ticket | None:
    """The ticket's claims if ``value`` is genuine, unexpired and for ``campaign_id``; otherwise None."""
    if not value or len(value) > 120:
        return None
    parts = value.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]):
        return None
    member_id, ticket_campaign, expires = (int(p) for p in parts[:3])
    if not hmac.compare_digest(_sign(".".join(parts[:3])), parts[3]):
        return None
    if ticket_campaign != campaign_id or expires < (now if now is not None else time.time()):
        return None
    if not 0 < member_id < 2**63:
        return None
    return Ticket(member_id=member_id, campaign_id=ticket_campaign, expires=expires)
