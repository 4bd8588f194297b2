"""Staff incentives: reward rules, monthly statements (HQ approves; frozen once approved), store sums,
leaderboards and the signed-in staff member's month. Months are ``YYYY-MM`` (Asia/Shanghai). Same error shape
as every router; creating a rule takes an optional ``Idempotency-Key`` header, scoped to the caller; approving
is idempotent by itself (approving an approved statement answers it unchanged)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In
from siyu.incentives.models import IncentiveRule, StaffStatement
from siyu.incentives.services import leaderboards, rules, statements
from siyu.incentives.services.months import current_month, parse_month

router = Router()

MONTH_PATTERN = r"^\d{4}-\d{2}$"
Month = Field(None, pattern=MONTH_PATTERN, description="YYYY-MM; this month when left out.")


def _month(value: str | None) -> date:
    return current_month() if value is None else parse_month(value)


# --- rules ---------------------------------------------------------------------------------------------


class IncentiveTierIn(In):
    from_units: int = Field(0, ge=0, le=rules.MAX_UNITS, description="Members (invite) or fen (gmv_share).")
    to_units: int | None = Field(
        None, ge=1, le=rules.MAX_UNITS, description="Empty on the last tier: no end."
    )
    fen_per_unit: int = Field(0, ge=0, le=1_000_000, description="Invite rules: fen per member.")
    basis_points: int = Field(0, ge=0, le=10_000, description="Sales rules: 100 = 1%.")


class IncentiveTierOut(Schema):
    position: int
    from_units: int
    to_units: int | None
    fen_per_unit: int
    basis_points: int


class IncentiveRuleIn(In):
    name: str = Field(max_length=60)
    kind: Literal["invite", "gmv_share"]
    valid_from: str = Field(pattern=MONTH_PATTERN)
    valid_until: str | None = Field(None, pattern=MONTH_PATTERN)
    tiers: list[IncentiveTierIn] = Field(min_length=1, max_length=rules.MAX_TIERS)


class IncentiveRuleOut(Schema):
    id: int
    name: str
    kind: str
    valid_from: str
    valid_until: str | None
    active: bool
    tiers: list[IncentiveTierOut]


def rule_out(rule: IncentiveRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "kind": rule.kind,
        "valid_from": f"{rule.valid_from:%Y-%m}",
        "valid_until": f"{rule.valid_until:%Y-%m}" if rule.valid_until else None,
        "active": rule.active,
        "tiers": [
            {
                "position": t.position,
                "from_units": t.from_units,
                "to_units": t.to_units,
                "fen_per_unit": t.fen_per_unit,
                "basis_points": t.basis_points,
            }
            for t in sorted(rule.tiers.all(), key=lambda t: t.position)
        ],
    }


@router.get("/incentives/rules", response=list[IncentiveRuleOut])
def list_incentive_rules(request: HttpRequest) -> list[dict[str, Any]]:
    """The brand's reward rules, newest first (head office: ``incentives.manage``)."""
    return [rule_out(r) for r in rules.list_rules(current_staff(request))]


@router.post("/incentives/rules", response={201: IncentiveRuleOut})
def create_incentive_rule(
    request: HttpRequest,
    payload: IncentiveRuleIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        description="Optional, scoped to the caller: the same key answers the first rule.",
    ),
) -> Status:
    """A new reward rule with contiguous tiers from 0 (``incentives.manage``)."""
    rule = rules.create_rule(
        current_staff(request),
        name=payload.name,
        kind=payload.kind,
        valid_from=payload.valid_from,
        valid_until=payload.valid_until,
        tiers=[t.model_dump() for t in payload.tiers],
        idempotency_key=idempotency_key,
    )
    rule.refresh_from_db()
    return Status(201, rule_out(rule))


# --- statements ----------------------------------------------------------------------------------------


class StatementParams(Schema):
    month: str | None = Month
    store_id: Id | None = None


class LineOut(Schema):
    kind: str
    rule_id: int | None
    rule_name: str
    tier: int | None
    for_month: str | None
    units: int
    rate: int
    amount_fen: int


class StatementOut(Schema):
    id: int
    staff_id: int
    staff_name: str
    store_id: int
    store_name: str
    month: str
    status: str
    invite_count: int
    gmv_fen: int
    adjustment_fen: int
    reward_fen: int
    approved_at: str | None


class StatementDetailOut(StatementOut):
    lines: list[LineOut]


def statement_out(s: StaffStatement) -> dict[str, Any]:
    return {
        "id": s.pk,
        "staff_id": s.staff_id,
        "staff_name": str(s.staff),
        "store_id": s.store_id,
        "store_name": s.store.name,
        "month": f"{s.month:%Y-%m}",
        "status": s.status,
        "invite_count": s.invite_count,
        "gmv_fen": s.gmv_fen,
        "adjustment_fen": s.adjustment_fen,
        "reward_fen": s.reward_fen,
        "approved_at": s.approved_at.isoformat() if s.approved_at else None,
    }


def detail_out(s: StaffStatement) -> dict[str, Any]:
    return {
        **statement_out(s),
        "lines": [
            {
                "kind": line.kind,
                "rule_id": line.rule_id,
                "rule_name": line.rule.name if line.rule else "",
                "tier": line.tier_position,
                "for_month": f"{line.for_month:%Y-%m}" if line.for_month else None,
                "units": line.units,
                "rate": line.rate,
                "amount_fen": line.amount_fen,
            }
            for line in statements.statement_lines(s)
        ],
    }


