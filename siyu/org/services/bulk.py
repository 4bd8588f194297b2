"""Bulk set-up of a brand: its regions, stores and staff written in a few inserts (demo chains, benchmarks).

These skip the one-at-a-time rules of ``stores.create_store`` / ``staff_admin.create_staff`` (actor,
capability, audit) because no person is acting; they keep the rules the data itself needs (unique codes
and usernames, everything tied to the brand) and write all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict
from siyu.org.models import Brand, Region, Staff, Store

BATCH = 2000


def create_brand(code: str, name: str) -> Brand:
    """Create the brand ``code`` named ``name``. IntegrityError when the code is taken (a concurrent run)."""
    return Brand.objects.create(code=code, name=name)


@transaction.atomic
def create_regions(brand: Brand, regions: Sequence[tuple[str, str]]) -> dict[str, Region]:
    """Create ``brand``'s regions from ``(code, name)`` pairs; returns them by code."""
    return {code: Region.objects.create(brand=brand, code=code, name=name) for code, name in regions}


@transaction.atomic
def bulk_create_stores(brand: Brand, stores: Sequence[Store]) -> list[Store]:
    """Insert unsaved ``stores`` as ``brand``'s, in the order given, and return them with their ids.

    Guarantees: every store belongs to ``brand`` (and to a region of ``brand`` when it has one); nothing is
    written when a code is already in use (Conflict on ``stores`` naming the first such code) or a region
    belongs to another brand (Conflict on ``stores``).
    """
    codes = [s.code for s in stores]
    taken = sorted(Store.objects.filter(code__in=codes).values_list("code", flat=True))
    if taken:
        raise Conflict(_("Store code %(code)s is already in use.") % {"code": taken[0]}, field="stores")
    region_ids = {s.region_id for s in stores if s.region_id is not None}
    if region_ids and Region.objects.filter(pk__in=region_ids).exclude(brand=brand).exists():
        raise Conflict(_("A region of another brand was given."), field="stores")
    for store in stores:
        store.brand = brand
    return Store.objects.bulk_create(list(stores), batch_size=BATCH)


@transaction.atomic
def bulk_create_staff(
    brand: Brand, accounts: Sequence[tuple[Staff, Sequence[Store]]], *, password: str
) -> list[Staff]:
    """Insert unsaved staff accounts of ``brand``, each with the stores it works in, and return them.

    ``password`` is hashed once and shared by every account (hashing is deliberately slow); check it
    against the password rules before calling. Guarantees: every account belongs to ``brand`` and can sign
    in with ``password``; store links only to ``brand``'s stores; nothing is written when a username is
    taken (Conflict on ``staff`` naming the first) or a store is another brand's (Conflict on ``staff``).
    """
    usernames = [staff.username for staff, _stores in accounts]
    taken = sorted(Staff.objects.filter(username__in=usernames).values_list("username", flat=True))
    if taken:
        raise Conflict(
            _("The username %(username)s is already in use.") % {"username": taken[0]}, field="staff"
        )
    if any(store.brand_id != brand.pk for _staff, stores in accounts for store in stores):
        raise Conflict(_("A store of another brand was given."), field="staff")
    password_hash = make_password(password)
    for staff, _stores in accounts:
        staff.brand = brand
        staff.password = password_hash
    created = Staff.objects.bulk_create([staff for staff, _stores in accounts], batch_size=BATCH)
    links = [
        Staff.stores.through(staff_id=staff.pk, store_id=store.pk)
        for staff, (_s, stores) in zip(created, accounts, strict=True)
        for store in stores
    ]
    Staff.stores.through.objects.bulk_create(links, batch_size=BATCH)
    return created
