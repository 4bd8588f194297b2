"""Loyalty for staff: earn rules, a member's points and ledger, adjustments, red packets and the points
liability report. Members check in themselves (H5); staff read. Same error shape as every router; writes that
a client may retry take an ``Idempotency-Key`` header, scoped to the caller."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.presenters import store_ref
from siyu.api.schemas import Id, In, PageParams, StoreRef, paginate
from siyu.loyalty.models import EarnRule, PointsEntry, RedPacket
from siyu.loyalty.services import points, red_packets, reports, rule_admin
from siyu.org.services.brand import current_brand_id

router = Router()

RuleKind = Literal["checkin", "purchase", "participation", "invite"]


# --- earn rules ----------------------------------------------------------------------------------------


class StreakBonus(Schema):
    days: int = Field(ge=2, le=365)
    points: int = Field(ge=1, le=100_000)


class RuleOut(Schema):
    id: int
    kind: str
    name: str
    points: int
    starts_at: datetime | None
    ends_at: datetime | None
    store_ids: list[int]
    daily_cap: int | None
    member_cap: int | None
    active: bool
    streak_bonus: list[StreakBonus]
    makeup_cost: int
    makeup_days: int


class RuleIn(In):
    kind: RuleKind
    name: str = Field(max_length=60)
    points: int = Field(0, ge=0, le=100_000, description="Per occasion; for purchases, per yuan paid.")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    store_ids: list[Id] = Field(default_factory=list, max_length=500, description="Empty: every store.")
    daily_cap: int | None = Field(None, ge=1, le=10_000, description="Times per member per day.")
    member_cap: int | None = Field(None, ge=1, le=10_000, description="Times per member in all.")
    active: bool = True
    streak_bonus: list[StreakBonus] = Field(default_factory=list, max_length=20, description="Check-in only.")
    makeup_cost: int = Field(0, ge=0, le=100_000, description="Check-in only: points a make-up day costs.")
    makeup_days: int = Field(7, ge=1, le=31, description="Check-in only: how far back a day can be made up.")


class RuleUpdateIn(In):
    name: str | None = Field(None, max_length=60)
    points: int | None = Field(None, ge=0, le=100_000)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    store_ids: list[Id] | None = Field(None, max_length=500)
    daily_cap: int | None = Field(None, ge=1, le=10_000)
    member_cap: int | None = Field(None, ge=1, le=10_000)
    active: bool | None = None
    streak_bonus: list[StreakBonus] | None = Field(None, max_length=20)
    makeup_cost: int | None = Field(None, ge=0, le=100_000)
    makeup_days: int | None = Field(None, ge=1, le=31)


class RuleParams(Schema):
    kind: RuleKind | None = None


def rule_out(rule: EarnRule) -> dict[str, Any]:
    config = rule.config or {}
    bonus = config.get("streak_bonus") or {}
    return {
        "id": rule.pk,
        "kind": rule.kind,
        "name": rule.name,
        "points": rule.points,
        "starts_at": rule.starts_at,
        "ends_at": rule.ends_at,
        "store_ids": sorted(s.pk for s in rule.stores.all()),
        "daily_cap": rule.daily_cap,
        "member_cap": rule.member_cap,
        "active": rule.active,
        "streak_bonus": [
            {"days": int(d), "points": int(p)} for d, p in sorted(bonus.items(), key=lambda kv: int(kv[0]))
        ],
        "makeup_cost": int(config.get("makeup_cost") or 0),
        "makeup_days": int(config.get("makeup_days") or 7),
    }


def _rule_data(payload: Schema, *, partial: bool) -> dict[str, Any]:
    """The fields the client sent (the service applies its defaults), streak bonuses as plain rows.
    On a change, an explicit null clears a window or a cap; other nulls leave the field as it is."""
    data = payload.model_dump(exclude_unset=True)
    if "streak_bonus" in data and data["streak_bonus"] is not None:
        data["streak_bonus"] = [{"days": b["days"], "points": b["points"]} for b in data["streak_bonus"]]
    if partial:
        clearable = ("starts_at", "ends_at", "daily_cap", "member_cap")
        data = {k: v for k, v in data.items() if v is not None or k in clearable}
    return data


@router.get("/loyalty/rules", response=list[RuleOut])
def list_earn_rules(request: HttpRequest, params: Query[RuleParams]) -> list[dict[str, Any]]:
    """The brand's earn rules (check-in, purchases, taking part, invites), by kind."""
    return [rule_out(r) for r in rule_admin.list_rules(current_staff(request), kind=params.kind)]


@router.post("/loyalty/rules", response={201: RuleOut})
def create_earn_rule(request: HttpRequest, payload: RuleIn) -> Status:
    """A new earn rule (head office: ``loyalty.manage``)."""
    rule = rule_admin.create_rule(current_staff(request), _rule_data(payload, partial=False))
    return Status(201, rule_out(rule_admin.get_rule(current_staff(request), rule.pk)))


