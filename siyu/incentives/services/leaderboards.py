"""Live leaderboards and "my rewards": this month's members brought in, attributed sales and the reward they
earn so far, computed from attributions at read time (statements are for approval; these never wait for a
generation run) — except a staff member's place in the whole chain, read from the month's statements.

Scope (ADR 0002): a store's board is readable by the staff of that store and by HQ (NotFound otherwise); the
chain board by HQ only — store staff see their own place in the chain, not other stores' people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, ValidationFailed
from siyu.incentives.models import Attribution, AttributionKind, StaffStatement
from siyu.incentives.services.months import current_month
from siyu.incentives.services.rules import rules_for_month
from siyu.incentives.services.statements import SALE_KINDS, Line, regular_lines
from siyu.org.models import Staff, Store
from siyu.org.services.access import can_access_store, is_chain_wide, require_staff
from siyu.org.services.brand import current_brand_id

METRICS = ("reward", "invites", "gmv")
MAX_LIMIT = 100


@dataclass(frozen=True)
class Standing:
    rank: int
    staff_id: int
    staff_name: str
    store_id: int
    store_name: str
    invites: int
    gmv_fen: int
    reward_fen: int


@dataclass(frozen=True)
class Board:
    month: date
    metric: str
    store_id: int | None
    standings: list[Standing]
    total_staff: int


def _raw(brand_id: int, month: date, store_id: int | None) -> list[tuple[int, int, int, int, int]]:
    qs = Attribution.objects.filter(brand_id=brand_id, month=month)
    if store_id is not None:
        qs = qs.filter(store_id=store_id)
    rows = (
        qs.values("staff_id", "store_id")
        .annotate(
            invites=Count("id", filter=Q(kind=AttributionKind.MEMBER)),
            gmv=Sum("amount_fen", filter=Q(kind__in=SALE_KINDS)),
        )
        .order_by()
    )
    rules = rules_for_month(brand_id, month)
    out = []
    for row in rows:
        invites, gmv = row["invites"], int(row["gmv"] or 0)
        reward = sum(line.amount_fen for line in regular_lines(rules, invites, gmv))
        out.append((row["staff_id"], row["store_id"], invites, gmv, reward))
    return out


def _ranked(raw: list[tuple[int, int, int, int, int]], metric: str) -> list[tuple[int, int, int, int, int]]:
    column = {"invites": 2, "gmv": 3, "reward": 4}[metric]
    return sorted(raw, key=lambda r: (-r[column], -r[4], r[0], r[1]))


def _names(rows: list[tuple[int, int, int, int, int]]) -> tuple[dict[int, str], dict[int, str]]:
    staff = {s.pk: str(s) for s in Staff.objects.filter(pk__in={r[0] for r in rows})}
    stores = dict(Store.objects.filter(pk__in={r[1] for r in rows}).values_list("id", "name"))
    return staff, stores


def leaderboard(
    staff: Staff, *, store_id: int | None, metric: str = "reward", month: date | None = None, limit: int = 20
) -> Board:
    """The top ``limit`` of a store (``store_id``) or of the chain (None, HQ only) by ``metric``."""
    person = require_staff(staff)
    if metric not in METRICS:
        raise ValidationFailed(_("Unknown ranking."), field="metric")
    if store_id is None and not is_chain_wide(person):
        raise NotFound(_("The chain board is for head office."), field="store")
    if store_id is not None and not can_access_store(person, store_id):
        raise NotFound(_("No such store."), field="store")
    the_month = month or current_month()
    ranked = _ranked(_raw(current_brand_id(person), the_month, store_id), metric)
    top = ranked[: max(1, min(limit, MAX_LIMIT))]
    names, stores = _names(top)
    standings = [
        Standing(i + 1, r[0], names.get(r[0], "?"), r[1], stores.get(r[1], "?"), r[2], r[3], r[4])
        for i, r in enumerate(top)
    ]
    return Board(the_month, metric, store_id, standings, len(ranked))


@dataclass(frozen=True)
class MyMonth:
    month: date
    invites: int
    gmv_fen: int
    reward_fen: int
    chain_rank: int | None
    chain_size: int
    lines: list[Line]


def my_month(staff: Staff, month: date | None = None) -> MyMonth:
    """The signed-in staff member's month so far (all their stores), with their place in the chain."""
    person = require_staff(staff)
    the_month = month or current_month()
    brand_id = current_brand_id(person)
    mine = Attribution.objects.filter(brand_id=brand_id, month=the_month, staff_id=person.pk).aggregate(
        invites=Count("id", filter=Q(kind=AttributionKind.MEMBER)),
        gmv=Sum("amount_fen", filter=Q(kind__in=SALE_KINDS)),
    )
    invites, gmv = mine["invites"] or 0, int(mine["gmv"] or 0)
    lines = regular_lines(rules_for_month(brand_id, the_month), invites, gmv)
    rank, size = _chain_place(brand_id, the_month, person.pk)
    return MyMonth(the_month, invites, gmv, sum(line.amount_fen for line in lines), rank, size, lines=lines)


def _chain_place(brand_id: int, month: date, staff_id: int) -> tuple[int | None, int]:
    """The staff member's place by reward among the month's statements (as of the last generation: the
    hourly job keeps them fresh), and how many staff members have one. Two indexed aggregates instead of
    pricing every staff member of the chain on each phone refresh."""
    per_staff = (
        StaffStatement.objects.filter(brand_id=brand_id, month=month)
        .values("staff_id")
        .annotate(total=Sum("reward_fen"))
        .order_by()
    )
    mine = per_staff.filter(staff_id=staff_id).order_by("staff_id").first()
    size = per_staff.count()
    if mine is None:
        return None, size
    return per_staff.filter(total__gt=mine["total"]).count() + 1, size
