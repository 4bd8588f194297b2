"""What a member sees: the slot campaigns on sale, and "我的名额" (my slots) with what to do next."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from siyu.campaigns.models import RechargeSlot, SlotStatus
from siyu.common.validators import fen_to_yuan
from siyu.members.models import Member
from siyu.orders.models import PickupCode
from siyu.orders.services.pickup_codes import format_short_code

MAX_SLOTS = 50


@dataclass(frozen=True)
class MySlot:
    slot: RechargeSlot
    short_code: str  # shown at the counter (empty once closed)
    next_step: str


def _next_step(slot: RechargeSlot) -> str:
    sc = slot.slot_campaign
    if slot.status == SlotStatus.HELD:
        return _(
            "Recharge at least ¥%(threshold)s at %(store)s before the deadline: your ¥%(deposit)s deposit is "
            "added to the recharge. Show the code below at the counter."
        ) % {
            "threshold": fen_to_yuan(sc.threshold_fen),
            "store": slot.store.name,
            "deposit": fen_to_yuan(slot.deposit_fen),
        }
    if slot.status == SlotStatus.CONVERTED:
        return _("Used: you recharged ¥%(amount)s and your ¥%(deposit)s deposit was added.") % {
            "amount": fen_to_yuan(slot.recharge_fen),
            "deposit": fen_to_yuan(slot.deposit_fen),
        }
    if slot.status == SlotStatus.REFUNDED:
        return _("Not used in time: your ¥%(deposit)s deposit was refunded.") % {
            "deposit": fen_to_yuan(slot.deposit_fen)
        }
    return _("Not used in time: the ¥%(deposit)s deposit was kept, as the campaign said.") % {
        "deposit": fen_to_yuan(slot.deposit_fen)
    }


def my_slots(member: Member) -> list[MySlot]:
    """The member's slots, newest first, with the counter code of held ones and what to do next."""
    slots = list(
        RechargeSlot.objects.filter(member=member)
        .select_related("slot_campaign__campaign", "store")
        .order_by("-created_at", "-pk")[:MAX_SLOTS]
    )
    held = [s.order_id for s in slots if s.status == SlotStatus.HELD]
    codes = dict(
        PickupCode.objects.filter(order_id__in=held, closed_at__isnull=True).values_list(
            "order_id", "short_code"
        )
    )
    return [
        MySlot(
            slot=s,
            short_code=format_short_code(codes[s.order_id]) if s.order_id in codes else "",
            next_step=_next_step(s),
        )
        for s in slots
    ]
