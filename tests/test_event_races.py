"""Event ticket races on PostgreSQL with real parallel connections (issue 12 "must show")."""

from __future__ import annotations

import pytest

from siyu.common.errors import Conflict
from siyu.events.models import EventSession, Ticket
from siyu.events.services import checkin, codes, setup, tickets
from siyu.events.services.checkin import CheckIn
from siyu.loyalty.models import Coupon
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.org.models import AuditEntry
from tests.factories import (
    TICKET_PRICE,
    MemberFactory,
    StaffFactory,
    event_data,
    make_coupon_template,
    make_event_with_sessions,
    session_at,
    take_ticket,
)
from tests.race_support import needs_postgres, run_pooled, run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SEAT_HOLDING = ["reserved", "pending_payment", "valid", "checked_in"]


def test_two_counters_redeem_one_ticket_exactly_once(brand, hq_admin, store_a, member_a):
    needs_postgres()
    template = make_coupon_template(brand, name="内购会券")
    event = make_event_with_sessions(hq_admin, [store_a], ticket_price_fen=TICKET_PRICE)
    setup.update_event(
        hq_admin,
        event.pk,
        event_data(
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            ticket_price_fen=TICKET_PRICE,
            ticket_sku=event.ticket_sku_id,
            coupon_templates=[template.pk],
        ),
    )
    ticket = take_ticket(member_a, session_at(event, store_a))
    assert ticket.status == "reserved"  # pay at the door: the check-in also records the payment
    clerks = [
        StaffFactory(brand=brand, username=f"door{i}", role="clerk", stores=[store_a]) for i in range(2)
    ]
    code = [ticket.short_code, codes.long_code(ticket)]
    outcomes = run_threads(2, lambda i: checkin.check_in(clerks[i], code[i]))
    wins = [o for o in outcomes if isinstance(o, CheckIn)]
    assert len(wins) == 1, outcomes
    loser = next(o for o in outcomes if not isinstance(o, CheckIn))
    assert isinstance(loser, Conflict) and loser.code in ("already_checked_in", "already_used"), loser
    ticket.refresh_from_db()
    assert ticket.status == "checked_in" and ticket.coupons_issued == 1
    assert Coupon.objects.filter(member=member_a, template=template).count() == 1
    assert AuditEntry.objects.filter(action="event.check_in").count() == 1
    order = Order.objects.get(pk=ticket.order_id)
    assert order.status == "picked_up" and order.transitions.filter(to_status="paid").count() == 1


def test_members_race_for_the_last_seats_never_oversold(brand, hq_admin, store_a):
    needs_postgres()
    event = make_event_with_sessions(hq_admin, [store_a], capacity=30)
    session = session_at(event, store_a)
    early = [MemberFactory(brand=brand) for _ in range(20)]
    for member in early:
        take_ticket(member, session)
    racers = [MemberFactory(brand=brand) for _ in range(60)]

    def work(i: int) -> object:
        return tickets.get_ticket(racers[i], session.pk, key=f"race-{i}")

    outcomes = run_pooled(len(racers), work, threads=12)
    won = [o for o in outcomes if isinstance(o, Ticket)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(won) == 10 and len(refused) == 50, outcomes
    assert all(o.code == "sold_out" for o in refused)
    session.refresh_from_db()
    assert session.taken == session.capacity == 30
    assert Ticket.objects.filter(session=session, status__in=SEAT_HOLDING).count() == 30


def test_one_member_tapping_many_times_gets_only_the_limit(brand, hq_admin, store_a, member_a):
    needs_postgres()
    event = make_event_with_sessions(hq_admin, [store_a], capacity=100, member_limit=2)
    session = session_at(event, store_a)
    outcomes = run_threads(8, lambda i: tickets.get_ticket(member_a, session.pk, key=f"tap-{i}"))
    won = [o for o in outcomes if isinstance(o, Ticket)]
    assert len(won) == 2, outcomes
    assert all(
        isinstance(o, Conflict) and o.code in ("ticket_limit", "busy") for o in outcomes if o not in won
    )
    session.refresh_from_db()
    assert session.taken == 2
    # The same key retried at once answers one ticket.
    other = MemberFactory(brand=brand)
    same = run_threads(6, lambda i: tickets.get_ticket(other, session.pk, key="same-key"))
    assert len({t.pk for t in same if isinstance(t, Ticket)}) == 1 and all(
        isinstance(t, Ticket) for t in same
    )
    assert EventSession.objects.get(pk=session.pk).taken == 3
    assert Member.objects.count() >= 2
