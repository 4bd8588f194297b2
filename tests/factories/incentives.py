"""incentives: the standard reward rules (created through the rules service) and attributions written
through the bulk service for a given month (hooks write them in real life; test_incentives_flow covers
those)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count

from siyu.incentives.models import Attribution, AttributionKind, IncentiveRule
from siyu.incentives.services import bulk
from siyu.incentives.services.months import current_month, month_start, previous_month
from siyu.incentives.services.rules import create_rule
from siyu.members.models import Member
from siyu.org.models import Staff, Store

_orders = count(900_000)


def standard_rules(hq: Staff, since: date | None = None) -> tuple[IncentiveRule, IncentiveRule]:
    """¥1 each for a month's first 50 members brought in, ¥2 each beyond; 1% of attributed sales."""
    first = f"{(since or date(2020, 1, 1)):%Y-%m}"
    invite = create_rule(
        hq,
        name="拉新奖励",
        kind="invite",
        valid_from=first,
        tiers=[
            {"from_units": 0, "to_units": 50, "fen_per_unit": 100},
            {"from_units": 50, "to_units": None, "fen_per_unit": 200},
        ],
    )
    share = create_rule(
        hq,
        name="业绩提成",
        kind="gmv_share",
        valid_from=first,
        tiers=[{"from_units": 0, "basis_points": 100}],
    )
    return invite, share


def closed_month(months_ago: int = 2) -> date:
    month = current_month()
    for _ in range(months_ago):
        month = previous_month(month)
    return month


def at(month: date, day: int = 10) -> datetime:
    return month_start(month) + timedelta(days=day - 1, hours=12)


def attribute_members(staff: Staff, store: Store, members: list[Member], month: date) -> list[Attribution]:
    rows = [
        Attribution(
            staff=staff,
            store=store,
            member=m,
            kind=AttributionKind.MEMBER,
            occurred_at=at(month),
            month=month,
        )
        for m in members
    ]
    bulk.add_attributions(store.brand, rows)
    return rows


def attribute_sale(
    staff: Staff, store: Store, member: Member, fen: int, month: date, *, order_id: int | None = None
) -> int:
    """A paid order of ``fen`` placed in ``month``; returns its (made-up) order id."""
    oid = order_id or next(_orders)
    bulk.add_attributions(
        store.brand,
        [
            Attribution(
                staff=staff,
                store=store,
                member=member,
                kind=AttributionKind.ORDER,
                order_id=oid,
                amount_fen=fen,
                occurred_at=at(month),
                month=month,
            )
        ],
    )
    return oid


def attribute_refund(
    staff: Staff, store: Store, member: Member, fen: int, month: date, order_id: int
) -> None:
    bulk.add_attributions(
        store.brand,
        [
            Attribution(
                staff=staff,
                store=store,
                member=member,
                kind=AttributionKind.REFUND,
                order_id=order_id,
                amount_fen=-fen,
                occurred_at=at(month),
                month=month,
            )
        ],
    )
