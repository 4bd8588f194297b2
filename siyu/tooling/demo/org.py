"""The demo chain's organisation: regions, stores in real Beijing malls and neighbourhoods, HQ and store
staff. Written through ``siyu.org.services.bulk``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from siyu.members.models import Gender
from siyu.org.models import Brand, Region, Role, Staff, Store
from siyu.org.services import bulk
from siyu.tooling.demo.data import (
    AREAS,
    CURATED_STORES,
    NUMERALS,
    OPENING_HOURS,
    REGIONS,
    ROAD_SUFFIXES,
    VENUES,
)
from siyu.tooling.demo.people import mobile, person_name


@dataclass
class StoreInfo:
    """A demo store and who works there (the member generators attribute notes and tags to them)."""

    store: Store
    district: str
    manager_id: int = 0
    clerk_id: int = 0


def store_code(n: int) -> str:
    return f"BJ{n:03d}"


def create_regions(brand: Brand) -> dict[str, Region]:
    return bulk.create_regions(brand, REGIONS)


def create_stores(
    rng: random.Random, brand: Brand, regions: dict[str, Region], count: int
) -> list[StoreInfo]:
    """``count`` stores: the curated flagships first, then neighbourhood stores; the newest store of a
    chain of ten or more is still being fitted out."""
    codes = [store_code(i + 1) for i in range(count)]
    rows: list[Store] = []
    names: set[str] = set()
    area_uses: dict[str, int] = {}
    for i in range(count):
        if i < len(CURATED_STORES):
            name, district, street, lat, lng, region = CURATED_STORES[i]
        else:
            district, area, base_lat, base_lng, region = AREAS[rng.randrange(len(AREAS))]
            uses = area_uses.get(area, 0)
            area_uses[area] = uses + 1
            name = f"{area}店"
            while name in names:
                uses += 1
                label = NUMERALS[uses - 1] if uses <= len(NUMERALS) else f"{uses + 1}号"
                name = f"{area}{label}店"
            street = (
                f"{area}{rng.choice(ROAD_SUFFIXES)}{rng.randint(1, 199)}号"
                f"{area}{rng.choice(VENUES)}{rng.randint(1, 4)}层"
            )
            lat = base_lat + rng.uniform(-0.012, 0.012)
            lng = base_lng + rng.uniform(-0.015, 0.015)
        names.add(name)
        status = Store.Status.PREPARING if count >= 10 and i == count - 1 else Store.Status.OPEN
        rows.append(
            Store(
                region=regions[region],
                code=codes[i],
                name=name,
                city="北京",
                district=district,
                address=f"北京市{district}{street}",
                latitude=Decimal(f"{lat:.6f}"),
                longitude=Decimal(f"{lng:.6f}"),
                opening_hours=OPENING_HOURS,
                phone=f"010-{rng.choice('5678')}{rng.randint(0, 9999999):07d}",
                status=status,
            )
        )
    created = bulk.bulk_create_stores(brand, rows)
    return [StoreInfo(store=s, district=s.district) for s in created]


def create_staff(
    rng: random.Random, brand: Brand, infos: list[StoreInfo], password: str, used_mobiles: set[str]
) -> int:
    """HQ ``admin`` and ``operator``, and a manager ``m<n>`` and a clerk ``c<n>`` per store, all signing in
    with ``password``; records each store's manager and clerk on its ``StoreInfo``."""
    accounts: list[tuple[Staff, StoreInfo | None]] = [
        (
            Staff(username="admin", display_name="总部管理员", role=Role.HQ_ADMIN, can_reveal_mobile=True),
            None,
        ),
        (Staff(username="operator", display_name="总部运营", role=Role.HQ_OPERATOR), None),
    ]
    for n, info in enumerate(infos, start=1):
        for prefix, role, gender_f in (("m", Role.STORE_MANAGER, 0.6), ("c", Role.CLERK, 0.75)):
            gender = Gender.FEMALE if rng.random() < gender_f else Gender.MALE
            accounts.append(
                (
                    Staff(
                        username=f"{prefix}{n:03d}",
                        display_name=person_name(rng, gender, rng.randint(24, 45)),
                        role=role,
                    ),
                    info,
                )
            )
    for staff, _info in accounts:
        staff.mobile = mobile(rng, used_mobiles)
    created = bulk.bulk_create_staff(
        brand,
        [(staff, [where.store] if where else []) for staff, where in accounts],
        password=password,
    )
    for staff, (_s, works_at) in zip(created, accounts, strict=True):
        if works_at is None:
            continue
        if staff.role == Role.STORE_MANAGER:
            works_at.manager_id = staff.pk
        else:
            works_at.clerk_id = staff.pk
    return len(created)
