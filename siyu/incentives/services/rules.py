"""Reward rules and their tiers: what HQ pays staff for members brought in and for attributed sales.

Guarantees: a rule's tiers are contiguous from 0 (each tier starts where the one before ends; only the last
may be open-ended), so every unit is priced by exactly one tier; pricing is integer arithmetic — an invite
tier pays ``fen_per_unit`` per member, a sales tier pays ``basis_points`` of the fen in it rounded half up to
a whole fen, per tier; creating a rule is idempotent per staff member and key, audited, and needs
``incentives.manage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.idempotency import actor_ref, client_key, mismatch, request_hash
from siyu.common.validators import clean_idempotency_key, clean_int, clean_text
from siyu.incentives.models import IncentiveRule, IncentiveTier, RuleKind
from siyu.incentives.services.months import parse_month
from siyu.org.models import Staff
from siyu.org.services.access import check_capability
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

MAX_TIERS = 10
MAX_UNITS = 10**12
BASIS = 10_000


@dataclass(frozen=True)
class Tier:
    position: int
    from_units: int
    to_units: int | None
    fen_per_unit: int
    basis_points: int


@dataclass(frozen=True)
class TierAmount:
    position: int
    units: int
    rate: int
    amount_fen: int


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    kind: str
    valid_from: date
    valid_until: date | None
    tiers: tuple[Tier, ...]


def share_of(fen: int, basis_points: int) -> int:
    """``basis_points`` of ``fen``, rounded half up to a whole fen (half away from zero for refunds)."""
    sign = -1 if fen < 0 else 1
    return sign * ((abs(fen) * basis_points + BASIS // 2) // BASIS)


def price_tiers(kind: str, tiers: tuple[Tier, ...], units: int) -> list[TierAmount]:
    """What ``units`` (a month's members brought in, or its sales in fen) earn, tier by tier."""
    out: list[TierAmount] = []
    for tier in tiers:
        top = units if tier.to_units is None else min(units, tier.to_units)
        inside = top - tier.from_units
        if inside <= 0:
            continue
        if kind == RuleKind.INVITE:
            out.append(TierAmount(tier.position, inside, tier.fen_per_unit, inside * tier.fen_per_unit))
        else:
            out.append(
                TierAmount(tier.position, inside, tier.basis_points, share_of(inside, tier.basis_points))
            )
    return out


def price_total(kind: str, tiers: tuple[Tier, ...], units: int) -> int:
    return sum(t.amount_fen for t in price_tiers(kind, tiers, max(units, 0)))


def rules_for_month(brand_id: int, month: date) -> list[Rule]:
    """The active rules of the brand valid in ``month``, with their tiers (id order)."""
    rules = (
        IncentiveRule.objects.filter(brand_id=brand_id, active=True, valid_from__lte=month)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=month))
        .prefetch_related("tiers")
        .order_by("id")
    )
    return [_as_rule(rule) for rule in rules]


def _as_rule(rule: IncentiveRule) -> Rule:
    tiers = tuple(
        Tier(t.position, t.from_units, t.to_units, t.fen_per_unit, t.basis_points)
        for t in sorted(rule.tiers.all(), key=lambda t: t.position)
    )
    return Rule(rule.pk, rule.name, rule.kind, rule.valid_from, rule.valid_until, tiers)


def list_rules(staff: Staff) -> QuerySet[IncentiveRule]:
    """Every rule of the brand (HQ, ``incentives.manage``)."""
    check_capability(staff, "incentives.manage")
    return (
        IncentiveRule.objects.filter(brand_id=current_brand_id(staff))
        .prefetch_related("tiers")
        .order_by("-id")
    )


