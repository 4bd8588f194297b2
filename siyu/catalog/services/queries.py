"""Reads of the catalog: what a store's members can buy, a store's listings for its staff, HQ's products.

Store scope as everywhere: a store role sees only its stores' listings; another store's listing looks like it
does not exist (NotFound). Nothing here writes.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from siyu.catalog.models import Product, ProductImage, Publication, Sku, StockMovement, StoreListing
from siyu.catalog.services.reach import publication_q
from siyu.common.errors import NotFound
from siyu.common.validators import parse_id
from siyu.org.models import Staff, Store
from siyu.org.services.access import require_staff, store_scope
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import get_store

_LISTING_RELATED = ("sku__product__category", "store")


def _published_here(store: Store) -> Exists:
    return Exists(Publication.objects.filter(publication_q(store), product_id=OuterRef("sku__product_id")))


def available_listings(store_id: int, *, in_stock_only: bool = False) -> QuerySet[StoreListing]:
    """What members of ``store_id`` can see: listings of SKUs whose product is published to the store by a
    live (not withdrawn) publication, with product and SKU active and the store not having opted out.
    Each row carries its ``stock`` (sold-out rows included unless ``in_stock_only``). Hot items first.
    An unknown store has nothing available. This is the entry point of the member mall; it does not check
    staff scope (members are not staff)."""
    store = Store.objects.filter(pk=store_id).first() if isinstance(store_id, int) else None
    if store is None:
        return StoreListing.objects.none()
    qs = (
        StoreListing.objects.filter(
            store=store,
            listed=True,
            sku__active=True,
            sku__product__active=True,
            sku__product__brand=store.brand_id,
        )
        .filter(_published_here(store))
        .select_related(*_LISTING_RELATED)
        .order_by("-sku__product__is_hot", "sku__product__name", "sku__product_id", "sku_id")
    )
    if in_stock_only:
        qs = qs.filter(stock__gt=0)
    return qs


def member_unit_fen(sku: Sku) -> int:
    """The price (fen) a member pays for one unit of ``sku`` in the mall: the member price when set, else the
    list price. Checkout, the mall pages and product cards all use this one rule."""
    return sku.member_price_fen or sku.price_fen


def is_available(listing: StoreListing) -> bool:
    """Whether ``listing`` is in its store's ``available_listings`` now."""
    return available_listings(listing.store_id).filter(pk=listing.pk).exists()


def store_listings(staff: Staff, store_id: Any) -> QuerySet[StoreListing]:
    """Every listing of one store for its staff console (listed or not), with ``published`` telling
    whether a live publication reaches the store. NotFound for a store outside the caller's scope."""
    store = get_store(staff, store_id)
    return (
        StoreListing.objects.filter(store=store)
        .select_related(*_LISTING_RELATED)
        .annotate(published=_published_here(store))
        .order_by("-sku__product__is_hot", "sku__product__name", "sku__product_id", "sku_id")
    )


def get_listing(staff: Staff, listing_id: Any) -> StoreListing:
    """The listing ``listing_id`` if ``staff`` serves its store (HQ: any); NotFound otherwise."""
    scope = store_scope(staff)
    pk = parse_id(listing_id, "listing", _("No such listing."))
    qs = StoreListing.objects.select_related(*_LISTING_RELATED).filter(
        pk=pk, store__brand_id=current_brand_id(staff)
    )
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    listing = qs.first()
    if listing is None:
        raise NotFound(_("No such listing."), field="listing")
    return listing


def products(staff: Staff, *, q: str | None = None) -> QuerySet[Product]:
    """The brand's products (any staff may read the catalog), hot items first, with SKUs prefetched and
    ``sku_count`` and ``live_publications`` annotated. ``q`` matches part of the name."""
    require_staff(staff)
    qs = Product.objects.filter(brand_id=current_brand_id(staff)).select_related("category")
    if q:
        qs = qs.filter(name__icontains=q.strip()[:100])
    return (
        qs.prefetch_related(
            Prefetch("skus", queryset=Sku.objects.order_by("id")),
            Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")),
        )
        .annotate(
            sku_count=Count("skus", distinct=True),
            live_publications=Count(
                "publications", filter=Q(publications__withdrawn_at__isnull=True), distinct=True
            ),
        )
        .order_by("-is_hot", "name", "id")
    )


def publications(staff: Staff, product_id: int) -> QuerySet[Publication]:
    """A product's publications, newest first (``product_id`` is checked by the caller)."""
    require_staff(staff)
    return (
        Publication.objects.filter(product_id=product_id, product__brand_id=current_brand_id(staff))
        .select_related("region", "published_by")
        .prefetch_related("stores")
    )


def movements(staff: Staff, listing_id: Any) -> QuerySet[StockMovement]:
    """A listing's stock movements, newest first; NotFound outside the caller's scope."""
    listing = get_listing(staff, listing_id)
    return StockMovement.objects.filter(listing=listing).select_related("staff")
