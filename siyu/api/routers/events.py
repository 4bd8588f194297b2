"""In-store events (内购会) for staff: head office sets events up (sessions per store, publish);
everyone reads the events with a session at their stores and their report (a store role: its sessions
and sales only; another store's event answers 404); store staff check tickets in at the door."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api import idempotency
from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In, PageParams, paginate
from siyu.events.models import Event, EventSession, Ticket
from siyu.events.services import checkin, reads, reports, setup
from siyu.events.services.rules import (
    MAX_CAPACITY,
    MAX_COUPONS,
    MAX_MEMBER_LIMIT,
    MAX_PRICE_FEN,
    MAX_STORES_PER_CALL,
)
from siyu.org.models import Staff
from siyu.org.services.login import client_ip

router = Router()


class EventIn(In):
    title: str = Field(max_length=100)
    description: str = Field("", max_length=2000)
    art_url: str = Field("", max_length=500, description="https:// address of the event's art (optional).")
    starts_at: datetime
    ends_at: datetime
    ticket_price_fen: int = Field(0, ge=0, le=MAX_PRICE_FEN, description="0: free tickets.")
    ticket_sku: Id | None = Field(None, description="The SKU a paid ticket is sold as (required when paid).")
    gift_pack: str = Field("", max_length=200)
    gift_value_fen: int = Field(0, ge=0, le=10 * MAX_PRICE_FEN)
    coupon_templates: list[Id] = Field(default_factory=list, max_length=MAX_COUPONS)
    member_limit: int = Field(1, ge=1, le=MAX_MEMBER_LIMIT)


class SessionsIn(In):
    stores: list[Id] = Field(min_length=1, max_length=MAX_STORES_PER_CALL)
    starts_at: datetime
    ends_at: datetime
    capacity: int = Field(ge=1, le=MAX_CAPACITY)


class SessionOut(Schema):
    id: int
    store_id: int
    store_name: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    taken: int


class StoreEventOut(Schema):
    id: int
    title: str
    description: str
    art_url: str
    status: str
    starts_at: datetime
    ends_at: datetime
    ticket_price_fen: int
    ticket_sku_id: int | None
    gift_pack: str
    gift_value_fen: int
    coupon_templates: list[int]
    member_limit: int
    sessions: list[SessionOut]
    published_at: datetime | None
    created_at: datetime


class StoreEventPage(Schema):
    count: int
    items: list[StoreEventOut]


class CodeIn(In):
    code: str = Field(max_length=200, description="The ticket QR's content, or its short code (K7Q4-9XMP).")


class TicketOut(Schema):
    id: int
    event_id: int
    session_id: int
    store_id: int
    member_id: int
    member_name: str
    status: str
    price_fen: int
    order_id: int | None
    gift_pack: str
    checked_in_at: datetime | None
    checked_in_by: str | None
    coupons_issued: int


class SessionReportOut(Schema):
    session_id: int
    store_id: int
    store_name: str
    starts_at: datetime
    capacity: int
    sold: int
    pending: int
    checked_in: int
    gifts: int
    coupons: int
    sales_count: int
    sales_fen: int


class ReportOut(Schema):
    event_id: int
    capacity: int
    sold: int
    pending: int
    checked_in: int
    attendance_percent: int
    gifts: int
    coupons: int
    ticket_revenue_fen: int
    sales_count: int
    sales_fen: int
    sessions: list[SessionReportOut]


def session_out(s: EventSession) -> dict[str, Any]:
    return {
        "id": s.pk,
        "store_id": s.store_id,
        "store_name": s.store.name,
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "capacity": s.capacity,
        "taken": s.taken,
    }


def event_out(event: Event, staff: Staff) -> dict[str, Any]:
    return {
        "id": event.pk,
        "title": event.title,
        "description": event.description,
        "art_url": event.art_url,
        "status": event.status,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "ticket_price_fen": event.ticket_price_fen,
        "ticket_sku_id": event.ticket_sku_id,
        "gift_pack": event.gift_pack,
        "gift_value_fen": event.gift_value_fen,
        "coupon_templates": sorted(event.coupon_templates.values_list("pk", flat=True)),
        "member_limit": event.member_limit,
        "sessions": [session_out(s) for s in reads.scoped_sessions(staff, event)],
        "published_at": event.published_at,
        "created_at": event.created_at,
    }


def ticket_out(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.pk,
        "event_id": t.event_id,
        "session_id": t.session_id,
        "store_id": t.store_id,
        "member_id": t.member_id,
        "member_name": t.member.name,
        "status": t.status,
        "price_fen": t.price_fen,
        "order_id": t.order_id,
        "gift_pack": t.event.gift_pack,
        "checked_in_at": t.checked_in_at,
        "checked_in_by": str(t.checked_in_by) if t.checked_in_by else None,
        "coupons_issued": t.coupons_issued,
    }


def _aware(value: datetime) -> datetime:
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _data(payload: EventIn) -> dict[str, Any]:
    data = payload.model_dump()
    data["starts_at"], data["ends_at"] = _aware(data["starts_at"]), _aware(data["ends_at"])
    return data


def _fresh(request: HttpRequest, event_id: int) -> dict[str, Any]:
    staff = current_staff(request)
    return event_out(reads.get_event(staff, event_id), staff)


@router.get("/events", response=StoreEventPage)
def list_events(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """In-store events (a store role: those with a session at its stores), latest first."""
    staff = current_staff(request)
    count, items = paginate(reads.scoped_events(staff), page)
    return {"count": count, "items": [event_out(e, staff) for e in items]}


@router.post("/events", response={200: StoreEventOut, 201: StoreEventOut})
def create_event(
    request: HttpRequest,
    payload: EventIn,
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", description="Retry-safe creation: the same key returns the same event."
    ),
) -> Status:
    """Head office creates a draft event (201); store roles 403. Times without an offset are read in the
    chain's time zone (Asia/Shanghai). With an Idempotency-Key a retry answers 200 with the same body."""
    staff = current_staff(request)

    def create() -> tuple[int, Any]:
        event = setup.create_event(staff, _data(payload), ip=client_ip(request))
        return 201, event_out(event, staff)

    status, body = idempotency.run_idempotent(
        request, idempotency_key, body=payload.model_dump(mode="json"), action=create
    )
    return Status(status, body)


