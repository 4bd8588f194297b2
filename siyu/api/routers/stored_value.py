"""Stored value (储值) for staff: recharge tiers and the policy (HQ), a member's balance and statement, the
counter recharge, the cash refund of principal, recharge gifts, and the compliance reports. Same error shape
as every router; writes a client may retry take an ``Idempotency-Key`` header, scoped to the caller."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In, PageParams, paginate
from siyu.loyalty.models import RechargeGift, RechargeRule, StoredValueEntry, StoredValuePolicy
from siyu.loyalty.services import recharge, recharge_rules
from siyu.loyalty.services import stored_value as sv
from siyu.loyalty.services import stored_value_reports as reports

router = Router()

MAX_FEN = sv.MAX_AMOUNT_FEN
KEY_HELP = "Required, scoped to the caller. The same key again answers the first result (200)."


# --- tiers and policy ----------------------------------------------------------------------------------


class RechargeTierOut(Schema):
    id: int
    name: str
    threshold_fen: int
    bonus_fen: int
    gift: str
    starts_at: datetime | None
    ends_at: datetime | None
    store_ids: list[int]
    active: bool


class RechargeTierIn(In):
    name: str = Field(max_length=60)
    threshold_fen: int = Field(ge=1, le=MAX_FEN, description="Recharging at least this reaches the tier.")
    bonus_fen: int = Field(0, ge=0, le=MAX_FEN)
    gift: str = Field("", max_length=100, description="A gift to collect in store (empty: none).")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    store_ids: list[Id] = Field(default_factory=list, max_length=500, description="Empty: every store.")
    active: bool = True


class RechargeTierUpdateIn(In):
    name: str | None = Field(None, max_length=60)
    threshold_fen: int | None = Field(None, ge=1, le=MAX_FEN)
    bonus_fen: int | None = Field(None, ge=0, le=MAX_FEN)
    gift: str | None = Field(None, max_length=100)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    store_ids: list[Id] | None = Field(None, max_length=500)
    active: bool | None = None


class StoredValuePolicyOut(Schema):
    cap_fen: int
    bonus_spend: str
    bonus_expiry_days: int
    forfeit_bonus_on_refund: bool
    custody_fen: int
    custody_percent: int
    recharge_sku_id: int | None = Field(
        description="The SKU online recharge orders carry (null: counter only)."
    )


class StoredValuePolicyIn(In):
    cap_fen: int | None = Field(None, ge=100, le=recharge_rules.MAX_CAP_FEN)
    bonus_spend: Literal["after_principal", "proportional"] | None = None
    bonus_expiry_days: int | None = Field(None, ge=0, le=3650, description="0: bonus never expires.")
    forfeit_bonus_on_refund: bool | None = None
    custody_fen: int | None = Field(None, ge=0, le=recharge_rules.MAX_CUSTODY_FEN)
    custody_percent: int | None = Field(None, ge=0, le=100)
    recharge_sku_id: Id | None = Field(None, description="Set to open online recharge; 0 is not an id.")


def tier_out(rule: RechargeRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "threshold_fen": rule.threshold_fen,
        "bonus_fen": rule.bonus_fen,
        "gift": rule.gift,
        "starts_at": rule.starts_at,
        "ends_at": rule.ends_at,
        "store_ids": sorted(s.pk for s in rule.stores.all()),
        "active": rule.active,
    }


def policy_out(policy: StoredValuePolicy) -> dict[str, Any]:
    return {
        "cap_fen": policy.cap_fen,
        "bonus_spend": policy.bonus_spend,
        "bonus_expiry_days": policy.bonus_expiry_days,
        "forfeit_bonus_on_refund": policy.forfeit_bonus_on_refund,
        "custody_fen": policy.custody_fen,
        "custody_percent": policy.custody_percent,
        "recharge_sku_id": policy.recharge_sku_id,
    }


@router.get("/stored-value/tiers", response=list[RechargeTierOut])
def list_recharge_tiers(request: HttpRequest) -> list[dict[str, Any]]:
    """The brand's recharge tiers, active first, lowest threshold first."""
    return [tier_out(r) for r in recharge_rules.list_rules(current_staff(request))]


