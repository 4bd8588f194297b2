"""Catalog: head office's products and SKUs and their publication to stores; each store's listings and stock.

Products and SKUs are changed by head office only (403 for store roles; any staff may read them). Listings
follow store scope: another store's listing or store answers 404 like a missing one. Money is integer fen.
Stock changes need an ``Idempotency-Key`` header: a retry with the same key answers the first result and
changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api import idempotency
from siyu.api.auth import current_staff
from siyu.api.errors import UnsupportedMediaType
from siyu.api.presenters import store_ref
from siyu.api.schemas import Id, In, PageParams, StoreRef, paginate
from siyu.catalog.models import Product, ProductImage, Publication, Sku, StockMovement, StoreListing
from siyu.catalog.services import cards as card_services
from siyu.catalog.services import images as image_services
from siyu.catalog.services import products as product_services
from siyu.catalog.services import publication as publication_services
from siyu.catalog.services import queries, stock
from siyu.common.errors import ValidationFailed
from siyu.common.validators import clean_idempotency_key

router = Router()


# --- shapes -------------------------------------------------------------------------------------


class SkuOut(Schema):
    id: int
    code: str
    spec: str
    price_fen: int
    member_price_fen: int | None
    active: bool


class PublicationOut(Schema):
    id: int
    scope: str
    region_id: int | None
    store_ids: list[int]
    published_at: datetime
    withdrawn_at: datetime | None


class ImageUrls(Schema):
    thumb: str = Field(description="Square, 360 px, WebP.")
    large: str = Field(description="Longest side at most 960 px, WebP.")


class ImageOut(Schema):
    id: int
    position: int
    main: bool = Field(description="The product's main picture (the first).")
    width: int = Field(description="The picture's width after orientation, before resizing.")
    height: int
    urls: ImageUrls


class ImageOrderIn(In):
    image_ids: list[Id] = Field(
        max_length=10, description="Every picture of the product, once each, in the new order."
    )


class ProductOut(Schema):
    id: int
    name: str
    subtitle: str
    description: str
    category_id: int | None
    category: str | None
    tags: list[str]
    is_hot: bool
    image: str = Field(description="The main picture's large URL (or the external image URL); empty if none.")
    images: list[ImageOut]
    active: bool
    created_at: datetime
    updated_at: datetime
    skus: list[SkuOut]


class ProductDetailOut(ProductOut):
    publications: list[PublicationOut]


class ProductPage(Schema):
    count: int
    items: list[ProductOut]


class SkuIn(In):
    code: str = Field(max_length=40)
    spec: str = Field("", max_length=60)
    price_fen: int = Field(
        ge=1, le=product_services.MAX_PRICE_FEN, description="Price in fen (1 yuan = 100 fen), at least 1."
    )
    member_price_fen: int | None = Field(
        None, ge=1, le=product_services.MAX_PRICE_FEN, description="Member price in fen, not above the price."
    )
    active: bool = True


class SkuUpdateIn(In):
    code: str | None = Field(None, max_length=40)
    spec: str | None = Field(None, max_length=60)
    price_fen: int | None = Field(None, ge=1, le=product_services.MAX_PRICE_FEN)
    member_price_fen: int | None = Field(None, ge=1, le=product_services.MAX_PRICE_FEN)
    active: bool | None = None


class ProductCreateIn(In):
    name: str = Field(max_length=100)
    subtitle: str = Field("", max_length=200)
    description: str = Field("", max_length=5000)
    category: Id | None = None
    tags: list[str] = Field(default_factory=list, max_length=10)
    is_hot: bool = False
    image_url: str = Field("", max_length=500)
    active: bool = True
    skus: list[SkuIn] = Field(default_factory=list, max_length=50)


class ProductUpdateIn(In):
    name: str | None = Field(None, max_length=100)
    subtitle: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=5000)
    category: Id | None = None
    tags: list[str] | None = Field(None, max_length=10)
    is_hot: bool | None = None
    image_url: str | None = Field(None, max_length=500)
    active: bool | None = None


class PublishIn(In):
    scope: str = Field(description="all, region or stores.", max_length=8)
    region_id: Id | None = None
    store_ids: list[Id] | None = Field(None, max_length=2000)


class ProductRef(Schema):
    id: int
    name: str
    is_hot: bool
    active: bool


class ListingOut(Schema):
    id: int
    store: StoreRef
    product: ProductRef
    sku: SkuOut
    listed: bool
    stock: int
    published: bool | None = Field(
        description="A live publication reaches the store (null when not computed)."
    )
    updated_at: datetime


class ListingPage(Schema):
    count: int
    items: list[ListingOut]


class ListingUpdateIn(In):
    listed: bool


class StockIn(In):
    set: int | None = Field(None, ge=0, le=stock.MAX_STOCK, description="Counted stock to set.")
    delta: int | None = Field(None, ge=-stock.MAX_STOCK, le=stock.MAX_STOCK, description="Change, ±.")
    reason: str = Field("adjust", max_length=8, description="With delta: adjust, sale or return.")


class MovementOut(Schema):
    id: int
    delta: int
    reason: str
    ref: str
    stock_after: int
    created_at: datetime


class StockOut(Schema):
    listing: ListingOut
    movement: MovementOut


class CardsIn(In):
    community_ids: list[Id] = Field(
        min_length=1, max_length=card_services.MAX_GROUPS, description="The groups to post the card into."
    )


class CardPostedOut(Schema):
    community_id: int
    message_id: int


class CardSkippedOut(Schema):
    community_id: int
    reason: str = Field(description="not_offered, sold_out, closed or no_public_url.")


class CardsOut(Schema):
    posted: list[CardPostedOut]
    skipped: list[CardSkippedOut]


class ProductParams(Schema):
    q: str | None = Field(None, max_length=100, description="Part of the product name.")


# --- presenters -----------------------------------------------------------------------------------


def sku_out(sku: Sku) -> dict[str, Any]:
    return {
        "id": sku.pk,
        "code": sku.code,
        "spec": sku.spec,
        "price_fen": sku.price_fen,
        "member_price_fen": sku.member_price_fen,
        "active": sku.active,
    }


def publication_out(pub: Publication) -> dict[str, Any]:
    return {
        "id": pub.pk,
        "scope": pub.scope,
        "region_id": pub.region_id,
        "store_ids": sorted(s.pk for s in pub.stores.all()),
        "published_at": pub.published_at,
        "withdrawn_at": pub.withdrawn_at,
    }


def image_out(image: ProductImage) -> dict[str, Any]:
    return {
        "id": image.pk,
        "position": image.position,
        "main": image.position == 0,
        "width": image.width,
        "height": image.height,
        "urls": {size: image.url(size) for size in image_services.SIZES},
    }


def product_out(product: Product) -> dict[str, Any]:
    return {
        "id": product.pk,
        "name": product.name,
        "subtitle": product.subtitle,
        "description": product.description,
        "category_id": product.category_id,
        "category": product.category.name if product.category else None,
        "tags": list(product.tags or []),
        "is_hot": product.is_hot,
        "image": product.picture,
        "images": [image_out(i) for i in product.images.all()],
        "active": product.active,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
        "skus": [sku_out(s) for s in product.skus.all()],
    }


def listing_out(listing: StoreListing) -> dict[str, Any]:
    product = listing.sku.product
    return {
        "id": listing.pk,
        "store": store_ref(listing.store),
        "product": {
            "id": product.pk,
            "name": product.name,
            "is_hot": product.is_hot,
            "active": product.active,
        },
        "sku": sku_out(listing.sku),
        "listed": listing.listed,
        "stock": listing.stock,
        "published": getattr(listing, "published", None),
        "updated_at": listing.updated_at,
    }


def movement_out(movement: StockMovement) -> dict[str, Any]:
    return {
        "id": movement.pk,
        "delta": movement.delta,
        "reason": movement.reason,
        "ref": movement.ref,
        "stock_after": movement.stock_after,
        "created_at": movement.created_at,
    }


def _product_detail(request: HttpRequest, product_id: int) -> dict[str, Any]:
    staff = current_staff(request)
    product = queries.products(staff).get(pk=product_services.get_product(staff, product_id).pk)
    body = product_out(product)
    body["publications"] = [publication_out(p) for p in queries.publications(staff, product.pk)]
    return body


# --- products -----------------------------------------------------------------------------------


@router.get("/products", response=ProductPage)
def list_products(
    request: HttpRequest, params: Query[ProductParams], page: Query[PageParams]
) -> dict[str, Any]:
    """The chain's products with their SKUs, hot items first (any staff may read)."""
    count, items = paginate(queries.products(current_staff(request), q=params.q), page)
    return {"count": count, "items": [product_out(p) for p in items]}