@router.get("/incentives/statements", response=list[StatementOut])
def list_statements(request: HttpRequest, params: Query[StatementParams]) -> list[dict[str, Any]]:
    """Statements of a month: of one store (``store_id``: HQ, or that store's manager; 404 out of scope), else
    every statement the caller may read (HQ all, managers their stores', everyone their own)."""
    staff = current_staff(request)
    month = _month(params.month)
    if params.store_id is not None:
        rows = statements.store_statements(staff, params.store_id, month)
    else:
        rows = list(
            statements.visible_statements(staff).filter(month=month).order_by("store_id", "staff_id")[:500]
        )
    return [statement_out(s) for s in rows]


@router.get("/incentives/statements/{int:statement_id}", response=StatementDetailOut)
def get_statement(request: HttpRequest, statement_id: Path[Id]) -> dict[str, Any]:
    """One statement with its lines (404 when out of the caller's scope)."""
    return detail_out(statements.get_statement(current_staff(request), statement_id))


@router.post("/incentives/statements/{int:statement_id}/approve", response=StatementDetailOut)
def approve_statement(request: HttpRequest, statement_id: Path[Id]) -> dict[str, Any]:
    """Approve a statement of an ended month (``incentives.manage``): frozen from then on; idempotent."""
    staff = current_staff(request)
    statements.approve_statement(staff, statement_id)
    return detail_out(statements.get_statement(staff, statement_id))


class MonthIn(In):
    month: str = Field(pattern=MONTH_PATTERN)


class ApprovedOut(Schema):
    approved: int


@router.post("/incentives/stores/{int:store_id}/approve", response=ApprovedOut)
def approve_store_statements(request: HttpRequest, store_id: Path[Id], payload: MonthIn) -> dict[str, Any]:
    """Approve every draft statement of a store for an ended month at once; how many were approved now."""
    return {
        "approved": statements.approve_store(current_staff(request), store_id, parse_month(payload.month))
    }


class StoreSumOut(Schema):
    store_id: int
    store_name: str
    statements: int
    drafts: int
    invites: int
    gmv_fen: int
    adjustment_fen: int
    reward_fen: int


class MonthParams(Schema):
    month: str | None = Month


@router.get("/incentives/stores", response=list[StoreSumOut])
def store_statement_sums(request: HttpRequest, params: Query[MonthParams]) -> list[dict[str, Any]]:
    """The store statements: per store in scope, the sums of its staff statements for the month."""
    return [s.__dict__ for s in statements.store_summaries(current_staff(request), _month(params.month))]


class GeneratedOut(Schema):
    month: str
    statements: int
    lines: int
    claimed: int


@router.post("/incentives/generate", response=GeneratedOut)
def generate_statements(request: HttpRequest, payload: MonthIn) -> dict[str, Any]:
    """(Re)generate the month's draft statements now (``incentives.manage``); approved ones are untouched."""
    result = statements.generate_for_staff(current_staff(request), parse_month(payload.month))
    return {
        "month": payload.month,
        "statements": result.statements,
        "lines": result.lines,
        "claimed": result.claimed,
    }


# --- leaderboards --------------------------------------------------------------------------------------


class BoardParams(Schema):
    month: str | None = Month
    store_id: Id | None = Field(
        None, description="A store's board; left out: the chain's (head office only)."
    )
    metric: Literal["reward", "invites", "gmv"] = "reward"
    limit: int = Field(20, ge=1, le=leaderboards.MAX_LIMIT)


class StandingOut(Schema):
    rank: int
    staff_id: int
    staff_name: str
    store_id: int
    store_name: str
    invites: int
    gmv_fen: int
    reward_fen: int


class BoardOut(Schema):
    month: str
    metric: str
    store_id: int | None
    total_staff: int
    standings: list[StandingOut]


@router.get("/incentives/leaderboard", response=BoardOut)
def incentive_leaderboard(request: HttpRequest, params: Query[BoardParams]) -> dict[str, Any]:
    """This month's (or ``month``'s) live ranking of a store or of the chain."""
    board = leaderboards.leaderboard(
        current_staff(request),
        store_id=params.store_id,
        metric=params.metric,
        month=_month(params.month),
        limit=params.limit,
    )
    return {
        "month": f"{board.month:%Y-%m}",
        "metric": board.metric,
        "store_id": board.store_id,
        "total_staff": board.total_staff,
        "standings": [s.__dict__ for s in board.standings],
    }


class MyLineOut(Schema):
    kind: str
    rule_id: int | None
    tier: int | None
    units: int
    rate: int
    amount_fen: int


class MyMonthOut(Schema):
    month: str
    invites: int
    gmv_fen: int
    reward_fen: int
    chain_rank: int | None
    chain_size: int
    lines: list[MyLineOut]


@router.get("/incentives/me", response=MyMonthOut)
def my_incentives(request: HttpRequest, params: Query[MonthParams]) -> dict[str, Any]:
    """The caller's month so far: members brought in, attributed sales, reward and place in the chain."""
    mine = leaderboards.my_month(current_staff(request), _month(params.month))
    return {
        "month": f"{mine.month:%Y-%m}",
        "invites": mine.invites,
        "gmv_fen": mine.gmv_fen,
        "reward_fen": mine.reward_fen,
        "chain_rank": mine.chain_rank,
        "chain_size": mine.chain_size,
        "lines": [
            {
                "kind": line.kind,
                "rule_id": line.rule_id,
                "tier": line.tier_position,
                "units": line.units,
                "rate": line.rate,
                "amount_fen": line.amount_fen,
            }
            for line in mine.lines
        ],
    }
