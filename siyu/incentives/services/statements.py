"""Monthly staff statements: generated from attributions, reviewed and approved by HQ, frozen once approved
(ADR 0019).

Guarantees:

- **Read, never re-derived.** A statement is the sum of the attributions it *claimed*
  (``Attribution.statement``); generation claims unclaimed attributions with one conditional UPDATE
  (``statement IS NULL``), so an attribution is counted on exactly one statement.
- **Set-based, one at a time.** ``generate_month`` runs a constant number of statements for a whole brand
  (generations of one brand queue on an advisory lock): create the missing drafts (``COPY`` on PostgreSQL),
  claim (one UPDATE), aggregate (GROUP BY statement), write the lines (``COPY``) and the totals (one UPDATE
  per 2,000 statements). It is safe to run again at any time: drafts are recomputed, approved statements are
  never touched.
- **Frozen once approved.** Approval is one conditional UPDATE ``status='draft' → 'approved'``; every write
  of generation filters ``status='draft'`` and locks the month's drafts first, so an approved statement's
  lines, totals and claimed attributions never change. Approving again changes nothing (idempotent).
- **Late items become adjustments.** An attribution for a month whose statement (same staff, same store) is
  approved — a late payment of an order placed that month, a refund of one of its orders — stays unclaimed
  until the next generation of a later month, which takes it in as an ``adjustment`` line naming the month it
  corrects, priced at that month's rules from where that month's count stood (frozen count plus earlier
  corrections), so corrections add up to exactly what the month would have paid with everything in it.
- **Money.** Integer fen; a sales share is rounded half up per tier (``rules.share_of``).
- **Audited.** Approvals name the approving staff member in the audit log.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound
from siyu.incentives.models import (
    Attribution,
    AttributionKind,
    LineKind,
    RuleKind,
    StaffStatement,
    StatementLine,
)
from siyu.incentives.services.months import current_month, previous_month
from siyu.incentives.services.rules import Rule, price_tiers, price_total, rules_for_month
from siyu.org.models import Brand, Staff
from siyu.org.services.access import can_access_store, check_capability, has_capability, require_staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

LINE_BATCH = 5_000
STATEMENT_BATCH = 2_000
DRAFT = StaffStatement.Status.DRAFT
APPROVED = StaffStatement.Status.APPROVED
SALE_KINDS = (AttributionKind.ORDER, AttributionKind.REFUND)
STATEMENT_COLUMNS = ["brand_id", "staff_id", "store_id", "month", "status", "invite_count", "gmv_fen"]
STATEMENT_COLUMNS += ["adjustment_fen", "reward_fen", "version", "generated_at"]
LINE_COLUMNS = ["statement_id", "kind", "rule_id", "rule_kind", "tier_position", "for_month", "units", "rate"]
LINE_COLUMNS += ["amount_fen"]
GENERATION_LOCK = 0x5159_1C19  # pg advisory lock namespace: one generation per brand at a time


@dataclass(frozen=True)
class Line:
    kind: str
    rule_id: int | None
    rule_kind: str
    tier_position: int | None
    for_month: date | None
    units: int
    rate: int
    amount_fen: int


def regular_lines(rules: list[Rule], invites: int, gmv_fen: int) -> list[Line]:
    """The lines a month's own members brought in and attributed sales earn under ``rules``."""
    lines: list[Line] = []
    for rule in rules:
        units = invites if rule.kind == RuleKind.INVITE else gmv_fen
        kind = LineKind.INVITE if rule.kind == RuleKind.INVITE else LineKind.GMV_SHARE
        for tier in price_tiers(rule.kind, rule.tiers, units):
            lines.append(
                Line(kind, rule.id, rule.kind, tier.position, None, tier.units, tier.rate, tier.amount_fen)
            )
    return lines


def adjustment_lines(
    rules: list[Rule], for_month: date, base_invites: int, base_gmv: int, more_invites: int, more_gmv: int
) -> list[Line]:
    """Lines correcting ``for_month`` (already approved at ``base_*``) by ``more_*``: what the month would
    have paid with them minus what it paid, per rule (one line each, zero lines left out)."""
    lines: list[Line] = []
    for rule in rules:
        base, more = (base_invites, more_invites) if rule.kind == RuleKind.INVITE else (base_gmv, more_gmv)
        if more == 0:
            continue
        amount = price_total(rule.kind, rule.tiers, base + more) - price_total(rule.kind, rule.tiers, base)
        lines.append(Line(LineKind.ADJUSTMENT, rule.id, rule.kind, None, for_month, more, 0, amount))
    return lines


