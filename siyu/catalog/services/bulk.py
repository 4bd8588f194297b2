"""Bulk set-up of a brand's catalog (demo chains, benchmarks): categories, products with SKUs, chain-wide
publication and opening stock per store, in a few inserts.

No person acts, so there is no capability check or audit line (``products``/``publication``/``stock`` are
the paths for staff); the catalog's own rules still hold: everything belongs to one brand, SKU codes are
unique and a listing's stock always equals the sum of its movements.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.catalog.models import Category, Product, Publication, Sku, StockMovement, StoreListing
from siyu.common.errors import Conflict, ValidationFailed
from siyu.org.models import Brand

BATCH = 2000


@transaction.atomic
def create_categories(brand: Brand, names: Sequence[str]) -> dict[str, Category]:
    """Create ``brand``'s top-level categories in the order given (``position`` 0, 1, …); by name."""
    return {name: Category.objects.create(brand=brand, name=name, position=i) for i, name in enumerate(names)}


@transaction.atomic
def add_products(brand: Brand, entries: Sequence[tuple[Product, Sequence[Sku]]]) -> list[Sku]:
    """Insert unsaved products of ``brand``, each with its unsaved SKUs; returns the SKUs in insertion
    (id) order. Guarantees: products (and their categories) belong to ``brand``; nothing is written when
    a SKU code is already in use or given twice (Conflict on ``code``) or a category is another brand's
    (ValidationFailed on ``category``)."""
    codes = [sku.code for _product, skus in entries for sku in skus]
    taken = sorted(Sku.objects.filter(code__in=codes).values_list("code", flat=True))
    if taken or len(set(codes)) != len(codes):
        raise Conflict(_("This SKU code is already in use."), field="code")
    if any(p.category is not None and p.category.brand_id != brand.pk for p, _skus in entries):
        raise ValidationFailed(_("No such category."), field="category")
    all_skus: list[Sku] = []
    for product, skus in entries:
        product.brand = brand
        product.save()
        for sku in skus:
            sku.product = product
            all_skus.append(sku)
    return Sku.objects.bulk_create(all_skus, batch_size=BATCH)


@transaction.atomic
def publish_to_all_stores(products: Sequence[Product]) -> list[Publication]:
    """Publish each of ``products`` to every store of its brand (a chain-wide publication, no actor)."""
    return Publication.objects.bulk_create(
        [Publication(product=p, scope=Publication.Scope.ALL) for p in products], batch_size=BATCH
    )


@transaction.atomic
def open_listings(listings: Sequence[StoreListing]) -> int:
    """Insert unsaved store listings with their opening stock; returns how many.

    Guarantees: a listing's store and SKU belong to one brand (ValidationFailed on ``listings``); stock is
    never negative (ValidationFailed on ``stock``); each opening stock above zero is recorded as a ``set``
    movement, so stock equals the sum of movements from the start; all or nothing (IntegrityError when a
    store already lists the SKU).
    """
    if any(listing.stock < 0 for listing in listings):
        raise ValidationFailed(_("Stock cannot be negative."), field="stock")
    store_brands = {listing.store.brand_id for listing in listings}
    sku_ids = {listing.sku_id for listing in listings}
    sku_brands = set(Product.objects.filter(skus__in=sku_ids).values_list("brand_id", flat=True).distinct())
    if len(store_brands | sku_brands) > 1:
        raise ValidationFailed(_("Stores and SKUs must belong to one brand."), field="listings")
    created = StoreListing.objects.bulk_create(list(listings), batch_size=BATCH)
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                listing_id=listing.pk,
                delta=listing.stock,
                reason=StockMovement.Reason.SET,
                stock_after=listing.stock,
            )
            for listing in created
            if listing.stock > 0
        ],
        batch_size=BATCH,
    )
    return len(created)
