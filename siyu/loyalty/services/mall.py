"""The points mall (积分商城): members exchange points for coupons or for products they pick up.

Guarantees of ``exchange``:
- **All or nothing, in one transaction**: lock the member's points account → spend the points (soonest-to-
  expire first) → take one unit of the item's stock (one conditional UPDATE, ``stock ≥ 0`` CHECK behind it)
  → issue the coupon (coupons' ``issue``) or place the pickup order (orders' ``create_order``, source
  ``points_mall``). Any refusal — too few points, sold out, over the member's limit, the store's listing out
  of stock — rolls everything back.
- **Per-member limits in the database**: each live exchange holds a numbered slot 1…limit of its item; the
  slot is unique per (item, member) among live exchanges and CHECKed against the limit copied onto the row.
- **Once per key**, scoped to the member: the same key answers the same exchange; another item with the same
  key is ``idempotency_mismatch``.
- **Products are orders paid with points.** The order goes through the mall's usual pickup; a price adjuster
  (``paid_with_points``, after the member price) brings its total to zero, so it is settled at pickup and
  earns no purchase points. When the order ends without pickup (cancelled, expired, refunded) the ``released``
  hook returns the exchange in the same transaction: the points come back (a ``return`` entry, expiring when
  the latest batch it drew from would have), the unit goes back to stock and the slot is freed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.catalog.services.queries import available_listings
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch, request_hash, system_key
from siyu.common.validators import clean_idempotency_key, optional_id
from siyu.loyalty.models import Coupon, Exchange, MallItem, PointsDraw, PointsEntry
from siyu.loyalty.services import coupon_link, points
from siyu.members.models import Member
from siyu.orders.models import Order
from siyu.orders.pricing import Adjustment, PricingContext
from siyu.orders.services.checkout import create_order
from siyu.orders.services.queries import pickup_store
from siyu.org.models import Store

SOURCE = "points_mall"
PICKUP_DAYS = 7
MAX_SLOTS = 32_000


class SoldOut(Conflict):
    code = "sold_out"


class LimitReached(Conflict):
    code = "limit_reached"


# --- reading --------------------------------------------------------------------------------------------


def open_items(member: Member, *, now: datetime | None = None) -> QuerySet[MallItem]:
    """The items the member may exchange now: the brand's active items inside their window, offered at the
    member's home store (items without stores are offered everywhere)."""
    now = now or timezone.now()
    items = MallItem.objects.filter(brand_id=member.brand_id, active=True).filter(
        Q(starts_at__isnull=True) | Q(starts_at__lte=now), Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )
    if member.home_store_id is None:
        items = items.filter(stores__isnull=True)
    else:
        items = items.filter(Q(stores__isnull=True) | Q(stores=member.home_store_id)).distinct()
    return items.select_related("sku__product", "coupon_template").order_by("position", "id")


def get_item(member: Member, item_id: Any, *, now: datetime | None = None) -> MallItem:
    pk = optional_id(item_id)
    item = open_items(member, now=now).filter(pk=pk).first() if pk is not None else None
    if item is None:
        raise NotFound(_("No such item in the points mall."), field="item")
    return item


def live_count(member: Member, item: MallItem) -> int:
    return Exchange.objects.filter(member=member, item=item, status=Exchange.Status.DONE).count()


def member_exchanges(member: Member, *, limit: int = 50) -> list[Exchange]:
    return list(
        Exchange.objects.filter(member=member).select_related("item", "order").order_by("-id")[:limit]
    )


# --- exchanging -----------------------------------------------------------------------------------------


def _free_slot(member: Member, item: MallItem) -> int:
    taken = set(
        Exchange.objects.filter(member=member, item=item, status=Exchange.Status.DONE).values_list(
            "slot", flat=True
        )
    )
    limit = item.member_limit or MAX_SLOTS
    for slot in range(1, limit + 1):
        if slot not in taken:
            return slot
    if item.member_limit:
        raise LimitReached(
            _("You have already exchanged this item %(n)s times, the most allowed.")
            % {"n": item.member_limit},
            field="item",
        )
    raise LimitReached(_("You cannot exchange this item any more."), field="item")


def _pickup_listing_id(member: Member, item: MallItem, store: Store) -> int:
    assert item.sku_id is not None
    listing = available_listings(store.pk).filter(sku_id=item.sku_id).values_list("pk", flat=True).first()
    if listing is None:
        raise Conflict(
            _("This item cannot be picked up at your store right now."), field="item", code="unavailable"
        )
    return int(listing)


def _pickup_window(now: datetime) -> tuple[datetime, datetime]:
    end = timezone.localtime(now + timedelta(days=PICKUP_DAYS)).replace(
        hour=23, minute=59, second=0, microsecond=0
    )
    return now, end


def issue_coupon(item: MallItem, member: Member, row: Exchange) -> Coupon:
    """Issue the item's coupon to the member (the coupons app's ``issue``, source ``exchange``)."""
    assert item.coupon_template is not None
    return coupon_link.issue_for_exchange(
        item.coupon_template, member, source_ref=str(row.pk), key=system_key("mall", "coupon", row.pk)
    )


