"""Store stock: listing on/off, counting, adjusting, and reserving/releasing for orders.

Guarantees, for every function that changes stock:

- Stock never goes below zero. A change is **one conditional UPDATE**
  (``stock = stock + delta WHERE stock + delta >= 0``), never read-modify-write, so concurrent
  changes cannot oversell; a change that would go negative raises ``InsufficientStock`` and writes nothing.
  The ``stock >= 0`` check constraint backs this up in the database.
- Every change appends a ``StockMovement`` with ``stock_after`` in the same transaction, so a listing's
  stock always equals the sum of its movements' deltas.
- Every change carries an idempotency key, unique across movements in the database. A staff member's key
  is scoped to that staff member (``siyu.common.idempotency.client_key``; ADR 0009): the same staff member's
  same key again returns the first movement and changes nothing, the same key for a different change is a
  Conflict ``idempotency_mismatch``, and another staff member's identical key is a different key. Orders'
  reservations and releases use keys Siyu makes itself (``system_key``, the ``sys:`` namespace), which no
  staff key can collide with, whatever text a client sends.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog.models import StockMovement, StoreListing
from siyu.catalog.services.queries import get_listing, is_available
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import SYSTEM_PREFIX, actor_ref, client_key, mismatch
from siyu.common.validators import clean_idempotency_key, clean_int
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit

MAX_STOCK = 1_000_000
MAX_REF_LENGTH = 64
STAFF_REASONS = (StockMovement.Reason.ADJUST, StockMovement.Reason.SALE, StockMovement.Reason.RETURN)


class InsufficientStock(Conflict):
    """The change would take stock below zero; nothing was changed."""

    code = "insufficient_stock"


def _staff_key(staff: Staff, key: Any) -> str:
    """The stored form of ``staff``'s client key: scoped to that staff member, never in the ``sys:`` space."""
    return client_key(actor_ref("staff", staff.pk), "stock", "", clean_idempotency_key(key))


def _system_key(key: str) -> str:
    if not isinstance(key, str) or not key.startswith(SYSTEM_PREFIX):
        # Programming error: reservations are keyed by the system, never by client input.
        raise ValueError(
            f"reserve/release need a system key (siyu.common.idempotency.system_key), got {key!r}"
        )
    return key


def _clean_ref(ref: Any) -> str:
    ref = "" if ref is None else str(ref).strip()
    if len(ref) > MAX_REF_LENGTH:
        raise ValidationFailed(
            _("Too long (%(limit)s characters at most).") % {"limit": MAX_REF_LENGTH}, field="ref"
        )
    return ref


def _replay(
    key: str, *, listing_id: int, reason: str, delta: int | None = None, set_to: int | None = None
) -> StockMovement | None:
    movement = StockMovement.objects.filter(idempotency_key=key).first()
    if movement is None:
        return None
    same = (
        movement.listing_id == listing_id
        and movement.reason == reason
        and (delta is None or movement.delta == delta)
        and (set_to is None or movement.stock_after == set_to)
    )
    if not same:
        raise mismatch()
    return movement


def _apply_delta(
    listing_id: int, delta: int, *, reason: str, ref: str, staff: Staff | None, key: str
) -> StockMovement:
    replayed = _replay(key, listing_id=listing_id, reason=reason, delta=delta)
    if replayed is not None:
        return replayed
    try:
        with transaction.atomic():
            # The WHERE clause is the oversell guard: the database checks and changes in one step.
            updated = StoreListing.objects.filter(pk=listing_id, stock__gte=-delta).update(
                stock=F("stock") + delta, updated_at=timezone.now()
            )
            if not updated:
                if not StoreListing.objects.filter(pk=listing_id).exists():
                    raise NotFound(_("No such listing."), field="listing")
                raise InsufficientStock(_("Not enough stock."), field="stock")
            # Our UPDATE holds the row lock until commit, so this reads exactly our result.
            stock_after = StoreListing.objects.filter(pk=listing_id).values_list("stock", flat=True).get()
            return StockMovement.objects.create(
                listing_id=listing_id,
                delta=delta,
                reason=reason,
                ref=ref,
                staff=staff,
                idempotency_key=key,
                stock_after=stock_after,
            )
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        replayed = _replay(key, listing_id=listing_id, reason=reason, delta=delta)
        if replayed is None:
            raise
        return replayed


def set_listed(staff: Staff, listing_id: Any, listed: bool) -> StoreListing:
    """List or delist a SKU at a store (the store's opt-out). Store staff act on their own stores only
    (another store's listing is NotFound); HQ on any. Unchanged writes nothing; a change is audited."""
    if not isinstance(listed, bool):
        raise ValidationFailed(_("Expected true or false."), field="listed")
    with transaction.atomic():
        listing = get_listing(staff, listing_id)
        updated = (
            StoreListing.objects.filter(pk=listing.pk)
            .exclude(listed=listed)
            .update(listed=listed, updated_at=timezone.now())
        )
        if updated:
            record_audit(
                staff,
                "listing.list" if listed else "listing.delist",
                target_type="store_listing",
                target_id=listing.pk,
                store_id=listing.store_id,
                detail={"sku": listing.sku.code},
            )
        listing.refresh_from_db(fields=["listed", "updated_at"])
    return listing