def check_tiers(kind: str, raw: Any) -> list[Tier]:
    """Contiguous tiers from 0 (ValidationFailed otherwise); invite tiers in members, sales tiers in fen."""
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationFailed(_("Give at least one tier."), field="tiers")
    if len(raw) > MAX_TIERS:
        raise ValidationFailed(_("At most %(n)s tiers.") % {"n": MAX_TIERS}, field="tiers")
    tiers: list[Tier] = []
    expected_from = 0
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValidationFailed(_("Each tier has a start, an end and a rate."), field="tiers")
        start = clean_int(item.get("from_units", expected_from), "tiers", 0, MAX_UNITS, from_text=True)
        if start != expected_from:
            raise ValidationFailed(
                _("Each tier starts where the one before ends (the first at 0)."), field="tiers"
            )
        end_raw = item.get("to_units")
        last = index == len(raw) - 1
        end = None if end_raw in (None, "") else clean_int(end_raw, "tiers", 1, MAX_UNITS, from_text=True)
        if end is None and not last:
            raise ValidationFailed(_("Only the last tier may be open-ended."), field="tiers")
        if end is not None and end <= start:
            raise ValidationFailed(_("A tier ends after it starts."), field="tiers")
        if kind == RuleKind.INVITE:
            fen = clean_int(item.get("fen_per_unit"), "tiers", 0, 1_000_000, from_text=True)
            bp = 0
        else:
            fen = 0
            bp = clean_int(item.get("basis_points"), "tiers", 0, BASIS, from_text=True)
        tiers.append(Tier(index + 1, start, end, fen, bp))
        expected_from = end if end is not None else 0
    return tiers


def create_rule(
    staff: Staff,
    *,
    name: Any,
    kind: Any,
    valid_from: Any,
    valid_until: Any = None,
    tiers: Any,
    idempotency_key: Any = None,
) -> IncentiveRule:
    """Create a reward rule with its tiers (``incentives.manage``). The same staff member's same key with
    the same request returns the first rule; with a different request it is a Conflict."""
    check_capability(staff, "incentives.manage")
    clean_name = clean_text(name, "name", 60, required=True)
    if kind not in RuleKind.values:
        raise ValidationFailed(_("Unknown rule kind."), field="kind")
    first = parse_month(valid_from, "valid_from")
    last = None if valid_until in (None, "") else parse_month(valid_until, "valid_until")
    if last is not None and last < first:
        raise ValidationFailed(_("The last month comes after the first."), field="valid_until")
    clean_tiers = check_tiers(str(kind), tiers)
    key = clean_idempotency_key(idempotency_key, required=False)
    stored_key = client_key(actor_ref("staff", staff.pk), "incentive_rule", "brand", key) if key else ""
    fingerprint = (
        request_hash(clean_name, kind, first, last, [t.__dict__ for t in clean_tiers]) if key else ""
    )
    if stored_key:
        existing = IncentiveRule.objects.filter(
            brand_id=current_brand_id(staff), idempotency_key=stored_key
        ).first()
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise mismatch()
            return existing
    try:
        with transaction.atomic():
            rule = IncentiveRule.objects.create(
                brand_id=current_brand_id(staff),
                name=clean_name,
                kind=kind,
                valid_from=first,
                valid_until=last,
                created_by=staff,
                idempotency_key=stored_key,
                request_hash=fingerprint,
            )
            IncentiveTier.objects.bulk_create(
                IncentiveTier(
                    rule=rule,
                    position=t.position,
                    from_units=t.from_units,
                    to_units=t.to_units,
                    fen_per_unit=t.fen_per_unit,
                    basis_points=t.basis_points,
                )
                for t in clean_tiers
            )
            record_audit(
                staff,
                "incentives.rule_created",
                target_type="incentive_rule",
                target_id=rule.pk,
                detail={"name": clean_name, "kind": kind},
            )
    except IntegrityError:
        existing = IncentiveRule.objects.filter(
            brand_id=current_brand_id(staff), idempotency_key=stored_key
        ).first()
        if not stored_key or existing is None:
            raise Conflict(_("The rule could not be saved; try again.")) from None
        if existing.request_hash != fingerprint:
            raise mismatch() from None
        return existing
    return rule


def set_rule_active(staff: Staff, rule_id: int, active: bool) -> IncentiveRule:
    """Switch a rule on or off for statements generated from now on (approved ones stay as they are)."""
    check_capability(staff, "incentives.manage")
    rule = IncentiveRule.objects.filter(pk=rule_id, brand_id=current_brand_id(staff)).first()
    if rule is None:
        raise NotFound(_("No such rule."), field="rule")
    IncentiveRule.objects.filter(pk=rule.pk).update(active=active)
    rule.active = active
    record_audit(
        staff,
        "incentives.rule_switched",
        target_type="incentive_rule",
        target_id=rule.pk,
        detail={"active": active},
    )
    return rule
