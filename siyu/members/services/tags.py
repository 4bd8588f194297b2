"""Tag groups, tags, tagging members, and rule-based tags recomputed on demand.

A rule is a JSON object of conditions that must all hold, e.g.
``{"age_band": ["25-34", "35-44"], "gender": "f", "joined_within_days": 90, "home_store_code": ["A001"]}``.
Supported keys: ``age_band`` (list), ``gender`` (value), ``district`` (list), ``home_store_code`` (list),
``joined_within_days`` (int), ``has_tag`` (list of tag ids), ``consent`` (bool).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.members.models import AgeBand, Gender, Member, MemberTag, Tag, TagGroup
from siyu.members.services.profiles import get_member
from siyu.org.models import Staff
from siyu.org.services.access import check_capability
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

RULE_KEYS = {"age_band", "gender", "district", "home_store_code", "joined_within_days", "has_tag", "consent"}


def list_tags() -> QuerySet[Tag]:
    return Tag.objects.select_related("group").order_by("group_id", "id")


def get_tag(tag_id: Any) -> Tag:
    try:
        tag = Tag.objects.select_related("group").filter(pk=int(tag_id)).first()
    except (TypeError, ValueError):
        tag = None
    if tag is None:
        raise NotFound(_("No such tag."), field="tag")
    return tag


def validate_rule(rule: Any) -> dict[str, Any] | None:
    """Return a clean rule dict (or None for a manual tag); raise ValidationFailed for a bad one."""
    if rule in (None, {}, ""):
        return None
    if not isinstance(rule, dict):
        raise ValidationFailed(_("A rule must be an object of conditions."), field="rule")
    unknown = set(rule) - RULE_KEYS
    if unknown:
        raise ValidationFailed(
            _("Unknown rule condition: %(key)s") % {"key": sorted(unknown)[0]}, field="rule"
        )
    clean: dict[str, Any] = {}
    if "age_band" in rule:
        bands = rule["age_band"]
        if not isinstance(bands, list) or not bands or any(b not in AgeBand.values for b in bands):
            raise ValidationFailed(_("age_band must be a list of age bands."), field="rule")
        clean["age_band"] = bands
    if "gender" in rule:
        if rule["gender"] not in Gender.values:
            raise ValidationFailed(_("gender must be m, f or u."), field="rule")
        clean["gender"] = rule["gender"]
    for key in ("district", "home_store_code"):
        if key in rule:
            values = rule[key]
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise ValidationFailed(_("%(key)s must be a list of names.") % {"key": key}, field="rule")
            clean[key] = values
    if "joined_within_days" in rule:
        days = rule["joined_within_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 0 < days <= 36500:
            raise ValidationFailed(_("joined_within_days must be a positive number of days."), field="rule")
        clean["joined_within_days"] = days
    if "has_tag" in rule:
        ids = rule["has_tag"]
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
            raise ValidationFailed(_("has_tag must be a list of tag ids."), field="rule")
        if Tag.objects.filter(pk__in=ids).count() != len(set(ids)):
            raise ValidationFailed(_("has_tag names a tag that does not exist."), field="rule")
        clean["has_tag"] = ids
    if "consent" in rule:
        if not isinstance(rule["consent"], bool):
            raise ValidationFailed(_("consent must be true or false."), field="rule")
        clean["consent"] = rule["consent"]
    if not clean:
        return None
    return clean


def rule_queryset(rule: dict[str, Any]) -> QuerySet[Member]:
    """Members (not erased) matching every condition of ``rule``."""
    cond = Q(erased_at__isnull=True)
    if "age_band" in rule:
        cond &= Q(age_band__in=rule["age_band"])
    if "gender" in rule:
        cond &= Q(gender=rule["gender"])
    if "district" in rule:
        cond &= Q(district__in=rule["district"])
    if "home_store_code" in rule:
        cond &= Q(home_store__code__in=rule["home_store_code"])
    if "joined_within_days" in rule:
        cond &= Q(joined_at__gte=timezone.now() - timedelta(days=rule["joined_within_days"]))
    if "consent" in rule:
        cond &= Q(marketing_consent=rule["consent"])
    qs = Member.objects.filter(cond)
    for tag_id in rule.get("has_tag", []):
        qs = qs.filter(member_tags__tag_id=tag_id)
    return qs


@transaction.atomic
def create_tag(staff: Staff, *, group: str, name: str, rule: Any = None) -> Tag:
    """Create a tag (and its group if new). Rule-based tags are filled by ``recompute_rule_tag``."""
    check_capability(staff, "tags.manage")
    group_name, tag_name = (group or "").strip(), (name or "").strip()
    if not group_name or len(group_name) > 50:
        raise ValidationFailed(_("Tag group name is required (50 characters at most)."), field="group")
    if not tag_name or len(tag_name) > 50:
        raise ValidationFailed(_("Tag name is required (50 characters at most)."), field="name")
    clean_rule = validate_rule(rule)
    brand_id = current_brand_id(staff)
    tag_group, _created = TagGroup.objects.get_or_create(brand_id=brand_id, name=group_name)
    if Tag.objects.filter(group=tag_group, name=tag_name).exists():
        raise Conflict(_("This tag already exists."), field="name")
    tag = Tag.objects.create(group=tag_group, name=tag_name, rule=clean_rule)
    record_audit(
        staff,
        "tag.create",
        target_type="tag",
        target_id=tag.pk,
        detail={"group": group_name, "name": tag_name},
    )
    return tag


@transaction.atomic
def tag_member(staff: Staff, member_id: Any, tag_id: Any, *, ip: str | None = None) -> bool:
    """Put a manual tag on a member in ``staff``'s scope. Idempotent: returns False if already tagged."""
    member = get_member(staff, member_id)
    tag = get_tag(tag_id)
    if member.erased_at:
        raise Conflict(_("This member's data was erased."), field="member")
    if tag.is_rule_based:
        raise ValidationFailed(_("Rule-based tags are computed, not set by hand."), field="tag")
    try:
        with transaction.atomic():
            MemberTag.objects.create(member=member, tag=tag, origin=MemberTag.Origin.MANUAL, added_by=staff)
    except IntegrityError:
        return False
    record_audit(
        staff,
        "member.tag",
        target_type="member",
        target_id=member.pk,
        store_id=member.home_store_id,
        detail={"tag": tag.pk, "name": tag.name},
        ip=ip,
    )
    record_event("member.tagged", member_id=member.pk, store_id=member.home_store_id, payload={"tag": tag.pk})
    return True