def exchange(
    member: Member, item_id: Any, *, key: Any, store_id: Any = None, now: datetime | None = None
) -> Exchange:
    """Exchange points for one unit of the item (see module guarantees). A product is picked up at the
    member's home store (or ``store_id``, one of the stores they may pick up at) within seven days."""
    now = now or timezone.now()
    stored_key = client_key(
        actor_ref("member", member.pk), "mall.exchange", member.pk, clean_idempotency_key(key)
    )
    pk = optional_id(item_id)
    wanted_store = optional_id(store_id) if store_id not in (None, "") else None
    rhash = request_hash("mall.exchange", pk, wanted_store)
    existing = Exchange.objects.filter(member=member, idempotency_key=stored_key).first()
    if existing is not None:
        if existing.request_hash != rhash:
            raise mismatch()
        return existing
    if member.erased_at is not None:
        raise NotFound(_("No such member."), field="member")
    item = get_item(member, pk, now=now)
    store = None
    if item.kind == MallItem.Kind.PRODUCT:
        store = pickup_store(member, wanted_store or member.home_store_id)
        if store is None:
            raise ValidationFailed(_("Choose the store where you will pick it up."), field="store")
    with transaction.atomic():
        points.lock_account(member)
        existing = Exchange.objects.filter(member=member, idempotency_key=stored_key).first()
        if existing is not None:
            return existing
        slot = _free_slot(member, item)
        spend = points.spend(
            member,
            item.points,
            key=system_key("mall", "x", stored_key[2:34], stored_key[34:66]),
            reason=_("Points mall: %(item)s") % {"item": item.name},
            source=("mall_item", str(item.pk)),
            now=now,
        )
        if not MallItem.objects.filter(pk=item.pk, stock__gte=1).update(stock=F("stock") - 1):
            raise SoldOut(_("Sorry, this item is sold out."), field="item")
        row = Exchange.objects.create(
            item=item,
            member=member,
            points=item.points,
            slot=slot,
            member_limit=item.member_limit,
            spend=spend,
            idempotency_key=stored_key,
            request_hash=rhash,
            created_at=now,
        )
        if item.kind == MallItem.Kind.PRODUCT:
            assert store is not None
            row.order = create_order(
                member,
                store_id=store.pk,
                items=[(_pickup_listing_id(member, item, store), 1)],
                pickup_window=_pickup_window(timezone.now()),
                idempotency_key=f"points-mall-{row.pk}",
                source=SOURCE,
            )
        else:
            row.coupon = issue_coupon(item, member, row)
        row.save(update_fields=["order", "coupon"])
        record_event(
            "loyalty.exchanged",
            member_id=member.pk,
            store_id=store.pk if store is not None else member.home_store_id,
            occurred_at=now,
            payload={"item": item.name, "points": item.points, "exchange_id": row.pk},
        )
    return row


# --- returning ------------------------------------------------------------------------------------------


def _return_expiry(row: Exchange, now: datetime) -> datetime | None:
    latest = PointsDraw.objects.filter(entry_id=row.spend_id).aggregate(at=Max("batch__expires_at"))["at"]
    return latest if latest is not None and latest > now else None


def return_exchange(row: Exchange, *, reason: str, now: datetime | None = None) -> Exchange:
    """Undo a live exchange: points back, the unit back to stock, the slot freed. Once (a returned exchange
    is returned as it is)."""
    now = now or timezone.now()
    member = row.member
    with transaction.atomic():
        points.lock_account(member)
        row = Exchange.objects.select_for_update().get(pk=row.pk)
        if row.status != Exchange.Status.DONE:
            return row
        entry = points.earn(
            member,
            row.points,
            key=system_key("mall", "return", row.pk),
            reason=reason,
            source=("exchange", str(row.pk)),
            expires_at=_return_expiry(row, now),
            now=now,
            kind=PointsEntry.Kind.RETURN,
        )
        MallItem.objects.filter(pk=row.item_id).update(stock=F("stock") + 1)
        Exchange.objects.filter(pk=row.pk, status=Exchange.Status.DONE).update(
            status=Exchange.Status.RETURNED, returned_entry=entry, returned_at=now
        )
        row.refresh_from_db()
    return row


def return_for_order(order: Order) -> None:
    """The ``released`` hook of points-mall orders: the order ended without pickup, so the exchange is
    returned in the same transaction."""
    for row in Exchange.objects.filter(order=order, status=Exchange.Status.DONE).select_related("member"):
        return_exchange(row, reason=_("Points returned: order #%(id)s was not picked up") % {"id": order.pk})


# --- the price of a points-mall order -------------------------------------------------------------------


def paid_with_points(ctx: PricingContext) -> Iterable[Adjustment]:
    """Price adjuster: a points-mall order's remaining price is paid with points (total zero)."""
    if ctx.source != SOURCE or ctx.total_fen <= 0:
        return []
    return [Adjustment(kind="points", label=_("Paid with points"), amount_fen=-ctx.total_fen)]
