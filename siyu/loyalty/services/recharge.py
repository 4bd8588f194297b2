"""Recharge at the counter and recharge gifts, for store staff (console, API), and what a member's balance
page shows. Thin rules on top of the ledger (``stored_value``).

Guarantees:
- **Who.** A counter recharge and handing over a gift need ``stored_value.recharge`` (every staff role) at a
  store the staff member serves (HQ: any store of the brand); the member must be one the staff member may see
  (``get_member``: store staff see the members of their stores — another store's member is NotFound, ADR
  0002). A cash refund of principal needs ``stored_value.refund`` (managers, HQ).
- **Preview = result.** ``preview`` runs the same tier choice and cap check the recharge will run, so the
  counter shows the bonus, the gift and a refusal before the clerk confirms.
- **Once per key.** The counter form carries a key made when the page was rendered; it is scoped to the staff
  member (``client_key``), so a double tap or a retry is one recharge.
- **Gifts once.** Handing over is one conditional UPDATE (``WHERE status = 'pending'``): two counters at once
  hand a gift over once; audited (``stored_value.gift``).
- **Audited.** Every counter recharge and cash refund is in the audit log with the entry ids.
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
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key
from siyu.common.validators import MAX_DB_ID, clean_idempotency_key, clean_int, fen_to_yuan
from siyu.loyalty.models import RechargeGift, RechargeRule, StoredValueEntry
from siyu.loyalty.services import stored_value as sv
from siyu.members.models import Member
from siyu.members.services.profiles import get_member, scoped_members
from siyu.org.models import Staff, Store
from siyu.org.services.access import check_capability, check_store_access, require_staff, visible_stores
from siyu.org.services.audit import record_audit


@dataclass(frozen=True)
class Preview:
    amount_fen: int
    extra_principal_fen: int
    rule: RechargeRule | None
    bonus_fen: int
    gift: str
    balance: sv.SvBalance
    after: sv.SvBalance
    cap_fen: int

    @property
    def fits(self) -> bool:
        return self.after.total_fen <= self.cap_fen

    @property
    def room_fen(self) -> int:
        """How much more principal + bonus the member may hold."""
        return max(0, self.cap_fen - self.balance.total_fen)


@dataclass(frozen=True)
class MemberStoredValue:
    member: Member
    balance: sv.SvBalance
    cap_fen: int
    pending_gifts: list[RechargeGift]
    entries: list[StoredValueEntry]


# --- finding the member and the store -------------------------------------------------------------------


def find_member(staff: Staff, text: Any) -> Member:
    """The member a counter means: a full 11-digit mobile, or the member number (id) from their balance page.
    Only members the staff member may see; anything else is NotFound."""
    require_staff(staff)
    raw = str(text or "").strip().replace(" ", "").replace("-", "")
    if raw.isdigit() and len(raw) == 11 and raw.startswith("1"):
        member = scoped_members(staff).filter(mobile=raw, erased_at__isnull=True).first()
        if member is not None:
            return member
    elif raw.isdigit() and 0 < len(raw) <= 12:
        member = scoped_members(staff).filter(pk=int(raw), erased_at__isnull=True).first()
        if member is not None:
            return member
    raise NotFound(_("No member with that mobile number or member number."), field="member")


def counter_stores(staff: Staff) -> list[Store]:
    """Stores the staff member may record a recharge at (open ones first)."""
    return list(visible_stores(staff).order_by("code")[:200])


def pick_store(staff: Staff, store_id: Any, member: Member | None = None) -> Store:
    """The store a counter action happens at: the one given (served by ``staff``), else the only store the
    staff member serves, else the member's home store if served."""
    stores = counter_stores(staff)
    if store_id not in (None, ""):
        pk = clean_int(store_id, "store", 1, MAX_DB_ID, _("Choose a store from the list."), from_text=True)
        check_store_access(staff, pk)
        store = next((s for s in stores if s.pk == pk), None)
        if store is None:
            raise NotFound(_("Store not found."), field="store")
        return store
    if len(stores) == 1:
        return stores[0]
    if member is not None and member.home_store_id and any(s.pk == member.home_store_id for s in stores):
        return next(s for s in stores if s.pk == member.home_store_id)
    raise ValidationFailed(_("Choose the store."), field="store")


# --- preview and recharge -------------------------------------------------------------------------------


def preview(
    member: Member,
    amount_fen: Any,
    *,
    store_id: int | None,
    extra_principal_fen: int = 0,
    now: datetime | None = None,
) -> Preview:
    """What a recharge of ``amount_fen`` would give now: the tier's bonus and gift, the balance after, and
    whether it fits under the cap."""
    amount = sv.clean_amount(amount_fen)
    rule = sv.matching_rule(member.brand_id, amount, store_id, now)
    bonus = rule.bonus_fen if rule is not None else 0
    balance = sv.balance_of(member, now=now)
    return Preview(
        amount_fen=amount,
        extra_principal_fen=extra_principal_fen,
        rule=rule,
        bonus_fen=bonus,
        gift=rule.gift if rule is not None else "",
        balance=balance,
        after=sv.SvBalance(balance.principal_fen + amount + extra_principal_fen, balance.bonus_fen + bonus),
        cap_fen=sv.cap_for(member.brand_id),
    )


def tiers_for(member: Member, store_id: int | None = None) -> list[RechargeRule]:
    """The brand's tiers open now (at the store, when given), lowest first — the H5 amount choices."""
    now = timezone.now()
    out = []
    for rule in (
        RechargeRule.objects.filter(brand_id=member.brand_id, active=True)
        .prefetch_related("stores")
        .order_by("threshold_fen", "id")
    ):
        if (rule.starts_at and rule.starts_at > now) or (rule.ends_at and rule.ends_at <= now):
            continue
        store_ids = {s.pk for s in rule.stores.all()}
        if store_ids and (store_id is None or store_id not in store_ids):
            continue
        out.append(rule)
    return out


