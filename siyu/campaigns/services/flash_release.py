"""Giving a flash-sale reservation's units back when its order is cancelled, expires or is refunded.

Called by ``siyu.orders.services.transitions.release_order_stock`` for orders whose ``source`` is
``flash_sale``, inside the transaction of the order's transition.
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from siyu.campaigns.models import Campaign, FlashQuota, FlashReservation, FlashSaleItem
from siyu.campaigns.services import flash_config as fc
from siyu.orders.models import Order

logger = logging.getLogger("siyu.campaigns.flash")


def release_for_order(order: Order) -> None:
    """Give the units of ``order``'s flash reservation back to the sale, exactly once.

    The reservation goes active → released by one conditional UPDATE (a second call, or a concurrent
    cancel and expiry, finds it released and does nothing); then ``item.sold -= q`` and the member's
    ``quota.taken -= q``, each a guarded UPDATE, in the caller's transaction. On the Redis backend the Redis
    counters get the units back after commit, by a Lua script guarded by the set of released reservation
    ids (so a replay, or a rebuild that already counted them, adds nothing twice)."""
    with transaction.atomic():
        row = (
            FlashReservation.objects.filter(order_id=order.pk)
            .values_list("pk", "campaign_id", "item_id", "member_id", "quantity")
            .first()
        )
        if row is None:
            logger.warning("flash order %s has no reservation: nothing to release", order.pk)
            return
        pk, campaign_id, item_id, member_id, qty = row
        claimed = FlashReservation.objects.filter(pk=pk, status=FlashReservation.Status.ACTIVE).update(
            status=FlashReservation.Status.RELEASED, released_at=timezone.now()
        )
        if not claimed:
            return  # released before
        if not FlashSaleItem.objects.filter(pk=item_id, sold__gte=qty).update(sold=F("sold") - qty):
            logger.error(
                "flash item %s: sold below the %s units released by order %s", item_id, qty, order.pk
            )
        if not FlashQuota.objects.filter(item_id=item_id, member_id=member_id, taken__gte=qty).update(
            taken=F("taken") - qty
        ):
            logger.error("flash item %s: quota of member %s below %s units released", item_id, member_id, qty)
        backend = Campaign.objects.filter(pk=campaign_id).values_list("admission_backend", flat=True).first()
        if backend == "redis":
            transaction.on_commit(partial(_give_back_in_redis, campaign_id, item_id, member_id, pk, qty))


def _give_back_in_redis(
    campaign_id: int, item_id: int, member_id: int, reservation_id: int, qty: int
) -> None:
    """Return released units to the sale's Redis counters (once per reservation). A failure leaves them
    unsold (never oversold); ``flash_writer.reconcile`` shows it and ``rebuild_counters`` repairs it."""
    if not fc.redis_url():
        logger.error("flash sale %s is on Redis but REDIS_URL is not set: units not returned", campaign_id)
        return
    keys = fc.Keys(campaign_id)
    try:
        fc.script("release")(
            keys=[keys.ready, keys.left(item_id), keys.taken(item_id), keys.released],
            args=[str(reservation_id), qty, member_id],
        )
    except Exception:
        logger.exception(
            "flash sale %s: units of reservation %s not returned to Redis", campaign_id, reservation_id
        )