@dataclass
class _Sums:
    invites: int = 0
    gmv: int = 0
    late: dict[date, list[int]] = field(default_factory=dict)  # month → [invites, gmv]


@dataclass(frozen=True)
class Generated:
    month: date
    statements: int
    lines: int
    claimed: int


def _eligible(brand_id: int, month: date) -> QuerySet[Attribution]:
    """Unclaimed attributions the month's drafts may take: the month's own, and earlier months' whose own
    statement (same staff, same store) is approved, for pairs whose statement of ``month`` is not approved.
    An earlier month without an approved statement keeps its items for its own statement (the job generates
    every month in the month after it)."""
    approved_here = StaffStatement.objects.filter(
        staff_id=OuterRef("staff_id"), store_id=OuterRef("store_id"), month=month, status=APPROVED
    )
    approved_its_month = StaffStatement.objects.filter(
        staff_id=OuterRef("staff_id"), store_id=OuterRef("store_id"), month=OuterRef("month"), status=APPROVED
    )
    return (
        Attribution.objects.filter(brand_id=brand_id, statement__isnull=True, month__lte=month)
        .filter(~Exists(approved_here))
        .filter(Q(month=month) | Exists(approved_its_month))
    )


def generate_month(brand_id: int, month: date) -> Generated:
    """(Re)generate the brand's draft statements for ``month`` from attributions; approved ones untouched."""
    now = timezone.now()
    with transaction.atomic():
        _one_generation_at_a_time(brand_id)
        drafts = StaffStatement.objects.filter(brand_id=brand_id, month=month, status=DRAFT)
        # Lock the month's drafts first: an approval waiting on them sees the finished statement.
        list(drafts.select_for_update().values_list("id", flat=True))
        eligible = _eligible(brand_id, month)
        pairs = set(eligible.values_list("staff_id", "store_id").distinct().order_by())
        have = set(
            StaffStatement.objects.filter(month=month, brand_id=brand_id).values_list("staff_id", "store_id")
        )
        # Only a generation creates statements, and generations of a brand queue on one lock: no conflicts.
        _insert_rows(
            StaffStatement,
            STATEMENT_COLUMNS,
            [
                (brand_id, staff_id, store_id, month, str(DRAFT), 0, 0, 0, 0, 1, now)
                for staff_id, store_id in sorted(pairs - have)
            ],
        )
        target = StaffStatement.objects.filter(
            staff_id=OuterRef("staff_id"), store_id=OuterRef("store_id"), month=month, status=DRAFT
        ).values("id")[:1]
        claimed = _eligible(brand_id, month).update(statement_id=Subquery(target))
        StatementLine.objects.filter(statement__in=drafts.values("id")).delete()
        lines, totals = _write_lines(brand_id, month)
        _write_totals(totals, now)
        drafts.filter(~Exists(Attribution.objects.filter(statement_id=OuterRef("pk")))).delete()
        count = drafts.count()
    return Generated(month=month, statements=count, lines=lines, claimed=claimed)


def _one_generation_at_a_time(brand_id: int) -> None:
    """Two generations of one brand would each rewrite the other's lines (same month) or claim the same
    attributions (two months): the second waits. PostgreSQL: a transaction-scoped advisory lock per brand;
    SQLite serialises writers anyway."""
    if connection.vendor != "postgresql":
        return
    key = brand_id % 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [GENERATION_LOCK, key])


