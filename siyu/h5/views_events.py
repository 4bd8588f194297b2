"""H5 in-store events (内购会): the events, an event's page with its sessions and seats left, getting a
ticket, "my tickets" and a ticket's page with its QR and short code for the door.

Thin callers of ``siyu.events.services``: seats, limits, prices and the order of a paid ticket are the
service's; refusals are shown as messages. Each session's button carries a fresh idempotency key, so a
double tap gets one ticket. A paid ticket goes on to payment like any order.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from siyu.common.errors import NotFound, ServiceError
from siyu.common.validators import fen_to_yuan
from siyu.events.models import Event, EventSession, Ticket, TicketStatus
from siyu.events.services import codes, reads, tickets
from siyu.h5.views_mall import _error, _member_view, _pay_or_show, _render, qr_png
from siyu.members.models import Member
from siyu.orders.models import Order

SHOWS_CODE = (TicketStatus.VALID, TicketStatus.RESERVED)


def _price(event: Event) -> str:
    return _("Free") if event.is_free else f"¥{fen_to_yuan(event.ticket_price_fen)}"


@never_cache
@require_GET
@_member_view
def events(request: HttpRequest, member: Member) -> HttpResponseBase:
    rows = [{"event": e, "price": _price(e)} for e in reads.member_events(member)]
    return _render(request, "h5/events/list.html", {"rows": rows})


def _session_row(session: EventSession, mine: set[int]) -> dict[str, Any]:
    return {"session": session, "left": session.seats_left, "mine": session.store_id in mine}


@never_cache
@require_GET
@_member_view
def event(request: HttpRequest, member: Member, event_id: int) -> HttpResponseBase:
    try:
        found = reads.member_event(member, event_id)
    except NotFound:
        raise Http404 from None
    mine = reads.member_store_ids(member)
    held = [t for t in reads.member_tickets(member) if t.event_id == found.pk and t.status in SHOWS_CODE]
    return _render(
        request,
        "h5/events/event.html",
        {
            "event": found,
            "price": _price(found),
            "gift_value": fen_to_yuan(found.gift_value_fen) if found.gift_value_fen else "",
            "sessions": [_session_row(s, mine) for s in reads.sessions_for_member(member, found)],
            "held": held,
            "key": uuid.uuid4().hex,
        },
    )


@require_POST
@_member_view
def take(request: HttpRequest, member: Member, session_id: int) -> HttpResponseBase:
    """Get a ticket for one session; free → the ticket's page, paid → payment (then the ticket)."""
    try:
        ticket = tickets.get_ticket(member, session_id, key=request.POST.get("key") or "")
    except NotFound:
        raise Http404 from None
    except ServiceError as exc:
        _error(request, exc)
        session = EventSession.objects.filter(pk=session_id).only("event_id").first()
        return redirect("h5:event", event_id=session.event_id) if session else redirect("h5:events")
    if ticket.status == TicketStatus.PENDING_PAYMENT and ticket.order_id:
        return _pay_or_show(request, Order.objects.get(pk=ticket.order_id))
    messages.success(request, _("You have a ticket. Show it at the door."))
    return redirect("h5:ticket", ticket_id=ticket.pk)


@never_cache
@require_GET
@_member_view
def my_tickets(request: HttpRequest, member: Member) -> HttpResponseBase:
    return _render(request, "h5/events/tickets.html", {"tickets": reads.member_tickets(member)})


def _mine(member: Member, ticket_id: int) -> Ticket:
    try:
        return reads.member_ticket(member, ticket_id)
    except NotFound:
        raise Http404 from None


@never_cache
@require_GET
@_member_view
def ticket(request: HttpRequest, member: Member, ticket_id: int) -> HttpResponseBase:
    found = _mine(member, ticket_id)
    shows = found.status in SHOWS_CODE
    return _render(
        request,
        "h5/events/ticket.html",
        {
            "ticket": found,
            "shows_code": shows,
            "short_code": codes.format_short_code(found.short_code) if shows else "",
            "pay_at_door": found.status == TicketStatus.RESERVED,
            "price": fen_to_yuan(found.price_fen),
            "can_cancel": found.order_id is None and found.status == TicketStatus.VALID,
        },
    )


@never_cache
@require_GET
@_member_view
def ticket_qr(request: HttpRequest, member: Member, ticket_id: int) -> HttpResponseBase:
    found = _mine(member, ticket_id)
    if found.status not in SHOWS_CODE:
        raise Http404
    response = HttpResponse(qr_png(codes.long_code(found)), content_type="image/png")
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@_member_view
def ticket_cancel(request: HttpRequest, member: Member, ticket_id: int) -> HttpResponseBase:
    try:
        tickets.cancel_ticket(member, ticket_id)
    except NotFound:
        raise Http404 from None
    except ServiceError as exc:
        _error(request, exc)
    else:
        messages.success(request, _("Your ticket was cancelled."))
    return redirect("h5:ticket", ticket_id=ticket_id)
