"""``siyu bench statements``: a month's staff reward statements for a whole chain (runs inside the scratch
database).

Seeds, through the owners' bulk services, ``stores`` stores with ``staff`` staff members each, ``members``
members brought in per staff member in last month (so the tiers are exercised: ¥1 for a month's first two,
¥2 beyond), two paid orders per member (1% of sales) and a refund for one order in twenty. Orders are not
placed here: their attributions are written as the ``paid``/``refunded`` hooks would write them. Then it
times ``siyu.incentives.services.statements.generate_month`` for that month (and once more: a regeneration
over the same drafts) and audits the result from the database: one statement per staff member, every
attribution claimed once, every statement's total equal to the sum of its lines.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from siyu.incentives.models import (
    Attribution,
    AttributionKind,
    IncentiveRule,
    IncentiveTier,
    StaffStatement,
    StatementLine,
)
from siyu.incentives.services import bulk as incentives_bulk
from siyu.incentives.services import statements
from siyu.incentives.services.months import current_month, month_start, previous_month
from siyu.members.models import Member
from siyu.members.services import bulk as members_bulk
from siyu.org.models import Role, Staff, Store
from siyu.org.services import bulk as org_bulk

CHUNK_STAFF = 2_000


def _seed(stores: int, staff: int, members: int) -> dict[str, Any]:
    month = previous_month(current_month())
    brand = org_bulk.create_brand("bench-statements", "Statements bench")
    incentives_bulk.add_rule(
        brand,
        IncentiveRule(name="拉新", kind="invite", valid_from=month),
        [
            IncentiveTier(from_units=0, to_units=2, fen_per_unit=100),
            IncentiveTier(from_units=2, fen_per_unit=200),
        ],
    )
    incentives_bulk.add_rule(
        brand,
        IncentiveRule(name="提成", kind="gmv_share", valid_from=month),
        [IncentiveTier(from_units=0, basis_points=100)],
    )
    shops = org_bulk.bulk_create_stores(
        brand, [Store(code=f"BS{i:05d}", name=f"门店{i}") for i in range(stores)]
    )
    base = month_start(month) + timedelta(days=3)
    rows = 0
    serial = 0
    for start in range(0, stores, max(1, CHUNK_STAFF // max(staff, 1))):
        chunk = shops[start : start + max(1, CHUNK_STAFF // max(staff, 1))]
        accounts = [
            (Staff(username=f"bs{shop.pk}-{j}", display_name=f"员工{shop.pk}-{j}", role=Role.CLERK), [shop])
            for shop in chunk
            for j in range(staff)
        ]
        people = org_bulk.bulk_create_staff(brand, accounts, password=secrets.token_urlsafe(16))
        new_members = []
        owners = []
        for person, (_s, (shop,)) in zip(people, accounts, strict=True):
            for _k in range(members):
                serial += 1
                new_members.append(Member(home_store=shop, name=f"会员{serial}", mobile=f"186{serial:08d}"))
                owners.append((person, shop))
        added = members_bulk.bulk_add_members(brand, new_members)
        attributions: list[Attribution] = []
        for index, (member, (person, shop)) in enumerate(zip(added, owners, strict=True)):
            when = base + timedelta(minutes=index % 20_000)
            first, second = 2 * member.pk, 2 * member.pk + 1
            items: list[tuple[str, int | None, int]] = [
                (AttributionKind.MEMBER, None, 0),
                (AttributionKind.ORDER, first, 12_345 + member.pk % 1000),
                (AttributionKind.ORDER, second, 5_000),
            ]
            if member.pk % 20 == 0:
                items.append((AttributionKind.REFUND, second, -5_000))
            attributions.extend(
                Attribution(
                    staff=person,
                    store=shop,
                    member=member,
                    kind=kind,
                    order_id=order,
                    amount_fen=fen,
                    occurred_at=when,
                    month=month,
                )
                for kind, order, fen in items
            )
        rows += incentives_bulk.add_attributions(brand, attributions)
    return {"brand_id": brand.pk, "month": month, "attributions": rows}


def _audit(brand_id: int, month: Any) -> dict[str, Any]:
    qs = StaffStatement.objects.filter(brand_id=brand_id, month=month)
    line_sum = Subquery(
        StatementLine.objects.filter(statement_id=OuterRef("pk"))
        .values("statement_id")
        .annotate(total=Sum("amount_fen"))
        .values("total")
    )
    mismatched = (
        qs.annotate(lines_total=Coalesce(line_sum, 0)).exclude(reward_fen=Coalesce(line_sum, 0)).count()
    )
    totals = qs.aggregate(
        n=Count("id"), reward=Sum("reward_fen"), invites=Sum("invite_count"), gmv=Sum("gmv_fen")
    )
    lines = StatementLine.objects.filter(statement__brand_id=brand_id, statement__month=month)
    return {
        "statements": totals["n"],
        "staff": Staff.objects.filter(brand_id=brand_id).count(),
        "lines": lines.count(),
        "sum_of_lines_fen": int(lines.aggregate(s=Sum("amount_fen"))["s"] or 0),
        "sum_of_totals_fen": int(totals["reward"] or 0),
        "statements_whose_total_is_not_their_lines": mismatched,
        "unclaimed_attributions": Attribution.objects.filter(
            brand_id=brand_id, statement__isnull=True
        ).count(),
        "invites": int(totals["invites"] or 0),
        "gmv_fen": int(totals["gmv"] or 0),
    }


def run(*, stores: int, staff: int, members: int) -> dict[str, Any]:
    started = time.perf_counter()
    seeded = _seed(stores, staff, members)
    seed_seconds = time.perf_counter() - started
    began = time.perf_counter()
    first = statements.generate_month(seeded["brand_id"], seeded["month"])
    generate_seconds = time.perf_counter() - began
    began = time.perf_counter()
    statements.generate_month(seeded["brand_id"], seeded["month"])
    regenerate_seconds = time.perf_counter() - began
    audit = _audit(seeded["brand_id"], seeded["month"])
    return {
        "bench": "statements",
        "backend": connection.vendor,
        "stores": stores,
        "staff_per_store": staff,
        "members_per_staff": members,
        "attributions": seeded["attributions"],
        "claimed": first.claimed,
        "seed_seconds": round(seed_seconds, 2),
        "generate_seconds": round(generate_seconds, 2),
        "regenerate_seconds": round(regenerate_seconds, 2),
        "statements_per_s": round(first.statements / generate_seconds, 1) if generate_seconds else None,
        "audit": audit,
        "ok": audit["statements"] == audit["staff"]
        and audit["sum_of_lines_fen"] == audit["sum_of_totals_fen"]
        and audit["statements_whose_total_is_not_their_lines"] == 0
        and audit["unclaimed_attributions"] == 0,
    }