def counter_recharge(
    staff: Staff,
    member_id: Any,
    amount_fen: Any,
    *,
    key: Any,
    store_id: Any = None,
    payment_ref: str = "",
) -> sv.RechargeResult:
    """A recharge the member paid at the counter (cash, card, the store's own QR): the tier's bonus and gift,
    the cap enforced. The key is scoped to the staff member. Audited as ``stored_value.recharge``."""
    check_capability(staff, "stored_value.recharge")
    member = get_member(staff, member_id)
    store = pick_store(staff, store_id, member)
    raw_key = clean_idempotency_key(key)
    ref = actor_ref("staff", staff.pk)
    with transaction.atomic():
        result = sv.recharge(
            member,
            amount_fen,
            store=store,
            key=raw_key,
            actor_ref=ref,
            staff=staff,
            source="counter",
            payment_ref=str(payment_ref or "")[:64],
        )
        if result.created:
            record_audit(
                staff,
                "stored_value.recharge",
                target_type="member",
                target_id=member.pk,
                detail={
                    "amount_fen": result.principal_fen,
                    "bonus_fen": result.bonus_fen,
                    "gift": result.gift.description if result.gift else "",
                    "store_id": store.pk,
                    "entry_ids": result.entry_ids,
                },
            )
    return result


def cash_refund(
    staff: Staff, member_id: Any, amount_fen: Any, *, reason: Any, key: Any, store_id: Any = None
) -> sv.RefundResult:
    """Pay principal back to the member (``stored_value.refund``); bonus is never paid out and is forfeited in
    proportion when the brand's policy says so. Audited as ``stored_value.refund_principal``."""
    check_capability(staff, "stored_value.refund")
    member = get_member(staff, member_id)
    store = pick_store(staff, store_id, member)
    stored = client_key(
        actor_ref("staff", staff.pk), "stored_value.refund", member.pk, clean_idempotency_key(key)
    )
    return sv.refund_principal(member, amount_fen, key=stored, staff=staff, reason=reason, store=store)


# --- gifts ----------------------------------------------------------------------------------------------


def pending_gifts(member: Member) -> QuerySet[RechargeGift]:
    return RechargeGift.objects.filter(member=member, status=RechargeGift.Status.PENDING).order_by("id")


def member_gifts(member: Member) -> QuerySet[RechargeGift]:
    return (
        RechargeGift.objects.filter(member=member)
        .select_related("store", "handed_over_store")
        .order_by("-id")
    )


def hand_over_gift(staff: Staff, gift_id: Any, *, store_id: Any = None) -> RechargeGift:
    """Hand a pending gift over at a store ``staff`` serves: one conditional UPDATE, audited. A gift already
    handed over is a Conflict ``gift_handed_over``; a gift of a member out of reach is NotFound."""
    check_capability(staff, "stored_value.recharge")
    pk = clean_int(gift_id, "gift", 1, MAX_DB_ID, _("Gift not found."), from_text=True)
    gift = RechargeGift.objects.filter(pk=pk, brand_id=staff.brand_id or 0).select_related("member").first()
    if gift is None:
        raise NotFound(_("Gift not found."), field="gift")
    get_member(staff, gift.member_id)  # NotFound for a member out of reach
    store = pick_store(staff, store_id, gift.member)
    now = timezone.now()
    with transaction.atomic():
        if not RechargeGift.objects.filter(pk=gift.pk, status=RechargeGift.Status.PENDING).update(
            status=RechargeGift.Status.HANDED_OVER,
            handed_over_at=now,
            handed_over_by=staff,
            handed_over_store=store,
        ):
            raise Conflict(_("This gift was already handed over."), field="gift", code="gift_handed_over")
        record_audit(
            staff,
            "stored_value.gift",
            target_type="recharge_gift",
            target_id=gift.pk,
            detail={"member_id": gift.member_id, "gift": gift.description, "store_id": store.pk},
        )
        record_event(
            "stored_value.gift_handed_over",
            member_id=gift.member_id,
            store_id=store.pk,
            occurred_at=now,
            payload={"gift": gift.description},
        )
    gift.refresh_from_db()
    return gift


# --- what staff and the member see ----------------------------------------------------------------------


def member_stored_value(staff: Staff, member_id: Any, *, limit: int = 50) -> MemberStoredValue:
    """A member's balance, pending gifts and latest entries, for staff who may see the member."""
    member = get_member(staff, member_id)
    return member_view(member, limit=limit)


def member_view(member: Member, *, limit: int = 50) -> MemberStoredValue:
    return MemberStoredValue(
        member=member,
        balance=sv.balance_of(member),
        cap_fen=sv.cap_for(member.brand_id),
        pending_gifts=list(pending_gifts(member)),
        entries=sv.statement(member, limit=limit),
    )


def member_entries(staff: Staff, member_id: Any) -> QuerySet[StoredValueEntry]:
    member = get_member(staff, member_id)
    return (
        StoredValueEntry.objects.filter(account__member=member)
        .select_related("store", "staff")
        .order_by("-id")
    )


def receipt_text(result: sv.RechargeResult) -> str:
    """One line for a receipt: what was added and the balance now."""
    parts = [_("Recharged ¥%(amount)s") % {"amount": fen_to_yuan(result.principal_fen)}]
    if result.bonus_fen:
        parts.append(_("bonus ¥%(bonus)s") % {"bonus": fen_to_yuan(result.bonus_fen)})
    if result.gift is not None:
        parts.append(_("gift: %(gift)s") % {"gift": result.gift.description})
    return "; ".join(parts)