def set_stock(staff: Staff, listing_id: Any, stock: Any, *, idempotency_key: Any) -> StockMovement:
    """Set a listing's stock to a counted number (0…1,000,000), recording the difference as a ``set``
    movement. Store staff on their own stores only (NotFound otherwise). Idempotent by key."""
    clean_idempotency_key(idempotency_key)
    target = clean_int(stock, "stock", 0, MAX_STOCK)
    listing = get_listing(staff, listing_id)
    key = _staff_key(staff, idempotency_key)
    replayed = _replay(key, listing_id=listing.pk, reason=StockMovement.Reason.SET, set_to=target)
    if replayed is not None:
        return replayed
    try:
        with transaction.atomic():
            # A count replaces the number, so the row is locked to compute the delta the audit needs.
            current = (
                StoreListing.objects.select_for_update().values_list("stock", flat=True).get(pk=listing.pk)
            )
            StoreListing.objects.filter(pk=listing.pk).update(stock=target, updated_at=timezone.now())
            return StockMovement.objects.create(
                listing_id=listing.pk,
                delta=target - current,
                reason=StockMovement.Reason.SET,
                staff=staff,
                idempotency_key=key,
                stock_after=target,
            )
    except IntegrityError:
        replayed = _replay(key, listing_id=listing.pk, reason=StockMovement.Reason.SET, set_to=target)
        if replayed is None:
            raise
        return replayed


def adjust_stock(
    staff: Staff, listing_id: Any, delta: Any, *, reason: str = "adjust", idempotency_key: Any
) -> StockMovement:
    """Add ``delta`` (±, non-zero) to a listing's stock, ``reason`` adjust, sale (delta < 0) or return
    (delta > 0). Store staff on their own stores only (NotFound otherwise). Never below zero
    (InsufficientStock, nothing changed); idempotent by key."""
    clean_idempotency_key(idempotency_key)
    change = clean_int(delta, "delta", -MAX_STOCK, MAX_STOCK)
    if change == 0:
        raise ValidationFailed(_("Give a change other than zero."), field="delta")
    if reason not in STAFF_REASONS:
        raise ValidationFailed(_("Reason must be adjust, sale or return."), field="reason")
    if reason == StockMovement.Reason.SALE and change > 0:
        raise ValidationFailed(_("A sale takes stock away."), field="delta")
    if reason == StockMovement.Reason.RETURN and change < 0:
        raise ValidationFailed(_("A return adds stock."), field="delta")
    listing = get_listing(staff, listing_id)
    key = _staff_key(staff, idempotency_key)
    return _apply_delta(listing.pk, change, reason=reason, ref="", staff=staff, key=key)


def reserve_stock(listing_id: int, quantity: int, *, ref: str, idempotency_key: str) -> StockMovement:
    """Take ``quantity`` units of an available listing for an order (``ref``, e.g. the order id). Never
    sells more than stock: raises InsufficientStock (nothing changed) when fewer are left, even under
    concurrent reservations. Conflict ``unavailable`` when the listing is not available to members.
    Idempotent by ``idempotency_key``, a system key (``system_key(...)``; anything else is a programming
    error, ValueError): a retried reservation returns the first movement and takes nothing more."""
    key = _system_key(idempotency_key)
    amount = clean_int(quantity, "quantity", 1, MAX_STOCK)
    reference = _clean_ref(ref)
    valid_id = isinstance(listing_id, int) and not isinstance(listing_id, bool) and 0 < listing_id < 2**63
    listing = StoreListing.objects.filter(pk=listing_id).first() if valid_id else None
    if listing is None:
        raise NotFound(_("No such listing."), field="listing")
    replayed = _replay(key, listing_id=listing.pk, reason=StockMovement.Reason.RESERVE, delta=-amount)
    if replayed is not None:
        return replayed
    if not is_available(listing):
        raise Conflict(_("This item is not available at this store."), field="listing", code="unavailable")
    return _apply_delta(
        listing.pk, -amount, reason=StockMovement.Reason.RESERVE, ref=reference, staff=None, key=key
    )


def release_stock(listing_id: int, quantity: int, *, ref: str, idempotency_key: str) -> StockMovement:
    """Give back ``quantity`` reserved units (a cancelled or unpaid order ``ref``), whether or not the
    listing is still available. Idempotent by ``idempotency_key``, a system key like ``reserve_stock``'s: a
    retried release returns the first movement."""
    key = _system_key(idempotency_key)
    amount = clean_int(quantity, "quantity", 1, MAX_STOCK)
    reference = _clean_ref(ref)
    if isinstance(listing_id, bool) or not isinstance(listing_id, int) or not 0 < listing_id < 2**63:
        raise NotFound(_("No such listing."), field="listing")
    return _apply_delta(
        listing_id, amount, reason=StockMovement.Reason.RELEASE, ref=reference, staff=None, key=key
    )
