"""Checkout pricing with many coupons (issue 11): ``templates`` active coupon templates in the brand and
``wallet`` coupons in one member's wallet; each round suggests the best choice for a two-line cart and prices
the order with it (``orders.pricing.price`` with the ``coupons`` option), as the H5 cart and checkout do.
Goal: p95 < 50 ms. Runs inside the scratch database (a part of ``siyu bench loyalty``)."""

from __future__ import annotations

import secrets
import statistics
import time
from typing import Any

from django.db import connection

from siyu.catalog.models import Sku, StoreListing
from siyu.catalog.services import products, publication
from siyu.loyalty.models import CouponTemplate
from siyu.loyalty.services import coupons, coupons_checkout
from siyu.members.models import Member
from siyu.orders import pricing
from siyu.org.models import Role, Staff, Store
from siyu.org.services import bulk as org_bulk


def _templates(brand_id: int, n: int) -> list[CouponTemplate]:
    kinds: list[dict[str, Any]] = [
        {"kind": "fixed", "amount_fen": 500},
        {"kind": "percent", "percent_off": 12, "cap_fen": 2000},
        {"kind": "threshold", "amount_fen": 2000, "threshold_fen": 10000},
        {"kind": "fixed", "amount_fen": 300, "stackable": True},
    ]
    return CouponTemplate.objects.bulk_create(
        [
            CouponTemplate(
                brand_id=brand_id, name=f"券{i}", valid_days=30, member_limit=5, **kinds[i % len(kinds)]
            )
            for i in range(n)
        ],
        batch_size=1000,
    )


def run(*, templates: int = 2000, wallet: int = 50, rounds: int = 200) -> dict[str, Any]:
    brand = org_bulk.create_brand("bench-coupons", "Bench")
    [store] = org_bulk.bulk_create_stores(brand, [Store(code="C001", name="Bench store")])
    [staff] = org_bulk.bulk_create_staff(
        brand, [(Staff(username="bench-coupons", role=Role.HQ_ADMIN), [])], password=secrets.token_urlsafe(24)
    )
    product = products.create_product(
        staff,
        {"name": "Bench cup"},
        skus=[{"code": "BC-1", "price_fen": 3900}, {"code": "BC-2", "price_fen": 12900}],
    )
    publication.publish(staff, product.pk, scope="all")
    listings = list(
        StoreListing.objects.filter(store=store).select_related("sku", "sku__product").order_by("pk")
    )
    member = Member.objects.create(brand=brand, home_store=store, mobile="13500000001", name="Bench")
    made = _templates(brand.pk, templates)
    for i, template in enumerate(made[:wallet]):
        coupons.issue(template, member, source="api", key=f"sys:bench:{i}")
    items = [(lst.sku, 1 + i, lst.sku.price_fen) for i, lst in enumerate(listings)]
    lines = [
        pricing.PricedLine(lst.pk, lst.sku, qty, unit, False)
        for lst, (_sku, qty, unit) in zip(listings, items, strict=True)
    ]
    timings: list[float] = []
    discount = 0
    for _ in range(rounds):
        started = time.perf_counter()
        best = coupons_checkout.suggest(member.pk, store.pk, items)
        priced = pricing.price(
            member_id=member.pk,
            store_id=store.pk,
            source="mall",
            campaign_id=None,
            lines=lines,
            options={coupons_checkout.OPTION: best.best_value},
        )
        timings.append((time.perf_counter() - started) * 1000)
        discount = priced.total_fen
    timings.sort()
    return {
        "bench": "coupon-pricing",
        "backend": connection.vendor,
        "templates": templates,
        "wallet": wallet,
        "rounds": rounds,
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 2),
        "total_fen": discount,
        "skus": Sku.objects.filter(product=product).count(),
    }
