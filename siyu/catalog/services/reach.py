"""Which stores a publication reaches: the live-publication filter for one store and a publication's
target stores. Read-only; ``products`` (listings for a new SKU), ``publication`` and ``queries`` build on
it."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from siyu.catalog.models import Publication
from siyu.org.models import Store


def publication_q(store: Store) -> Q:
    """A filter on ``Publication`` matching the live (not withdrawn) publications that reach ``store``."""
    reach = Q(scope=Publication.Scope.ALL) | Q(scope=Publication.Scope.STORES, stores=store.pk)
    if store.region_id is not None:
        reach |= Q(scope=Publication.Scope.REGION, region=store.region_id)
    return Q(withdrawn_at__isnull=True) & reach


def target_stores(publication: Publication) -> QuerySet[Store]:
    """The (not closed) stores of the product's brand that ``publication`` reaches now."""
    stores = Store.objects.filter(brand_id=publication.product.brand_id).exclude(status=Store.Status.CLOSED)
    if publication.scope == Publication.Scope.REGION:
        return stores.filter(region=publication.region)
    if publication.scope == Publication.Scope.STORES:
        return stores.filter(pk__in=publication.stores.values("pk"))
    return stores


def target_store_ids(publication: Publication) -> set[int]:
    """The ids of the (not closed) stores ``publication`` reaches now."""
    return set(target_stores(publication).values_list("pk", flat=True))
