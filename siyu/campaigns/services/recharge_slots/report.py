"""The slot campaign report (head office: every store; store staff: their stores only).

Slots sold = deposit orders paid (``RechargeSlot`` rows, whatever became of them); converted, with the
conversion rate converted / sold; the in-store recharge amount of converted slots and the deposits credited
with them; deposits refunded and forfeited; slots still held; and the gifts earned and handed over (loyalty's
``RechargeGift`` rows with ``source="slot"`` and ``source_ref`` = a slot id of this campaign).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, Count, Q, Sum
from django.db.models.functions import Cast

from siyu.campaigns.models import RechargeSlot, SlotStatus
from siyu.campaigns.services.recharge_slots.setup import get_slot_campaign, slots_for_sale
from siyu.loyalty.models import RechargeGift
from siyu.org.models import Staff
from siyu.org.services.access import store_scope


@dataclass
class SlotReport:
    slot_campaign_id: int
    title: str
    slots: int  # for sale
    sold: int
    held: int
    converted: int
    refunded: int
    forfeited: int
    conversion_rate: float  # converted / sold, 0 when nothing sold
    recharge_fen: int  # in-store recharges of converted slots
    deposits_credited_fen: int
    deposits_refunded_fen: int
    deposits_forfeited_fen: int
    gifts_earned: int
    gifts_handed_over: int
    per_store: list[dict[str, Any]] = field(default_factory=list)


def slot_report(staff: Staff, slot_campaign_id: Any) -> SlotReport:
    """The report of one slot campaign ``staff`` may see (NotFound otherwise), counting only the stores
    they serve unless head office."""
    slot_campaign = get_slot_campaign(staff, slot_campaign_id)
    qs = RechargeSlot.objects.filter(slot_campaign=slot_campaign)
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    S = SlotStatus

    def sums() -> dict[str, Any]:
        return {
            "sold": Count("pk"),
            "held": Count("pk", filter=Q(status=S.HELD)),
            "converted": Count("pk", filter=Q(status=S.CONVERTED)),
            "refunded": Count("pk", filter=Q(status=S.REFUNDED)),
            "forfeited": Count("pk", filter=Q(status=S.FORFEITED)),
            "recharge": Sum("recharge_fen", filter=Q(status=S.CONVERTED), default=0),
            "credited": Sum("deposit_fen", filter=Q(status=S.CONVERTED), default=0),
            "dep_refunded": Sum("deposit_fen", filter=Q(status=S.REFUNDED), default=0),
            "dep_forfeited": Sum("deposit_fen", filter=Q(status=S.FORFEITED), default=0),
        }

    total = qs.aggregate(**sums())
    refs = qs.filter(status=S.CONVERTED).annotate(ref=Cast("pk", CharField())).values("ref")
    gifts = RechargeGift.objects.filter(source="slot", source_ref__in=refs).aggregate(
        earned=Count("pk"), handed=Count("pk", filter=Q(status=RechargeGift.Status.HANDED_OVER))
    )
    earned, handed = gifts["earned"], gifts["handed"]
    grouped: Any = qs.values("store_id", "store__name").annotate(**sums()).order_by("store__name")
    rows: list[dict[str, Any]] = list(grouped)
    per_store = [
        {
            "store_id": row["store_id"],
            "store_name": row["store__name"],
            "sold": row["sold"],
            "converted": row["converted"],
            "recharge_fen": row["recharge"],
        }
        for row in rows
    ]
    sold = total["sold"]
    return SlotReport(
        slot_campaign_id=slot_campaign.pk,
        title=slot_campaign.campaign.title,
        slots=slots_for_sale(slot_campaign),
        sold=sold,
        held=total["held"],
        converted=total["converted"],
        refunded=total["refunded"],
        forfeited=total["forfeited"],
        conversion_rate=round(total["converted"] / sold, 4) if sold else 0.0,
        recharge_fen=total["recharge"],
        deposits_credited_fen=total["credited"],
        deposits_refunded_fen=total["dep_refunded"],
        deposits_forfeited_fen=total["dep_forfeited"],
        gifts_earned=earned,
        gifts_handed_over=handed,
        per_store=per_store,
    )
