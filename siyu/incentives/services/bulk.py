"""Bulk set-up of incentives (demo chains, benchmarks): reward rules with tiers and attributions written in a
few inserts.

No person acts here, so there is no capability check or audit per row (the console and API go through
``rules.create_rule``; attributions normally come from the join and order hooks). Every row must belong to
``brand`` (ValidationFailed otherwise); duplicates of an attribution already there are skipped (the same
unique constraints as the hooks); everything is all or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed
from siyu.incentives.models import Attribution, AttributionKind, IncentiveRule, IncentiveTier
from siyu.incentives.services.months import month_of
from siyu.org.models import Brand

BATCH = 5000


@transaction.atomic
def add_rule(brand: Brand, rule: IncentiveRule, tiers: Sequence[IncentiveTier]) -> IncentiveRule:
    """One rule with its tiers (tiers contiguous from 0 as ``rules.check_tiers`` demands)."""
    if rule.brand_id not in (None, brand.pk):
        raise ValidationFailed(_("Every row must belong to the brand."), field="brand")
    rule.brand = brand
    expected = 0
    for position, tier in enumerate(tiers, start=1):
        if tier.from_units != expected:
            raise ValidationFailed(
                _("Each tier starts where the one before ends (the first at 0)."), field="tiers"
            )
        expected = tier.to_units if tier.to_units is not None else -1
        tier.position = position
    rule.save()
    for tier in tiers:
        tier.rule = rule
    IncentiveTier.objects.bulk_create(tiers)
    return rule


@transaction.atomic
def add_attributions(brand: Brand, rows: Sequence[Attribution]) -> int:
    """Insert attributions (``month`` filled from ``occurred_at`` when missing; for a sale from when the
    order was placed, so give it); returns how many rows were given."""
    for row in rows:
        if row.brand_id is None:
            row.brand = brand
        elif row.brand_id != brand.pk:
            raise ValidationFailed(_("Every row must belong to the brand."), field="brand")
        if row.kind not in AttributionKind.values:
            raise ValidationFailed(_("Unknown attribution kind."), field="kind")
        if row.month is None:
            row.month = month_of(row.occurred_at)
    Attribution.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
    return len(rows)
