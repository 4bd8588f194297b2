"""The stored-value ledger (储值, ADR 0015): recharge, pay, refund a payment, refund principal in cash, bonus
expiry. Principal (the member's money) and bonus (the brand's gift) are kept apart everywhere.

Guarantees, for every function that changes a balance:

- **Serialised per member, never read-modify-write.** Every change first locks the member's account row
  (``SELECT … FOR UPDATE``; SQLite serialises writers), then changes principal and bonus with one conditional
  UPDATE (``principal_fen = principal_fen - n WHERE principal_fen >= n``), with check constraints behind them
  (both ≥ 0, 0 ≤ grant remaining ≤ amount, refunds of a payment ≤ what it drew). A refused change writes
  nothing.
- **The named-member cap.** A recharge that would leave principal + bonus above the brand's cap (default
  ¥5,000) raises ``CapExceeded`` (409 ``balance_cap``) and writes nothing; the cap is part of the conditional
  UPDATE (``WHERE principal_fen + bonus_fen <= cap - n``), so two parallel recharges cannot pass it together.
- **Principal and bonus apart.** Each equals the sum of its entries' deltas. A payment draws principal then
  bonus, or both in proportion (brand setting ``bonus_spend``); bonus is drawn from grants soonest-to-expire
  first and expired grants are written off before any payment. A refund of a payment puts principal and bonus
  back the way it was drawn (in proportion to the draw, exactly on a full refund); bonus whose grant expired
  meanwhile is written off again at once. Bonus is never paid out as cash: ``refund_principal`` pays out
  principal only and, by default, forfeits the bonus in the same proportion (all principal: all bonus).
- **Once per key.** Every write carries an idempotency key, unique per account in the database: the same key
  with the same request returns the first result and changes nothing; a different request is a Conflict
  ``idempotency_mismatch``. ``recharge`` scopes a client's key to ``actor_ref`` (``client_key``); a system
  caller (``actor_ref`` ``system:…``) passes a ``sys:…`` key kept as is. ``pay``/``refund_payment`` take the
  key already scoped by the caller (``sys:…`` or ``client_key(...)``).
- **Audited.** Every change is a ``StoredValueEntry`` with principal and bonus after it, the store, the staff
  member and the source; staff actions are also in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import SYSTEM_PREFIX, client_key, mismatch, request_hash
from siyu.common.validators import clean_idempotency_key, clean_int, clean_text, fen_to_yuan
from siyu.loyalty.models import (
    BonusDraw,
    BonusGrant,
    RechargeGift,
    RechargeRule,
    StoredValueAccount,
    StoredValueEntry,
    StoredValuePolicy,
)
from siyu.loyalty.models_stored_value import DEFAULT_CAP_FEN
from siyu.members.models import Member
from siyu.org.models import Staff, Store
from siyu.org.services.audit import record_audit

MAX_AMOUNT_FEN = 10_000_000  # ¥100,000: far above any cap; a typo guard
Kind = StoredValueEntry.Kind
SOURCES = ("counter", "online", "slot")


class CapExceeded(Conflict):
    """The recharge would take principal + bonus above the named-member cap; nothing was changed."""

    code = "balance_cap"


class InsufficientBalance(Conflict):
    """The payment is larger than principal + bonus; nothing was changed."""

    code = "insufficient_balance"


@dataclass(frozen=True)
class SvBalance:
    principal_fen: int
    bonus_fen: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.bonus_fen


@dataclass(frozen=True)
class RechargeResult:
    entry_ids: list[int]
    principal_fen: int
    bonus_fen: int
    gift: RechargeGift | None
    balance: SvBalance
    rule_id: int | None = None
    created: bool = True

    @property
    def entry_id(self) -> int:
        return self.entry_ids[0]


@dataclass(frozen=True)
class PayResult:
    entry_id: int
    principal_fen: int
    bonus_fen: int
    balance: SvBalance
    created: bool = True


@dataclass(frozen=True)
class RefundResult:
    entry_id: int
    principal_fen: int
    bonus_fen: int
    forfeited_bonus_fen: int
    balance: SvBalance
    created: bool = True


# --- policy and reading ---------------------------------------------------------------------------------


def policy_for(brand_id: int) -> StoredValuePolicy:
    """The brand's settings (an unsaved row with the defaults when it has none)."""
    return StoredValuePolicy.objects.filter(brand_id=brand_id).first() or StoredValuePolicy(brand_id=brand_id)