@router.get("/loyalty/rules/{int:rule_id}", response=RuleOut)
def get_earn_rule(request: HttpRequest, rule_id: Path[Id]) -> dict[str, Any]:
    """One earn rule."""
    return rule_out(rule_admin.get_rule(current_staff(request), rule_id))


@router.patch("/loyalty/rules/{int:rule_id}", response=RuleOut)
def update_earn_rule(request: HttpRequest, rule_id: Path[Id], payload: RuleUpdateIn) -> dict[str, Any]:
    """Change the fields given; ``active: false`` switches a rule off (rules are never deleted: the ledger
    names them)."""
    return rule_out(
        rule_admin.update_rule(current_staff(request), rule_id, _rule_data(payload, partial=True))
    )


# --- a member's points ---------------------------------------------------------------------------------


class BatchOut(Schema):
    id: int
    amount: int
    remaining: int
    earned_at: datetime
    expires_at: datetime


class PointsOut(Schema):
    member_id: int
    balance: int = Field(description="What the member sees: negative exactly by what a refund left owing.")
    spendable: int
    owed: int
    earned_total: int
    batches: list[BatchOut] = Field(description="Live batches, soonest to expire first (at most 50).")


class EntryOut(Schema):
    id: int
    kind: str
    points: int
    balance_after: int
    owed_after: int
    reason: str
    source_type: str
    source_id: str
    actor_id: int | None
    created_at: datetime


class EntryPage(Schema):
    count: int
    items: list[EntryOut]


class AdjustIn(In):
    points: int = Field(ge=-10_000_000, le=10_000_000, description="Positive adds, negative takes.")
    reason: str = Field(max_length=200)


def entry_out(entry: PointsEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "points": entry.points,
        "balance_after": entry.balance_after - entry.debt_after,
        "owed_after": entry.debt_after,
        "reason": entry.reason,
        "source_type": entry.source_type,
        "source_id": entry.source_id,
        "actor_id": entry.actor_id,
        "created_at": entry.created_at,
    }


def _points_out(request: HttpRequest, member_id: int) -> dict[str, Any]:
    info = reports.member_points(current_staff(request), member_id)
    return {
        "member_id": info.member.pk,
        "balance": info.balance.shown,
        "spendable": info.balance.balance,
        "owed": info.balance.debt,
        "earned_total": info.earned_total,
        "batches": [
            {
                "id": b.pk,
                "amount": b.amount,
                "remaining": b.remaining,
                "earned_at": b.earned_at,
                "expires_at": b.expires_at,
            }
            for b in info.live_batches
        ],
    }


@router.get("/members/{int:member_id}/points", response=PointsOut)
def member_points(request: HttpRequest, member_id: Path[Id]) -> dict[str, Any]:
    """A member's points: balance, what they owe from refunds, live batches with expiry."""
    return _points_out(request, member_id)


@router.get("/members/{int:member_id}/points/entries", response=EntryPage)
def member_points_entries(
    request: HttpRequest, member_id: Path[Id], page: Query[PageParams]
) -> dict[str, Any]:
    """The member's points ledger, newest first."""
    count, items = paginate(reports.member_entries(current_staff(request), member_id), page)
    return {"count": count, "items": [entry_out(e) for e in items]}


@router.post("/members/{int:member_id}/points/adjust", response=EntryOut)
def adjust_member_points(
    request: HttpRequest,
    member_id: Path[Id],
    payload: AdjustIn,
    idempotency_key: str = Header(
        ...,
        alias="Idempotency-Key",
        description="Required, scoped to the caller. The same key again answers the first entry (200).",
    ),
) -> dict[str, Any]:
    """Add or take points with a reason (``loyalty.adjust``). Taking more than the member has is 409
    ``insufficient_points``; nothing changes. Audited."""
    entry = points.adjust(
        current_staff(request), member_id, payload.points, reason=payload.reason, key=idempotency_key
    )
    return entry_out(entry)


# --- red packets ---------------------------------------------------------------------------------------


class RedPacketIn(In):
    community_id: Id
    total: int = Field(ge=1, le=red_packets.MAX_TOTAL, description="Points in the packet.")
    shares: int = Field(ge=1, le=red_packets.MAX_SHARES, description="How many members can grab (≤ total).")
    greeting: str = Field("", max_length=60)


class RedPacketOut(Schema):
    id: int
    community_id: int
    store: StoreRef
    total: int
    shares: int
    greeting: str
    status: str
    grabbed: int
    grabbed_points: int
    returned: int
    dropped_by_staff_id: int | None
    created_at: datetime
    expires_at: datetime


class RedPacketPage(Schema):
    count: int
    items: list[RedPacketOut]


class RedPacketParams(Schema):
    community: Id | None = None


class BudgetOut(Schema):
    remaining: int


def packet_out(packet: RedPacket) -> dict[str, Any]:
    summary = red_packets.summary(packet)
    return {
        "id": packet.pk,
        "community_id": packet.community_id,
        "store": store_ref(packet.store),
        "total": packet.total,
        "shares": packet.shares,
        "greeting": packet.greeting,
        "status": packet.status,
        "grabbed": summary.grabbed,
        "grabbed_points": summary.grabbed_points,
        "returned": packet.returned,
        "dropped_by_staff_id": packet.staff_id,
        "created_at": packet.created_at,
        "expires_at": packet.expires_at,
    }


