"""The mall on a phone (390×844): the grid shows product pictures, a category chip and the search narrow
it, the product page's spec buttons change the price, and "add to cart" updates the cart badge and shows a
toast without leaving the page."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from PIL import Image

from siyu.catalog.models import StoreListing
from siyu.catalog.services import images, publication, stock
from siyu.catalog.services import products as product_services
from siyu.members.services.signin import SESSION_KEY
from tests.factories import MemberFactory, StaffFactory, StoreFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 800), colour).save(out, "PNG")
    return out.getvalue()


def _screenshot(page, tmp_path: Path, name: str) -> None:
    target = Path(os.environ.get("SIYU_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def test_member_browses_mall_with_pictures_and_adds_to_cart_in_place(
    live_server, browser_two_pages, tmp_path
):
    from playwright.sync_api import expect

    store = StoreFactory(code="A001", name="朝阳大悦城店")
    hq = StaffFactory(brand=store.brand, username="hqadmin", role="hq_admin")
    kitchen = product_services.create_category(hq, "餐厨")
    scent = product_services.create_category(hq, "香氛")
    candle = product_services.create_product(
        hq,
        {"name": "香薰蜡烛", "category": scent.pk},
        skus=[
            {"code": "C-1", "spec": "白茶", "price_fen": 6900, "member_price_fen": 5900},
            {"code": "C-2", "spec": "雪松", "price_fen": 7900},
        ],
    )
    cup = product_services.create_product(
        hq, {"name": "北欧陶瓷杯", "category": kitchen.pk}, skus=[{"code": "CUP", "price_fen": 3900}]
    )
    for product, colour in ((candle, "plum"), (cup, "tan")):
        publication.publish(hq, product.pk, scope="all")
        images.add_image(hq, product.pk, _png(colour))
    images.add_image(hq, candle.pk, _png("gold"))
    for listing in StoreListing.objects.filter(store=store):
        stock.set_stock(hq, listing.pk, 9, idempotency_key=uuid.uuid4().hex)
    member = MemberFactory(brand=store.brand, home_store=store)

    phone, _other = browser_two_pages
    session = SessionStore()
    session[SESSION_KEY] = member.pk
    session.save()
    phone.context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": live_server.url}]
    )

    phone.goto(f"{live_server.url}/h5/mall/")
    cards = phone.locator(".mall-card")
    expect(cards).to_have_count(2)
    phone.wait_for_function(
        "() => [...document.querySelectorAll('.mall-thumb img')]"
        ".every(i => i.complete && i.naturalWidth === 360)"
    )
    _screenshot(phone, tmp_path, "mall-grid")

    # A category chip narrows the grid; so does the search.
    phone.click(f".mall-chips a[href$='?cat={kitchen.pk}']")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("北欧陶瓷杯")
    phone.goto(f"{live_server.url}/h5/mall/")
    phone.fill(".mall-search input[name=q]", "蜡烛")
    phone.press(".mall-search input[name=q]", "Enter")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("香薰蜡烛")

    # The product page: two pictures, spec buttons that change the price.
    cards.first.locator(".mall-card-link").click()
    expect(phone.locator("h1.h5-title")).to_contain_text("香薰蜡烛")
    expect(phone.locator(".mall-gallery img")).to_have_count(2)
    price = phone.locator("[data-price-box] [data-unit]")
    expect(price).to_have_text("¥59.00")
    phone.click(".mall-spec:has-text('雪松')")
    expect(price).to_have_text("¥79.00")
    expect(phone.locator("[data-price-box] [data-member-tag]")).to_be_hidden()
    phone.click(".mall-stepper button[data-step='1']")
    expect(phone.locator("input[name=quantity]")).to_have_value("2")

    url = phone.url
    phone.click("#mall-add-form button[type=submit]")
    expect(phone.locator("#mall-toast")).to_contain_text("Added to your cart")
    expect(phone.locator("#mall-cart-count")).to_have_text("2")
    expect(phone.locator("#mall-bar-count")).to_have_text("2")
    assert phone.url == url  # never left the page
    _screenshot(phone, tmp_path, "mall-product-added")

    # The cart has the chosen scent and quantity.
    phone.click("a.mall-buybar-cart")
    phone.wait_for_url("**/h5/mall/cart/")
    expect(phone.locator(".mall-line")).to_have_count(1)
    expect(phone.locator(".mall-line")).to_contain_text("雪松")
    expect(phone.locator(".mall-total")).to_contain_text("158.00")
    _screenshot(phone, tmp_path, "mall-cart")
