"""Recharge-slot deposits (预定充值名额): head office sets up a slot campaign (a deposit SKU sold through a
flash sale) and publishes it; any staff member reads the campaigns running in their stores and their report
(store staff: counted over their stores); store staff find a member's slot and convert it at the counter with
an in-store recharge of at least the threshold. Money is integer fen; times ISO 8601 with a time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Header, Path, Query, Router, Schema
from ninja.responses import Status

from siyu.api import idempotency
from siyu.api.auth import current_staff
from siyu.api.schemas import Id, In, PageParams, paginate
from siyu.campaigns.models import RechargeSlot, RechargeSlotCampaign
from siyu.campaigns.services.flash_sales import MAX_COMMUNITIES, MAX_STOCK, MAX_STORES
from siyu.campaigns.services.recharge_slots import counter, report, setup
from siyu.common.mobile import mask_mobile
from siyu.common.validators import clean_idempotency_key
from siyu.org.services.login import client_ip

router = Router()
KEY_DOC = "Required. The same key again answers the first conversion and changes nothing."


class SlotCampaignIn(In):
    title: str = Field(max_length=100)
    description: str = Field("", max_length=2000)
    starts_at: datetime
    ends_at: datetime
    convert_until: datetime = Field(description="Recharge in store by; after the end, at most 90 days later.")
    deposit_fen: int = Field(ge=1, le=setup.MAX_DEPOSIT_FEN, description="The deposit, e.g. 1100 (¥11).")
    slots: int = Field(ge=1, le=MAX_STOCK, description="Slots for sale (the flash item's stock).")
    threshold_fen: int = Field(ge=1, le=setup.MAX_THRESHOLD_FEN, description="Least in-store recharge.")
    gift_text: str = Field(
        "", max_length=200, description="Shown to members; the gift is the recharge tier's."
    )
    unused_policy: Literal["refund", "forfeit"] = "refund"
    store_ids: list[Id] = Field(default_factory=list, max_length=MAX_STORES)
    community_ids: list[Id] = Field(default_factory=list, max_length=MAX_COMMUNITIES)


class SlotCampaignOut(Schema):
    id: int
    campaign_id: int = Field(description="The flash sale selling the slots (/campaigns/flash-sales/{id}).")
    title: str
    status: str
    starts_at: datetime
    ends_at: datetime
    convert_until: datetime
    deposit_fen: int
    slots: int
    threshold_fen: int
    gift_text: str
    unused_policy: str


class SlotCampaignPage(Schema):
    count: int
    items: list[SlotCampaignOut]


class PerStoreOut(Schema):
    store_id: int
    store_name: str
    sold: int
    converted: int
    recharge_fen: int


class SlotReportOut(Schema):
    slot_campaign_id: int
    slots: int
    sold: int
    held: int
    converted: int
    refunded: int
    forfeited: int
    conversion_rate: float
    recharge_fen: int
    deposits_credited_fen: int
    deposits_refunded_fen: int
    deposits_forfeited_fen: int
    gifts_earned: int
    gifts_handed_over: int
    per_store: list[PerStoreOut]


class SlotOut(Schema):
    id: int
    slot_campaign_id: int
    order_id: int
    member_id: int
    mobile: str = Field(description="Masked.")
    store_id: int
    status: str = Field(description="held, converted, refunded or forfeited.")
    deposit_fen: int
    recharge_fen: int
    gift_text: str
    created_at: datetime
    closed_at: datetime | None


class FindParams(Schema):
    q: str = Field(
        min_length=1, max_length=200, description="The member's mobile or the order's pickup code."
    )


class ConvertIn(In):
    amount_fen: int = Field(ge=1, le=counter.MAX_RECHARGE_FEN, description="The in-store recharge.")


class ConversionOut(Schema):
    slot: SlotOut
    recharge_fen: int
    deposit_fen: int
    credited_fen: int
    bonus_fen: int
    gift: str
    principal_fen: int
    bonus_balance_fen: int


def _campaign_out(sc: RechargeSlotCampaign) -> dict[str, Any]:
    c = sc.campaign
    return {
        "id": sc.pk,
        "campaign_id": c.pk,
        "title": c.title,
        "status": c.status,
        "starts_at": c.starts_at,
        "ends_at": c.ends_at,
        "convert_until": sc.convert_until,
        "deposit_fen": sc.deposit_fen,
        "slots": setup.slots_for_sale(sc),
        "threshold_fen": sc.threshold_fen,
        "gift_text": sc.gift_text,
        "unused_policy": sc.unused_policy,
    }


def _slot_out(slot: RechargeSlot) -> dict[str, Any]:
    return {
        "id": slot.pk,
        "slot_campaign_id": slot.slot_campaign_id,
        "order_id": slot.order_id,
        "member_id": slot.member_id,
        "mobile": mask_mobile(slot.member.mobile),
        "store_id": slot.store_id,
        "status": slot.status,
        "deposit_fen": slot.deposit_fen,
        "recharge_fen": slot.recharge_fen,
        "gift_text": slot.gift_text,
        "created_at": slot.created_at,
        "closed_at": slot.closed_at,
    }


@router.get("/recharge-slots/campaigns", response=SlotCampaignPage)
def list_slot_campaigns(request: HttpRequest, page: Query[PageParams]) -> dict[str, Any]:
    """Slot campaigns the caller may see: head office all; store staff the published ones in their stores."""
    count, rows = paginate(setup.visible_slot_campaigns(current_staff(request)), page)
    return {"count": count, "items": [_campaign_out(sc) for sc in rows]}


@router.post("/recharge-slots/campaigns", response={201: SlotCampaignOut})
def create_slot_campaign(request: HttpRequest, payload: SlotCampaignIn) -> Status:
    """Create a draft slot campaign (head office; store roles 403): the deposit SKU and the flash sale
    selling it. 409 ``online_payment_required`` without an online payment provider."""
    sc = setup.create_slot_campaign(current_staff(request), payload.model_dump())
    return Status(201, _campaign_out(sc))


@router.get("/recharge-slots/campaigns/{int:slot_campaign_id}", response=SlotCampaignOut)
def get_slot_campaign(request: HttpRequest, slot_campaign_id: Path[Id]) -> dict[str, Any]:
    return _campaign_out(setup.get_slot_campaign(current_staff(request), slot_campaign_id))


@router.post("/recharge-slots/campaigns/{int:slot_campaign_id}/publish", response=SlotCampaignOut)
def publish_slot_campaign(request: HttpRequest, slot_campaign_id: Path[Id]) -> dict[str, Any]:
    """Open the campaign's flash sale (head office). Publishing a published one changes nothing."""
    return _campaign_out(setup.publish_slot_campaign(current_staff(request), slot_campaign_id))