@router.post("/stored-value/tiers", response={201: RechargeTierOut})
def create_recharge_tier(request: HttpRequest, payload: RechargeTierIn) -> Status:
    """A new recharge tier (head office: ``stored_value.manage``). A tier gives a bonus, a gift or both."""
    staff = current_staff(request)
    rule = recharge_rules.create_rule(staff, payload.model_dump())
    return Status(201, tier_out(recharge_rules.get_rule(staff, rule.pk)))


@router.get("/stored-value/tiers/{int:rule_id}", response=RechargeTierOut)
def get_recharge_tier(request: HttpRequest, rule_id: Path[Id]) -> dict[str, Any]:
    """One recharge tier."""
    return tier_out(recharge_rules.get_rule(current_staff(request), rule_id))


@router.patch("/stored-value/tiers/{int:rule_id}", response=RechargeTierOut)
def update_recharge_tier(
    request: HttpRequest, rule_id: Path[Id], payload: RechargeTierUpdateIn
) -> dict[str, Any]:
    """Change the fields given; an explicit null clears a window; ``active: false`` switches a tier off."""
    data = payload.model_dump(exclude_unset=True)
    data = {k: v for k, v in data.items() if v is not None or k in ("starts_at", "ends_at")}
    return tier_out(recharge_rules.update_rule(current_staff(request), rule_id, data))


@router.get("/stored-value/policy", response=StoredValuePolicyOut)
def get_stored_value_policy(request: HttpRequest) -> dict[str, Any]:
    """The brand's cap, bonus spending and expiry, refund rule and custody figures."""
    return policy_out(recharge_rules.get_policy(current_staff(request)))


@router.patch("/stored-value/policy", response=StoredValuePolicyOut)
def update_stored_value_policy(request: HttpRequest, payload: StoredValuePolicyIn) -> dict[str, Any]:
    """Change the fields given (``stored_value.manage``); ``recharge_sku_id: null`` closes online recharge.
    Audited."""
    data = {
        k: v
        for k, v in payload.model_dump(exclude_unset=True).items()
        if v is not None or k == "recharge_sku_id"
    }
    return policy_out(recharge_rules.update_policy(current_staff(request), data))


# --- a member's balance --------------------------------------------------------------------------------


class GiftOut(Schema):
    id: int
    member_id: int
    description: str
    status: str
    store_id: int | None
    created_at: datetime
    handed_over_at: datetime | None
    handed_over_store_id: int | None


class BalanceOut(Schema):
    member_id: int
    principal_fen: int
    bonus_fen: int
    total_fen: int
    cap_fen: int
    pending_gifts: list[GiftOut]


class SvEntryOut(Schema):
    id: int
    kind: str
    principal_delta_fen: int
    bonus_delta_fen: int
    principal_after_fen: int
    bonus_after_fen: int
    store_id: int | None
    staff_id: int | None
    source: str
    source_ref: str
    reason: str
    created_at: datetime


class SvEntryPage(Schema):
    count: int
    items: list[SvEntryOut]


class RechargeIn(In):
    amount_fen: int = Field(ge=1, le=MAX_FEN, description="Principal the member paid at the counter.")
    store_id: Id | None = Field(None, description="The counter's store (default: the only store served).")
    payment_ref: str = Field("", max_length=64, description="Till receipt or payment number, for the record.")


class RechargeOut(Schema):
    entry_ids: list[int]
    principal_fen: int
    bonus_fen: int
    gift: GiftOut | None
    principal_balance_fen: int
    bonus_balance_fen: int


class CashRefundIn(In):
    amount_fen: int = Field(ge=1, le=MAX_FEN, description="Principal to pay back; bonus is never paid out.")
    reason: str = Field(min_length=1, max_length=200)
    store_id: Id | None = None