def cap_for(brand_id: int) -> int:
    row = StoredValuePolicy.objects.filter(brand_id=brand_id).values_list("cap_fen", flat=True).first()
    return int(row) if row is not None else DEFAULT_CAP_FEN


def balance_of(member: Member, *, now: datetime | None = None) -> SvBalance:
    """The member's principal and bonus as of ``now``: bonus past its expiry counts as gone even before the
    expiry job has written it off."""
    account = (
        StoredValueAccount.objects.filter(member=member).values("pk", "principal_fen", "bonus_fen").first()
    )
    if account is None:
        return SvBalance(0, 0)
    due = BonusGrant.objects.filter(
        account_id=account["pk"], remaining_fen__gt=0, expires_at__lte=now or timezone.now()
    ).aggregate(n=Coalesce(Sum("remaining_fen"), 0))["n"]
    return SvBalance(account["principal_fen"], account["bonus_fen"] - int(due))


def statement(member: Member, *, limit: int = 50, before_id: int | None = None) -> list[StoredValueEntry]:
    """The member's entries, newest first (``before_id`` pages on)."""
    qs: QuerySet[StoredValueEntry] = StoredValueEntry.objects.filter(account__member=member).select_related(
        "store"
    )
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    return list(qs.order_by("-id")[: max(1, min(limit, 200))])


def clean_amount(value: Any, field: str = "amount_fen") -> int:
    return clean_int(
        value,
        field,
        1,
        MAX_AMOUNT_FEN,
        _("The amount must be from ¥0.01 to ¥%(max)s.") % {"max": fen_to_yuan(MAX_AMOUNT_FEN)},
    )


# --- the account lock -----------------------------------------------------------------------------------


def lock_account(
    member: Member, *, create: bool = True, store: Store | None = None
) -> StoredValueAccount | None:
    """The member's account, locked until the end of the caller's transaction; created if ``create``."""
    account = StoredValueAccount.objects.select_for_update().filter(member=member).first()
    if account is not None or not create:
        return account
    StoredValueAccount.objects.bulk_create(
        [StoredValueAccount(member=member, brand_id=member.brand_id, store=store)], ignore_conflicts=True
    )
    return StoredValueAccount.objects.select_for_update().get(member=member)


def _replay(account: StoredValueAccount, key: str, rhash: str) -> StoredValueEntry | None:
    entry = StoredValueEntry.objects.filter(account=account, idempotency_key=key).first()
    if entry is not None and entry.request_hash != rhash:
        raise mismatch()
    return entry


def _balance(account: StoredValueAccount) -> SvBalance:
    return SvBalance(account.principal_fen, account.bonus_fen)


def _entry(
    account: StoredValueAccount, kind: str, principal: int, bonus: int, **fields: Any
) -> StoredValueEntry:
    return StoredValueEntry.objects.create(
        account=account,
        kind=kind,
        principal_delta_fen=principal,
        bonus_delta_fen=bonus,
        principal_after=account.principal_fen,
        bonus_after=account.bonus_fen,
        **fields,
    )


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > 90:
        raise ValidationFailed(_("An idempotency key is required."), field="idempotency_key")
    return key


# --- bonus grants ---------------------------------------------------------------------------------------


def _expire_account(account: StoredValueAccount, now: datetime, *, key: str = "") -> int:
    """Write off the account's grants past their expiry (the caller holds the account lock). The entry's key
    names the first grant (a grant expires once; a refund's put-back into an expired grant passes its own)."""
    due = list(
        BonusGrant.objects.select_for_update()
        .filter(account=account, remaining_fen__gt=0, expires_at__lte=now)
        .order_by("expires_at", "id")
    )
    if not due:
        return 0
    total = sum(g.remaining_fen for g in due)
    StoredValueAccount.objects.filter(pk=account.pk, bonus_fen__gte=total).update(
        bonus_fen=F("bonus_fen") - total
    )
    account.refresh_from_db(fields=["principal_fen", "bonus_fen"])
    entry = _entry(
        account,
        Kind.BONUS_EXPIRY,
        0,
        -total,
        reason=_("Bonus expired"),
        idempotency_key=key or f"sys:sv-expire:g{due[0].pk}",
        created_at=now,
    )
    BonusGrant.objects.filter(pk__in=[g.pk for g in due]).update(remaining_fen=0)
    BonusDraw.objects.bulk_create([BonusDraw(entry=entry, grant=g, amount_fen=g.remaining_fen) for g in due])
    return len(due)


