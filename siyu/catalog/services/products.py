"""Products, SKUs and categories: created and changed by head office only, validated and audited.

Prices are integer fen (no floats, no strings): ``price_fen`` ≥ 1 and a member price, when set, not above
it. SKU codes are unique across the chain. A refused request writes nothing.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from siyu.catalog.models import Category, Product, Publication, Sku, StoreListing
from siyu.catalog.services.reach import target_store_ids
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import clean_fen, clean_text, optional_id, parse_id
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, require_staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

PRODUCT_FIELDS = (
    "name",
    "subtitle",
    "description",
    "category",
    "tags",
    "is_hot",
    "image_url",
    "active",
)
SKU_FIELDS = ("code", "spec", "price_fen", "member_price_fen", "active")
MAX_PRICE_FEN = 100_000_000  # a million yuan: anything above is a typo, not a home good
MAX_TAGS = 10
MAX_TAG_LENGTH = 20
_SKU_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def check_can_manage(staff: Staff | None) -> Staff:
    """Return ``staff``, or raise PermissionDenied unless the role may manage the catalog (``catalog.manage``:
    head office; the catalog is the chain's, not a store's)."""
    return check_capability(staff, "catalog.manage", message=_("Only head office can manage products."))


def get_product(staff: Staff, product_id: Any) -> Product:
    """The product ``product_id`` of the caller's brand (any staff may read it); NotFound otherwise."""
    require_staff(staff)
    pk = parse_id(product_id, "product", _("No such product."))
    product = (
        Product.objects.select_related("category").filter(brand_id=current_brand_id(staff), pk=pk).first()
    )
    if product is None:
        raise NotFound(_("No such product."), field="product")
    return product


def get_sku(staff: Staff, sku_id: Any) -> Sku:
    """The SKU ``sku_id`` of the caller's brand; NotFound otherwise."""
    require_staff(staff)
    pk = parse_id(sku_id, "sku", _("No such SKU."))
    sku = (
        Sku.objects.select_related("product").filter(product__brand_id=current_brand_id(staff), pk=pk).first()
    )
    if sku is None:
        raise NotFound(_("No such SKU."), field="sku")
    return sku


def categories(staff: Staff) -> QuerySet[Category]:
    """The brand's categories, in display order."""
    require_staff(staff)
    return Category.objects.filter(brand_id=current_brand_id(staff)).select_related("parent")


@transaction.atomic
def create_category(staff: Staff, name: str, *, parent_id: int | None = None, position: int = 0) -> Category:
    """Create a category (head office only); ``parent_id`` must be one of the brand's categories."""
    check_can_manage(staff)
    brand_id = current_brand_id(staff)
    name = str(name or "").strip()
    if not name or len(name) > 50:
        raise ValidationFailed(_("A category name has 1 to 50 characters."), field="name")
    parent = None
    if parent_id is not None:
        parent_pk = optional_id(parent_id)
        parent = Category.objects.filter(brand_id=brand_id, pk=parent_pk).first() if parent_pk else None
        if parent is None:
            raise ValidationFailed(_("No such category."), field="parent")
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position < 2**31:
        raise ValidationFailed(_("Not a valid position."), field="position")
    category = Category.objects.create(brand_id=brand_id, name=name, parent=parent, position=position)
    record_audit(
        staff, "category.create", target_type="category", target_id=category.pk, detail={"name": name}
    )
    return category


# --- validation ---------------------------------------------------------------------------------


def _text(data: dict[str, Any], field: str, limit: int, *, required: bool = False) -> str:
    return clean_text(data.get(field), field, limit, required=required)


def _bool(data: dict[str, Any], field: str) -> bool:
    value = data.get(field)
    if not isinstance(value, bool):
        raise ValidationFailed(_("Expected true or false."), field=field)
    return value


def _price(value: Any, field: str) -> int:
    # bool is an int subclass and floats/strings hide rounding: only a real int is a price.
    return clean_fen(value, field, minimum=1, maximum=MAX_PRICE_FEN)


