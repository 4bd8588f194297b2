"""Head office publishing products to stores, and withdrawing them.

Publishing creates the missing ``StoreListing`` rows (listed, stock 0) for every SKU at every target
store, in bulk; existing listings keep their store's choice and stock, so publishing again is harmless.
A store opened after an "all stores" publication gets its listings when the product is published again.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog.models import Publication, Sku, StoreListing
from siyu.catalog.services.products import check_can_manage, get_product
from siyu.catalog.services.reach import target_store_ids
from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import optional_id, parse_id
from siyu.org.models import Region, Staff, Store
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

MAX_CHOSEN_STORES = 2000


def _store_ids(value: Any, brand_id: int) -> list[int]:
    if not isinstance(value, list | tuple) or not value:
        raise ValidationFailed(_("Choose at least one store."), field="store_ids")
    if len(value) > MAX_CHOSEN_STORES:
        raise ValidationFailed(_("Too many stores."), field="store_ids")
    try:
        ids = {parse_id(item, "store_ids") for item in value}
    except NotFound:
        raise ValidationFailed(_("No such store."), field="store_ids") from None
    found = set(Store.objects.filter(brand_id=brand_id, pk__in=ids).values_list("pk", flat=True))
    if found != ids:
        raise ValidationFailed(_("No such store."), field="store_ids")
    return sorted(ids)


@transaction.atomic
def publish(
    staff: Staff,
    product_id: Any,
    *,
    scope: str,
    region_id: Any = None,
    store_ids: list[Any] | None = None,
) -> Publication:
    """Publish a product (head office only) to all stores, one region (``region_id``) or chosen stores
    (``store_ids``). Creates the missing listings (listed, stock 0) for each SKU at each target store in
    bulk and leaves existing ones alone: idempotent for listings, each call records one Publication.
    Audited. Nothing is written for a refused request."""
    check_can_manage(staff)
    product = get_product(staff, product_id)
    if scope not in Publication.Scope.values:
        raise ValidationFailed(_("Publish to all stores, a region or chosen stores."), field="scope")
    region = None
    chosen: list[int] = []
    if scope == Publication.Scope.REGION:
        region_pk = optional_id(region_id)
        region = Region.objects.filter(brand_id=product.brand_id, pk=region_pk).first() if region_pk else None
        if region is None:
            raise ValidationFailed(_("No such region."), field="region_id")
    elif scope == Publication.Scope.STORES:
        chosen = _store_ids(store_ids, product.brand_id)
    publication = Publication.objects.create(product=product, scope=scope, region=region, published_by=staff)
    if chosen:
        publication.stores.set(chosen)
    store_ids_now = sorted(target_store_ids(publication))
    sku_ids = list(Sku.objects.filter(product=product).values_list("pk", flat=True))
    existing = set(
        StoreListing.objects.filter(sku_id__in=sku_ids, store_id__in=store_ids_now).values_list(
            "store_id", "sku_id"
        )
    )
    missing = [
        StoreListing(store_id=store_id, sku_id=sku_id)
        for store_id in store_ids_now
        for sku_id in sku_ids
        if (store_id, sku_id) not in existing
    ]
    # ignore_conflicts: a concurrent publish of the same product may have created some meanwhile.
    StoreListing.objects.bulk_create(missing, batch_size=1000, ignore_conflicts=True)
    record_audit_publication(staff, publication, created=len(missing), stores=len(store_ids_now))
    return publication


def record_audit_publication(staff: Staff, publication: Publication, *, created: int, stores: int) -> None:
    record_audit(
        staff,
        "product.publish",
        target_type="product",
        target_id=publication.product_id,
        detail={
            "publication": publication.pk,
            "scope": publication.scope,
            "region": publication.region_id,
            "stores": stores,
            "listings_created": created,
        },
    )


@transaction.atomic
def withdraw(staff: Staff, publication_id: Any) -> Publication:
    """Withdraw a publication (head office only). Its stores keep their listings and stock, but the
    product is no longer available there unless another live publication reaches them. Idempotent."""
    check_can_manage(staff)
    pk = parse_id(publication_id, "publication", _("No such publication."))
    publication = (
        Publication.objects.select_for_update()
        .filter(pk=pk, product__brand_id=current_brand_id(staff))
        .first()
    )
    if publication is None:
        raise NotFound(_("No such publication."), field="publication")
    if publication.withdrawn_at is None:
        publication.withdrawn_at = timezone.now()
        publication.save(update_fields=["withdrawn_at"])
        record_audit(
            staff,
            "product.withdraw",
            target_type="product",
            target_id=publication.product_id,
            detail={"publication": publication.pk},
        )
    return publication