def _draw_bonus(account: StoredValueAccount, entry: StoredValueEntry, amount: int, now: datetime) -> None:
    """Take ``amount`` from the account's live grants, soonest-to-expire first (never-expiring last)."""
    if amount <= 0:
        return
    grants = list(
        BonusGrant.objects.select_for_update()
        .filter(Q(expires_at__gt=now) | Q(expires_at__isnull=True), account=account, remaining_fen__gt=0)
        .order_by(F("expires_at").asc(nulls_last=True), "id")
    )
    taken = 0
    draws: list[BonusDraw] = []
    for grant in grants:
        if taken == amount:
            break
        take = min(grant.remaining_fen, amount - taken)
        if not BonusGrant.objects.filter(pk=grant.pk, remaining_fen__gte=take).update(
            remaining_fen=F("remaining_fen") - take
        ):  # pragma: no cover - the account lock makes this impossible
            raise Conflict(_("The balance changed meanwhile; try again."), field="amount_fen")
        draws.append(BonusDraw(entry=entry, grant=grant, amount_fen=take))
        taken += take
    if taken != amount:  # pragma: no cover - account.bonus_fen = the sum of live grants
        raise Conflict(_("The balance changed meanwhile; try again."), field="amount_fen")
    BonusDraw.objects.bulk_create(draws)


# --- recharge -------------------------------------------------------------------------------------------


def matching_rule(
    brand_id: int, amount_fen: int, store_id: int | None, now: datetime | None = None
) -> RechargeRule | None:
    """The highest active tier of the brand that ``amount_fen`` reaches, valid now and at the store."""
    now = now or timezone.now()
    rules = (
        RechargeRule.objects.filter(brand_id=brand_id, active=True, threshold_fen__lte=amount_fen)
        .filter(
            Q(starts_at__isnull=True) | Q(starts_at__lte=now), Q(ends_at__isnull=True) | Q(ends_at__gt=now)
        )
        .prefetch_related("stores")
        .order_by("-threshold_fen", "-id")
    )
    for rule in rules:
        store_ids = {s.pk for s in rule.stores.all()}
        if not store_ids or (store_id is not None and store_id in store_ids):
            return rule
    return None


def stored_key(key: str, actor_ref: str, member_id: int, operation: str = "stored_value.recharge") -> str:
    """How a recharge key is stored: a system caller's ``sys:`` key as is, anyone else's scoped to them."""
    if actor_ref.startswith("system:") and key.startswith(SYSTEM_PREFIX):
        return _check_key(key)
    return client_key(actor_ref, operation, member_id, clean_idempotency_key(key))


def _recharge_result(account: StoredValueAccount, key: str, created: bool) -> RechargeResult:
    entries = list(
        StoredValueEntry.objects.filter(
            account=account, idempotency_key__in=[key, f"{key}:deposit", f"{key}:bonus"]
        ).order_by("id")
    )
    gift = RechargeGift.objects.filter(entry_id__in=[e.pk for e in entries]).first()
    bonus = sum(e.bonus_delta_fen for e in entries)
    principal = sum(e.principal_delta_fen for e in entries)
    rule_id = gift.rule_id if gift is not None else None
    return RechargeResult(
        entry_ids=[e.pk for e in entries],
        principal_fen=principal,
        bonus_fen=bonus,
        gift=gift,
        balance=_balance(account),
        rule_id=rule_id,
        created=created,
    )


