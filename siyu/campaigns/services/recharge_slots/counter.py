"""The counter (store staff): find a member's slot and convert it with an in-store recharge.

Guarantees of ``convert_slot``:

- **Store-scoped.** Only staff serving the slot's store find or convert it (anyone else: NotFound, as if
  it did not exist; ADR 0002). Handing over is a counter action, so head office must serve the store too.
- **Once.** The slot goes held → converted by one conditional UPDATE (``WHERE status = 'held'``); a second
  conversion (another counter, a double tap with a new key) is refused with Conflict ``not_held``.
- **All or nothing.** In one transaction: the slot UPDATE, loyalty's ``stored_value.recharge`` of the
  amount plus the deposit (``source="slot"``, ``source_ref`` = slot id; the cap and the brand's recharge
  tiers apply there), and the deposit order closed as picked up through orders' pickup service. Any refusal
  (below the threshold, past the deadline, over the balance cap) changes nothing.
- **Idempotent.** The page renders a fresh key; the same key again (a retry) answers the first conversion;
  the same key with another amount is Conflict ``idempotency_mismatch``.
- Audited (``recharge_slot.convert``) and recorded (event ``recharge_slot.converted``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.campaigns.models import RechargeSlot, SlotStatus
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch
from siyu.common.mobile import normalize_mobile
from siyu.common.validators import clean_fen, clean_idempotency_key, fen_to_yuan, parse_id
from siyu.loyalty.services import stored_value
from siyu.orders.models import PickupCode
from siyu.orders.services.pickup import verify_pickup
from siyu.orders.services.pickup_codes import code_hash, normalise_short_code, pickup_code_for, signer
from siyu.org.models import Staff
from siyu.org.services.access import require_staff
from siyu.org.services.audit import record_audit

MAX_QUERY = 200
MAX_RECHARGE_FEN = 10_000_000  # ¥100,000; the balance cap refuses far less


@dataclass(frozen=True)
class Conversion:
    slot: RechargeSlot
    recharge_fen: int
    deposit_fen: int
    credited_fen: int  # recharge + deposit, principal
    bonus_fen: int
    gift: str  # the gift to hand over (from the brand's recharge tiers), or ""
    principal_fen: int  # the balance after
    bonus_balance_fen: int
    replayed: bool = False


def _served(staff: Staff) -> list[int]:
    require_staff(staff)
    return list(staff.stores.values_list("pk", flat=True))


def _scoped(staff: Staff) -> QuerySet[RechargeSlot]:
    return RechargeSlot.objects.filter(store_id__in=_served(staff)).select_related(
        "slot_campaign__campaign", "member", "store", "order"
    )


def find_slots(staff: Staff, query: Any) -> list[RechargeSlot]:
    """The slots at the stores ``staff`` serves of the member with this mobile number, or of the deposit
    order with this pickup code (short code or QR content); held ones first. Nothing found (or another
    store's): an empty list — the same answer, so nothing is revealed."""
    if not isinstance(query, str) or not query.strip() or len(query) > MAX_QUERY:
        raise ValidationFailed(_("Enter a mobile number or a pickup code."), field="q")
    raw = query.strip()
    qs = _scoped(staff)
    digits = raw.replace(" ", "").replace("-", "")
    if digits.isdigit() and len(digits) == 11:
        mobile = normalize_mobile(digits, field="q")
        qs = qs.filter(member__mobile=mobile)
    else:
        order_ids = _orders_by_code(raw, _served(staff))
        if not order_ids:
            return []
        qs = qs.filter(order_id__in=order_ids)
    rows = list(qs.order_by("-created_at", "-pk")[:20])
    rows.sort(key=lambda s: s.status != SlotStatus.HELD)
    return rows


def _orders_by_code(raw: str, store_ids: list[int]) -> list[int]:
    short = normalise_short_code(raw)
    if short is not None:
        return list(
            PickupCode.objects.filter(short_code=short, store_id__in=store_ids).values_list(
                "order_id", flat=True
            )
        )
    try:
        signer().unsign(raw)
    except Exception:
        return []
    return list(
        PickupCode.objects.filter(code_hash=code_hash(raw), store_id__in=store_ids).values_list(
            "order_id", flat=True
        )
    )


def get_slot(staff: Staff, slot_id: Any) -> RechargeSlot:
    """A slot at a store ``staff`` serves; NotFound otherwise."""
    pk = parse_id(slot_id, "slot", _("No such slot."))
    slot = _scoped(staff).filter(pk=pk).first()
    if slot is None:
        raise NotFound(_("No such slot."), field="slot")
    return slot


def check_convert(slot: RechargeSlot, amount_fen: int, now: datetime) -> None:
    """Raise unless ``slot`` can be converted now with ``amount_fen``: held, before the deadline, amount at
    least the threshold."""
    settings = slot.slot_campaign
    if slot.status != SlotStatus.HELD:
        raise Conflict(
            _("This slot is no longer held (%(status)s).") % {"status": slot.get_status_display()},
            field="slot",
            code="not_held",
        )
    if now >= settings.convert_until:
        raise Conflict(_("The deadline of this slot has passed."), field="slot", code="deadline_passed")
    if amount_fen < settings.threshold_fen:
        raise ValidationFailed(
            _("Recharge at least ¥%(yuan)s to use this slot.")
            % {"yuan": fen_to_yuan(settings.threshold_fen)},
            field="amount_fen",
        )


def _result(slot: RechargeSlot, res: stored_value.RechargeResult, *, replayed: bool) -> Conversion:
    return Conversion(
        slot=slot,
        recharge_fen=slot.recharge_fen,
        deposit_fen=slot.deposit_fen,
        credited_fen=slot.recharge_fen + slot.deposit_fen,
        bonus_fen=res.bonus_fen,
        gift=res.gift.description if res.gift is not None else "",
        principal_fen=res.balance.principal_fen,
        bonus_balance_fen=res.balance.bonus_fen,
        replayed=replayed,
    )


def convert_slot(
    staff: Staff,
    slot_id: Any,
    amount_fen: Any,
    *,
    key: Any,
    ip: str | None = None,
    now: datetime | None = None,
) -> Conversion:
    """Convert a held slot with an in-store recharge of ``amount_fen`` (≥ the threshold) — see the module
    docstring for the guarantees. Returns what the receipt shows: recharge, deposit credited, bonus, gift
    and the balance after."""
    slot = get_slot(staff, slot_id)
    amount = clean_fen(amount_fen, "amount_fen", minimum=1, maximum=MAX_RECHARGE_FEN)
    clean = clean_idempotency_key(key, "key")
    actor = actor_ref("staff", staff.pk)
    stored_key = client_key(actor, "recharge_slot.convert", slot.pk, clean)
    now = now or timezone.now()
    if slot.status == SlotStatus.CONVERTED and slot.convert_key == stored_key:
        if slot.recharge_fen != amount:
            raise mismatch("key")
        res = stored_value.recharge(
            slot.member,
            amount,
            store=slot.store,
            key=stored_key,
            actor_ref=actor,
            staff=staff,
            source="slot",
            source_ref=str(slot.pk),
            extra_principal_fen=slot.deposit_fen,
        )
        return _result(slot, res, replayed=True)
    check_convert(slot, amount, now)
    with transaction.atomic():
        claimed = RechargeSlot.objects.filter(pk=slot.pk, status=SlotStatus.HELD).update(
            status=SlotStatus.CONVERTED,
            recharge_fen=amount,
            converted_by=staff,
            convert_key=stored_key,
            closed_at=now,
        )
        if not claimed:
            raise Conflict(_("This slot was converted or closed meanwhile."), field="slot", code="not_held")
        res = stored_value.recharge(
            slot.member,
            amount,
            store=slot.store,
            key=stored_key,
            actor_ref=actor,
            staff=staff,
            source="slot",
            source_ref=str(slot.pk),
            extra_principal_fen=slot.deposit_fen,
        )
        if res.gift is not None:
            RechargeSlot.objects.filter(pk=slot.pk).update(gift_text=res.gift.description[:200])
        # The deposit order is closed as picked up (the guard lets it through now the slot is converted).
        verify_pickup(staff, pickup_code_for(slot.order), order_id=slot.order_id, ip=ip)
        record_audit(
            staff,
            "recharge_slot.convert",
            target_type="recharge_slot",
            target_id=slot.pk,
            store_id=slot.store_id,
            detail={"recharge_fen": amount, "deposit_fen": slot.deposit_fen, "order": slot.order_id},
            ip=ip,
        )
        record_event(
            "recharge_slot.converted",
            member_id=slot.member_id,
            store_id=slot.store_id,
            payload={
                "slot_id": slot.pk,
                "campaign_id": slot.slot_campaign.campaign_id,
                "recharge_fen": amount,
                "deposit_fen": slot.deposit_fen,
            },
        )
    slot.refresh_from_db()
    return _result(slot, res, replayed=False)