def _write_lines(brand_id: int, month: date) -> tuple[int, dict[int, tuple[int, int, int, int]]]:
    """Write the lines of the month's drafts; returns how many, and each draft's totals
    (members brought in, sales of the month, corrections, reward)."""
    sums: dict[int, _Sums] = defaultdict(_Sums)
    rows = (
        Attribution.objects.filter(
            statement__brand_id=brand_id, statement__month=month, statement__status=DRAFT
        )
        .values("statement_id", "month", "kind")
        .annotate(n=Count("id"), fen=Sum("amount_fen"))
        .order_by()
    )
    for row in rows:
        entry = sums[row["statement_id"]]
        invites = row["n"] if row["kind"] == AttributionKind.MEMBER else 0
        gmv = int(row["fen"] or 0) if row["kind"] in SALE_KINDS else 0
        if row["month"] == month:
            entry.invites += invites
            entry.gmv += gmv
        else:
            late = entry.late.setdefault(row["month"], [0, 0])
            late[0] += invites
            late[1] += gmv
    rules_cache: dict[date, list[Rule]] = {month: rules_for_month(brand_id, month)}
    bases = _frozen_bases(brand_id, [sid for sid, s in sums.items() if s.late])
    out: list[tuple[Any, ...]] = []
    totals: dict[int, tuple[int, int, int, int]] = {}
    for statement_id, entry in sums.items():
        found = regular_lines(rules_cache[month], entry.invites, entry.gmv)
        for late_month, (more_invites, more_gmv) in sorted(entry.late.items()):
            if late_month not in rules_cache:
                rules_cache[late_month] = rules_for_month(brand_id, late_month)
            base = bases.get((statement_id, late_month), (0, 0))
            found += adjustment_lines(rules_cache[late_month], late_month, *base, more_invites, more_gmv)
        adjust = sum(line.amount_fen for line in found if line.kind == LineKind.ADJUSTMENT)
        totals[statement_id] = (entry.invites, entry.gmv, adjust, sum(line.amount_fen for line in found))
        out.extend(
            (
                statement_id,
                str(line.kind),
                line.rule_id,
                str(line.rule_kind),
                line.tier_position,
                line.for_month,
                line.units,
                line.rate,
                line.amount_fen,
            )
            for line in found
        )
    _insert_rows(
        StatementLine,
        LINE_COLUMNS,
        out,
    )
    return len(out), totals


def _insert_rows(model: Any, columns: list[str], rows: list[Any]) -> None:
    """Insert plain rows of ``model`` (tuples in ``columns`` order): PostgreSQL ``COPY``, else bulk_create."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        names = ", ".join(model._meta.get_field(c.removesuffix("_id")).column for c in columns)
        sql = f"COPY {model._meta.db_table} ({names}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    model.objects.bulk_create(
        [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=LINE_BATCH
    )


def _frozen_bases(brand_id: int, statement_ids: list[int]) -> dict[tuple[int, date], tuple[int, int]]:
    """For statements with late items: (statement id, earlier month) → that month's approved counts."""
    if not statement_ids:
        return {}
    owners = {
        row["id"]: (row["staff_id"], row["store_id"])
        for row in StaffStatement.objects.filter(pk__in=statement_ids).values("id", "staff_id", "store_id")
    }
    by_pair = {pair: sid for sid, pair in owners.items()}
    bases: dict[tuple[int, date], tuple[int, int]] = {}
    approved = StaffStatement.objects.filter(
        brand_id=brand_id, status=APPROVED, staff_id__in={p[0] for p in by_pair}
    ).values("staff_id", "store_id", "month", "invite_count", "gmv_fen")
    for row in approved:
        sid = by_pair.get((row["staff_id"], row["store_id"]))
        if sid is not None:
            bases[(sid, row["month"])] = (row["invite_count"], row["gmv_fen"])
    # Earlier corrections of the same month (on other statements) moved its count on: start from there, so
    # corrections add up to exactly what the month would have paid with everything in it.
    earlier: dict[tuple[int, date, str], dict[int, int]] = defaultdict(dict)
    adjusted = (
        StatementLine.objects.filter(
            kind=LineKind.ADJUSTMENT,
            statement__brand_id=brand_id,
            statement__staff_id__in={p[0] for p in by_pair},
        )
        .exclude(statement_id__in=statement_ids)
        .values("statement__staff_id", "statement__store_id", "for_month", "rule_kind", "rule_id")
        .annotate(units=Sum("units"))
        .order_by()
    )
    for line in adjusted:
        sid = by_pair.get((line["statement__staff_id"], line["statement__store_id"]))
        if sid is not None and line["for_month"] is not None:
            earlier[(sid, line["for_month"], line["rule_kind"])][line["rule_id"] or 0] = int(
                line["units"] or 0
            )
    for (sid, for_month, rule_kind), per_rule in earlier.items():
        invites, gmv = bases.get((sid, for_month), (0, 0))
        moved = per_rule[min(per_rule)]  # every rule of a kind corrects by the same units
        if rule_kind == RuleKind.INVITE:
            invites += moved
        else:
            gmv += moved
        bases[(sid, for_month)] = (invites, gmv)
    return bases


