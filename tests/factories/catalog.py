"""catalog: products with SKUs and published listings with stock, built through the catalog services."""

from __future__ import annotations

import uuid

from siyu.catalog.models import Product, Sku, StoreListing
from siyu.catalog.services import products as product_services
from siyu.catalog.services import publication, stock
from siyu.org.models import Staff, Store


def new_key() -> str:
    """A fresh client idempotency key."""
    return uuid.uuid4().hex


def make_product(
    staff: Staff, name: str = "北欧陶瓷杯", *, codes: tuple[str, ...] = ("CUP-W",), price: int = 3900
) -> Product:
    """A product with one SKU per code, each at ``price`` with a member price 4.00 lower (not published)."""
    return product_services.create_product(
        staff,
        {"name": name, "tags": ["北欧"], "is_hot": True},
        skus=[
            {"code": c, "spec": "白色 / 350ml", "price_fen": price, "member_price_fen": price - 400}
            for c in codes
        ],
    )


def listing_for(store: Store, sku: Sku) -> StoreListing:
    return StoreListing.objects.get(store=store, sku=sku)


def stock_of(listing: StoreListing) -> int:
    """The listing's stock as stored now."""
    return StoreListing.objects.get(pk=listing.pk).stock


def set_stock(staff: Staff, listing: StoreListing, quantity: int) -> None:
    stock.set_stock(staff, listing.pk, quantity, idempotency_key=new_key())


def two_cups_at(staff: Staff, store: Store) -> list[StoreListing]:
    """陶瓷杯 CUP-W (39.00, member 35.00) and CUP-B (20.00) published everywhere; ``store``'s two listings
    (in SKU order) with 10 in stock each."""
    product = product_services.create_product(
        staff,
        {"name": "陶瓷杯"},
        skus=[
            {"code": "CUP-W", "spec": "白", "price_fen": 3900, "member_price_fen": 3500},
            {"code": "CUP-B", "spec": "黑", "price_fen": 2000},
        ],
    )
    publication.publish(staff, product.pk, scope="all")
    rows = list(StoreListing.objects.filter(store=store).order_by("sku_id"))
    for row in rows:
        set_stock(staff, row, 10)
    return rows


def mall_listings(staff: Staff, store_a: Store, store_b: Store) -> dict[str, StoreListing]:
    """A hot cup (CUP-W, CUP-B) published to every store with 5 in stock at ``store_a``; a plate (PLATE)
    only at ``store_b``. Returns store A's listings by SKU code."""
    cup = make_product(staff, "北欧陶瓷杯", codes=("CUP-W", "CUP-B"))
    plate = make_product(staff, "日式餐盘", codes=("PLATE",))
    publication.publish(staff, cup.pk, scope="all")
    publication.publish(staff, plate.pk, scope="stores", store_ids=[store_b.pk])
    rows = {lst.sku.code: lst for lst in StoreListing.objects.filter(store=store_a).select_related("sku")}
    for row in rows.values():
        set_stock(staff, row, 5)
    return rows


def candle_sku(staff: Staff) -> Sku:
    """A candle SKU (CANDLE, 69.00, member 65.00) published everywhere, 10 in stock at every store."""
    product = make_product(staff, "香薰蜡烛", codes=("CANDLE",), price=6900)
    publication.publish(staff, product.pk, scope="all")
    for listing in StoreListing.objects.filter(sku__product=product):
        set_stock(staff, listing, 10)
    return product.skus.get()


def flash_cup_sku(staff: Staff) -> Sku:
    """FLASH-CUP (59.00) published everywhere, no stock (a flash sale has stock of its own)."""
    product = product_services.create_product(
        staff, {"name": "北欧陶瓷杯"}, skus=[{"code": "FLASH-CUP", "spec": "白", "price_fen": 5900}]
    )
    publication.publish(staff, product.pk, scope="all")
    return Sku.objects.get(code="FLASH-CUP")


def sale_skus(staff: Staff) -> dict[str, Sku]:
    """CUP-W / CUP-B (¥39, published everywhere) and CANDLE (¥69, published to store B001 only), by code."""
    cup = product_services.create_product(
        staff,
        {"name": "北欧陶瓷杯", "is_hot": True, "image_url": "https://img.example.com/cup.jpg"},
        skus=[
            {"code": "CUP-W", "spec": "白色", "price_fen": 3900},
            {"code": "CUP-B", "spec": "黑色", "price_fen": 3900},
        ],
    )
    publication.publish(staff, cup.pk, scope="all")
    candle = product_services.create_product(
        staff, {"name": "香薰蜡烛"}, skus=[{"code": "CANDLE", "spec": "白茶", "price_fen": 6900}]
    )
    store_b = Store.objects.get(code="B001")
    publication.publish(staff, candle.pk, scope="stores", store_ids=[store_b.pk])
    return {s.code: s for s in Sku.objects.all()}
