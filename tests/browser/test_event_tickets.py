"""Event tickets in real browsers (two phones, 390×844): a member opens the year-end sale from home, buys a
¥99 ticket, pays in the SANDBOX cashier, shows the ticket (QR + short code); the clerk types the code on the
door page, sees the member and the gift pack, checks in (a coupon is issued); a second try says when and by
whom it was already checked in."""

from __future__ import annotations

import re

import pytest

from siyu.events.models import Ticket
from siyu.events.services import codes, setup
from siyu.loyalty.models import Coupon
from siyu.orders.models import Order
from tests.browser.support import screenshot, sign_in_member, sign_in_staff
from tests.factories import (
    TICKET_PRICE,
    MemberFactory,
    StaffFactory,
    StoreFactory,
    event_data,
    make_coupon_template,
    make_event_with_sessions,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_buys_and_shows_a_ticket_and_the_clerk_checks_it_in(
    live_server, browser_two_pages, settings, tmp_path
):
    from playwright.sync_api import expect

    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    store = StoreFactory(code="A001", name="朝阳大悦城店")
    hq = StaffFactory(brand=store.brand, username="hqadmin", role="hq_admin")
    StaffFactory(brand=store.brand, username="door1", display_name="王店员", role="clerk", stores=[store])
    member = MemberFactory(brand=store.brand, home_store=store, name="王小明", mobile="13812341234")
    coupon = make_coupon_template(store.brand, name="内购会满减券")
    event = make_event_with_sessions(hq, [store], capacity=300, ticket_price_fen=TICKET_PRICE)
    setup.update_event(
        hq,
        event.pk,
        event_data(
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            ticket_price_fen=TICKET_PRICE,
            ticket_sku=event.ticket_sku_id,
            coupon_templates=[coupon.pk],
        ),
    )
    phone, door = browser_two_pages

    # From home to the event, one session with its seats; buy, pay in the SANDBOX cashier.
    sign_in_member(phone, live_server, member)
    phone.goto(f"{live_server.url}/h5/")
    phone.click("[data-testid=link-events]")
    phone.click("[data-testid=event-row]")
    expect(phone.locator("[data-testid=event-session]")).to_contain_text("300")
    screenshot(phone, tmp_path, "event-page")
    phone.click("[data-testid=event-session] button[type=submit]")
    phone.wait_for_url(re.compile(r"/h5/pay/sandbox/[^/]+/$"))
    phone.click("main form button[type=submit]")
    phone.wait_for_url(re.compile(r"/h5/orders/\d+/$"))
    phone.click("[data-testid=to-tickets]")
    phone.click("[data-testid=ticket-row]")
    expect(phone.locator("[data-testid=ticket-qr] img")).to_be_visible()
    phone.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=ticket-qr] img');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    short = phone.locator("[data-testid=ticket-code]").inner_text().strip()
    ticket = Ticket.objects.get(member=member)
    assert ticket.status == "valid" and short == codes.format_short_code(ticket.short_code)
    screenshot(phone, tmp_path, "ticket-with-code")

    # The door: the clerk types the code as heard, sees who and the gift pack, checks in.
    sign_in_staff(door, live_server, "door1")
    door.goto(f"{live_server.url}/events/door/")
    door.fill("#pickup-code", short.replace("-", " ").lower())
    door.click("#pickup-form button[type=submit]")
    confirm = door.locator("[data-pickup-step=confirm]")
    expect(confirm).to_contain_text("王小明")
    expect(confirm).to_contain_text(event.gift_pack)
    screenshot(door, tmp_path, "door-confirm")
    confirm.locator("button[type=submit]").click()
    expect(door.locator("[data-pickup-step=done]")).to_be_visible()
    screenshot(door, tmp_path, "door-checked-in")
    ticket.refresh_from_db()
    assert ticket.status == "checked_in" and Order.objects.get(pk=ticket.order_id).status == "picked_up"
    assert Coupon.objects.filter(member=member, template=coupon).count() == 1

    # Again: refused, saying when and by whom.
    door.fill("#pickup-code", short)
    door.click("#pickup-form button[type=submit]")
    expect(door.locator("[data-pickup-step=refused]")).to_contain_text("王店员")
    screenshot(door, tmp_path, "door-second-try")

    # The member's ticket now says it was used.
    phone.reload()
    expect(phone.locator("[data-testid=ticket-qr]")).to_have_count(0)
    screenshot(phone, tmp_path, "ticket-used")