@router.post("/products", response={201: ProductDetailOut})
def create_product(request: HttpRequest, payload: ProductCreateIn) -> Status:
    """Create a product with its first SKUs (head office). A taken SKU code is 409 and nothing is created."""
    data = payload.model_dump(exclude={"skus"})
    skus = [s.model_dump() for s in payload.skus]
    product = product_services.create_product(current_staff(request), data, skus=skus)
    return Status(201, _product_detail(request, product.pk))


@router.get("/products/{int:product_id}", response=ProductDetailOut)
def get_product(request: HttpRequest, product_id: Path[Id]) -> dict[str, Any]:
    """One product with its SKUs and publications."""
    return _product_detail(request, product_id)


@router.patch("/products/{int:product_id}", response=ProductDetailOut)
def update_product(request: HttpRequest, product_id: Path[Id], payload: ProductUpdateIn) -> dict[str, Any]:
    """Change a product (head office). Only the fields sent change; ``"category": null`` clears it."""
    data = payload.model_dump(exclude_unset=True)
    for field in ("name", "subtitle", "description", "tags", "is_hot", "image_url", "active"):
        if field in data and data[field] is None:
            raise ValidationFailed(_("This field cannot be null."), field=field)
    product_services.update_product(current_staff(request), product_id, data)
    return _product_detail(request, product_id)


