"""The deadline (job ``recharge-slot-deadlines``): held slots past their campaign's deadline are settled as
the campaign says — the deposit refunded through orders' automatic refund, or forfeited — each exactly once.

- refund: ``orders.services.refunds.refund_automatically`` (the order row is locked and its status claimed
  before the provider is called; a fixed refund number per order); its ``refunded`` hook moves the slot
  held → refunded with a conditional UPDATE. A provider failure is logged and retried at the next run.
- forfeit: one conditional UPDATE held → forfeited; the deposit order stays paid (its pickup guard keeps it
  from being handed over). Event ``recharge_slot.forfeited``.

Safe to run concurrently and as often as wanted: each slot leaves ``held`` once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from siyu.analytics.services.events import record_event
from siyu.campaigns.models import RechargeSlot, SlotStatus, UnusedPolicy
from siyu.common.errors import ServiceError
from siyu.orders.models import Order
from siyu.orders.services.refunds import refund_automatically

logger = logging.getLogger("siyu.campaigns.recharge_slots")
BATCH = 200
REFUND_REASON = "recharge slot not used by the deadline"


def settle_due(now: datetime | None = None) -> int:
    """Settle held slots past their deadline; returns how many were refunded or forfeited now."""
    now = now or timezone.now()
    due = list(
        RechargeSlot.objects.filter(status=SlotStatus.HELD, slot_campaign__convert_until__lte=now)
        .select_related("slot_campaign")
        .order_by("pk")[:BATCH]
    )
    done = 0
    for slot in due:
        if slot.slot_campaign.unused_policy == UnusedPolicy.FORFEIT:
            done += _forfeit(slot, now)
        else:
            done += _refund(slot)
    return done


def _forfeit(slot: RechargeSlot, now: datetime) -> int:
    with transaction.atomic():
        if not RechargeSlot.objects.filter(pk=slot.pk, status=SlotStatus.HELD).update(
            status=SlotStatus.FORFEITED, closed_at=now
        ):
            return 0
        record_event(
            "recharge_slot.forfeited",
            member_id=slot.member_id,
            store_id=slot.store_id,
            payload={"slot_id": slot.pk, "deposit_fen": slot.deposit_fen, "order_id": slot.order_id},
        )
    return 1


def _refund(slot: RechargeSlot) -> int:
    try:
        with transaction.atomic():
            # Lock the slot first: a concurrent run waits here and then finds it no longer held.
            if (
                not RechargeSlot.objects.select_for_update()
                .filter(pk=slot.pk, status=SlotStatus.HELD)
                .exists()
            ):
                return 0
            refund_automatically(Order.objects.get(pk=slot.order_id), reason=REFUND_REASON)
            # The order's ``refunded`` hook moved the slot; this run is the one that did it.
            changed = RechargeSlot.objects.filter(pk=slot.pk, status=SlotStatus.REFUNDED).exists()
            if changed:
                record_event(
                    "recharge_slot.refunded",
                    member_id=slot.member_id,
                    store_id=slot.store_id,
                    payload={"slot_id": slot.pk, "deposit_fen": slot.deposit_fen, "order_id": slot.order_id},
                )
    except ServiceError as exc:
        logger.error("recharge slot %s: deposit not refunded yet (%s): %s", slot.pk, exc.code, exc.message)
        return 0
    return 1 if changed else 0
