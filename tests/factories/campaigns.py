"""campaigns: flash sales through the setup and admission services (or as plain rows opened for admission,
for the admission tests), and group buys through the group-buy service."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone

from siyu.campaigns.models import Campaign, FlashSaleItem, RechargeSlot, RechargeSlotCampaign
from siyu.campaigns.services import flash_admission, flash_sales, flash_writer, group_buys
from siyu.campaigns.services.recharge_slots import setup as recharge_slots
from siyu.catalog.models import Sku
from siyu.channels.payments.sandbox import confirm_sandbox_payment
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.orders.services import payments
from siyu.org.models import Staff, Store

# --- flash sales set up by head office (the setup service) -------------------------------------------------


def sale_data(skus: dict[str, Sku], **overrides: Any) -> dict[str, Any]:
    """A sale starting in an hour for two hours: CUP-W 9.90 ×100 (limit 2), CUP-B 19.90 ×50 (limit 1)."""
    now = timezone.now()
    data: dict[str, Any] = {
        "title": "周五秒杀",
        "description": "人气好物限时抢",
        "starts_at": now + timedelta(hours=1),
        "ends_at": now + timedelta(hours=3),
        "store_ids": [],
        "community_ids": [],
        "items": [
            {"sku_id": skus["CUP-W"].pk, "price_fen": 990, "stock": 100, "per_member_limit": 2},
            {"sku_id": skus["CUP-B"].pk, "price_fen": 1990, "stock": 50, "per_member_limit": 1},
        ],
    }
    data.update(overrides)
    return data


def running_sale(staff: Staff, skus: dict[str, Sku], **overrides: Any) -> Campaign:
    """A published sale (``sale_data``) that started a minute ago."""
    now = timezone.now()
    data = sale_data(
        skus, starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=2), **overrides
    )
    campaign = flash_sales.create_flash_sale(staff, data)
    return flash_sales.publish_flash_sale(staff, campaign.pk)


def buy(
    campaign: Campaign, member: Member, store: Store, *, item: FlashSaleItem | None = None, quantity: int = 1
) -> flash_admission.Admission:
    """The member buys ``quantity`` of ``item`` (default: the sale's first item) with a fresh key."""
    item = item or campaign.flash_items.order_by("position").first()
    assert item is not None
    return flash_admission.admit(
        campaign.pk,
        item_id=item.pk,
        member_id=member.pk,
        store_id=store.pk,
        quantity=quantity,
        key=uuid.uuid4().hex,
    )


# --- flash sales as rows, opened for admission (the admission tests) ----------------------------------------


def make_sale(
    sku: Sku,
    *,
    stock: int = 5,
    limit: int = 2,
    price_fen: int = 990,
    stores: list[Store] | None = None,
    status: str = "published",
    kind: str = "flash_sale",
    open_it: bool = True,
) -> tuple[Campaign, FlashSaleItem]:
    """A sale of one item that runs from an hour ago to an hour from now, opened on the admission backend
    the settings choose (unless ``open_it`` is false or it is not a flash sale)."""
    now = timezone.now()
    campaign = Campaign.objects.create(
        brand_id=sku.product.brand_id,
        kind=kind,
        title="秒杀",
        status=status,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        pickup_until=now + timedelta(days=2),
    )
    if stores:
        campaign.stores.set(stores)
    item = FlashSaleItem.objects.create(
        campaign=campaign, sku=sku, price_fen=price_fen, stock=stock, per_member_limit=limit
    )
    if open_it and kind == "flash_sale":
        flash_admission.open_sale(campaign)
        campaign.refresh_from_db()
    return campaign, item


def admit(
    campaign: Campaign,
    item: FlashSaleItem,
    member: Member,
    store: Store,
    quantity: int = 1,
    key: str | None = None,
    **kwargs: Any,
) -> flash_admission.Admission:
    """One admission (a fresh key unless ``key``); ``kwargs`` go to ``flash_admission.admit``
    (e.g. ``now``)."""
    return flash_admission.admit(
        campaign.pk,
        item_id=item.pk,
        member_id=member.pk,
        store_id=store.pk,
        quantity=quantity,
        key=key or uuid.uuid4().hex,
        **kwargs,
    )


def settle() -> int:
    """Let the write-behind writer catch up (nothing to do on the database backend)."""
    return flash_writer.drain_all()


# --- group buys ------------------------------------------------------------------------------------------

GROUP_BUY_PRICE = 4900


def offer_data(the_sku: Sku, **overrides: Any) -> dict[str, Any]:
    """A running 3-to-5 group buy of ``the_sku`` at 49.00, teams of 24 h, pickup within three days."""
    now = timezone.now()
    data: dict[str, Any] = {
        "title": "三人成团 · 香薰蜡烛",
        "sku": the_sku.pk,
        "price_fen": GROUP_BUY_PRICE,
        "min_size": 3,
        "max_size": 5,
        "team_hours": 24,
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=2),
        "pickup_until": now + timedelta(days=3),
    }
    data.update(overrides)
    return data


def published_group_buy(staff: Staff, the_sku: Sku, **overrides: Any) -> Campaign:
    """A group buy (``offer_data``) created and published through the service."""
    campaign = group_buys.create_group_buy(staff, offer_data(the_sku, **overrides))
    return group_buys.publish_group_buy(staff, campaign.pk)


# --- recharge slots (预定充值名额) -------------------------------------------------------------------


def slot_data(**overrides: Any) -> dict[str, Any]:
    """A slot campaign running from a minute ago for two hours: ¥11 deposit, 100 slots, recharge ¥3,000
    in store within seven days, unused deposits refunded."""
    now = timezone.now()
    data: dict[str, Any] = {
        "title": "双十一 ¥11 充值名额",
        "description": "¥11 抢名额，到店充值满 3000 送空气净化器",
        "starts_at": now - timedelta(minutes=1),
        "ends_at": now + timedelta(hours=2),
        "convert_until": now + timedelta(days=7),
        "deposit_fen": 1100,
        "slots": 100,
        "threshold_fen": 300_000,
        "gift_text": "空气净化器",
        "unused_policy": "refund",
        "store_ids": [],
        "community_ids": [],
    }
    data.update(overrides)
    return data


def running_slot_campaign(staff: Staff, **overrides: Any) -> RechargeSlotCampaign:
    """A published slot campaign (``slot_data``), set up and opened through the services (needs an online
    payment provider: the ``sandbox`` fixture)."""
    slot_campaign = recharge_slots.create_slot_campaign(staff, slot_data(**overrides))
    return recharge_slots.publish_slot_campaign(staff, slot_campaign.pk)


def pay_sandbox(order: Order) -> Order:
    """Pay ``order`` in the sandbox cashier (the provider's notice applied, as the callback would)."""
    payments.start_payment(order, notify_url="https://example.test/pay/notify/")
    return payments.apply_payment_notice(confirm_sandbox_payment(order.out_trade_no))


def buy_slot(slot_campaign: RechargeSlotCampaign, member: Member, store: Store) -> RechargeSlot:
    """The member buys a slot through the flash admission, the order is written and paid: the held slot."""
    admission = buy(slot_campaign.campaign, member, store)
    settle()
    order_id = flash_admission.written_order_id(slot_campaign.campaign_id, member.pk, admission.key)
    assert order_id is not None
    pay_sandbox(Order.objects.get(pk=order_id))
    return RechargeSlot.objects.get(order_id=order_id)
