"""Group rules: which rules a group enforces (its own policy, else the brand default, else built-in
defaults) and how staff set them. See docs/moderation.md.

Any role serving a group's store may set that group's policy; only head office (``moderation.manage``)
sets the brand default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed
from siyu.communities.models import Community, ModerationPolicy
from siyu.communities.services.queries import get_community
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, require_staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

LADDER_STEPS = ("warn", "mute", "remove")


@dataclass(frozen=True)
class EffectivePolicy:
    """The rules one group enforces: its own policy, else the brand default, else the built-in defaults."""

    forbidden_keywords: tuple[str, ...] = ()
    block_links: bool = True
    block_qr_images: bool = True
    block_contact: bool = True
    flood_count: int = 6
    flood_seconds: int = 10
    repeat_count: int = 3
    ladder: tuple[str, ...] = LADDER_STEPS
    mute_minutes: int = 60
    window_days: int = 30
    source: str = "builtin"  # "community", "brand" or "builtin"
    policy_id: int | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row: ModerationPolicy) -> EffectivePolicy:
        return cls(
            forbidden_keywords=tuple(str(k) for k in row.forbidden_keywords or ()),
            block_links=row.block_links,
            block_qr_images=row.block_qr_images,
            block_contact=row.block_contact,
            flood_count=row.flood_count,
            flood_seconds=row.flood_seconds,
            repeat_count=row.repeat_count,
            ladder=tuple(row.ladder or LADDER_STEPS),
            mute_minutes=row.mute_minutes,
            window_days=row.window_days,
            source="community" if row.community_id else "brand",
            policy_id=row.pk,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "forbidden_keywords": list(self.forbidden_keywords),
            "block_links": self.block_links,
            "block_qr_images": self.block_qr_images,
            "block_contact": self.block_contact,
            "flood_count": self.flood_count,
            "flood_seconds": self.flood_seconds,
            "repeat_count": self.repeat_count,
            "ladder": list(self.ladder),
            "mute_minutes": self.mute_minutes,
            "window_days": self.window_days,
        }


def effective_policy(community: Community) -> EffectivePolicy:
    """The policy ``community`` enforces (its own row, else its brand's default, else built-in defaults)."""
    rows = {
        row.community_id: row
        for row in ModerationPolicy.objects.filter(brand_id=community.brand_id).filter(
            Q(community_id=community.pk) | Q(community__isnull=True)
        )
    }
    row = rows.get(community.pk) or rows.get(None)
    return EffectivePolicy.from_row(row) if row is not None else EffectivePolicy()


# --- setting policies ------------------------------------------------------------------------------

INT_LIMITS = {
    "flood_count": (2, 100),
    "flood_seconds": (1, 3600),
    "repeat_count": (2, 100),
    "mute_minutes": (1, 30 * 24 * 60),
    "window_days": (1, 365),
}
_BOOL_FIELDS = ("block_links", "block_qr_images", "block_contact")
POLICY_FIELDS = frozenset({"forbidden_keywords", "ladder", *INT_LIMITS, *_BOOL_FIELDS})


def _clean_policy(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed(_("A policy must be an object of settings."), field="policy")
    unknown = set(data) - POLICY_FIELDS
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    clean: dict[str, Any] = {}
    if "forbidden_keywords" in data:
        words = data["forbidden_keywords"]
        if isinstance(words, str):
            words = re.split(r"[\n,，]+", words)
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValidationFailed(_("Forbidden words must be a list of words."), field="forbidden_keywords")
        cleaned = list(dict.fromkeys(w.strip() for w in words if w.strip()))
        if len(cleaned) > 500 or any(len(w) > 50 for w in cleaned):
            raise ValidationFailed(
                _("At most 500 forbidden words of 50 characters each."), field="forbidden_keywords"
            )
        clean["forbidden_keywords"] = cleaned
    for name in _BOOL_FIELDS:
        if name in data:
            if not isinstance(data[name], bool):
                raise ValidationFailed(_("Must be true or false."), field=name)
            clean[name] = data[name]
    for name, (low, high) in INT_LIMITS.items():
        if name in data:
            value = data[name]
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValidationFailed(
                    _("Must be a whole number from %(low)s to %(high)s.") % {"low": low, "high": high},
                    field=name,
                )
            clean[name] = value
    if "ladder" in data:
        ladder = data["ladder"]
        if (
            not isinstance(ladder, list)
            or not 1 <= len(ladder) <= 10
            or any(step not in LADDER_STEPS for step in ladder)
        ):
            raise ValidationFailed(
                _("The ladder is a list of steps: warn, mute or remove (1 to 10 steps)."), field="ladder"
            )
        clean["ladder"] = list(ladder)
    return clean


def policy_for(staff: Staff, community_id: Any = None) -> EffectivePolicy:
    """The policy in force for a group of ``staff``'s scope, or the brand default for ``None``."""
    require_staff(staff)
    if community_id in (None, ""):
        row = ModerationPolicy.objects.filter(
            brand_id=current_brand_id(staff), community__isnull=True
        ).first()
        return EffectivePolicy.from_row(row) if row is not None else EffectivePolicy()
    return effective_policy(get_community(staff, community_id))


@transaction.atomic
def set_policy(
    staff: Staff, community_id: Any, data: dict[str, Any], *, ip: str | None = None
) -> ModerationPolicy:
    """Create or change the brand default policy (``community_id`` None; head office only, by the
    ``moderation.manage`` capability) or one group's policy (any role serving the group's store; other groups
    are NotFound).

    Fields not given keep their current value; a group's first policy starts from the one it enforced
    until then (brand default or built-in). Invalid values raise ValidationFailed and change nothing. Audited.
    """
    require_staff(staff)
    clean = _clean_policy(data)
    if community_id in (None, ""):
        check_capability(
            staff,
            "moderation.manage",
            message=_("Only head office sets the default group rules."),
            field="community",
        )
        community = None
        brand_id = current_brand_id(staff)
        row = (
            ModerationPolicy.objects.select_for_update()
            .filter(brand_id=brand_id, community__isnull=True)
            .first()
        )
        base = EffectivePolicy.from_row(row) if row else EffectivePolicy()
    else:
        community = get_community(staff, community_id)
        brand_id = community.brand_id
        row = ModerationPolicy.objects.select_for_update().filter(community=community).first()
        base = EffectivePolicy.from_row(row) if row else effective_policy(community)
    values = {**base.as_dict(), **clean}
    if row is None:
        row = ModerationPolicy(brand_id=brand_id, community=community)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_by = staff
    row.save()
    record_audit(
        staff,
        "moderation.policy_set",
        target_type="community" if community else "brand",
        target_id=community.pk if community else brand_id,
        store_id=community.store_id if community else None,
        detail={"fields": sorted(clean)},
        ip=ip,
    )
    return row


@transaction.atomic
def clear_policy(staff: Staff, community_id: Any, *, ip: str | None = None) -> None:
    """Drop a group's own policy so it enforces the brand default again (NotFound outside the scope)."""
    community = get_community(staff, community_id)
    deleted, _detail = ModerationPolicy.objects.filter(community=community).delete()
    if deleted:
        record_audit(
            staff,
            "moderation.policy_cleared",
            target_type="community",
            target_id=community.pk,
            store_id=community.store_id,
            ip=ip,
        )