def recharge(
    member: Member,
    amount_fen: int,
    *,
    store: Store | None,
    key: str,
    actor_ref: str,
    staff: Staff | None = None,
    source: str = "counter",
    source_ref: str = "",
    payment_ref: str = "",
    extra_principal_fen: int = 0,
    now: datetime | None = None,
) -> RechargeResult:
    """Credit ``amount_fen`` of principal (paid by the member) plus ``extra_principal_fen`` (a recharge-slot
    deposit credited to this recharge), and the bonus and/or gift of the brand's highest recharge tier that
    ``amount_fen`` reaches. Refused with ``CapExceeded`` (nothing written) when principal + bonus would pass
    the brand's cap. Entries: ``recharge`` (key), ``deposit_credit`` (key:deposit), ``bonus`` (key:bonus)."""
    amount = clean_amount(amount_fen)
    extra = clean_int(extra_principal_fen, "extra_principal_fen", 0, MAX_AMOUNT_FEN)
    if source not in SOURCES:
        raise ValidationFailed(_("Unknown recharge source."), field="source")
    if store is not None and store.brand_id != member.brand_id:
        raise NotFound(_("Store not found."), field="store")
    now = now or timezone.now()
    skey = stored_key(key, actor_ref, member.pk)
    store_id = store.pk if store is not None else None
    rhash = request_hash("recharge", amount, extra, store_id, source, source_ref, payment_ref)
    with transaction.atomic():
        account = lock_account(member, store=store)
        assert account is not None
        if _replay(account, skey, rhash) is not None:
            return _recharge_result(account, skey, created=False)
        _expire_account(account, now)
        rule = matching_rule(member.brand_id, amount, store_id, now)
        bonus = rule.bonus_fen if rule is not None else 0
        added = amount + extra + bonus
        cap = cap_for(member.brand_id)
        if not StoredValueAccount.objects.filter(
            pk=account.pk, principal_fen__lte=cap - added - F("bonus_fen")
        ).update(principal_fen=F("principal_fen") + amount + extra, bonus_fen=F("bonus_fen") + bonus):
            raise CapExceeded(
                _(
                    "This recharge would take the balance to ¥%(after)s, above the limit of ¥%(cap)s for a "
                    "named member card."
                )
                % {
                    "after": fen_to_yuan(account.principal_fen + account.bonus_fen + added),
                    "cap": fen_to_yuan(cap),
                },
                field="amount_fen",
            )
        common = {
            "store": store,
            "staff": staff,
            "source": source,
            "source_ref": source_ref[:64],
            "payment_ref": payment_ref[:64],
            "actor_ref": actor_ref[:40],
            "created_at": now,
        }
        # The after-columns of each entry: the running totals, built up entry by entry.
        final_p, final_b = account.principal_fen + amount + extra, account.bonus_fen + bonus
        account.principal_fen, account.bonus_fen = final_p - extra, final_b - bonus
        first = _entry(account, Kind.RECHARGE, amount, 0, idempotency_key=skey, request_hash=rhash, **common)
        last = first
        if extra:
            account.principal_fen = final_p
            last = _entry(account, Kind.DEPOSIT_CREDIT, extra, 0, idempotency_key=f"{skey}:deposit", **common)
        if bonus:
            account.bonus_fen = final_b
            last = _entry(account, Kind.BONUS, 0, bonus, idempotency_key=f"{skey}:bonus", **common)
            policy = policy_for(member.brand_id)
            expires = now + timedelta(days=policy.bonus_expiry_days) if policy.bonus_expiry_days else None
            BonusGrant.objects.create(
                account=account,
                entry=last,
                amount_fen=bonus,
                remaining_fen=bonus,
                granted_at=now,
                expires_at=expires,
            )
        if rule is not None and rule.gift:
            RechargeGift.objects.create(
                brand_id=member.brand_id,
                member=member,
                rule=rule,
                entry=first,
                description=rule.gift,
                store=store,
                source=source,
                source_ref=source_ref[:64],
                created_at=now,
            )
        account.refresh_from_db(fields=["principal_fen", "bonus_fen"])
        record_event(
            "stored_value.recharged",
            member_id=member.pk,
            store_id=store_id,
            occurred_at=now,
            payload={"amount_fen": amount + extra, "bonus_fen": bonus, "source": source},
        )
        return _recharge_result(account, skey, created=True)


# --- paying ---------------------------------------------------------------------------------------------