def _clean_product(data: dict[str, Any], *, creating: bool, brand_id: int) -> dict[str, Any]:
    unknown = set(data) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    clean: dict[str, Any] = {}
    if creating or "name" in data:
        clean["name"] = _text(data, "name", 100, required=True)
    if "subtitle" in data:
        clean["subtitle"] = _text(data, "subtitle", 200)
    if "description" in data:
        clean["description"] = _text(data, "description", 5000)
    if "category" in data:
        ref = data["category"]
        category = None
        if ref not in (None, ""):
            if not isinstance(ref, int):  # an id from JSON or the console's TypedChoiceField, never text
                raise ValidationFailed(_("No such category."), field="category")
            pk = optional_id(ref)
            category = Category.objects.filter(brand_id=brand_id, pk=pk).first() if pk else None
            if category is None:
                raise ValidationFailed(_("No such category."), field="category")
        clean["category"] = category
    if "tags" in data:
        tags = data["tags"] if data["tags"] is not None else []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValidationFailed(_("Tags are a list of words."), field="tags")
        cleaned_tags: list[str] = []
        for tag in (t.strip() for t in tags):
            if not tag or len(tag) > MAX_TAG_LENGTH:
                raise ValidationFailed(
                    _("A tag has 1 to %(limit)s characters.") % {"limit": MAX_TAG_LENGTH}, field="tags"
                )
            if tag not in cleaned_tags:
                cleaned_tags.append(tag)
        if len(cleaned_tags) > MAX_TAGS:
            raise ValidationFailed(_("At most %(n)s tags.") % {"n": MAX_TAGS}, field="tags")
        clean["tags"] = cleaned_tags
    for flag in ("is_hot", "active"):
        if flag in data:
            clean[flag] = _bool(data, flag)
    if "image_url" in data:
        url = _text(data, "image_url", 500)
        if url and (urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc):
            raise ValidationFailed(_("An image URL starts with http:// or https://."), field="image_url")
        clean["image_url"] = url
    return clean