@router.get("/loyalty/red-packets", response=RedPacketPage)
def list_red_packets(
    request: HttpRequest, params: Query[RedPacketParams], page: Query[PageParams]
) -> dict[str, Any]:
    """Red packets in the groups of the caller's stores (HQ: all), newest first."""
    count, items = paginate(
        red_packets.list_packets(current_staff(request), community_id=params.community), page
    )
    return {"count": count, "items": [packet_out(p) for p in items]}


@router.post("/loyalty/red-packets", response={201: RedPacketOut, 200: RedPacketOut})
def create_red_packet(
    request: HttpRequest,
    payload: RedPacketIn,
    idempotency_key: str = Header(
        ...,
        alias="Idempotency-Key",
        description="Required, scoped to the caller. The same key again answers the first packet (200).",
    ),
) -> Status:
    """Drop a points red packet into a web or Telegram group, paid from the brand's budget
    (``loyalty.redpack``). WeCom groups: 409 (WeCom cannot post silently). Budget too small: 409."""
    staff = current_staff(request)
    latest = red_packets.list_packets(staff).values_list("pk", flat=True).first()
    packet = red_packets.drop_by_staff(
        staff,
        payload.community_id,
        total=payload.total,
        shares=payload.shares,
        greeting=payload.greeting,
        key=idempotency_key,
    )
    return Status(201 if latest is None or packet.pk > latest else 200, packet_out(packet))


@router.get("/loyalty/red-packets/{int:packet_id}", response=RedPacketOut)
def get_red_packet(request: HttpRequest, packet_id: Path[Id]) -> dict[str, Any]:
    """One red packet with how much was grabbed."""
    return packet_out(red_packets.get_packet(current_staff(request), packet_id))


@router.get("/loyalty/budget", response=BudgetOut)
def get_points_budget(request: HttpRequest) -> dict[str, Any]:
    """Points the brand may still give away in staff red packets."""
    return {"remaining": red_packets.budget_of(current_brand_id(current_staff(request)))}


# --- reports -------------------------------------------------------------------------------------------


class LiabilityParams(Schema):
    fen_per_point: Decimal | None = Field(
        None, ge=0, le=10_000, decimal_places=3, description="Value one point at this (default: the brand's)."
    )


class LiabilityRowOut(Schema):
    store_id: int | None
    store_name: str
    members: int
    outstanding_points: int
    owed_points: int
    value_fen: int


class LiabilityOut(Schema):
    as_of: datetime
    fen_per_point: str
    outstanding_points: int
    owed_points: int
    value_fen: int
    stores: list[LiabilityRowOut]


@router.get("/loyalty/reports/liability", response=LiabilityOut)
def points_liability(request: HttpRequest, params: Query[LiabilityParams]) -> dict[str, Any]:
    """Outstanding points per store (members' home stores), valued in fen (``loyalty.reports``)."""
    result = reports.liability(current_staff(request), fen_per_point=params.fen_per_point)
    return {
        "as_of": result.as_of,
        "fen_per_point": str(result.fen_per_point),
        "outstanding_points": result.outstanding,
        "owed_points": result.owed,
        "value_fen": result.value_fen,
        "stores": [
            {
                "store_id": r.store_id,
                "store_name": r.store_name,
                "members": r.members,
                "outstanding_points": r.outstanding,
                "owed_points": r.owed,
                "value_fen": r.value_fen,
            }
            for r in result.rows
        ],
    }


class CouponReportParams(Schema):
    since: datetime | None = Field(None, description="Only coupons issued from then.")


class CouponRowOut(Schema):
    store_id: int | None = None
    campaign_ref: str | None = None
    name: str
    issued: int
    used: int
    discount_fen: int
    cost_fen: int


class CouponReportOut(Schema):
    stores: list[CouponRowOut]
    campaigns: list[CouponRowOut]


@router.get("/loyalty/reports/coupons", response=CouponReportOut)
def coupons_report(request: HttpRequest, params: Query[CouponReportParams]) -> dict[str, Any]:
    """Coupons issued (to members of the store), used at the store, discount and budget cost, per store and
    per campaign (``loyalty.reports``; store staff: their stores)."""
    report = reports.coupon_report(current_staff(request), since=params.since)
    return {
        "stores": [
            {
                "store_id": r.key,
                "name": r.name,
                "issued": r.issued,
                "used": r.used,
                "discount_fen": r.discount_fen,
                "cost_fen": r.cost_fen,
            }
            for r in report.stores
        ],
        "campaigns": [
            {
                "campaign_ref": str(r.key),
                "name": r.name,
                "issued": r.issued,
                "used": r.used,
                "discount_fen": r.discount_fen,
                "cost_fen": r.cost_fen,
            }
            for r in report.campaigns
        ],
    }