def _write_totals(totals: dict[int, tuple[int, int, int, int]], now: datetime) -> None:
    """Set the drafts' totals: on PostgreSQL one ``UPDATE … FROM (VALUES …)`` per chunk, else bulk_update."""
    rows = sorted(totals.items())
    if connection.vendor == "postgresql":
        table = StaffStatement._meta.db_table
        with connection.cursor() as cursor:
            for start in range(0, len(rows), STATEMENT_BATCH):
                chunk = rows[start : start + STATEMENT_BATCH]
                values = ", ".join(
                    ["(%s::bigint, %s::integer, %s::bigint, %s::bigint, %s::bigint)"] * len(chunk)
                )
                cursor.execute(
                    f"UPDATE {table} AS s SET invite_count = v.invites, gmv_fen = v.gmv, "  # noqa: S608 -- our table
                    "adjustment_fen = v.adjust, reward_fen = v.reward, version = s.version + 1, "
                    "generated_at = %s "
                    f"FROM (VALUES {values}) AS v(id, invites, gmv, adjust, reward) "
                    "WHERE s.id = v.id AND s.status = 'draft'",
                    [now, *(value for sid, numbers in chunk for value in (sid, *numbers))],
                )
        return
    StaffStatement.objects.bulk_update(
        [
            StaffStatement(pk=sid, invite_count=inv, gmv_fen=gmv, adjustment_fen=adj, reward_fen=reward)
            for sid, (inv, gmv, adj, reward) in rows
        ],
        ["invite_count", "gmv_fen", "adjustment_fen", "reward_fen"],
        batch_size=500,
    )
    ids = [sid for sid, _t in rows]
    for start in range(0, len(ids), 500):
        StaffStatement.objects.filter(pk__in=ids[start : start + 500], status=DRAFT).update(
            version=F("version") + 1, generated_at=now
        )


def generate_due() -> list[Generated]:
    """Periodic job: keep last month's and this month's drafts up to date for every brand."""
    this_month = current_month()
    done: list[Generated] = []
    for brand_id in Brand.objects.values_list("id", flat=True).order_by("id"):
        for month in (previous_month(this_month), this_month):
            done.append(generate_month(brand_id, month))
    return done


def generate_for_staff(staff: Staff, month: date) -> Generated:
    """HQ's "generate now" button (``incentives.manage``), audited."""
    check_capability(staff, "incentives.manage")
    result = generate_month(current_brand_id(staff), month)
    record_audit(
        staff,
        "incentives.statements_generated",
        target_type="incentive_month",
        target_id=f"{month:%Y-%m}",
        detail={"statements": result.statements, "lines": result.lines},
    )
    return result


# --- approval -------------------------------------------------------------------------------------------


def _check_month_closed(statement_month: date) -> None:
    if statement_month >= current_month():
        raise Conflict(_("A month can be approved once it has ended."), field="month", code="month_open")


def approve_statement(staff: Staff, statement_id: int) -> StaffStatement:
    """Approve one staff statement (``incentives.manage``): draft → approved, frozen from then on.
    Approving an approved statement returns it unchanged."""
    check_capability(staff, "incentives.manage")
    statement = StaffStatement.objects.filter(pk=statement_id, brand_id=current_brand_id(staff)).first()
    if statement is None:
        raise NotFound(_("No such statement."), field="statement")
    if statement.status == APPROVED:
        return statement
    _check_month_closed(statement.month)
    with transaction.atomic():
        changed = StaffStatement.objects.filter(pk=statement.pk, status=DRAFT).update(
            status=APPROVED, approved_at=timezone.now(), approved_by=staff
        )
        if changed:
            record_audit(
                staff,
                "incentives.statement_approved",
                target_type="staff_statement",
                target_id=statement.pk,
                store_id=statement.store_id,
                detail={"month": f"{statement.month:%Y-%m}", "reward_fen": statement.reward_fen},
            )
    statement.refresh_from_db()
    return statement


