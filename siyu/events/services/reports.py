"""The event's report: tickets by session, attendance, gift packs, coupons, and the event's sales.

- **sold**: tickets that hold a seat and are paid or free (``valid``, ``checked_in``) plus seats held to be
  paid at the door (``reserved``); tickets waiting for online payment are counted apart (``pending``).
- **attendance**: checked in / sold.
- **event sales**: orders at the event's session stores, placed within the event's window
  (``starts_at`` ≤ placed < ``ends_at``), by members holding a sold or checked-in ticket of the event at
  any store, paid (paid, ready, picked up) — the ticket orders themselves excluded. Count and GMV
  (``total_fen``), per store and in all.

Scope: a store role sees its stores' sessions and sales only (the same event, fewer rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, Sum

from siyu.events.models import Event, Ticket, TicketStatus
from siyu.events.services.reads import get_event, scoped_sessions
from siyu.orders.models import Order, OrderSource, OrderStatus
from siyu.org.models import Staff

T = TicketStatus
SOLD = (T.RESERVED, T.VALID, T.CHECKED_IN)
PAID_ORDER = (OrderStatus.PAID, OrderStatus.READY, OrderStatus.PICKED_UP)


@dataclass
class SessionRow:
    session_id: int
    store_id: int
    store_name: str
    starts_at: Any
    capacity: int
    taken: int
    sold: int = 0
    pending: int = 0
    checked_in: int = 0
    gifts: int = 0
    coupons: int = 0
    sales_count: int = 0
    sales_fen: int = 0

    @property
    def attendance_percent(self) -> int:
        return round(100 * self.checked_in / self.sold) if self.sold else 0


@dataclass
class EventReport:
    event: Event
    sessions: list[SessionRow] = field(default_factory=list)
    sold: int = 0
    pending: int = 0
    checked_in: int = 0
    gifts: int = 0
    coupons: int = 0
    capacity: int = 0
    ticket_revenue_fen: int = 0
    sales_count: int = 0
    sales_fen: int = 0

    @property
    def attendance_percent(self) -> int:
        return round(100 * self.checked_in / self.sold) if self.sold else 0


def event_report(staff: Staff, event_id: Any) -> EventReport:
    """The report of one event for ``staff`` (NotFound outside their scope). See the module docstring."""
    event = get_event(staff, event_id)
    sessions = list(scoped_sessions(staff, event))
    rows = {
        s.pk: SessionRow(
            session_id=s.pk,
            store_id=s.store_id,
            store_name=s.store.name,
            starts_at=s.starts_at,
            capacity=s.capacity,
            taken=s.taken,
        )
        for s in sessions
    }
    counts = (
        Ticket.objects.filter(session_id__in=list(rows))
        .values("session_id")
        .annotate(
            sold=Count("id", filter=Q(status__in=SOLD)),
            pending=Count("id", filter=Q(status=T.PENDING_PAYMENT)),
            checked_in=Count("id", filter=Q(status=T.CHECKED_IN)),
            gifts=Count("id", filter=Q(status=T.CHECKED_IN, gift_handed_over=True)),
            coupons=Sum("coupons_issued", filter=Q(status=T.CHECKED_IN)),
            revenue=Sum("price_fen", filter=Q(status__in=(T.VALID, T.CHECKED_IN))),
        )
    )
    report = EventReport(event=event)
    for c in counts:
        row = rows[c["session_id"]]
        row.sold, row.pending, row.checked_in = c["sold"], c["pending"], c["checked_in"]
        row.gifts, row.coupons = c["gifts"], c["coupons"] or 0
        report.ticket_revenue_fen += c["revenue"] or 0
    holders = Ticket.objects.filter(event=event, status__in=SOLD).values("member_id")
    store_ids = sorted({r.store_id for r in rows.values()})
    sales = (
        Order.objects.filter(
            store_id__in=store_ids,
            member_id__in=holders,
            created_at__gte=event.starts_at,
            created_at__lt=event.ends_at,
            status__in=PAID_ORDER,
        )
        .exclude(source=OrderSource.EVENT_TICKET)
        .values("store_id")
        .annotate(n=Count("id"), fen=Sum("total_fen"))
    )
    by_store = {s["store_id"]: (s["n"], s["fen"] or 0) for s in sales}
    seen_stores: set[int] = set()
    for row in sorted(rows.values(), key=lambda r: (r.starts_at, r.store_id)):
        report.sessions.append(row)
        report.capacity += row.capacity
        report.sold += row.sold
        report.pending += row.pending
        report.checked_in += row.checked_in
        report.gifts += row.gifts
        report.coupons += row.coupons
        if row.store_id not in seen_stores:
            # A store with several sessions: its sales are shown on its first session's row.
            seen_stores.add(row.store_id)
            row.sales_count, row.sales_fen = by_store.get(row.store_id, (0, 0))
            report.sales_count += row.sales_count
            report.sales_fen += row.sales_fen
    return report