def _clean_sku(data: dict[str, Any], *, creating: bool, current_price: int | None = None) -> dict[str, Any]:
    unknown = set(data) - set(SKU_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    clean: dict[str, Any] = {}
    if creating or "code" in data:
        code = data.get("code")
        if not isinstance(code, str) or not _SKU_CODE_RE.match(code.strip()):
            raise ValidationFailed(
                _("A SKU code has 1 to 40 letters, digits, dots, dashes or underscores."), field="code"
            )
        clean["code"] = code.strip()
    if "spec" in data:
        clean["spec"] = _text(data, "spec", 60)
    if creating or "price_fen" in data:
        clean["price_fen"] = _price(data.get("price_fen"), "price_fen")
    if "member_price_fen" in data:
        member = data["member_price_fen"]
        clean["member_price_fen"] = None if member is None else _price(member, "member_price_fen")
    if "active" in data:
        clean["active"] = _bool(data, "active")
    price = clean.get("price_fen", current_price)
    member_price = clean.get("member_price_fen")
    if member_price is not None and price is not None and member_price > price:
        raise ValidationFailed(_("The member price cannot be above the price."), field="member_price_fen")
    return clean


def _audit_value(value: Any) -> Any:
    if isinstance(value, Category):
        return value.pk
    return value


# --- products -----------------------------------------------------------------------------------


@transaction.atomic
def create_product(
    staff: Staff, data: dict[str, Any], *, skus: list[dict[str, Any]] | None = None
) -> Product:
    """Create a product (head office only), optionally with its first SKUs. Either everything is
    created or, on any refused field or taken SKU code, nothing is. Audited."""
    check_can_manage(staff)
    brand_id = current_brand_id(staff)
    clean = _clean_product(data, creating=True, brand_id=brand_id)
    product = Product.objects.create(brand_id=brand_id, **clean)
    record_audit(
        staff,
        "product.create",
        target_type="product",
        target_id=product.pk,
        detail={"name": product.name},
    )
    for sku_data in skus or []:
        create_sku(staff, product.pk, sku_data)
    return product


@transaction.atomic
def update_product(staff: Staff, product_id: Any, data: dict[str, Any]) -> Product:
    """Change a product's fields (head office only); only the fields given change. Unchanged writes
    nothing; a change is audited with the changed fields."""
    check_can_manage(staff)
    product = get_product(staff, product_id)
    product = Product.objects.select_for_update().get(pk=product.pk)
    clean = _clean_product(data, creating=False, brand_id=product.brand_id)
    changed = {k: v for k, v in clean.items() if getattr(product, k) != v}
    if not changed:
        return product
    for key, value in changed.items():
        setattr(product, key, value)
    product.save()
    record_audit(
        staff,
        "product.update",
        target_type="product",
        target_id=product.pk,
        detail={"changes": {k: _audit_value(v) for k, v in sorted(changed.items())}},
    )
    return product


def _published_store_ids(product: Product) -> set[int]:
    store_ids: set[int] = set()
    for publication in Publication.objects.filter(product=product, withdrawn_at__isnull=True):
        store_ids |= target_store_ids(publication)
    return store_ids


@transaction.atomic
def create_sku(staff: Staff, product_id: Any, data: dict[str, Any]) -> Sku:
    """Add a SKU to a product (head office only). The code must be unique across the chain (Conflict
    otherwise). Stores the product is already published to get a listing for it (listed, stock 0)."""
    check_can_manage(staff)
    product = get_product(staff, product_id)
    clean = _clean_sku(data, creating=True)
    if Sku.objects.filter(code__iexact=clean["code"]).exists():
        raise Conflict(_("A SKU with this code already exists."), field="code")
    try:
        with transaction.atomic():
            sku = Sku.objects.create(product=product, **clean)
    except IntegrityError:
        raise Conflict(_("A SKU with this code already exists."), field="code") from None
    store_ids = _published_store_ids(product)
    StoreListing.objects.bulk_create(
        [StoreListing(store_id=s, sku=sku) for s in sorted(store_ids)], ignore_conflicts=True
    )
    record_audit(
        staff,
        "sku.create",
        target_type="sku",
        target_id=sku.pk,
        detail={"product": product.pk, "code": sku.code, "price_fen": sku.price_fen},
    )
    return sku


@transaction.atomic
def update_sku(staff: Staff, sku_id: Any, data: dict[str, Any]) -> Sku:
    """Change a SKU (head office only) with the same rules as ``create_sku``; the member price is
    checked against the resulting price. Audited when something changed."""
    check_can_manage(staff)
    sku = get_sku(staff, sku_id)
    sku = Sku.objects.select_for_update().get(pk=sku.pk)
    clean = _clean_sku(data, creating=False, current_price=sku.price_fen)
    if (
        "member_price_fen" not in clean
        and sku.member_price_fen is not None
        and clean.get("price_fen", sku.price_fen) < sku.member_price_fen
    ):
        raise ValidationFailed(_("The member price cannot be above the price."), field="member_price_fen")
    if "code" in clean and Sku.objects.filter(code__iexact=clean["code"]).exclude(pk=sku.pk).exists():
        raise Conflict(_("A SKU with this code already exists."), field="code")
    changed = {k: v for k, v in clean.items() if getattr(sku, k) != v}
    if not changed:
        return sku
    for key, value in changed.items():
        setattr(sku, key, value)
    try:
        with transaction.atomic():
            sku.save(update_fields=list(changed))
    except IntegrityError:
        raise Conflict(_("A SKU with this code already exists."), field="code") from None
    record_audit(
        staff,
        "sku.update",
        target_type="sku",
        target_id=sku.pk,
        detail={"changes": dict(sorted(changed.items()))},
    )
    return sku
