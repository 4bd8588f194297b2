"""Builders for in-store events (siyu.events), through its services."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from siyu.catalog.models import Sku
from siyu.events.models import Event, EventSession, Ticket
from siyu.events.services import setup, tickets
from siyu.members.models import Member
from siyu.org.models import Staff, Store
from tests.factories.catalog import make_product

TICKET_PRICE = 9900  # ¥99


def event_data(**fields: Any) -> dict[str, Any]:
    """A year-end sale (内购会) running from an hour ago for two days, free unless a price is given."""
    now = timezone.now()
    data: dict[str, Any] = {
        "title": "年终内购会",
        "description": "全场低至三折",
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=2),
        "gift_pack": "价值¥297礼包",
        "gift_value_fen": 29700,
        "member_limit": 1,
    }
    data.update(fields)
    return data


def ticket_sku(staff: Staff) -> Sku:
    """An unpublished ticket item (门票) to sell paid tickets as."""
    code = f"TICKET-{uuid.uuid4().hex[:6].upper()}"
    product = make_product(staff, "内购会门票", codes=(code,), price=TICKET_PRICE)
    return product.skus.get()


def make_event_with_sessions(
    staff: Staff,
    stores: list[Store],
    *,
    capacity: int = 10,
    publish: bool = True,
    session_start: datetime | None = None,
    session_hours: int = 6,
    **fields: Any,
) -> Event:
    """An event (free by default; ``ticket_price_fen=`` makes it paid with a fresh ticket item) with one
    session per store starting ``session_start`` (default: now), published unless ``publish=False``."""
    if fields.get("ticket_price_fen") and "ticket_sku" not in fields:
        fields["ticket_sku"] = ticket_sku(staff).pk
    event = setup.create_event(staff, event_data(**fields))
    start = session_start or timezone.now()
    setup.add_sessions(
        staff,
        event.pk,
        store_ids=[s.pk for s in stores],
        starts_at=start,
        ends_at=start + timedelta(hours=session_hours),
        capacity=capacity,
    )
    if publish:
        setup.publish_event(staff, event.pk)
    event.refresh_from_db()
    return event


def session_at(event: Event, store: Store) -> EventSession:
    return EventSession.objects.get(event=event, store=store)


def take_ticket(member: Member, session: EventSession, key: str | None = None) -> Ticket:
    """The member gets a ticket through the service (a fresh key unless ``key``)."""
    return tickets.get_ticket(member, session.pk, key=key or uuid.uuid4().hex)
