"""What slot campaigns plug into their deposit orders (registered in ``siyu.campaigns.order_hooks``).

- ``paid`` (invariant, in ``mark_paid``'s transaction): a paid deposit order of a slot campaign becomes the
  member's ``RechargeSlot`` (held) — once per order (unique order; a replay writes nothing).
- ``refunded`` (invariant): a held slot whose order was refunded (by staff, or the deadline job) becomes
  refunded with one conditional UPDATE (held → refunded).
- pickup guard: a deposit order is handed over only through the conversion (``counter.convert_slot``),
  which converts the slot first; any other pickup is refused with the reason.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.campaigns.models import RechargeSlot, RechargeSlotCampaign, SlotStatus
from siyu.orders import hooks
from siyu.orders.models import Order, OrderSource


def _slot_campaign(order: Order) -> RechargeSlotCampaign | None:
    if order.source != OrderSource.FLASH_SALE or order.campaign_id is None:
        return None
    return RechargeSlotCampaign.objects.filter(campaign_id=order.campaign_id).first()


def on_deposit_paid(order: Order) -> None:
    """The member now holds a slot at the order's store (once per order)."""
    slot_campaign = _slot_campaign(order)
    if slot_campaign is None or RechargeSlot.objects.filter(order_id=order.pk).exists():
        return
    try:
        with transaction.atomic():
            slot = RechargeSlot.objects.create(
                slot_campaign=slot_campaign,
                order_id=order.pk,
                member_id=order.member_id,
                store_id=order.store_id,
                deposit_fen=order.total_fen,
            )
    except IntegrityError:
        return  # a concurrent replay wrote it
    record_event(
        "recharge_slot.held",
        member_id=order.member_id,
        store_id=order.store_id,
        payload={"slot_id": slot.pk, "campaign_id": slot_campaign.campaign_id, "order_id": order.pk},
    )


def on_deposit_refunded(order: Order) -> None:
    """A held slot whose deposit order was refunded is refunded (held → refunded, once)."""
    if order.source != OrderSource.FLASH_SALE:
        return
    RechargeSlot.objects.filter(order_id=order.pk, status=SlotStatus.HELD).update(
        status=SlotStatus.REFUNDED, closed_at=timezone.now()
    )


def deposit_pickup_guard(order: Order) -> hooks.PickupRefusal | None:
    """A deposit order is closed by the slot's conversion, never handed over on its own."""
    slot_status = RechargeSlot.objects.filter(order_id=order.pk).values_list("status", flat=True).first()
    if slot_status is None and _slot_campaign(order) is None:
        return None
    if slot_status == SlotStatus.CONVERTED:
        return None
    return hooks.PickupRefusal(
        "recharge_slot",
        _("This is a recharge-slot deposit: record the in-store recharge against the slot at the counter."),
    )
