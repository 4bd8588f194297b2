"""In-store events on the console, in the member H5 and through the API: scope, the door, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.events.models import Event, EventSession, Ticket
from siyu.events.services import codes
from tests.api_support import assert_error
from tests.factories import (
    TICKET_PRICE,
    StaffFactory,
    make_event_with_sessions,
    session_at,
    take_ticket,
    ticket_sku,
)
from tests.h5_support import member_client


@pytest.fixture
def clerk_b(brand, store_b):
    return StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


# --- console -----------------------------------------------------------------------------------------------


def test_head_office_creates_adds_sessions_and_publishes(client, hq_admin, store_a, store_b):
    client.force_login(hq_admin)
    start = timezone.now() + timedelta(days=1)
    response = client.post(
        "/events/new/",
        {
            "title": "年终内购会",
            "starts_at": _local(start),
            "ends_at": _local(start + timedelta(days=3)),
            "price": "0",
            "member_limit": "2",
            "gift_pack": "价值¥297礼包",
        },
    )
    event = Event.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/events/{event.pk}/"
    response = client.post(
        f"/events/{event.pk}/",
        {
            "stores": [store_a.pk, store_b.pk],
            "starts_at": _local(start + timedelta(hours=1)),
            "ends_at": _local(start + timedelta(hours=5)),
            "capacity": "300",
        },
    )
    assert response.status_code == 302
    assert EventSession.objects.filter(event=event, capacity=300).count() == 2
    client.post(f"/events/{event.pk}/publish/")
    event.refresh_from_db()
    assert event.status == "published"
    page = client.get(f"/events/{event.pk}/").content.decode()
    assert store_a.name in page and store_b.name in page


def test_store_roles_cannot_set_up(client, manager_a, hq_admin, store_a):
    client.force_login(manager_a)
    assert client.get("/events/new/").status_code == 403
    event = make_event_with_sessions(hq_admin, [store_a], publish=False)
    assert client.post(f"/events/{event.pk}/publish/").status_code == 403
    assert client.get(f"/events/{event.pk}/edit/").status_code == 403


def test_store_staff_see_their_stores_only(client, manager_a, hq_admin, store_a, store_b):
    theirs = make_event_with_sessions(hq_admin, [store_b])
    both = make_event_with_sessions(hq_admin, [store_a, store_b], title="两店活动")
    client.force_login(manager_a)
    assert client.get(f"/events/{theirs.pk}/").status_code == 404
    assert client.get(f"/events/{theirs.pk}/report/").status_code == 404
    listing = client.get("/events/").content.decode()
    assert "两店活动" in listing and f"/events/{theirs.pk}/" not in listing
    page = client.get(f"/events/{both.pk}/report/").content.decode()
    assert store_a.name in page and store_b.name not in page


def test_door_preview_then_check_in_then_already(client, clerk_a, hq_admin, store_a, member_a):
    event = make_event_with_sessions(hq_admin, [store_a])
    ticket = take_ticket(member_a, session_at(event, store_a))
    client.force_login(clerk_a)
    assert client.get("/events/door/").status_code == 200
    preview = client.post("/events/door/check/", {"code": ticket.short_code}, HTTP_X_REQUESTED_WITH="fetch")
    assert preview.status_code == 200 and 'data-pickup-step="confirm"' in preview.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).status == "valid"
    done = client.post(
        "/events/door/check/", {"code": ticket.short_code, "confirm": "1"}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert 'data-pickup-step="done"' in done.content.decode()
    again = client.post("/events/door/check/", {"code": ticket.short_code}, HTTP_X_REQUESTED_WITH="fetch")
    assert again.status_code == 400 and "Already checked in at" in again.content.decode()


def test_door_of_another_store_finds_nothing(client, clerk_b, hq_admin, store_a, member_a):
    event = make_event_with_sessions(hq_admin, [store_a])
    ticket = take_ticket(member_a, session_at(event, store_a))
    client.force_login(clerk_b)
    for code in (ticket.short_code, codes.long_code(ticket)):
        response = client.post("/events/door/check/", {"code": code, "confirm": "1"})
        assert response.status_code == 404
    assert Ticket.objects.get(pk=ticket.pk).status == "valid"


# --- H5 ----------------------------------------------------------------------------------------------------


def test_member_gets_a_free_ticket_and_shows_it(hq_admin, store_a, member_a):
    event = make_event_with_sessions(hq_admin, [store_a], capacity=5)
    member = member_client(member_a)
    page = member.get(f"/h5/events/{event.pk}/").content.decode()
    assert "5 seats left" in page
    session = session_at(event, store_a)
    response = member.post(f"/h5/events/sessions/{session.pk}/ticket/", {"key": "tap-1"})
    ticket = Ticket.objects.get(member=member_a)
    assert response.status_code == 302 and response["Location"] == f"/h5/tickets/{ticket.pk}/"
    member.post(f"/h5/events/sessions/{session.pk}/ticket/", {"key": "tap-1"})  # double tap
    assert Ticket.objects.count() == 1
    shown = member.get(f"/h5/tickets/{ticket.pk}/").content.decode()
    assert codes.format_short_code(ticket.short_code) in shown
    qr = member.get(f"/h5/tickets/{ticket.pk}/qr.png")
    assert qr.status_code == 200 and qr["Content-Type"] == "image/png"
    assert "年终内购会" in member.get("/h5/tickets/").content.decode()


def test_members_never_see_others_tickets(hq_admin, store_a, member_a, member_b):
    event = make_event_with_sessions(hq_admin, [store_a])
    ticket = take_ticket(member_a, session_at(event, store_a))
    other = member_client(member_b)
    assert other.get(f"/h5/tickets/{ticket.pk}/").status_code == 404
    assert other.get(f"/h5/tickets/{ticket.pk}/qr.png").status_code == 404
    assert other.post(f"/h5/tickets/{ticket.pk}/cancel/").status_code == 404


def test_paid_ticket_goes_to_payment(sandbox, hq_admin, store_a, member_a):
    event = make_event_with_sessions(hq_admin, [store_a], ticket_price_fen=TICKET_PRICE)
    member = member_client(member_a)
    response = member.post(f"/h5/events/sessions/{session_at(event, store_a).pk}/ticket/", {"key": "k"})
    assert response.status_code == 302 and "/h5/pay/sandbox/" in response["Location"]
    assert Ticket.objects.get().status == "pending_payment"


def test_full_session_says_so(hq_admin, store_a, member_a, member_b):
    event = make_event_with_sessions(hq_admin, [store_a], capacity=1)
    take_ticket(member_b, session_at(event, store_a))
    member = member_client(member_a)
    response = member.post(
        f"/h5/events/sessions/{session_at(event, store_a).pk}/ticket/", {"key": "k"}, follow=True
    )
    assert "This session is full." in response.content.decode()
    assert not Ticket.objects.filter(member=member_a).exists()


# --- API ---------------------------------------------------------------------------------------------------


def test_api_setup_and_report(as_admin, as_manager, hq_admin, store_a, store_b):
    start = timezone.now() + timedelta(hours=2)
    body = {
        "title": "API 内购会",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=1)).isoformat(),
        "ticket_price_fen": TICKET_PRICE,
        "ticket_sku": ticket_sku(hq_admin).pk,
    }
    created = as_admin.post("/events", body, headers={"Idempotency-Key": "e1"})
    assert created.status_code == 201
    again = as_admin.post("/events", body, headers={"Idempotency-Key": "e1"})
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    event_id = created.json()["id"]
    assert_error(as_manager.post("/events", body), 403)
    sessions = {
        "stores": [store_a.pk, store_b.pk],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=4)).isoformat(),
        "capacity": 50,
    }
    assert as_admin.post(f"/events/{event_id}/sessions", sessions).status_code == 201
    assert_error(as_admin.post(f"/events/{event_id}/sessions", sessions), 409, "session_exists")
    assert as_admin.post(f"/events/{event_id}/publish").json()["status"] == "published"
    mine = as_manager.get(f"/events/{event_id}").json()
    assert [s["store_id"] for s in mine["sessions"]] == [store_a.pk]
    report = as_manager.get(f"/events/{event_id}/report").json()
    assert report["capacity"] == 50 and report["sold"] == 0


def test_api_check_in_and_store_scope(as_clerk, hq_admin, store_a, store_b, member_a, member_b):
    event = make_event_with_sessions(hq_admin, [store_a, store_b])
    ticket = take_ticket(member_a, session_at(event, store_a))
    assert as_clerk.post("/event-tickets/preview", {"code": ticket.short_code}).json()["status"] == "valid"
    done = as_clerk.post("/event-tickets/check-in", {"code": codes.long_code(ticket)})
    assert done.status_code == 200 and done.json()["status"] == "checked_in"
    assert_error(
        as_clerk.post("/event-tickets/check-in", {"code": ticket.short_code}), 409, "already_checked_in"
    )
    other = take_ticket(member_b, session_at(event, store_b))
    assert_error(as_clerk.post("/event-tickets/check-in", {"code": other.short_code}), 404)
    other_store = make_event_with_sessions(hq_admin, [store_b], title="B only")
    assert_error(as_clerk.get(f"/events/{other_store.pk}"), 404)


def test_head_office_edits_texts_of_a_published_event(client, hq_admin, store_a):
    event = make_event_with_sessions(hq_admin, [store_a])
    client.force_login(hq_admin)
    page = client.get(f"/events/{event.pk}/edit/")
    assert page.status_code == 200
    form = {
        "title": "年终内购会 · 第二场",
        "starts_at": _local(event.starts_at),
        "ends_at": _local(event.ends_at),
        "price": "0",
        "member_limit": "1",
        "gift_pack": "新礼包",
    }
    refused = client.post(f"/events/{event.pk}/edit/", {**form, "member_limit": "3"})
    assert refused.status_code == 200 and Event.objects.get(pk=event.pk).member_limit == 1
    saved = client.post(f"/events/{event.pk}/edit/", form)
    assert saved.status_code == 302
    assert Event.objects.get(pk=event.pk).gift_pack == "新礼包"


def test_store_home_does_not_list_ticket_orders_as_pickups(
    sandbox, client, clerk_a, hq_admin, store_a, member_a
):
    from siyu.channels.payments.sandbox import confirm_sandbox_payment
    from siyu.orders.models import Order
    from siyu.orders.services import payments

    event = make_event_with_sessions(hq_admin, [store_a], ticket_price_fen=TICKET_PRICE)
    ticket = take_ticket(member_a, session_at(event, store_a))
    order = Order.objects.get(pk=ticket.order_id)
    payments.start_payment(order, notify_url="https://example.invalid/")
    payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))
    client.force_login(clerk_a)
    page = client.get("/").content.decode()
    assert "/events/door/" in page and f"/orders/{order.pk}/" not in page