@transaction.atomic
def untag_member(staff: Staff, member_id: Any, tag_id: Any, *, ip: str | None = None) -> bool:
    """Remove a manual tag from a member in ``staff``'s scope. Idempotent: returns False if not tagged."""
    member = get_member(staff, member_id)
    tag = get_tag(tag_id)
    if tag.is_rule_based:
        raise ValidationFailed(_("Rule-based tags are computed, not set by hand."), field="tag")
    deleted, _detail = MemberTag.objects.filter(member=member, tag=tag).delete()
    if not deleted:
        return False
    record_audit(
        staff,
        "member.untag",
        target_type="member",
        target_id=member.pk,
        store_id=member.home_store_id,
        detail={"tag": tag.pk, "name": tag.name},
        ip=ip,
    )
    record_event(
        "member.untagged", member_id=member.pk, store_id=member.home_store_id, payload={"tag": tag.pk}
    )
    return True


@transaction.atomic
def recompute_rule_tag(staff: Staff | None, tag_id: Any) -> dict[str, int]:
    """Make a rule tag's members exactly those matching its rule. Returns counts added/removed/total.

    Runs as set operations in the database (no per-member reads), so it scales to millions.
    """
    if staff is not None:
        check_capability(staff, "tags.manage")
    tag = get_tag(tag_id)
    if not tag.is_rule_based or tag.rule is None:
        raise ValidationFailed(_("This tag has no rule."), field="tag")
    matching = rule_queryset(tag.rule).values("id")
    removed, _detail = MemberTag.objects.filter(tag=tag).exclude(member_id__in=matching).delete()
    existing = MemberTag.objects.filter(tag=tag).values("member_id")
    to_add = list(rule_queryset(tag.rule).exclude(id__in=existing).values_list("id", flat=True))
    MemberTag.objects.bulk_create(
        [MemberTag(member_id=mid, tag=tag, origin=MemberTag.Origin.RULE) for mid in to_add],
        batch_size=2000,
        ignore_conflicts=True,
    )
    tag.recomputed_at = timezone.now()
    tag.save(update_fields=["recomputed_at"])
    total = MemberTag.objects.filter(tag=tag).count()
    if staff is not None:
        record_audit(
            staff,
            "tag.recompute",
            target_type="tag",
            target_id=tag.pk,
            detail={"added": len(to_add), "removed": removed},
        )
    return {"added": len(to_add), "removed": removed, "total": total}
