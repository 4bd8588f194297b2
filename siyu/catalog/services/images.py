"""Product pictures: head office uploads several per product, ordered, the first being the main one.

Guarantees of ``add_image`` (and ``attach_image``, its unchecked core for tooling):

- Only ``catalog.manage`` staff (head office) change pictures; a store role gets PermissionDenied, another
  brand's product is NotFound. Audited (``product.image_add`` / ``image_delete`` / ``image_order``).
- At most ``MAX_IMAGE_BYTES`` (5 MB) are read: a larger upload is ``ImageTooLarge`` (413 ``too_large``)
  before it is decoded.
- Only JPEG, PNG and WebP are decoded (Pillow restricted to those three parsers): other picture types are
  ``unsupported_image_type``, anything else ``not_an_image`` (both 400 on field ``image``).
- Decompression bombs are refused from the header, before any pixel is decoded: more than ``MAX_PIXELS``
  pixels or a side over ``MAX_SIDE`` is ``image_too_big`` (Pillow's own bomb checks are errors too).
- The uploaded bytes are never stored nor served: the picture is decoded, turned upright (EXIF
  orientation), and re-encoded into the ``SIZES`` variants without any metadata (no EXIF, GPS, ICC, text).
- Variants are files under MEDIA_ROOT (``products/<image id>/<key>-<size>.<ext>``), served by the mall's
  image view (``ProductImage.url``); ``key`` is random, so a URL never changes content and may be cached
  forever. At most ``MAX_IMAGES`` pictures per product.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import warnings
from dataclasses import dataclass
from typing import IO, Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from siyu.catalog.models import Product, ProductImage
from siyu.catalog.services.products import check_can_manage, get_product
from siyu.common.errors import NotFound, ServiceError, ValidationFailed
from siyu.common.validators import parse_id
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # e.g. 8000 × 5000: more than any product photo needs
MAX_SIDE = 12_000
MAX_IMAGES = 10
FORMATS = ("JPEG", "PNG", "WEBP")
# size name → (longest side in px, square crop). Thumbs fill the mall's grid; large is the product page.
SIZES: dict[str, tuple[int, bool]] = {"thumb": (360, True), "large": (960, False)}
EXT = "webp"
CONTENT_TYPE = "image/webp"
WEBP_QUALITY = 82
# Magic numbers of picture types that are refused by name rather than as "not a picture".
_OTHER_PICTURES = (b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00", b"8BPS")

assert set(SIZES) == set(ProductImage.SIZES)


class ImageTooLarge(ServiceError):
    status = 413
    code = "too_large"


@dataclass(frozen=True)
class PreparedImage:
    """A decoded, cleaned picture: its upright size and each variant's encoded bytes."""

    width: int
    height: int
    variants: dict[str, bytes]


def _refuse(code: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, field="image", code=code)


