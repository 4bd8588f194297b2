"""Stored-value compliance reports (单用途商业预付卡管理办法): outstanding principal and bonus per store
and for the chain, and the quarterly figures an issuer files.

Guarantees: needs ``stored_value.reports`` (HQ, store managers); store managers see the stores they serve
(an account belongs to the store of its first recharge), HQ the chain. Every figure is computed from the
ledger's entries, so it equals what the accounts say (principal and bonus each the sum of their entries) and
a past quarter's figures never change. Outstanding bonus counts what the expiry job has not yet written off
(the ledger as booked). Amounts are whole fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed
from siyu.common.validators import clean_int
from siyu.loyalty.models import StoredValueAccount, StoredValueEntry
from siyu.loyalty.services.stored_value import policy_for
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, store_scope
from siyu.org.services.brand import current_brand_id

Kind = StoredValueEntry.Kind


@dataclass(frozen=True)
class StoreRow:
    store_id: int | None
    store_name: str
    accounts: int
    principal_fen: int
    bonus_fen: int

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.bonus_fen


@dataclass(frozen=True)
class Outstanding:
    rows: list[StoreRow]
    accounts: int
    principal_fen: int
    bonus_fen: int
    chain_wide: bool

    @property
    def total_fen(self) -> int:
        return self.principal_fen + self.bonus_fen


@dataclass(frozen=True)
class Quarter:
    year: int
    quarter: int
    starts: datetime
    ends: datetime
    cards_issued: int
    recharged_fen: int  # principal paid in (recharges and deposits credited)
    bonus_granted_fen: int
    redeemed_fen: int  # principal + bonus spent, net of payments refunded to the balance
    redeemed_principal_fen: int
    cash_refunded_fen: int
    bonus_expired_fen: int
    outstanding_principal_fen: int  # at the end of the quarter
    outstanding_bonus_fen: int
    custody_fen: int
    custody_percent: int

    @property
    def custody_ratio_percent(self) -> float | None:
        """Custody amount / outstanding principal, in percent (None when nothing is outstanding)."""
        if not self.outstanding_principal_fen:
            return None
        return round(self.custody_fen * 100 / self.outstanding_principal_fen, 1)

    @property
    def custody_ok(self) -> bool:
        ratio = self.custody_ratio_percent
        return ratio is None or ratio >= self.custody_percent

    @property
    def custody_required_fen(self) -> int:
        return -(-self.outstanding_principal_fen * self.custody_percent // 100)

    @property
    def label(self) -> str:
        return f"{self.year} Q{self.quarter}"


def _accounts(staff: Staff) -> Any:
    qs = StoredValueAccount.objects.filter(brand_id=current_brand_id(staff))
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    return qs


def outstanding(staff: Staff) -> Outstanding:
    """Outstanding principal and bonus per store (the store of each account's first recharge) and in all."""
    check_capability(staff, "stored_value.reports")
    rows = [
        StoreRow(
            store_id=r["store_id"],
            store_name=r["store__name"] or _("No store"),
            accounts=r["n"],
            principal_fen=int(r["p"]),
            bonus_fen=int(r["b"]),
        )
        for r in _accounts(staff)
        .values("store_id", "store__name")
        .annotate(n=Count("id"), p=Coalesce(Sum("principal_fen"), 0), b=Coalesce(Sum("bonus_fen"), 0))
        .order_by("-p", "store_id")
    ]
    return Outstanding(
        rows=rows,
        accounts=sum(r.accounts for r in rows),
        principal_fen=sum(r.principal_fen for r in rows),
        bonus_fen=sum(r.bonus_fen for r in rows),
        chain_wide=store_scope(staff) is None,
    )


def quarter_bounds(year: int, quarter: int) -> tuple[datetime, datetime]:
    """The quarter as [start, end) in Asia/Shanghai."""
    start = date(year, 3 * (quarter - 1) + 1, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    tz = timezone.get_current_timezone()
    return (
        timezone.make_aware(datetime(start.year, start.month, 1), tz),
        timezone.make_aware(datetime(end.year, end.month, 1), tz),
    )


def current_quarter(now: datetime | None = None) -> tuple[int, int]:
    local = timezone.localtime(now or timezone.now())
    return local.year, (local.month - 1) // 3 + 1


def quarterly(staff: Staff, year: Any = None, quarter: Any = None) -> Quarter:
    """The issuer's figures for one quarter (default: the current one): cards issued (accounts opened),
    principal recharged, bonus granted, redeemed, refunded in cash, bonus expired, outstanding principal and
    bonus at the quarter's end, and the custody ratio against the configured percentage."""
    check_capability(staff, "stored_value.reports")
    this_year, this_quarter = current_quarter()
    y = this_year if year in (None, "") else clean_int(year, "year", 2000, 2100, from_text=True)
    q = this_quarter if quarter in (None, "") else clean_int(quarter, "quarter", 1, 4, from_text=True)
    starts, ends = quarter_bounds(y, q)
    if starts > timezone.now():
        raise ValidationFailed(_("That quarter has not started yet."), field="quarter")
    accounts = _accounts(staff)
    entries = StoredValueEntry.objects.filter(account__in=accounts)
    in_quarter = entries.filter(created_at__gte=starts, created_at__lt=ends)

    def total(qs: Any, field: str, **filters: Any) -> int:
        return int(qs.filter(**filters).aggregate(n=Coalesce(Sum(field), 0))["n"])

    paid_in = Q(kind__in=[Kind.RECHARGE, Kind.DEPOSIT_CREDIT])
    spent = Q(kind__in=[Kind.PAY, Kind.REFUND])
    redeemed_p = -int(in_quarter.filter(spent).aggregate(n=Coalesce(Sum("principal_delta_fen"), 0))["n"])
    redeemed_b = -int(in_quarter.filter(spent).aggregate(n=Coalesce(Sum("bonus_delta_fen"), 0))["n"])
    until_end = entries.filter(created_at__lt=ends)
    policy = policy_for(current_brand_id(staff))
    return Quarter(
        year=y,
        quarter=q,
        starts=starts,
        ends=ends,
        cards_issued=accounts.filter(opened_at__gte=starts, opened_at__lt=ends).count(),
        recharged_fen=int(
            in_quarter.filter(paid_in).aggregate(n=Coalesce(Sum("principal_delta_fen"), 0))["n"]
        ),
        bonus_granted_fen=total(in_quarter, "bonus_delta_fen", kind=Kind.BONUS),
        redeemed_fen=redeemed_p + redeemed_b,
        redeemed_principal_fen=redeemed_p,
        cash_refunded_fen=-total(in_quarter, "principal_delta_fen", kind=Kind.CASH_REFUND),
        bonus_expired_fen=-total(in_quarter, "bonus_delta_fen", kind=Kind.BONUS_EXPIRY),
        outstanding_principal_fen=total(until_end, "principal_delta_fen"),
        outstanding_bonus_fen=total(until_end, "bonus_delta_fen"),
        custody_fen=policy.custody_fen,
        custody_percent=policy.custody_percent,
    )
