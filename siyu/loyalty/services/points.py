"""The points ledger: earn, spend, expire, reverse and adjust (ADR 0013).

Guarantees, for every function that changes points:

- **Serialised per member, never read-modify-write.** Every change first locks the member's account row
  (``SELECT … FOR UPDATE``; SQLite serialises writers), then changes the totals with one conditional UPDATE
  (``balance = balance - n WHERE balance >= n``), with check constraints behind them (balance ≥ 0, debt ≥ 0,
  0 ≤ batch remaining ≤ amount). A spend larger than the balance raises ``InsufficientPoints`` and writes
  nothing.
- **Soonest-to-expire first.** Spending, expiring and clawing back draw from the account's live batches in
  (expires_at, id) order, and record each draw (``PointsDraw``); batches past their expiry are expired first,
  so they are never spent.
- **Once per key.** Every write carries an idempotency key, unique per account in the database: the same key
  with the same request returns the first entry and changes nothing; with a different request it is a
  Conflict ``idempotency_mismatch``. Staff keys are scoped to the staff member (``client_key``); Siyu's own
  are ``sys:``.
- **Refunds claw back, even what was spent.** Reversing an earning takes the points still in its batch, then
  other live batches; whatever was already spent becomes ``debt``, shown to the member as a negative balance
  and paid off first by later earnings. Points that expired are not clawed back (the member never had them).
- **Audited.** Every change is a ``PointsEntry`` with the balance after it; staff adjustments name the staff
  member and a reason and are in the audit log.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch, request_hash
from siyu.common.validators import clean_idempotency_key, clean_int, clean_text
from siyu.loyalty.models import PointsAccount, PointsBatch, PointsDraw, PointsEntry, PointsPolicy
from siyu.members.models import Member
from siyu.members.services.profiles import get_member
from siyu.org.models import Staff
from siyu.org.services.access import check_capability
from siyu.org.services.audit import record_audit

MAX_POINTS = 10_000_000
EXPIRY_CHUNK = 2_000


class InsufficientPoints(Conflict):
    """The spend is larger than the points the member has; nothing was changed."""

    code = "insufficient_points"


@dataclass(frozen=True)
class Balance:
    balance: int
    debt: int

    @property
    def shown(self) -> int:
        """What the member sees: negative exactly by what a refund left owing."""
        return self.balance - self.debt


# --- reading --------------------------------------------------------------------------------------------


def balance_of(member: Member, *, now: datetime | None = None) -> Balance:
    """The member's points as of ``now``: batches past their expiry count as gone even before the expiry job
    has written them off."""
    due = (
        PointsBatch.objects.filter(
            account_id=OuterRef("pk"), remaining__gt=0, expires_at__lte=now or timezone.now()
        )
        .values("account_id")
        .annotate(n=Sum("remaining"))
        .values("n")
    )
    row = (
        PointsAccount.objects.filter(member=member)
        .annotate(due=Coalesce(Subquery(due), 0))
        .values("balance", "debt", "due")
        .first()
    )
    if row is None:
        return Balance(0, 0)
    return Balance(row["balance"] - int(row["due"]), row["debt"])


def expiry_for(brand_id: int, earned_at: datetime) -> datetime:
    """When points earned at ``earned_at`` expire under the brand's policy (default: 12 months later), at the
    end of that day in Asia/Shanghai."""
    policy = PointsPolicy.objects.filter(brand_id=brand_id).first()
    local = timezone.localtime(earned_at)
    if policy is not None and policy.expiry == PointsPolicy.Expiry.YEAR_END:
        end = local.replace(year=local.year + 1, month=12, day=31)
    else:
        months = policy.expiry_months if policy is not None else 12
        month0 = local.month - 1 + months
        year, month = local.year + month0 // 12, month0 % 12 + 1
        end = local.replace(year=year, month=month, day=min(local.day, calendar.monthrange(year, month)[1]))
    return end.replace(hour=23, minute=59, second=59, microsecond=0)


# --- the account lock ----------------------------------------------------------------------------------


def lock_account(member: Member) -> PointsAccount:
    """The member's account, created if needed, locked until the end of the caller's transaction."""
    account = PointsAccount.objects.select_for_update().filter(member=member).first()
    if account is not None:
        return account
    # First change for this member: INSERT … ON CONFLICT DO NOTHING (a concurrent first change may win),
    # then lock whichever row exists — two round trips, no savepoint.
    PointsAccount.objects.bulk_create(
        [PointsAccount(member=member, brand_id=member.brand_id)], ignore_conflicts=True
    )
    return PointsAccount.objects.select_for_update().get(member=member)


def _replay(account: PointsAccount, key: str, rhash: str) -> PointsEntry | None:
    entry = PointsEntry.objects.filter(account=account, idempotency_key=key).first()
    if entry is not None and entry.request_hash != rhash:
        raise mismatch()
    return entry


def _clean_points(points: Any, field: str = "points") -> int:
    return clean_int(points, field, 1, MAX_POINTS, _("Points must be a whole number from 1 to 10,000,000."))


# --- earning -------------------------------------------------------------------------------------------


def earn(member: Member, points: int, **kwargs: Any) -> PointsEntry:
    """Credit ``points`` to ``member`` as one batch expiring at ``expires_at`` (default: the brand's policy).

    What the member owes from an earlier clawback is paid off first; the rest can be spent. Keyword arguments
    as ``earn_locked``."""
    return earn_once(member, points, **kwargs)[0]


def earn_once(member: Member, points: int, **kwargs: Any) -> tuple[PointsEntry, bool]:
    """``earn``, and whether this call wrote the entry (False: the key's earlier entry, replayed). Keyword
    arguments as ``earn_locked``: key, reason, source, expires_at, now, kind, actor, rule_id."""
    with transaction.atomic():
        return earn_locked(lock_account(member), points, **kwargs)


def earn_locked(
    account: PointsAccount,
    points: int,
    *,
    key: str,
    reason: str = "",
    source: tuple[str, str] = ("", ""),
    expires_at: datetime | None = None,
    now: datetime | None = None,
    kind: str = PointsEntry.Kind.EARN,
    actor: Staff | None = None,
    rule_id: int | None = None,
) -> tuple[PointsEntry, bool]:
    """``earn_once`` for a caller that already holds ``account``'s lock (``lock_account``) in its own
    transaction — one savepoint and one lock fewer on a hot path (daily check-in). Same guarantees."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("earn_locked needs the caller's transaction holding the account lock")
    points = _clean_points(points)
    now = now or timezone.now()
    expires_at = expires_at or expiry_for(account.brand_id, now)
    rhash = request_hash("earn", kind, points, source, expires_at)
    replayed = _replay(account, key, rhash)
    if replayed is not None:
        return replayed, False
    if expires_at <= now:
        raise ValidationFailed(_("Points must expire after they are earned."), field="expires_at")
    repay = min(points, account.debt)
    PointsAccount.objects.filter(pk=account.pk, debt__gte=repay).update(
        debt=F("debt") - repay,
        balance=F("balance") + (points - repay),
        earned_total=F("earned_total") + points,
    )
    account.refresh_from_db(fields=["balance", "debt"])
    entry = PointsEntry.objects.create(
        account=account,
        kind=kind,
        points=points,
        balance_after=account.balance,
        debt_after=account.debt,
        reason=reason[:200],
        source_type=source[0],
        source_id=str(source[1]),
        actor=actor,
        rule_id=rule_id,
        idempotency_key=key,
        request_hash=rhash,
        created_at=now,
    )
    PointsBatch.objects.create(
        account=account,
        entry=entry,
        amount=points,
        remaining=points - repay,
        earned_at=now,
        expires_at=expires_at,
    )
    return entry, True


# --- drawing from batches ------------------------------------------------------------------------------


def _draw(
    account: PointsAccount, entry: PointsEntry, points: int, now: datetime, *, first: int | None = None
) -> int:
    """Take up to ``points`` from the account's live batches, soonest-to-expire first (batch ``first`` before
    all others); record the draws; return how many were taken. The caller holds the account lock and has
    already changed the account's balance by what this takes."""
    batches = list(
        PointsBatch.objects.select_for_update()
        .filter(account=account, remaining__gt=0, expires_at__gt=now)
        .order_by("expires_at", "id")
    )
    if first is not None:
        batches.sort(key=lambda b: b.pk != first)
    taken = 0
    draws: list[PointsDraw] = []
    for batch in batches:
        if taken == points:
            break
        take = min(batch.remaining, points - taken)
        updated = PointsBatch.objects.filter(pk=batch.pk, remaining__gte=take).update(
            remaining=F("remaining") - take
        )
        if updated != 1:  # pragma: no cover - the account lock makes this impossible
            raise Conflict(_("The points changed meanwhile; try again."), field="points")
        draws.append(PointsDraw(entry=entry, batch=batch, points=take))
        taken += take
    PointsDraw.objects.bulk_create(draws)
    return taken


def _expire_account(account: PointsAccount, now: datetime) -> None:
    """Expire the account's batches that are past due (the caller holds the account lock)."""
    due = list(
        PointsBatch.objects.select_for_update()
        .filter(account=account, remaining__gt=0, expires_at__lte=now)
        .order_by("expires_at", "id")
    )
    if not due:
        return
    total = sum(b.remaining for b in due)
    PointsAccount.objects.filter(pk=account.pk, balance__gte=total).update(balance=F("balance") - total)
    account.refresh_from_db(fields=["balance", "debt"])
    entry = PointsEntry.objects.create(
        account=account,
        kind=PointsEntry.Kind.EXPIRE,
        points=-total,
        balance_after=account.balance,
        debt_after=account.debt,
        reason=_("Points expired"),
        idempotency_key=f"sys:expire:b{due[0].pk}",
        created_at=now,
    )
    PointsBatch.objects.filter(pk__in=[b.pk for b in due]).update(remaining=0)
    PointsDraw.objects.bulk_create([PointsDraw(entry=entry, batch=b, points=b.remaining) for b in due])


# --- spending ------------------------------------------------------------------------------------------


def spend(member: Member, points: int, **kwargs: Any) -> PointsEntry:
    """Take ``points`` from ``member``, soonest-to-expire first; ``InsufficientPoints`` (nothing written) when
    the member has fewer. Keyword arguments as ``spend_once``."""
    return spend_once(member, points, **kwargs)[0]


def spend_once(
    member: Member,
    points: int,
    *,
    key: str,
    reason: str = "",
    source: tuple[str, str] = ("", ""),
    now: datetime | None = None,
    kind: str = PointsEntry.Kind.SPEND,
    actor: Staff | None = None,
) -> tuple[PointsEntry, bool]:
    """``spend``, and whether this call wrote the entry (False: the key's earlier entry, replayed)."""
    points = _clean_points(points)
    now = now or timezone.now()
    rhash = request_hash("spend", kind, points, source)
    with transaction.atomic():
        account = lock_account(member)
        replayed = _replay(account, key, rhash)
        if replayed is not None:
            return replayed, False
        _expire_account(account, now)
        if not PointsAccount.objects.filter(pk=account.pk, balance__gte=points).update(
            balance=F("balance") - points
        ):
            raise InsufficientPoints(
                _("Not enough points: %(have)s available, %(need)s needed.")
                % {"have": account.balance, "need": points},
                field="points",
            )
        account.refresh_from_db(fields=["balance", "debt"])
        entry = PointsEntry.objects.create(
            account=account,
            kind=kind,
            points=-points,
            balance_after=account.balance,
            debt_after=account.debt,
            reason=reason[:200],
            source_type=source[0],
            source_id=str(source[1]),
            actor=actor,
            idempotency_key=key,
            request_hash=rhash,
            created_at=now,
        )
        _draw(account, entry, points, now)
    return entry, True


# --- reversing an earning (refunds) --------------------------------------------------------------------


def reverse_earning(
    member: Member, *, source: tuple[str, str], key: str, reason: str = "", now: datetime | None = None
) -> list[PointsEntry]:
    """Undo every earning of ``member`` from ``source`` (e.g. ("order", 12)) that is not undone yet.

    For each: the points still in its batch come back first, then from other live batches; what was already
    spent becomes debt. Points of the batch that expired are not clawed back. Once per earning (a database
    constraint), whatever ``key`` a retry carries."""
    now = now or timezone.now()
    out: list[PointsEntry] = []
    with transaction.atomic():
        account = lock_account(member)
        _expire_account(account, now)
        earnings = PointsEntry.objects.filter(
            account=account,
            points__gt=0,
            source_type=source[0],
            source_id=str(source[1]),
        ).order_by("id")
        for earning in earnings:
            sub_key = f"{key}:{earning.pk}"[:80]
            existing = PointsEntry.objects.filter(
                Q(reverses=earning) | Q(account=account, idempotency_key=sub_key)
            )
            found = existing.first()
            if found is not None:
                out.append(found)
                continue
            expired = PointsDraw.objects.filter(
                batch__entry=earning, entry__kind=PointsEntry.Kind.EXPIRE
            ).aggregate(n=Coalesce(Sum("points"), 0))["n"]
            claw = earning.points - int(expired)
            if claw <= 0:
                continue
            from_balance = min(claw, account.balance)
            owed = claw - from_balance
            PointsAccount.objects.filter(pk=account.pk, balance__gte=from_balance).update(
                balance=F("balance") - from_balance, debt=F("debt") + owed
            )
            account.refresh_from_db(fields=["balance", "debt"])
            entry = PointsEntry.objects.create(
                account=account,
                kind=PointsEntry.Kind.REVERSE,
                points=-claw,
                balance_after=account.balance,
                debt_after=account.debt,
                reason=(reason or _("Earning reversed"))[:200],
                source_type=source[0],
                source_id=str(source[1]),
                reverses=earning,
                idempotency_key=sub_key,
                created_at=now,
            )
            batch = PointsBatch.objects.get(entry=earning)
            _draw(account, entry, from_balance, now, first=batch.pk)
            out.append(entry)
    return out


# --- staff adjustments ---------------------------------------------------------------------------------


def adjust(staff: Staff, member_id: Any, points: Any, *, reason: Any, key: Any) -> PointsEntry:
    """A staff member adds (positive) or takes (negative) points, with a reason.

    Guarantees: needs the ``loyalty.adjust`` capability (HQ, store managers) and a member the staff member
    may see (NotFound otherwise); the reason
    is required (1–200 characters); a deduction larger than the balance is refused (``InsufficientPoints``);
    the key is scoped to the staff member; audited as ``loyalty.adjust``."""
    check_capability(staff, "loyalty.adjust")
    member = get_member(staff, member_id)
    delta = clean_int(points, "points", -MAX_POINTS, MAX_POINTS)
    if delta == 0:
        raise ValidationFailed(_("Points must be a whole number from 1 to 10,000,000."), field="points")
    text = clean_text(reason, "reason", 200, required=True)
    stored_key = client_key(
        actor_ref("staff", staff.pk), "points.adjust", member.pk, clean_idempotency_key(key)
    )
    with transaction.atomic():
        if delta > 0:
            entry, new = earn_once(
                member, delta, key=stored_key, reason=text, kind=PointsEntry.Kind.ADJUST, actor=staff
            )
        else:
            entry, new = spend_once(
                member, -delta, key=stored_key, reason=text, kind=PointsEntry.Kind.ADJUST, actor=staff
            )
        if not new:
            return entry
        record_audit(
            staff,
            "loyalty.adjust",
            target_type="member",
            target_id=member.pk,
            detail={"points": delta, "reason": text, "entry_id": entry.pk},
        )
    return entry


# --- the expiry job ------------------------------------------------------------------------------------


def _insert_expiry_draws(entry_ids: list[int], now: datetime) -> None:
    """One draw per due batch of each new expiry entry's account, in one INSERT … SELECT (the caller holds
    the accounts' locks and empties the batches right after)."""
    if not entry_ids:
        return
    draw, batch, entry = PointsDraw._meta.db_table, PointsBatch._meta.db_table, PointsEntry._meta.db_table
    marks = ", ".join(["%s"] * len(entry_ids))
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {draw} (entry_id, batch_id, points) "  # noqa: S608 -- table names from the models
            f"SELECT e.id, b.id, b.remaining FROM {entry} e JOIN {batch} b ON b.account_id = e.account_id "
            f"WHERE e.id IN ({marks}) AND b.remaining > 0 AND b.expires_at <= %s",
            [*entry_ids, connection.ops.adapt_datetimefield_value(now)],
        )


def expire_due(*, now: datetime | None = None, chunk: int = EXPIRY_CHUNK) -> int:
    """Expire every batch past its expiry, in bulk: for each chunk of accounts (locked in id order, the same
    order every writer locks one account in), one expiry entry per account drawing from its due batches, the
    batches emptied and the balances recomputed from the live batches in one UPDATE. Returns how many batches
    expired. Safe to run twice and beside spends (they expire an account's due batches themselves)."""
    now = now or timezone.now()
    expired = 0
    after = 0
    while True:
        account_ids = list(
            PointsBatch.objects.filter(remaining__gt=0, expires_at__lte=now, account_id__gt=after)
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:chunk]
        )
        if not account_ids:
            return expired
        after = account_ids[-1]
        with transaction.atomic():
            # Lock the chunk's accounts (id order), then work on aggregates: one row per account here, and
            # the draws written by one INSERT … SELECT — no Python object per batch.
            accounts = {
                a["pk"]: a
                for a in PointsAccount.objects.select_for_update()
                .filter(pk__in=account_ids)
                .order_by("pk")
                .values("pk", "balance", "debt")
            }
            due_batches = PointsBatch.objects.filter(
                account_id__in=account_ids, remaining__gt=0, expires_at__lte=now
            )
            totals = list(
                due_batches.values("account_id")
                .annotate(total=Sum("remaining"), first=Min("id"), n=Count("id"))
                .order_by("account_id")
            )
            if not totals:
                continue
            entries = PointsEntry.objects.bulk_create(
                [
                    PointsEntry(
                        account_id=row["account_id"],
                        kind=PointsEntry.Kind.EXPIRE,
                        points=-row["total"],
                        balance_after=accounts[row["account_id"]]["balance"] - row["total"],
                        debt_after=accounts[row["account_id"]]["debt"],
                        reason=_("Points expired"),
                        idempotency_key=f"sys:expire:b{row['first']}",
                        created_at=now,
                    )
                    for row in totals
                ]
            )
            _insert_expiry_draws([e.pk for e in entries], now)
            due_batches.update(remaining=0)
            live = (
                PointsBatch.objects.filter(account_id=OuterRef("pk"), remaining__gt=0)
                .values("account_id")
                .annotate(total=Sum("remaining"))
                .values("total")
            )
            PointsAccount.objects.filter(pk__in=account_ids).update(balance=Coalesce(Subquery(live), 0))
            expired += sum(row["n"] for row in totals)
