"""Members get tickets; a ticket's seat follows its order (the ``paid`` and ``released`` order hooks).

Guarantees:

- **Never oversold.** A seat is taken with one conditional UPDATE (``taken < capacity``) in the same
  transaction as the ticket row (and, for a paid ticket, its order): a refusal or failure leaves nothing. A
  seat goes back with one conditional UPDATE (``taken > 0``) in the transaction that ends the ticket. So a
  session's ``taken`` always equals its seat-holding tickets, and CHECK ``taken <= capacity`` stands behind.
- **Per-member limit.** A member holds at most the event's ``member_limit`` seat-holding tickets (the
  ``seq`` number and its partial unique index make this hold under concurrency).
- **Idempotent.** The member's key (``idempotency_key``, kept beside a request hash) answers the same
  ticket on a retry, also for concurrent retries; the same key for another session is Conflict
  ``idempotency_mismatch``.
- **Free** tickets are valid at once. **Paid** tickets are sold through orders (``create_order_record``,
  source ``event_ticket``, the event holding the seat rather than listing stock): paid online the ticket
  waits for payment (``pending_payment`` → ``valid`` on the ``paid`` hook); paying at pickup it is
  ``reserved`` and paid at the door. When the order ends unpaid or is refunded (``released``), the
  ticket is cancelled / refunded and its seat freed, inside the order's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.catalog.models import StoreListing
from siyu.common.errors import Conflict, NotFound
from siyu.common.idempotency import mismatch, request_hash, system_key
from siyu.common.validators import clean_idempotency_key, parse_id
from siyu.events.models import SEAT_HOLDING, Event, EventSession, EventStatus, Ticket, TicketStatus
from siyu.events.services import codes
from siyu.members.models import Member
from siyu.orders.models import Order, OrderSource, OrderStatus, PaymentMethod
from siyu.orders.services.create import LineRequest, OrderRequest, create_order_record

T = TicketStatus
_ATTEMPTS = 6


class _Clash(Exception):
    """A unique index refused the row (a parallel request, or a short code drawn twice): try again."""


def member_session(member: Member, session_id: Any) -> EventSession:
    """A session of a published event of the member's brand at an open store; NotFound otherwise."""
    pk = parse_id(session_id, "session", _("No such session."))
    session = (
        EventSession.objects.select_related("event", "event__ticket_sku__product", "store")
        .filter(pk=pk, event__brand_id=member.brand_id, event__status=EventStatus.PUBLISHED)
        .first()
    )
    if session is None or session.store.status != session.store.Status.OPEN:
        raise NotFound(_("No such session."), field="session")
    return session


def _replay(member: Member, key: str, digest: str) -> Ticket | None:
    found = Ticket.objects.filter(member=member, idempotency_key=key).first()
    if found is None:
        return None
    if found.request_hash != digest:
        raise mismatch()
    return found


def _free_seq(event: Event, member: Member) -> int:
    used = set(
        Ticket.objects.filter(event=event, member=member, status__in=SEAT_HOLDING).values_list(
            "seq", flat=True
        )
    )
    for seq in range(1, event.member_limit + 1):
        if seq not in used:
            return seq
    raise Conflict(
        _("You already have as many tickets as one member may hold."), field="session", code="ticket_limit"
    )


def _listing(session: EventSession) -> StoreListing:
    sku_id = session.event.ticket_sku_id
    listing = (
        None
        if sku_id is None
        else (
            StoreListing.objects.select_related("sku__product")
            .filter(store_id=session.store_id, sku_id=sku_id)
            .first()
        )
    )
    if listing is None:
        raise Conflict(_("Tickets are not sold at this store."), field="session", code="unavailable")
    return listing


def _order(
    ticket: Ticket, session: EventSession, member: Member, listing: StoreListing, now: datetime
) -> Order:
    event = session.event
    return create_order_record(
        OrderRequest(
            member_id=member.pk,
            brand_id=event.brand_id,
            store_id=session.store_id,
            lines=[LineRequest(listing.pk, listing.sku, 1, unit_price_fen=event.ticket_price_fen)],
            pickup_window=(now, session.ends_at),
            idempotency_key=system_key("event-ticket", ticket.pk),
            source=OrderSource.EVENT_TICKET,
            holds_listing_stock=False,
            event_extra={"ticket_id": ticket.pk, "event_id": event.pk},
        )
    )


