"""Online recharge (WeChat Pay; the SANDBOX cashier in the demo): orders owns every order, so a recharge
bought online is an order of source ``recharge`` paid through the normal payment flow, and the balance is
credited by loyalty's ``paid`` hook.

Guarantees:
- **Set up by head office.** Online recharge is open when the brand's policy names a recharge product (a
  catalog SKU with a listing at the member's home store — kept unlisted so the mall never shows it) and orders
  are paid online (not at pickup). The order has
  one line of that SKU priced at the amount, holds no stock and has nothing to pick up.
- **The cap before paying.** Placing the order runs the same cap check as the recharge (``CapExceeded``, 409
  ``balance_cap``: no order). Should two orders paid together pass the cap, the second ``paid`` is refused
  (the hook raises inside the paid transition): the payment notice is not applied, the order expires unpaid
  and the money that arrived is refunded automatically as a late payment (orders' own flow).
- **Credited once.** The ``paid`` hook runs inside the paid transition (invariant) and credits the recharge
  with the key ``sys:recharge-order-<order id>``: a redelivered notice changes nothing; the tier's bonus and
  gift apply as at the counter (source ``online``, the order id and trade number recorded).
- **Refunds take it back.** A refund of a paid recharge order (by staff) takes the principal back
  (``refund_principal``; the bonus forfeited in proportion); when the member has already spent it the refund
  is refused (``InsufficientBalance``) and the order stays paid.
- **Once per key.** The H5 form's key is the order's idempotency key (``(member, key)`` unique in orders):
  a double tap places one order; the same key with another amount is 409 ``idempotency_mismatch``.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog.models import StoreListing
from siyu.common.errors import NotFound
from siyu.common.idempotency import mismatch, request_hash
from siyu.common.validators import clean_idempotency_key, fen_to_yuan
from siyu.loyalty.models import StoredValueEntry, StoredValuePolicy
from siyu.loyalty.services import stored_value as sv
from siyu.members.models import Member
from siyu.orders.models import Order, PaymentMethod
from siyu.orders.services import create

SOURCE = "recharge"


def recharge_listing(member: Member) -> StoreListing | None:
    """The listing an online recharge of ``member`` is sold through; None: online recharge is closed."""
    if member.home_store_id is None or create.payment_method() == PaymentMethod.PAY_AT_PICKUP:
        return None
    sku_id = (
        StoredValuePolicy.objects.filter(brand_id=member.brand_id)
        .values_list("recharge_sku_id", flat=True)
        .first()
    )
    if sku_id is None:
        return None
    return (
        # Listed or not: head office keeps the recharge product unlisted (下架) so the mall never shows it.
        StoreListing.objects.filter(store_id=member.home_store_id, sku_id=sku_id)
        .select_related("sku", "sku__product")
        .first()
    )


def place_order(member: Member, amount_fen: int, *, key: str) -> Order:
    """An order of ``amount_fen`` to recharge online, awaiting payment (see module guarantees)."""
    amount = sv.clean_amount(amount_fen)
    raw_key = clean_idempotency_key(key)
    rhash = request_hash("recharge", amount)
    existing = Order.objects.filter(member=member, idempotency_key=raw_key).first()
    if existing is not None:
        if existing.request_hash != rhash:
            raise mismatch()
        return existing
    listing = recharge_listing(member)
    if listing is None:
        raise NotFound(
            _("Online recharge is not open; recharge at the counter of your store."), field="amount"
        )
    check = sv.matching_rule(member.brand_id, amount, member.home_store_id)
    bonus = check.bonus_fen if check is not None else 0
    balance = sv.balance_of(member)
    cap = sv.cap_for(member.brand_id)
    if balance.total_fen + amount + bonus > cap:
        raise sv.CapExceeded(
            _("This recharge would take the balance above the limit of ¥%(cap)s for a named member card.")
            % {"cap": fen_to_yuan(cap)},
            field="amount",
        )
    now = timezone.now()
    return create.create_order_record(
        create.OrderRequest(
            member_id=member.pk,
            brand_id=member.brand_id,
            store_id=member.home_store_id or 0,
            lines=[
                create.LineRequest(listing_id=listing.pk, sku=listing.sku, quantity=1, unit_price_fen=amount)
            ],
            pickup_window=(now, now + timedelta(days=1)),
            idempotency_key=raw_key,
            request_hash=rhash,
            source=SOURCE,
            holds_listing_stock=False,
            event_extra={"recharge": True},
        )
    )


def order_key(order: Order) -> str:
    return f"sys:recharge-order-{order.pk}"


def credit_paid_order(order: Order) -> None:
    """The ``paid`` hook of recharge orders: credit the balance once (raises ``CapExceeded`` to refuse)."""
    sv.recharge(
        order.member,
        order.total_fen,
        store=order.store,
        key=order_key(order),
        actor_ref="system:0",
        source="online",
        source_ref=str(order.pk),
        payment_ref=order.out_trade_no,
    )


def take_back_refunded_order(order: Order) -> None:
    """The ``refunded`` hook of recharge orders: the principal goes back with the order's money (once)."""
    credited = StoredValueEntry.objects.filter(
        account__member_id=order.member_id, idempotency_key=order_key(order)
    ).first()
    if credited is None:
        return
    sv.refund_principal(
        order.member,
        credited.principal_delta_fen,
        key=f"{order_key(order)}-refund",
        staff=None,
        reason=_("Online recharge order #%(id)s refunded") % {"id": order.pk},
        store=order.store,
    )
