"""Pickup by short code in real browsers (phone viewport 390×844): a member signs in with an SMS code, reaches
their group from home, shops a mall with product pictures, buys, pays in the SANDBOX demo cashier and sees the
short pickup code beside the QR; the clerk types that code (lower case, with a space) on ``/pickup/`` and
hands over; a second try is refused."""

from __future__ import annotations

import io
import os
import re
import uuid
from pathlib import Path

import pytest
from PIL import Image

from siyu.catalog.models import StoreListing
from siyu.catalog.services import images, publication, stock
from siyu.channels.sms.console import clear_codes, last_code
from siyu.orders.models import Order, OrderStatus, PickupCode
from siyu.orders.services.pickup_codes import format_short_code
from tests.factories import (
    TEST_PASSWORD,
    MemberFactory,
    StaffFactory,
    StoreFactory,
    in_group,
    make_group,
    make_product,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MOBILE = "13812341234"


def _screenshot(page, tmp_path: Path, name: str) -> None:
    target = Path(os.environ.get("SIYU_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def test_member_pays_and_clerk_types_the_short_code(live_server, browser_two_pages, settings, tmp_path):
    from playwright.sync_api import expect

    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    settings.SIYU_SMS_PROVIDER = "console"
    clear_codes()

    store = StoreFactory(code="A001", name="朝阳大悦城店")
    hq = StaffFactory(brand=store.brand, username="hqadmin", role="hq_admin")
    StaffFactory(brand=store.brand, username="clerk1", role="clerk", stores=[store])
    product = make_product(hq, "北欧陶瓷杯", codes=("CUP-W",))  # 39.00, member price 35.00
    publication.publish(hq, product.pk, scope="all")
    listing = StoreListing.objects.get(store=store, sku__product=product)
    stock.set_stock(hq, listing.pk, 5, idempotency_key=uuid.uuid4().hex)
    member = MemberFactory(brand=store.brand, home_store=store, name="王小明", mobile=MOBILE)
    group = make_group(store, name="宝妈群1")
    in_group(member, group)
    picture = io.BytesIO()
    Image.new("RGB", (640, 640), (200, 120, 80)).save(picture, "PNG")
    images.attach_image(product, picture.getvalue(), main=True, uploaded_by=hq)

    phone, counter = browser_two_pages

    # The member signs in with the code the (console) SMS provider "sent".
    phone.goto(f"{live_server.url}/h5/login/")
    phone.fill("#id_mobile", MOBILE)
    phone.locator("#id_mobile").press("Enter")
    phone.fill("#id_code", last_code(MOBILE))
    phone.locator("#id_code").press("Enter")
    phone.wait_for_url(re.compile(r"/h5/(?!login)"))

    # From home to the group: the "my groups" tile, then the group's chat.
    phone.goto(f"{live_server.url}/h5/")
    phone.click("[data-testid=link-groups]")
    phone.click(f"a.chat-group-link[href$='/{group.pk}/']")
    expect(phone.locator("body")).to_contain_text("宝妈群1")
    _screenshot(phone, tmp_path, "member-group-from-home")

    # The mall shows the product with its picture; the product page, add to cart, tomorrow morning, check out.
    phone.goto(f"{live_server.url}/h5/")
    phone.click("[data-testid=link-mall]")
    expect(phone.locator(".mall-thumb img")).to_have_count(1)
    phone.wait_for_function(
        "() => [...document.querySelectorAll('.mall-thumb img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    _screenshot(phone, tmp_path, "mall-with-pictures")
    phone.goto(f"{live_server.url}/h5/mall/p/{listing.pk}/")
    phone.click("form[action$='/mall/cart/add/'] button[type=submit]")
    expect(phone.locator("#mall-toast")).to_contain_text("Added to your cart")  # stays on the page
    phone.click("a.mall-buybar-cart")
    phone.wait_for_url("**/h5/mall/cart/")
    phone.select_option("select[name=pickup_window]", "1:10")
    phone.click("form[action$='/mall/checkout/'] button[type=submit]")

    # The SANDBOX demo cashier, clearly labelled.
    phone.wait_for_url(re.compile(r"/h5/pay/sandbox/[^/]+/$"))
    expect(phone.locator("[data-testid=demo-cashier]")).to_contain_text("SANDBOX")
    order = Order.objects.get(member=member)
    assert order.status == OrderStatus.PENDING_PAYMENT and order.total_fen == 3500
    phone.click("main form button[type=submit]")

    # The order page: the QR and, beside it, the short code grouped in fours.
    phone.wait_for_url(f"**/h5/orders/{order.pk}/")
    expect(phone.locator("img.h5-qr")).to_be_visible()
    short = phone.locator("[data-testid=short-code]").inner_text().strip()
    assert re.fullmatch(r"[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}", short), short
    assert short == format_short_code(PickupCode.objects.get(order=order).short_code)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    _screenshot(phone, tmp_path, "order-with-short-code")

    # The clerk signs in on the counter phone and types the code as heard: lower case, a space.
    counter.goto(live_server.url + "/")
    counter.fill("input[name=username]", "clerk1")
    counter.fill("input[name=password]", TEST_PASSWORD)
    counter.click("main form button[type=submit]")
    expect(counter.locator("input[name=password]")).to_have_count(0)
    counter.goto(live_server.url + "/pickup/")
    typed = short.replace("-", " ").lower()
    counter.fill("#pickup-code", typed)
    counter.click("#pickup-form button[type=submit]")
    confirm = counter.locator("[data-pickup-step=confirm]")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text(f"#{order.pk}")
    confirm.locator("button[type=submit]").click()
    done = counter.locator("[data-pickup-step=done]")
    expect(done).to_be_visible()
    _screenshot(counter, tmp_path, "pickup-by-short-code")
    order.refresh_from_db()
    assert order.status == OrderStatus.PICKED_UP

    # A second try with the same code is refused.
    counter.fill("#pickup-code", short)
    counter.click("#pickup-form button[type=submit]")
    refused = counter.locator("[data-pickup-step=refused]")
    expect(refused).to_be_visible()
    _screenshot(counter, tmp_path, "pickup-second-try")

    # The member's page no longer shows a code.
    phone.reload()
    expect(phone.locator("[data-testid=short-code]")).to_have_count(0)
