"""The mall as a shop: a grid of product cards with pictures, category chips and name search, a product page
with spec buttons, and "add to cart" answered with a toast fragment (htmx) so the member stays on the page."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from siyu.catalog.models import StoreListing
from siyu.catalog.services import images, publication, stock
from siyu.catalog.services import products as product_services
from siyu.h5.views_mall import CART_KEY
from tests.h5_support import member_client

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (500, 500), "orange").save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def shop(hq_admin, store_a):
    """Two categories; a candle with two scents (one sold out) and a picture, a cup, a towel."""
    kitchen = product_services.create_category(hq_admin, "餐厨")
    scent = product_services.create_category(hq_admin, "香氛")

    def product(name, category, skus):
        p = product_services.create_product(
            hq_admin,
            {"name": name, "category": category.pk},
            skus=[{"code": code, "spec": spec, "price_fen": price} for code, spec, price in skus],
        )
        publication.publish(hq_admin, p.pk, scope="all")
        return p

    candle = product("香薰蜡烛", scent, [("C-1", "白茶", 6900), ("C-2", "雪松", 7900)])
    cup = product("北欧陶瓷杯", kitchen, [("CUP", "白色", 3900)])
    product("玻璃密封罐", kitchen, [("JAR", "500ml", 1990)])
    images.add_image(hq_admin, candle.pk, _png())
    listings = {lst.sku.code: lst for lst in StoreListing.objects.filter(store=store_a).select_related("sku")}
    for code in ("C-1", "CUP", "JAR"):
        stock.set_stock(hq_admin, listings[code].pk, 5, idempotency_key=uuid.uuid4().hex)
    return {"kitchen": kitchen, "scent": scent, "candle": candle, "cup": cup, "listings": listings}


def test_grid_has_one_card_per_product_with_its_picture(member_a, shop):
    page = member_client(member_a).get("/h5/mall/").content.decode()
    assert page.count('class="mall-card"') == 3  # the candle's two scents make one card
    thumb = shop["candle"].images.get().url("thumb")
    assert f'src="{thumb}"' in page
    assert "¥69.00" in page and "from" in page  # cheapest of two prices
    # Products without a picture show their first character instead of a broken image.
    assert '<span class="mall-thumb-empty" aria-hidden="true">北</span>' in page
    # Both category chips, "All" current.
    assert f"?cat={shop['kitchen'].pk}" in page and f"?cat={shop['scent'].pk}" in page


def test_category_and_search_filter(member_a, shop):
    client = member_client(member_a)
    kitchen = client.get("/h5/mall/", {"cat": shop["kitchen"].pk}).content.decode()
    assert "北欧陶瓷杯" in kitchen and "玻璃密封罐" in kitchen and "香薰蜡烛" not in kitchen
    found = client.get("/h5/mall/", {"q": "陶瓷"}).content.decode()
    assert "北欧陶瓷杯" in found and "玻璃密封罐" not in found and "香薰蜡烛" not in found
    assert "1 product for “陶瓷”" in found
    both = client.get("/h5/mall/", {"q": "蜡烛", "cat": shop["kitchen"].pk}).content.decode()
    assert "No product matches." in both
    assert client.get("/h5/mall/", {"cat": "nonsense", "q": "x" * 500}).status_code == 200


def test_quick_add_only_when_there_is_nothing_to_choose(member_a, shop):
    page = member_client(member_a).get("/h5/mall/").content.decode()
    listings = shop["listings"]
    assert f'name="listing" value="{listings["CUP"].pk}"' in page  # one SKU: "+" adds it
    assert f'name="listing" value="{listings["C-1"].pk}"' not in page  # two scents: "+" opens the page


def test_product_page_offers_specs_as_buttons(member_a, shop):
    listings = shop["listings"]
    # Opened on the sold-out scent: the in-stock one is chosen instead, the sold-out one disabled.
    page = member_client(member_a).get(f"/h5/mall/p/{listings['C-2'].pk}/").content.decode()
    assert page.count('class="mall-spec"') == 2
    c1 = page.split(f'value="{listings["C-1"].pk}"')[1].split(">")[0]
    c2 = page.split(f'value="{listings["C-2"].pk}"')[1].split(">")[0]
    assert "checked" in c1 and "disabled" not in c1
    assert "disabled" in c2 and "checked" not in c2
    assert 'data-unit="79.00"' in page and "雪松 · Sold out" in page
    assert shop["candle"].images.get().url("large") in page  # the gallery
    assert 'hx-post="/h5/mall/cart/add/"' in page and 'hx-target="#mall-toast"' in page


def test_add_to_cart_with_htmx_stays_on_the_page(member_a, shop):
    client = member_client(member_a)
    listing = shop["listings"]["C-1"]
    r = client.post("/h5/mall/cart/add/", {"listing": listing.pk, "quantity": 2}, **HTMX)
    assert r.status_code == 200  # no redirect: the page stays
    text = r.content.decode()
    assert "Added to your cart." in text and 'href="/h5/mall/cart/"' in text
    assert 'id="mall-cart-count"' in text and 'hx-swap-oob="true"' in text and ">2</span>" in text
    r = client.post("/h5/mall/cart/add/", {"listing": shop["listings"]["CUP"].pk}, **HTMX)
    assert ">3</span>" in r.content.decode()
    assert client.session[CART_KEY] == {str(listing.pk): 2, str(shop["listings"]["CUP"].pk): 1}


def test_add_to_cart_refusals_come_back_as_toasts(member_a, shop):
    client = member_client(member_a)
    sold_out = client.post("/h5/mall/cart/add/", {"listing": shop["listings"]["C-2"].pk}, **HTMX)
    assert sold_out.status_code == 409 and "Sold out" in sold_out.content.decode()
    unknown = client.post("/h5/mall/cart/add/", {"listing": 999_999}, **HTMX)
    assert unknown.status_code == 409 and "not available at your store" in unknown.content.decode()
    too_many = client.post(
        "/h5/mall/cart/add/", {"listing": shop["listings"]["CUP"].pk, "quantity": 500}, **HTMX
    )
    assert too_many.status_code == 400 and "is-error" in too_many.content.decode()
    assert not client.session.get(CART_KEY)


def test_add_to_cart_without_javascript_still_redirects(member_a, shop):
    client = member_client(member_a)
    r = client.post("/h5/mall/cart/add/", {"listing": shop["listings"]["CUP"].pk, "quantity": 1})
    assert r.status_code == 302 and r.url == "/h5/mall/cart/"
    cart = client.get("/h5/mall/cart/").content.decode()
    assert "北欧陶瓷杯" in cart and "¥39.00" in cart and 'name="qty_' in cart