class CashRefundOut(Schema):
    entry_id: int
    principal_fen: int
    forfeited_bonus_fen: int
    principal_balance_fen: int
    bonus_balance_fen: int


class HandOverIn(In):
    store_id: Id | None = None


def gift_out(gift: RechargeGift) -> dict[str, Any]:
    return {
        "id": gift.pk,
        "member_id": gift.member_id,
        "description": gift.description,
        "status": gift.status,
        "store_id": gift.store_id,
        "created_at": gift.created_at,
        "handed_over_at": gift.handed_over_at,
        "handed_over_store_id": gift.handed_over_store_id,
    }


def sv_entry_out(entry: StoredValueEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "principal_delta_fen": entry.principal_delta_fen,
        "bonus_delta_fen": entry.bonus_delta_fen,
        "principal_after_fen": entry.principal_after,
        "bonus_after_fen": entry.bonus_after,
        "store_id": entry.store_id,
        "staff_id": entry.staff_id,
        "source": entry.source,
        "source_ref": entry.source_ref,
        "reason": entry.reason,
        "created_at": entry.created_at,
    }


@router.get("/members/{int:member_id}/stored-value", response=BalanceOut)
def member_stored_value(request: HttpRequest, member_id: Path[Id]) -> dict[str, Any]:
    """A member's principal and bonus (apart), the cap, and gifts waiting to be collected."""
    info = recharge.member_stored_value(current_staff(request), member_id, limit=1)
    return {
        "member_id": info.member.pk,
        "principal_fen": info.balance.principal_fen,
        "bonus_fen": info.balance.bonus_fen,
        "total_fen": info.balance.total_fen,
        "cap_fen": info.cap_fen,
        "pending_gifts": [gift_out(g) for g in info.pending_gifts],
    }


@router.get("/members/{int:member_id}/stored-value/entries", response=SvEntryPage)
def member_stored_value_entries(
    request: HttpRequest, member_id: Path[Id], page: Query[PageParams]
) -> dict[str, Any]:
    """The member's statement, newest first."""
    count, items = paginate(recharge.member_entries(current_staff(request), member_id), page)
    return {"count": count, "items": [sv_entry_out(e) for e in items]}


@router.post("/members/{int:member_id}/stored-value/recharge", response={201: RechargeOut, 200: RechargeOut})
def recharge_member(
    request: HttpRequest,
    member_id: Path[Id],
    payload: RechargeIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", description=KEY_HELP),
) -> Status:
    """A counter recharge (``stored_value.recharge``): the brand's tier bonus and gift apply; above the
    named-member cap it is 409 ``balance_cap`` and nothing changes. Audited."""
    result = recharge.counter_recharge(
        current_staff(request),
        member_id,
        payload.amount_fen,
        key=idempotency_key,
        store_id=payload.store_id,
        payment_ref=payload.payment_ref,
    )
    return Status(
        201 if result.created else 200,
        {
            "entry_ids": result.entry_ids,
            "principal_fen": result.principal_fen,
            "bonus_fen": result.bonus_fen,
            "gift": gift_out(result.gift) if result.gift else None,
            "principal_balance_fen": result.balance.principal_fen,
            "bonus_balance_fen": result.balance.bonus_fen,
        },
    )


@router.post(
    "/members/{int:member_id}/stored-value/refund", response={201: CashRefundOut, 200: CashRefundOut}
)
def refund_member_principal(
    request: HttpRequest,
    member_id: Path[Id],
    payload: CashRefundIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", description=KEY_HELP),
) -> Status:
    """Pay principal back (``stored_value.refund``); bonus is forfeited in proportion under the brand's
    policy. More than the principal: 409 ``insufficient_balance``. Audited."""
    result = recharge.cash_refund(
        current_staff(request),
        member_id,
        payload.amount_fen,
        reason=payload.reason,
        key=idempotency_key,
        store_id=payload.store_id,
    )
    return Status(
        201 if result.created else 200,
        {
            "entry_id": result.entry_id,
            "principal_fen": result.principal_fen,
            "forfeited_bonus_fen": result.forfeited_bonus_fen,
            "principal_balance_fen": result.balance.principal_fen,
            "bonus_balance_fen": result.balance.bonus_fen,
        },
    )