def approve_store(staff: Staff, store_id: int, month: date) -> int:
    """Approve every draft statement of one store for ``month`` at once; returns how many were approved
    now (0 when all already were: idempotent)."""
    check_capability(staff, "incentives.manage")
    if not StaffStatement.objects.filter(
        brand_id=current_brand_id(staff), store_id=store_id, month=month
    ).exists():
        raise NotFound(_("This store has no statements for that month."), field="store")
    _check_month_closed(month)
    with transaction.atomic():
        changed = StaffStatement.objects.filter(
            brand_id=current_brand_id(staff), store_id=store_id, month=month, status=DRAFT
        ).update(status=APPROVED, approved_at=timezone.now(), approved_by=staff)
        if changed:
            record_audit(
                staff,
                "incentives.store_approved",
                target_type="store",
                target_id=store_id,
                store_id=store_id,
                detail={"month": f"{month:%Y-%m}", "statements": changed},
            )
    return changed


# --- reading (scoped) -----------------------------------------------------------------------------------


def visible_statements(staff: Staff) -> QuerySet[StaffStatement]:
    """Statements ``staff`` may read: HQ (``incentives.manage``) all of the brand's, store managers
    (``incentives.team``) their stores', everyone their own."""
    person = require_staff(staff)
    qs = StaffStatement.objects.filter(brand_id=current_brand_id(person)).select_related("staff", "store")
    if has_capability(person, "incentives.manage"):
        return qs
    if has_capability(person, "incentives.team"):
        stores = list(person.stores.values_list("id", flat=True))
        return qs.filter(Q(store_id__in=stores) | Q(staff_id=person.pk))
    return qs.filter(staff_id=person.pk)


def get_statement(staff: Staff, statement_id: int) -> StaffStatement:
    """One statement with its lines, or NotFound (also for one out of the reader's scope)."""
    statement = visible_statements(staff).filter(pk=statement_id).first()
    if statement is None:
        raise NotFound(_("No such statement."), field="statement")
    return statement


def statement_lines(statement: StaffStatement) -> list[StatementLine]:
    return list(
        statement.lines.select_related("rule").order_by("kind", "rule_id", "tier_position", "for_month", "id")
    )


@dataclass(frozen=True)
class StoreSummary:
    store_id: int
    store_name: str
    statements: int
    drafts: int
    invites: int
    gmv_fen: int
    adjustment_fen: int
    reward_fen: int


def store_summaries(staff: Staff, month: date) -> list[StoreSummary]:
    """The store statement: per store, the sums of its staff statements for ``month`` (stores in scope)."""
    person = require_staff(staff)
    if not (has_capability(person, "incentives.manage") or has_capability(person, "incentives.team")):
        return []
    rows = (
        visible_statements(person)
        .filter(month=month)
        .values("store_id", "store__name")
        .annotate(
            n=Count("id"),
            drafts=Count("id", filter=Q(status=DRAFT)),
            invites=Sum("invite_count"),
            gmv=Sum("gmv_fen"),
            adjust=Sum("adjustment_fen"),
            reward=Sum("reward_fen"),
        )
        .order_by("store__name", "store_id")
    )
    return [
        StoreSummary(
            r["store_id"],
            r["store__name"],
            r["n"],
            r["drafts"],
            int(r["invites"] or 0),
            int(r["gmv"] or 0),
            int(r["adjust"] or 0),
            int(r["reward"] or 0),
        )
        for r in rows
    ]


def store_statements(staff: Staff, store_id: int, month: date) -> list[StaffStatement]:
    """The staff statements of one store for ``month``; NotFound for a store out of scope."""
    person = require_staff(staff)
    if not can_access_store(person, store_id) or not (
        has_capability(person, "incentives.manage") or has_capability(person, "incentives.team")
    ):
        raise NotFound(_("No such store."), field="store")
    return list(
        visible_statements(person).filter(store_id=store_id, month=month).order_by("-reward_fen", "staff_id")
    )
