"""H5 member mall: browsing the member's store, cart and checkout (idempotent double submit, stock errors as
messages), the SANDBOX cashier, my orders with the pickup QR, sign-in required."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.catalog.models import StoreListing
from siyu.catalog.services.queries import member_unit_fen
from siyu.common.errors import NotFound
from siyu.h5.views_mall import STORE_KEY
from siyu.orders.models import Order, OrderStatus
from siyu.orders.services import queries
from siyu.org.models import Store
from tests.factories import BrandFactory, MemberFactory, StoreFactory, mall_listings
from tests.h5_support import TOMORROW_MORNING, add_to_cart, cart_key, member_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    """A hot cup (two SKUs) published to every store, stock 5 at store A; a plate only at store B."""
    return mall_listings(hq_admin, store_a, store_b)


def test_browse_shows_only_available_listings_of_members_store(member_a, listings, store_b):
    page = member_client(member_a).get("/h5/mall/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "北欧陶瓷杯" in text
    assert "日式餐盘" not in text  # published to store B only
    assert "35.00" in text and "39.00" in text  # member price and price in yuan
    other = StoreListing.objects.filter(store=store_b, sku__code="PLATE").get()
    assert member_client(member_a).get(f"/h5/mall/p/{other.pk}/").status_code == 404
    detail = member_client(member_a).get(f"/h5/mall/p/{listings['CUP-W'].pk}/")
    assert detail.status_code == 200
    for code in ("CUP-W", "CUP-B"):  # every SKU of the product at this store can be chosen
        assert f'value="{listings[code].pk}"' in detail.content.decode()


def test_member_without_store_picks_an_open_one(brand, store_a, listings):
    StoreFactory(brand=brand, name="筹备店", status=Store.Status.PREPARING)
    member = MemberFactory(brand=brand, home_store=None)
    client = member_client(member)
    picker = client.get("/h5/mall/").content.decode()
    assert store_a.name in picker and "筹备店" not in picker
    client.post("/h5/mall/store/", {"store": store_a.pk})
    assert "北欧陶瓷杯" in client.get("/h5/mall/").content.decode()


def test_checkout_double_submit_creates_one_order(member_a, listings):
    client = member_client(member_a)
    add_to_cart(client, listings["CUP-W"], 2)
    add_to_cart(client, listings["CUP-B"])
    cart = client.get("/h5/mall/cart/").content.decode()
    assert "105.00" in cart  # 3 × 35.00
    form = {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING}
    first = client.post("/h5/mall/checkout/", form)
    second = client.post("/h5/mall/checkout/", form)
    assert Order.objects.filter(member=member_a).count() == 1
    order = Order.objects.get(member=member_a)
    assert first.url == second.url == f"/h5/orders/{order.pk}/"
    assert order.total_fen == 10500 and order.lines.count() == 2
    page = client.get(first.url).content.decode()
    assert "/qr.png" in page  # pay at pickup: the code is shown at once
    assert f'href="/h5/orders/{order.pk}/"' in client.get("/h5/orders/").content.decode()


def test_insufficient_stock_shows_message_and_creates_nothing(member_a, listings):
    client = member_client(member_a)
    add_to_cart(client, listings["CUP-W"], 9)
    before = StoreListing.objects.get(pk=listings["CUP-W"].pk).stock
    response = client.post(
        "/h5/mall/checkout/",
        {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING},
        follow=True,
    )
    assert response.status_code == 200
    assert list(response.context["messages"])
    assert not Order.objects.exists()
    assert StoreListing.objects.get(pk=listings["CUP-W"].pk).stock == before


def test_unavailable_item_and_bad_window_are_messages(member_a, listings, hq_admin):
    client = member_client(member_a)
    response = client.post("/h5/mall/cart/add/", {"listing": 999999, "quantity": 1}, follow=True)
    assert response.status_code == 200 and list(response.context["messages"])
    add_to_cart(client, listings["CUP-W"])
    response = client.post(
        "/h5/mall/checkout/", {"idempotency_key": cart_key(client), "pickup_window": "7:99"}, follow=True
    )
    assert response.status_code == 200 and list(response.context["messages"])
    assert not Order.objects.exists()


def test_sandbox_payment_pays_the_order(member_a, listings, settings):
    settings.SIYU_PAYMENT_PROVIDER = "sandbox"
    client = member_client(member_a)
    add_to_cart(client, listings["CUP-W"])
    response = client.post(
        "/h5/mall/checkout/", {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING}
    )
    order = Order.objects.get(member=member_a)
    assert response.url == f"/h5/pay/sandbox/{order.out_trade_no}/"
    assert order.status == OrderStatus.PENDING_PAYMENT
    # Not paid yet: no pickup code.
    assert client.get(f"/h5/orders/{order.pk}/qr.png").status_code == 404
    page = client.get(response.url)
    assert page.status_code == 200 and "SANDBOX" in page.content.decode()
    # Another member cannot open this cashier.
    assert member_client(MemberFactory(brand=member_a.brand)).get(response.url).status_code == 404
    done = client.post(response.url)
    assert done.url == f"/h5/orders/{order.pk}/"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert client.get(f"/h5/orders/{order.pk}/qr.png")["Content-Type"] == "image/png"


def test_sandbox_page_is_404_with_another_provider(member_a, listings, settings):
    settings.SIYU_PAYMENT_PROVIDER = "pay_at_pickup"
    client = member_client(member_a)
    add_to_cart(client, listings["CUP-W"])
    client.post(
        "/h5/mall/checkout/", {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING}
    )
    order = Order.objects.get(member=member_a)
    assert client.get(f"/h5/pay/sandbox/{order.out_trade_no}/").status_code == 404


def test_order_qr_is_png_for_owner_only(member_a, member_b, listings):
    client = member_client(member_a)
    add_to_cart(client, listings["CUP-W"])
    client.post(
        "/h5/mall/checkout/", {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING}
    )
    order = Order.objects.get(member=member_a)
    png = client.get(f"/h5/orders/{order.pk}/qr.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    other = member_client(member_b)
    assert other.get(f"/h5/orders/{order.pk}/qr.png").status_code == 404
    assert other.get(f"/h5/orders/{order.pk}/").status_code == 404
    assert other.post(f"/h5/orders/{order.pk}/cancel/").status_code == 404


def test_member_cancels_pending_order(member_a, listings):
    client = member_client(member_a)
    add_to_cart(client, listings["CUP-W"], 2)
    client.post(
        "/h5/mall/checkout/", {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING}
    )
    order = Order.objects.get(member=member_a)
    client.post(f"/h5/orders/{order.pk}/cancel/")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert StoreListing.objects.get(pk=listings["CUP-W"].pk).stock == 5
    again = client.post(f"/h5/orders/{order.pk}/cancel/", follow=True)
    assert again.status_code == 200 and list(again.context["messages"])


@pytest.mark.parametrize("path", ["/h5/mall/", "/h5/mall/cart/", "/h5/orders/", "/h5/orders/1/"])
def test_not_signed_in_redirects_to_login(db, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response.url.startswith("/h5/login/?next=")


def test_home_links_mall_and_orders(member_a):
    page = member_client(member_a).get("/h5/").content.decode()
    assert "/h5/mall/" in page and "/h5/orders/" in page


def test_a_sale_from_a_group_card_credits_the_group(member_a, member_b, listings, group_a):
    from siyu.communities.models import CommunityMembership

    CommunityMembership.objects.create(community=group_a, member=member_a)
    client = member_client(member_a)
    # Opened from the group's product card (?g=…): the group is credited with the order.
    assert client.get(f"/h5/mall/p/{listings['CUP-W'].pk}/?g={group_a.pk}").status_code == 200
    add_to_cart(client, listings["CUP-W"])
    client.post(
        "/h5/mall/checkout/", {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING}
    )
    assert Order.objects.get(member=member_a).community_id == group_a.pk
    # A group the member is not in (or junk) is ignored, never an error.
    other = member_client(member_b)
    for g in (str(group_a.pk), "junk", "9" * 30):
        assert other.get(f"/h5/mall/p/{listings['CUP-W'].pk}/?g={g}").status_code in (200, 302, 404)
    assert "siyu_mall_group" not in other.session


def test_picking_a_closed_or_other_brands_store_is_refused(brand, store_a, listings):
    preparing = StoreFactory(brand=brand, name="筹备店", status=Store.Status.PREPARING)
    foreign = StoreFactory(brand=BrandFactory(code="other-brand"), name="别家店")
    member = MemberFactory(brand=brand, home_store=None)
    client = member_client(member)
    for store_id in (preparing.pk, foreign.pk, "x", 2**70):
        client.post("/h5/mall/store/", {"store": store_id})
        assert STORE_KEY not in client.session
        assert "北欧陶瓷杯" not in client.get("/h5/mall/").content.decode()  # still the picker


def test_my_orders_list_shows_only_my_orders(brand, store_a, member_a, listings):
    neighbour = MemberFactory(brand=brand, home_store=store_a)
    mine, theirs = member_client(member_a), member_client(neighbour)
    for client in (mine, theirs):
        add_to_cart(client, listings["CUP-W"])
        client.post(
            "/h5/mall/checkout/", {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING}
        )
    own = Order.objects.get(member=member_a)
    other = Order.objects.get(member=neighbour)
    page = mine.get("/h5/orders/").content.decode()
    assert f'href="/h5/orders/{own.pk}/"' in page
    assert f'href="/h5/orders/{other.pk}/"' not in page
    assert mine.get(f"/h5/orders/{2**70}/").status_code == 404


def test_member_order_queries_are_the_members_own(member_a, member_b, brand, store_a, listings):
    client = member_client(member_a)
    add_to_cart(client, listings["CUP-W"])
    client.post(
        "/h5/mall/checkout/", {"idempotency_key": cart_key(client), "pickup_window": TOMORROW_MORNING}
    )
    order = Order.objects.get(member=member_a)
    assert queries.member_order(member_a, order.pk) == order
    assert queries.member_order(member_a, str(order.pk)) == order
    for bad in (None, True, "x", 0, -1, 2**70):
        with pytest.raises(NotFound):
            queries.member_order(member_a, bad)
    with pytest.raises(NotFound):
        queries.member_order(member_b, order.pk)
    assert queries.member_orders(member_a) == [order]
    assert queries.member_orders(member_b) == []
    closed = StoreFactory(brand=brand, status=Store.Status.PREPARING)
    assert queries.pickup_store(member_a, store_a.pk) == store_a
    assert queries.pickup_store(member_a, closed.pk) is None
    assert queries.pickup_store(member_a, StoreFactory(brand=BrandFactory(code="other-brand")).pk) is None
    assert closed not in queries.pickup_stores(member_a)


def test_member_unit_price_is_member_price_else_list_price(listings):
    sku = listings["CUP-W"].sku
    assert member_unit_fen(sku) == sku.member_price_fen == 3500
    sku.member_price_fen = None
    assert member_unit_fen(sku) == sku.price_fen == 3900