def split_payment(balance: SvBalance, amount: int, bonus_spend: str) -> tuple[int, int]:
    """(principal, bonus) a payment of ``amount`` draws from ``balance`` (which covers it)."""
    if bonus_spend == StoredValuePolicy.BonusSpend.PROPORTIONAL and balance.total_fen:
        bonus = amount * balance.bonus_fen // balance.total_fen
        return amount - bonus, bonus
    principal = min(amount, balance.principal_fen)
    return principal, amount - principal


def pay(
    member: Member,
    amount_fen: int,
    *,
    key: str,
    store: Store | None,
    source: str,
    source_ref: str,
    staff: Staff | None = None,
    now: datetime | None = None,
) -> PayResult:
    """Take ``amount_fen`` from the member's balance: principal then bonus, or in proportion (brand setting).
    ``InsufficientBalance`` (nothing written) when principal + bonus is smaller. ``key`` is stored as is."""
    amount = clean_amount(amount_fen)
    skey = _check_key(key)
    now = now or timezone.now()
    rhash = request_hash("pay", amount, store.pk if store is not None else None, source, source_ref)
    with transaction.atomic():
        account = lock_account(member, create=False)
        if account is None:
            raise InsufficientBalance(
                _("Not enough balance: ¥%(have)s available, ¥%(need)s needed.")
                % {"have": fen_to_yuan(0), "need": fen_to_yuan(amount)},
                field="amount_fen",
            )
        replayed = _replay(account, skey, rhash)
        if replayed is not None:
            return PayResult(
                replayed.pk,
                -replayed.principal_delta_fen,
                -replayed.bonus_delta_fen,
                _balance(account),
                False,
            )
        _expire_account(account, now)
        have = _balance(account)
        if have.total_fen < amount:
            raise InsufficientBalance(
                _("Not enough balance: ¥%(have)s available, ¥%(need)s needed.")
                % {"have": fen_to_yuan(have.total_fen), "need": fen_to_yuan(amount)},
                field="amount_fen",
            )
        principal, bonus = split_payment(have, amount, policy_for(member.brand_id).bonus_spend)
        if not StoredValueAccount.objects.filter(
            pk=account.pk, principal_fen__gte=principal, bonus_fen__gte=bonus
        ).update(principal_fen=F("principal_fen") - principal, bonus_fen=F("bonus_fen") - bonus):
            raise InsufficientBalance(  # pragma: no cover - the account lock makes this impossible
                _("The balance changed meanwhile; try again."), field="amount_fen"
            )
        account.refresh_from_db(fields=["principal_fen", "bonus_fen"])
        entry = _entry(
            account,
            Kind.PAY,
            -principal,
            -bonus,
            store=store,
            staff=staff,
            source=source[:24],
            source_ref=str(source_ref)[:64],
            idempotency_key=skey,
            request_hash=rhash,
            created_at=now,
        )
        _draw_bonus(account, entry, bonus, now)
        record_event(
            "stored_value.paid",
            member_id=member.pk,
            store_id=store.pk if store is not None else None,
            occurred_at=now,
            payload={"amount_fen": amount, "source": source[:24]},
        )
        return PayResult(entry.pk, principal, bonus, _balance(account), True)


def find_payment(member: Member | None, ref: Any) -> StoredValueEntry:
    """A payment entry by itself, its id, or (source, source_ref) — the latest payment of that source."""
    qs = StoredValueEntry.objects.filter(kind=Kind.PAY)
    if member is not None:
        qs = qs.filter(account__member=member)
    if isinstance(ref, StoredValueEntry):
        qs = qs.filter(pk=ref.pk)
    elif isinstance(ref, tuple):
        qs = qs.filter(source=ref[0], source_ref=str(ref[1]))
    else:
        qs = qs.filter(pk=clean_int(ref, "payment", 1, 2**62))
    entry = qs.order_by("-id").first()
    if entry is None:
        raise NotFound(_("Payment not found."), field="payment")
    return entry