@router.get("/recharge-slots/campaigns/{int:slot_campaign_id}/report", response=SlotReportOut)
def slot_campaign_report(request: HttpRequest, slot_campaign_id: Path[Id]) -> dict[str, Any]:
    """Sold, converted, rate, in-store recharges, deposits refunded/forfeited, gifts earned/handed over
    (store staff: their stores only)."""
    got = report.slot_report(current_staff(request), slot_campaign_id)
    return {k: v for k, v in got.__dict__.items() if k != "title"}


@router.get("/recharge-slots/find", response=list[SlotOut])
def find_slots(request: HttpRequest, params: Query[FindParams]) -> list[dict[str, Any]]:
    """Slots at the caller's stores of the member with this mobile, or of the order with this pickup code
    (held first); nothing found or another store's: an empty list."""
    return [_slot_out(s) for s in counter.find_slots(current_staff(request), params.q)]


@router.post("/recharge-slots/{int:slot_id}/convert", response=ConversionOut)
def convert_slot(
    request: HttpRequest,
    slot_id: Path[Id],
    payload: ConvertIn,
    idempotency_key: str = Header(..., alias="Idempotency-Key", description=KEY_DOC),
) -> dict[str, Any]:
    """Convert a held slot at a store you serve (others: 404) with an in-store recharge ≥ the threshold
    (400 ``amount_fen`` otherwise): the amount and the deposit are credited to the member's stored value and
    the recharge tier's gift recorded, once. 409 ``not_held`` (converted, refunded, forfeited),
    ``deadline_passed``, ``balance_cap``, ``idempotency_mismatch``."""
    staff = current_staff(request)
    key = clean_idempotency_key(idempotency_key, idempotency.HEADER)
    done = counter.convert_slot(staff, slot_id, payload.amount_fen, key=key, ip=client_ip(request))
    return {
        "slot": _slot_out(done.slot),
        "recharge_fen": done.recharge_fen,
        "deposit_fen": done.deposit_fen,
        "credited_fen": done.credited_fen,
        "bonus_fen": done.bonus_fen,
        "gift": done.gift,
        "principal_fen": done.principal_fen,
        "bonus_balance_fen": done.bonus_balance_fen,
    }