@router.post("/stored-value/gifts/{int:gift_id}/hand-over", response=GiftOut)
def hand_over_recharge_gift(request: HttpRequest, gift_id: Path[Id], payload: HandOverIn) -> dict[str, Any]:
    """Hand a recharge gift over at a store the caller serves; a second time is 409 ``gift_handed_over``."""
    return gift_out(recharge.hand_over_gift(current_staff(request), gift_id, store_id=payload.store_id))


# --- reports -------------------------------------------------------------------------------------------


class OutstandingRowOut(Schema):
    store_id: int | None
    store_name: str
    accounts: int
    principal_fen: int
    bonus_fen: int


class OutstandingOut(Schema):
    accounts: int
    principal_fen: int
    bonus_fen: int
    stores: list[OutstandingRowOut]


class QuarterParams(Schema):
    year: int | None = Field(None, ge=2000, le=2100)
    quarter: int | None = Field(None, ge=1, le=4)


class QuarterOut(Schema):
    year: int
    quarter: int
    starts: datetime
    ends: datetime
    cards_issued: int
    recharged_fen: int
    bonus_granted_fen: int
    redeemed_fen: int
    redeemed_principal_fen: int
    cash_refunded_fen: int
    bonus_expired_fen: int
    outstanding_principal_fen: int
    outstanding_bonus_fen: int
    custody_fen: int
    custody_percent: int
    custody_ratio_percent: float | None
    custody_ok: bool


@router.get("/stored-value/reports/outstanding", response=OutstandingOut)
def stored_value_outstanding(request: HttpRequest) -> dict[str, Any]:
    """Outstanding principal and bonus per store (of the first recharge) and in all (``stored_value.reports``;
    store managers: their stores)."""
    result = reports.outstanding(current_staff(request))
    return {
        "accounts": result.accounts,
        "principal_fen": result.principal_fen,
        "bonus_fen": result.bonus_fen,
        "stores": [
            {
                "store_id": r.store_id,
                "store_name": r.store_name,
                "accounts": r.accounts,
                "principal_fen": r.principal_fen,
                "bonus_fen": r.bonus_fen,
            }
            for r in result.rows
        ],
    }


@router.get("/stored-value/reports/quarterly", response=QuarterOut)
def stored_value_quarterly(request: HttpRequest, params: Query[QuarterParams]) -> dict[str, Any]:
    """The issuer's quarterly figures (default: the current quarter): cards issued, recharged, redeemed,
    outstanding at the quarter's end, custody ratio against the configured percentage."""
    q = reports.quarterly(current_staff(request), params.year, params.quarter)
    return {
        "year": q.year,
        "quarter": q.quarter,
        "starts": q.starts,
        "ends": q.ends,
        "cards_issued": q.cards_issued,
        "recharged_fen": q.recharged_fen,
        "bonus_granted_fen": q.bonus_granted_fen,
        "redeemed_fen": q.redeemed_fen,
        "redeemed_principal_fen": q.redeemed_principal_fen,
        "cash_refunded_fen": q.cash_refunded_fen,
        "bonus_expired_fen": q.bonus_expired_fen,
        "outstanding_principal_fen": q.outstanding_principal_fen,
        "outstanding_bonus_fen": q.outstanding_bonus_fen,
        "custody_fen": q.custody_fen,
        "custody_percent": q.custody_percent,
        "custody_ratio_percent": q.custody_ratio_percent,
        "custody_ok": q.custody_ok,
    }