@router.get("/products/{int:product_id}/images", response=list[ImageOut])
def list_images(request: HttpRequest, product_id: Path[Id]) -> list[dict[str, Any]]:
    """A product's pictures, the main one first (any staff)."""
    return [image_out(i) for i in image_services.product_images(current_staff(request), product_id)]


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP."},
                        "main": {
                            "type": "boolean",
                            "default": False,
                            "description": "Make it the main picture.",
                        },
                    },
                }
            }
        },
    }
}
_TRUE = ("true", "1", "on")
_FALSE = ("false", "0", "off", "")


@router.post("/products/{int:product_id}/images", response={201: ImageOut}, openapi_extra=_UPLOAD_BODY)
def upload_image(request: HttpRequest, product_id: Path[Id]) -> Status:
    """Upload a picture (``catalog.manage``; multipart field ``file``): JPEG, PNG or WebP, at most 5 MB and
    40 megapixels. It is checked, stripped of metadata and resized (thumb 360 px square, large 960 px,
    WebP), served from this site. ``main=true`` makes it the main picture. 413 ``too_large``; 400
    ``unsupported_image_type``, ``not_an_image``, ``image_too_big`` (pixels) or ``too_many_images`` (10);
    415 when the body is not multipart."""
    staff = current_staff(request)
    product_services.check_can_manage(staff)
    product = product_services.get_product(staff, product_id)  # 404 before anything about the body
    if not (request.content_type or "").startswith("multipart/form-data"):
        raise UnsupportedMediaType(_("Upload the file as multipart/form-data."), field="Content-Type")
    upload = request.FILES.get("file")
    if upload is None:
        raise ValidationFailed(_("This field is required."), field="file")
    main = (request.POST.get("main") or "").strip().lower()
    if main not in _TRUE + _FALSE:
        raise ValidationFailed(_("Expected true or false."), field="main")
    image = image_services.add_image(staff, product.pk, upload, size=upload.size, main=main in _TRUE)
    return Status(201, image_out(image))


@router.put("/products/{int:product_id}/images/order", response=list[ImageOut])
def order_images(request: HttpRequest, product_id: Path[Id], payload: ImageOrderIn) -> list[dict[str, Any]]:
    """Reorder a product's pictures (``catalog.manage``): the first becomes the main one."""
    ordered = image_services.order_images(current_staff(request), product_id, list(payload.image_ids))
    return [image_out(i) for i in ordered]


@router.delete("/product-images/{int:image_id}", response={204: None})
def delete_image(request: HttpRequest, image_id: Path[Id]) -> Status:
    """Remove a picture (``catalog.manage``); the next one becomes the main one."""
    image_services.delete_image(current_staff(request), image_id)
    return Status(204, None)


@router.post("/products/{int:product_id}/skus", response={201: SkuOut})
def create_sku(request: HttpRequest, product_id: Path[Id], payload: SkuIn) -> Status:
    """Add a SKU (head office). Stores the product is published to get a listing for it (stock 0)."""
    sku = product_services.create_sku(current_staff(request), product_id, payload.model_dump())
    return Status(201, sku_out(sku))


@router.patch("/skus/{int:sku_id}", response=SkuOut)
def update_sku(request: HttpRequest, sku_id: Path[Id], payload: SkuUpdateIn) -> dict[str, Any]:
    """Change a SKU (head office); ``"member_price_fen": null`` removes the member price."""
    data = payload.model_dump(exclude_unset=True)
    for field in ("code", "spec", "price_fen", "active"):
        if field in data and data[field] is None:
            raise ValidationFailed(_("This field cannot be null."), field=field)
    return sku_out(product_services.update_sku(current_staff(request), sku_id, data))


