"""Commerce in real browsers: a member opens the robot's product card in the group chat, buys, pays in the
SANDBOX cashier and sees the pickup QR; a clerk of the store verifies the code at the counter (typed, since
headless browsers have no camera), and the member's order page then says it was picked up."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from siyu.catalog.models import StoreListing
from siyu.catalog.services import cards, publication, stock
from siyu.communities.models import Community
from siyu.communities.services import live
from siyu.communities.services.joining import join_community
from siyu.orders.models import Order, OrderStatus
from tests.browser.support import screenshot, sign_in_member
from tests.factories import TEST_PASSWORD, MemberFactory, StaffFactory, StoreFactory, make_product

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_buys_from_group_card_and_clerk_verifies_pickup(
    live_server, browser_two_pages, settings, tmp_path
):
    from playwright.sync_api import expect

    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    # Short streams and keepalives so the live server's threads end soon after the chat page is left.
    settings.SIYU_CHAT_STREAM_SECONDS = 30
    settings.SIYU_CHAT_KEEPALIVE_SECONDS = 1

    store = StoreFactory(code="A001", name="朝阳大悦城店")
    hq = StaffFactory(brand=store.brand, username="hqadmin", role="hq_admin")
    StaffFactory(brand=store.brand, username="clerk1", role="clerk", stores=[store])
    product = make_product(hq, "北欧陶瓷杯", codes=("CUP-W",))  # 39.00, member price 35.00
    publication.publish(hq, product.pk, scope="all")
    listing = StoreListing.objects.get(store=store, sku__product=product)
    stock.set_stock(hq, listing.pk, 5, idempotency_key=uuid.uuid4().hex)
    group = Community.objects.create(brand=store.brand, store=store, name="朝阳大悦城店·好物群", sequence=1)
    member = MemberFactory(brand=store.brand, home_store=store, name="王小明", mobile="13812341234")
    join_community(group, member, scene="store_qr")

    [card] = cards.post_product_card(
        hq, product_id=product.pk, community_ids=[group.pk], idempotency_key="browser-card"
    )
    assert card.card["url"] == f"/h5/mall/p/{listing.pk}/?g={group.pk}"

    phone, counter = browser_two_pages

    # The member opens the group chat and taps the robot's card.
    sign_in_member(phone, live_server, member)
    phone.goto(f"{live_server.url}/h5/c/{group.pk}/")
    link = phone.locator(".chat-msg.chat-robot a.chat-card")
    expect(link).to_have_count(1)
    expect(link.locator(".chat-card-title")).to_have_text("北欧陶瓷杯")
    expect(link.locator(".chat-card-text")).to_contain_text("35.00")
    assert link.get_attribute("target") is None  # opens in the same tab / webview
    screenshot(phone, tmp_path, "card-in-chat")
    link.click()
    phone.wait_for_url(re.compile(rf"/h5/mall/p/{listing.pk}/\?g={group.pk}$"))
    expect(phone.locator("h1.h5-title")).to_contain_text("北欧陶瓷杯")

    # Add to cart, choose tomorrow morning, place the order.
    phone.click("form[action$='/mall/cart/add/'] button[type=submit]")
    expect(phone.locator("#mall-toast")).to_contain_text("Added to your cart")  # stays on the page
    phone.click("a.mall-buybar-cart")
    phone.wait_for_url("**/h5/mall/cart/")
    phone.select_option("select[name=pickup_window]", "1:10")
    phone.click("form[action$='/mall/checkout/'] button[type=submit]")

    # The SANDBOX cashier: confirm the payment.
    phone.wait_for_url(re.compile(r"/h5/pay/sandbox/[^/]+/$"))
    order = Order.objects.get(member=member)
    assert order.status == OrderStatus.PENDING_PAYMENT and order.total_fen == 3500
    expect(phone.locator(".h5-price")).to_contain_text("35.00")
    phone.click("main form button[type=submit]")

    # The order page with the pickup QR and the code for manual entry.
    phone.wait_for_url(f"**/h5/orders/{order.pk}/")
    qr = phone.locator("img.h5-qr")
    expect(qr).to_be_visible()
    phone.wait_for_function(
        "() => { const i = document.querySelector('img.h5-qr');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    code = (phone.locator("code.h5-code").text_content() or "").strip()  # the long code, folded away
    assert code
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    screenshot(phone, tmp_path, "order-with-qr")

    # The clerk signs in to the console on the counter phone and types the code.
    counter.goto(live_server.url + "/")
    counter.fill("input[name=username]", "clerk1")
    counter.fill("input[name=password]", TEST_PASSWORD)
    counter.click("main form button[type=submit]")
    expect(counter.locator("input[name=password]")).to_have_count(0)
    counter.goto(live_server.url + "/pickup/")
    counter.fill("#pickup-code", code)
    counter.click("#pickup-form button[type=submit]")
    confirm = counter.locator("[data-pickup-step=confirm]")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text(f"#{order.pk}")
    expect(confirm.locator("input.pickup-qty")).to_have_value("1")
    confirm.locator("button[type=submit]").click()
    done = counter.locator("[data-pickup-step=done]")
    expect(done).to_be_visible()
    expect(done).to_contain_text("All items handed over")
    screenshot(counter, tmp_path, "pickup-done")

    order.refresh_from_db()
    assert order.status == OrderStatus.PICKED_UP
    assert all(line.picked_quantity == line.quantity for line in order.lines.all())

    # The member's order page, reloaded, says so and shows no code any more.
    phone.reload()
    expect(phone.locator("main")).to_contain_text("Picked up")
    expect(phone.locator("img.h5-qr")).to_have_count(0)

    # The chat page was left when the card was opened: its stream ends at the next keepalive.
    deadline = time.monotonic() + 10
    while live._local.subscriber_count(group.pk) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live._local.subscriber_count(group.pk) == 0
