"""Console catalog pages: HQ manages products, SKUs and publication; store staff list/delist and count stock
on a phone-friendly page, idempotently, and another store's listing answers 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from siyu.catalog.models import Product, Publication, Sku, StockMovement, StoreListing
from siyu.catalog.services import publication
from tests.factories import make_product


@pytest.fixture
def product(hq_admin, store_a, store_b):
    product = make_product(hq_admin, codes=("CUP-W", "CUP-B"))
    publication.publish(hq_admin, product.pk, scope="all")
    return product


@pytest.fixture
def listing_a(product, store_a):
    return StoreListing.objects.filter(store=store_a).order_by("sku_id").first()


@pytest.fixture
def listing_b(product, store_b):
    return StoreListing.objects.filter(store=store_b).order_by("sku_id").first()


def _html(response) -> str:
    assert response.status_code == 200, (response.status_code, response.content[:400])
    return response.content.decode()


def test_pages_render_for_hq_and_clerk(client, hq_admin, clerk_a, product):
    for staff in (hq_admin, clerk_a):
        client.force_login(staff)
        html = _html(client.get(reverse("console:products")))
        assert "北欧陶瓷杯" in html and reverse("console:products") in html
        _html(client.get(reverse("console:product_detail", args=[product.pk])))
        html = _html(client.get(reverse("console:listings")))
        assert "北欧陶瓷杯" in html and 'name="key"' in html


def test_hq_creates_product_and_publishes(client, hq_admin, store_a, store_b):
    client.force_login(hq_admin)
    _html(client.get(reverse("console:product_new")))
    r = client.post(
        reverse("console:product_new"),
        {
            "product-name": "香薰蜡烛",
            "product-subtitle": "大豆蜡",
            "product-tags": "香氛，礼物",
            "product-is_hot": "on",
            "product-active": "on",
            "sku-code": "CANDLE-1",
            "sku-spec": "白茶",
            "sku-price": "69.00",
            "sku-member_price": "59.90",
            "sku-active": "on",
        },
    )
    assert r.status_code == 302, r.content[:500]
    product = Product.objects.get(name="香薰蜡烛")
    assert product.tags == ["香氛", "礼物"] and product.is_hot
    sku = product.skus.get()
    assert sku.price_fen == 6900 and sku.member_price_fen == 5990
    r = client.post(
        reverse("console:product_publish", args=[product.pk]),
        {"pub-scope": "stores", "pub-stores": [store_b.pk]},
    )
    assert r.status_code == 302
    assert list(StoreListing.objects.values_list("store_id", flat=True)) == [store_b.pk]
    r = client.post(
        reverse("console:sku_add", args=[product.pk]),
        {"sku-code": "CANDLE-2", "sku-price": "69", "sku-active": "on"},
    )
    assert r.status_code == 302
    assert StoreListing.objects.count() == 2
    r = client.post(
        reverse("console:sku_edit", args=[sku.pk]),
        {f"sku{sku.pk}-code": "CANDLE-1", f"sku{sku.pk}-price": "79.00", f"sku{sku.pk}-active": "on"},
    )
    assert r.status_code == 302
    sku.refresh_from_db()
    assert sku.price_fen == 7900 and sku.member_price_fen is None
    pub = Publication.objects.get()
    client.post(reverse("console:publication_withdraw", args=[pub.pk]))
    pub.refresh_from_db()
    assert pub.withdrawn_at is not None


def test_product_form_errors_shown(client, hq_admin, product):
    client.force_login(hq_admin)
    r = client.post(
        reverse("console:product_new"),
        {
            "product-name": "重复",
            "product-active": "on",
            "sku-code": "CUP-W",
            "sku-price": "1",
            "sku-active": "on",
        },
    )
    assert r.status_code == 200 and "already exists" in r.content.decode()
    assert not Product.objects.filter(name="重复").exists()
    r = client.post(reverse("console:product_publish", args=[product.pk]), {"pub-scope": "region"})
    assert r.status_code == 400 and "No such region" in r.content.decode()


def test_sku_prices_typed_the_chinese_way_are_exact(client, hq_admin, product):
    """The price fields take yuan as an input method types them (￥, full-width digits and point)."""
    client.force_login(hq_admin)
    r = client.post(
        reverse("console:sku_add", args=[product.pk]),
        {"sku-code": "CUP-FW", "sku-price": "￥６９．９", "sku-member_price": "¥59.90", "sku-active": "on"},
    )
    assert r.status_code == 302
    sku = Sku.objects.get(code="CUP-FW")
    assert sku.price_fen == 6990 and sku.member_price_fen == 5990
    for junk, error in (
        ("9.999", "in yuan"),
        ("abc", "in yuan"),
        ("-1", "in yuan"),
        ("0", "Must be between"),
    ):
        r = client.post(
            reverse("console:sku_add", args=[product.pk]),
            {"sku-code": "CUP-JUNK", "sku-price": junk, "sku-active": "on"},
        )
        assert r.status_code == 400 and error in r.content.decode(), junk
        assert not Sku.objects.filter(code="CUP-JUNK").exists()


def test_clerk_gets_403_for_product_management(client, clerk_a, product):
    client.force_login(clerk_a)
    assert client.get(reverse("console:product_new")).status_code == 403
    assert (
        client.post(reverse("console:product_detail", args=[product.pk]), {"product-name": "x"}).status_code
        == 403
    )
    assert (
        client.post(reverse("console:product_publish", args=[product.pk]), {"pub-scope": "all"}).status_code
        == 403
    )
    sku = Sku.objects.first()
    r = client.post(
        reverse("console:sku_edit", args=[sku.pk]), {f"sku{sku.pk}-code": "Z", f"sku{sku.pk}-price": "1"}
    )
    assert r.status_code == 403
    assert Product.objects.get(pk=product.pk).name == "北欧陶瓷杯"
    assert "New product" not in _html(client.get(reverse("console:products")))


def test_clerk_toggles_listing_with_htmx(client, clerk_a, listing_a):
    client.force_login(clerk_a)
    url = reverse("console:listing_listed", args=[listing_a.pk])
    r = client.post(url, {"listed": "0"}, HTTP_HX_REQUEST="true")
    html = _html(r)
    assert f'id="listing-{listing_a.pk}"' in html and "is-delisted" in html
    listing_a.refresh_from_db()
    assert not listing_a.listed
    r = client.post(url, {"listed": "1"})  # without htmx: back to the page
    assert r.status_code == 302
    listing_a.refresh_from_db()
    assert listing_a.listed


def test_stock_buttons_idempotent(client, clerk_a, listing_a):
    client.force_login(clerk_a)
    url = reverse("console:listing_stock", args=[listing_a.pk])
    html = _html(client.post(url, {"key": "k-set", "stock": "12", "set": "1"}, HTTP_HX_REQUEST="true"))
    assert 'value="12"' in html
    _html(client.post(url, {"key": "k-plus", "stock": "12", "delta": "1"}, HTTP_HX_REQUEST="true"))
    _html(
        client.post(url, {"key": "k-plus", "stock": "12", "delta": "1"}, HTTP_HX_REQUEST="true")
    )  # double tap
    listing_a.refresh_from_db()
    assert listing_a.stock == 13 and StockMovement.objects.filter(listing=listing_a).count() == 2
    _html(client.post(url, {"key": "k-minus", "stock": "13", "delta": "-1"}, HTTP_HX_REQUEST="true"))
    listing_a.refresh_from_db()
    assert listing_a.stock == 12


def test_stock_never_negative_in_console(client, clerk_a, listing_a):
    client.force_login(clerk_a)
    url = reverse("console:listing_stock", args=[listing_a.pk])
    r = client.post(url, {"key": "k1", "delta": "-1"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and r["HX-Retarget"] == "#messages"
    assert "Not enough stock" in r.content.decode()
    r = client.post(url, {"key": "k2", "stock": "abc", "set": "1"}, HTTP_HX_REQUEST="true")
    assert r["HX-Retarget"] == "#messages"
    listing_a.refresh_from_db()
    assert listing_a.stock == 0 and not StockMovement.objects.exists()


def test_clerk_cannot_touch_other_store(client, clerk_a, store_b, listing_b):
    client.force_login(clerk_a)
    assert client.get(reverse("console:listings"), {"store": store_b.pk}).status_code == 404
    assert (
        client.post(reverse("console:listing_listed", args=[listing_b.pk]), {"listed": "0"}).status_code
        == 404
    )
    r = client.post(
        reverse("console:listing_stock", args=[listing_b.pk]), {"key": "x", "stock": "5", "set": "1"}
    )
    assert r.status_code == 404
    listing_b.refresh_from_db()
    assert listing_b.listed and listing_b.stock == 0


def test_hq_sees_any_store(client, hq_admin, store_b, listing_b):
    client.force_login(hq_admin)
    html = _html(client.get(reverse("console:listings"), {"store": store_b.pk}))
    assert f'id="listing-{listing_b.pk}"' in html


def test_product_image_upload(client, hq_admin, product):
    """Pictures are uploaded in the product page's pictures section (checked, resized: see
    test_product_images.py); a file that is not a picture is refused by name."""
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, "PNG")
    client.force_login(hq_admin)
    upload = SimpleUploadedFile("cup.png", buffer.getvalue(), content_type="image/png")
    url = reverse("console:product_images", args=[product.pk])
    r = client.post(url, {"action": "upload", "pictures": [upload]})
    assert r.status_code == 302, r.content[:500]
    product.refresh_from_db()
    assert product.picture.startswith("/h5/mall/img/")
    page = _html(client.get(reverse("console:product_detail", args=[product.pk])))
    assert product.images.get().url("thumb") in page
    bad = SimpleUploadedFile("cup.png", b"not an image", content_type="image/png")
    r = client.post(url, {"action": "upload", "pictures": [bad]}, follow=True)
    assert "cup.png: This file is not a picture." in r.content.decode()
    assert product.images.count() == 1