@router.post("/products/{int:product_id}/publish", response={201: PublicationOut})
def publish_product(request: HttpRequest, product_id: Path[Id], payload: PublishIn) -> Status:
    """Publish to all stores (``scope`` all), a region (``region_id``) or chosen stores (``store_ids``).
    Missing listings are created (listed, stock 0); existing ones keep their stock and the store's choice."""
    pub = publication_services.publish(
        current_staff(request),
        product_id,
        scope=payload.scope,
        region_id=payload.region_id,
        store_ids=list(payload.store_ids) if payload.store_ids is not None else None,
    )
    return Status(201, publication_out(pub))


@router.post("/publications/{int:publication_id}/withdraw", response=PublicationOut)
def withdraw_publication(request: HttpRequest, publication_id: Path[Id]) -> dict[str, Any]:
    """Withdraw a publication (head office); stores keep their listings and stock. Idempotent."""
    return publication_out(publication_services.withdraw(current_staff(request), publication_id))


@router.post("/products/{int:product_id}/cards", response={200: CardsOut, 201: CardsOut})
def post_product_cards(
    request: HttpRequest,
    product_id: Path[Id],
    payload: CardsIn,
    idempotency_key: str = Header(
        ...,
        alias="Idempotency-Key",
        description="Required. The same key again answers the first result (200) and posts nothing.",
    ),
) -> Status:
    """The group robot posts the product as a card into each group (201): a link to the group's store
    listing (cheapest SKU in stock there). Groups outside your stores are 404 and nothing is posted; a
    group whose store cannot sell the product now is listed in ``skipped``; if none can, 409
    ``unavailable``."""
    staff = current_staff(request)
    key = clean_idempotency_key(idempotency_key, idempotency.HEADER)

    def post() -> tuple[int, Any]:
        posts = card_services.post_product_card(
            staff,
            product_id=product_id,
            community_ids=list(payload.community_ids),
            idempotency_key=key,
            base_url=request.build_absolute_uri("/"),
        )
        return 201, {
            "posted": [{"community_id": m.community_id, "message_id": m.pk} for m in posts],
            "skipped": [{"community_id": s.community_id, "reason": s.reason} for s in posts.skipped],
        }

    status, body = idempotency.run_idempotent(request, key, body=payload.model_dump(mode="json"), action=post)
    return Status(status, body)


# --- store listings and stock ----------------------------------------------------------------------


@router.get("/stores/{int:store_id}/listings", response=ListingPage)
def store_listings(request: HttpRequest, store_id: Path[Id], page: Query[PageParams]) -> dict[str, Any]:
    """Every listing of the store, listed or not, with stock and whether it is published there."""
    count, items = paginate(queries.store_listings(current_staff(request), store_id), page)
    return {"count": count, "items": [listing_out(li) for li in items]}


@router.patch("/listings/{int:listing_id}", response=ListingOut)
def update_listing(request: HttpRequest, listing_id: Path[Id], payload: ListingUpdateIn) -> dict[str, Any]:
    """List (``true``) or delist (``false``) the SKU at its store. Audited."""
    return listing_out(stock.set_listed(current_staff(request), listing_id, payload.listed))


@router.post("/listings/{int:listing_id}/stock", response=StockOut)
def change_stock(
    request: HttpRequest,
    listing_id: Path[Id],
    payload: StockIn,
    idempotency_key: str = Header(
        ...,
        alias="Idempotency-Key",
        description="Required. The same key again answers the first result and changes nothing.",
    ),
) -> dict[str, Any]:
    """Set a counted stock (``{"set": n}``) or change it (``{"delta": n, "reason": "adjust"}``; reason
    also sale or return). Stock never goes below zero: such a change is 409 ``insufficient_stock`` and
    changes nothing."""
    staff = current_staff(request)
    if (payload.set is None) == (payload.delta is None):
        raise ValidationFailed(_("Send either set or delta."), field="set")
    if payload.set is not None:
        movement = stock.set_stock(staff, listing_id, payload.set, idempotency_key=idempotency_key)
    else:
        movement = stock.adjust_stock(
            staff, listing_id, payload.delta, reason=payload.reason, idempotency_key=idempotency_key
        )
    listing = queries.get_listing(staff, listing_id)
    return {"listing": listing_out(listing), "movement": movement_out(movement)}
