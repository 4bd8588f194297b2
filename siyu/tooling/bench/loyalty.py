"""The database steps of ``siyu bench loyalty``, each run as ``siyu bench loyalty --inner --step …`` inside
the benchmark's environment (see ``loyalty_run``):

- ``seed``: a brand, a store, a check-in rule and ``members`` members, each signed in on a session of its own
  (session rows written in bulk, as a browser that signed in would hold); writes the session keys to a file.
- ``audit``: only reads. Counts from the database, for the run's members: check-ins, members checked in more
  than once today, check-in ledger entries beyond one per member and day, and accounts whose balance is not
  the sum of their live batches.
- ``expiry``: seeds ``batches`` points batches (with their earning entries and accounts) by bulk SQL, ninety
  per cent of them past their expiry, then times ``siyu.loyalty.services.points.expire_due`` over them and
  checks the result from the database (no due batch left, every balance the sum of its live batches).
- ``pricing``: 2,000 active coupon templates (fixed, percentage, threshold; scoped to the store, a category,
  products, or not at all), 50 of them in one member's wallet; times the checkout's suggestion and pricing.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from siyu.catalog.models import Product, Sku, StoreListing
from siyu.catalog.services import bulk as catalog_bulk
from siyu.loyalty.models import (
    CheckIn,
    Coupon,
    CouponSource,
    CouponTemplate,
    EarnRule,
    PointsAccount,
    PointsBatch,
    PointsEntry,
)
from siyu.loyalty.services import bulk as loyalty_bulk
from siyu.loyalty.services import coupons, coupons_checkout, points
from siyu.members.models import Member
from siyu.members.services import bulk as members_bulk
from siyu.orders.pricing import PricedLine, price
from siyu.org.models import Store
from siyu.org.services import bulk as org_bulk

MOBILE_HEAD = "187"
MAX_MEMBERS = 100_000
CHECKIN_POINTS = 5


def _run_block() -> int:
    for _attempt in range(50):
        block = secrets.randbelow(1000)
        if not Member.objects.filter(mobile__startswith=f"{MOBILE_HEAD}{block:03d}").exists():
            return block
    raise RuntimeError("No free block of benchmark mobile numbers is left in this database.")


def _new_members(prefix: str, count: int) -> tuple[Any, Store, list[int], str]:
    block = _run_block()
    run = f"{block:03d}{secrets.token_hex(3)}"
    brand = org_bulk.create_brand(f"{prefix}-{run}", "Loyalty bench")
    [store] = org_bulk.bulk_create_stores(brand, [Store(code=f"LB-{run}", name="Loyalty bench store")])
    members_bulk.bulk_add_members(
        brand,
        [
            Member(home_store=store, name=f"会员{i}", mobile=f"{MOBILE_HEAD}{block:03d}{i:05d}")
            for i in range(count)
        ],
    )
    ids = list(Member.objects.filter(brand=brand).order_by("pk").values_list("pk", flat=True))
    return brand, store, ids, run


def seed(*, members: int, sessions_path: str) -> dict[str, Any]:
    """The check-in benchmark's brand, rule and signed-in members; writes ``[[member_id, session_key], …]``
    to ``sessions_path``."""
    if members > MAX_MEMBERS:
        raise ValueError(f"At most {MAX_MEMBERS} members per run.")
    with transaction.atomic():
        brand, _store, ids, run = _new_members("lbc", members)
        loyalty_bulk.add_earn_rules(
            brand, [EarnRule(kind=EarnRule.Kind.CHECKIN, name="每日签到", points=CHECKIN_POINTS)]
        )
        keys = members_bulk.signed_in_sessions(ids)
    with open(sessions_path, "w") as fh:
        json.dump([[pk, key] for pk, key in zip(ids, keys, strict=True)], fh)
    return {"run": run, "brand": brand.pk, "members": len(ids)}


def _unbalanced(accounts: Any) -> int:
    live = (
        PointsBatch.objects.filter(account_id=OuterRef("pk"), remaining__gt=0)
        .values("account_id")
        .annotate(total=Sum("remaining"))
        .values("total")
    )
    return int(accounts.annotate(live=Coalesce(Subquery(live), 0)).exclude(balance=F("live")).count())


def audit(brand_id: int) -> dict[str, Any]:
    """Count from the database (reading only) what the check-in run left."""
    checkins = CheckIn.objects.filter(member__brand_id=brand_id)
    per_day = checkins.values("member_id", "day").annotate(n=Count("id")).filter(n__gt=1).count()
    entries = PointsEntry.objects.filter(account__brand_id=brand_id, source_type="checkin")
    extra_entries = entries.values("account_id", "source_id").annotate(n=Count("id")).filter(n__gt=1).count()
    accounts = PointsAccount.objects.filter(brand_id=brand_id)
    points_total = int(accounts.aggregate(n=Coalesce(Sum("balance"), 0))["n"])
    return {
        "checkins": checkins.count(),
        "members_checked_in": checkins.values("member_id").distinct().count(),
        "duplicates": per_day + extra_entries,
        "points_total": points_total,
        "points_expected": checkins.count() * CHECKIN_POINTS,
        "unbalanced_accounts": _unbalanced(accounts),
    }


# --- the expiry job over many batches ------------------------------------------------------------------


def seed_batches(*, batches: int, per_member: int = 50, due_share: float = 0.9) -> dict[str, Any]:
    """``batches`` batches of 10 points over ``batches / per_member`` members, by bulk SQL (not the ledger
    service); the first ``due_share`` of each member's batches are past their expiry."""
    members = max(1, batches // per_member)
    now = timezone.now()
    past, future = now - timedelta(days=1), now + timedelta(days=200)
    db_time = connection.ops.adapt_datetimefield_value
    due_per_member = int(per_member * due_share)
    started = time.perf_counter()
    with transaction.atomic():
        brand, _store, _ids, run = _new_members("lbe", members)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO loyalty_pointsaccount "
            "(brand_id, member_id, balance, debt, earned_total, updated_at) "
            "SELECT %s, id, %s, 0, %s, %s FROM members_member WHERE brand_id = %s",
            [brand.pk, 10 * per_member, 10 * per_member, db_time(now), brand.pk],
        )
        cur.execute(
            # The numbers 1…per_member by a recursive CTE (PostgreSQL and SQLite alike).
            "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %s) "
            "INSERT INTO loyalty_pointsentry (account_id, kind, points, balance_after, debt_after, reason, "
            "source_type, source_id, idempotency_key, request_hash, created_at) "
            "SELECT a.id, 'earn', 10, 10 * g.i, 0, 'bench', 'bench', '', "
            "'sys:bench:' || a.id || ':' || g.i, '', %s "
            "FROM loyalty_pointsaccount a CROSS JOIN g WHERE a.brand_id = %s",
            [per_member, db_time(past - timedelta(days=400)), brand.pk],
        )
        cur.execute(
            "INSERT INTO loyalty_pointsbatch "
            "(account_id, entry_id, amount, remaining, earned_at, expires_at) "
            "SELECT e.account_id, e.id, 10, 10, e.created_at, "
            "CASE WHEN e.balance_after <= %s THEN %s ELSE %s END "
            "FROM loyalty_pointsentry e JOIN loyalty_pointsaccount a ON a.id = e.account_id "
            "WHERE a.brand_id = %s",
            [10 * due_per_member, db_time(past), db_time(future), brand.pk],
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE loyalty_pointsaccount, loyalty_pointsentry, loyalty_pointsbatch")
    seeded = PointsBatch.objects.filter(account__brand_id=brand.pk).count()
    return {
        "run": run,
        "brand": brand.pk,
        "accounts": members,
        "batches": seeded,
        "due": members * due_per_member,
        "seed_s": round(time.perf_counter() - started, 1),
    }


def expiry(*, batches: int) -> dict[str, Any]:
    """Seed, then time the expiry job and check what it left."""
    seeded = seed_batches(batches=batches)
    started = time.perf_counter()
    expired = points.expire_due()
    seconds = time.perf_counter() - started
    brand_id = seeded["brand"]
    accounts = PointsAccount.objects.filter(brand_id=brand_id)
    left_due = PointsBatch.objects.filter(
        account__brand_id=brand_id, remaining__gt=0, expires_at__lte=timezone.now()
    ).count()
    expiry_entries = PointsEntry.objects.filter(
        account__brand_id=brand_id, kind=PointsEntry.Kind.EXPIRE
    ).count()
    again_started = time.perf_counter()
    again = points.expire_due()
    return {
        **seeded,
        "expired": expired,
        "expiry_s": round(seconds, 2),
        "batches_per_s": round(expired / seconds) if seconds else None,
        "expiry_entries": expiry_entries,
        "due_left": left_due,
        "unbalanced_accounts": _unbalanced(accounts),
        "second_run_expired": again,
        "second_run_s": round(time.perf_counter() - again_started, 2),
    }


# --- checkout pricing with many coupon templates -------------------------------------------------------


def pricing(*, templates: int = 2_000, wallet: int = 50, rounds: int = 300) -> dict[str, Any]:
    """Checkout pricing for one member with ``wallet`` coupons, among ``templates`` active templates: each
    round suggests the best coupons for a three-line cart (``coupons_checkout.suggest``) and prices the cart
    with that choice through the adjusters (``orders.pricing.price``), as the H5 checkout does."""
    now = timezone.now()
    with transaction.atomic():
        brand, store, ids, run = _new_members("lbp", 1)
        member = Member.objects.get(pk=ids[0])
        by_name = catalog_bulk.create_categories(brand, [f"类目{i}" for i in range(4)])
        categories = [by_name[f"类目{i}"] for i in range(4)]
        products = [Product(name=f"商品{i}", category=categories[i % 4]) for i in range(8)]
        skus = catalog_bulk.add_products(
            brand,
            [(p, [Sku(code=f"LBP-{run}-{i}", price_fen=2000 + 500 * i)]) for i, p in enumerate(products)],
        )
        catalog_bulk.publish_to_all_stores(products)
        catalog_bulk.open_listings([StoreListing(store=store, sku=sku, stock=1000) for sku in skus])
        kinds = [
            {"kind": CouponTemplate.Kind.FIXED, "amount_fen": 300},
            {"kind": CouponTemplate.Kind.PERCENT, "percent_off": 15, "cap_fen": 2000},
            {"kind": CouponTemplate.Kind.THRESHOLD, "amount_fen": 1000, "threshold_fen": 8000},
        ]
        # A quarter scoped to the store, a quarter to a category, a quarter to two products.
        made = loyalty_bulk.add_coupon_templates(
            brand,
            [
                CouponTemplate(
                    name=f"券{i}",
                    valid_days=30,
                    member_limit=1,
                    stackable=i % 5 == 0,
                    **kinds[i % 3],
                )
                for i in range(templates)
            ],
            stores=[(i, store.pk) for i in range(0, templates, 4)],
            categories=[(i, categories[i % 4].pk) for i in range(1, templates, 4)],
            products=[(i, products[(i + k) % 8].pk) for i in range(2, templates, 4) for k in (0, 1)],
        )
        step = max(1, len(made) // wallet)
        for t in made[::step][:wallet]:
            coupons.issue(t, member, key=f"sys:bench:{t.pk}", source=CouponSource.MANUAL, now=now)
    listings = list(
        StoreListing.objects.filter(store=store).select_related("sku__product").order_by("pk")[:3]
    )
    items = [(li.sku, 2, li.sku.price_fen) for li in listings]
    lines = [
        PricedLine(
            listing_id=li.pk, sku=li.sku, quantity=2, base_unit_fen=li.sku.price_fen, campaign_priced=False
        )
        for li in listings
    ]
    times: list[float] = []
    best_fen = 0
    total_fen = 0
    for _round in range(rounds):
        started = time.perf_counter()
        suggestion = coupons_checkout.suggest(member.pk, store.pk, items)
        priced = price(
            member_id=member.pk,
            store_id=store.pk,
            source="mall",
            campaign_id=None,
            lines=lines,
            options={coupons_checkout.OPTION: suggestion.best_value},
        )
        times.append(time.perf_counter() - started)
        best_fen, total_fen = suggestion.best_fen, priced.total_fen
    lat = sorted(times)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)

    return {
        "templates": CouponTemplate.objects.filter(brand=brand, active=True).count(),
        "wallet": Coupon.objects.filter(member=member).count(),
        "usable_offers": len(suggestion.offers),
        "best_discount_fen": best_fen,
        "cart_fen": sum(u * q for _s, q, u in items),
        "priced_total_fen": total_fen,
        "rounds": rounds,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }
