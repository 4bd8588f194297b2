"""Product pictures: upload checks (type, size, decompression bombs, not a picture), metadata stripped,
resizing, local serving, order and main picture, scope (store staff cannot upload), the console's pictures
section and the demo's generated pictures."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from siyu.catalog.models import Product, ProductImage
from siyu.catalog.services import images, publication
from siyu.common.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.tooling.demo.catalog import seed_catalog_demo
from tests.api_support import API, ApiClient, assert_error
from tests.factories import BrandFactory, StaffFactory, make_product

pytestmark = pytest.mark.django_db


def picture(
    fmt: str = "JPEG", size: tuple[int, int] = (1200, 800), mode: str = "RGB", **save: object
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "teal" if mode == "RGB" else 0).save(out, fmt, **save)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    """A 200×100 JPEG with a camera model, a GPS position and orientation 6 (rotate 90° to show)."""
    exif = Image.Exif()
    exif[0x0110] = "Spy Camera"  # Model
    exif[0x0112] = 6  # Orientation
    exif[0x8825] = {1: "N", 2: (39.0, 54.0, 0.0)}  # GPS IFD
    out = io.BytesIO()
    Image.new("RGB", (200, 100), "red").save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def stored(image: ProductImage, size: str) -> Path:
    return Path(django_settings.MEDIA_ROOT) / image.storage_path(size)


@pytest.fixture
def product(hq_admin, store_a):
    product = make_product(hq_admin, codes=("CUP-W",))
    publication.publish(hq_admin, product.pk, scope="all")
    return product


# --- the checks -----------------------------------------------------------------------------------


def test_prepare_resizes_to_webp_variants():
    prepared = images.prepare_image(picture("PNG", (2000, 1000)))
    assert (prepared.width, prepared.height) == (2000, 1000)
    thumb = Image.open(io.BytesIO(prepared.variants["thumb"]))
    large = Image.open(io.BytesIO(prepared.variants["large"]))
    assert thumb.format == large.format == "WEBP"
    assert thumb.size == (360, 360)  # square, cropped to fill the grid
    assert large.size == (960, 480)  # longest side 960, proportions kept
    small = images.prepare_image(picture("WEBP", (300, 200)))
    assert Image.open(io.BytesIO(small.variants["large"])).size == (300, 200)  # never enlarged


def test_metadata_is_stripped_and_orientation_applied():
    data = jpeg_with_exif()
    assert b"Spy Camera" in data
    prepared = images.prepare_image(data)
    assert (prepared.width, prepared.height) == (100, 200)  # turned upright, then EXIF dropped
    for content in prepared.variants.values():
        assert b"Spy Camera" not in content and b"Exif" not in content
        assert not Image.open(io.BytesIO(content)).getexif()


def test_transparent_png_keeps_alpha():
    prepared = images.prepare_image(picture("PNG", (400, 400), mode="RGBA"))
    assert Image.open(io.BytesIO(prepared.variants["large"])).mode == "RGBA"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (picture("GIF", (50, 50)), "unsupported_image_type"),
        (picture("BMP", (50, 50)), "unsupported_image_type"),
        (b"%PDF-1.7 not a picture at all", "not_an_image"),
        (b"", "not_an_image"),
        (picture("PNG", (400, 400))[:200], "not_an_image"),  # truncated
    ],
)
def test_refuses_other_types_and_non_pictures(data, code):
    with pytest.raises(ValidationFailed) as exc:
        images.prepare_image(data)
    assert exc.value.code == code and exc.value.field == "image"


def test_refuses_decompression_bomb_from_its_header():
    # 20000 × 20000 one-bit pixels compress to a few KB but would decode to 400 megapixels.
    bomb = picture("PNG", (20_000, 20_000), mode="1")
    assert len(bomb) < 200_000
    with pytest.raises(ValidationFailed) as exc:
        images.prepare_image(bomb)
    assert exc.value.code == "image_too_big"
    wide = picture("PNG", (13_000, 10), mode="1")  # few pixels, but a side over the limit
    with pytest.raises(ValidationFailed):
        images.prepare_image(wide)


def test_refuses_more_than_5_mb_before_decoding(hq_admin, product):
    too_big = b"\xff\xd8" + b"\x00" * images.MAX_IMAGE_BYTES
    with pytest.raises(images.ImageTooLarge) as exc:
        images.add_image(hq_admin, product.pk, too_big)
    assert exc.value.status == 413 and exc.value.code == "too_large"
    with pytest.raises(images.ImageTooLarge):  # the declared size alone is enough
        images.add_image(hq_admin, product.pk, io.BytesIO(b"x"), size=images.MAX_IMAGE_BYTES + 1)
    assert not ProductImage.objects.exists()


# --- service: order, main, delete, scope -----------------------------------------------------------


def test_add_order_main_and_delete(hq_admin, product, django_capture_on_commit_callbacks):
    first = images.add_image(hq_admin, product.pk, picture())
    second = images.add_image(hq_admin, product.pk, picture("PNG"))
    third = images.add_image(hq_admin, product.pk, picture("WEBP"), main=True)
    assert [i.pk for i in images.product_images(hq_admin, product.pk)] == [third.pk, first.pk, second.pk]
    assert Product.objects.get(pk=product.pk).picture == third.url("large")
    images.make_main(hq_admin, second.pk)
    assert [i.pk for i in images.product_images(hq_admin, product.pk)] == [second.pk, third.pk, first.pk]
    with pytest.raises(ValidationFailed):
        images.order_images(hq_admin, product.pk, [second.pk, third.pk])  # one missing
    for size in images.SIZES:
        assert stored(second, size).is_file()
    with django_capture_on_commit_callbacks(execute=True):
        images.delete_image(hq_admin, second.pk)
    assert not stored(second, "thumb").exists() and not stored(second, "large").exists()
    assert [i.position for i in images.product_images(hq_admin, product.pk)] == [0, 1]


def test_store_staff_cannot_change_pictures_and_other_brands_are_hidden(
    hq_admin, clerk_a, manager_a, product
):
    for staff in (clerk_a, manager_a):
        with pytest.raises(PermissionDenied):
            images.add_image(staff, product.pk, picture())
    image = images.add_image(hq_admin, product.pk, picture())
    with pytest.raises(PermissionDenied):
        images.delete_image(clerk_a, image.pk)
    outsider = StaffFactory(brand=BrandFactory(code="other"), role="hq_admin")
    with pytest.raises(NotFound):
        images.add_image(outsider, product.pk, picture())
    with pytest.raises(NotFound):
        images.delete_image(outsider, image.pk)


def test_at_most_ten_pictures(hq_admin, product):
    small = picture("PNG", (20, 20))
    for _ in range(images.MAX_IMAGES):
        images.add_image(hq_admin, product.pk, small)
    with pytest.raises(ValidationFailed) as exc:
        images.add_image(hq_admin, product.pk, small)
    assert exc.value.code == "too_many_images"


# --- serving -------------------------------------------------------------------------------------------


def test_variants_are_served_locally_and_cached(hq_admin, product):
    image = images.add_image(hq_admin, product.pk, picture())
    client = Client()  # public: cards in channel groups link to pictures
    url = image.url("thumb")
    assert url.startswith("/h5/mall/img/")
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert "immutable" in response["Cache-Control"] and response["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(b"".join(response.streaming_content))).size == (360, 360)
    assert client.get(image.url("large")).status_code == 200
    assert client.get(f"/h5/mall/img/{image.pk}/{image.key}-huge.webp").status_code == 404
    assert client.get(f"/h5/mall/img/{image.pk}/..%2F..%2Fsecret_key").status_code == 404
    assert client.get(f"/h5/mall/img/{image.pk + 1}/{image.file_name('thumb')}").status_code == 404


# --- API -------------------------------------------------------------------------------------------


def upload(api: ApiClient, product_id: int, data: bytes, name: str = "cup.jpg", **form: str):
    return api.client.post(
        f"{API}/products/{product_id}/images",
        {"file": SimpleUploadedFile(name, data, content_type="image/jpeg"), **form},
        **api._headers(None),
    )


def test_api_upload_list_order_delete(as_operator, product):
    r = upload(as_operator, product.pk, picture())
    assert r.status_code == 201, r.content
    first = r.json()
    assert first["main"] and first["urls"]["thumb"].endswith("-thumb.webp")
    r = upload(as_operator, product.pk, picture("PNG"), name="b.png", main="true")
    assert r.status_code == 201 and r.json()["main"]
    second = r.json()
    listed = as_operator.get(f"/products/{product.pk}/images").json()
    assert [i["id"] for i in listed] == [second["id"], first["id"]]
    detail = as_operator.get(f"/products/{product.pk}").json()
    assert detail["image"] == second["urls"]["large"] and len(detail["images"]) == 2
    r = as_operator.send(
        "PUT", f"/products/{product.pk}/images/order", {"image_ids": [first["id"], second["id"]]}
    )
    assert r.status_code == 200 and r.json()[0]["id"] == first["id"] and r.json()[0]["main"]
    r = as_operator.send("PUT", f"/products/{product.pk}/images/order", {"image_ids": [first["id"]]})
    assert_error(r, 400, "invalid", "image_ids")
    assert as_operator.delete(f"/product-images/{first['id']}").status_code == 204
    assert [i["id"] for i in as_operator.get(f"/products/{product.pk}/images").json()] == [second["id"]]
    assert_error(as_operator.delete(f"/product-images/{first['id']}"), 404, "not_found")


def test_api_refusals_have_the_api_error_shape(as_operator, as_clerk, product):
    assert_error(upload(as_operator, product.pk, b"hello"), 400, "not_an_image", "image")
    assert_error(
        upload(as_operator, product.pk, picture("GIF", (9, 9))), 400, "unsupported_image_type", "image"
    )
    bomb = picture("PNG", (20_000, 20_000), mode="1")
    assert_error(upload(as_operator, product.pk, bomb), 400, "image_too_big", "image")
    big = b"\xff\xd8" + b"\x00" * images.MAX_IMAGE_BYTES
    assert_error(upload(as_operator, product.pk, big), 413, "too_large", "image")
    assert_error(upload(as_clerk, product.pk, picture()), 403, "forbidden")
    assert as_clerk.get(f"/products/{product.pk}/images").status_code == 200  # reading is fine
    assert_error(
        as_operator.post(f"/products/{product.pk}/images", {"file": "x"}), 415, "unsupported_media_type"
    )
    assert_error(upload(as_operator, product.pk, picture(), main="maybe"), 400, "invalid", "main")
    no_file = as_operator.client.post(
        f"{API}/products/{product.pk}/images", {"main": "true"}, **as_operator._headers(None)
    )
    assert_error(no_file, 400, "invalid", "file")
    assert_error(upload(as_operator, 999_999, picture()), 404, "not_found")
    assert not ProductImage.objects.exists()


# --- console -----------------------------------------------------------------------------------------


def test_console_uploads_several_names_refused_files_and_reorders(client, hq_admin, product):
    client.force_login(hq_admin)
    url = reverse("console:product_images", args=[product.pk])
    files = [
        SimpleUploadedFile("a.jpg", picture(), content_type="image/jpeg"),
        SimpleUploadedFile("notes.txt", b"just text", content_type="image/png"),
        SimpleUploadedFile("b.png", picture("PNG"), content_type="image/png"),
    ]
    r = client.post(url, {"action": "upload", "pictures": files}, follow=True)
    assert r.status_code == 200
    text = r.content.decode()
    assert "notes.txt: This file is not a picture." in text and "2 pictures added." in text
    a, b = images.product_images(hq_admin, product.pk)
    assert a.url("thumb") in text and b.url("thumb") in text
    client.post(url, {"action": "main", "image": b.pk})
    assert [i.pk for i in images.product_images(hq_admin, product.pk)] == [b.pk, a.pk]
    client.post(url, {"action": "right", "image": b.pk})
    assert [i.pk for i in images.product_images(hq_admin, product.pk)] == [a.pk, b.pk]
    client.post(url, {"action": "delete", "image": a.pk})
    assert [i.pk for i in images.product_images(hq_admin, product.pk)] == [b.pk]


def test_console_store_staff_cannot_upload(client, manager_a, product):
    client.force_login(manager_a)
    r = client.post(
        reverse("console:product_images", args=[product.pk]),
        {"action": "upload", "pictures": [SimpleUploadedFile("a.jpg", picture(), content_type="image/jpeg")]},
    )
    assert r.status_code == 403 and not ProductImage.objects.exists()


# --- demo ---------------------------------------------------------------------------------------------


def test_demo_products_all_have_a_generated_local_picture(brand, store_a):
    summary = seed_catalog_demo(brand, seed=2)
    assert summary.pictures == summary.products > 0
    for product in Product.objects.filter(brand=brand).prefetch_related("images"):
        assert product.picture.startswith("/h5/mall/img/") and not product.image_url
        assert stored(product.images.all()[0], "thumb").is_file()
    assert seed_catalog_demo(brand, seed=2).pictures == 0  # nothing to add the second time