def _take(session: EventSession, member: Member, key: str, digest: str, now: datetime) -> Ticket:
    event = session.event
    listing = _listing(session) if not event.is_free else None
    try:
        with transaction.atomic():
            seq = _free_seq(event, member)
            if not EventSession.objects.filter(pk=session.pk, taken__lt=F("capacity")).update(
                taken=F("taken") + 1
            ):
                raise Conflict(_("This session is full."), field="session", code="sold_out")
            ticket = Ticket.objects.create(
                event=event,
                session=session,
                store_id=session.store_id,
                member=member,
                status=T.VALID if event.is_free else T.PENDING_PAYMENT,
                seq=seq,
                member_limit=event.member_limit,
                price_fen=event.ticket_price_fen,
                short_code=codes.draw_short_code(),
                idempotency_key=key,
                request_hash=digest,
            )
            update: dict[str, Any] = {"code_hash": codes.code_hash(codes.long_code(ticket))}
            if listing is not None:
                order = _order(ticket, session, member, listing, now)
                update["order"] = order
                if order.payment_method == PaymentMethod.PAY_AT_PICKUP:
                    update["status"] = T.RESERVED
            Ticket.objects.filter(pk=ticket.pk).update(**update)
            record_event(
                "event.ticket_taken",
                member_id=member.pk,
                store_id=session.store_id,
                payload={
                    "event_id": event.pk,
                    "session_id": session.pk,
                    "ticket_id": ticket.pk,
                    "price_fen": event.ticket_price_fen,
                    "order_id": update["order"].pk if "order" in update else None,
                },
            )
    except IntegrityError as exc:
        raise _Clash from exc
    return Ticket.objects.get(pk=ticket.pk)


def get_ticket(member: Member, session_id: Any, *, key: Any, now: datetime | None = None) -> Ticket:
    """Give ``member`` a ticket for session ``session_id`` (see module guarantees). Refusals: NotFound (no
    such session for this member), Conflict ``session_over``, ``sold_out``, ``ticket_limit``,
    ``unavailable`` (the ticket item is not listed at the store), ``idempotency_mismatch``; what orders
    refuses for a paid ticket. A refusal changes nothing."""
    clean_key = clean_idempotency_key(key)
    pk = parse_id(session_id, "session", _("No such session."))
    digest = request_hash("event.ticket", pk)
    found = _replay(member, clean_key, digest)
    if found is not None:
        return found
    if member.erased_at is not None:
        raise NotFound(_("No such member."), field="member")
    session = member_session(member, pk)
    now = now or timezone.now()
    if session.ends_at <= now or session.event.ends_at <= now:
        raise Conflict(_("This session is over."), field="session", code="session_over")
    for _attempt in range(_ATTEMPTS):
        try:
            return _take(session, member, clean_key, digest, now)
        except _Clash:
            found = _replay(member, clean_key, digest)
            if found is not None:
                return found  # a parallel retry of the same key won
    raise Conflict(_("Please try again."), field="session", code="busy")


# --- the order's life (``siyu.events.order_hooks``) --------------------------------------------------


def on_order_paid(order: Order) -> None:
    """``paid`` hook of ticket orders (inside ``mark_paid``'s transaction): the ticket becomes valid."""
    Ticket.objects.filter(order_id=order.pk, status__in=(T.PENDING_PAYMENT, T.RESERVED)).update(
        status=T.VALID, updated_at=timezone.now()
    )


def on_order_released(order: Order) -> None:
    """``released`` hook of ticket orders (the order was cancelled, expired or refunded, inside its
    transaction): the ticket is cancelled (refunded when the order was) and its seat goes back, once. A
    checked-in ticket stays as it is."""
    to = T.REFUNDED if order.status == OrderStatus.REFUNDED else T.CANCELLED
    for ticket in Ticket.objects.filter(
        order_id=order.pk, status__in=(T.PENDING_PAYMENT, T.RESERVED, T.VALID)
    ):
        release(ticket, to)


def release(ticket: Ticket, to: str) -> bool:
    """End a seat-holding ticket (→ ``to``) and give its seat back; False if it was no longer open."""
    with transaction.atomic():
        if not Ticket.objects.filter(
            pk=ticket.pk, status__in=(T.PENDING_PAYMENT, T.RESERVED, T.VALID)
        ).update(status=to, updated_at=timezone.now()):
            return False
        EventSession.objects.filter(pk=ticket.session_id, taken__gt=0).update(taken=F("taken") - 1)
        record_event(
            "event.ticket_released",
            member_id=ticket.member_id,
            store_id=ticket.store_id,
            payload={"event_id": ticket.event_id, "ticket_id": ticket.pk, "status": to},
        )
    return True


def cancel_ticket(member: Member, ticket_id: Any) -> Ticket:
    """The member gives back a free ticket not yet used (valid → cancelled, seat freed). A paid ticket is
    given back by cancelling (unpaid) or refunding its order (Conflict ``paid_ticket``); NotFound for another
    member's ticket."""
    pk = parse_id(ticket_id, "ticket", _("No such ticket."))
    ticket = Ticket.objects.filter(pk=pk, member=member).first()
    if ticket is None:
        raise NotFound(_("No such ticket."), field="ticket")
    if ticket.order_id is not None:
        raise Conflict(_("Cancel the ticket's order instead."), field="ticket", code="paid_ticket")
    if not release(ticket, T.CANCELLED):
        raise Conflict(_("This ticket can no longer be cancelled."), field="ticket", code="not_open")
    ticket.refresh_from_db()
    return ticket