def refund_payment(
    pay_entry_or_ref: Any,
    amount_fen: int,
    *,
    key: str,
    staff: Staff | None = None,
    reason: str = "",
    member: Member | None = None,
    now: datetime | None = None,
) -> RefundResult:
    """Put ``amount_fen`` of a payment back, principal to principal and bonus to bonus, in proportion to how
    the payment drew them (exactly, once the whole payment is refunded). Bonus goes back to the grants it was
    drawn from; bonus of a grant that has expired since is written off again at once (a ``bonus_expiry``
    entry: the member would not have it any more). The refunds of a payment never pass what it drew (a check
    constraint)."""
    amount = clean_amount(amount_fen)
    skey = _check_key(key)
    now = now or timezone.now()
    payment = find_payment(member, pay_entry_or_ref)
    rhash = request_hash("refund", payment.pk, amount)
    with transaction.atomic():
        account = StoredValueAccount.objects.select_for_update().get(pk=payment.account_id)
        replayed = _replay(account, skey, rhash)
        if replayed is not None:
            return RefundResult(
                replayed.pk,
                replayed.principal_delta_fen,
                replayed.bonus_delta_fen,
                0,
                _balance(account),
                False,
            )
        _expire_account(account, now)
        drawn_p, drawn_b = -payment.principal_delta_fen, -payment.bonus_delta_fen
        total = drawn_p + drawn_b
        if not StoredValueEntry.objects.filter(pk=payment.pk, refunded_fen__lte=total - amount).update(
            refunded_fen=F("refunded_fen") + amount
        ):
            raise Conflict(
                _("Only ¥%(left)s of this payment is left to refund.")
                % {"left": fen_to_yuan(total - StoredValueEntry.objects.get(pk=payment.pk).refunded_fen)},
                field="amount_fen",
                code="refund_exceeds_payment",
            )
        payment.refresh_from_db(fields=["refunded_fen"])
        before = payment.refunded_fen - amount
        # Principal back so far is the drawn principal in proportion to what is refunded so far (rounded down:
        # bonus goes back last) — exact once all is refunded; the bonus share never passes what was drawn.
        principal = drawn_p * payment.refunded_fen // total - drawn_p * before // total
        bonus = amount - principal
        # Bonus back into the grants it came from, latest-expiring first.
        net: dict[int, int] = {}
        for row in BonusDraw.objects.filter(
            Q(entry=payment) | Q(entry__reverses=payment, entry__kind=Kind.REFUND)
        ).values("grant_id", "amount_fen"):
            net[row["grant_id"]] = net.get(row["grant_id"], 0) + row["amount_fen"]
        grants = list(
            BonusGrant.objects.select_for_update().filter(pk__in=[k for k, v in net.items() if v > 0])
        )
        grants.sort(key=lambda g: (g.expires_at is None, g.expires_at, g.pk), reverse=True)
        back: list[tuple[BonusGrant, int]] = []
        left = bonus
        for grant in grants:
            if left == 0:
                break
            put = min(left, net[grant.pk])
            back.append((grant, put))
            left -= put
        if left:  # pragma: no cover - cumulative bonus back = ⌈drawn bonus · refunded / total⌉ ≤ drawn bonus
            raise Conflict(_("The balance changed meanwhile; try again."), field="amount_fen")
        StoredValueAccount.objects.filter(pk=account.pk).update(
            principal_fen=F("principal_fen") + principal, bonus_fen=F("bonus_fen") + bonus
        )
        account.refresh_from_db(fields=["principal_fen", "bonus_fen"])
        entry = _entry(
            account,
            Kind.REFUND,
            principal,
            bonus,
            store=payment.store,
            staff=staff,
            source=payment.source,
            source_ref=payment.source_ref,
            reason=reason[:200],
            reverses=payment,
            idempotency_key=skey,
            request_hash=rhash,
            created_at=now,
        )
        for grant, put in back:
            BonusGrant.objects.filter(pk=grant.pk, remaining_fen__lte=F("amount_fen") - put).update(
                remaining_fen=F("remaining_fen") + put
            )
        BonusDraw.objects.bulk_create([BonusDraw(entry=entry, grant=g, amount_fen=-put) for g, put in back])
        # Bonus put back into a grant that has expired since is written off at once (the member would not have
        # it any more), as its own expiry entry.
        forfeited = sum(put for g, put in back if g.expires_at is not None and g.expires_at <= now)
        if forfeited:
            _expire_account(account, now, key=f"sys:sv-expire:r{entry.pk}")
        record_event(
            "stored_value.refunded",
            member_id=account.member_id,
            store_id=payment.store_id,
            occurred_at=now,
            payload={"amount_fen": amount},
        )
        return RefundResult(entry.pk, principal, bonus, forfeited, _balance(account), True)


