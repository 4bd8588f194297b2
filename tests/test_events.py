"""In-store events (内购会): setup, tickets, the seat following its order, the door, report, posts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ServiceError, ValidationFailed
from siyu.communities.models import Message
from siyu.events.models import Event, EventSession, Ticket
from siyu.events.services import checkin, codes, posts, reports, setup, tickets
from siyu.loyalty.models import Coupon
from siyu.orders.models import Order, OrderStatus, PickupAttemptCount, PickupCode
from siyu.orders.services import payments, pickup, transitions
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
    two_cups_at,
)

NOTIFY = "https://example.invalid/notify"


def pay_sandbox(order: Order) -> None:
    payments.start_payment(order, notify_url=NOTIFY)
    payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))


def state(session: EventSession) -> tuple[int, int]:
    """(taken, seat-holding tickets) of a session: always equal."""
    session.refresh_from_db()
    holding = Ticket.objects.filter(
        session=session, status__in=["reserved", "pending_payment", "valid", "checked_in"]
    )
    return session.taken, holding.count()


def robot_posts(group) -> list[Message]:
    return list(Message.objects.filter(community=group, sender_kind="robot").order_by("id"))


# --- setup -----------------------------------------------------------------------------------------------


def test_only_head_office_sets_up_and_bad_input_changes_nothing(hq_admin, manager_a, store_a):
    with pytest.raises(PermissionDenied):
        setup.create_event(manager_a, event_data())
    for bad in (
        {"title": ""},
        {"ends_at": timezone.now() - timedelta(days=3)},
        {"ticket_price_fen": 100},  # paid without an item
        {"ticket_price_fen": -1},
        {"member_limit": 0},
        {"art_url": "javascript:alert(1)"},
        {"coupon_templates": [999999]},
        {"bogus": 1},
    ):
        with pytest.raises((ValidationFailed, NotFound)):
            setup.create_event(hq_admin, event_data(**bad))
    assert Event.objects.count() == 0
    event = setup.create_event(hq_admin, event_data())
    for kwargs in (
        {"store_ids": [], "capacity": 5},
        {"store_ids": [store_a.pk], "capacity": 0},
        {"store_ids": ["x"], "capacity": 5},
    ):
        with pytest.raises((ValidationFailed, NotFound)):
            setup.add_sessions(hq_admin, event.pk, starts_at=event.starts_at, ends_at=event.ends_at, **kwargs)
    with pytest.raises(ValidationFailed):  # outside the event's window
        setup.add_sessions(
            hq_admin,
            event.pk,
            store_ids=[store_a.pk],
            starts_at=event.starts_at - timedelta(days=1),
            ends_at=event.ends_at,
            capacity=5,
        )
    with pytest.raises(Conflict):
        setup.publish_event(hq_admin, event.pk)  # no session
    assert EventSession.objects.count() == 0


def test_published_event_keeps_times_price_and_limit(hq_admin, store_a):
    event = make_event_with_sessions(hq_admin, [store_a])
    data = event_data(title="新标题", starts_at=event.starts_at, ends_at=event.ends_at)
    assert setup.update_event(hq_admin, event.pk, data).title == "新标题"
    with pytest.raises(Conflict):
        setup.update_event(hq_admin, event.pk, {**data, "member_limit": 3})
    with pytest.raises(Conflict):
        setup.publish_event(hq_admin, event.pk)


def test_capacity_never_below_taken(hq_admin, store_a, member_a, member_b):
    event = make_event_with_sessions(hq_admin, [store_a], capacity=3)
    session = session_at(event, store_a)
    take_ticket(member_a, session)
    take_ticket(member_b, session)
    with pytest.raises(Conflict):
        setup.set_capacity(hq_admin, session.pk, 1)
    assert setup.set_capacity(hq_admin, session.pk, 2).capacity == 2
    with pytest.raises(Conflict):
        take_ticket(MemberFactory(brand=member_a.brand), session)


# --- free tickets ----------------------------------------------------------------------------------------


def test_free_ticket_limit_idempotency_and_sold_out(hq_admin, store_a, member_a, brand):
    event = make_event_with_sessions(hq_admin, [store_a], capacity=2)
    session = session_at(event, store_a)
    ticket = tickets.get_ticket(member_a, session.pk, key="k1")
    assert ticket.status == "valid" and ticket.order_id is None and len(ticket.short_code) == 8
    assert tickets.get_ticket(member_a, session.pk, key="k1").pk == ticket.pk  # retry
    with pytest.raises(Conflict) as limit:
        tickets.get_ticket(member_a, session.pk, key="k2")
    assert limit.value.code == "ticket_limit"
    other = MemberFactory(brand=brand)
    take_ticket(other, session)
    with pytest.raises(Conflict) as full:
        take_ticket(MemberFactory(brand=brand), session)
    assert full.value.code == "sold_out"
    assert state(session) == (2, 2)
    # Giving a free ticket back frees the seat and the member's limit.
    tickets.cancel_ticket(member_a, ticket.pk)
    assert state(session) == (1, 1)
    assert tickets.get_ticket(member_a, session.pk, key="k3").status == "valid"


def test_bad_input_and_unpublished_change_nothing(hq_admin, store_a, member_a):
    draft = make_event_with_sessions(hq_admin, [store_a], publish=False)
    with pytest.raises(NotFound):
        take_ticket(member_a, session_at(draft, store_a))
    event = make_event_with_sessions(hq_admin, [store_a])
    session = session_at(event, store_a)
    for session_id, key in (("x", "k"), (-1, "k"), (10**20, "k"), (session.pk, ""), (session.pk, "x" * 500)):
        with pytest.raises((NotFound, ValidationFailed)):
            tickets.get_ticket(member_a, session_id, key=key)
    tickets.get_ticket(member_a, session.pk, key="same")
    with pytest.raises(Conflict) as exc:  # the same key for another session
        tickets.get_ticket(member_a, session_at(draft, store_a).pk, key="same")
    assert exc.value.code in ("idempotency_mismatch",)
    assert state(session) == (1, 1) and Ticket.objects.count() == 1


# --- paid tickets ----------------------------------------------------------------------------------------


def test_paid_online_ticket_valid_on_payment(sandbox, hq_admin, store_a, member_a):
    event = make_event_with_sessions(hq_admin, [store_a], ticket_price_fen=TICKET_PRICE)
    ticket = take_ticket(member_a, session_at(event, store_a))
    order = Order.objects.get(pk=ticket.order_id)
    assert ticket.status == "pending_payment"
    assert (order.source, order.total_fen, order.holds_listing_stock) == ("event_ticket", TICKET_PRICE, False)
    pay_sandbox(order)
    ticket.refresh_from_db()
    assert ticket.status == "valid"


def test_unpaid_ticket_expires_and_frees_its_seat(sandbox, hq_admin, store_a, member_a):
    event = make_event_with_sessions(hq_admin, [store_a], capacity=1, ticket_price_fen=TICKET_PRICE)
    session = session_at(event, store_a)
    ticket = take_ticket(member_a, session)
    assert state(session) == (1, 1)
    order = Order.objects.get(pk=ticket.order_id)
    transitions.expire_order(order, order.expires_at + timedelta(seconds=1))
    ticket.refresh_from_db()
    assert ticket.status == "cancelled" and state(session) == (0, 0)
    assert take_ticket(member_a, session).status == "pending_payment"  # seat and limit free again


def test_refunded_ticket_frees_its_seat(sandbox, hq_admin, store_a, member_a, manager_a):
    event = make_event_with_sessions(hq_admin, [store_a], ticket_price_fen=TICKET_PRICE)
    session = session_at(event, store_a)
    ticket = take_ticket(member_a, session)
    pay_sandbox(Order.objects.get(pk=ticket.order_id))
    transitions.refund(manager_a, ticket.order_id, "不去了")
    ticket.refresh_from_db()
    assert ticket.status == "refunded" and state(session) == (0, 0)


def test_pay_at_the_door_ticket(hq_admin, store_a, member_a, clerk_a):
    event = make_event_with_sessions(hq_admin, [store_a], ticket_price_fen=TICKET_PRICE)
    ticket = take_ticket(member_a, session_at(event, store_a))
    assert ticket.status == "reserved"
    # The ordinary pickup counter refuses the ticket order: it is redeemed at the door.
    pickup_short = PickupCode.objects.get(order_id=ticket.order_id).short_code
    with pytest.raises(Conflict) as exc:
        pickup.verify_pickup(clerk_a, pickup_short)
    assert exc.value.code == "event_ticket"
    done = checkin.check_in(clerk_a, ticket.short_code)
    order = Order.objects.get(pk=ticket.order_id)
    assert done.ticket.status == "checked_in" and order.status == OrderStatus.PICKED_UP
    assert order.paid_at is not None


def test_ticket_order_refused_at_the_pickup_counter(sandbox, hq_admin, store_a, member_a, clerk_a):
    event = make_event_with_sessions(hq_admin, [store_a], ticket_price_fen=TICKET_PRICE)
    ticket = take_ticket(member_a, session_at(event, store_a))
    order = Order.objects.get(pk=ticket.order_id)
    pay_sandbox(order)
    from siyu.orders.services.pickup_codes import code_of

    with pytest.raises(Conflict) as exc:
        pickup.verify_pickup(clerk_a, code_of(order))
    assert exc.value.code == "event_ticket"
    checkin.check_in(clerk_a, codes.long_code(ticket))
    order.refresh_from_db()
    assert order.status == OrderStatus.PICKED_UP


# --- the door ----------------------------------------------------------------------------------------------


def test_check_in_once_with_coupons_once_and_audit(hq_admin, store_a, member_a, clerk_a, brand):
    template = make_coupon_template(brand, name="内购会专享券")
    event = make_event_with_sessions(hq_admin, [store_a])
    setup.update_event(
        hq_admin,
        event.pk,
        event_data(starts_at=event.starts_at, ends_at=event.ends_at, coupon_templates=[template.pk]),
    )
    ticket = take_ticket(member_a, session_at(event, store_a))
    seen = checkin.preview(clerk_a, codes.format_short_code(ticket.short_code).lower())
    assert seen.pk == ticket.pk and seen.status == "valid"  # preview claims nothing
    done = checkin.check_in(clerk_a, codes.long_code(ticket))
    assert done.coupons_issued == 1 and done.ticket.gift_handed_over
    assert done.ticket.checked_in_by == clerk_a
    with pytest.raises(Conflict) as again:
        checkin.check_in(clerk_a, ticket.short_code)
    assert again.value.code == "already_checked_in"
    assert "by clerka" in str(again.value.message) or str(clerk_a) in str(again.value.message)
    assert Coupon.objects.filter(member=member_a, template=template).count() == 1
    assert AuditEntry.objects.filter(action="event.check_in", target_id=str(ticket.pk)).count() == 1


def test_other_store_staff_never_find_the_ticket(hq_admin, store_a, store_b, member_a, brand):
    event = make_event_with_sessions(hq_admin, [store_a, store_b])
    ticket = take_ticket(member_a, session_at(event, store_a))
    clerk_b = StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])
    for code in (ticket.short_code, codes.long_code(ticket)):
        with pytest.raises(NotFound):
            checkin.check_in(clerk_b, code)
    with pytest.raises(NotFound):  # head office does not serve the counter either
        checkin.check_in(hq_admin, ticket.short_code)
    ticket.refresh_from_db()
    assert ticket.status == "valid"
    assert AuditEntry.objects.filter(action="event.check_in_refused").exists()


def test_junk_codes_are_refused_and_limited(hq_admin, store_a, clerk_a, settings):
    settings.SIYU_PICKUP_MISSES_PER_STAFF = 3
    for code in ("", "x" * 500, "t1:forged", "ABCD-EFGH", "ABCD-EFGJ"):
        with pytest.raises(NotFound):
            checkin.check_in(clerk_a, code)
    from siyu.common.errors import RateLimited

    with pytest.raises(RateLimited):
        checkin.check_in(clerk_a, "ABCD-EFGK")


def test_door_opens_three_hours_before(hq_admin, store_a, member_a, clerk_a):
    event = make_event_with_sessions(
        hq_admin, [store_a], session_start=timezone.now() + timedelta(hours=20), session_hours=2
    )
    ticket = take_ticket(member_a, session_at(event, store_a))
    with pytest.raises(Conflict) as exc:
        checkin.check_in(clerk_a, ticket.short_code)
    assert exc.value.code == "too_early"


# --- the report --------------------------------------------------------------------------------------------


def test_report_matches_a_hand_example(hq_admin, store_a, store_b, clerk_a, manager_a, brand):
    """Store A: 3 seats, 3 tickets, 2 checked in; holders buy ¥39 + ¥20 at A during the event, a
    non-holder ¥39 (not counted); store B: 1 ticket, nobody came."""
    event = make_event_with_sessions(hq_admin, [store_a, store_b], capacity=3)
    a, b = session_at(event, store_a), session_at(event, store_b)
    holders = [MemberFactory(brand=brand, home_store=store_a) for _ in range(3)]
    stranger = MemberFactory(brand=brand, home_store=store_a)
    mine = [take_ticket(m, a) for m in holders]
    take_ticket(MemberFactory(brand=brand, home_store=store_b), b)
    for t in mine[:2]:
        checkin.check_in(clerk_a, t.short_code)
    cup_w, cup_b = two_cups_at(hq_admin, store_a)
    from tests.factories import place_order

    for member, listing in ((holders[0], cup_w), (holders[1], cup_b), (stranger, cup_w)):
        order = place_order(member, store_a, [(listing.pk, 1)])
        pickup.verify_pickup(clerk_a, pickup_code(order))
    report = reports.event_report(hq_admin, event.pk)
    assert (report.capacity, report.sold, report.checked_in, report.gifts) == (6, 4, 2, 2)
    assert report.attendance_percent == 50
    assert (report.sales_count, report.sales_fen) == (2, 3500 + 2000)  # member prices: 35.00 and 20.00
    row_a = next(r for r in report.sessions if r.store_id == store_a.pk)
    assert (row_a.sold, row_a.checked_in, row_a.attendance_percent) == (3, 2, 67)
    # The store manager sees store A only.
    mine_only = reports.event_report(manager_a, event.pk)
    assert [r.store_id for r in mine_only.sessions] == [store_a.pk] and mine_only.sold == 3


def pickup_code(order: Order) -> str:
    from siyu.orders.services.pickup_codes import code_of

    return code_of(order)


def test_store_staff_see_only_events_of_their_stores(hq_admin, store_b, manager_a):
    event = make_event_with_sessions(hq_admin, [store_b])
    with pytest.raises(NotFound):
        reports.event_report(manager_a, event.pk)


# --- robot posts -------------------------------------------------------------------------------------------


def test_card_once_then_progress_at_milestones(hq_admin, store_a, group_a, brand):
    event = make_event_with_sessions(hq_admin, [store_a], capacity=20)
    assert posts.run_event_posts() == 1
    assert posts.run_event_posts() == 0  # the card went out once; no milestone yet
    first = robot_posts(group_a)
    assert len(first) == 1 and first[0].card["url"] == f"/h5/events/{event.pk}/"
    session = session_at(event, store_a)
    for _ in range(3):
        take_ticket(MemberFactory(brand=brand), session)
    assert posts.run_event_posts() == 1  # 3 ≥ a tenth of 20: one batched post
    assert posts.run_event_posts() == 0
    texts = [m.text for m in robot_posts(group_a)[1:]]
    assert texts == [
        f"【{event.title}】\n3 people have signed up, 17 tickets left.\nTap the event card to get yours."
    ]


# --- the seat ledger as a state machine ------------------------------------------------------------------


@pytest.mark.django_db
def test_seats_equal_holding_tickets_for_any_sequence(hq_admin, store_a, clerk_a, brand):
    """Any sequence of taking (with retried keys), giving back, expiring unpaid orders and checking in keeps
    taken == seat-holding tickets ≤ capacity, at most member_limit per member, one ticket per key."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    event = make_event_with_sessions(hq_admin, [store_a], capacity=4, member_limit=2)
    session = session_at(event, store_a)
    members = [MemberFactory(brand=brand) for _ in range(3)]
    steps = st.lists(
        st.tuples(st.sampled_from(["take", "cancel", "check_in"]), st.integers(0, 2), st.integers(0, 3)),
        max_size=25,
    )

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(steps)
    def run(sequence):
        Ticket.objects.filter(session=session).delete()
        EventSession.objects.filter(pk=session.pk).update(taken=0)
        PickupAttemptCount.objects.all().delete()
        keys: dict[tuple[int, int], int] = {}
        for action, who, n in sequence:
            member = members[who]
            try:
                if action == "take":
                    ticket = tickets.get_ticket(member, session.pk, key=f"k{n}")
                    assert keys.setdefault((who, n), ticket.pk) == ticket.pk  # a retried key: same ticket
                else:
                    mine = list(Ticket.objects.filter(member=member, session=session).order_by("pk"))
                    if not mine:
                        continue
                    target = mine[n % len(mine)]
                    if action == "cancel":
                        tickets.cancel_ticket(member, target.pk)
                    else:
                        checkin.check_in(clerk_a, target.short_code)
            except ServiceError:
                pass  # refused: changes nothing (checked below)
            taken, holding = state(session)
            assert taken == holding <= 4
            for m in members:
                live = Ticket.objects.filter(member=m, session=session, status__in=["valid", "checked_in"])
                assert live.count() <= 2

    run()


def test_demo_event_is_seeded_once(brand, store_a, store_b, member_a):
    from siyu.tooling.demo.events import seed_demo_event

    now = timezone.now()
    event = seed_demo_event(brand, now)
    assert seed_demo_event(brand, now).pk == event.pk
    assert event.status == "published" and event.sessions.count() == 2
    assert take_ticket(member_a, session_at(event, store_a)).status == "valid"