def read_upload(upload: IO[bytes] | bytes, size: int | None = None) -> bytes:
    """The bytes of an upload, refusing (413) one over ``MAX_IMAGE_BYTES`` without reading more than that."""
    limit = MAX_IMAGE_BYTES
    message = _("A picture can be at most %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
    if size is not None and size > limit:
        raise ImageTooLarge(message, field="image")
    data = upload if isinstance(upload, bytes) else upload.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(message, field="image")
    return data


def _decode(data: bytes) -> Image.Image:
    if not data:
        raise _refuse("not_an_image", _("The file is empty."))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except UnidentifiedImageError:
            if data.startswith(_OTHER_PICTURES) or data[4:12] in (b"ftypheic", b"ftypavif", b"ftypmif1"):
                raise _refuse("unsupported_image_type", _("Upload a JPEG, PNG or WebP picture.")) from None
            raise _refuse("not_an_image", _("This file is not a picture.")) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels() from None
        width, height = img.size
        if width < 1 or height < 1 or width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
            raise _too_many_pixels()
        if img.format == "JPEG":
            img.draft("RGB", (2 * SIZES["large"][0], 2 * SIZES["large"][0]))  # decode big JPEGs scaled down
        try:
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels() from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise _refuse("not_an_image", _("This picture is damaged or incomplete.")) from None
    return img


def _too_many_pixels() -> ValidationFailed:
    return _refuse(
        "image_too_big",
        _("The picture has too many pixels (at most %(mp)s megapixels).") % {"mp": MAX_PIXELS // 1_000_000},
    )


def prepare_image(data: bytes) -> PreparedImage:
    """Check and clean ``data`` (see the module's guarantees) into the ``SIZES`` variants, as WebP.
    Writes nothing."""
    if len(data) > MAX_IMAGE_BYTES:
        read_upload(data)  # raises ImageTooLarge
    img = _decode(data)
    upright = ImageOps.exif_transpose(img)
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    pixels = upright.convert("RGBA" if has_alpha else "RGB")
    # A fresh image: nothing of the upload's metadata (EXIF, ICC, XMP, text chunks) comes along.
    clean = Image.new(pixels.mode, pixels.size)
    clean.paste(pixels)
    variants: dict[str, bytes] = {}
    for name, (side, square) in SIZES.items():
        if square:
            variant = ImageOps.fit(clean, (side, side), Image.Resampling.LANCZOS)
        else:
            variant = clean.copy()
            variant.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        variant.save(out, format="WEBP", quality=WEBP_QUALITY, method=4)
        variants[name] = out.getvalue()
    return PreparedImage(width=clean.width, height=clean.height, variants=variants)


# --- writes -------------------------------------------------------------------------------------


def _write_files(image: ProductImage, prepared: PreparedImage) -> None:
    for size, content in prepared.variants.items():
        path = image.storage_path(size)
        if default_storage.exists(path):  # never overwrite: the key is random, this is a stale leftover
            default_storage.delete(path)
        default_storage.save(path, ContentFile(content))


def _delete_files(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):  # an orphan file is harmless; it must not fail the request
            default_storage.delete(path)


def _locked_product(product_id: int) -> Product:
    # Serialises changes to one product's pictures (positions are renumbered in Python).
    return Product.objects.select_for_update().get(pk=product_id)


@transaction.atomic
def attach_image(
    product: Product, data: bytes, *, main: bool = False, uploaded_by: Staff | None = None
) -> ProductImage:
    """Add a picture to ``product`` with every guarantee but the capability check (tooling: the demo's
    generated pictures). ``main`` puts it first; otherwise it goes last."""
    prepared = prepare_image(data)
    product = _locked_product(product.pk)
    existing = list(product.images.order_by("position", "id"))
    if len(existing) >= MAX_IMAGES:
        raise _refuse("too_many_images", _("A product has at most %(n)s pictures.") % {"n": MAX_IMAGES})
    top = product.images.aggregate(top=Max("position"))["top"]
    image = ProductImage.objects.create(
        product=product,
        position=0 if main else (top + 1 if top is not None else 0),
        key=secrets.token_hex(8),
        ext=EXT,
        width=prepared.width,
        height=prepared.height,
        uploaded_by=uploaded_by,
    )
    if main:
        _renumber([image, *existing])
    _write_files(image, prepared)
    return image


def _renumber(ordered: list[ProductImage]) -> None:
    for position, image in enumerate(ordered):
        image.position = position
    ProductImage.objects.bulk_update(ordered, ["position"])


def add_image(
    staff: Staff, product_id: Any, upload: IO[bytes] | bytes, *, size: int | None = None, main: bool = False
) -> ProductImage:
    """Upload a picture of a product (head office): checked, cleaned and resized (module guarantees);
    ``main`` makes it the product's main picture. Audited."""
    check_can_manage(staff)
    product = get_product(staff, product_id)
    data = read_upload(upload, size)
    with transaction.atomic():
        image = attach_image(product, data, main=main, uploaded_by=staff)
        record_audit(
            staff,
            "product.image_add",
            target_type="product",
            target_id=product.pk,
            detail={"image": image.pk, "main": image.position == 0},
        )
    return image


def product_images(staff: Staff, product_id: Any) -> list[ProductImage]:
    """A product's pictures in order, the main one first (any staff of the brand may read them)."""
    product = get_product(staff, product_id)
    return list(product.images.order_by("position", "id"))


def _get_image(staff: Staff, image_id: Any) -> ProductImage:
    pk = parse_id(image_id, "image", _("No such picture."))
    image = ProductImage.objects.filter(pk=pk, product__brand_id=current_brand_id(staff)).first()
    if image is None:
        raise NotFound(_("No such picture."), field="image")
    return image


@transaction.atomic
def delete_image(staff: Staff, image_id: Any) -> None:
    """Remove a picture (head office); the next one becomes the main one. Its files go after the commit."""
    check_can_manage(staff)
    image = _get_image(staff, image_id)
    product = _locked_product(image.product_id)
    paths = [image.storage_path(size) for size in SIZES]
    deleted_pk = image.pk
    image.delete()
    _renumber(list(product.images.order_by("position", "id")))
    record_audit(
        staff,
        "product.image_delete",
        target_type="product",
        target_id=product.pk,
        detail={"image": deleted_pk},
    )
    transaction.on_commit(lambda: _delete_files(paths))


@transaction.atomic
def order_images(staff: Staff, product_id: Any, image_ids: Any) -> list[ProductImage]:
    """Put a product's pictures in the order given (head office): ``image_ids`` must name each of its
    pictures exactly once; the first becomes the main one."""
    check_can_manage(staff)
    product = _locked_product(get_product(staff, product_id).pk)
    current = {image.pk: image for image in product.images.all()}
    if not isinstance(image_ids, list) or any(
        not isinstance(i, int) or isinstance(i, bool) for i in image_ids
    ):
        raise ValidationFailed(_("List the product's pictures by id."), field="image_ids")
    if sorted(image_ids) != sorted(current):
        raise ValidationFailed(_("List each of the product's pictures exactly once."), field="image_ids")
    ordered = [current[i] for i in image_ids]
    _renumber(ordered)
    record_audit(
        staff, "product.image_order", target_type="product", target_id=product.pk, detail={"order": image_ids}
    )
    return ordered


def make_main(staff: Staff, image_id: Any) -> list[ProductImage]:
    """Make a picture the product's main one (first); the others keep their order."""
    check_can_manage(staff)
    image = _get_image(staff, image_id)
    others = ProductImage.objects.filter(product_id=image.product_id).exclude(pk=image.pk)
    ids = [image.pk, *others.order_by("position", "id").values_list("pk", flat=True)]
    return order_images(staff, image.product_id, ids)


# --- reads for the pages -----------------------------------------------------------------------------


def main_image(product: Product) -> ProductImage | None:
    """The product's main picture (uses ``images`` when prefetched)."""
    images = list(product.images.all())
    images.sort(key=lambda i: (i.position, i.pk))
    return images[0] if images else None


def open_variant(image_id: int, name: str) -> IO[bytes]:
    """The stored variant ``name`` (``<key>-<size>.<ext>``) of picture ``image_id``, opened for reading;
    NotFound for anything else. Pictures are public (cards in channel groups link to them); the path is
    built from the row, never from the request."""
    image = ProductImage.objects.filter(pk=image_id).first()
    sizes = {image.file_name(size): size for size in SIZES} if image else {}
    if image is None or name not in sizes:
        raise NotFound(_("No such picture."), field="image")
    try:
        return default_storage.open(image.storage_path(sizes[name]), "rb")
    except FileNotFoundError:
        raise NotFound(_("No such picture."), field="image") from None