@router.get("/events/{int:event_id}", response=StoreEventOut)
def get_event(request: HttpRequest, event_id: Path[Id]) -> dict[str, Any]:
    """One event with its sessions (a store role: its stores' sessions)."""
    return _fresh(request, event_id)


@router.put("/events/{int:event_id}", response=StoreEventOut)
def update_event(request: HttpRequest, event_id: Path[Id], payload: EventIn) -> dict[str, Any]:
    """Replace an event's fields (head office). Published: times, price, ticket item and limit stay (409
    ``event_locked``)."""
    setup.update_event(current_staff(request), event_id, _data(payload), ip=client_ip(request))
    return _fresh(request, event_id)


@router.post("/events/{int:event_id}/sessions", response={201: StoreEventOut})
def add_event_sessions(request: HttpRequest, event_id: Path[Id], payload: SessionsIn) -> Status:
    """Add one session per store (head office), all or nothing (409 ``session_exists``)."""
    setup.add_sessions(
        current_staff(request),
        event_id,
        store_ids=payload.stores,
        starts_at=_aware(payload.starts_at),
        ends_at=_aware(payload.ends_at),
        capacity=payload.capacity,
        ip=client_ip(request),
    )
    return Status(201, _fresh(request, event_id))


@router.post("/events/{int:event_id}/publish", response=StoreEventOut)
def publish_event(request: HttpRequest, event_id: Path[Id]) -> dict[str, Any]:
    """Draft → published (head office); 409 ``not_draft``, ``no_sessions``."""
    setup.publish_event(current_staff(request), event_id, ip=client_ip(request))
    return _fresh(request, event_id)


@router.get("/events/{int:event_id}/report", response=ReportOut)
def event_report(request: HttpRequest, event_id: Path[Id]) -> dict[str, Any]:
    """Tickets by session, attendance, gift packs, coupons and the event's sales (see docs/events.md)."""
    r = reports.event_report(current_staff(request), event_id)
    return {
        "event_id": r.event.pk,
        "capacity": r.capacity,
        "sold": r.sold,
        "pending": r.pending,
        "checked_in": r.checked_in,
        "attendance_percent": r.attendance_percent,
        "gifts": r.gifts,
        "coupons": r.coupons,
        "ticket_revenue_fen": r.ticket_revenue_fen,
        "sales_count": r.sales_count,
        "sales_fen": r.sales_fen,
        "sessions": [
            {
                "session_id": s.session_id,
                "store_id": s.store_id,
                "store_name": s.store_name,
                "starts_at": s.starts_at,
                "capacity": s.capacity,
                "sold": s.sold,
                "pending": s.pending,
                "checked_in": s.checked_in,
                "gifts": s.gifts,
                "coupons": s.coupons,
                "sales_count": s.sales_count,
                "sales_fen": s.sales_fen,
            }
            for s in r.sessions
        ],
    }


@router.post("/event-tickets/preview", response=TicketOut)
def preview_ticket(request: HttpRequest, payload: CodeIn) -> dict[str, Any]:
    """The ticket behind a code at the caller's stores, before checking it in (claims nothing). 404 for a
    wrong code or another store's ticket; 409 ``already_checked_in``, ``not_paid``…; 429 after too many
    misses."""
    return ticket_out(checkin.preview(current_staff(request), payload.code, ip=client_ip(request)))


@router.post("/event-tickets/check-in", response=TicketOut)
def check_in_ticket(request: HttpRequest, payload: CodeIn) -> dict[str, Any]:
    """Check the ticket in once: gift pack handed over, door coupons issued, a reserved ticket paid at
    the door. 409 ``already_checked_in`` (the message says when and by whom)."""
    return ticket_out(checkin.check_in(current_staff(request), payload.code, ip=client_ip(request)).ticket)