# --- cash refund of principal ---------------------------------------------------------------------------


def refund_principal(
    member: Member,
    amount_fen: int,
    *,
    key: str,
    staff: Staff | None,
    reason: str,
    store: Store | None = None,
    now: datetime | None = None,
) -> RefundResult:
    """Pay ``amount_fen`` of principal back to the member (in cash or to the original payment, outside Siyu).
    Bonus is never paid out; when the brand's policy says so (the default) the bonus is forfeited in the same
    proportion: refunding X of principal P forfeits ⌈B·X/P⌉ of bonus B (all of it when all principal goes).
    ``key`` is stored as given. Audited when ``staff`` does it."""
    amount = clean_amount(amount_fen)
    skey = _check_key(key)
    text = clean_text(reason, "reason", 200, required=True)
    now = now or timezone.now()
    rhash = request_hash("cash_refund", amount)
    with transaction.atomic():
        account = lock_account(member, create=False)
        if account is None:
            raise InsufficientBalance(_("This member has no stored value."), field="amount_fen")
        replayed = _replay(account, skey, rhash)
        if replayed is not None:
            return RefundResult(
                replayed.pk,
                -replayed.principal_delta_fen,
                0,
                -replayed.bonus_delta_fen,
                _balance(account),
                False,
            )
        _expire_account(account, now)
        if account.principal_fen < amount:
            raise InsufficientBalance(
                _("Only ¥%(have)s of principal can be refunded.")
                % {"have": fen_to_yuan(account.principal_fen)},
                field="amount_fen",
            )
        forfeit = 0
        if policy_for(member.brand_id).forfeit_bonus_on_refund and account.bonus_fen:
            forfeit = min(account.bonus_fen, -(-account.bonus_fen * amount // account.principal_fen))
        StoredValueAccount.objects.filter(
            pk=account.pk, principal_fen__gte=amount, bonus_fen__gte=forfeit
        ).update(principal_fen=F("principal_fen") - amount, bonus_fen=F("bonus_fen") - forfeit)
        account.refresh_from_db(fields=["principal_fen", "bonus_fen"])
        entry = _entry(
            account,
            Kind.CASH_REFUND,
            -amount,
            -forfeit,
            store=store,
            staff=staff,
            source="cash_refund",
            reason=text,
            idempotency_key=skey,
            request_hash=rhash,
            created_at=now,
        )
        _draw_bonus(account, entry, forfeit, now)
        record_event(
            "stored_value.cash_refunded",
            member_id=member.pk,
            store_id=store.pk if store is not None else None,
            occurred_at=now,
            payload={"amount_fen": amount, "bonus_fen": forfeit},
        )
        if staff is not None:
            record_audit(
                staff,
                "stored_value.refund_principal",
                target_type="member",
                target_id=member.pk,
                detail={
                    "amount_fen": amount,
                    "forfeited_bonus_fen": forfeit,
                    "entry_id": entry.pk,
                    "reason": text,
                },
            )
        return RefundResult(entry.pk, amount, 0, forfeit, _balance(account), True)


# --- the bonus expiry job -------------------------------------------------------------------------------


def expire_bonuses(*, now: datetime | None = None, chunk: int = 500) -> int:
    """Write off every bonus grant past its expiry, account by account (each locked like any writer). Safe to
    run twice and beside payments (they expire an account's due grants themselves). Returns grants expired."""
    now = now or timezone.now()
    expired = 0
    after = 0
    while True:
        account_ids = list(
            BonusGrant.objects.filter(remaining_fen__gt=0, expires_at__lte=now, account_id__gt=after)
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:chunk]
        )
        if not account_ids:
            return expired
        after = account_ids[-1]
        for account_id in account_ids:
            with transaction.atomic():
                account = StoredValueAccount.objects.select_for_update().get(pk=account_id)
                expired += _expire_account(account, now)
